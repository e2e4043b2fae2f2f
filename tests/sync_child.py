"""Child process for the crash tests: one sync, reconciliation or snapshot build, then exit.

Run as `python tests/sync_child.py SETTINGS_JSON` with the `CRANIUM_*` connection variables of a
sandbox in the environment. SETTINGS_JSON is an object with:

- "action": "sync", "full", "reconcile" or "snapshot"
- "data_dir": root of the Parquet output
- "client": ClientConfig overrides (page size, timeouts, backoff)
- "pause_at": optional stage name from PAUSE_STAGES

With "pause_at", the process prints `PAUSED <stage>` on stdout when it reaches that stage and
then sleeps, so that the test can SIGKILL it at exactly that point. The pause wraps storage
functions in this process only; the product code has no test hooks.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from cranium_etl.api import ClientConfig, CraniumClient
from cranium_etl.storage import RawStore, SnapshotStore
from cranium_etl.storage import batch as batch_module
from cranium_etl.storage import files as files_module
from cranium_etl.storage import raw as raw_module
from cranium_etl.sync import reconcile_bill_of_materials, sync_bill_of_materials

PAUSE_SECONDS = 120.0

# Stages at which the child can pause, each described by where it stops.
PAUSE_STAGES = {
    "batch-flushed": "rows of the batch written to the temporary file, footer not yet written",
    "batch-publish": "temporary batch file complete and closed, not yet renamed",
    "batch-linked": "batch linked to its final name, temporary name not yet removed",
    "tombstones": "reconciliation listing committed, tombstones not yet written",
    "snapshot-replace": "new snapshot file complete under its temporary name, not yet renamed",
}


def pause(stage: str) -> None:
    print(f"PAUSED {stage}", flush=True)
    time.sleep(PAUSE_SECONDS)
    raise SystemExit(f"the test did not kill the child paused at {stage}")


def install_pause(stage: str) -> None:
    """Wrap the storage function that runs at `stage` so that it pauses there."""
    if stage not in PAUSE_STAGES:
        raise SystemExit(f"unknown pause stage {stage!r}; expected one of {sorted(PAUSE_STAGES)}")

    if stage == "batch-flushed":
        original_commit = batch_module.BatchWriter.commit

        def commit_then_pause(self, *args, **kwargs):
            self._flush()
            pause(stage)
            return original_commit(self, *args, **kwargs)

        batch_module.BatchWriter.commit = commit_then_pause

    elif stage == "batch-publish":
        original_publish = batch_module.publish

        def pause_then_publish(temp, final, *, replace):
            pause(stage)
            return original_publish(temp, final, replace=replace)

        batch_module.publish = pause_then_publish

    elif stage == "batch-linked":
        original_link = os.link

        def link_then_pause(source, destination, *args, **kwargs):
            original_link(source, destination, *args, **kwargs)
            pause(stage)

        os.link = link_then_pause

    elif stage == "tombstones":

        def pause_before_tombstones(self, ids, **kwargs):
            pause(stage)

        raw_module.RawStore.write_tombstones = pause_before_tombstones

    elif stage == "snapshot-replace":
        original_file_publish = files_module.publish

        def pause_then_replace(temp, final, *, replace):
            if replace:
                pause(stage)
            return original_file_publish(temp, final, replace=replace)

        files_module.publish = pause_then_replace


def main() -> int:
    settings = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if settings.get("pause_at"):
        install_pause(settings["pause_at"])

    data_dir = Path(settings["data_dir"])
    raw = RawStore(data_dir)
    action = settings["action"]
    run_id = f"child-{action}-{uuid.uuid4()}"

    if action == "snapshot":
        SnapshotStore(data_dir).build(raw, datetime.now(UTC).date(), run_id=run_id)
        return 0

    client_settings = {"pacer_dir": str(data_dir / ".pacer"), **settings.get("client", {})}
    with CraniumClient(ClientConfig.from_env(**client_settings)) as client:
        if action == "reconcile":
            reconcile_bill_of_materials(client, raw, run_id=run_id)
        else:
            sync_bill_of_materials(client, raw, run_id=run_id, full=action == "full")
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
