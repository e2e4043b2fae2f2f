"""The client secret and bearer tokens never reach logs, messages or reprs."""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote_plus

import pytest
from test_client_support import client_config, fetch_records

from cranium_etl.api import ApiError, AuthenticationError, CraniumClient, RetriesExhausted
from cranium_etl.api.redaction import MASK, Redactor, Secret

SECRET = "Leak+Me/If:You%Can= 7f3a"


def secret_spellings(client_id: str) -> list[str]:
    """Return the secret as it travels: raw, form-urlencoded and inside the Basic header."""
    encoded = quote_plus(SECRET, safe="")
    basic = base64.b64encode(f"{quote_plus(client_id, safe='')}:{encoded}".encode()).decode()
    return [SECRET, encoded, basic]


def captured_text(caplog) -> str:
    lines = [caplog.text]
    lines.extend(record.getMessage() for record in caplog.records)
    return "\n".join(lines)


@pytest.mark.parametrize("auth_style", ["basic", "body"])
def test_full_sync_leaks_no_secret_or_token(sandbox, caplog, auth_style):
    server = sandbox(bom_count=60, client_secret=SECRET)
    server.faults.inject("revoke", skip=1)
    server.faults.inject("rate_limit", retry_after="0.1", skip=2)
    server.faults.inject("status", status=503, skip=3)
    server.faults.inject("status", status=503, endpoint="token", times=1, skip=1)
    caplog.set_level(logging.DEBUG)

    config = client_config(server, client_secret=SECRET, auth_style=auth_style, page_size=10)
    tokens: set[str] = set()
    texts = [repr(config), str(config)]
    with CraniumClient(config) as client:
        for page in client.iter_bill_of_materials():
            tokens.add(client._tokens._token.value)
            texts.append(repr(page))
        texts.extend([repr(client), repr(client.stats), str(client.stats.as_dict())])

    texts.append(captured_text(caplog))
    everything = "\n".join(texts)
    assert len(tokens) == 2
    assert any(record.name.startswith("urllib3") for record in caplog.records)
    for spelling in secret_spellings(server.config.client_id):
        assert spelling not in everything
    for token in tokens:
        assert token not in everything
    assert "Bearer " not in everything


def test_errors_leak_no_secret(sandbox, caplog):
    server = sandbox(bom_count=10, client_secret=SECRET)
    caplog.set_level(logging.DEBUG)
    texts = []

    wrong = client_config(server, client_secret=SECRET + "-wrong", auth_style="body")
    with CraniumClient(wrong) as client:
        with pytest.raises(AuthenticationError) as rejected:
            fetch_records(client)
    texts.extend([str(rejected.value), repr(rejected.value)])

    server.faults.inject("status", status=403, body={"statusCode": 403, "message": "Forbidden"})
    with CraniumClient(client_config(server, client_secret=SECRET)) as client:
        with pytest.raises(ApiError) as forbidden:
            fetch_records(client)
        server.faults.inject("reset", times=None)
        with pytest.raises(RetriesExhausted) as exhausted:
            fetch_records(client)
    texts.extend([str(forbidden.value), repr(forbidden.value)])
    texts.extend([str(exhausted.value), repr(exhausted.value)])
    texts.append(captured_text(caplog))

    everything = "\n".join(texts)
    for spelling in secret_spellings(server.config.client_id):
        assert spelling not in everything
    assert SECRET + "-wrong" not in everything


def test_server_message_echoing_secret_is_redacted(sandbox):
    server = sandbox(bom_count=10, client_secret=SECRET)
    body = {"statusCode": 403, "message": f"client_secret {SECRET} is not allowed here"}
    server.faults.inject("status", status=403, body=body)
    with CraniumClient(client_config(server, client_secret=SECRET)) as client:
        with pytest.raises(ApiError) as raised:
            fetch_records(client)

    assert SECRET not in str(raised.value)
    assert MASK in raised.value.message


def test_oauth_library_debug_records_dropped(sandbox, caplog):
    server = sandbox(bom_count=10)
    caplog.set_level(logging.DEBUG)
    with CraniumClient(client_config(server)) as client:
        fetch_records(client)

    library = [
        r for r in caplog.records if r.name.split(".")[0] in ("requests_oauthlib", "oauthlib")
    ]
    assert library == []


def test_oauth_library_warnings_redacted(sandbox, caplog):
    server = sandbox(bom_count=10, client_secret=SECRET)
    with CraniumClient(client_config(server, client_secret=SECRET)):
        logging.getLogger("requests_oauthlib.oauth2_session").warning("body was %s", SECRET)
        logging.getLogger("oauthlib").warning("Authorization: Bearer abc.def")

    assert SECRET not in caplog.text
    assert "abc.def" not in caplog.text
    assert caplog.text.count(MASK) == 2


def test_secret_repr_is_masked():
    secret = Secret(SECRET)
    assert SECRET not in repr(secret)
    assert SECRET not in str(secret)
    assert SECRET not in f"{secret}"
    assert secret.reveal() == SECRET


def test_redactor_masks_registered_values():
    redactor = Redactor(SECRET)
    redactor.add("tok-123")
    text = redactor.redact(f"a {SECRET} b {quote_plus(SECRET, safe='')} c tok-123")
    assert text == f"a {MASK} b {MASK} c {MASK}"
