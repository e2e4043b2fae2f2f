"""Chaos rounds: syncs under random faults, tenant changes and kills keep the Parquet exact.

One sandbox serves every round. Each round changes the tenant, schedules random faults (see
chaos_faults.py) and runs one operation. The operations are an incremental sync, a full sync and
a reconciliation, sometimes while a background thread changes the tenant. Others are a sync that
must fail on a poisoned response, a sync whose cursor the API rejects, and a sync started while
another has the lock. The last kind runs a sync, reconciliation or snapshot build in a child
process and kills it with SIGKILL at a random moment. After each round the raw layer and today's
snapshot are compared with the tenant, and any missing, stale, extra or duplicated record fails
the test. Every operation runs under a timeout, so a hung run fails too.

Deleted records: the cursor feed never reports a deletion, so an id deleted since the start of
the last completed reconciliation may still be live in the output. Every other deleted id must
not be.

The rounds are random but reproducible from a base seed: set CHAOS_SEED to replay a failure
(thread timing still varies). CHAOS_ROUNDS sets the number of rounds (default 60, about 100 s on
2 cores). CHAOS_DURATION stops starting new rounds after that many seconds. CHAOS_REPORT names
a file for a JSON summary. `make chaos-soak` runs many more rounds.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import nullcontext
from pathlib import Path

import pytest
from chaos_faults import (
    BODY_TIMEOUT,
    READ_TIMEOUT,
    InjectedFault,
    inject_poison,
    inject_survivable,
)
from parquet_truth import compare, temp_files, unreadable_files
from test_client_support import client_config

from cranium_etl.api import CraniumClient
from cranium_etl.api.errors import CraniumError
from cranium_etl.demo import sandbox_environment
from cranium_etl.storage import RawStore, StoreLockedError
from cranium_etl.sync import InvalidRecordError, reconcile_bill_of_materials, sync_bill_of_materials

ROUNDS = int(os.environ.get("CHAOS_ROUNDS", "60"))
# Seconds after which no new round starts; 0 means no limit.
DURATION = float(os.environ.get("CHAOS_DURATION", "0"))
BASE_SEED = int(os.environ.get("CHAOS_SEED", str(random.randrange(2**32))))
OPERATION_TIMEOUT = 90.0  # seconds after which a sync counts as hung
CHILD_SCRIPT = Path(__file__).with_name("sync_child.py")

SANDBOX_SETTINGS = {
    "bom_count": 400,
    "token_lifetime": 2.0,
    "rate_limit": 30,
    "rate_window": 1.0,
}
CLIENT_SETTINGS = {
    "page_size": 50,
    "token_renew_margin": 0.5,
    "connect_timeout": READ_TIMEOUT,
    "read_timeout": READ_TIMEOUT,
    "body_timeout": BODY_TIMEOUT,
    "max_retries": 10,
    "max_invalid_response_retries": 4,
    "max_inline_wait": 5.0,
    "max_total_wait": 30.0,
    "backoff_initial": 0.01,
    "backoff_max": 0.05,
}
ROUND_KINDS = ["sync", "full", "reconcile", "kill", "poison", "cursor_rejected", "concurrent"]
ROUND_WEIGHTS = [50, 5, 15, 15, 7, 4, 4]


class HungRun(Exception):
    """An operation did not finish within OPERATION_TIMEOUT."""


def run_with_timeout(function, what: str):
    """Run `function` in a thread and return its result; raise HungRun when it does not end."""
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = function()
        except BaseException as error:  # noqa: BLE001 - handed to the caller below
            outcome["error"] = error

    thread = threading.Thread(target=target, name=f"chaos {what}", daemon=True)
    thread.start()
    thread.join(OPERATION_TIMEOUT)
    if thread.is_alive():
        raise HungRun(f"{what} did not finish within {OPERATION_TIMEOUT:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


class TenantMutator:
    """Background thread that updates, adds and (optionally) deletes records until stopped."""

    def __init__(self, tenant, rng: random.Random, deletions: bool) -> None:
        self.tenant = tenant
        self.rng = random.Random(rng.random())
        self.deletions = deletions
        self.changes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos mutator", daemon=True)

    def __enter__(self) -> TenantMutator:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.rng.uniform(0.005, 0.05)):
            choice = self.rng.random()
            if choice < 0.7:
                self.tenant.update(self.rng.randint(1, 5))
            elif choice < 0.85 or not self.deletions:
                self.tenant.add(1)
            else:
                self.tenant.delete(1)
            self.changes += 1


class ChaosRun:
    """State shared by the rounds: the sandbox, the data directory and the summary counters."""

    def __init__(self, server, data_dir: Path) -> None:
        self.server = server
        self.data_dir = data_dir
        self.raw = RawStore(data_dir)
        self.settled_deletions: set[str] = set()
        self.checked_files: set[Path] = set()
        self.injected: list[InjectedFault] = []
        self.summary = {
            "base_seed": BASE_SEED,
            "rounds": 0,
            "rounds_by_kind": collections.Counter(),
            "seconds_by_kind": collections.Counter(),
            "records_compared": 0,
            "children_killed": 0,
            "children_finished_before_kill": 0,
            "runs_failed_as_expected": 0,
            "background_changes": 0,
            "losses": 0,
            "extras": 0,
            "duplicates": 0,
            "hung_runs": 0,
        }

    def client(self) -> CraniumClient:
        config = client_config(self.server, pacer_dir=self.data_dir / ".pacer", **CLIENT_SETTINGS)
        return CraniumClient(config)

    def sync(self, full: bool = False):
        def work():
            with self.client() as client:
                return sync_bill_of_materials(client, self.raw, run_id=new_run_id(), full=full)

        return run_with_timeout(work, "sync")

    def reconcile(self):
        pending = self.server.tenant.deleted_ids()

        def work():
            with self.client() as client:
                return reconcile_bill_of_materials(client, self.raw, run_id=new_run_id())

        result = run_with_timeout(work, "reconciliation")
        self.settled_deletions = pending
        return result

    def count_faults(self, injected: list[InjectedFault]) -> None:
        """Remember faults for the summary, which counts them once the rounds are over."""
        self.injected.extend(injected)

    def faults_applied(self) -> dict[str, int]:
        counts: collections.Counter[str] = collections.Counter()
        for item in self.injected:
            counts[item.label] += item.fault.applied
        return dict(sorted((label, count) for label, count in counts.items() if count))


def new_run_id() -> str:
    return f"chaos-{uuid.uuid4()}"


def change_tenant(tenant, rng: random.Random) -> None:
    tenant.update(rng.randint(0, 40))
    tenant.add(rng.randint(0, 4))
    tenant.delete(rng.randint(0, 3))


def run_sync_round(run: ChaosRun, rng: random.Random, kind: str) -> None:
    injected = inject_survivable(run.server.faults, rng, rng.randint(1, 5))
    background = rng.random() < 0.5
    deletions = kind == "reconcile"
    mutator = TenantMutator(run.server.tenant, rng, deletions) if background else nullcontext()
    with mutator:
        if kind == "reconcile":
            run.reconcile()
        else:
            run.sync(full=kind == "full")
    if background:
        # Changes made after the run fetched its last page belong to the next run. That run
        # is incremental, so it cannot repair anything the run under test lost.
        run.summary["background_changes"] += mutator.changes
        run.sync()
    run.count_faults(injected)


def run_poison_round(run: ChaosRun, rng: random.Random, context: str) -> None:
    run.server.faults.clear()
    before = [info.path.name for info in run.raw.batches()]
    cursor = run.raw.latest_cursor().cursor
    poison, names_request_id = inject_poison(run.server.faults, rng)

    with pytest.raises((CraniumError, InvalidRecordError)) as failure:
        run.sync()

    assert poison.fault.applied == 1, context
    assert [info.path.name for info in run.raw.batches()] == before, context
    assert run.raw.latest_cursor().cursor == cursor, context
    if names_request_id:
        assert "requestId=" in str(failure.value), context
    run.summary["runs_failed_as_expected"] += 1
    run.count_faults([poison])
    run.sync()


def run_cursor_rejected_round(run: ChaosRun, rng: random.Random, context: str) -> None:
    run.server.faults.clear()
    rejection = InjectedFault(
        "bom status 400 (cursor rejected)", run.server.faults.inject("status", status=400)
    )
    injected = inject_survivable(run.server.faults, rng, rng.randint(0, 3))

    result = run.sync()

    assert rejection.fault.applied == 1, context
    assert result.sync_kind == "full", context
    assert "rejected" in (result.fallback_reason or ""), context
    run.count_faults([rejection, *injected])


def run_concurrent_round(run: ChaosRun, rng: random.Random, context: str) -> None:
    run.server.faults.clear()
    stall = InjectedFault(
        "bom slow_headers (holds the lock)", run.server.faults.inject("slow_headers", delay=1.0)
    )
    child = start_child(run, "sync")
    deadline = time.monotonic() + OPERATION_TIMEOUT
    while stall.fault.applied == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    before = [info.path.name for info in run.raw.batches()]

    with pytest.raises(StoreLockedError):
        run.sync()

    assert [info.path.name for info in run.raw.batches()] == before, context
    assert child.wait(timeout=OPERATION_TIMEOUT) == 0, context
    run.count_faults([stall])


def start_child(run: ChaosRun, action: str) -> subprocess.Popen:
    settings = {"action": action, "data_dir": str(run.data_dir), "client": CLIENT_SETTINGS}
    return subprocess.Popen(
        [sys.executable, str(CHILD_SCRIPT), json.dumps(settings)],
        env={**os.environ, **sandbox_environment(run.server)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_kill_round(run: ChaosRun, rng: random.Random, context: str) -> None:
    injected = inject_survivable(run.server.faults, rng, rng.randint(0, 3))
    action = rng.choice(["sync", "sync", "full", "reconcile", "snapshot"])
    child = start_child(run, action)
    time.sleep(rng.uniform(0.3, 1.5))
    if child.poll() is None:
        os.kill(child.pid, signal.SIGKILL)
        run.summary["children_killed"] += 1
    else:
        run.summary["children_finished_before_kill"] += 1
    child.wait(timeout=OPERATION_TIMEOUT)

    assert new_unreadable_files(run) == [], context
    run.sync()
    run.count_faults(injected)


def new_unreadable_files(run: ChaosRun) -> list[str]:
    """Check that every Parquet file that appeared since the last call reads in full."""
    current = set(run.data_dir.rglob("*.parquet"))
    # Snapshot partitions are rewritten in place, so they are checked every time.
    fresh = {path for path in current if path not in run.checked_files or "snapshot" in str(path)}
    broken = unreadable_files(fresh)
    run.checked_files |= current
    return broken


def check_round(run: ChaosRun, context: str) -> None:
    tenant = run.server.tenant
    may_remain_live = tenant.deleted_ids() - run.settled_deletions
    result = compare(run.data_dir, tenant, may_remain_live=may_remain_live)
    run.summary["records_compared"] += result.records_compared
    run.summary["losses"] += len(result.missing) + len(result.snapshot_missing)
    run.summary["extras"] += len(result.extra) + len(result.snapshot_extra)
    run.summary["duplicates"] += len(result.snapshot_duplicates)

    assert result.missing == [], context
    assert result.stale == [], context
    assert result.extra == [], context
    assert result.snapshot_missing == [], context
    assert result.snapshot_extra == [], context
    assert result.snapshot_duplicates == [], context
    assert result.snapshot_wrong_content == [], context
    assert result.snapshot_inexact == [], context
    assert temp_files(run.data_dir) == [], context
    assert new_unreadable_files(run) == [], context


def play_round(run: ChaosRun, number: int) -> None:
    seed = f"{BASE_SEED}:{number}"
    rng = random.Random(seed)
    kind = "sync" if number == 0 else rng.choices(ROUND_KINDS, ROUND_WEIGHTS)[0]
    context = f"CHAOS_SEED={BASE_SEED} round {number} ({kind})"
    started = time.monotonic()
    if number > 0:
        change_tenant(run.server.tenant, rng)

    try:
        if kind == "poison":
            run_poison_round(run, rng, context)
        elif kind == "kill":
            run_kill_round(run, rng, context)
        elif kind == "cursor_rejected":
            run_cursor_rejected_round(run, rng, context)
        elif kind == "concurrent":
            run_concurrent_round(run, rng, context)
        else:
            run_sync_round(run, rng, kind)
    except HungRun:
        run.summary["hung_runs"] += 1
        raise
    except Exception as error:
        raise AssertionError(f"{context}: {type(error).__name__}: {error}") from error

    checked = time.monotonic()
    check_round(run, context)
    run.summary["rounds"] += 1
    run.summary["rounds_by_kind"][kind] += 1
    run.summary["seconds_by_kind"][kind] += checked - started
    run.summary["seconds_by_kind"]["checks"] += time.monotonic() - checked


@pytest.mark.slow
@pytest.mark.timeout(DURATION + 600 if DURATION else ROUNDS * 20 + 120)
def test_chaos_rounds_keep_parquet_exact(sandbox, tmp_path):
    server = sandbox(**SANDBOX_SETTINGS)
    run = ChaosRun(server, tmp_path)
    started = time.monotonic()
    try:
        for number in range(ROUNDS):
            if DURATION and time.monotonic() - started > DURATION:
                break
            play_round(run, number)
        run.reconcile()
        run.settled_deletions = server.tenant.deleted_ids()
        check_round(run, f"CHAOS_SEED={BASE_SEED} final reconciliation")
    finally:
        report(run, server, time.monotonic() - started)


def report(run: ChaosRun, server, elapsed: float) -> None:
    summary = dict(run.summary)
    summary["elapsed_seconds"] = round(elapsed, 1)
    summary["faults_applied"] = run.faults_applied()
    summary["sandbox_faults_by_kind"] = server.stats.faults_applied
    summary["sandbox_responses_by_status"] = server.stats.responses_by_status
    summary["sandbox_tokens_issued"] = server.stats.tokens_issued
    summary["tenant_records"] = len(server.tenant)
    summary["tenant_deleted"] = len(server.tenant.deleted_ids())
    summary["raw_batches"] = len(run.raw.batches())
    text = json.dumps(summary, indent=2, sort_keys=True, default=dict)
    print(f"\nchaos summary (replay with CHAOS_SEED={BASE_SEED}):\n{text}")
    if os.environ.get("CHAOS_REPORT"):
        path = Path(os.environ["CHAOS_REPORT"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
