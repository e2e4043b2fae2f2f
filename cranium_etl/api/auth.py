"""Client-credentials tokens: fetched on first use, cached, renewed before they expire."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from oauthlib.oauth2 import OAuth2Error

from .client_auth import ERROR_HINTS, FormEncodedBasicAuth
from .config import ClientConfig
from .errors import (
    AuthenticationError,
    CertificateVerificationError,
    RateLimitWaitTooLong,
    ResponseError,
    RetriesExhausted,
)
from .ratelimit import Backoff, RetryBudget, parse_retry_after
from .redaction import Redactor
from .stats import RequestStats
from .transport import (
    TRANSIENT_TRANSPORT_ERRORS,
    ca_bundle_in_use,
    certificate_failure,
    describe_transport_error,
    find_request_id,
    host_of,
    new_oauth_session,
    oauth_url,
)


@dataclass(frozen=True)
class AccessToken:
    """A bearer token, its expiry on `time.monotonic()` and its position in the renewal order."""

    value: str = field(repr=False)
    expires_at: float
    generation: int


class _TransientTokenFailure(Exception):
    def __init__(
        self,
        status: int | None,
        message: str,
        retry_after: float | None = None,
        invalid_body: ResponseError | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
        # Set for a 200 response whose body is not JSON: retried like the data endpoint's,
        # at most max_invalid_response_retries times, then raised.
        self.invalid_body = invalid_body


class TokenSource:
    """Fetch client-credentials tokens through requests-oauthlib and cache them.

    `current()` returns a token with more than `token_renew_margin` seconds left, fetching a new
    one under a lock, so concurrent callers that find the token expiring send one request. There
    is no refresh token in this grant: renewal repeats the token request with the same client id,
    secret, scope and `token_params`. `on_token(token)` is called under the lock after each fetch.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        redactor: Redactor,
        stats: RequestStats,
        logger: logging.Logger,
        on_token: Callable[[AccessToken], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._redactor = redactor
        self._stats = stats
        self._logger = logger
        self._on_token = on_token
        self._sleep = sleep
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._generation = 0
        self._received: tuple[str, float] | None = None
        self._warned_short_lifetime = False
        self._backoff = Backoff(config.backoff_initial, config.backoff_max)

        self._session = new_oauth_session(config)
        self._session.register_compliance_hook("access_token_response", self._check_response)
        self._token_url = oauth_url(config.token_url, config)
        if config.auth_style == "basic":
            basic = FormEncodedBasicAuth(config.client_id, config.client_secret)
            self._redactor.add(basic.header_value().removeprefix("Basic "))
            self._auth: FormEncodedBasicAuth | None = basic
        else:
            self._auth = None

    def current(self) -> AccessToken:
        """Return a token valid for more than the renewal margin, fetching one if needed."""
        with self._lock:
            token = self._token
            margin = self._config.token_renew_margin
            if token is None or token.expires_at - time.monotonic() < margin:
                token = self._fetch_with_retries()
            return token

    def renew(self, rejected: AccessToken) -> AccessToken:
        """Replace a token that the API rejected, unless another thread already replaced it."""
        with self._lock:
            if self._token is not None and self._token.generation != rejected.generation:
                return self._token
            return self._fetch_with_retries()

    def close(self) -> None:
        self._session.close()

    def _fetch_with_retries(self) -> AccessToken:
        budget = RetryBudget(self._config.max_retries, self._config.max_total_wait)
        invalid_bodies_left = self._config.max_invalid_response_retries
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._fetch_once()
            except _TransientTokenFailure as failure:
                if failure.invalid_body is not None:
                    if invalid_bodies_left <= 0:
                        raise failure.invalid_body from None
                    invalid_bodies_left -= 1
                wait = failure.retry_after or self._backoff.delay(attempt)
                if failure.status == 429 and wait > self._config.max_inline_wait:
                    raise RateLimitWaitTooLong(wait, self._config.max_inline_wait) from None
                refusal = budget.refusal(wait)
                if refusal is not None:
                    raise RetriesExhausted(
                        url=self._config.token_url,
                        attempts=attempt,
                        waited_seconds=budget.waited,
                        last_status=failure.status,
                        last_message=failure.message,
                        reason=refusal,
                    ) from None

                status = f"HTTP {failure.status}" if failure.status else "no response"
                self._logger.warning(
                    "token request failed (%s: %s), retrying in %.1f s (retry %d of %d)",
                    status,
                    failure.message,
                    wait,
                    budget.retries + 1,
                    budget.max_retries,
                )
                self._sleep(wait)
                budget.spend(wait)
                self._stats.add(retries=1, wait_seconds=wait)

    def _fetch_once(self) -> AccessToken:
        config = self._config
        arguments: dict = dict(config.token_params)
        if self._auth is not None:
            arguments.update(auth=self._auth, include_client_id=False)
        else:
            arguments.update(include_client_id=True, client_secret=config.client_secret.reveal())

        self._received = None
        started = time.monotonic()
        self._stats.add(token_requests=1)
        try:
            self._session.fetch_token(
                self._token_url,
                timeout=(config.connect_timeout, config.read_timeout),
                verify=config.ca_bundle or True,
                **arguments,
            )
        except TRANSIENT_TRANSPORT_ERRORS as error:
            if certificate_failure(error) is not None:
                raise CertificateVerificationError(
                    host_of(config.token_url),
                    ca_bundle_in_use(config),
                    describe_transport_error(error),
                ) from None
            raise _TransientTokenFailure(None, describe_transport_error(error)) from None
        except OAuth2Error as error:
            # The response hook maps error responses, so this is a 200 response that oauthlib
            # rejected.
            raise ResponseError(
                self._redactor.redact(f"token response rejected by oauthlib: {error}"),
                url=config.token_url,
            ) from None

        access_token, lifetime = self._received  # type: ignore[misc]
        self._generation += 1
        token = AccessToken(access_token, started + lifetime, self._generation)
        self._token = token
        if self._on_token is not None:
            self._on_token(token)

        self._logger.info("token renewed, expires in %.0f s", lifetime)
        if lifetime <= config.token_renew_margin and not self._warned_short_lifetime:
            self._warned_short_lifetime = True
            self._logger.warning(
                "token lifetime %.0f s is not longer than token_renew_margin=%.0f s, so every "
                "request fetches a new token; lower token_renew_margin",
                lifetime,
                config.token_renew_margin,
            )
        return token

    def _check_response(self, response: requests.Response) -> requests.Response:
        """Map a token response to an error, or normalise it before oauthlib parses it.

        oauthlib raises ValueError for an `expires_in` such as "3600.0" and compares the expiry
        with the wall clock on every request, so the client keeps the lifetime itself and hands
        oauthlib a body with only `access_token` and `token_type`.
        """
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        request_id = find_request_id(response.headers, body)
        message = self._message_of(body, response)

        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise _TransientTokenFailure(status, message, retry_after)
        if isinstance(body, dict) and body.get("error"):
            raise self._rejection(body, status, request_id)
        if status != 200:
            hint = ERROR_HINTS["invalid_client"] if status == 401 else "check CRANIUM_TOKEN_URL"
            raise AuthenticationError(
                f"token request failed with HTTP {status}: {message}; {hint}",
                status=status,
                request_id=request_id,
            )
        if not isinstance(body, dict):
            error = ResponseError(
                "token response is not a JSON object; check CRANIUM_TOKEN_URL",
                url=self._config.token_url,
                request_id=request_id,
            )
            raise _TransientTokenFailure(status, error.problem, invalid_body=error)

        access_token = body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ResponseError(
                "token response has no access_token",
                url=self._config.token_url,
                request_id=request_id,
            )
        self._redactor.add(access_token)

        token_type = body.get("token_type") or "Bearer"
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise AuthenticationError(
                f"token endpoint issued an unsupported token type {token_type!r}; "
                "only Bearer tokens are supported",
                status=status,
                request_id=request_id,
            )

        self._received = (access_token, self._lifetime_of(body.get("expires_in")))
        normalised = {"access_token": access_token, "token_type": "Bearer"}
        response._content = json.dumps(normalised).encode()
        return response

    def _lifetime_of(self, expires_in: object) -> float:
        default = self._config.default_token_lifetime
        if expires_in is None:
            self._logger.info("token response has no expires_in; assuming %.0f s", default)
            return default
        try:
            lifetime = float(expires_in)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            lifetime = -1.0
        if not lifetime > 0 or lifetime == float("inf"):
            self._logger.warning(
                "token response has an invalid expires_in %r; assuming %.0f s",
                str(expires_in)[:40],
                default,
            )
            return default
        return lifetime

    def _rejection(self, body: dict, status: int, request_id: str | None) -> AuthenticationError:
        code = str(body.get("error"))
        description = body.get("error_description") or ""
        hint = ERROR_HINTS.get(code, "check CRANIUM_TOKEN_URL and the credentials")
        detail = f"{code} ({description})" if description else code
        return AuthenticationError(
            self._redactor.redact(f"token request rejected: {detail}; {hint}"),
            error_code=code,
            status=status,
            request_id=request_id,
        )

    def _message_of(self, body: object, response: requests.Response) -> str:
        if isinstance(body, dict):
            text = body.get("message") or body.get("error_description") or body.get("error")
            if text:
                return self._redactor.redact(str(text))[:500]
        return response.reason or "no message in the body"
