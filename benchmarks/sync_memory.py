"""Memory: peak RSS of a full sync into the raw layer, for tenants of different sizes.

The sandbox runs in this process and the sync in a child process, whose own peak RSS (VmHWM)
is reported, so the sandbox's memory does not count. Because the batch writer streams row groups
to disk, the peak should stop growing once the tenant exceeds one row group.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from harness import collect, launch_sync, machine, print_table, start_sandbox

UNBOUND_RATE_LIMIT = 10_000_000


def run(bom_count: int, page_size: int) -> dict:
    sandbox = start_sandbox(bom_count=bom_count, rate_limit=UNBOUND_RATE_LIMIT)
    try:
        with tempfile.TemporaryDirectory(prefix="cranium-memory-") as workdir:
            child = launch_sync(
                sandbox, Path(workdir), page_size=page_size, rate_limit=UNBOUND_RATE_LIMIT
            )
            result = collect(child)
    finally:
        sandbox.stop()

    return {
        "BOMs": bom_count,
        "page size": page_size,
        "records written": result["records"],
        "sync s": f"{result['seconds']:.1f}",
        "RSS after imports MiB": f"{result['rss_before_kib'] / 1024:.0f}",
        "peak RSS MiB": f"{result['peak_rss_kib'] / 1024:.0f}",
        "batch file MiB": f"{result['batch_bytes'] / 2**20:.1f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bom-counts", type=int, nargs="+", default=[2_000, 10_000, 50_000], help="tenant sizes"
    )
    parser.add_argument("--page-size", type=int, default=200, help="records per page")
    args = parser.parse_args()

    rows = [run(bom_count, args.page_size) for bom_count in args.bom_counts]
    print(machine())
    print_table(rows)


if __name__ == "__main__":
    main()
