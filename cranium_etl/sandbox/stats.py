"""Thread-safe counters and a short log of the requests a sandbox served."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass

REQUEST_LOG_SIZE = 1000


@dataclass(frozen=True)
class RequestLogEntry:
    """One served request. It contains no header values, so never a token or a secret."""

    method: str
    path: str
    endpoint: str  # "token", "bom" or "other"
    status: int | None  # None when the connection was closed without a response
    client_auth: str | None  # "basic" or "body" for token requests, else None
    time: float  # Unix time at which the request arrived


class SandboxStats:
    """Counters of requests, responses and applied faults.

    `data_requests` counts every request to a BOM endpoint, including 401 and 429
    responses. `token_requests` counts every request to the token endpoint.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._token_requests = 0
            self._data_requests = 0
            self._tokens_issued = 0
            self._by_status: Counter[int] = Counter()
            self._rate_limited = 0
            self._faults: Counter[str] = Counter()
            self._log: deque[RequestLogEntry] = deque(maxlen=REQUEST_LOG_SIZE)

    @property
    def token_requests(self) -> int:
        with self._lock:
            return self._token_requests

    @property
    def data_requests(self) -> int:
        with self._lock:
            return self._data_requests

    @property
    def tokens_issued(self) -> int:
        with self._lock:
            return self._tokens_issued

    @property
    def rate_limited(self) -> int:
        """Number of 429 responses, from the quota and from injected faults."""
        with self._lock:
            return self._rate_limited

    @property
    def responses_by_status(self) -> dict[int, int]:
        with self._lock:
            return dict(self._by_status)

    @property
    def faults_applied(self) -> dict[str, int]:
        with self._lock:
            return dict(self._faults)

    def requests(self) -> list[RequestLogEntry]:
        """Return the newest requests (at most REQUEST_LOG_SIZE), oldest first."""
        with self._lock:
            return list(self._log)

    def as_dict(self) -> dict:
        with self._lock:
            return {
                "token_requests": self._token_requests,
                "data_requests": self._data_requests,
                "tokens_issued": self._tokens_issued,
                "rate_limited": self._rate_limited,
                "responses_by_status": dict(self._by_status),
                "faults_applied": dict(self._faults),
                "requests": [asdict(entry) for entry in self._log],
            }

    def record_token_issued(self) -> None:
        with self._lock:
            self._tokens_issued += 1

    def record_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def record_arrival(self, endpoint: str) -> None:
        """Count a request when it arrives, before any response can reach the client."""
        with self._lock:
            if endpoint == "token":
                self._token_requests += 1
            elif endpoint == "bom":
                self._data_requests += 1

    def record_response(self, entry: RequestLogEntry) -> None:
        """Record the status of a response before its first byte is sent."""
        with self._lock:
            if entry.status is not None:
                self._by_status[entry.status] += 1
            if entry.status == 429:
                self._rate_limited += 1
            self._log.append(entry)
