"""Specification of the sandbox: OAuth token endpoint, bearer auth, paging and rate limit.

Every test talks HTTPS to a real sandbox on loopback and verifies its certificate.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import time
import uuid
from urllib.parse import quote_plus

import pytest
import requests

from cranium_etl.sandbox import FIELD_ORDER, TOKEN_RESPONSE_STYLES

TIMEOUT = 10
# One session keeps connections alive between requests; each sandbox has its own port and so
# its own connection pool.
HTTP = requests.Session()


def token_request(server, *, auth="basic", data=None, headers=None, **overrides):
    """POST to the token endpoint with the server's credentials unless overridden."""
    config = server.config
    client_id = overrides.get("client_id", config.client_id)
    client_secret = overrides.get("client_secret", config.client_secret)
    form = {"grant_type": "client_credentials", "scope": config.scope}
    form.update(data or {})
    headers = dict(headers or {})
    if auth == "basic":
        pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif auth == "body":
        form.update(client_id=client_id, client_secret=client_secret)
    form = {k: v for k, v in form.items() if v is not None}
    return HTTP.post(
        server.token_url, data=form, headers=headers, verify=server.ca_bundle, timeout=TIMEOUT
    )


def fetch_token(server) -> str:
    response = token_request(server)
    response.raise_for_status()
    return response.json()["access_token"]


def get_page(server, token, url=None, **params):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return HTTP.get(
        url or server.bom_url,
        params=params,
        headers=headers,
        verify=server.ca_bundle,
        timeout=TIMEOUT,
    )


