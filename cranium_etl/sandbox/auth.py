"""Client authentication at the token endpoint and bearer tokens for the data endpoints."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_plus

_EXPIRED_TOKEN_MEMORY = 600.0  # seconds


class OAuthError(Exception):
    """A token request rejected with an RFC 6749 section 5.2 error response."""

    def __init__(self, status: int, error: str, description: str, basic_used: bool = False):
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.basic_used = basic_used


@dataclass(frozen=True)
class ClientCredentials:
    """Client id and secret sent with a token request, and how they were sent."""

    client_id: str
    client_secret: str
    method: str  # "basic" or "body"

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, method={self.method!r})"


def decode_basic_credentials(header_value: str) -> tuple[str, str]:
    """Decode `Basic base64(id:secret)` as RFC 6749 section 2.3.1 defines it.

    The client form-urlencodes the id and the secret before base64, so after the split at the
    first colon each part is form-urldecoded. A colon or a plus sign inside a value survives.
    """
    scheme, _, encoded = header_value.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise OAuthError(
            400, "invalid_request", "Authorization header is not Basic credentials", True
        )
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise OAuthError(
            400, "invalid_request", "Basic credentials are not valid base64 of UTF-8 text", True
        ) from error
    if ":" not in decoded:
        raise OAuthError(400, "invalid_request", "Basic credentials contain no ':'", True)
    client_id, _, client_secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(client_secret)


def read_client_credentials(
    authorization: str | None, form: dict[str, str]
) -> ClientCredentials | None:
    """Return the credentials of a token request, or None when it sent none.

    Raise OAuthError(invalid_request) when the request uses Basic and also sends a client
    secret in the body, or names a different client_id in the body; RFC 6749 section 2.3
    allows one authentication method per request.
    """
    if authorization is not None and authorization.strip().lower().startswith("basic"):
        client_id, client_secret = decode_basic_credentials(authorization)
        if "client_secret" in form:
            raise OAuthError(
                400,
                "invalid_request",
                "client authenticated with both Basic and client_secret in the body; use one",
                basic_used=True,
            )
        if "client_id" in form and form["client_id"] != client_id:
            raise OAuthError(
                400,
                "invalid_request",
                "client_id in the body differs from the Basic credentials",
                basic_used=True,
            )
        return ClientCredentials(client_id, client_secret, "basic")

    if "client_id" in form or "client_secret" in form:
        return ClientCredentials(form.get("client_id", ""), form.get("client_secret", ""), "body")
    return None


def credentials_match(credentials: ClientCredentials, client_id: str, client_secret: str) -> bool:
    """Compare in constant time so that timing reveals nothing about the secret."""
    id_ok = hmac.compare_digest(credentials.client_id.encode(), client_id.encode())
    secret_ok = hmac.compare_digest(credentials.client_secret.encode(), client_secret.encode())
    return id_ok and secret_ok


class TokenStore:
    """Issued bearer tokens and their expiry on the server's monotonic clock.

    Only SHA-256 digests of the tokens are kept, so the store never contains a usable token.
    """

    def __init__(self, lifetime: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry_by_digest: dict[bytes, float] = {}
        self.issued_count = 0
        self.revocation_count = 0

    def issue(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._drop_expired()
            self._expiry_by_digest[self._digest(token)] = self._clock() + self.lifetime
            self.issued_count += 1
        return token

    def check(self, token: str) -> str | None:
        """Return None if `token` is valid, else why it is not ("unknown" or "expired")."""
        with self._lock:
            expiry = self._expiry_by_digest.get(self._digest(token))
            if expiry is None:
                return "unknown"
            if self._clock() >= expiry:
                return "expired"
            return None

    def revoke_all(self) -> None:
        with self._lock:
            self._expiry_by_digest.clear()
            self.revocation_count += 1

    def _drop_expired(self) -> None:
        # Entries stay for a while after expiry so that a late request reads "expired".
        horizon = self._clock() - _EXPIRED_TOKEN_MEMORY
        expired = [d for d, expiry in self._expiry_by_digest.items() if expiry <= horizon]
        for digest in expired:
            del self._expiry_by_digest[digest]

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
