"""Keep the client secret and bearer tokens out of reprs, messages and logs."""

from __future__ import annotations

import logging
import re
import threading
import weakref
from urllib.parse import quote_plus

MASK = "[REDACTED]"

# requests-oauthlib 2.0.0 logs request headers (with the Basic credentials), request bodies (with
# client_secret in the "body" style) and the token dict at DEBUG; oauthlib logs request data too.
GUARDED_LOGGER_PREFIXES = ("requests_oauthlib", "oauthlib")

_CREDENTIAL_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|client_secret)['\"]?\s*[:=]\s*['\"]?)[^'\"&,\s}]+"
    ),
)


class Secret:
    """A string whose repr and str are masked; `reveal()` returns the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        self._value = str(value)

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return self._value == other._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__


class Redactor:
    """The sensitive values of one client: its secret and every token it has received."""

    def __init__(self, *secrets: str) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, value: str) -> None:
        """Register `value` and its form-urlencoded spelling, which token requests carry."""
        if not value:
            return
        with self._lock:
            self._values.add(value)
            self._values.add(quote_plus(value, safe=""))

    def redact(self, text: str) -> str:
        """Return `text` with every registered value and every credential-shaped field masked."""
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            text = text.replace(value, MASK)
        for pattern in _CREDENTIAL_PATTERNS:
            text = pattern.sub(lambda match: match.group(1) + " " + MASK, text)
        return text


class _OAuthLibraryLogFilter(logging.Filter):
    """Drop DEBUG and INFO records of the OAuth libraries and redact the rest.

    The filter is shared by every client in the process, so it redacts the values of every live
    client's `Redactor`.
    """

    def __init__(self) -> None:
        super().__init__()
        self._redactors: weakref.WeakSet[Redactor] = weakref.WeakSet()

    def register(self, redactor: Redactor) -> None:
        self._redactors.add(redactor)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False

        text = record.getMessage()
        for redactor in list(self._redactors):
            text = redactor.redact(text)
        record.msg = Redactor().redact(text)
        record.args = None
        return True


_LIBRARY_FILTER = _OAuthLibraryLogFilter()
_install_lock = threading.Lock()


def guard_library_loggers(redactor: Redactor) -> None:
    """Install the redacting filter on every logger of requests-oauthlib and oauthlib.

    A logger filter applies only to records created on that exact logger, so the filter goes on
    each module logger that exists once the libraries are imported, not only on the parents.
    """
    import oauthlib.oauth2  # noqa: F401  (creates the module loggers)
    import requests_oauthlib  # noqa: F401

    _LIBRARY_FILTER.register(redactor)
    with _install_lock:
        names = [
            name
            for name in list(logging.root.manager.loggerDict)
            if name.split(".")[0] in GUARDED_LOGGER_PREFIXES
        ]
        for name in {*names, *GUARDED_LOGGER_PREFIXES}:
            logger = logging.getLogger(name)
            if _LIBRARY_FILTER not in logger.filters:
                logger.addFilter(_LIBRARY_FILTER)
