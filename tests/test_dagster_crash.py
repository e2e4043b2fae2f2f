"""A Dagster run killed mid-sync: its pool slot is recovered and the next run is complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from cranium_etl.defs.assets import CRANIUM_API_POOL
from cranium_etl.defs.instance import prepare_instance
from cranium_etl.demo import sandbox_environment
from cranium_etl.storage import RawStore

YESTERDAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


def nightly_command() -> list[str]:
    dagster = str(Path(sys.executable).with_name("dagster"))
    tags = json.dumps({"dagster/partition": YESTERDAY})
    return [dagster, "job", "execute", "-m", "cranium_etl.definitions", "-j", "nightly_sync",
            "--tags", tags]  # fmt: skip


def test_killed_run_recovered_and_next_run_complete(sandbox, tmp_path, dagster_home):
    server = sandbox(bom_count=450)

    env = {**os.environ, **sandbox_environment(server), "CRANIUM_DATA_DIR": str(tmp_path / "data")}
    with dg.DagsterInstance.get() as instance:
        prepare_instance(instance)
    server.faults.inject("slow_body", delay=30.0, skip=1)

    killed = subprocess.Popen(
        nightly_command(), env=env, cwd=dagster_home, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while server.stats.data_requests < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server.stats.data_requests >= 2
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(30)
    server.faults.clear()

    raw = RawStore(tmp_path / "data")
    assert raw.batches() == []
    with dg.DagsterInstance.get() as instance:
        [dead_run] = instance.get_runs()
        assert dead_run.status == dg.DagsterRunStatus.STARTED
        claimed = instance.event_log_storage.get_concurrency_info(CRANIUM_API_POOL).claimed_slots
        assert [slot.run_id for slot in claimed] == [dead_run.run_id]

        # What force termination in the UI does, then what `cranium-etl dev` does at start.
        instance.report_run_canceled(dead_run)
        prepare_instance(instance)
        claimed = instance.event_log_storage.get_concurrency_info(CRANIUM_API_POOL).claimed_slots
        assert claimed == []

    completed = subprocess.run(
        nightly_command(), env=env, cwd=dagster_home, capture_output=True, text=True, timeout=180
    )

    assert completed.returncode == 0, completed.stdout[-3000:]
    table = raw.read_table(columns=["bill_of_materials_id"])
    ids = table.column("bill_of_materials_id").to_pylist()
    assert len(ids) == len(set(ids))
    assert set(ids) == server.tenant.ids()
