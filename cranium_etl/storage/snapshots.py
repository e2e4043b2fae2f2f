"""Snapshot layer: one Parquet partition per day with each BOM's state at the end of that day."""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from cranium_etl.storage.batch import metadata_key
from cranium_etl.storage.files import write_table_atomically
from cranium_etl.storage.raw import BatchInfo, RawStore
from cranium_etl.storage.schema import BOM_SCHEMA, TIMESTAMP
from cranium_etl.storage.versions import (
    SEQUENCE_COLUMN,
    concat_optional,
    earliest_per_id,
    newest_per_id,
    with_position,
)

log = logging.getLogger(__name__)

SNAPSHOT_SUBDIR = "bill_of_materials"
PARTITION_FILE = "part-0.parquet"
PARTITION_DIR = re.compile(r"^snapshot_date=(\d{4}-\d{2}-\d{2})$")
PARTITIONING = ds.partitioning(pa.schema([("snapshot_date", pa.date32())]), flavor="hive")


@dataclass(frozen=True)
class SnapshotResult:
    """Outcome of building one daily partition.

    `exact` is true when every row is the BOM's known state at the end of the day: no row is a
    stand-in (`inexact_count` is 0), a sync started after the day ended (`day_complete`) and
    every raw batch was readable.
    """

    path: Path
    row_count: int
    inexact_count: int
    snapshot_date: date
    exact: bool
    day_complete: bool
    source_batches: tuple[str, ...]
    unreadable_batches: tuple[str, ...]
    run_id: str | None = None


