"""Retries of data requests against the sandbox: 429, 5xx, broken connections, 4xx."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest
from test_client_support import client_config, fetch_records

from cranium_etl.api import (
    ApiError,
    CraniumClient,
    InvalidCursorError,
    RateLimitWaitTooLong,
    ResponseError,
    RetriesExhausted,
)


class RecordingSleep:
    """time.sleep that also records each requested wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


@pytest.mark.parametrize("retry_after,expected", [("1", 1.0), ("0.5", 0.5)])
def test_429_waits_retry_after_seconds(sandbox, retry_after, expected):
    server = sandbox(bom_count=10)
    server.faults.inject("rate_limit", retry_after=retry_after)
    sleep = RecordingSleep()
    with CraniumClient(client_config(server), sleep=sleep) as client:
        records, _ = fetch_records(client)

    assert len(records) == 10
    assert sleep.waits == [expected]
    assert client.stats.rate_limited == 1
    assert client.stats.retries == 1


def test_429_waits_until_retry_after_date(sandbox):
    server = sandbox(bom_count=10)
    server.faults.inject("rate_limit", retry_after=formatdate(time.time() + 3, usegmt=True))
    sleep = RecordingSleep()
    with CraniumClient(client_config(server), sleep=sleep) as client:
        fetch_records(client)

    # An HTTP date has whole seconds, so the wait is between 1 and 3 seconds.
    assert len(sleep.waits) == 1
    assert 1.0 < sleep.waits[0] <= 3.0


@pytest.mark.parametrize("retry_after", ["0", "-3", "soon", "", None])
def test_429_without_usable_retry_after_backs_off(sandbox, retry_after):
    server = sandbox(bom_count=10)
    server.faults.inject("rate_limit", retry_after=retry_after, times=3)
    sleep = RecordingSleep()
    config = client_config(server, backoff_initial=0.1, backoff_max=0.3)
    with CraniumClient(config, sleep=sleep) as client:
        records, _ = fetch_records(client)

    assert len(records) == 10
    assert len(sleep.waits) == 3
    assert 0.05 <= sleep.waits[0] <= 0.1
    assert 0.1 <= sleep.waits[1] <= 0.2
    assert 0.15 <= sleep.waits[2] <= 0.3


def test_429_longer_than_inline_limit_raises(sandbox):
    server = sandbox(bom_count=10)
    server.faults.inject("rate_limit", retry_after="600")
    sleep = RecordingSleep()
    with CraniumClient(client_config(server, max_inline_wait=120), sleep=sleep) as client:
        with pytest.raises(RateLimitWaitTooLong) as raised:
            fetch_records(client)

    assert raised.value.wait_seconds == 600
    assert sleep.waits == []
    assert server.stats.data_requests == 1


def test_429_retries_capped_by_count(sandbox):
    server = sandbox(bom_count=10)
    server.faults.inject("rate_limit", retry_after="0.2", times=None)
    sleep = RecordingSleep()
    with CraniumClient(client_config(server, max_retries=3), sleep=sleep) as client:
        with pytest.raises(RetriesExhausted) as raised:
            fetch_records(client)

    assert raised.value.last_status == 429
    assert raised.value.attempts == 4
    assert "Rate limit is exceeded" in raised.value.last_message
    assert server.stats.data_requests == 4


def test_429_retries_capped_by_total_wait(sandbox):
    server = sandbox(bom_count=10)
    server.faults.inject("rate_limit", retry_after="1", times=None)
    sleep = RecordingSleep()
    config = client_config(server, max_retries=50, max_total_wait=2.5)
    with CraniumClient(config, sleep=sleep) as client:
        with pytest.raises(RetriesExhausted) as raised:
            fetch_records(client)

    assert sleep.waits == [1.0, 1.0]
    assert raised.value.waited_seconds == 2.0
    assert "max_total_wait" in str(raised.value)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_retried(sandbox, status):
    server = sandbox(bom_count=10)
    server.faults.inject("status", status=status, times=2)
    with CraniumClient(client_config(server)) as client:
        records, _ = fetch_records(client)

    assert len(records) == 10
    assert client.stats.retries == 2
    assert server.stats.data_requests == 3


@pytest.mark.parametrize("kind", ["reset", "truncate", "invalid_json"])
def test_broken_responses_retried(sandbox, kind):
    server = sandbox(bom_count=10)
    server.faults.inject(kind)
    with CraniumClient(client_config(server)) as client:
        records, _ = fetch_records(client)

    assert len(records) == 10
    assert client.stats.retries == 1


