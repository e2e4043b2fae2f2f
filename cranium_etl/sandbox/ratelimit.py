"""Per-tenant request quota in fixed windows aligned to the Unix epoch."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateDecision:
    """Outcome of one quota check and the values of the rate-limit headers."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.remaining),
            "X-Rate-Limit-Reset": str(self.reset_seconds),
        }


class FixedWindowLimiter:
    """Allows `limit` requests per window of `window` seconds.

    Windows start at multiples of `window` since the Unix epoch, so with the defaults every
    minute of the wall clock is one window, as the Cranium API documents.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._window_index = -1
        self._used = 0

    def acquire(self) -> RateDecision:
        """Count one request if the quota allows it; a rejected request is not counted."""
        with self._lock:
            now = self._roll()
            allowed = self._used < self.limit
            if allowed:
                self._used += 1
            return self._decision(now, allowed)

    def release(self) -> None:
        """Give back one counted request, for a response that must not use up quota."""
        with self._lock:
            self._roll()
            self._used = max(0, self._used - 1)

    def peek(self) -> RateDecision:
        """Return the current state without counting a request."""
        with self._lock:
            now = self._roll()
            return self._decision(now, self._used < self.limit)

    def _roll(self) -> float:
        now = self._clock()
        index = math.floor(now / self.window)
        if index != self._window_index:
            self._window_index = index
            self._used = 0
        return now

    def _decision(self, now: float, allowed: bool) -> RateDecision:
        window_end = (self._window_index + 1) * self.window
        reset = max(1, math.ceil(window_end - now))
        return RateDecision(
            allowed=allowed,
            limit=self.limit,
            remaining=max(0, self.limit - self._used),
            reset_seconds=reset,
        )
