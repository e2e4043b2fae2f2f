"""Throughput: records per second of a sync when the quota does not bind.

The sandbox runs in this process and the sync in a child process, both on loopback. The
figures split the sync's time into waiting for pages (TLS, HTTP, JSON decoding, the sandbox's
work) and the rest (validation, Arrow conversion, Parquet writing), and give the CPU seconds
that the sandbox and the sync each used.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from harness import collect, launch_sync, machine, print_table, start_sandbox

UNBOUND_RATE_LIMIT = 10_000_000


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run(bom_count: int, page_size: int) -> dict:
    sandbox = start_sandbox(bom_count=bom_count, rate_limit=UNBOUND_RATE_LIMIT)
    try:
        with tempfile.TemporaryDirectory(prefix="cranium-throughput-") as workdir:
            sandbox_cpu = cpu_seconds(resource.RUSAGE_SELF)
            sync_cpu = cpu_seconds(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            result = collect(
                launch_sync(
                    sandbox, Path(workdir), page_size=page_size, rate_limit=UNBOUND_RATE_LIMIT
                )
            )
            wall = time.perf_counter() - started
            sandbox_cpu = cpu_seconds(resource.RUSAGE_SELF) - sandbox_cpu
            sync_cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - sync_cpu
    finally:
        sandbox.stop()

    seconds = result["seconds"]
    return {
        "BOMs": bom_count,
        "page size": page_size,
        "requests": result["client_requests"],
        "sync s": f"{seconds:.2f}",
        "records/s": f"{result['records'] / seconds:,.0f}",
        "ms/page": f"{result['fetch_seconds'] / result['pages'] * 1000:.1f}",
        "waiting for pages s": f"{result['fetch_seconds']:.2f}",
        "validate + write s": f"{seconds - result['fetch_seconds']:.2f}",
        "sandbox CPU s": f"{sandbox_cpu:.2f}",
        "sync process CPU s": f"{sync_cpu:.2f}",
        "child process wall s": f"{wall:.2f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bom-count", type=int, default=20_000, help="BOMs in the tenant")
    parser.add_argument(
        "--page-sizes", type=int, nargs="+", default=[200, 50, 10], help="records per page"
    )
    args = parser.parse_args()

    rows = [run(args.bom_count, page_size) for page_size in args.page_sizes]
    print(machine())
    print_table(rows)


if __name__ == "__main__":
    main()
