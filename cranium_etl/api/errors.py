"""Exceptions raised by the Cranium API client.

Every message names what failed and, when the API returned one, the request id. No message,
attribute or repr contains the client secret or a bearer token, because text taken from a server
response is redacted before it is stored here.
"""

from __future__ import annotations


def _restore(cls: type[CraniumError], args: tuple, state: dict) -> CraniumError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class CraniumError(Exception):
    """Base class of every error raised by `cranium_etl.api`."""

    request_id: str | None = None

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        if request_id:
            message = f"{message} (requestId={request_id})"
        super().__init__(message)
        self.request_id = request_id

    def __reduce__(self):
        # Keyword-only constructor arguments break the default pickling of exceptions, and
        # Dagster may pickle an error to move it between processes.
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class ConfigurationError(CraniumError, ValueError):
    """A setting is missing or invalid; `variable` is the environment variable that sets it."""

    def __init__(self, message: str, *, variable: str | None = None) -> None:
        super().__init__(message)
        self.variable = variable


class CertificateVerificationError(ConfigurationError):
    """TLS verification of `host` failed; `ca_bundle` names the CA bundle that was used."""

    def __init__(self, host: str, ca_bundle: str, detail: str) -> None:
        super().__init__(
            f"TLS certificate verification failed for {host} using {ca_bundle}: {detail}; "
            "set CRANIUM_CA_BUNDLE to a PEM file with the CA that signed the server certificate",
            variable="CRANIUM_CA_BUNDLE",
        )
        self.host = host
        self.ca_bundle = ca_bundle


class AuthenticationError(CraniumError):
    """The token endpoint rejected the credentials, or the API rejected a fresh token.

    `error_code` is the OAuth 2.0 error code (`invalid_client`, `invalid_scope`, ...) when the
    token endpoint sent one; `status` is the HTTP status of the rejecting response.
    """

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.error_code = error_code
        self.status = status


class ApiError(CraniumError):
    """An API response with a status that is not retried (400, 403, 404, other 4xx).

    `message` is the `message` field of the error body, redacted.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        url: str,
        request_id: str | None = None,
    ) -> None:
        text = f"GET {url} failed with HTTP {status}: {message or 'no message in the body'}"
        super().__init__(text, request_id=request_id)
        self.status = status
        self.message = message
        self.url = url


class InvalidCursorError(ApiError):
    """The API rejected the cursor sent with the request (HTTP 400); a full sync recovers."""


class ResponseError(CraniumError):
    """A response broke the envelope or pagination contract.

    `problem` describes the violation; `transient` is True for faults that a new request may
    not repeat (invalid JSON, a body cut off mid-stream).
    """

    def __init__(
        self,
        problem: str,
        *,
        url: str,
        request_id: str | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(f"invalid response from GET {url}: {problem}", request_id=request_id)
        self.problem = problem
        self.url = url
        self.transient = transient


class RateLimitWaitTooLong(CraniumError):
    """A 429 requested a wait of `wait_seconds`, longer than the configured `max_inline_wait`."""

    def __init__(
        self, wait_seconds: float, max_inline_wait: float, *, request_id: str | None = None
    ) -> None:
        super().__init__(
            f"rate limited: the API requested a wait of {wait_seconds:.0f} s, longer than "
            f"max_inline_wait={max_inline_wait:.0f} s; retry the run later",
            request_id=request_id,
        )
        self.wait_seconds = wait_seconds
        self.max_inline_wait = max_inline_wait


class RetriesExhausted(CraniumError):
    """A request kept failing with retryable errors until `max_retries` or `max_total_wait`.

    `last_status` is the HTTP status of the last attempt (None for a connection error or a
    timeout), `last_message` describes its failure, `attempts` counts the requests sent and
    `waited_seconds` the time spent waiting between them.
    """

    def __init__(
        self,
        *,
        url: str,
        attempts: int,
        waited_seconds: float,
        last_status: int | None,
        last_message: str,
        request_id: str | None = None,
        reason: str,
    ) -> None:
        status = f"HTTP {last_status}" if last_status is not None else "no response"
        super().__init__(
            f"{url} failed after {attempts} attempts and {waited_seconds:.1f} s of waiting "
            f"({reason}); last error: {status}: {last_message}",
            request_id=request_id,
        )
        self.url = url
        self.attempts = attempts
        self.waited_seconds = waited_seconds
        self.last_status = last_status
        self.last_message = last_message
