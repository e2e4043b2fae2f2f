"""The code location in a real `dagster dev` (webserver and daemon), driven through GraphQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from cranium_etl.demo import sandbox_environment
from cranium_etl.storage import SnapshotStore

REPO_ROOT = Path(__file__).resolve().parents[1]

REPOSITORY_QUERY = """
{
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes { name jobs { name } schedules { name cronSchedule executionTimezone } }
    }
  }
}
"""

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""

BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status runs(limit: 10) { runId status tags { key value } } }
  }
}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = requests.post(url, json={"query": query, "variables": variables or {}}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def wait_for(check, timeout: float, description: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {description}")


@pytest.fixture
def dagster_dev(sandbox, tmp_path, dagster_home):
    """Start `dagster dev -w workspace.yaml` against a sandbox; yield (GraphQL URL, data dir)."""
    server = sandbox(bom_count=300)
    data_dir = tmp_path / "data"
    port = free_port()
    env = {
        **os.environ,
        **sandbox_environment(server),
        "CRANIUM_DATA_DIR": str(data_dir),
    }
    dagster = Path(sys.executable).with_name("dagster")
    log_path = tmp_path / "dagster-dev.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/graphql"

    def serving() -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok
        except requests.ConnectionError:
            return False

    try:
        wait_for(serving, 120, "dagster dev to serve")
        yield url, data_dir, server
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
        output = log_path.read_text()
        assert server.config.client_secret not in output


def check_code_location(url: str) -> None:
    [repository] = graphql(url, REPOSITORY_QUERY)["repositoriesOrError"]["nodes"]

    jobs = {job["name"] for job in repository["jobs"]}
    assert {"nightly_sync", "reconcile_deletions"} <= jobs
    schedules = {schedule["name"]: schedule for schedule in repository["schedules"]}
    assert schedules["nightly_sync_schedule"]["cronSchedule"] == "0 2 * * *"
    assert schedules["nightly_sync_schedule"]["executionTimezone"] == "UTC"
    assert "weekly_reconciliation_schedule" in schedules


def test_ui_backfill_runs_range_in_one_run(dagster_dev):
    url, data_dir, server = dagster_dev
    check_code_location(url)
    today = datetime.now(UTC).date()
    days = [(today - timedelta(days=offset)).isoformat() for offset in (3, 2, 1)]
    params = {
        "partitionNames": days,
        "assetSelection": [
            {"path": ["bill_of_materials_changes"]},
            {"path": ["bill_of_materials"]},
        ],
        "fromFailure": False,
    }

    launched = graphql(url, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]

    assert launched["__typename"] == "LaunchBackfillSuccess", launched

    def finished():
        backfill = graphql(url, BACKFILL_STATUS, {"id": launched["backfillId"]})
        backfill = backfill["partitionBackfillOrError"]
        return backfill if backfill["status"] not in ("REQUESTED", "CANCELING") else None

    backfill = wait_for(finished, 240, "the backfill to finish")
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS")
    assert {run["status"] for run in backfill["runs"]} == {"SUCCESS"}
    range_runs = [
        tags
        for tags in ({tag["key"]: tag["value"] for tag in run["tags"]} for run in backfill["runs"])
        if "dagster/asset_partition_range_start" in tags
    ]
    assert len(range_runs) == 1
    assert range_runs[0]["dagster/asset_partition_range_start"] == days[0]
    assert range_runs[0]["dagster/asset_partition_range_end"] == days[-1]
    written = SnapshotStore(data_dir).partitions()
    assert [day.isoformat() for day in written] == days
    assert server.stats.token_requests == 1
