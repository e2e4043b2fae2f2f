"""Snapshot build: time and peak RSS of building one daily partition from many raw batches.

`prepare` writes a raw layer like that of daily syncs: one full batch of the tenant, then one
incremental batch per day with the BOMs that changed that day. The build of the last day's
partition then runs in a child process, whose own peak RSS (VmHWM) is reported.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from harness import machine, print_table
from sync_child import memory_kib

from cranium_etl.sandbox.tenant import Tenant
from cranium_etl.storage import RawStore, SnapshotStore

FIRST_DAY = date(2026, 1, 1)


def day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)


def prepare(data_dir: Path, bom_count: int, batches: int, changes_per_batch: int) -> int:
    """Write the raw batches of `batches` daily syncs and return the number of raw rows."""
    tenant = Tenant(seed=7, bom_count=bom_count, epoch=day_end(FIRST_DAY) - timedelta(hours=2))
    raw = RawStore(data_dir)
    rows = 0
    for number in range(batches):
        day = FIRST_DAY + timedelta(days=number)
        if number == 0:
            records = tenant.records()
        else:
            changed_at = day_end(day) - timedelta(hours=2)
            changed = set(tenant.update(changes_per_batch, at=changed_at))
            records = [tenant.record(bom_id) for bom_id in changed]
        with raw.open_batch(
            run_id=f"prepare-{number}",
            synced_at=day_end(day) - timedelta(hours=1),
            sync_kind="full" if number == 0 else "incremental",
        ) as batch:
            for start in range(0, len(records), 200):
                batch.write_records(records[start : start + 200])
            batch.commit(cursor=f"cursor-{number}")
        rows += len(records)
    return rows


def build(data_dir: Path, day: date) -> dict:
    """Build the partition of `day` and return its figures; runs in the child process."""
    before_kib = memory_kib("VmRSS")
    started = time.perf_counter()
    result = SnapshotStore(data_dir).build(RawStore(data_dir), day, run_id="benchmark")
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": result.row_count,
        "rss_before_kib": before_kib,
        "peak_rss_kib": memory_kib("VmHWM"),
    }


def run(bom_count: int, batches: int, changes_per_batch: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="cranium-snapshot-") as workdir:
        data_dir = Path(workdir)
        raw_rows = prepare(data_dir, bom_count, batches, changes_per_batch)
        last_day = FIRST_DAY + timedelta(days=batches - 1)
        command = [sys.executable, __file__, "--build", str(data_dir), "--day", str(last_day)]
        result = json.loads(subprocess.run(command, check=True, capture_output=True).stdout)
        raw_bytes = sum(path.stat().st_size for path in RawStore(data_dir).directory.iterdir())

    return {
        "BOMs": bom_count,
        "raw batches": batches,
        "raw rows": raw_rows,
        "raw MiB": f"{raw_bytes / 2**20:.1f}",
        "snapshot rows": result["rows"],
        "build s": f"{result['seconds']:.2f}",
        "RSS before build MiB": f"{result['rss_before_kib'] / 1024:.0f}",
        "peak RSS MiB": f"{result['peak_rss_kib'] / 1024:.0f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bom-counts", type=int, nargs="+", default=[10_000, 50_000], help="tenant sizes"
    )
    parser.add_argument("--batches", type=int, default=30, help="raw batches (one per day)")
    parser.add_argument(
        "--changes-per-batch", type=int, default=1_000, help="BOMs changed per incremental batch"
    )
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # child: data directory
    parser.add_argument("--day", type=date.fromisoformat, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.build is not None:
        print(json.dumps(build(args.build, args.day)))
        return

    rows = [run(bom_count, args.batches, args.changes_per_batch) for bom_count in args.bom_counts]
    print(machine())
    print_table(rows)


if __name__ == "__main__":
    main()
