"""Raw batches: streaming writes, atomic commit, cursor metadata, temp files and the lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from test_storage_factory import bom_record, commit_batch, utc

from cranium_etl.storage import BOM_SCHEMA, RawStore, RecordError, StoreLockedError

SRC = Path(__file__).resolve().parents[1]


def visible_files(directory: Path) -> list[str]:
    """File names a `*.parquet` glob (DuckDB, polars) would read."""
    return sorted(path.name for path in directory.glob("*.parquet"))


def run_python(code: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=SRC,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_latest_cursor_none_without_batches(tmp_path):
    assert RawStore(tmp_path).latest_cursor() is None


def test_cursor_round_trip_through_metadata(tmp_path):
    raw = RawStore(tmp_path)

    with raw.open_batch(
        run_id="run-9",
        synced_at=utc("2026-01-03T12:00:00Z"),
        sync_kind="incremental",
        previous_cursor="cursor-8",
    ) as batch:
        batch.write_records([bom_record(1)], request_id="req-1")
        batch.write_records([bom_record(2)], request_id="req-2")
        path = batch.commit(cursor="cursor-9", extra_metadata={"source": "test"})

    state = raw.latest_cursor()
    assert state.cursor == "cursor-9"
    assert state.usable
    assert state.batch_path == path
    assert state.synced_at == utc("2026-01-03T12:00:00Z")
    assert state.sync_kind == "incremental"
    [info] = raw.batches()
    assert info.previous_cursor == "cursor-8"
    assert info.run_id == "run-9"
    assert info.record_count == 2
    assert info.schema_version == "1"
    assert info.request_ids == ("req-1", "req-2")
    assert pq.read_metadata(path).metadata[b"source"] == b"test"


def test_batch_names_increase(tmp_path):
    raw = RawStore(tmp_path)

    first = commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T12:00:00Z", cursor="c1")
    second = commit_batch(raw, [], synced_at="2026-01-02T12:00:00Z", cursor="c2")

    assert first.name == "batch-000001-20260103T120000Z.parquet"
    assert second.name == "batch-000002-20260102T120000Z.parquet"
    assert raw.latest_cursor().cursor == "c2"


def test_empty_batch_keeps_schema_and_cursor(tmp_path):
    raw = RawStore(tmp_path)

    path = commit_batch(raw, [], synced_at="2026-01-03T12:00:00Z", cursor="c1")

    assert pq.read_schema(path).equals(BOM_SCHEMA)
    assert pq.read_metadata(path).num_rows == 0
    assert raw.latest_cursor().cursor == "c1"


def test_streaming_write_of_many_pages(tmp_path):
    raw = RawStore(tmp_path)
    pages = 120
    page_size = 50

    with raw.open_batch(
        run_id="run-1",
        synced_at=utc("2026-01-03T12:00:00Z"),
        sync_kind="full",
        row_group_rows=1000,
    ) as batch:
        for page in range(pages):
            numbers = range(page * page_size, (page + 1) * page_size)
            batch.write_records([bom_record(n) for n in numbers], request_id=f"req-{page}")
        path = batch.commit(cursor="c1")

    metadata = pq.read_metadata(path)
    assert metadata.num_rows == pages * page_size
    assert metadata.num_row_groups == pages * page_size // 1000
    assert len(set(raw.read_table().column("bill_of_materials_id").to_pylist())) == 6000


def test_open_batch_invisible_until_commit(tmp_path):
    raw = RawStore(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T12:00:00Z", cursor="c1")

    with raw.open_batch(
        run_id="run-2",
        synced_at=utc("2026-01-04T12:00:00Z"),
        sync_kind="incremental",
        row_group_rows=1,
    ) as batch:
        batch.write_records([bom_record(2), bom_record(3)])

        assert batch.temp_path.exists()
        assert visible_files(raw.directory) == ["batch-000001-20260103T120000Z.parquet"]
        assert ds.dataset(str(raw.directory)).count_rows() == 1
        assert raw.read_table().num_rows == 1
        batch.commit(cursor="c2")

    assert raw.read_table().num_rows == 3


def test_uncommitted_batch_leaves_nothing(tmp_path):
    raw = RawStore(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T12:00:00Z", cursor="c1")

    with raw.open_batch(
        run_id="run-2", synced_at=utc("2026-01-04T12:00:00Z"), sync_kind="incremental"
    ) as batch:
        batch.write_records([bom_record(2)])
        temp = batch.temp_path

    assert not temp.exists()
    assert sorted(os.listdir(raw.directory)) == ["batch-000001-20260103T120000Z.parquet"]
    assert raw.latest_cursor().cursor == "c1"


def test_error_inside_batch_leaves_nothing(tmp_path):
    raw = RawStore(tmp_path)

    with pytest.raises(RecordError):
        with raw.open_batch(
            run_id="run-1", synced_at=utc("2026-01-04T12:00:00Z"), sync_kind="full"
        ) as batch:
            batch.write_records([bom_record(1)])
            batch.write_records([bom_record(2, modelCount=False)], request_id="req-5")

    assert os.listdir(raw.directory) == []
    assert raw.latest_cursor() is None


def test_record_error_from_batch_names_request(tmp_path):
    raw = RawStore(tmp_path)

    with raw.open_batch(
        run_id="run-1", synced_at=utc("2026-01-04T12:00:00Z"), sync_kind="full"
    ) as batch:
        with pytest.raises(RecordError) as caught:
            batch.write_records([bom_record(2, name=None)], request_id="req-5")

    assert caught.value.request_id == "req-5"


def test_commit_twice_rejected(tmp_path):
    raw = RawStore(tmp_path)

    with raw.open_batch(
        run_id="run-1", synced_at=utc("2026-01-04T12:00:00Z"), sync_kind="full"
    ) as batch:
        batch.commit(cursor="c1")
        with pytest.raises(RuntimeError, match="already committed"):
            batch.commit(cursor="c2")


def test_reserved_metadata_key_rejected(tmp_path):
    raw = RawStore(tmp_path)

    with raw.open_batch(
        run_id="run-1", synced_at=utc("2026-01-04T12:00:00Z"), sync_kind="full"
    ) as batch:
        with pytest.raises(ValueError, match="reserved"):
            batch.commit(cursor="c1", extra_metadata={"cranium_etl.cursor": "other"})


def test_leftover_temp_file_removed_on_open_batch(tmp_path):
    raw = RawStore(tmp_path)
    raw.directory.mkdir(parents=True)
    leftover = raw.directory / f"_tmp-batch-{dead_pid()}-0000abcd.partial"
    leftover.write_bytes(b"PAR1 partial")

    with raw.open_batch(run_id="run-1", synced_at=utc("2026-01-04T12:00:00Z"), sync_kind="full"):
        assert not leftover.exists()


def test_leftover_temp_file_removed_on_lock(tmp_path):
    raw = RawStore(tmp_path)
    raw.directory.mkdir(parents=True)
    leftover = raw.directory / "_tmp-batch-1-0000abcd.partial"
    leftover.write_bytes(b"PAR1 partial")

    with raw.lock():
        assert not leftover.exists()


def test_live_writer_temp_file_kept_on_open_batch(tmp_path):
    raw = RawStore(tmp_path)
    raw.directory.mkdir(parents=True)
    live = raw.directory / f"_tmp-batch-{os.getppid()}-0000abcd.partial"
    live.write_bytes(b"PAR1 partial")

    with raw.open_batch(run_id="run-1", synced_at=utc("2026-01-04T12:00:00Z"), sync_kind="full"):
        assert live.exists()


def test_corrupt_newest_batch_makes_cursor_unusable(tmp_path):
    raw = RawStore(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T12:00:00Z", cursor="c1")
    newest = commit_batch(raw, [bom_record(2)], synced_at="2026-01-04T12:00:00Z", cursor="c2")
    newest.write_bytes(newest.read_bytes()[:100])

    state = raw.latest_cursor()

    assert state.cursor is None
    assert not state.usable
    assert state.batch_path == newest
    assert "unreadable" in state.reason
    assert newest.name in state.reason


def test_batch_without_cursor_makes_cursor_unusable(tmp_path):
    raw = RawStore(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T12:00:00Z", cursor=None)

    state = raw.latest_cursor()

    assert state.cursor is None
    assert "has no cranium_etl.cursor metadata" in state.reason


def test_tombstone_batch_keeps_cursor(tmp_path):
    raw = RawStore(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T12:00:00Z", cursor="c1")

    raw.write_tombstones(["bom-0001"], detected_at=utc("2026-01-04T00:00:00Z"), run_id="run-2")

    assert raw.latest_cursor().cursor == "c1"


def test_tombstone_keeps_last_known_values(tmp_path):
    raw = RawStore(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T12:00:00Z")
    commit_batch(
        raw,
        [bom_record(1, name="renamed", updatedDate="2026-01-03T13:00:00Z"), bom_record(2)],
        synced_at="2026-01-03T14:00:00Z",
    )

    path = raw.write_tombstones(
        ["bom-0001"], detected_at=utc("2026-01-05T00:00:00Z"), run_id="reconcile-1"
    )

    [row] = pq.read_table(path).to_pylist()
    assert row["name"] == "renamed"
    assert row["updated_date"] == utc("2026-01-03T13:00:00Z")
    assert row["deleted_at"] == utc("2026-01-05T00:00:00Z")
    assert row["sync_run_id"] == "reconcile-1"
    assert raw.live_ids() == {"bom-0002"}


def test_tombstone_for_unknown_id_rejected(tmp_path):
    raw = RawStore(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T12:00:00Z")

    with pytest.raises(ValueError, match="bom-9999"):
        raw.write_tombstones(["bom-9999"], detected_at=utc("2026-01-05T00:00:00Z"), run_id="r")


def test_reappeared_bom_is_live_again(tmp_path):
    raw = RawStore(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T12:00:00Z")
    raw.write_tombstones(["bom-0001"], detected_at=utc("2026-01-04T00:00:00Z"), run_id="r")
    commit_batch(
        raw, [bom_record(1, updatedDate="2026-01-05T00:00:00Z")], synced_at="2026-01-05T12:00:00Z"
    )

    assert raw.live_ids() == {"bom-0001"}


def test_killed_writer_leaves_previous_state(tmp_path):
    raw = RawStore(tmp_path)
    previous = commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T12:00:00Z", cursor="c1")
    writer = run_python(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_storage_factory import bom_record, utc
        from cranium_etl.storage import RawStore
        raw = RawStore({str(tmp_path)!r})
        with raw.lock():
            with raw.open_batch(run_id="run-2", synced_at=utc("2026-01-04T12:00:00Z"),
                                sync_kind="incremental", row_group_rows=10) as batch:
                for page in range(5):
                    batch.write_records([bom_record(page * 10 + n) for n in range(10)])
                print(batch.temp_path, flush=True)
                time.sleep(60)
                batch.commit(cursor="c2")
        """
    )
    temp = Path(writer.stdout.readline().strip())
    assert temp.stat().st_size > 0

    writer.send_signal(signal.SIGKILL)
    writer.wait()

    assert visible_files(raw.directory) == [previous.name]
    assert raw.latest_cursor().cursor == "c1"
    assert raw.read_table().num_rows == 1
    assert temp.exists()
    with raw.lock():
        assert not temp.exists()


def test_lock_held_by_other_process_rejected(tmp_path):
    raw = RawStore(tmp_path)
    holder = run_python(
        f"""
        import sys
        from cranium_etl.storage import RawStore
        with RawStore({str(tmp_path)!r}).lock():
            print("locked", flush=True)
            sys.stdin.readline()
        """
    )
    assert holder.stdout.readline().strip() == "locked"

    with pytest.raises(StoreLockedError) as caught:
        with raw.lock(timeout=0):
            pass

    holder.stdin.close()
    holder.wait()
    assert str(tmp_path) in str(caught.value)
    assert "another sync" in str(caught.value)
    with raw.lock(timeout=0) as lock:
        assert lock.is_locked
