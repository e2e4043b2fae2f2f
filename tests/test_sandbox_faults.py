"""Specification of the sandbox fault plan: every fault kind as a client sees it over HTTPS."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import quote_plus

import pytest
import requests

from cranium_etl.sandbox import FAULT_KINDS

TIMEOUT = 10
HTTP = requests.Session()


def token_request(server):
    config = server.config
    pair = f"{quote_plus(config.client_id)}:{quote_plus(config.client_secret)}"
    return HTTP.post(
        server.token_url,
        data={"grant_type": "client_credentials", "scope": config.scope},
        headers={"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()},
        verify=server.ca_bundle,
        timeout=TIMEOUT,
    )


def fetch_token(server) -> str:
    response = token_request(server)
    response.raise_for_status()
    return response.json()["access_token"]


def get_page(server, token, timeout=TIMEOUT, stream=False, **params):
    return HTTP.get(
        server.bom_url,
        params=params,
        headers={"Authorization": f"Bearer {token}"},
        verify=server.ca_bundle,
        timeout=timeout,
        stream=stream,
    )


@pytest.fixture
def server(sandbox):
    return sandbox()


@pytest.fixture
def token(server):
    return fetch_token(server)


def test_status_fault_returns_error_body(server, token):
    server.faults.inject("status", status=503)
    failed = get_page(server, token)
    assert failed.status_code == 503
    assert failed.json()["statusCode"] == 503
    assert get_page(server, token).status_code == 200


@pytest.mark.parametrize("status", [400, 403, 404, 500, 502, 504])
def test_status_fault_any_code(server, token, status):
    server.faults.inject("status", status=status)
    assert get_page(server, token).status_code == status


def test_status_fault_custom_body_and_headers(server, token):
    server.faults.inject(
        "status", status=502, body="<html>Bad gateway</html>", headers={"X-A": "1"}
    )
    response = get_page(server, token)
    assert response.text == "<html>Bad gateway</html>"
    assert response.headers["X-A"] == "1"


def test_fault_skip_and_times(server, token):
    fault = server.faults.inject("status", status=500, times=2, skip=1)
    statuses = [get_page(server, token, limit=1).status_code for _ in range(4)]
    assert statuses == [200, 500, 500, 200]
    assert fault.applied == 2
    assert server.faults.pending() == []


def test_fault_until_cleared(server, token):
    server.faults.inject("status", status=500, times=None)
    statuses = [get_page(server, token, limit=1).status_code for _ in range(3)]
    server.faults.clear()
    assert statuses == [500] * 3
    assert get_page(server, token, limit=1).status_code == 200


def test_unauthorized_request_consumes_no_fault(server, token):
    server.faults.inject("status", status=500)
    assert get_page(server, "bad-token").status_code == 401
    assert get_page(server, token).status_code == 500


def test_faults_counted_by_kind(server, token):
    server.faults.inject("status", status=500, times=2)
    server.faults.inject("null_cursor")
    for _ in range(4):
        get_page(server, token, limit=1)
    assert server.stats.faults_applied == {"status": 2, "null_cursor": 1}


@pytest.mark.parametrize(
    "retry_after",
    [
        "30",
        format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True),
        "0",
        "-5",
        "soon",
        None,
    ],
)
def test_rate_limit_fault_retry_after(server, token, retry_after):
    server.faults.inject("rate_limit", retry_after=retry_after)
    response = get_page(server, token)
    assert response.status_code == 429
    assert response.headers.get("Retry-After") == retry_after
    assert response.json()["statusCode"] == 429


def test_rate_limit_fault_uses_no_quota(sandbox):
    server = sandbox(rate_limit=100, rate_window=3600.0)
    token = fetch_token(server)
    before = int(get_page(server, token, limit=1).headers["X-Rate-Limit-Remaining"])
    server.faults.inject("rate_limit", retry_after="1")
    injected = get_page(server, token, limit=1)
    after = int(get_page(server, token, limit=1).headers["X-Rate-Limit-Remaining"])
    assert injected.status_code == 429
    assert after == before - 1


def test_slow_headers_delays_response(server, token):
    server.faults.inject("slow_headers", delay=2.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        get_page(server, token, timeout=(5, 0.3))


def test_slow_headers_then_normal_page(server, token):
    server.faults.inject("slow_headers", delay=0.2)
    response = get_page(server, token, limit=2)
    assert response.status_code == 200
    assert len(response.json()["data"]) == 2


def test_slow_body_stalls_mid_body(server, token):
    server.faults.inject("slow_body", delay=2.0)
    response = get_page(server, token, timeout=(5, 0.3), stream=True)
    assert response.status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        response.content  # noqa: B018 - reading the body is the action under test


def test_slow_body_completes_for_patient_client(server, token):
    server.faults.inject("slow_body", delay=0.3)
    response = get_page(server, token, limit=3)
    assert len(response.json()["data"]) == 3


def test_truncate_closes_mid_body(server, token):
    server.faults.inject("truncate")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get_page(server, token)
    assert get_page(server, token).status_code == 200


def test_reset_drops_connection(server, token):
    server.faults.inject("reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        get_page(server, token)
    assert get_page(server, token).status_code == 200


def test_reset_logged_without_status(server, token):
    server.faults.inject("reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        get_page(server, token)
    assert server.stats.requests()[-1].status is None


def test_invalid_json_body(server, token):
    server.faults.inject("invalid_json")
    response = get_page(server, token)
    assert response.status_code == 200
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()


def test_error_envelope(server, token):
    server.faults.inject("error_envelope")
    body = get_page(server, token).json()
    assert body["data"] is None
    assert body["error"]["message"]


def test_null_cursor(server, token):
    server.faults.inject("null_cursor")
    pagination = get_page(server, token, limit=5).json()["pagination"]
    assert pagination["hasMore"] is True
    assert pagination["nextCursor"] is None


def test_repeat_cursor(server, token):
    cursor = get_page(server, token, limit=5).json()["pagination"]["nextCursor"]
    server.faults.inject("repeat_cursor")
    pagination = get_page(server, token, limit=5, cursor=cursor).json()["pagination"]
    assert pagination["hasMore"] is True
    assert pagination["nextCursor"] == cursor


def test_oversize_page(server, token):
    server.faults.inject("oversize_page", extra=3)
    body = get_page(server, token, limit=10).json()
    assert len(body["data"]) == 13
    assert body["pagination"]["limit"] == 10


def test_oversize_page_cursor_covers_extra_records(server, token):
    server.faults.inject("oversize_page", extra=3)
    first = get_page(server, token, limit=10).json()
    second = get_page(server, token, limit=10, cursor=first["pagination"]["nextCursor"]).json()
    assert second["data"][0] == server.tenant.records()[13]


def test_corrupt_record_missing_field(server, token):
    server.faults.inject("corrupt_record", mode="missing_field")
    records = get_page(server, token, limit=3).json()["data"]
    assert "billOfMaterialsId" not in records[0]
    assert "billOfMaterialsId" in records[1]


def test_corrupt_record_wrong_type(server, token):
    server.faults.inject("corrupt_record", mode="wrong_type", index=1)
    records = get_page(server, token, limit=3).json()["data"]
    assert isinstance(records[1]["totalVulnerabilitiesCount"], str)


def test_corrupt_record_unknown_status(server, token):
    server.faults.inject("corrupt_record", mode="unknown_status")
    records = get_page(server, token, limit=3).json()["data"]
    assert records[0]["lastScanStatus"] == "Cancelled"


def test_corrupt_record_extra_field(server, token):
    server.faults.inject("corrupt_record", mode="extra_field", field="riskTier", value="high")
    record = get_page(server, token, limit=3).json()["data"][0]
    assert list(record)[-1] == "riskTier"
    assert record["riskTier"] == "high"


def test_revoke_fault_rejects_valid_token(server, token):
    server.faults.inject("revoke")
    response = get_page(server, token)
    assert response.status_code == 401
    assert server.stats.faults_applied == {"revoke": 1}
    assert get_page(server, fetch_token(server)).status_code == 200


def test_token_endpoint_status_fault(server):
    server.faults.inject("status", endpoint="token", status=500)
    assert token_request(server).status_code == 500
    assert token_request(server).status_code == 200


def test_token_endpoint_rate_limit_fault(server):
    server.faults.inject("rate_limit", endpoint="token", retry_after="2")
    response = token_request(server)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"


def test_token_endpoint_reset_fault(server):
    server.faults.inject("reset", endpoint="token")
    with pytest.raises(requests.exceptions.ConnectionError):
        token_request(server)


def test_token_endpoint_invalid_json_fault(server):
    server.faults.inject("invalid_json", endpoint="token")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        token_request(server).json()


@pytest.mark.parametrize(
    ("style", "field", "value"),
    [
        ("string_expires_in", "expires_in", "3600"),
        ("lowercase_token_type", "token_type", "bearer"),
        ("omit_expires_in", "expires_in", None),
    ],
)
def test_token_style_fault(server, style, field, value):
    server.faults.inject("token_style", endpoint="token", style=style)
    assert token_request(server).json().get(field) == value
    assert token_request(server).json()["token_type"] == "Bearer"


def test_token_from_styled_response_works(server):
    server.faults.inject("token_style", endpoint="token", style="omit_expires_in")
    token = token_request(server).json()["access_token"]
    assert get_page(server, token).status_code == 200


@pytest.mark.parametrize(
    ("kind", "params", "endpoint"),
    [
        ("explode", {}, "bom"),
        ("status", {}, "bom"),
        ("status", {"status": 700}, "bom"),
        ("corrupt_record", {"mode": "shuffle"}, "bom"),
        ("null_cursor", {}, "token"),
        ("token_style", {"style": "standard"}, "bom"),
        ("status", {"status": 500}, "other"),
    ],
)
def test_invalid_fault_rejected(server, kind, params, endpoint):
    with pytest.raises(ValueError):
        server.faults.inject(kind, endpoint=endpoint, **params)


def test_unknown_fault_parameter_rejected(server):
    with pytest.raises(TypeError):
        server.faults.inject("reset", delay=1)


def test_every_fault_kind_covered():
    assert set(FAULT_KINDS) == {
        "status", "rate_limit", "slow_headers", "slow_body", "truncate", "reset",
        "invalid_json", "error_envelope", "null_cursor", "repeat_cursor", "oversize_page",
        "corrupt_record", "revoke", "token_style",
    }  # fmt: skip
