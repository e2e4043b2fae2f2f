"""A sync killed with SIGKILL at any point: readers never see a partial file, the next run repairs.

Each test runs the sync, a reconciliation or a snapshot build in a child process and kills it at
one moment. A slow sandbox fault keeps a token request or a page open, or `sync_child.py` pauses
at a storage stage. The last test kills at random moments. After the kill, the previous data must
be unchanged and every visible Parquet file complete. After the next run, the output must equal
the tenant.
"""

from __future__ import annotations

import json
import os
import random
import selectors
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from parquet_truth import (
    compare,
    files_seen_by_readers,
    temp_files,
    unreadable_visible_files,
)
from test_client_support import client_config

from cranium_etl.api import CraniumClient
from cranium_etl.demo import sandbox_environment
from cranium_etl.storage import RawStore, SnapshotStore
from cranium_etl.sync import reconcile_bill_of_materials, sync_bill_of_materials

CHILD_SCRIPT = Path(__file__).with_name("sync_child.py")
CLI = Path(sys.executable).with_name("cranium-etl")
CHILD_CLIENT = {"page_size": 50, "backoff_initial": 0.01, "backoff_max": 0.05}
WAIT_TIMEOUT = 30.0  # seconds to wait for a child to reach the moment of the kill


def child_environment(server, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        **sandbox_environment(server),
        "CRANIUM_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
    }


