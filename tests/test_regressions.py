"""Faults that the crash and chaos tests found, each pinned by a deterministic test."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

from test_storage_factory import bom_record, commit_batch

from cranium_etl.storage import RawStore, SnapshotStore

DAY = date(2026, 1, 3)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_snapshot_build_removes_dead_writer_temp(tmp_path):
    raw = RawStore(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-04T01:00:00Z", cursor="c1")
    snapshots = SnapshotStore(tmp_path)
    partition = snapshots.build(raw, DAY).path
    leftover = partition.parent / f"_tmp-part-0-{dead_pid()}-0000abcd.partial"
    leftover.write_bytes(b"PAR1 partial")

    snapshots.build(raw, DAY)

    assert not leftover.exists()


def test_snapshot_build_keeps_live_writer_temp(tmp_path):
    raw = RawStore(tmp_path)
    commit_batch(raw, [bom_record(1)], synced_at="2026-01-04T01:00:00Z", cursor="c1")
    snapshots = SnapshotStore(tmp_path)
    partition = snapshots.build(raw, DAY).path
    live = partition.parent / f"_tmp-part-0-{os.getppid()}-0000abcd.partial"
    live.write_bytes(b"PAR1 partial")

    snapshots.build(raw, DAY)

    assert live.exists()
