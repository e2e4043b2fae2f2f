"""Bill of Materials list endpoint: bearer auth, rate limit, cursor pagination and faults."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from cranium_etl.sandbox.cursor import InvalidCursor
from cranium_etl.sandbox.fault_responses import (
    apply_body_fault,
    rate_limit_fault_response,
    status_fault_response,
)
from cranium_etl.sandbox.faults import Fault
from cranium_etl.sandbox.page_faults import apply_page_fault
from cranium_etl.sandbox.ratelimit import RateDecision
from cranium_etl.sandbox.records import format_timestamp
from cranium_etl.sandbox.state import SandboxState, error_response, json_response, request_notes
from cranium_etl.sandbox.wire import ConnectionResetResponse

_BEARER_CHALLENGE = 'Bearer error="invalid_token"'
_DIGITS = re.compile(r"[0-9]{1,9}")


class BadRequest(Exception):
    """A query parameter is invalid; the message names the value."""


class BomEndpoint:
    """Lists the tenant's Bills of Materials changed after a cursor, oldest change first."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    async def handle(self, request: Request) -> Response:
        state = self.state
        revoke = state.faults.take("bom", before_auth=True)
        notes = request_notes(request.scope)
        if revoke is not None:
            state.stats.record_fault("revoke")
            state.tokens.revoke_all()
            notes["fault"] = "revoke"

        problem = self._check_bearer(request.headers.get("authorization"))
        if problem is not None:
            notes["detail"] = problem
            # A 401 does not count against the quota.
            headers = {"WWW-Authenticate": _BEARER_CHALLENGE, **self._rate_headers(None)}
            return error_response(401, problem, headers)

        decision = state.limiter.acquire()
        rate_headers = self._rate_headers(decision)
        if not decision.allowed:
            wait = str(decision.reset_seconds)
            message = f"Rate limit is exceeded. Try again in {wait} seconds."
            notes["detail"] = "quota of the current window used up"
            return error_response(429, message, {**rate_headers, "Retry-After": wait})

        try:
            limit, cursor, after_sequence = self._read_query(request)
        except BadRequest as error:
            notes["detail"] = str(error)
            return error_response(400, str(error), rate_headers)

        fault = state.faults.take("bom")
        if fault is not None:
            state.stats.record_fault(fault.kind)
            notes["fault"] = fault.kind
            replaced = await self._replace_by_fault(fault, rate_headers)
            if replaced is not None:
                return replaced

        extra = fault.params["extra"] if fault and fault.kind == "oversize_page" else 0
        envelope = self._envelope(limit, cursor, after_sequence, extra)
        notes["detail"] = (
            f"{len(envelope['data'])} records, requestId={envelope['meta']['requestId']}"
        )
        if fault is not None:
            envelope = apply_page_fault(fault, envelope, cursor or self._start_cursor())
        response = json_response(envelope, 200, rate_headers)
        return apply_body_fault(fault, response) if fault is not None else response

    def _check_bearer(self, authorization: str | None) -> str | None:
        """Return why the request is not authorized, or None when its token is valid."""
        if not authorization:
            return "Authorization header with a bearer token is missing."
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "Authorization header is not a bearer token."
        reason = self.state.tokens.check(token.strip())
        if reason == "expired":
            return "The access token has expired."
        if reason is not None:
            return "The access token is invalid."
        return None

    def _rate_headers(self, decision: RateDecision | None) -> dict[str, str]:
        if not self.state.config.rate_limit_headers:
            return {}
        return (decision or self.state.limiter.peek()).headers()

    def _read_query(self, request: Request) -> tuple[int, str | None, int]:
        config = self.state.config
        params = request.query_params
        limits = params.getlist("limit")
        cursors = params.getlist("cursor")
        if len(limits) > 1 or len(cursors) > 1:
            raise BadRequest("The query parameters limit and cursor may each occur only once.")

        limit = config.default_limit
        if limits:
            text = limits[0]
            if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= config.max_limit:
                raise BadRequest(
                    f"The value '{text}' is not valid for limit: "
                    f"expected an integer from 1 to {config.max_limit}."
                )
            limit = int(text)

        cursor = cursors[0] if cursors and cursors[0] else None
        if cursor is None:
            return limit, None, 0
        try:
            return limit, cursor, self.state.cursors.decode(cursor)
        except InvalidCursor as error:
            excerpt = cursor if len(cursor) <= 80 else cursor[:80] + "..."
            raise BadRequest(f"The cursor '{excerpt}' is invalid: {error}.") from error

    async def _replace_by_fault(self, fault: Fault, rate_headers: dict[str, str]):
        """Apply a fault that acts before the normal response; return its response, if any."""
        if fault.kind == "slow_headers":
            await asyncio.sleep(fault.params["delay"])
            return None
        if fault.kind == "reset":
            return ConnectionResetResponse()
        if fault.kind == "status":
            return status_fault_response(fault, rate_headers)
        if fault.kind == "rate_limit":
            # An injected 429 does not use up quota, like a real one.
            self.state.limiter.release()
            headers = self._rate_headers(None)
            return rate_limit_fault_response(fault.params["retry_after"], headers)
        return None

    def _start_cursor(self) -> str:
        return self.state.cursors.encode(0)

    def _envelope(self, limit: int, cursor: str | None, after_sequence: int, extra: int) -> dict:
        page = self.state.tenant.page(after_sequence, limit + extra)
        if page.records:
            last_updated = page.records[-1]["updatedDate"]
            next_cursor = self.state.cursors.encode(page.last_sequence, last_updated)
        else:
            next_cursor = cursor or self._start_cursor()
        return {
            "data": page.records,
            "pagination": {"limit": limit, "nextCursor": next_cursor, "hasMore": page.has_more},
            "meta": {"requestId": str(uuid.uuid4()), "timestamp": format_timestamp(_now())},
            "error": None,
        }


def _now() -> datetime:
    return datetime.now(UTC)
