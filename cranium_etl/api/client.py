"""The Cranium API client: authenticated, paced and retried page iteration."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import requests

from .auth import AccessToken, TokenSource
from .config import ClientConfig
from .errors import (
    ApiError,
    AuthenticationError,
    CertificateVerificationError,
    InvalidCursorError,
    RateLimitWaitTooLong,
    ResponseError,
    RetriesExhausted,
)
from .pagination import Page, decode_envelope, parse_page
from .ratelimit import Backoff, Pacer, RetryBudget, parse_retry_after
from .redaction import Redactor, guard_library_loggers
from .stats import RequestStats
from .transport import (
    TRANSIENT_TRANSPORT_ERRORS,
    BodyTimeout,
    ca_bundle_in_use,
    certificate_failure,
    describe_transport_error,
    find_request_id,
    host_of,
    new_oauth_session,
    oauth_url,
    read_body,
)

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})


@dataclass
class _Answer:
    status: int
    headers: requests.structures.CaseInsensitiveDict
    body: bytes


class _RequestState:
    """Retry bookkeeping of one page request across its attempts."""

    def __init__(self, config: ClientConfig) -> None:
        self.budget = RetryBudget(config.max_retries, config.max_total_wait)
        self.invalid_responses_left = config.max_invalid_response_retries
        self.attempts = 0
        self.renewed_after_401 = False


class CraniumClient:
    """Client of the Cranium Public REST API for one tenant.

    Tokens are fetched and renewed behind the scenes, requests are paced to the tenant's rate
    limit, and transient failures are retried within `max_retries` and `max_total_wait`. Use it
    as a context manager, or call `close()`. One client may serve several threads.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        logger: logging.Logger | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.stats = RequestStats()
        self._logger = logger or logging.getLogger("cranium_etl.api")
        self._sleep = sleep
        self._redactor = Redactor(config.client_secret.reveal())
        guard_library_loggers(self._redactor)

        self._session = new_oauth_session(config)
        self._tokens = TokenSource(
            config,
            redactor=self._redactor,
            stats=self.stats,
            logger=self._logger,
            on_token=self._install_token,
            sleep=sleep,
        )
        self._pacer = Pacer(
            rate_limit=config.rate_limit,
            rate_window=config.rate_window,
            reserve=config.rate_limit_reserve,
            state_dir=config.pacer_dir,
            sleep=sleep,
        )
        self._backoff = Backoff(config.backoff_initial, config.backoff_max)

    def __enter__(self) -> CraniumClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        config = self.config
        return f"CraniumClient(base_url={config.base_url!r}, client_id={config.client_id!r})"

    def close(self) -> None:
        self._session.close()
        self._tokens.close()

    def iter_bill_of_materials(self, cursor: str | None = None) -> Iterator[Page]:
        """Yield the Bills of Materials changed after `cursor` page by page (all if None).

        Pages are fetched one at a time as the caller consumes them. The last page has
        `has_more` False, and its `next_cursor` is the bookmark for the next incremental sync.
        """
        return self._iter_pages(self.config.bom_url, "bill_of_materials", cursor)

    def _iter_pages(self, url: str, resource: str, cursor: str | None) -> Iterator[Page]:
        seen_cursors: set[str] = set()
        cursor = cursor or None
        number = 0
        while True:
            number += 1
            params: dict[str, str | int] = {"limit": self.config.page_size}
            if cursor is not None:
                params["cursor"] = cursor
                seen_cursors.add(cursor)

            page = self._fetch_page(url, params, number, cursor, seen_cursors)
            self.stats.add(pages=1, records=len(page.records))
            self._logger.info(
                "fetched page %d of %s (%d records, requestId=%s)",
                number,
                resource,
                len(page.records),
                page.request_id,
            )
            yield page

            if not page.has_more:
                return
            cursor = page.next_cursor

    def _fetch_page(
        self,
        url: str,
        params: dict[str, str | int],
        number: int,
        cursor: str | None,
        seen_cursors: set[str],
    ) -> Page:
        state = _RequestState(self.config)
        while True:
            answer, token = self._send(url, params, state)
            if answer is None:
                continue
            request_id = find_request_id(answer.headers)

            if answer.status == 200:
                try:
                    envelope = decode_envelope(answer.body, url=url, request_id=request_id)
                    request_id = find_request_id(answer.headers, envelope)
                    return parse_page(
                        envelope,
                        url=url,
                        request_id=request_id,
                        limit=self.config.page_size,
                        number=number,
                        sent_cursor=cursor,
                        seen_cursors=seen_cursors,
                    )
                except ResponseError as error:
                    if not error.transient or state.invalid_responses_left <= 0:
                        raise
                    state.invalid_responses_left -= 1
                    self._wait_to_retry(url, state, 200, error.problem, request_id, None)
                    continue

            message, request_id = self._error_message(answer, request_id)
            if answer.status == 401:
                self._handle_unauthorized(state, token, request_id)
            elif answer.status == 429:
                self.stats.add(rate_limited=1)
                retry_after = parse_retry_after(answer.headers.get("Retry-After"))
                self._wait_to_retry(url, state, 429, message, request_id, retry_after)
            elif answer.status in RETRYABLE_STATUSES:
                retry_after = parse_retry_after(answer.headers.get("Retry-After"))
                self._wait_to_retry(url, state, answer.status, message, request_id, retry_after)
            elif answer.status == 400 and cursor is not None:
                raise InvalidCursorError(400, message, url=url, request_id=request_id)
            else:
                raise ApiError(answer.status, message, url=url, request_id=request_id)

    def _send(
        self, url: str, params: dict[str, str | int], state: _RequestState
    ) -> tuple[_Answer | None, AccessToken]:
        """Send one attempt; returns (None, token) after a transport failure was waited out."""
        # The token comes first: a token request between the pacer's decision and the data
        # request could push the data request into the next rate-limit window.
        token = self._tokens.current()
        waited = self._pacer.acquire(on_wait=self._log_pacing)
        self.stats.add(wait_seconds=waited)

        state.attempts += 1
        self.stats.add(requests=1)
        try:
            response = self._session.get(
                oauth_url(url, self.config),
                params=params,
                timeout=(self.config.connect_timeout, self.config.read_timeout),
                stream=True,
            )
            self._pacer.observe(response.headers)
            body = read_body(response, self.config.body_timeout)
        except (BodyTimeout, *TRANSIENT_TRANSPORT_ERRORS) as error:
            if certificate_failure(error) is not None:
                raise CertificateVerificationError(
                    host_of(url), ca_bundle_in_use(self.config), describe_transport_error(error)
                ) from None
            self._wait_to_retry(url, state, None, describe_transport_error(error), None, None)
            return None, token
        return _Answer(response.status_code, response.headers, body), token

    def _handle_unauthorized(
        self, state: _RequestState, token: AccessToken, request_id: str | None
    ) -> None:
        self.stats.add(unauthorized=1)
        if state.renewed_after_401:
            raise AuthenticationError(
                "the API rejected a newly issued token with HTTP 401; the credentials or the "
                "scope are likely wrong: check CRANIUM_CLIENT_ID, CRANIUM_CLIENT_SECRET and "
                "CRANIUM_SCOPE",
                status=401,
                request_id=request_id,
            )

        state.renewed_after_401 = True
        self._logger.warning(
            "401 from API (requestId=%s), renewing the token and retrying once", request_id
        )
        self._tokens.renew(token)
        self.stats.add(retries=1)

    def _wait_to_retry(
        self,
        url: str,
        state: _RequestState,
        status: int | None,
        message: str,
        request_id: str | None,
        retry_after: float | None,
    ) -> None:
        """Sleep before the next attempt, or raise when the retry limits do not allow one."""
        wait = retry_after if retry_after is not None else self._backoff.delay(state.attempts)
        if status == 429 and wait > self.config.max_inline_wait:
            raise RateLimitWaitTooLong(wait, self.config.max_inline_wait, request_id=request_id)

        refusal = state.budget.refusal(wait)
        if refusal is not None:
            raise RetriesExhausted(
                url=url,
                attempts=state.attempts,
                waited_seconds=state.budget.waited,
                last_status=status,
                last_message=message,
                request_id=request_id,
                reason=refusal,
            )

        source = "Retry-After" if retry_after is not None else "backoff"
        if status == 429:
            self._pacer.observe_rate_limited(wait)
            self._logger.warning("429 from API, waiting %.0f s (%s)", wait, source)
        else:
            failure = f"HTTP {status}: {message}" if status is not None else message
            self._logger.warning(
                "GET %s failed (%s, requestId=%s), retrying in %.1f s (retry %d of %d)",
                url,
                failure,
                request_id,
                wait,
                state.budget.retries + 1,
                state.budget.max_retries,
            )
        self._sleep(wait)
        state.budget.spend(wait)
        self.stats.add(retries=1, wait_seconds=wait)

    def _error_message(self, answer: _Answer, request_id: str | None) -> tuple[str, str | None]:
        """Return the redacted `message` of an error body and the request id it names."""
        try:
            body = decode_envelope(answer.body, url="", request_id=None)
        except ResponseError:
            text = answer.body[:200].decode("utf-8", "replace").strip()
            return self._redactor.redact(text or "no message in the body"), request_id

        request_id = find_request_id(answer.headers, body) or request_id
        message = body.get("message")
        if message is None and isinstance(body.get("error"), dict):
            message = body["error"].get("message")
        return self._redactor.redact(str(message or "no message in the body"))[:500], request_id

    def _install_token(self, token: AccessToken) -> None:
        # The session gets no expires_at, so the wall-clock expiry check in oauthlib's add_token
        # (TokenExpiredError) does not apply. The TokenSource renews on time.monotonic() instead.
        self._session.token = {"access_token": token.value, "token_type": "Bearer"}

    def _log_pacing(self, seconds: float, reason: str) -> None:
        self._logger.info("pacing requests (%s), waiting %.2f s", reason, seconds)
