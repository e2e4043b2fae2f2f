"""`cranium-etl` command line: the sandbox, the demo, the Dagster UI and a sync without Dagster."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cranium-etl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser(
        "sandbox",
        help="run the local Cranium sandbox API (see `cranium-etl sandbox --help`)",
        add_help=False,
    )
    commands.add_parser("demo", help="run the nightly job twice against the sandbox and summarise")
    dev = commands.add_parser(
        "dev",
        help="start the Dagster UI with the sandbox as the API",
        description="Start `dagster dev` on workspace.yaml at 127.0.0.1. Without "
        "CRANIUM_CLIENT_ID (exported or in .env) it starts the sandbox and points the code "
        "location at it. Needs DAGSTER_HOME; `make dev` sets it.",
    )
    dev.add_argument("--port", type=int, default=3000, help="web server port (default: 3000)")

    sync = commands.add_parser(
        "sync",
        help="fetch changed bills of materials into the raw layer without Dagster",
        description="Fetch the bills of materials changed since the last sync into a new raw "
        "batch, with the same code and lock as the Dagster asset. Settings come from the "
        "CRANIUM_* environment variables and a .env file in the working directory.",
    )
    sync.add_argument("--full", action="store_true", help="ignore the stored cursor")
    sync.add_argument(
        "--reconcile",
        action="store_true",
        help="list every bill of materials and record the ones missing from the API as deleted",
    )

    snapshot = commands.add_parser(
        "snapshot",
        help="rebuild daily snapshot partitions from the raw layer without Dagster",
        description="Rebuild the snapshot partition of each day from --start to --end (UTC) "
        "from the raw batches in CRANIUM_DATA_DIR.",
    )
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    snapshot.add_argument(
        "--start",
        type=iso_day,
        default=yesterday,
        help="first day, YYYY-MM-DD (default: yesterday)",
    )
    snapshot.add_argument("--end", type=iso_day, help="last day, YYYY-MM-DD (default: --start)")

    args, rest = parser.parse_known_args(argv)
    if args.command == "sandbox":
        from cranium_etl.sandbox.cli import run_sandbox_cli

        return run_sandbox_cli(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")

    # Progress of this package at INFO; other libraries (alembic, uvicorn) only when they warn.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("cranium_etl").setLevel(logging.INFO)
    if args.command == "demo":
        # The embedded sandbox logs every request; the demo shows the pipeline's side only.
        logging.getLogger("cranium_etl.sandbox").setLevel(logging.WARNING)
        from cranium_etl.demo import main as demo_main

        return demo_main()
    if args.command == "dev":
        return run_dev(args.port)
    if args.command == "snapshot":
        return run_snapshot(args.start, args.end or args.start)
    return run_sync(full=args.full, reconcile=args.reconcile)


def iso_day(value: str) -> date:
    """Parse a YYYY-MM-DD command-line value."""
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {value!r}; use YYYY-MM-DD") from None


def run_snapshot(start: date, end: date) -> int:
    """Rebuild the snapshot partitions from `start` to `end` from the raw layer."""
    from cranium_etl.environment import load_environment
    from cranium_etl.storage import RawStore, SnapshotStore, StorageError

    environment = load_environment()
    first_day = date.fromisoformat(environment.get("CRANIUM_PARTITIONS_START") or "2026-01-01")
    last_day = datetime.now(UTC).date() - timedelta(days=1)
    problem = None
    if end < start:
        problem = f"--end {end} is before --start {start}"
    elif end > last_day:
        problem = f"{end} has not ended yet (UTC); the last complete day is {last_day}"
    elif start < first_day:
        problem = f"{start} is before the first partition {first_day} (CRANIUM_PARTITIONS_START)"
    if problem:
        print(f"cranium-etl snapshot: {problem}", file=sys.stderr)
        return 2

    data_dir = Path(environment.get("CRANIUM_DATA_DIR") or "data")
    raw, snapshots = RawStore(data_dir), SnapshotStore(data_dir)
    day = start
    try:
        while day <= end:
            result = snapshots.build(raw, day)
            print(
                f"{day}: {result.row_count} bills of materials "
                f"({result.inexact_count} with inexact state) in {result.path}"
            )
            day += timedelta(days=1)
    except StorageError as error:
        print(f"cranium-etl snapshot: {error}", file=sys.stderr)
        return 1
    return 0


def run_dev(port: int) -> int:
    """Start `dagster dev` on workspace.yaml with the sandbox (or the configured API) behind it."""
    import dagster as dg

    from cranium_etl.defs.instance import prepare_instance
    from cranium_etl.defs.resources import DEFAULT_BASE_URL
    from cranium_etl.demo import api_environment, require_dagster_home, subprocess_cwd

    require_dagster_home()
    with dg.DagsterInstance.get() as instance:
        prepare_instance(instance)
    workspace = Path("workspace.yaml").resolve()
    with api_environment() as (env, sandbox):
        if sandbox is not None:
            print(f"sandbox API at {sandbox.base_url} (CA bundle {sandbox.ca_bundle})", flush=True)
        else:
            print(f"Cranium API at {env.get('CRANIUM_BASE_URL', DEFAULT_BASE_URL)}", flush=True)
        dagster = str(Path(sys.executable).with_name("dagster"))
        command = [dagster, "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)]
        # A shell starts a background job with SIGINT ignored, and children inherit that. dagster
        # dev must not ignore it, because SIGINT is how it is stopped.
        dagster_dev = subprocess.Popen(
            command,
            env=env,
            cwd=subprocess_cwd(env),
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )

        # SIGTERM (from a service manager or `kill`) ends dagster dev the way Ctrl-C does, so
        # its web server and daemon do not outlive the sandbox.
        def stop(signum: int, frame: object) -> None:
            dagster_dev.send_signal(signal.SIGINT)

        previous = signal.signal(signal.SIGTERM, stop)
        try:
            return dagster_dev.wait()
        except KeyboardInterrupt:
            return dagster_dev.wait()
        finally:
            signal.signal(signal.SIGTERM, previous)


def run_sync(full: bool, reconcile: bool) -> int:
    """Run one sync from the `CRANIUM_*` environment, under the same storage lock as Dagster."""
    from dagster import DagsterInvalidConfigError

    from cranium_etl.api.errors import CraniumError
    from cranium_etl.defs.resources import resources_from_environment
    from cranium_etl.environment import load_environment
    from cranium_etl.storage import StorageError
    from cranium_etl.sync import (
        InvalidRecordError,
        reconcile_bill_of_materials,
        sync_bill_of_materials,
    )

    os.environ.update(load_environment())
    log = logging.getLogger("cranium_etl.sync")
    try:
        resources = resources_from_environment()
        cranium = resources["cranium"].process_config_and_initialize()
        storage = resources["storage"].process_config_and_initialize()
        client = cranium.build_client(pacer_dir=storage.root / ".pacer", logger=log)
        log.info("syncing from %s into %s", client.config.base_url, storage.root)
        with client:
            run_id = f"cli-{uuid.uuid4()}"
            if reconcile:
                result = reconcile_bill_of_materials(client, storage.raw(), run_id=run_id, log=log)
            else:
                result = sync_bill_of_materials(
                    client, storage.raw(), run_id=run_id, full=full, log=log
                )
    except (CraniumError, InvalidRecordError, StorageError, DagsterInvalidConfigError) as error:
        print(f"cranium-etl sync: {error}", file=sys.stderr)
        return 1

    pages = "page" if result.pages == 1 else "pages"
    print(
        f"{result.records} bills of materials in {result.pages} {pages} "
        f"({result.sync_kind} sync); batch: {result.batch_path or 'none written'}"
    )
    if reconcile:
        print(f"{result.deletions_detected} bills of materials recorded as deleted")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
