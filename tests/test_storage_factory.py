"""Builders of API records and raw batches shared by the storage tests (no tests here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cranium_etl.storage import RawStore


def bom_record(number: int, **fields: Any) -> dict[str, Any]:
    """Return a valid API record for BOM `bom-<number>`, with `fields` overriding values."""
    record: dict[str, Any] = {
        "billOfMaterialsId": f"bom-{number:04d}",
        "name": f"project {number}",
        "description": f"description of project {number}",
        "repositoryUrl": f"https://git.example.test/team/project-{number}",
        "vcsIntegrationId": "vcs-1",
        "vcsIntegrationName": "GitHub",
        "aiSystemIds": ["ai-1", "ai-2"],
        "lastScanStatus": "Completed",
        "lastScanStatusMessage": None,
        "totalVulnerabilitiesCount": 10 + number,
        "totalResolvedVulnerabilitiesCount": 3,
        "modelCount": 2,
        "dataSetCount": 1,
        "technologyCount": 7,
        "infrastructureCount": 4,
        "createdDate": "2026-01-01T08:00:00Z",
        "updatedDate": "2026-01-02T09:00:00Z",
    }
    record.update(fields)
    return record


def utc(text: str) -> datetime:
    """Parse an ISO 8601 timestamp that ends in Z."""
    return datetime.fromisoformat(text).astimezone(UTC)


def commit_batch(
    raw: RawStore,
    records: list[dict[str, Any]],
    *,
    synced_at: str,
    cursor: str | None = "cursor",
    run_id: str | None = None,
    sync_kind: str = "incremental",
):
    """Write `records` as one committed batch and return its path."""
    with raw.open_batch(
        run_id=run_id or f"run-{synced_at}",
        synced_at=utc(synced_at),
        sync_kind=sync_kind,
        previous_cursor=None,
    ) as batch:
        batch.write_records(records, request_id=f"request-{synced_at}")
        return batch.commit(cursor=cursor)
