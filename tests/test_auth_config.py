"""Settings checks before any request, and transport security."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading

import pytest
import trustme
from test_client_support import client_config, fetch_records

from cranium_etl.api import (
    CertificateVerificationError,
    ClientConfig,
    ConfigurationError,
    CraniumClient,
)

VALID = {
    "client_id": "client",
    "client_secret": "secret",
    "scope": "https://id.cranium.ai/api/.default",
    "token_url": "https://api.cranium.ai/oauth2/v2.0/token",
    "base_url": "https://api.cranium.ai",
}


@pytest.mark.parametrize(
    "field,variable",
    [
        ("client_id", "CRANIUM_CLIENT_ID"),
        ("client_secret", "CRANIUM_CLIENT_SECRET"),
        ("scope", "CRANIUM_SCOPE"),
        ("base_url", "CRANIUM_BASE_URL"),
        ("token_url", "CRANIUM_TOKEN_URL"),
    ],
)
@pytest.mark.parametrize("value", ["", "   "])
def test_missing_setting_names_variable(field, variable, value):
    with pytest.raises(ConfigurationError) as raised:
        ClientConfig(**{**VALID, field: value})

    assert raised.value.variable == variable
    assert variable in str(raised.value)


@pytest.mark.parametrize(
    "field,variable", [("base_url", "CRANIUM_BASE_URL"), ("token_url", "CRANIUM_TOKEN_URL")]
)
def test_plain_http_rejected(field, variable):
    with pytest.raises(ConfigurationError) as raised:
        ClientConfig(**{**VALID, field: "http://api.cranium.ai/x"})

    assert raised.value.variable == variable
    assert "https" in str(raised.value)


def test_plain_http_remote_host_rejected():
    with pytest.raises(ConfigurationError):
        ClientConfig(**{**VALID, "base_url": "http://10.0.0.8:8080"}, allow_insecure_loopback=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.0.0.5"])
def test_plain_http_loopback_accepted_when_allowed(host):
    config = ClientConfig(
        **{**VALID, "base_url": f"http://{host}:8080", "token_url": f"http://{host}:8080/t"},
        allow_insecure_loopback=True,
    )
    assert config.base_url == f"http://{host}:8080"


def test_plain_http_loopback_rejected_by_default():
    with pytest.raises(ConfigurationError):
        ClientConfig(**{**VALID, "base_url": "http://127.0.0.1:8080"})


@pytest.mark.parametrize("page_size", [0, 201, -1])
def test_page_size_out_of_range_rejected(page_size):
    with pytest.raises(ConfigurationError) as raised:
        ClientConfig(**VALID, page_size=page_size)

    assert "page_size" in str(raised.value)


@pytest.mark.parametrize("page_size", [1, 200])
def test_page_size_bounds_accepted(page_size):
    assert ClientConfig(**VALID, page_size=page_size).page_size == page_size


def test_unknown_auth_style_rejected():
    with pytest.raises(ConfigurationError):
        ClientConfig(**VALID, auth_style="digest")


def test_missing_ca_bundle_file_rejected(tmp_path):
    with pytest.raises(ConfigurationError) as raised:
        ClientConfig(**VALID, ca_bundle=str(tmp_path / "absent.pem"))

    assert raised.value.variable == "CRANIUM_CA_BUNDLE"


def test_config_repr_masks_secret():
    config = ClientConfig(**{**VALID, "client_secret": "hunter2-unique"})
    assert "hunter2-unique" not in repr(config)
    assert config.client_secret.reveal() == "hunter2-unique"


def test_from_env_reads_cranium_variables():
    environ = {
        "CRANIUM_CLIENT_ID": "client",
        "CRANIUM_CLIENT_SECRET": "secret",
        "CRANIUM_SCOPE": "scope",
        "CRANIUM_BASE_URL": "https://api.cranium.ai/",
        "CRANIUM_TOKEN_URL": "https://api.cranium.ai/oauth2/v2.0/token",
    }
    config = ClientConfig.from_env(environ, page_size=50)
    assert config.client_id == "client"
    assert config.base_url == "https://api.cranium.ai"
    assert config.page_size == 50


def test_from_env_names_missing_variable():
    with pytest.raises(ConfigurationError) as raised:
        ClientConfig.from_env({"CRANIUM_CLIENT_ID": "client"})

    assert raised.value.variable == "CRANIUM_CLIENT_SECRET"


def test_unknown_ca_names_host_and_bundle(sandbox, tmp_path):
    server = sandbox(bom_count=10)
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    with CraniumClient(client_config(server, ca_bundle=str(other_ca))) as client:
        with pytest.raises(CertificateVerificationError) as raised:
            fetch_records(client)

    message = str(raised.value)
    assert f"127.0.0.1:{server.port}" in message
    assert str(other_ca) in message
    assert raised.value.ca_bundle == str(other_ca)
    assert server.stats.token_requests == 0


def test_default_ca_store_named_in_failure(sandbox):
    server = sandbox(bom_count=10)
    with CraniumClient(client_config(server, ca_bundle=None)) as client:
        with pytest.raises(CertificateVerificationError) as raised:
            fetch_records(client)

    assert "certifi" in str(raised.value)


class PlainToTlsForwarder:
    """A plain-TCP listener on loopback that relays each connection to a TLS server.

    It gives the sandbox, which serves HTTPS only, a plain http:// address.
    """

    def __init__(self, host: str, port: int, ca_bundle: str) -> None:
        self._target = (host, port)
        self._context = ssl.create_default_context(cafile=ca_bundle)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                plain, _ = self._listener.accept()
            except OSError:
                return
            upstream = self._context.wrap_socket(
                socket.create_connection(self._target), server_hostname=self._target[0]
            )
            threading.Thread(target=self._pump, args=(plain, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, plain), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.close()


def test_plain_http_loopback_used_when_allowed(sandbox):
    server = sandbox(bom_count=30)
    forwarder = PlainToTlsForwarder("127.0.0.1", server.port, server.ca_bundle)
    plain_base = f"http://127.0.0.1:{forwarder.port}"
    config = client_config(
        server,
        base_url=plain_base,
        token_url=plain_base + server.config.token_path,
        allow_insecure_loopback=True,
        page_size=10,
    )
    try:
        with CraniumClient(config) as client:
            records, _ = fetch_records(client)
    finally:
        forwarder.close()

    assert len(records) == 30
    assert server.stats.token_requests == 1
    assert "OAUTHLIB_INSECURE_TRANSPORT" not in os.environ
