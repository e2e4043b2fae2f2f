"""HTTP plumbing shared by token and data requests: sessions, body reading, request ids."""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3.exceptions
from oauthlib.oauth2 import BackendApplicationClient
from requests.adapters import HTTPAdapter
from requests_oauthlib import OAuth2Session

from .config import ClientConfig

REQUEST_ID_HEADERS = ("X-Request-Id", "X-Ms-Request-Id", "Request-Id", "X-Correlation-Id")

# Connection and read failures after which the same request may succeed.
TRANSIENT_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)

_READ_SIZE = 64 * 1024


class BodyTimeout(Exception):
    """Reading a response body took longer than `body_timeout`."""


class _PlainHttpLoopbackAdapter(HTTPAdapter):
    """Send requests addressed to https://<loopback>:<port> over plain http.

    oauthlib rejects any URL that does not start with https:// unless the process-wide
    OAUTHLIB_INSECURE_TRANSPORT variable is set. With `allow_insecure_loopback` the client
    gives oauthlib the https:// spelling of a loopback http:// URL, and this adapter, mounted
    only on that scheme, host and port of one session, switches it back when sending.
    """

    def send(self, request, **kwargs):
        request.url = "http://" + request.url.removeprefix("https://")
        return super().send(request, **kwargs)


def oauth_url(url: str, config: ClientConfig) -> str:
    """Return the spelling of `url` given to requests-oauthlib (https:// for allowed loopback)."""
    if config.allow_insecure_loopback and url.startswith("http://"):
        return "https://" + url.removeprefix("http://")
    return url


def new_oauth_session(config: ClientConfig) -> OAuth2Session:
    """Create an OAuth2Session on a BackendApplicationClient (client credentials grant)."""
    client = BackendApplicationClient(client_id=config.client_id, scope=config.scope)
    session = OAuth2Session(client=client, scope=config.scope)
    session.verify = config.ca_bundle or True
    # With trust_env, requests lets REQUESTS_CA_BUNDLE replace `verify=True` and reads proxies
    # from the environment; the config alone decides both.
    session.trust_env = False
    if config.https_proxy:
        session.proxies = {"https": config.https_proxy, "http": config.https_proxy}
    session.headers["User-Agent"] = config.user_agent
    session.headers["Accept"] = "application/json"

    for url in (config.base_url, config.token_url):
        if not (config.allow_insecure_loopback and url.startswith("http://")):
            continue
        parts = urlsplit(oauth_url(url, config))
        prefix = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        session.mount(prefix, _PlainHttpLoopbackAdapter())
    return session


def read_body(response: requests.Response, timeout: float) -> bytes:
    """Read a streamed response body, raising BodyTimeout after `timeout` seconds in total.

    Each socket read is bounded by the read timeout of the request. `read1` returns after one
    read with whatever arrived, so a body sent a few bytes at a time cannot stretch a read past
    the deadline check.
    """
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    raw = response.raw
    try:
        while True:
            chunk = raw.read1(_READ_SIZE, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise BodyTimeout(f"response body not complete after {timeout:.0f} s")
    except BaseException:
        response.close()
        raise

    # The body was read to its end, so the connection can serve the next request.
    raw.release_conn()
    return b"".join(chunks)


def find_request_id(headers: Mapping[str, str], body: object = None) -> str | None:
    """Return the request id from the body's `meta.requestId` or a request-id header."""
    if isinstance(body, dict):
        meta = body.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("requestId"), str):
            return meta["requestId"]
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def ca_bundle_in_use(config: ClientConfig) -> str:
    return config.ca_bundle or f"the certifi CA bundle ({requests.certs.where()})"


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


def _causes(error: BaseException) -> Iterator[BaseException]:
    """Yield `error` and the exceptions it wraps: causes, contexts, urllib3 reasons, args."""
    pending = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked.extend(current.args)
        pending.extend(item for item in linked if isinstance(item, BaseException))


def certificate_failure(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """Return the certificate verification failure inside `error`, if that is what it is.

    Other TLS errors, such as a connection closed during the handshake, are transient.
    """
    for cause in _causes(error):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause
    return None


def describe_transport_error(error: BaseException) -> str:
    """Return a one-line description of a connection or read failure.

    requests wraps the failure that happened in layers ("Max retries exceeded ... Caused by");
    the innermost exception names it best.
    """
    innermost = error
    for cause in _causes(error):
        innermost = cause
    if isinstance(innermost, ssl.SSLCertVerificationError):
        detail = innermost.verify_message or str(innermost)
    else:
        detail = str(innermost).split("\n")[0]
    if len(detail) > 300:
        detail = detail[:300] + "..."
    name = type(innermost).__name__
    return f"{name}: {detail}" if detail else name