def test_stalled_headers_hit_read_timeout(sandbox):
    server = sandbox(bom_count=10)
    server.faults.inject("slow_headers", delay=1.0)
    with CraniumClient(client_config(server, read_timeout=0.2)) as client:
        records, _ = fetch_records(client)

    assert len(records) == 10
    assert client.stats.retries == 1


def test_stalled_body_hits_read_timeout(sandbox):
    server = sandbox(bom_count=10)
    server.faults.inject("slow_body", delay=1.0)
    with CraniumClient(client_config(server, read_timeout=0.2)) as client:
        records, _ = fetch_records(client)

    assert len(records) == 10
    assert client.stats.retries == 1


def test_slow_body_hits_body_deadline(sandbox):
    server = sandbox(bom_count=10)
    server.faults.inject("slow_body", delay=0.5)
    with CraniumClient(client_config(server, body_timeout=0.2)) as client:
        records, _ = fetch_records(client)

    assert len(records) == 10
    assert client.stats.retries == 1


def test_repeated_invalid_json_raises_response_error(sandbox):
    server = sandbox(bom_count=10)
    server.faults.inject("invalid_json", times=None)
    config = client_config(server, max_invalid_response_retries=2)
    with CraniumClient(config) as client:
        with pytest.raises(ResponseError) as raised:
            fetch_records(client)

    assert raised.value.transient
    assert "not valid JSON" in str(raised.value)
    assert raised.value.request_id is None
    assert server.stats.data_requests == 3


def test_persistent_outage_exhausts_retries(sandbox):
    server = sandbox(bom_count=10)
    server.faults.inject("status", status=503, times=None, headers={"X-Request-Id": "req-503"})
    with CraniumClient(client_config(server, max_retries=2)) as client:
        with pytest.raises(RetriesExhausted) as raised:
            fetch_records(client)

    assert raised.value.last_status == 503
    assert raised.value.request_id == "req-503"
    assert "req-503" in str(raised.value)
    assert raised.value.attempts == 3


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_client_errors_not_retried(sandbox, status):
    server = sandbox(bom_count=10)
    body = {"statusCode": status, "message": "Access to this tenant is denied."}
    server.faults.inject("status", status=status, body=body, headers={"X-Request-Id": "req-4xx"})
    with CraniumClient(client_config(server)) as client:
        with pytest.raises(ApiError) as raised:
            fetch_records(client)

    error = raised.value
    assert type(error) is ApiError
    assert error.status == status
    assert error.message == "Access to this tenant is denied."
    assert error.request_id == "req-4xx"
    assert "Access to this tenant is denied." in str(error)
    assert "req-4xx" in str(error)
    assert server.stats.data_requests == 1


def test_request_id_read_from_error_body_meta(sandbox):
    server = sandbox(bom_count=10)
    body = {"statusCode": 404, "message": "Not found.", "meta": {"requestId": "req-body"}}
    server.faults.inject("status", status=404, body=body)
    with CraniumClient(client_config(server)) as client:
        with pytest.raises(ApiError) as raised:
            fetch_records(client)

    assert raised.value.request_id == "req-body"


def test_400_with_cursor_is_invalid_cursor_error(sandbox):
    server = sandbox(bom_count=30)
    server.faults.inject("status", status=400, skip=1)
    with CraniumClient(client_config(server, page_size=10)) as client:
        with pytest.raises(InvalidCursorError) as raised:
            fetch_records(client)

    assert raised.value.status == 400
    assert client.stats.pages == 1


@pytest.mark.parametrize(
    "kind,problem",
    [
        ("error_envelope", "the envelope carries an error"),
        ("null_cursor", "'nextCursor' is empty"),
        ("repeat_cursor", "repeats a cursor"),
        ("oversize_page", "more than the requested limit"),
    ],
)
def test_contract_violations_raise_response_error(sandbox, kind, problem):
    server = sandbox(bom_count=30)
    server.faults.inject(kind, skip=1)
    with CraniumClient(client_config(server, page_size=10)) as client:
        with pytest.raises(ResponseError) as raised:
            fetch_records(client)

    assert problem in raised.value.problem
    assert raised.value.request_id
    assert raised.value.request_id in str(raised.value)
    assert not raised.value.transient
    assert server.stats.data_requests == 2
