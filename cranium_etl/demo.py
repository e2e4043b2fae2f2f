"""End-to-end demo: the nightly job run twice through Dagster against the Cranium sandbox.

`make demo` calls `cranium-etl demo`. Without `CRANIUM_CLIENT_ID` in the environment, it starts the
sandbox in this process and points the Dagster runs at it. With it, the runs go to the configured
API. Every run is a real Dagster run (`dagster job execute`) recorded in `DAGSTER_HOME`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow.dataset as ds

from cranium_etl.defs.instance import prepare_instance
from cranium_etl.environment import load_environment
from cranium_etl.storage import RawStore

# Run config that keeps the console at INFO: the pipeline's own progress lines, without
# Dagster's per-step DEBUG events.
QUIET_LOGGING = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}

DEMO_SEED = 42
DEMO_BOM_COUNT = 3000
BACKFILL_DAYS = 7
DEMO_MARKER = ".cranium-demo"


@contextlib.contextmanager
def api_environment(bom_count: int = DEMO_BOM_COUNT) -> Iterator[tuple[dict[str, str], object]]:
    """Yield the environment for the Dagster runs and the sandbox (None for the real API).

    The environment includes `.env` from the working directory. Dagster subprocesses must run
    with `DAGSTER_SUBPROCESS_CWD` as their working directory, which has no `.env`, so that
    Dagster does not apply the file a second time over the sandbox's settings.
    """
    env = load_environment()
    if env.get("CRANIUM_CLIENT_ID"):
        yield env, None
        return

    from cranium_etl.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(seed=DEMO_SEED, bom_count=bom_count)) as sandbox:
        env.update(sandbox_environment(sandbox))
        yield env, sandbox


def sandbox_environment(sandbox) -> dict[str, str]:
    """Return the `CRANIUM_*` settings that point a client at a running sandbox."""
    return {
        "CRANIUM_CLIENT_ID": sandbox.config.client_id,
        "CRANIUM_CLIENT_SECRET": sandbox.config.client_secret,
        "CRANIUM_SCOPE": sandbox.config.scope,
        "CRANIUM_BASE_URL": sandbox.base_url,
        "CRANIUM_TOKEN_URL": sandbox.token_url,
        "CRANIUM_CA_BUNDLE": str(sandbox.ca_bundle),
    }


def subprocess_cwd(env: dict[str, str]) -> str:
    """Return the working directory for Dagster subprocesses: `DAGSTER_HOME`, without a `.env`."""
    return env["DAGSTER_HOME"]


def run_dagster(args: list[str], env: dict[str, str]) -> None:
    """Run a `dagster` command in a subprocess and stop the demo if it fails."""
    command = [str(Path(sys.executable).with_name("dagster")), *args]
    print(f"\n$ dagster {' '.join(args)}", flush=True)
    # Dagster 1.13 points `dagster job execute` users to the `dg` command line, which this
    # project does not install; the warning is noise in the demo's output.
    env = {**env, "PYTHONWARNINGS": "ignore:Function `:Warning"}
    completed = subprocess.run(command, env=env, cwd=subprocess_cwd(env), check=False)
    if completed.returncode != 0:
        raise SystemExit(
            f"dagster {args[0]} {args[1]} failed with exit code {completed.returncode}"
        )


def run_nightly_job(partition: str, env: dict[str, str], config_file: Path) -> None:
    tags = json.dumps({"dagster/partition": partition})
    run_dagster(
        [
            "job", "execute", "-m", "cranium_etl.definitions", "-j", "nightly_sync",
            "--tags", tags, "-c", str(config_file),
        ],
        env,
    )  # fmt: skip


def require_dagster_home() -> str:
    """Return DAGSTER_HOME, or exit with a message that explains how to set it."""
    dagster_home = os.environ.get("DAGSTER_HOME")
    if not dagster_home:
        raise SystemExit(
            "DAGSTER_HOME is not set; run `make demo` or `make dev`, or export "
            "DAGSTER_HOME=dagster_home"
        )
    return dagster_home


def start_demo_data_dir(data_dir: Path) -> None:
    """Empty the output of an earlier sandbox demo, and never touch any other data.

    Every demo run starts a new sandbox tenant, so a second run on the same folder would mix two
    tenants. The demo marks its folders and clears only marked ones.
    """
    marker = data_dir / DEMO_MARKER
    if marker.exists():
        shutil.rmtree(data_dir)
        print(f"removed the previous demo's output in {data_dir}", flush=True)
    elif data_dir.exists() and any(data_dir.iterdir()):
        raise SystemExit(
            f"{data_dir} contains data that the sandbox demo did not write; set "
            "CRANIUM_DATA_DIR to an empty or new folder for the demo"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text("Written by `cranium-etl demo`; the next demo run empties this folder.\n")


def main() -> int:
    dagster_home = require_dagster_home()

    with dg.DagsterInstance.get() as instance:
        prepare_instance(instance)

    today = datetime.now(UTC).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    backfill_start = (today - timedelta(days=BACKFILL_DAYS)).isoformat()

    with api_environment() as (env, sandbox):
        data_dir = Path(env.get("CRANIUM_DATA_DIR") or "data").resolve()
        env["CRANIUM_DATA_DIR"] = str(data_dir)
        if sandbox is not None:
            start_demo_data_dir(data_dir)
        target = "the Cranium sandbox" if sandbox else env["CRANIUM_BASE_URL"]
        print(f"cranium-etl demo: syncing from {target} into {data_dir}", flush=True)

        config_file = Path(dagster_home) / "demo-run-config.json"
        config_file.write_text(json.dumps(QUIET_LOGGING))
        run_nightly_job(yesterday, env, config_file)

        if sandbox is not None:
            changed = sandbox.tenant.update(40) + sandbox.tenant.add(10)
            print(f"\nsandbox: {len(changed)} bills of materials changed or added", flush=True)

        run_nightly_job(yesterday, env, config_file)

        run_dagster(
            [
                "asset", "materialize", "-m", "cranium_etl.definitions",
                "--select", "bill_of_materials",
                "--partition-range", f"{backfill_start}...{yesterday}",
                "--config-json", json.dumps(QUIET_LOGGING),
            ],
            env,
        )  # fmt: skip

    print_summary(data_dir)
    return 0


def print_summary(data_dir: Path) -> None:
    raw = RawStore(data_dir)
    batches = raw.batches()
    snapshot_dir = data_dir / "bill_of_materials"
    snapshots = ds.dataset(snapshot_dir, format="parquet", partitioning="hive")
    table = snapshots.to_table(columns=["snapshot_date", "bill_of_materials_id", "state_exact"])
    partitions = sorted({str(value) for value in table.column("snapshot_date").to_pylist()})

    print("\nSummary")
    print(f"  raw batches: {len(batches)}")
    for batch in batches:
        print(f"    {batch.path} ({batch.row_count} records, {batch.sync_kind} sync)")
    print(f"  snapshot partitions: {len(partitions)} ({partitions[0]} to {partitions[-1]})")
    print(f"    {snapshot_dir}/snapshot_date=YYYY-MM-DD/part-0.parquet")
    latest = table.filter(ds.field("snapshot_date") == partitions[-1]) if partitions else table
    print(f"  bills of materials on {partitions[-1]}: {latest.num_rows}")
    print("\nQuery it, for example with pandas:")
    print(
        f'  .venv/bin/python -c "import pandas as pd; '
        f"print(pd.read_parquet('{snapshot_dir}').groupby('snapshot_date').size())\""
    )
