"""Daily snapshot partitions built from the raw layer."""

from __future__ import annotations

import json
from datetime import date

import pyarrow.parquet as pq
from test_storage_factory import bom_record, commit_batch, utc

from cranium_etl.storage import BOM_SCHEMA, RawStore, SnapshotStore


def stores(tmp_path):
    return RawStore(tmp_path), SnapshotStore(tmp_path)


def rows_by_id(snapshots, day):
    return {row["bill_of_materials_id"]: row for row in snapshots.read_table(day).to_pylist()}


def file_metadata(path):
    raw = pq.read_metadata(path).metadata
    return {key.decode(): value.decode() for key, value in raw.items()}


def test_snapshot_holds_newest_version_of_day(tmp_path):
    raw, snapshots = stores(tmp_path)
    commit_batch(raw, [bom_record(1, name="v1")], synced_at="2026-01-03T01:00:00Z")
    commit_batch(
        raw,
        [bom_record(1, name="v2", updatedDate="2026-01-04T10:00:00Z")],
        synced_at="2026-01-05T01:00:00Z",
    )

    snapshots.build(raw, date(2026, 1, 3))
    snapshots.build(raw, date(2026, 1, 4))

    assert rows_by_id(snapshots, date(2026, 1, 3))["bom-0001"]["name"] == "v1"
    assert rows_by_id(snapshots, date(2026, 1, 4))["bom-0001"]["name"] == "v2"


def test_exact_snapshot_result(tmp_path):
    raw, snapshots = stores(tmp_path)
    batch = commit_batch(raw, [bom_record(2), bom_record(1)], synced_at="2026-01-03T01:00:00Z")

    result = snapshots.build(raw, date(2026, 1, 2), run_id="run-7")

    assert result.path == tmp_path / "bill_of_materials/snapshot_date=2026-01-02/part-0.parquet"
    assert result.row_count == 2
    assert result.inexact_count == 0
    assert result.exact
    assert result.day_complete
    assert result.source_batches == (batch.name,)
    assert result.run_id == "run-7"
    table = snapshots.read_table(date(2026, 1, 2))
    assert table.column("bill_of_materials_id").to_pylist() == ["bom-0001", "bom-0002"]
    assert table.column("state_exact").to_pylist() == [True, True]


def test_day_boundary_is_next_midnight_utc(tmp_path):
    raw, snapshots = stores(tmp_path)
    commit_batch(
        raw,
        [
            bom_record(1, updatedDate="2026-01-03T23:59:59.999999Z"),
            bom_record(2, createdDate="2026-01-04T00:00:00Z", updatedDate="2026-01-04T00:00:00Z"),
        ],
        synced_at="2026-01-05T01:00:00Z",
    )

    snapshots.build(raw, date(2026, 1, 3))

    assert set(rows_by_id(snapshots, date(2026, 1, 3))) == {"bom-0001"}


def test_bom_created_after_day_left_out(tmp_path):
    raw, snapshots = stores(tmp_path)
    commit_batch(
        raw,
        [
            bom_record(1),
            bom_record(2, createdDate="2026-01-06T00:00:00Z", updatedDate="2026-01-06T00:00:00Z"),
        ],
        synced_at="2026-01-07T01:00:00Z",
    )

    result = snapshots.build(raw, date(2026, 1, 5))

    assert result.row_count == 1
    assert set(rows_by_id(snapshots, date(2026, 1, 5))) == {"bom-0001"}


def test_day_before_first_sync_marked_inexact(tmp_path):
    raw, snapshots = stores(tmp_path)
    commit_batch(
        raw,
        [
            bom_record(1, updatedDate="2026-01-08T00:00:00Z", name="later"),
            bom_record(2, updatedDate="2026-01-04T00:00:00Z"),
        ],
        synced_at="2026-01-10T01:00:00Z",
    )

    result = snapshots.build(raw, date(2026, 1, 5))

    rows = rows_by_id(snapshots, date(2026, 1, 5))
    assert rows["bom-0001"]["state_exact"] is False
    assert rows["bom-0001"]["name"] == "later"
    assert rows["bom-0002"]["state_exact"] is True
    assert result.inexact_count == 1
    assert not result.exact
    metadata = file_metadata(result.path)
    assert metadata["cranium_etl.inexact_count"] == "1"
    assert metadata["cranium_etl.exact"] == "false"


def test_inexact_row_is_earliest_known_version(tmp_path):
    raw, snapshots = stores(tmp_path)
    commit_batch(
        raw,
        [bom_record(1, name="first", updatedDate="2026-01-08T00:00:00Z")],
        synced_at="2026-01-10T01:00:00Z",
    )
    commit_batch(
        raw,
        [bom_record(1, name="second", updatedDate="2026-01-11T00:00:00Z")],
        synced_at="2026-01-12T01:00:00Z",
    )

    snapshots.build(raw, date(2026, 1, 5))

    assert rows_by_id(snapshots, date(2026, 1, 5))["bom-0001"]["name"] == "first"