def start_child(server, data_dir: Path, action: str = "sync", pause_at: str | None = None):
    settings = {
        "action": action,
        "data_dir": str(data_dir),
        "client": CHILD_CLIENT,
        "pause_at": pause_at,
    }
    return subprocess.Popen(
        [sys.executable, str(CHILD_SCRIPT), json.dumps(settings)],
        env=child_environment(server, data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_pause(child: subprocess.Popen, stage: str) -> None:
    """Read the child's stdout until it reports the pause at `stage`."""
    selector = selectors.DefaultSelector()
    selector.register(child.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + WAIT_TIMEOUT
    while time.monotonic() < deadline:
        if not selector.select(timeout=deadline - time.monotonic()):
            break
        line = child.stdout.readline()
        if line.strip() == f"PAUSED {stage}":
            return
        if not line:
            break
    kill(child)
    pytest.fail(f"child did not pause at {stage}; stderr:\n{child.stderr.read()[-3000:]}")


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def kill(child: subprocess.Popen) -> None:
    if child.poll() is None:
        os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=WAIT_TIMEOUT)
    child.stdout.close()
    child.stderr.close()


def run_sync(server, data_dir: Path, **kwargs):
    config = client_config(server, page_size=50, pacer_dir=data_dir / ".pacer")
    with CraniumClient(config) as client:
        return sync_bill_of_materials(client, RawStore(data_dir), run_id=new_run_id(), **kwargs)


def run_reconcile(server, data_dir: Path):
    config = client_config(server, page_size=50, pacer_dir=data_dir / ".pacer")
    with CraniumClient(config) as client:
        return reconcile_bill_of_materials(client, RawStore(data_dir), run_id=new_run_id())


def new_run_id() -> str:
    return f"test-{uuid.uuid4()}"


def batch_names(data_dir: Path) -> list[str]:
    return [info.path.name for info in RawStore(data_dir).batches()]


def assert_matches_tenant(data_dir: Path, server, may_remain_live=frozenset()) -> None:
    result = compare(data_dir, server.tenant, may_remain_live=set(may_remain_live))
    assert result.missing == []
    assert result.stale == []
    assert result.extra == []
    assert result.snapshot_missing == []
    assert result.snapshot_extra == []
    assert result.snapshot_duplicates == []
    assert result.snapshot_wrong_content == []


def assert_nothing_partial_visible(data_dir: Path) -> None:
    assert unreadable_visible_files(data_dir) == []
    assert [name for name in files_seen_by_readers(data_dir) if "_tmp-" in name] == []


def prepare_incremental(server, data_dir: Path, changes: int = 120) -> str:
    """Run a first sync, change `changes` records and return the stored cursor."""
    run_sync(server, data_dir)
    server.tenant.update(changes)
    return RawStore(data_dir).latest_cursor().cursor


def test_kill_during_token_request(sandbox, tmp_path):
    server = sandbox(bom_count=200)
    fault = server.faults.inject("slow_headers", endpoint="token", delay=10.0)
    child = subprocess.Popen(
        [str(CLI), "sync"],
        env=child_environment(server, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    wait_until(lambda: fault.applied == 1, "the token request of `cranium-etl sync`")
    kill(child)

    assert batch_names(tmp_path) == []
    assert_nothing_partial_visible(tmp_path)
    run_sync(server, tmp_path)
    assert_matches_tenant(tmp_path, server)
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("kind", ["slow_headers", "slow_body"])
def test_kill_while_page_in_flight(sandbox, tmp_path, kind):
    server = sandbox(bom_count=200)
    cursor = prepare_incremental(server, tmp_path)
    before = batch_names(tmp_path)
    fault = server.faults.inject(kind, skip=1, delay=10.0)
    child = start_child(server, tmp_path)

    wait_until(lambda: fault.applied == 1, f"the second page request ({kind})")
    time.sleep(0.2)
    kill(child)

    assert batch_names(tmp_path) == before
    assert RawStore(tmp_path).latest_cursor().cursor == cursor
    assert len(temp_files(tmp_path)) == 1
    assert_nothing_partial_visible(tmp_path)
    server.faults.clear()
    run_sync(server, tmp_path)
    assert_matches_tenant(tmp_path, server)
    assert temp_files(tmp_path) == []


def test_kill_with_half_written_batch(sandbox, tmp_path):
    server = sandbox(bom_count=200)
    cursor = prepare_incremental(server, tmp_path)
    before = batch_names(tmp_path)
    child = start_child(server, tmp_path, pause_at="batch-flushed")

    wait_for_pause(child, "batch-flushed")
    kill(child)

    [leftover] = temp_files(tmp_path)
    with pytest.raises(pa.ArrowInvalid):
        pq.read_metadata(leftover)
    assert batch_names(tmp_path) == before
    assert RawStore(tmp_path).latest_cursor().cursor == cursor
    assert_nothing_partial_visible(tmp_path)
    run_sync(server, tmp_path)
    assert_matches_tenant(tmp_path, server)
    assert temp_files(tmp_path) == []


def test_kill_before_batch_rename(sandbox, tmp_path):
    server = sandbox(bom_count=200)
    cursor = prepare_incremental(server, tmp_path)
    before = batch_names(tmp_path)
    child = start_child(server, tmp_path, pause_at="batch-publish")

    wait_for_pause(child, "batch-publish")
    kill(child)

    [leftover] = temp_files(tmp_path)
    assert pq.read_metadata(leftover).num_rows == 120
    assert batch_names(tmp_path) == before
    assert RawStore(tmp_path).latest_cursor().cursor == cursor
    assert_nothing_partial_visible(tmp_path)
    run_sync(server, tmp_path)
    assert_matches_tenant(tmp_path, server)
    assert temp_files(tmp_path) == []


def test_kill_after_batch_rename(sandbox, tmp_path):
    server = sandbox(bom_count=200)
    cursor = prepare_incremental(server, tmp_path)
    before = batch_names(tmp_path)
    child = start_child(server, tmp_path, pause_at="batch-linked")

    wait_for_pause(child, "batch-linked")
    kill(child)

    assert len(batch_names(tmp_path)) == len(before) + 1
    assert RawStore(tmp_path).latest_cursor().cursor != cursor
    assert len(temp_files(tmp_path)) == 1
    assert_nothing_partial_visible(tmp_path)
    result = run_sync(server, tmp_path)
    assert result.records == 0
    assert_matches_tenant(tmp_path, server)
    assert temp_files(tmp_path) == []


def test_kill_while_replacing_snapshot(sandbox, tmp_path):
    server = sandbox(bom_count=200)
    prepare_incremental(server, tmp_path)
    snapshots = SnapshotStore(tmp_path)
    raw = RawStore(tmp_path)
    old_path = snapshots.build(raw, datetime.now(UTC).date()).path
    old_bytes = old_path.read_bytes()
    run_sync(server, tmp_path)
    child = start_child(server, tmp_path, action="snapshot", pause_at="snapshot-replace")

    wait_for_pause(child, "snapshot-replace")
    kill(child)

    assert old_path.read_bytes() == old_bytes
    assert len(temp_files(tmp_path)) == 1
    assert_nothing_partial_visible(tmp_path)
    assert_matches_tenant(tmp_path, server)
    assert temp_files(tmp_path) == []


def test_kill_before_tombstones(sandbox, tmp_path):
    server = sandbox(bom_count=200)
    run_sync(server, tmp_path)
    deleted = set(server.tenant.delete(5))
    before = batch_names(tmp_path)
    child = start_child(server, tmp_path, action="reconcile", pause_at="tombstones")

    wait_for_pause(child, "tombstones")
    kill(child)

    assert len(batch_names(tmp_path)) == len(before) + 1
    assert deleted <= RawStore(tmp_path).live_ids()
    assert_nothing_partial_visible(tmp_path)
    run_reconcile(server, tmp_path)
    assert_matches_tenant(tmp_path, server)
    assert temp_files(tmp_path) == []


def test_kill_at_random_moments(sandbox, tmp_path):
    seed = int(os.environ.get("CRASH_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    server = sandbox(bom_count=1500)
    actions = ["sync", "sync", "full", "reconcile", "snapshot"]
    reconciled_deletions: set[str] = set()

    for attempt in range(8):
        context = f"CRASH_SEED={seed} attempt {attempt}"
        server.tenant.update(rng.randint(50, 300))
        server.tenant.add(rng.randint(0, 20))
        server.tenant.delete(rng.randint(0, 5))
        action = rng.choice(actions)
        child = start_child(server, tmp_path, action=action)
        time.sleep(rng.uniform(0.4, 1.6))
        kill(child)

        assert unreadable_visible_files(tmp_path) == [], context
        cursor_state = RawStore(tmp_path).latest_cursor()
        assert cursor_state is None or cursor_state.usable, context
        run_sync(server, tmp_path)
        may_remain_live = server.tenant.deleted_ids() - reconciled_deletions
        result = compare(tmp_path, server.tenant, may_remain_live=may_remain_live)
        assert result.missing == [], context
        assert result.stale == [], context
        assert result.extra == [], context
        assert result.snapshot_duplicates == [], context
        assert result.snapshot_wrong_content == [], context
        assert temp_files(tmp_path) == [], context

    run_reconcile(server, tmp_path)
    assert_matches_tenant(tmp_path, server)
