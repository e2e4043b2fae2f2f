"""The sync and the reconciliation against the sandbox, writing real Parquet files."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta

import pyarrow.compute as pc
import pytest
from test_client_support import client_config

from cranium_etl.api import CraniumClient, ResponseError
from cranium_etl.storage import RawStore, SnapshotStore, StoreLockedError
from cranium_etl.sync import (
    InvalidRecordError,
    reconcile_bill_of_materials,
    sync_bill_of_materials,
)


def run_sync(server, raw, **kwargs):
    with CraniumClient(client_config(server, page_size=100)) as client:
        return sync_bill_of_materials(client, raw, run_id="test-run", **kwargs)


def run_reconcile(server, raw):
    with CraniumClient(client_config(server, page_size=100)) as client:
        return reconcile_bill_of_materials(client, raw, run_id="test-reconcile")


def stored_versions(raw: RawStore) -> set[tuple[str, datetime]]:
    table = raw.read_table(columns=["bill_of_materials_id", "updated_date", "deleted_at"])
    live_rows = table.filter(pc.is_null(table.column("deleted_at")))
    return set(
        zip(
            live_rows.column("bill_of_materials_id").to_pylist(),
            live_rows.column("updated_date").to_pylist(),
            strict=True,
        )
    )


def truth_versions(server) -> set[tuple[str, datetime]]:
    return {
        (
            record["billOfMaterialsId"],
            datetime.fromisoformat(record["updatedDate"].replace("Z", "+00:00")),
        )
        for record in server.tenant.records()
    }


def today_snapshot_ids(raw: RawStore, tmp_path) -> list[str]:
    result = SnapshotStore(tmp_path).build(raw, datetime.now(UTC).date())
    table = SnapshotStore(tmp_path).read_table(result.snapshot_date)
    return table.column("bill_of_materials_id").to_pylist()


def test_first_sync_fetches_everything(sandbox, tmp_path):
    server = sandbox(bom_count=250)
    raw = RawStore(tmp_path)

    result = run_sync(server, raw)

    assert result.sync_kind == "full"
    assert result.records == 250
    assert result.pages == 3
    assert result.cursor_advanced
    assert stored_versions(raw) == truth_versions(server)


def test_incremental_sync_fetches_changes_only(sandbox, tmp_path):
    server = sandbox(bom_count=250)
    raw = RawStore(tmp_path)
    run_sync(server, raw)
    changed = set(server.tenant.update(12)) | set(server.tenant.add(4))

    result = run_sync(server, raw)

    assert result.sync_kind == "incremental"
    assert result.records == len(changed)
    assert stored_versions(raw) >= truth_versions(server)
    assert len(raw.batches()) == 2


def test_unchanged_tenant_writes_no_batch(sandbox, tmp_path):
    server = sandbox(bom_count=50)
    raw = RawStore(tmp_path)
    first = run_sync(server, raw)

    second = run_sync(server, raw)

    assert second.records == 0
    assert not second.cursor_advanced
    assert raw.latest_cursor().cursor == first.cursor


def test_corrupt_cursor_batch_falls_back_to_full(sandbox, tmp_path):
    server = sandbox(bom_count=120)
    raw = RawStore(tmp_path)
    run_sync(server, raw)
    server.tenant.update(5)
    newest = raw.batches()[-1].path
    newest.write_bytes(b"not a parquet file")

    result = run_sync(server, raw)

    assert result.sync_kind == "full"
    assert "unreadable" in result.fallback_reason
    assert result.records == 120


def test_rejected_cursor_falls_back_to_full(sandbox, tmp_path):
    server = sandbox(bom_count=80)
    raw = RawStore(tmp_path)
    with (
        raw.lock(),
        raw.open_batch(run_id="seed", synced_at=datetime.now(UTC), sync_kind="full") as batch,
    ):
        batch.commit(cursor="eyJ0YW1wZXJlZCI6dHJ1ZX0")

    result = run_sync(server, raw)

    assert result.sync_kind == "full"
    assert "rejected" in result.fallback_reason
    assert result.records == 80
    assert raw.latest_cursor().cursor == result.cursor


def test_full_sync_after_fallback_keeps_snapshots_unique(sandbox, tmp_path):
    server = sandbox(bom_count=90)
    raw = RawStore(tmp_path)
    run_sync(server, raw)
    server.tenant.update(10)
    run_sync(server, raw, full=True)

    ids = today_snapshot_ids(raw, tmp_path)

    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(server.tenant.ids())


def test_invalid_record_fails_and_keeps_cursor(sandbox, tmp_path):
    server = sandbox(bom_count=150)
    raw = RawStore(tmp_path)
    first = run_sync(server, raw)
    server.tenant.update(20)
    server.faults.inject("corrupt_record", mode="missing_field", skip=0)

    with pytest.raises(InvalidRecordError, match="requestId="):
        run_sync(server, raw)

    assert raw.latest_cursor().cursor == first.cursor
    assert len(raw.batches()) == 1
    assert [path.name for path in raw.directory.iterdir() if path.name.startswith(("_", "."))] == []


def test_unknown_status_and_extra_field_kept(sandbox, tmp_path):
    server = sandbox(bom_count=140)
    raw = RawStore(tmp_path)
    server.faults.inject("corrupt_record", mode="unknown_status")
    server.faults.inject("corrupt_record", mode="extra_field")

    result = run_sync(server, raw)

    assert result.records == 140
    table = raw.read_table(columns=["last_scan_status", "extra_fields"])
    statuses = set(table.column("last_scan_status").to_pylist())
    assert statuses - {
        "Completed", "Failed", "InProgress", "NotStarted", "Pending", "Queued", "Unscanned"
    }  # fmt: skip
    assert any(value is not None for value in table.column("extra_fields").to_pylist())


def test_protocol_violation_fails_and_keeps_cursor(sandbox, tmp_path):
    server = sandbox(bom_count=300)
    raw = RawStore(tmp_path)
    server.faults.inject("repeat_cursor", skip=1)

    with pytest.raises(ResponseError):
        run_sync(server, raw)

    assert raw.batches() == []
    assert raw.latest_cursor() is None


def test_reconcile_records_deletions(sandbox, tmp_path):
    server = sandbox(bom_count=100)
    raw = RawStore(tmp_path)
    run_sync(server, raw)
    deleted = set(server.tenant.delete(6))

    result = run_reconcile(server, raw)

    assert result.deletions_detected == 6
    assert raw.live_ids() == server.tenant.ids()
    tombstones = raw.read_table(columns=["bill_of_materials_id", "deleted_at"])
    tombstones = tombstones.filter(pc.is_valid(tombstones.column("deleted_at")))
    assert set(tombstones.column("bill_of_materials_id").to_pylist()) == deleted
    assert sorted(today_snapshot_ids(raw, tmp_path)) == sorted(server.tenant.ids())


def test_reconcile_after_no_deletions_writes_none(sandbox, tmp_path):
    server = sandbox(bom_count=60)
    raw = RawStore(tmp_path)
    run_sync(server, raw)
    server.tenant.update(3)

    result = run_reconcile(server, raw)

    assert result.deletions_detected == 0
    assert result.tombstone_path is None
    assert raw.live_ids() == server.tenant.ids()


def test_snapshot_before_deletion_keeps_bom(sandbox, tmp_path):
    server = sandbox(bom_count=30)
    raw = RawStore(tmp_path)
    run_sync(server, raw)
    [deleted] = server.tenant.delete(1)
    run_reconcile(server, raw)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)

    SnapshotStore(tmp_path).build(raw, yesterday)

    ids = SnapshotStore(tmp_path).read_table(yesterday).column("bill_of_materials_id").to_pylist()
    assert deleted in ids


def _hold_lock(data_dir, ready, release):
    with RawStore(data_dir).lock():
        ready.set()
        release.wait(30)


def test_concurrent_sync_fails_clearly(sandbox, tmp_path):
    server = sandbox(bom_count=20)
    raw = RawStore(tmp_path)
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(tmp_path, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(StoreLockedError, match=str(tmp_path)):
            run_sync(server, raw)
    finally:
        release.set()
        holder.join(30)

    assert raw.batches() == []
    assert server.stats.data_requests == 0
