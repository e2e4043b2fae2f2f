"""Run one sync into a raw store and print its figures as JSON; `harness.launch_sync` starts it.

Usage: sync_child.py DATA_DIR SETTINGS_JSON, with the client secret in $CRANIUM_CLIENT_SECRET.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from cranium_etl.api import ClientConfig, CraniumClient, Page
from cranium_etl.storage import RawStore
from cranium_etl.sync import sync_bill_of_materials


def memory_kib(field: str) -> int:
    """Return a memory figure of this process from /proc/self/status (VmRSS, VmHWM) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class TimedClient:
    """Wrapper of a CraniumClient that passes its pages on and adds up the time spent waiting."""

    def __init__(self, client: CraniumClient) -> None:
        self.client = client
        self.stats = client.stats
        self.fetch_seconds = 0.0

    def iter_bill_of_materials(self, cursor: str | None = None) -> Iterator[Page]:
        pages = self.client.iter_bill_of_materials(cursor=cursor)
        while True:
            started = time.perf_counter()
            page = next(pages, None)
            self.fetch_seconds += time.perf_counter() - started
            if page is None:
                return
            yield page


def main() -> None:
    data_dir = Path(sys.argv[1])
    settings = json.loads(sys.argv[2])
    config = ClientConfig(client_secret=os.environ["CRANIUM_CLIENT_SECRET"], **settings)
    rss_before_kib = memory_kib("VmRSS")

    started_at = time.time()
    started = time.perf_counter()
    with CraniumClient(config) as client:
        timed = TimedClient(client)
        result = sync_bill_of_materials(timed, RawStore(data_dir), run_id=f"bench-{os.getpid()}")
    seconds = time.perf_counter() - started

    figures = {
        "started_at": started_at,
        "seconds": seconds,
        "fetch_seconds": timed.fetch_seconds,
        "records": result.records,
        "pages": result.pages,
        "rss_before_kib": rss_before_kib,
        "peak_rss_kib": memory_kib("VmHWM"),
        "batch_bytes": result.batch_path.stat().st_size if result.batch_path else 0,
        **{f"client_{name}": value for name, value in client.stats.as_dict().items()},
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
