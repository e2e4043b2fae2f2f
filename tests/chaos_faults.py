"""Random fault plans for the chaos tests: faults a sync must survive, and faults it must fail on.

This module contains no tests; test_chaos.py imports it.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

from cranium_etl.sandbox import Fault, FaultPlan

# Client settings the delays below are sized against (test_chaos.py passes them to the client).
READ_TIMEOUT = 2.0
BODY_TIMEOUT = 3.0


@dataclass(frozen=True)
class InjectedFault:
    """A scheduled fault and the label it is counted under in the chaos summary."""

    label: str
    fault: Fault


def retry_after_forms(rng: random.Random) -> tuple[str, str | None]:
    """Return a (label, Retry-After value) pair covering every form a 429 may carry."""
    form = rng.choice(["seconds", "http-date", "zero", "negative", "malformed", "absent"])
    if form == "seconds":
        return form, "1"
    if form == "http-date":
        # An HTTP date has whole seconds, so it requests a wait of up to two seconds, or none
        # when the fault applies later than that.
        return form, email.utils.formatdate(time.time() + 2, usegmt=True)
    if form == "zero":
        return form, "0"
    if form == "negative":
        return form, "-5"
    if form == "malformed":
        return form, "soon"
    return form, None


def inject_survivable(plan: FaultPlan, rng: random.Random, count: int) -> list[InjectedFault]:
    """Schedule `count` faults that retries, token renewal and timeouts must absorb.

    NOTE: at most one "revoke" is pending at a time. Two revocations that hit the same request
    make the client treat the second 401 as wrong credentials and fail the run, by design.
    """
    injected = []
    for _ in range(count):
        if rng.random() < 0.25:
            injected.append(_token_fault(plan, rng))
        else:
            pending_revoke = any(f.kind == "revoke" for f in plan.pending())
            injected.append(_bom_fault(plan, rng, allow_revoke=not pending_revoke))
    return injected


def _bom_fault(plan: FaultPlan, rng: random.Random, allow_revoke: bool) -> InjectedFault:
    kinds = ["rate_limit", "status", "reset", "slow_headers", "slow_body", "truncate"]
    kinds += ["invalid_json"] + (["revoke"] if allow_revoke else [])
    kind = rng.choice(kinds)
    skip = rng.randint(0, 3)

    if kind == "rate_limit":
        form, value = retry_after_forms(rng)
        return InjectedFault(
            f"bom rate_limit (Retry-After {form})",
            plan.inject("rate_limit", skip=skip, retry_after=value),
        )
    if kind == "status":
        status = rng.choice([500, 502, 503, 504])
        fault = plan.inject("status", skip=skip, status=status)
        return InjectedFault(f"bom status {status}", fault)
    if kind in ("slow_headers", "slow_body"):
        return _slow(plan, rng, kind, "bom", skip)
    return InjectedFault(f"bom {kind}", plan.inject(kind, skip=skip))


def _token_fault(plan: FaultPlan, rng: random.Random) -> InjectedFault:
    kind = rng.choice(
        ["status", "rate_limit", "reset", "slow_headers", "slow_body", "truncate", "invalid_json"]
    )
    skip = rng.randint(0, 2)

    if kind == "status":
        status = rng.choice([500, 503])
        fault = plan.inject("status", endpoint="token", skip=skip, status=status)
        return InjectedFault(f"token status {status}", fault)
    if kind == "rate_limit":
        form, value = retry_after_forms(rng)
        fault = plan.inject("rate_limit", endpoint="token", skip=skip, retry_after=value)
        return InjectedFault(f"token rate_limit (Retry-After {form})", fault)
    if kind in ("slow_headers", "slow_body"):
        return _slow(plan, rng, kind, "token", skip)
    return InjectedFault(f"token {kind}", plan.inject(kind, endpoint="token", skip=skip))


def _slow(plan: FaultPlan, rng: random.Random, kind: str, endpoint: str, skip: int):
    """Schedule a stall: mostly short, sometimes past the client's read or body timeout."""
    if rng.random() < 0.1:
        delay = (READ_TIMEOUT if kind == "slow_headers" else BODY_TIMEOUT) + 0.5
        label = f"{endpoint} {kind} (past the client timeout)"
    else:
        delay = rng.uniform(0.05, 0.5)
        label = f"{endpoint} {kind}"
    return InjectedFault(label, plan.inject(kind, endpoint=endpoint, skip=skip, delay=delay))


# Faults that must fail a sync: parameters, and whether the error must name a request id (error
# bodies of non-200 responses carry none). A Retry-After of 600 s exceeds the client's
# max_inline_wait, so the run ends and leaves the wait to the scheduler.
POISON = [
    ("corrupt_record", {"mode": "missing_field"}, True),
    ("corrupt_record", {"mode": "wrong_type"}, True),
    ("error_envelope", {}, True),
    ("null_cursor", {}, True),
    ("repeat_cursor", {}, True),
    ("status", {"status": 403}, False),
    ("status", {"status": 404}, False),
    ("rate_limit", {"retry_after": "600"}, False),
]


def inject_poison(plan: FaultPlan, rng: random.Random) -> tuple[InjectedFault, bool]:
    """Schedule one fault on the next BOM request that no retry can fix.

    Returns the fault and whether the resulting error must name a request id.
    """
    kind, params, names_request_id = rng.choice(POISON)
    detail = " ".join(f"{key}={value}" for key, value in params.items())
    label = f"bom {kind} {detail}".strip() + " (run must fail)"
    return InjectedFault(label, plan.inject(kind, **params)), names_request_id
