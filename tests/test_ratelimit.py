"""Retry-After parsing, backoff bounds and pacing under the sandbox's quota."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from email.utils import formatdate
from pathlib import Path

import pytest
from test_client_support import client_config, fetch_records

from cranium_etl.api import CraniumClient
from cranium_etl.api.ratelimit import Backoff, Pacer, RateLimitHeaders, parse_retry_after

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    "value,expected",
    [
        ("30", 30.0),
        (" 2 ", 2.0),
        ("1.5", 1.5),
        (formatdate(NOW + 30, usegmt=True), 30.0),
        (formatdate(NOW + 30, localtime=True), 30.0),
    ],
)
def test_retry_after_parsed(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    "value",
    [None, "", "0", "-5", "soon", "nan", "inf", formatdate(NOW - 30, usegmt=True), "Mon, 99 Foo"],
)
def test_retry_after_unusable_is_none(value):
    assert parse_retry_after(value, now=NOW) is None


def test_backoff_grows_within_bounds():
    backoff = Backoff(initial=1.0, maximum=8.0, rng=random.Random(3))
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (30, 8.0)]:
        for _ in range(50):
            delay = backoff.delay(attempt)
            assert ceiling / 2 <= delay <= ceiling


def test_backoff_is_jittered():
    backoff = Backoff(initial=1.0, maximum=60.0, rng=random.Random(5))
    assert len({backoff.delay(3) for _ in range(20)}) > 1


@pytest.mark.parametrize(
    "headers,expected",
    [
        ({}, RateLimitHeaders(None, None, None)),
        (
            {"X-Rate-Limit-Limit": "60", "X-Rate-Limit-Remaining": "7", "X-Rate-Limit-Reset": "12"},
            RateLimitHeaders(60, 7, 12.0),
        ),
        (
            {"X-Rate-Limit-Remaining": "many", "X-Rate-Limit-Reset": "-1"},
            RateLimitHeaders(None, None, None),
        ),
    ],
)
def test_rate_limit_headers_parsed(headers, expected):
    assert RateLimitHeaders.from_headers(headers) == expected


class FakeClock:
    """A clock that only moves when the pacer sleeps."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_local_window_spends_quota_then_waits():
    clock = FakeClock(NOW)
    pacer = Pacer(rate_limit=3, rate_window=10.0, reserve=1, clock=clock.time, sleep=clock.sleep)
    for _ in range(3):
        pacer.acquire()
    assert clock.sleeps == []

    pacer.acquire()
    assert len(clock.sleeps) == 1
    assert clock.now >= NOW + 10.0


def test_api_headers_keep_reserve():
    clock = FakeClock(NOW)
    pacer = Pacer(rate_limit=60, rate_window=60.0, reserve=1, clock=clock.time, sleep=clock.sleep)
    pacer.acquire()
    pacer.observe({"X-Rate-Limit-Remaining": "1", "X-Rate-Limit-Reset": "5"})

    pacer.acquire()
    assert clock.sleeps
    assert clock.now >= NOW + 5.0


def test_api_quota_replaces_configured_quota():
    clock = FakeClock(NOW)
    pacer = Pacer(rate_limit=3, rate_window=60.0, reserve=1, clock=clock.time, sleep=clock.sleep)
    pacer.acquire()
    pacer.observe({"X-Rate-Limit-Remaining": "99", "X-Rate-Limit-Limit": "100"})

    for _ in range(10):
        pacer.acquire()

    assert clock.sleeps == []


def test_shared_window_removes_leftover_temp_files(tmp_path: Path):
    leftover = tmp_path / "cranium-rate-window.json.99999.tmp"
    leftover.write_text("{")
    pacer = Pacer(rate_limit=10, rate_window=60.0, reserve=1, state_dir=tmp_path)

    pacer.acquire()

    assert not leftover.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "cranium-rate-window.json",
        "cranium-rate-window.json.lock",
    ]


def test_429_holds_pacer_for_retry_after():
    clock = FakeClock(NOW)
    pacer = Pacer(rate_limit=60, rate_window=60.0, reserve=1, clock=clock.time, sleep=clock.sleep)
    pacer.observe_rate_limited(4.0)

    pacer.acquire()
    assert clock.now >= NOW + 4.0
    assert clock.now < NOW + 5.0


@pytest.mark.parametrize("headers", [True, False])
def test_sync_within_quota_gets_no_429(sandbox, headers):
    server = sandbox(bom_count=250, rate_limit=10, rate_window=1.0, rate_limit_headers=headers)
    with CraniumClient(client_config(server, page_size=10)) as client:
        records, _ = fetch_records(client)

    assert len(records) == 250
    assert server.stats.rate_limited == 0
    assert client.stats.rate_limited == 0


def test_quota_used_by_others_handled(sandbox):
    server = sandbox(bom_count=100, rate_limit=10, rate_window=1.0)
    server.faults.inject("rate_limit", retry_after="1", skip=2)
    with CraniumClient(client_config(server, page_size=10)) as client:
        records, _ = fetch_records(client)

    assert len(records) == 100
    assert client.stats.rate_limited == 1


WORKER = textwrap.dedent(
    """
    import json, sys
    from cranium_etl.api import ClientConfig, CraniumClient

    settings = json.loads(sys.argv[1])
    sys.stdin.readline()  # start together
    ids = []
    with CraniumClient(ClientConfig(**settings)) as client:
        for page in client.iter_bill_of_materials():
            ids.extend(record["billOfMaterialsId"] for record in page.records)
        print(json.dumps({"ids": ids, "stats": client.stats.as_dict()}))
    """
)


@pytest.mark.parametrize("headers", [True, False])
def test_processes_sharing_pacer_dir_get_no_429(sandbox, tmp_path: Path, headers):
    server = sandbox(bom_count=150, rate_limit=10, rate_window=1.0, rate_limit_headers=headers)
    config = client_config(server, page_size=10, pacer_dir=str(tmp_path / "pacer"))
    settings = {
        name: getattr(config, name)
        for name in (
            "client_id",
            "scope",
            "token_url",
            "base_url",
            "ca_bundle",
            "page_size",
            "rate_limit",
            "rate_window",
            "pacer_dir",
        )
    }
    settings["client_secret"] = server.config.client_secret

    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    results = [json.loads(worker.communicate(timeout=60)[0]) for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0]
    assert server.stats.data_requests == 30
    assert server.stats.rate_limited == 0
    for result in results:
        assert sorted(result["ids"]) == sorted(server.tenant.ids())
