"""The nightly job run by Dagster against the sandbox, in a temporary Dagster instance."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote_plus

import dagster as dg
import pyarrow.parquet as pq
import pytest

import cranium_etl.definitions
import cranium_etl.defs.assets
import cranium_etl.defs.jobs
from cranium_etl.definitions import defs
from cranium_etl.defs.assets import bill_of_materials, bill_of_materials_changes
from cranium_etl.defs.instance import prepare_instance
from cranium_etl.defs.resources import resources_from_environment
from cranium_etl.demo import sandbox_environment
from cranium_etl.storage import BOM_SCHEMA, RawStore

REPO_ROOT = Path(__file__).resolve().parents[1]
RETRY_EVENT = "STEP_UP_FOR_RETRY"
YESTERDAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


@pytest.fixture
def instance(dagster_home):
    with dg.DagsterInstance.get() as instance:
        yield instance


@pytest.fixture
def api(sandbox, tmp_path, monkeypatch):
    """A running sandbox with `CRANIUM_*` pointing at it and a fresh data directory."""
    server = sandbox(bom_count=450)
    for name, value in sandbox_environment(server).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CRANIUM_DATA_DIR", str(tmp_path / "data"))
    return server


def current_definitions() -> dg.Definitions:
    """Reload the code location so its resources read the environment the test has set."""
    return importlib.reload(cranium_etl.definitions).defs


def run_nightly(instance, partition=YESTERDAY, **kwargs):
    job = current_definitions().resolve_job_def("nightly_sync")
    return job.execute_in_process(instance=instance, partition_key=partition, **kwargs)


def events_of_type(result, event_type: str) -> list:
    return [event for event in result.all_events if event.event_type_value == event_type]


def materialization_metadata(result, asset: str) -> dict:
    [event] = result.asset_materializations_for_node(asset)
    return {key: value.value for key, value in event.metadata.items()}


def test_nightly_job_first_sync(instance, api, tmp_path):
    result = run_nightly(instance)

    assert result.success
    changes = materialization_metadata(result, "bill_of_materials_changes")
    assert changes["records_fetched"] == 450
    assert changes["sync_kind"] == "full"
    assert changes["cursor_advanced"] is True
    assert changes["pages"] == 3
    assert changes["api_token_requests"] == 1
    snapshot = materialization_metadata(result, "bill_of_materials")
    partition_file = tmp_path / "data" / "bill_of_materials" / f"snapshot_date={YESTERDAY}"
    assert snapshot["path"] == str(partition_file / "part-0.parquet")
    assert pq.read_schema(partition_file / "part-0.parquet").remove_metadata() == (
        BOM_SCHEMA.remove_metadata()
    )


def test_nightly_job_incremental_sync(instance, api, tmp_path):
    assert run_nightly(instance).success
    changed = set(api.tenant.update(7)) | set(api.tenant.add(3))

    result = run_nightly(instance)

    changes = materialization_metadata(result, "bill_of_materials_changes")
    assert changes["sync_kind"] == "incremental"
    assert changes["records_fetched"] == len(changed)
    batches = RawStore(tmp_path / "data").batches()
    assert len(batches) == 2
    second = pq.read_table(batches[1].path, columns=["bill_of_materials_id"])
    assert set(second.column("bill_of_materials_id").to_pylist()) == changed


def test_nightly_job_without_changes_keeps_cursor(instance, api, tmp_path):
    assert run_nightly(instance).success

    result = run_nightly(instance)

    changes = materialization_metadata(result, "bill_of_materials_changes")
    assert changes["records_fetched"] == 0
    assert changes["cursor_advanced"] is False
    assert len(RawStore(tmp_path / "data").batches()) == 1


def test_wrong_secret_fails_without_retries(instance, api, monkeypatch, tmp_path):
    wrong_secret = "wrong-secret-4c1d2e"
    monkeypatch.setenv("CRANIUM_CLIENT_SECRET", wrong_secret)

    result = run_nightly(instance, raise_on_error=False)

    assert not result.success
    failures = events_of_type(result, "STEP_FAILURE")
    assert len(failures) == 1
    assert "CRANIUM_CLIENT_SECRET" in failures[0].step_failure_data.error.message
    retries = events_of_type(result, RETRY_EVENT)
    assert retries == []
    assert list((tmp_path / "data").rglob("*.parquet")) == []
    event_log = "\n".join(str(entry) for entry in instance.all_logs(result.run_id))
    assert wrong_secret not in event_log


def test_backfill_range_runs_as_one_run(instance, api, tmp_path):
    assert run_nightly(instance).success
    start = (datetime.now(UTC).date() - timedelta(days=5)).isoformat()

    result = dg.materialize(
        [bill_of_materials_changes, bill_of_materials],
        instance=instance,
        resources=resources_from_environment(),
        selection=[bill_of_materials],
        tags={
            "dagster/asset_partition_range_start": start,
            "dagster/asset_partition_range_end": YESTERDAY,
        },
    )

    assert result.success
    events = result.asset_materializations_for_node("bill_of_materials")
    assert len(events) == 5
    assert {event.partition for event in events} == {
        (datetime.now(UTC).date() - timedelta(days=offset)).isoformat() for offset in range(1, 6)
    }
    assert len(instance.get_runs()) == 2
    written = sorted(path.name for path in (tmp_path / "data" / "bill_of_materials").iterdir())
    assert len(written) == 5


def test_schedule_requests_previous_day():
    schedule = defs.resolve_schedule_def("nightly_sync_schedule")
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
        repository_def=defs.get_repository_def(),
    )

    [request] = schedule.evaluate_tick(context).run_requests

    assert request.partition_key == "2026-03-01"
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "UTC"


def test_job_runs_through_dagster_cli(api, tmp_path, dagster_home):
    env = dict(os.environ)
    dagster = Path(sys.executable).with_name("dagster")

    completed = subprocess.run(
        [
            str(dagster), "job", "execute", "-m", "cranium_etl.definitions", "-j", "nightly_sync",
            "--tags", json.dumps({"dagster/partition": YESTERDAY}),
        ],
        env=env, capture_output=True, text=True, timeout=240, cwd=REPO_ROOT,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert api.config.client_secret not in completed.stdout + completed.stderr
    partition_file = tmp_path / "data" / "bill_of_materials" / f"snapshot_date={YESTERDAY}"
    assert (partition_file / "part-0.parquet").exists()
    with dg.DagsterInstance.get() as instance:
        [run] = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS


def test_reconcile_job_records_deletions(instance, api, tmp_path):
    assert run_nightly(instance).success
    deleted = set(api.tenant.delete(4))
    job = current_definitions().resolve_job_def("reconcile_deletions")

    result = job.execute_in_process(instance=instance)

    changes = materialization_metadata(result, "bill_of_materials_changes")
    assert changes["deletions_detected"] == len(deleted)
    assert RawStore(tmp_path / "data").live_ids() == api.tenant.ids()


def start_cli_run(home: Path) -> subprocess.Popen:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    dagster = Path(sys.executable).with_name("dagster")
    return subprocess.Popen(
        [
            str(dagster), "job", "execute", "-m", "cranium_etl.definitions", "-j", "nightly_sync",
            "--tags", json.dumps({"dagster/partition": YESTERDAY}),
        ],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT,
    )  # fmt: skip


def test_concurrent_runs_take_turns(api, tmp_path, dagster_home):
    with dg.DagsterInstance.get() as instance:
        prepare_instance(instance)
    api.faults.inject("slow_headers", delay=2.0, times=3)

    runs = [start_cli_run(dagster_home), start_cli_run(dagster_home)]
    outputs = [run.communicate(timeout=240)[0] for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    batches = RawStore(tmp_path / "data").batches()
    assert len(batches) == 1
    assert batches[0].record_count == 450


def test_long_retry_after_requests_step_retry(instance, api, monkeypatch):
    monkeypatch.setenv("CRANIUM_MAX_INLINE_WAIT", "1")
    api.faults.inject("rate_limit", retry_after="2", times=1)

    result = run_nightly(instance)

    assert result.success
    retries = events_of_type(result, RETRY_EVENT)
    assert len(retries) == 1
    assert materialization_metadata(result, "bill_of_materials_changes")["records_fetched"] == 450


def test_forbidden_fails_without_retries(instance, api):
    api.faults.inject("status", status=403, times=None)

    result = run_nightly(instance, raise_on_error=False)

    assert not result.success
    failures = events_of_type(result, "STEP_FAILURE")
    assert len(failures) == 1
    assert "403" in failures[0].step_failure_data.error.message
    retries = events_of_type(result, RETRY_EVENT)
    assert retries == []


def test_secret_reaches_no_event_config_or_file(sandbox, instance, tmp_path, monkeypatch):
    secret = "Find+Me/In:The%Logs= 9d2c"
    server = sandbox(bom_count=120, client_secret=secret)
    for name, value in sandbox_environment(server).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CRANIUM_DATA_DIR", str(tmp_path / "data"))
    server.faults.inject("revoke", skip=0)

    result = run_nightly(instance)

    assert result.success
    run = instance.get_run_by_id(result.run_id)
    texts = [json.dumps(run.run_config), str(run.tags)]
    texts.extend(str(entry) for entry in instance.all_logs(result.run_id))
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    texts.extend(path.read_bytes().decode("latin-1") for path in files)
    everything = "\n".join(texts)
    assert any(path.suffix == ".parquet" for path in files)
    assert any(path.suffix == ".db" for path in files)
    for spelling in (secret, quote_plus(secret, safe="")):
        assert spelling not in everything
    assert "Bearer " not in everything


@pytest.fixture
def short_step_retry_delay():
    """Reload the assets with a 1 s step retry delay, and with the default afterwards."""
    os.environ["CRANIUM_STEP_RETRY_DELAY"] = "1"
    importlib.reload(cranium_etl.defs.assets)
    importlib.reload(cranium_etl.defs.jobs)
    yield
    del os.environ["CRANIUM_STEP_RETRY_DELAY"]
    importlib.reload(cranium_etl.defs.assets)
    importlib.reload(cranium_etl.defs.jobs)
    importlib.reload(cranium_etl.definitions)


def test_step_retried_after_client_gives_up(instance, api, monkeypatch, short_step_retry_delay):
    monkeypatch.setenv("CRANIUM_MAX_RETRIES", "1")
    api.faults.inject("status", status=503, times=2)

    result = run_nightly(instance)

    assert result.success
    assert len(events_of_type(result, RETRY_EVENT)) == 1
    assert materialization_metadata(result, "bill_of_materials_changes")["records_fetched"] == 450
