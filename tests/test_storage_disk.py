"""Disk trouble: full and read-only file systems, and files in the way of directories.

The full and read-only cases run in a child process inside a private mount namespace
(`unshare -m`) on a small tmpfs, so the errors come from a real file system. They are skipped
where the namespace or the mount is not permitted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest
from test_storage_factory import bom_record, commit_batch

from cranium_etl.storage import RawStore, SnapshotStore, StorageWriteError

TESTS = Path(__file__).resolve().parent

PRELUDE = f"""
import json, os, subprocess, sys
from datetime import date
sys.path.insert(0, {str(TESTS)!r})
from test_storage_factory import bom_record, commit_batch, utc
from cranium_etl.storage import RawStore, SnapshotStore, StorageWriteError

data_dir = sys.argv[1]
raw = RawStore(data_dir)
snapshots = SnapshotStore(data_dir)
commit_batch(raw, [bom_record(n) for n in range(5)], synced_at="2026-01-03T01:00:00Z", cursor="c1")
partition = snapshots.build(raw, date(2026, 1, 2)).path
before = partition.read_bytes()
results = {{}}


def attempt(name, action):
    try:
        action()
    except StorageWriteError as error:
        results[name] = {{"error": str(error), "errno": error.errno}}
    else:
        results[name] = {{"error": None}}


def write_big_batch():
    with raw.open_batch(run_id="run-2", synced_at=utc("2026-01-04T01:00:00Z"),
                        sync_kind="incremental", row_group_rows=500) as batch:
        for page in range(200):
            batch.write_records([bom_record(page * 500 + n, name=os.urandom(64).hex())
                                 for n in range(500)])
        batch.commit(cursor="c2")
"""

EPILOGUE = """
results["cursor"] = raw.latest_cursor().cursor
results["batches"] = len(raw.batches())
results["raw_rows"] = raw.read_table().num_rows
results["partition_unchanged"] = partition.read_bytes() == before
results["leftovers"] = sorted(
    name for _, _, names in os.walk(data_dir) for name in names if name.startswith("_tmp-")
)
print(json.dumps(results))
"""


def run_on_tmpfs(tmp_path: Path, body: str, size: str = "1m") -> dict:
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    script = tmp_path / "check.py"
    script.write_text(PRELUDE + textwrap.dedent(body) + EPILOGUE)
    shell = (
        f"mount -t tmpfs -o size={size} tmpfs {mount_point} && "
        f"{sys.executable} {script} {mount_point}/data"
    )
    completed = subprocess.run(
        ["unshare", "-m", "sh", "-c", shell], capture_output=True, text=True, timeout=120
    )
    if completed.returncode != 0 and "mount" in completed.stderr and not completed.stdout:
        pytest.skip(f"cannot mount a tmpfs here: {completed.stderr.strip()}")
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_full_disk_keeps_previous_batch_and_cursor(tmp_path):
    results = run_on_tmpfs(
        tmp_path,
        """
        attempt("batch", write_big_batch)
        with open(os.path.join(data_dir, "filler"), "wb") as filler:
            try:
                while True:
                    filler.write(b"x" * 65536)
                    filler.flush()
            except OSError:
                pass
        attempt("snapshot", lambda: snapshots.build(raw, date(2026, 1, 2)))
        """,
    )

    assert results["batch"]["errno"] == 28
    assert "No space left on device" in results["batch"]["error"]
    assert "free disk space" in results["batch"]["error"]
    assert "/raw/bill_of_materials/" in results["batch"]["error"]
    assert results["snapshot"]["errno"] == 28
    assert "snapshot_date=2026-01-02" in results["snapshot"]["error"]
    assert results["cursor"] == "c1"
    assert results["batches"] == 1
    assert results["raw_rows"] == 5
    assert results["partition_unchanged"]
    assert results["leftovers"] == []


def test_read_only_disk_keeps_previous_batch_and_cursor(tmp_path):
    results = run_on_tmpfs(
        tmp_path,
        """
        subprocess.run(["mount", "-o", "remount,ro", os.path.dirname(data_dir)], check=True)
        attempt("batch", write_big_batch)
        attempt("snapshot", lambda: snapshots.build(raw, date(2026, 1, 2)))
        attempt("lock", lambda: raw.lock().acquire())
        """,
    )

    assert results["batch"]["errno"] == 30
    assert "make the data directory writable" in results["batch"]["error"]
    assert results["snapshot"]["errno"] == 30
    assert results["lock"]["errno"] == 30
    assert results["cursor"] == "c1"
    assert results["batches"] == 1
    assert results["partition_unchanged"]


def test_file_in_place_of_raw_directory_rejected(tmp_path):
    (tmp_path / "raw").write_text("not a directory")
    raw = RawStore(tmp_path)

    with pytest.raises(StorageWriteError) as caught:
        commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T01:00:00Z")

    assert str(tmp_path / "raw") in str(caught.value)
    assert "a file is in the way" in str(caught.value)


def test_file_in_place_of_partition_directory_rejected(tmp_path):
    raw = RawStore(tmp_path)
    snapshots = SnapshotStore(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-03T01:00:00Z")
    snapshots.directory.mkdir()
    (snapshots.directory / "snapshot_date=2026-01-02").write_text("not a directory")

    with pytest.raises(StorageWriteError) as caught:
        snapshots.build(raw, date(2026, 1, 2))

    assert "snapshot_date=2026-01-02" in str(caught.value)
    assert "a file is in the way" in str(caught.value)
