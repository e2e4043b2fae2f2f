"""Incremental sync of bills of materials from the Cranium API into the raw Parquet layer.

This module joins the API client and the storage layer and imports nothing from Dagster, so the
Dagster asset and the `cranium-etl sync` command run exactly the same code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cranium_etl.api import CraniumClient
from cranium_etl.api.errors import InvalidCursorError
from cranium_etl.storage import RawStore, RecordError


class InvalidRecordError(Exception):
    """A record in an API page failed validation; nothing from the run was written."""


@dataclass
class SyncResult:
    """Outcome of one sync: the records and pages fetched, and the cursor before and after."""

    run_id: str
    sync_kind: str
    previous_cursor: str | None
    cursor: str | None
    records: int = 0
    pages: int = 0
    batch_path: Path | None = None
    fallback_reason: str | None = None
    deletions_detected: int = 0
    tombstone_path: Path | None = None
    request_stats: dict[str, float] = field(default_factory=dict)

    @property
    def cursor_advanced(self) -> bool:
        return self.batch_path is not None


def sync_bill_of_materials(
    client: CraniumClient,
    raw: RawStore,
    *,
    run_id: str,
    full: bool = False,
    log: logging.Logger | None = None,
) -> SyncResult:
    """Fetch every bill of materials changed since the stored cursor into one raw batch.

    The first run, a run with `full=True`, and a run whose stored cursor is missing, unreadable or
    rejected by the API fetch everything from an empty cursor. The batch and its cursor are
    committed together, so a failure at any point leaves the previous batches and cursor as they
    were.
    """
    log = log or logging.getLogger(__name__)

    with raw.lock():
        cursor, fallback_reason = _stored_cursor(raw, full, log)
        try:
            result = _pull(client, raw, run_id, cursor, log)
        except InvalidCursorError as error:
            if cursor is None:
                raise
            fallback_reason = f"stored cursor rejected by the API ({error}); ran a full sync"
            log.warning(fallback_reason)
            result = _pull(client, raw, run_id, None, log)

    result.fallback_reason = fallback_reason
    result.request_stats = client.stats.as_dict()
    return result


def reconcile_bill_of_materials(
    client: CraniumClient,
    raw: RawStore,
    *,
    run_id: str,
    log: logging.Logger | None = None,
) -> SyncResult:
    """List every bill of materials and record the ones missing from the API as deleted.

    The cursor feed never reports a deletion, so only a full listing finds one. The listing is
    committed as a full batch (with its cursor), then every BOM that the raw layer stores as live
    but the listing did not return gets a tombstone whose `deleted_at` is the time of this run.
    A record changed during the listing moves to the end of the feed and is still seen, so a
    change is never mistaken for a deletion.
    """
    log = log or logging.getLogger(__name__)

    with raw.lock():
        seen: set[str] = set()
        result = _pull(client, raw, run_id, None, log, seen_ids=seen)
        missing = raw.live_ids() - seen
        result.deletions_detected = len(missing)
        result.tombstone_path = raw.write_tombstones(
            missing, detected_at=datetime.now(UTC), run_id=run_id
        )

    log.info(
        "reconciliation listed %d bills of materials; %d missing from the API recorded as deleted",
        len(seen),
        len(missing),
    )
    result.request_stats = client.stats.as_dict()
    return result


def _stored_cursor(raw: RawStore, full: bool, log: logging.Logger) -> tuple[str | None, str | None]:
    if full:
        log.info("full sync requested: fetching every bill of materials")
        return None, None

    state = raw.latest_cursor()
    if state is None:
        log.info("no stored cursor: first sync fetches every bill of materials")
        return None, None

    if state.cursor is None:
        reason = f"stored cursor unusable ({state.reason}); ran a full sync"
        log.warning(reason)
        return None, reason

    return state.cursor, None


def _pull(
    client: CraniumClient,
    raw: RawStore,
    run_id: str,
    cursor: str | None,
    log: logging.Logger,
    seen_ids: set[str] | None = None,
) -> SyncResult:
    sync_kind = "incremental" if cursor else "full"
    result = SyncResult(run_id=run_id, sync_kind=sync_kind, previous_cursor=cursor, cursor=cursor)
    synced_at = datetime.now(UTC)

    with raw.open_batch(
        run_id=run_id, synced_at=synced_at, sync_kind=sync_kind, previous_cursor=cursor
    ) as batch:
        for page in client.iter_bill_of_materials(cursor=cursor):
            try:
                batch.write_records(page.records, request_id=page.request_id)
            except RecordError as error:
                raise InvalidRecordError(
                    f"invalid record in page {page.number} (requestId={page.request_id}): "
                    f"{error}; nothing was written and the cursor was not advanced"
                ) from error

            result.pages += 1
            result.records += len(page.records)
            if seen_ids is not None:
                seen_ids.update(record["billOfMaterialsId"] for record in page.records)
            if page.next_cursor:
                result.cursor = page.next_cursor

        if result.records == 0 and result.cursor == cursor:
            log.info("no bills of materials changed since the stored cursor; no batch written")
            return result

        result.batch_path = batch.commit(cursor=result.cursor)

    log.info(
        "wrote %d bills of materials (%s sync, %d %s) to %s",
        result.records,
        sync_kind,
        result.pages,
        "page" if result.pages == 1 else "pages",
        result.batch_path,
    )
    return result