class SnapshotStore:
    """Daily partitions `<data_dir>/bill_of_materials/snapshot_date=YYYY-MM-DD/part-0.parquet`."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir)
        self.directory = self.data_dir / SNAPSHOT_SUBDIR

    def partition_path(self, day: date) -> Path:
        return self.directory / f"snapshot_date={day.isoformat()}" / PARTITION_FILE

    def partitions(self) -> list[date]:
        """Return the dates that have a partition file, oldest first."""
        try:
            entries = list(self.directory.iterdir())
        except FileNotFoundError:
            return []
        days = []
        for entry in entries:
            match = PARTITION_DIR.match(entry.name)
            if match and (entry / PARTITION_FILE).is_file():
                days.append(date.fromisoformat(match[1]))
        return sorted(days)

    def dataset(self) -> ds.Dataset:
        """Return every partition as one dataset with a `snapshot_date` date32 column."""
        return ds.dataset(
            str(self.directory), schema=_with_partition_column(), partitioning=PARTITIONING
        )

    def read_table(self, day: date | None = None) -> pa.Table:
        """Read one partition (without `snapshot_date`), or all of them (with it)."""
        if day is not None:
            return ds.dataset(str(self.partition_path(day)), schema=BOM_SCHEMA).to_table()
        return self.dataset().to_table()

    def build(self, raw: RawStore, day: date, *, run_id: str | None = None) -> SnapshotResult:
        """Write the partition for `day` from the raw layer and return what it contains.

        A row is each BOM created before the end of `day` (UTC midnight that starts the next
        day), at its newest version updated before that instant. A BOM whose newest tombstone
        before that instant is later than both that version and the last sync that fetched it
        is left out. A BOM created before the end of `day` whose every known version is later
        gets its earliest known version with `state_exact = False`. The file depends only on the
        raw rows, so building it twice from the same raw data gives identical bytes.
        """
        end = datetime.combine(day + timedelta(days=1), time(), UTC)
        batches = raw.batches()
        unreadable = [info for info in batches if info.error is not None]
        for info in unreadable:
            log.warning(
                "snapshot %s skips unreadable raw batch %s: %s", day, info.path.name, info.error
            )
        readable = [info for info in batches if info.error is None]

        exact_rows, inexact_rows = _select_versions(readable, end)
        inexact_rows = inexact_rows.set_column(
            inexact_rows.schema.get_field_index("state_exact"),
            BOM_SCHEMA.field("state_exact"),
            pa.array([False] * inexact_rows.num_rows, pa.bool_()),
        )
        rows = pa.concat_tables([exact_rows, inexact_rows]).sort_by("bill_of_materials_id")

        names = {info.sequence: info.path.name for info in readable}
        sources = tuple(
            names[sequence] for sequence in sorted(set(rows.column(SEQUENCE_COLUMN).to_pylist()))
        )
        day_complete = any(
            info.synced_at is not None and info.synced_at >= end and info.sync_kind != "tombstones"
            for info in readable
        )
        inexact_count = inexact_rows.num_rows
        exact = inexact_count == 0 and day_complete and not unreadable

        table = rows.select(BOM_SCHEMA.names).cast(BOM_SCHEMA)
        path = self.partition_path(day)
        write_table_atomically(
            table,
            path,
            action=f"writing snapshot {day.isoformat()}",
            metadata={
                metadata_key("snapshot_date"): day.isoformat(),
                metadata_key("row_count"): str(table.num_rows),
                metadata_key("inexact_count"): str(inexact_count),
                metadata_key("exact"): json.dumps(exact),
                metadata_key("day_complete"): json.dumps(day_complete),
                metadata_key("unreadable_batches"): json.dumps([i.path.name for i in unreadable]),
                metadata_key("source_batches"): json.dumps(list(sources)),
            },
        )
        return SnapshotResult(
            path=path,
            snapshot_date=day,
            row_count=table.num_rows,
            inexact_count=inexact_count,
            exact=exact,
            day_complete=day_complete,
            source_batches=sources,
            unreadable_batches=tuple(info.path.name for info in unreadable),
            run_id=run_id,
        )


def _select_versions(batches: list[BatchInfo], end: datetime) -> tuple[pa.Table, pa.Table]:
    """Return (rows of the state at `end`, stand-in rows for BOMs with only later versions).

    Batches are read one at a time and reduced to one row per id after each, so memory grows
    with the number of BOMs, not with the number of raw rows.

    NOTE: a row counts as exact when a version updated before `end` is known, although the API
    serves only the current state, so a change overwritten between two syncs is never seen.
    """
    end_value = pa.scalar(end, TIMESTAMP)
    before_end = pc.field("updated_date") < end_value
    created_only = (
        (pc.field("created_date") < end_value)
        & (pc.field("updated_date") >= end_value)
        & pc.field("deleted_at").is_null()
    )

    newest: pa.Table | None = None
    earliest: pa.Table | None = None
    deleted_at: dict[str, datetime] = {}
    last_seen: dict[str, datetime] = {}

    for info in batches:
        dataset = ds.dataset(str(info.path), schema=BOM_SCHEMA, format="parquet")

        part = with_position(dataset.to_table(filter=before_end), info.sequence)
        is_tombstone = pc.is_valid(part.column("deleted_at"))
        tombstones = part.filter(is_tombstone)
        versions = part.filter(pc.invert(is_tombstone))
        _record_latest(deleted_at, tombstones, "deleted_at", end)
        _record_latest(last_seen, versions, "synced_at", end)
        newest = newest_per_id(concat_optional(newest, versions))

        later = with_position(dataset.to_table(filter=created_only), info.sequence)
        earliest = earliest_per_id(concat_optional(earliest, later))

    empty = with_position(BOM_SCHEMA.empty_table(), 0)
    newest = empty if newest is None else newest
    earliest = empty if earliest is None else earliest

    keep = []
    ids = newest.column("bill_of_materials_id").to_pylist()
    updated = newest.column("updated_date").to_pylist()
    for bom_id, updated_date in zip(ids, updated, strict=True):
        tombstone = deleted_at.get(bom_id)
        alive = max(updated_date, last_seen.get(bom_id, updated_date))
        keep.append(tombstone is None or tombstone <= alive)
    exact_rows = newest.filter(pa.array(keep, pa.bool_()))

    known = pa.array(ids, pa.string())
    inexact_rows = earliest.filter(
        pc.invert(pc.is_in(earliest.column("bill_of_materials_id"), known))
    )
    return exact_rows, inexact_rows


def _record_latest(
    latest: dict[str, datetime], table: pa.Table, column: str, end: datetime
) -> None:
    """Store per id the max of `column` over rows where it is before `end`."""
    table = table.filter(pc.field(column) < pa.scalar(end, TIMESTAMP))
    ids = table.column("bill_of_materials_id").to_pylist()
    values = table.column(column).to_pylist()
    for bom_id, value in zip(ids, values, strict=True):
        if bom_id not in latest or value > latest[bom_id]:
            latest[bom_id] = value


def _with_partition_column() -> pa.Schema:
    return BOM_SCHEMA.append(pa.field("snapshot_date", pa.date32()))
