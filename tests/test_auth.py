"""Tokens against the sandbox: caching, renewal, 401 handling, token endpoint errors."""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qs

import pytest
from test_client_support import client_config, fetch_records

from cranium_etl.api import (
    AuthenticationError,
    CraniumClient,
    ResponseError,
    RetriesExhausted,
)
from cranium_etl.sandbox import TOKEN_RESPONSE_STYLES

SPECIAL_SECRET = "s3c+r/e:t%20=x y"


def test_token_cached_across_pages(sandbox):
    server = sandbox(bom_count=300)
    with CraniumClient(client_config(server, page_size=20)) as client:
        fetch_records(client)

    assert client.stats.pages == 15
    assert client.stats.token_requests == 1
    assert server.stats.token_requests == 1


def test_token_fetched_at_first_use(sandbox):
    server = sandbox(bom_count=10)
    with CraniumClient(client_config(server)):
        pass

    assert server.stats.token_requests == 0


def test_token_renewed_when_margin_reached(sandbox):
    server = sandbox(bom_count=60, token_lifetime=2)
    config = client_config(server, page_size=10, token_renew_margin=1.0)
    with CraniumClient(config) as client:
        pages = client.iter_bill_of_materials()
        next(pages)
        next(pages)
        assert server.stats.token_requests == 1

        time.sleep(1.1)
        next(pages)

    assert server.stats.token_requests == 2
    assert client.stats.unauthorized == 0


def test_short_lived_token_renewed_each_request(sandbox):
    server = sandbox(bom_count=30, token_lifetime=62)
    with CraniumClient(client_config(server, page_size=10, token_renew_margin=62.5)) as client:
        fetch_records(client)

    assert server.stats.token_requests == 3
    assert client.stats.unauthorized == 0


def test_renewal_keeps_scope(sandbox):
    # The sandbox rejects a token request without the configured scope (invalid_scope), so a
    # second token only arrives when the renewal sends the scope again.
    server = sandbox(bom_count=30, token_lifetime=62)
    config = client_config(server, page_size=10, token_renew_margin=62.5)
    with CraniumClient(config) as client:
        records, _ = fetch_records(client)

    assert len(records) == 30
    assert server.stats.tokens_issued == 3


@pytest.mark.parametrize("style", TOKEN_RESPONSE_STYLES)
def test_token_response_variants_accepted(sandbox, style):
    server = sandbox(bom_count=10, token_response_style=style)
    with CraniumClient(client_config(server)) as client:
        records, _ = fetch_records(client)

    assert len(records) == 10


def test_missing_expires_in_assumes_default(sandbox, caplog):
    server = sandbox(bom_count=10, token_response_style="omit_expires_in")
    caplog.set_level("INFO", logger="cranium_etl.api")
    with CraniumClient(client_config(server)) as client:
        fetch_records(client)

    assert "token response has no expires_in; assuming 3600 s" in caplog.text


@pytest.mark.parametrize("auth_style", ["basic", "body"])
def test_special_character_secret_accepted(sandbox, auth_style):
    server = sandbox(bom_count=10, client_secret=SPECIAL_SECRET)
    config = client_config(server, auth_style=auth_style)
    with CraniumClient(config) as client:
        records, _ = fetch_records(client)

    token_requests = [entry for entry in server.stats.requests() if entry.endpoint == "token"]
    assert len(records) == 10
    assert [entry.client_auth for entry in token_requests] == [auth_style]


def test_revoked_token_renewed_and_retried_once(sandbox):
    server = sandbox(bom_count=30)
    server.faults.inject("revoke", skip=1)
    with CraniumClient(client_config(server, page_size=10)) as client:
        records, _ = fetch_records(client)

    assert len(records) == 30
    assert client.stats.unauthorized == 1
    assert client.stats.token_requests == 2
    assert server.stats.token_requests == 2


def test_second_401_raises_authentication_error(sandbox):
    server = sandbox(bom_count=30)
    server.faults.inject("revoke", times=2)
    with CraniumClient(client_config(server)) as client:
        with pytest.raises(AuthenticationError) as raised:
            fetch_records(client)

    message = str(raised.value)
    assert raised.value.status == 401
    assert "CRANIUM_CLIENT_ID" in message
    assert "CRANIUM_CLIENT_SECRET" in message
    assert "CRANIUM_SCOPE" in message
    assert server.stats.token_requests == 2
    assert server.stats.data_requests == 2


def test_wrong_secret_names_credential_variables(sandbox):
    server = sandbox(bom_count=10)
    with CraniumClient(client_config(server, client_secret="wrong")) as client:
        with pytest.raises(AuthenticationError) as raised:
            fetch_records(client)

    message = str(raised.value)
    assert raised.value.error_code == "invalid_client"
    assert "CRANIUM_CLIENT_ID" in message
    assert "CRANIUM_CLIENT_SECRET" in message
    assert server.stats.token_requests == 1
    assert server.stats.data_requests == 0


def test_wrong_scope_names_scope_variable(sandbox):
    server = sandbox(bom_count=10)
    with CraniumClient(client_config(server, scope="https://other/.default")) as client:
        with pytest.raises(AuthenticationError) as raised:
            fetch_records(client)

    assert raised.value.error_code == "invalid_scope"
    assert "CRANIUM_SCOPE" in str(raised.value)
    assert server.stats.token_requests == 1


