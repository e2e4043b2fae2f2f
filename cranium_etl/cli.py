"""`cranium-etl` command line: the sandbox, the demo, the Dagster UI and a sync without Dagster."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import uuid
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
    commands.add_parser("dev", help="start the Dagster UI with the sandbox as the API")

    sync = commands.add_parser(
        "sync", help="fetch changed bills of materials into the raw layer without Dagster"
    )
    sync.add_argument("--full", action="store_true", help="ignore the stored cursor")
    sync.add_argument(
        "--reconcile",
        action="store_true",
        help="list every bill of materials and record the ones missing from the API as deleted",
    )

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
        return run_dev()
    return run_sync(full=args.full, reconcile=args.reconcile)


def run_dev() -> int:
    """Start `dagster dev` on workspace.yaml with the sandbox (or the configured API) behind it."""
    import dagster as dg

    from cranium_etl.defs.instance import prepare_instance
    from cranium_etl.demo import api_environment

    with dg.DagsterInstance.get() as instance:
        prepare_instance(instance)
    with api_environment() as (env, sandbox):
        if sandbox is not None:
            print(f"sandbox API at {sandbox.base_url} (CA bundle {sandbox.ca_bundle})", flush=True)
        command = [str(Path(sys.executable).with_name("dagster")), "dev", "-w", "workspace.yaml"]
        try:
            return subprocess.call(command, env=env)
        except KeyboardInterrupt:
            return 0


def run_sync(full: bool, reconcile: bool) -> int:
    """Run one sync from the `CRANIUM_*` environment, under the same storage lock as Dagster."""
    from cranium_etl.api.errors import CraniumError
    from cranium_etl.defs.resources import resources_from_environment
    from cranium_etl.storage import StoreLockedError
    from cranium_etl.sync import (
        InvalidRecordError,
        reconcile_bill_of_materials,
        sync_bill_of_materials,
    )

    resources = resources_from_environment()
    cranium = resources["cranium"].process_config_and_initialize()
    storage = resources["storage"].process_config_and_initialize()
    log = logging.getLogger("cranium_etl.sync")
    client = cranium.build_client(pacer_dir=storage.root / ".pacer", logger=log)
    try:
        with client:
            run_id = f"cli-{uuid.uuid4()}"
            if reconcile:
                result = reconcile_bill_of_materials(client, storage.raw(), run_id=run_id, log=log)
            else:
                result = sync_bill_of_materials(
                    client, storage.raw(), run_id=run_id, full=full, log=log
                )
    except (CraniumError, InvalidRecordError, StoreLockedError) as error:
        print(f"cranium-etl sync: {error}", file=sys.stderr)
        return 1

    print(
        f"{result.records} bills of materials in {result.pages} pages ({result.sync_kind} sync); "
        f"batch: {result.batch_path or 'none written'}"
    )
    if reconcile:
        print(f"{result.deletions_detected} bills of materials recorded as deleted")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
