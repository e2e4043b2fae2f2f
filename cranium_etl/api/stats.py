"""Counters of one client's traffic, for logs and Dagster metadata."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


@dataclass
class RequestStats:
    """Totals since the client was created; safe to update from several threads.

    `requests` counts data requests sent, retries included. `token_requests` counts token
    requests, and `unauthorized` and `rate_limited` the 401 and 429 responses. `retries` counts
    requests sent again after a failure. `wait_seconds` is the time spent sleeping (backoff,
    Retry-After and pacing). `pages` and `records` count what the iteration yielded.
    """

    requests: int = 0
    token_requests: int = 0
    unauthorized: int = 0
    rate_limited: int = 0
    retries: int = 0
    wait_seconds: float = 0.0
    pages: int = 0
    records: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **increments: float) -> None:
        with self._lock:
            for name, amount in increments.items():
                setattr(self, name, getattr(self, name) + amount)

    def as_dict(self) -> dict[str, float]:
        with self._lock:
            values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_lock"}
        values["wait_seconds"] = round(values["wait_seconds"], 3)
        return values
