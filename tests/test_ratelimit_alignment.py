"""Window ends that the pacer takes from `X-Rate-Limit-Reset`, a count of whole seconds."""

from __future__ import annotations

import pytest

from cranium_etl.api.ratelimit import WINDOW_GUARD_SECONDS, Pacer

WINDOW_START = 1_800_000_000.0  # a multiple of 2 and of 60


class StepClock:
    """A clock that moves only when the pacer sleeps."""

    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def spent_window_pacer(clock: StepClock, window: float, reset: str) -> Pacer:
    pacer = Pacer(rate_limit=20, rate_window=window, reserve=1, clock=clock.time, sleep=clock.sleep)
    pacer.acquire()
    headers = {"X-Rate-Limit-Limit": "20", "X-Rate-Limit-Remaining": "1"}
    pacer.observe({**headers, "X-Rate-Limit-Reset": reset})
    return pacer


@pytest.mark.parametrize("offset,reset", [(0.3, "2"), (1.2, "1"), (0.999, "2")])
def test_rounded_up_reset_resumes_at_window_end(offset, reset):
    clock = StepClock(WINDOW_START + offset)
    pacer = spent_window_pacer(clock, 2.0, reset)

    pacer.acquire()
    assert clock.now == pytest.approx(WINDOW_START + 2.0 + WINDOW_GUARD_SECONDS, abs=1e-6)


def test_reset_off_the_window_grid_is_trusted():
    clock = StepClock(WINDOW_START + 10.0)
    pacer = spent_window_pacer(clock, 60.0, "5")

    pacer.acquire()
    assert clock.now == pytest.approx(WINDOW_START + 15.0 + WINDOW_GUARD_SECONDS, abs=1e-6)


def test_reset_short_of_boundary_used_as_reported():
    # No boundary lies between now and now + reset, as when an API rounds the reset down.
    clock = StepClock(WINDOW_START + 0.5)
    pacer = spent_window_pacer(clock, 2.0, "1")

    pacer.acquire()
    assert clock.now == pytest.approx(WINDOW_START + 1.5 + WINDOW_GUARD_SECONDS, abs=1e-6)
