"""Responses that faults from the fault plan send instead of, or around, a normal response."""

from __future__ import annotations

from starlette.responses import Response

from cranium_etl.sandbox.faults import Fault
from cranium_etl.sandbox.state import error_response, json_response
from cranium_etl.sandbox.wire import SlowBodyResponse, TruncatedResponse

# Kinds that rewrite or deliver a finished response instead of replacing it.
BODY_FAULT_KINDS = frozenset({"invalid_json", "slow_body", "truncate"})


def status_fault_response(fault: Fault, headers: dict[str, str]) -> Response:
    """Return the response of a "status" fault. The fault's own headers override `headers`."""
    params = fault.params
    status = params["status"]
    merged = {**headers, **(params["headers"] or {})}
    body = params["body"]
    if body is None:
        return error_response(status, f"Injected failure with status {status}.", merged)
    if isinstance(body, str):
        body = body.encode("utf-8")
    if isinstance(body, bytes):
        return Response(body, status, merged, media_type="application/json")
    return json_response(body, status, merged)


def rate_limit_fault_response(retry_after: str | None, headers: dict[str, str]) -> Response:
    """Return an injected 429; `retry_after` None leaves the Retry-After header out."""
    merged = dict(headers)
    if retry_after is not None:
        merged["Retry-After"] = retry_after
    if retry_after is not None and retry_after.isdigit():
        message = f"Rate limit is exceeded. Try again in {retry_after} seconds."
    else:
        message = "Rate limit is exceeded. Try again later."
    return error_response(429, message, merged)


def apply_body_fault(fault: Fault, response: Response) -> Response:
    """Wrap `response` so that it is delivered as a body fault specifies.

    Faults of other kinds return `response` unchanged.
    """
    if fault.kind not in BODY_FAULT_KINDS:
        return response

    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    body = bytes(response.body)
    if fault.kind == "invalid_json":
        invalid = fault.params["body"].encode("utf-8")
        return Response(invalid, response.status_code, headers, media_type="application/json")
    if fault.kind == "slow_body":
        return SlowBodyResponse(body, response.status_code, headers, fault.params["delay"])
    return TruncatedResponse(body, response.status_code, headers)