def test_same_version_fetched_twice_counted_once(tmp_path):
    raw, snapshots = stores(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T01:00:00Z", run_id="first-run")
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-04T01:00:00Z", run_id="second-run")

    result = snapshots.build(raw, date(2026, 1, 3))

    rows = snapshots.read_table(date(2026, 1, 3)).to_pylist()
    assert len(rows) == 1
    assert rows[0]["sync_run_id"] == "second-run"
    assert result.row_count == 1


def test_deleted_bom_left_out_after_tombstone(tmp_path):
    raw, snapshots = stores(tmp_path)
    commit_batch(raw, [bom_record(1), bom_record(2)], synced_at="2026-01-03T01:00:00Z")
    raw.write_tombstones(["bom-0001"], detected_at=utc("2026-01-06T00:00:00Z"), run_id="rec")
    commit_batch(raw, [], synced_at="2026-01-07T01:00:00Z")

    snapshots.build(raw, date(2026, 1, 5))
    snapshots.build(raw, date(2026, 1, 6))

    assert set(rows_by_id(snapshots, date(2026, 1, 5))) == {"bom-0001", "bom-0002"}
    assert set(rows_by_id(snapshots, date(2026, 1, 6))) == {"bom-0002"}


def test_reappeared_bom_with_new_version_included(tmp_path):
    raw, snapshots = stores(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T01:00:00Z")
    raw.write_tombstones(["bom-0001"], detected_at=utc("2026-01-06T00:00:00Z"), run_id="rec")
    commit_batch(
        raw,
        [bom_record(1, name="back", updatedDate="2026-01-08T10:00:00Z")],
        synced_at="2026-01-09T01:00:00Z",
    )

    snapshots.build(raw, date(2026, 1, 7))
    snapshots.build(raw, date(2026, 1, 8))

    assert rows_by_id(snapshots, date(2026, 1, 7)) == {}
    assert rows_by_id(snapshots, date(2026, 1, 8))["bom-0001"]["name"] == "back"


def test_bom_seen_again_unchanged_after_tombstone_included(tmp_path):
    raw, snapshots = stores(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T01:00:00Z")
    raw.write_tombstones(["bom-0001"], detected_at=utc("2026-01-06T00:00:00Z"), run_id="rec")
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-09T01:00:00Z", sync_kind="full")

    snapshots.build(raw, date(2026, 1, 7))
    snapshots.build(raw, date(2026, 1, 9))

    assert rows_by_id(snapshots, date(2026, 1, 7)) == {}
    assert set(rows_by_id(snapshots, date(2026, 1, 9))) == {"bom-0001"}


def test_rebuild_gives_identical_bytes(tmp_path):
    raw, snapshots = stores(tmp_path)
    commit_batch(raw, [bom_record(n) for n in range(50)], synced_at="2026-01-03T01:00:00Z")
    commit_batch(
        raw,
        [bom_record(n, updatedDate="2026-01-05T00:00:00Z") for n in range(0, 50, 3)],
        synced_at="2026-01-06T01:00:00Z",
    )

    first = snapshots.build(raw, date(2026, 1, 4), run_id="run-a").path.read_bytes()
    snapshots.build(raw, date(2026, 1, 5), run_id="run-b")
    second = snapshots.build(raw, date(2026, 1, 4), run_id="run-c").path.read_bytes()

    assert first == second


def test_empty_partition_has_schema(tmp_path):
    raw, snapshots = stores(tmp_path)

    result = snapshots.build(raw, date(2026, 1, 4))

    assert result.row_count == 0
    assert pq.read_schema(result.path).equals(BOM_SCHEMA)
    assert not result.day_complete
    assert not result.exact


def test_day_without_later_sync_not_complete(tmp_path):
    raw, snapshots = stores(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T01:00:00Z")

    result = snapshots.build(raw, date(2026, 1, 3))

    assert result.row_count == 1
    assert not result.day_complete
    assert not result.exact
    assert file_metadata(result.path)["cranium_etl.day_complete"] == "false"


def test_unreadable_batch_skipped_and_reported(tmp_path):
    raw, snapshots = stores(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T01:00:00Z")
    broken = commit_batch(raw, [bom_record(2)], synced_at="2026-01-04T01:00:00Z")
    broken.write_bytes(b"not parquet")

    result = snapshots.build(raw, date(2026, 1, 3))

    assert result.row_count == 1
    assert result.unreadable_batches == (broken.name,)
    assert not result.exact
    assert json.loads(file_metadata(result.path)["cranium_etl.unreadable_batches"]) == [broken.name]


def test_partitions_listed_by_date(tmp_path):
    raw, snapshots = stores(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T01:00:00Z")

    snapshots.build(raw, date(2026, 1, 4))
    snapshots.build(raw, date(2026, 1, 2))

    assert snapshots.partitions() == [date(2026, 1, 2), date(2026, 1, 4)]
    assert snapshots.dataset().count_rows() == 2
