"""Quota efficiency: 429s and duration of syncs against a sandbox whose rate limit binds.

Each run starts a fresh sandbox and runs one sync in a child process, or two at once that share a
pacer directory. It then compares the span from the first to the last data request that the
sandbox received with the shortest span that the quota allows for the same number of requests.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
from pathlib import Path

from harness import collect, launch_sync, machine, print_table, start_sandbox

CASES = ("headers", "headerless", "cross-process")


def ideal_span(start: float, requests: int, limit: int, window: float, service: float) -> float:
    """Return the shortest time from the first to the last of `requests` back-to-back requests.

    Requests follow each other every `service` seconds, and at most `limit` of them arrive in
    each window, where windows start at multiples of `window` since the Unix epoch. The first
    window is therefore partial: it ends at the first multiple of `window` after `start`.
    """
    moment = start
    current_window = math.floor(start / window)
    used = 1
    for _ in range(requests - 1):
        moment += service
        if math.floor(moment / window) != current_window:
            current_window, used = math.floor(moment / window), 0
        if used == limit:
            current_window += 1
            moment, used = current_window * window, 0
        used += 1
    return moment - start


def window_usage(arrivals: list[float], window: float) -> tuple[list[int], list[float]]:
    """Return the requests per window and, for each window but the first, the delay from the
    window's start to its first request."""
    counts: dict[int, int] = {}
    first: dict[int, float] = {}
    for moment in arrivals:
        index = math.floor(moment / window)
        counts[index] = counts.get(index, 0) + 1
        first.setdefault(index, moment - index * window)
    indexes = sorted(counts)
    return [counts[i] for i in indexes], [first[i] for i in indexes[1:]]


def run_case(case: str, args: argparse.Namespace, workdir: Path) -> dict:
    sandbox = start_sandbox(
        bom_count=args.bom_count,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        rate_limit_headers=case != "headerless",
    )
    processes = 2 if case == "cross-process" else 1
    client_settings = {
        "page_size": args.page_size,
        "rate_limit": args.rate_limit,
        "rate_window": args.rate_window,
        "rate_limit_reserve": args.reserve,
        "pacer_dir": str(workdir / "pacer") if case == "cross-process" else None,
    }
    try:
        children = [
            launch_sync(sandbox, workdir / f"data-{number}", **client_settings)
            for number in range(processes)
        ]
        results = [collect(child) for child in children]
        log = [entry for entry in sandbox.stats.requests() if entry.endpoint == "bom"]
        rate_limited = sandbox.stats.rate_limited
    finally:
        sandbox.stop()

    arrivals = sorted(entry.time for entry in log)
    served = sum(1 for entry in log if entry.status == 200)
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    service = statistics.median(gaps)
    span = arrivals[-1] - arrivals[0]
    ideal = ideal_span(arrivals[0], served, args.rate_limit, args.rate_window, service)
    counts, delays = window_usage(arrivals, args.rate_window)
    return {
        "case": case,
        "processes": processes,
        "reserve": args.reserve,
        "requests": len(log),
        "429s": rate_limited,
        "first window offset s": f"{arrivals[0] % args.rate_window:.2f}",
        "span s": f"{span:.2f}",
        "ideal s": f"{ideal:.2f}",
        "actual/ideal": f"{span / ideal:.3f}",
        "requests/s": f"{len(log) / span:.2f}",
        "service ms": f"{service * 1000:.0f}",
        "per window": " ".join(map(str, counts)),
        "window start delay s": f"{statistics.mean(delays):.2f}" if delays else "-",
        "sync s": " / ".join(f"{result['seconds']:.2f}" for result in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--runs", type=int, default=3, help="runs per case (%(default)s)")
    parser.add_argument("--bom-count", type=int, default=200, help="BOMs in the tenant")
    parser.add_argument("--page-size", type=int, default=2, help="records per page")
    parser.add_argument("--rate-limit", type=int, default=20, help="requests per window")
    parser.add_argument("--rate-window", type=float, default=2.0, help="window in seconds")
    parser.add_argument(
        "--reserve", type=int, default=1, help="client rate_limit_reserve (%(default)s)"
    )
    args = parser.parse_args()

    rows = []
    for case in args.cases:
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="cranium-quota-") as workdir:
                rows.append(run_case(case, args, Path(workdir)))
    print(machine())
    print_table(rows)


if __name__ == "__main__":
    main()
