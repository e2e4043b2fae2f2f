"""Retry-After parsing, retry backoff and proactive pacing under the tenant's rate limit."""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from filelock import FileLock

from .errors import ConfigurationError

# Sleeping this much past a window's end absorbs timer and clock jitter between us and the API.
WINDOW_GUARD_SECONDS = 0.05

# `X-Rate-Limit-Reset` is rounded up to whole seconds and is read up to about 0.25 s after the
# API computed it, so the real window end lies at most this much before `now + reset`.
RESET_SLACK_SECONDS = 1.25

# A request started this close to a window's end may reach the API in the next window and
# overfill it, so the pacer delays it to the next window: 5 % of the window, at most 0.25 s.
# NOTE: this assumes the request reaches the API within that time; a slower network moves
# requests across the window end unnoticed.
BOUNDARY_FRACTION = 0.05
BOUNDARY_MAX_SECONDS = 0.25


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Return the wait in seconds that a `Retry-After` value requests (delay-seconds or HTTP-date).

    Returns None when the value is absent, malformed, zero or negative, so that the caller falls
    back to backoff instead of retrying at once.
    """
    if value is None or not value.strip():
        return None

    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)

    if not math.isfinite(seconds) or seconds <= 0:
        return None
    return seconds


class Backoff:
    """Exponential backoff with jitter: attempt n waits between half and all of
    min(maximum, initial * 2**(n-1)), so a retry never follows at once."""

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = maximum
        self._rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        ceiling = min(self.maximum, self.initial * 2 ** max(0, attempt - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)


class RetryBudget:
    """Retry count and total waiting time left to one request."""

    def __init__(self, max_retries: int, max_total_wait: float) -> None:
        self.max_retries = max_retries
        self.max_total_wait = max_total_wait
        self.retries = 0
        self.waited = 0.0

    def refusal(self, wait: float) -> str | None:
        """Return why one more retry after `wait` seconds is not allowed, or None if it is."""
        if self.retries >= self.max_retries:
            return f"max_retries={self.max_retries} reached"
        if self.waited + wait > self.max_total_wait:
            return (
                f"waiting {wait:.1f} s more would exceed max_total_wait={self.max_total_wait:.0f} s"
            )
        return None

    def spend(self, wait: float) -> None:
        self.retries += 1
        self.waited += wait


@dataclass(frozen=True)
class RateLimitHeaders:
    """The `X-Rate-Limit-*` headers of a response; None for a header absent or malformed."""

    limit: int | None
    remaining: int | None
    reset: float | None
    """Seconds until the current window resets."""

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitHeaders:
        return cls(
            limit=_parse_count(headers.get("X-Rate-Limit-Limit")),
            remaining=_parse_count(headers.get("X-Rate-Limit-Remaining")),
            reset=_parse_seconds(headers.get("X-Rate-Limit-Reset")),
        )


def _parse_count(value: str | None) -> int | None:
    try:
        number = int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number >= 0 else None


def _parse_seconds(value: str | None) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


class _MemoryState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict = {}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict]:
        with self._lock:
            state = dict(self._state)
            yield state
            self._state = state


class _FileState:
    """Window state in a JSON file that every process using the same directory shares."""

    def __init__(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigurationError(
                f"cannot create the rate-limit counter folder {directory} ({error.strerror}); "
                "set CRANIUM_PACER_DIR or CRANIUM_DATA_DIR to a writable folder",
                variable="CRANIUM_PACER_DIR",
            ) from error
        self._path = directory / "cranium-rate-window.json"
        self._file_lock = FileLock(str(directory / "cranium-rate-window.json.lock"))
        self._thread_lock = threading.Lock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict]:
        with self._thread_lock, self._file_lock:
            try:
                state = json.loads(self._path.read_text())
            except (OSError, ValueError):
                state = {}
            if not isinstance(state, dict):
                state = {}
            yield state
            # Every write happens under the file lock, so a temporary file seen here was left
            # by a process killed between writing and renaming it.
            for leftover in self._path.parent.glob(f"{self._path.name}.*.tmp"):
                leftover.unlink(missing_ok=True)
            temporary = self._path.with_name(f"{self._path.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(state))
            os.replace(temporary, self._path)


class Pacer:
    """Spread requests over fixed rate-limit windows so that the tenant's quota is not exceeded.

    The state is one window: its end (wall-clock seconds, because other processes share it) and
    the requests left in it. `acquire` takes one request from the window or sleeps until the
    window ends. Responses with `X-Rate-Limit-*` headers correct the state, and then
    `rate_limit_reserve` requests stay unused so that a request of another process that is
    already in flight does not run into a 429. Without the headers the pacer counts only the
    requests sent through it, and through other pacers sharing its `pacer_dir`, in windows
    aligned to multiples of `rate_window` since the Unix epoch.
    """

    def __init__(
        self,
        *,
        rate_limit: int,
        rate_window: float,
        reserve: int,
        state_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.reserve = reserve
        self._boundary = min(BOUNDARY_MAX_SECONDS, rate_window * BOUNDARY_FRACTION)
        self._store = _FileState(Path(state_dir)) if state_dir is not None else _MemoryState()
        self._clock = clock
        self._sleep = sleep

    def acquire(self, on_wait: Callable[[float, str], None] | None = None) -> float:
        """Take one request from the current window, sleeping first if it is spent.

        `on_wait(seconds, reason)` is called before each sleep. Returns the seconds slept.
        """
        slept = 0.0
        while True:
            with self._store.transaction() as state:
                now = self._clock()
                if now >= state.get("window_end", 0.0):
                    self._start_window(state, now)

                floor = self.reserve if state.get("from_api") else 0
                left = state["window_end"] - now
                if left <= self._boundary:
                    reason = f"rate-limit window ends in {left:.2f} s"
                elif state["remaining"] > floor:
                    state["remaining"] -= 1
                    return slept
                else:
                    remaining = state["remaining"]
                    noun = "request" if remaining == 1 else "requests"
                    reason = f"{remaining} {noun} left in the rate-limit window"
                wait = left + WINDOW_GUARD_SECONDS

            if on_wait is not None:
                on_wait(wait, reason)
            self._sleep(wait)
            slept += wait

    def observe(self, headers: Mapping[str, str]) -> None:
        """Correct the window from a response's `X-Rate-Limit-*` headers, if it has them."""
        rate = RateLimitHeaders.from_headers(headers)
        if rate.remaining is None:
            return

        with self._store.transaction() as state:
            now = self._clock()
            window_end = self._reported_window_end(now, rate.reset)
            # Within one window the count only falls. A reset further away than the known window
            # end, or a known end already past, means the response belongs to a new window. A
            # window counted locally (from the configured quota) gives way to the API's count.
            tolerance = min(1.0, self.rate_window / 2)
            known_end = state.get("window_end", 0.0)
            new_window = now >= known_end or window_end > known_end + tolerance
            counted_locally = not state.get("from_api", False)
            if new_window or counted_locally or "remaining" not in state:
                state["remaining"] = rate.remaining
            else:
                state["remaining"] = min(state["remaining"], rate.remaining)
            state["window_end"] = window_end
            state["from_api"] = True
            if rate.limit is not None:
                state["limit"] = rate.limit

    def observe_rate_limited(self, wait: float) -> None:
        """Hold every process sharing the window for `wait` seconds after a 429.

        The 429's wait replaces the known window end: Retry-After is the API's latest word on
        when requests are accepted again.
        """
        with self._store.transaction() as state:
            state["remaining"] = 0
            state["window_end"] = self._clock() + wait
            state["from_api"] = True

    def _reported_window_end(self, now: float, reset: float | None) -> float:
        """Return the end of the window that a response's `X-Rate-Limit-Reset` describes.

        The reset counts whole seconds, rounded up (as the sandbox does), so `now + reset` can
        lie up to a second past the real end: half of a 2 s window. A window boundary (a
        multiple of `rate_window`) after now and at most RESET_SLACK_SECONDS before
        `now + reset` is taken as the exact end. Otherwise the reset is used as reported.

        NOTE: this relies on `rate_window` matching the API's windows. With a wrong setting, a
        boundary of the configured grid can end the window up to RESET_SLACK_SECONDS early.
        """
        if reset is None:
            return self._aligned_end(now)

        reported = now + reset
        boundary = math.floor(reported / self.rate_window) * self.rate_window
        if now < boundary and reported - boundary <= RESET_SLACK_SECONDS:
            return boundary
        return reported

    def _start_window(self, state: dict, now: float) -> None:
        state["window_end"] = self._aligned_end(now)
        state["remaining"] = state.get("limit", self.rate_limit)
        state["from_api"] = False

    def _aligned_end(self, now: float) -> float:
        return (math.floor(now / self.rate_window) + 1) * self.rate_window