def read_feed(server, token, cursor=None, limit=50, between_pages=None):
    """Page through the feed from `cursor`; return (records in order, final cursor, pages)."""
    records, pages = [], 0
    while True:
        params = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = get_page(server, token, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        records.extend(body["data"])
        cursor = body["pagination"]["nextCursor"]
        pages += 1
        if not body["pagination"]["hasMore"]:
            return records, cursor, pages
        if between_pages is not None:
            between_pages()


def wait_for_window_start(window: float) -> None:
    """Sleep until just after the next rate window starts, so a burst stays in one window."""
    time.sleep(window - (time.time() % window) + 0.02)


# Token endpoint


def test_token_basic_auth_issues_bearer(sandbox):
    server = sandbox()
    response = token_request(server, auth="basic")
    body = response.json()
    assert response.status_code == 200
    assert list(body) == ["access_token", "token_type", "expires_in"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert response.headers["Cache-Control"] == "no-store"
    assert server.stats.requests()[-1].client_auth == "basic"


def test_token_body_auth_issues_bearer(sandbox):
    server = sandbox()
    response = token_request(server, auth="body")
    assert response.status_code == 200
    assert response.json()["access_token"]
    assert server.stats.requests()[-1].client_auth == "body"


@pytest.mark.parametrize("auth", ["basic", "body"])
def test_token_secret_with_reserved_characters(sandbox, auth):
    server = sandbox(client_id="tenant:a+b", client_secret="s+cr/t:%41= x")
    response = token_request(server, auth=auth)
    assert response.status_code == 200, response.text


def test_basic_without_form_encoding_rejected(sandbox):
    # RFC 6749 section 2.3.1: the values are form-urlencoded first, so a raw '+' means a space.
    server = sandbox(client_secret="s+cr/t:x")
    raw = base64.b64encode(f"{server.config.client_id}:s+cr/t:x".encode()).decode()
    response = token_request(server, auth=None, headers={"Authorization": f"Basic {raw}"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_wrong_secret_basic_gets_challenge(sandbox):
    server = sandbox()
    response = token_request(server, auth="basic", client_secret="wrong")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_wrong_secret_body_invalid_client(sandbox):
    server = sandbox()
    response = token_request(server, auth="body", client_secret="wrong")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "WWW-Authenticate" not in response.headers


def test_unknown_client_id_invalid_client(sandbox):
    server = sandbox()
    response = token_request(server, auth="body", client_id="someone-else")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_missing_credentials_invalid_client(sandbox):
    server = sandbox()
    response = token_request(server, auth=None)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_both_auth_methods_invalid_request(sandbox):
    server = sandbox()
    secret = server.config.client_secret
    response = token_request(server, auth="basic", data={"client_secret": secret})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_wrong_scope_invalid_scope(sandbox):
    server = sandbox()
    response = token_request(server, data={"scope": "https://id.cranium.ai/other/.default"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_missing_scope_invalid_request(sandbox):
    server = sandbox()
    response = token_request(server, data={"scope": None})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_password_grant_unsupported(sandbox):
    server = sandbox()
    response = token_request(server, data={"grant_type": "password"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_missing_grant_type_invalid_request(sandbox):
    server = sandbox()
    response = token_request(server, data={"grant_type": None})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_json_token_request_invalid_request(sandbox):
    server = sandbox()
    config = server.config
    response = requests.post(
        server.token_url,
        json={"grant_type": "client_credentials", "scope": config.scope},
        auth=(config.client_id, config.client_secret),
        verify=server.ca_bundle,
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_token_get_not_allowed(sandbox):
    server = sandbox()
    response = requests.get(server.token_url, verify=server.ca_bundle, timeout=TIMEOUT)
    assert response.status_code == 405


STYLE_CASES = [
    ("standard", {"token_type": "Bearer", "expires_in": 60}),
    ("omit_expires_in", {"token_type": "Bearer"}),
    ("string_expires_in", {"token_type": "Bearer", "expires_in": "60"}),
    ("lowercase_token_type", {"token_type": "bearer", "expires_in": 60}),
    ("uppercase_token_type", {"token_type": "BEARER", "expires_in": 60}),
]


@pytest.mark.parametrize(("style", "expected"), STYLE_CASES)
def test_token_response_styles(sandbox, style, expected):
    server = sandbox(token_lifetime=60, token_response_style=style)
    body = token_request(server).json()
    assert body.pop("access_token")
    assert body == expected


def test_token_response_styles_all_tested():
    assert {style for style, _ in STYLE_CASES} == set(TOKEN_RESPONSE_STYLES)


def test_token_requests_not_rate_limited(sandbox):
    server = sandbox(rate_limit=2, rate_window=3600)
    statuses = [token_request(server).status_code for _ in range(5)]
    assert statuses == [200] * 5
    assert server.stats.token_requests == 5
    assert server.stats.data_requests == 0


# Bearer authentication of the data endpoint


def test_missing_bearer_unauthorized(sandbox):
    server = sandbox()
    response = get_page(server, None)
    assert response.status_code == 401
    assert response.json()["statusCode"] == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_unknown_bearer_unauthorized(sandbox):
    server = sandbox()
    response = get_page(server, "not-a-token")
    assert response.status_code == 401
    assert response.json()["message"]


def test_token_expires_after_lifetime(sandbox):
    server = sandbox(token_lifetime=1)
    token = fetch_token(server)
    assert get_page(server, token).status_code == 200

    time.sleep(1.2)
    response = get_page(server, token)
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


def test_revoke_tokens_rejects_issued_tokens(sandbox):
    server = sandbox()
    token = fetch_token(server)
    server.revoke_tokens()
    assert get_page(server, token).status_code == 401
    assert get_page(server, fetch_token(server)).status_code == 200


def test_tokens_and_secret_never_logged(sandbox, caplog):
    caplog.set_level("DEBUG")
    server = sandbox(client_secret="very-secret-value")
    token = fetch_token(server)
    get_page(server, token)
    token_request(server, auth="body")
    recorded = caplog.text + json.dumps(server.stats.as_dict())
    assert token not in recorded
    assert "very-secret-value" not in recorded
    assert "very-secret-value" not in repr(server.config)


# Envelope and paging


def test_page_envelope_shape(sandbox):
    server = sandbox()
    body = get_page(server, fetch_token(server), limit=3).json()
    assert list(body) == ["data", "pagination", "meta", "error"]
    assert list(body["pagination"]) == ["limit", "nextCursor", "hasMore"]
    assert body["pagination"]["limit"] == 3
    assert uuid.UUID(body["meta"]["requestId"]).version == 4
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["meta"]["timestamp"])
    assert body["error"] is None
    assert [list(record) for record in body["data"]] == [list(FIELD_ORDER)] * 3


def test_default_limit_applies(sandbox):
    server = sandbox()
    body = get_page(server, fetch_token(server)).json()
    assert len(body["data"]) == server.config.default_limit
    assert body["pagination"]["limit"] == server.config.default_limit


def test_max_limit_accepted(sandbox):
    server = sandbox()
    response = get_page(server, fetch_token(server), limit=200)
    assert response.status_code == 200
    assert len(response.json()["data"]) == 200


def test_full_feed_equals_ground_truth(sandbox):
    server = sandbox()
    records, cursor, pages = read_feed(server, fetch_token(server), limit=50)
    assert pages == 6
    assert records == server.tenant.records()
    assert cursor is not None


def test_paging_while_changing_has_no_gaps(sandbox):
    server = sandbox()
    token = fetch_token(server)

    def change_tenant():
        server.tenant.update(5)
        server.tenant.add(2)

    records, _, _ = read_feed(server, token, limit=20, between_pages=change_tenant)
    versions = [json.dumps(record, sort_keys=True) for record in records]
    latest = {record["billOfMaterialsId"]: record for record in records}
    truth = {record["billOfMaterialsId"]: record for record in server.tenant.records()}
    assert len(versions) == len(set(versions))
    assert set(latest) == set(truth)
    assert latest == truth


def test_changed_record_moves_to_end(sandbox):
    server = sandbox()
    token = fetch_token(server)
    first = get_page(server, token, limit=10).json()
    changed_id = first["data"][0]["billOfMaterialsId"]
    server.tenant.update([changed_id])

    records, _, _ = read_feed(server, token, cursor=first["pagination"]["nextCursor"])
    assert records[-1]["billOfMaterialsId"] == changed_id
    assert records[-1]["updatedDate"] >= first["data"][0]["updatedDate"]


def test_cursor_returns_only_later_changes(sandbox):
    server = sandbox()
    token = fetch_token(server)
    _, cursor, _ = read_feed(server, token, limit=100)
    changed = set(server.tenant.update(3) + server.tenant.add(2))

    records, next_cursor, pages = read_feed(server, token, cursor=cursor)
    assert {record["billOfMaterialsId"] for record in records} == changed
    assert pages == 1
    assert next_cursor != cursor


def test_cursor_at_end_returns_empty_page(sandbox):
    server = sandbox()
    token = fetch_token(server)
    _, cursor, _ = read_feed(server, token, limit=200)
    body = get_page(server, token, cursor=cursor).json()
    assert body["data"] == []
    assert body["pagination"]["hasMore"] is False
    assert body["pagination"]["nextCursor"] == cursor


def test_empty_tenant_returns_start_cursor(sandbox):
    server = sandbox(bom_count=0)
    token = fetch_token(server)
    body = get_page(server, token).json()
    assert body["data"] == []
    assert body["pagination"]["nextCursor"]
    server.tenant.add(1)
    later = get_page(server, token, cursor=body["pagination"]["nextCursor"]).json()
    assert len(later["data"]) == 1


def test_empty_cursor_starts_from_beginning(sandbox):
    server = sandbox()
    token = fetch_token(server)
    without = get_page(server, token, limit=5).json()["data"]
    empty = get_page(server, token, limit=5, cursor="").json()["data"]
    assert empty == without


def test_deleted_records_leave_feed(sandbox):
    server = sandbox()
    deleted = set(server.tenant.delete(4))
    records, _, _ = read_feed(server, fetch_token(server), limit=200)
    served = {record["billOfMaterialsId"] for record in records}
    assert served.isdisjoint(deleted)
    assert server.tenant.deleted_ids() == deleted
    assert len(served) == 296


@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc", "1.5", "", "+5"])
def test_invalid_limit_rejected(sandbox, limit):
    server = sandbox()
    response = get_page(server, fetch_token(server), limit=limit)
    assert response.status_code == 400
    assert response.json()["statusCode"] == 400
    assert f"'{limit}'" in response.json()["message"]


def test_tampered_cursor_rejected(sandbox):
    server = sandbox()
    token = fetch_token(server)
    cursor = get_page(server, token, limit=5).json()["pagination"]["nextCursor"]
    body, tag = cursor.split(".")
    forged = base64.urlsafe_b64encode(b'{"updatedAt":null,"seq":1}').decode().rstrip("=")
    for bad in (f"{forged}.{tag}", cursor[:-2], "garbage", f"{body}."):
        response = get_page(server, token, cursor=bad)
        assert response.status_code == 400, bad
        assert response.json()["statusCode"] == 400


def test_cursor_from_other_sandbox_rejected(sandbox):
    first, second = sandbox(), sandbox()
    cursor = get_page(first, fetch_token(first), limit=5).json()["pagination"]["nextCursor"]
    response = get_page(second, fetch_token(second), cursor=cursor)
    assert response.status_code == 400


def test_unknown_query_parameters_ignored(sandbox):
    server = sandbox()
    response = get_page(server, fetch_token(server), limit=5, sort="name", filter="x")
    assert response.status_code == 200
    assert len(response.json()["data"]) == 5


def test_alias_path_serves_same_feed(sandbox):
    server = sandbox()
    token = fetch_token(server)
    alias = server.base_url + "/api/public/billofmaterials"
    assert (
        get_page(server, token, url=alias, limit=5).json()["data"]
        == (get_page(server, token, limit=5).json()["data"])
    )


def test_unknown_path_json_404(sandbox):
    server = sandbox()
    response = get_page(server, fetch_token(server), url=server.base_url + "/api/public/v1/nope")
    assert response.status_code == 404
    assert response.json()["statusCode"] == 404


# Rate limit


def test_quota_exhausted_returns_429(sandbox):
    server = sandbox(rate_limit=5, rate_window=2.0)
    token = fetch_token(server)
    wait_for_window_start(2.0)
    responses = [get_page(server, token, limit=1) for _ in range(6)]
    remaining = [r.headers["X-Rate-Limit-Remaining"] for r in responses]
    rejected = responses[-1]
    retry_after = rejected.headers["Retry-After"]
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    assert remaining == ["4", "3", "2", "1", "0", "0"]
    assert rejected.headers["X-Rate-Limit-Limit"] == "5"
    assert 1 <= int(retry_after) <= 2
    assert rejected.json() == {
        "statusCode": 429,
        "message": f"Rate limit is exceeded. Try again in {retry_after} seconds.",
    }


def test_quota_renews_after_retry_after(sandbox):
    server = sandbox(rate_limit=2, rate_window=1.0)
    token = fetch_token(server)
    wait_for_window_start(1.0)
    for _ in range(2):
        get_page(server, token, limit=1)
    rejected = get_page(server, token, limit=1)
    assert rejected.status_code == 429
    time.sleep(int(rejected.headers["Retry-After"]))
    assert get_page(server, token, limit=1).status_code == 200


def test_unauthorized_requests_not_counted(sandbox):
    server = sandbox(rate_limit=3, rate_window=2.0)
    token = fetch_token(server)
    wait_for_window_start(2.0)
    unauthorized = [get_page(server, "bad-token").status_code for _ in range(4)]
    authorized = [get_page(server, token, limit=1).status_code for _ in range(3)]
    assert unauthorized == [401] * 4
    assert authorized == [200] * 3


def test_rejected_requests_not_counted(sandbox):
    server = sandbox(rate_limit=2, rate_window=2.0)
    token = fetch_token(server)
    wait_for_window_start(2.0)
    statuses = [get_page(server, token, limit=1).status_code for _ in range(5)]
    assert statuses == [200, 200, 429, 429, 429]
    assert server.stats.rate_limited == 3
    assert server.stats.responses_by_status[200] == 3  # the token request and two pages


def test_reset_header_counts_whole_seconds(sandbox):
    server = sandbox(rate_window=60.0)
    response = get_page(server, fetch_token(server), limit=1)
    assert 1 <= int(response.headers["X-Rate-Limit-Reset"]) <= 60


def test_rate_limit_headers_can_be_omitted(sandbox):
    server = sandbox(rate_limit=1, rate_window=3600.0, rate_limit_headers=False)
    token = fetch_token(server)
    responses = [get_page(server, token, limit=1) for _ in range(2)]
    assert [r.status_code for r in responses] == [200, 429]
    for response in responses:
        assert not any(name.lower().startswith("x-rate-limit") for name in response.headers)
    assert responses[1].headers["Retry-After"]


def test_listener_is_tcp_so_asyncio_disables_nagle():
    from cranium_etl.sandbox.server import _bind

    listener = _bind("127.0.0.1", 0)
    try:
        assert listener.proto == socket.IPPROTO_TCP
    finally:
        listener.close()
