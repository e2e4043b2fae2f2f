"""The `cranium-etl` command line: settings from `.env`, clear errors, snapshots, `dev`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from cranium_etl.demo import DEMO_MARKER, sandbox_environment, start_demo_data_dir
from cranium_etl.storage import RawStore, SnapshotStore

REPO_ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("cranium-etl"))


def clean_environment() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("CRANIUM_")}


def run_cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def write_env_file(folder: Path, settings: dict[str, str]) -> None:
    lines = [f"{name}={value}" for name, value in settings.items()]
    (folder / ".env").write_text("\n".join(lines) + "\n")


def test_sync_reads_env_file(sandbox, tmp_path):
    server = sandbox(bom_count=60)
    write_env_file(tmp_path, {**sandbox_environment(server), "CRANIUM_DATA_DIR": "out"})

    completed = run_cli(["sync"], tmp_path, clean_environment())

    assert completed.returncode == 0, completed.stderr
    assert "60 bills of materials" in completed.stdout
    assert len(RawStore(tmp_path / "out").batches()) == 1
    assert server.config.client_secret not in completed.stdout + completed.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CRANIUM_PAGE_SIZE", "500"),
        ("CRANIUM_AUTH_STYLE", "digest"),
        ("CRANIUM_MAX_RETRIES", "-1"),
        ("CRANIUM_CLIENT_ID", ""),
    ],
)
def test_sync_setting_error_names_variable(sandbox, tmp_path, name, value):
    server = sandbox(bom_count=10)
    env = {**clean_environment(), **sandbox_environment(server), name: value}
    env["CRANIUM_DATA_DIR"] = str(tmp_path / "data")

    completed = run_cli(["sync"], tmp_path, env)

    assert completed.returncode == 1
    assert name in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "data" / "raw").exists()


def test_sync_data_dir_file_fails_clearly(sandbox, tmp_path):
    server = sandbox(bom_count=10)
    (tmp_path / "not-a-folder").write_text("")
    env = {**clean_environment(), **sandbox_environment(server)}
    env["CRANIUM_DATA_DIR"] = str(tmp_path / "not-a-folder")

    completed = run_cli(["sync"], tmp_path, env)

    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert "not-a-folder" in completed.stderr


def test_snapshot_builds_requested_days(sandbox, tmp_path):
    server = sandbox(bom_count=40)
    env = {**clean_environment(), **sandbox_environment(server)}
    env["CRANIUM_DATA_DIR"] = str(tmp_path / "data")
    assert run_cli(["sync"], tmp_path, env).returncode == 0

    completed = run_cli(["snapshot", "--start", "2026-11-01", "--end", "2026-11-03"], tmp_path, env)

    assert completed.returncode == 0, completed.stderr
    days = [day.isoformat() for day in SnapshotStore(tmp_path / "data").partitions()]
    assert days == ["2026-11-01", "2026-11-02", "2026-11-03"]


def test_invalid_partition_start_names_variable():
    env = {**clean_environment(), "CRANIUM_PARTITIONS_START": "2026-13-01"}

    completed = subprocess.run(
        [sys.executable, "-c", "import cranium_etl.definitions"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert completed.returncode != 0
    assert "CRANIUM_PARTITIONS_START='2026-13-01' is not a valid date" in completed.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_dev_stops_dagster_on_sigterm(tmp_path, dagster_home):
    env = clean_environment()
    env["CRANIUM_DATA_DIR"] = str(tmp_path / "data")
    port = free_port()
    # Started the way a shell starts a background job: with SIGINT ignored.
    dev = subprocess.Popen(
        [CLI, "dev", "--port", str(port)], cwd=REPO_ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(1)
        else:
            pytest.fail("cranium-etl dev did not serve the UI within 120 s")

        dev.send_signal(signal.SIGTERM)
        dev.wait(60)

        deadline = time.monotonic() + 30
        while process_group_alive(dev.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not process_group_alive(dev.pid)
    finally:
        if process_group_alive(dev.pid):
            os.killpg(dev.pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2099-01-01"], "has not ended yet"),
        (["--start", "2020-01-01"], "before the first partition"),
        (["--start", "2026-11-03", "--end", "2026-11-01"], "is before --start"),
        (["--start", "2026-13-01"], "invalid date '2026-13-01'; use YYYY-MM-DD"),
    ],
)
def test_snapshot_rejects_invalid_days(tmp_path, args, message):
    env = {**clean_environment(), "CRANIUM_DATA_DIR": str(tmp_path / "data")}

    completed = run_cli(["snapshot", *args], tmp_path, env)

    assert completed.returncode == 2
    assert message in completed.stderr
    assert not (tmp_path / "data" / "bill_of_materials").exists()


def test_dev_without_dagster_home_fails_clearly(tmp_path):
    env = {name: value for name, value in clean_environment().items() if name != "DAGSTER_HOME"}

    completed = run_cli(["dev", "--port", str(free_port())], REPO_ROOT, env)

    assert completed.returncode == 1
    assert "DAGSTER_HOME is not set" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_demo_clears_only_its_own_output(tmp_path):
    data_dir = tmp_path / "data"
    start_demo_data_dir(data_dir)
    (data_dir / "raw").mkdir()

    start_demo_data_dir(data_dir)

    assert sorted(path.name for path in data_dir.iterdir()) == [DEMO_MARKER]


def test_demo_refuses_other_data(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "batch.parquet").write_text("")

    with pytest.raises(SystemExit, match="did not write"):
        start_demo_data_dir(data_dir)

    assert (data_dir / "batch.parquet").exists()