def test_unsupported_grant_type_fails_fast(sandbox):
    server = sandbox(bom_count=10)
    body = {"error": "unsupported_grant_type", "error_description": "grant not enabled"}
    server.faults.inject("status", endpoint="token", status=400, body=body, times=None)
    with CraniumClient(client_config(server)) as client:
        with pytest.raises(AuthenticationError) as raised:
            fetch_records(client)

    assert raised.value.error_code == "unsupported_grant_type"
    assert "CRANIUM_TOKEN_URL" in str(raised.value)
    assert server.stats.token_requests == 1


def test_credentials_rejected_on_renewal_fail_fast(sandbox):
    server = sandbox(bom_count=30)
    with CraniumClient(client_config(server, page_size=10)) as client:
        pages = client.iter_bill_of_materials()
        next(pages)
        server.revoke_tokens()
        body = {"error": "invalid_client", "error_description": "client disabled"}
        server.faults.inject("status", endpoint="token", status=401, body=body, times=None)
        with pytest.raises(AuthenticationError) as raised:
            next(pages)

    assert raised.value.error_code == "invalid_client"
    assert server.stats.token_requests == 2


@pytest.mark.parametrize(
    "kind,params",
    [
        ("status", {"status": 503}),
        ("status", {"status": 500}),
        ("reset", {}),
        ("rate_limit", {"retry_after": "0"}),
    ],
)
def test_token_endpoint_failures_retried(sandbox, kind, params):
    server = sandbox(bom_count=10)
    server.faults.inject(kind, endpoint="token", times=2, **params)
    with CraniumClient(client_config(server)) as client:
        records, _ = fetch_records(client)

    assert len(records) == 10
    assert server.stats.token_requests == 3
    assert client.stats.retries == 2


def test_token_endpoint_outage_exhausts_retries(sandbox):
    server = sandbox(bom_count=10)
    server.faults.inject("status", endpoint="token", status=503, times=None)
    with CraniumClient(client_config(server, max_retries=2)) as client:
        with pytest.raises(RetriesExhausted) as raised:
            fetch_records(client)

    assert raised.value.last_status == 503
    assert raised.value.attempts == 3
    assert server.stats.token_requests == 3


def test_token_response_invalid_json_retried(sandbox):
    server = sandbox(bom_count=20)
    server.faults.inject("invalid_json", endpoint="token", times=1)
    with CraniumClient(client_config(server)) as client:
        records, _ = fetch_records(client)

    assert len(records) == 20
    assert server.stats.token_requests == 2


def test_token_response_invalid_json_fails_bounded(sandbox):
    server = sandbox(bom_count=20)
    server.faults.inject("invalid_json", endpoint="token", times=None)
    with CraniumClient(client_config(server, max_invalid_response_retries=2)) as client:
        with pytest.raises(ResponseError, match="not a JSON object"):
            fetch_records(client)

    assert server.stats.token_requests == 3
    assert server.stats.data_requests == 0


def test_concurrent_first_use_fetches_one_token(sandbox):
    server = sandbox(bom_count=100)
    errors: list[BaseException] = []
    with CraniumClient(client_config(server, page_size=10)) as client:
        start = threading.Barrier(8)

        def first_page() -> None:
            try:
                start.wait()
                next(client.iter_bill_of_materials())
            except BaseException as error:  # noqa: BLE001 (reported by the assert below)
                errors.append(error)

        threads = [threading.Thread(target=first_page) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    assert server.stats.data_requests == 8
    assert server.stats.token_requests == 1


def test_concurrent_renewal_fetches_one_token(sandbox):
    server = sandbox(bom_count=100, token_lifetime=2)
    errors: list[BaseException] = []
    config = client_config(server, page_size=10, token_renew_margin=1.0)
    with CraniumClient(config) as client:
        next(client.iter_bill_of_materials())
        time.sleep(1.1)
        start = threading.Barrier(8)

        def first_page() -> None:
            try:
                start.wait()
                next(client.iter_bill_of_materials())
            except BaseException as error:  # noqa: BLE001 (reported by the assert below)
                errors.append(error)

        threads = [threading.Thread(target=first_page) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    assert server.stats.token_requests == 2
    assert client.stats.unauthorized == 0


@pytest.mark.parametrize("auth_style", ["basic", "body"])
def test_renewal_repeats_scope_and_token_params(sandbox, auth_style):
    server = sandbox(bom_count=30, token_lifetime=62)
    config = client_config(
        server,
        page_size=10,
        auth_style=auth_style,
        token_renew_margin=62.5,
        token_params={"audience": "cranium-api"},
    )
    sent: list[dict[str, list[str]]] = []
    with CraniumClient(config) as client:
        # Observes the token request bodies as they went over the wire.
        client._tokens._session.hooks["response"].append(
            lambda response, **_: sent.append(parse_qs(response.request.body))
        )
        fetch_records(client)

    assert len(sent) == 3
    for form in sent:
        assert form["grant_type"] == ["client_credentials"]
        assert form["scope"] == [server.config.scope]
        assert form["audience"] == ["cranium-api"]
