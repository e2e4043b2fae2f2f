"""Fault plan: misbehaviour that tests schedule for the next requests to an endpoint."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from cranium_etl.sandbox.config import TOKEN_RESPONSE_STYLES

ENDPOINTS = ("bom", "token")

CORRUPT_MODES = ("missing_field", "wrong_type", "unknown_status", "extra_field")

# Accepted parameters of each kind, with their defaults; None as default means "optional".
_KIND_PARAMETERS: dict[str, dict[str, Any]] = {
    "status": {"status": None, "body": None, "headers": None},
    "rate_limit": {"retry_after": "1"},
    "slow_headers": {"delay": 1.0},
    "slow_body": {"delay": 1.0},
    "truncate": {},
    "reset": {},
    "invalid_json": {"body": '{"data": [{"billOfMaterialsId": '},
    "error_envelope": {"error": None},
    "null_cursor": {},
    "repeat_cursor": {},
    "oversize_page": {"extra": 1},
    "corrupt_record": {"mode": None, "index": 0, "field": None, "value": None},
    "revoke": {},
    "token_style": {"style": None},
}
_BOM_ONLY_KINDS = frozenset(
    {"error_envelope", "null_cursor", "repeat_cursor", "oversize_page", "corrupt_record"}
)
_TOKEN_ONLY_KINDS = frozenset({"token_style"})
FAULT_KINDS = tuple(_KIND_PARAMETERS)


@dataclass
class Fault:
    """One scheduled fault. `applied` counts the requests it changed so far."""

    kind: str
    endpoint: str
    params: dict[str, Any]
    times: int | None  # None: every matching request until FaultPlan.clear()
    skip: int
    applied: int = 0
    skipped: int = field(default=0, repr=False)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.applied >= self.times


def _validate(kind: str, endpoint: str, times: int | None, skip: int, params: dict) -> dict:
    if kind not in _KIND_PARAMETERS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected 'bom' or 'token'")
    if endpoint == "token" and kind in _BOM_ONLY_KINDS:
        raise ValueError(f"fault kind {kind!r} applies to the 'bom' endpoint only")
    if endpoint == "bom" and kind in _TOKEN_ONLY_KINDS:
        raise ValueError(f"fault kind {kind!r} applies to the 'token' endpoint only")
    if times is not None and times < 1:
        raise ValueError(f"times must be 1 or more (or None for always), got {times}")
    if skip < 0:
        raise ValueError(f"skip must be 0 or more, got {skip}")

    accepted = _KIND_PARAMETERS[kind]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(f"fault kind {kind!r} takes no parameter {unknown[0]!r}")
    merged = {**accepted, **params}

    if kind == "status":
        status = merged["status"]
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"status fault needs status=<int 100..599>, got {status!r}")
    if kind == "rate_limit" and merged["retry_after"] is not None:
        merged["retry_after"] = str(merged["retry_after"])
    if kind in ("slow_headers", "slow_body") and merged["delay"] < 0:
        raise ValueError(f"delay must be 0 or more seconds, got {merged['delay']}")
    if kind == "oversize_page" and merged["extra"] < 1:
        raise ValueError(f"extra must be 1 or more, got {merged['extra']}")
    if kind == "corrupt_record" and merged["mode"] not in CORRUPT_MODES:
        raise ValueError(
            f"corrupt_record needs mode= one of {', '.join(CORRUPT_MODES)}, got {merged['mode']!r}"
        )
    if kind == "token_style" and merged["style"] not in TOKEN_RESPONSE_STYLES:
        raise ValueError(
            f"token_style needs style= one of {', '.join(TOKEN_RESPONSE_STYLES)}, "
            f"got {merged['style']!r}"
        )
    return merged


class FaultPlan:
    """Thread-safe list of scheduled faults.

    A fault applies to the next matching requests after it has let `skip` of them pass. On the
    BOM endpoint, "revoke" matches every request because it acts before authentication. The
    other kinds match only requests that passed authentication, the rate limit and the query
    validation, so a 401, a quota 429 or a 400 consumes no fault. On the token endpoint every
    request matches. When several faults are due for one request, the one injected first
    applies and the others wait.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(
        self,
        kind: str,
        *,
        endpoint: str = "bom",
        times: int | None = 1,
        skip: int = 0,
        **params: Any,
    ) -> Fault:
        """Schedule a fault and return it; `Fault.applied` then shows how often it acted."""
        merged = _validate(kind, endpoint, times, skip, params)
        fault = Fault(kind=kind, endpoint=endpoint, params=merged, times=times, skip=skip)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        """Return the faults that have not yet been applied as often as requested."""
        with self._lock:
            return [f for f in self._faults if not f.exhausted]

    def take(self, endpoint: str, before_auth: bool = False) -> Fault | None:
        """Return the fault to apply to the current request, or None.

        `before_auth` selects the BOM endpoint's first stage, which only "revoke" matches.
        """
        with self._lock:
            chosen = None
            for fault in self._faults:
                if fault.endpoint != endpoint or fault.exhausted:
                    continue
                if endpoint == "bom" and (fault.kind == "revoke") != before_auth:
                    continue
                if fault.skipped < fault.skip:
                    fault.skipped += 1
                    continue
                if chosen is None:
                    chosen = fault
            if chosen is not None:
                chosen.applied += 1
            self._faults = [f for f in self._faults if not f.exhausted]
            return chosen
