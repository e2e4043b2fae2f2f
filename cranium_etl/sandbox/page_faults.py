"""Faults that damage the content of a BOM page while the response stays a 200."""

from __future__ import annotations

from typing import Any

from cranium_etl.sandbox.faults import Fault

_DEFAULT_FIELDS = {
    "missing_field": "billOfMaterialsId",
    "wrong_type": "totalVulnerabilitiesCount",
    "unknown_status": "lastScanStatus",
    "extra_field": "riskScore",
}
_DEFAULT_VALUES: dict[str, Any] = {"unknown_status": "Cancelled", "extra_field": 0.42}


def apply_page_fault(fault: Fault, envelope: dict, sent_cursor: str) -> dict:
    """Return the envelope damaged as the fault specifies; `sent_cursor` is the request's cursor."""
    params = fault.params
    pagination = envelope["pagination"]
    if fault.kind == "null_cursor":
        pagination.update(nextCursor=None, hasMore=True)
    elif fault.kind == "repeat_cursor":
        pagination.update(nextCursor=sent_cursor, hasMore=True)
    elif fault.kind == "error_envelope":
        error = params["error"] or {
            "statusCode": 500,
            "message": "An unexpected error occurred while reading bills of materials.",
        }
        envelope.update(data=None, pagination=None, error=error)
    elif fault.kind == "corrupt_record" and envelope["data"]:
        index = min(params["index"], len(envelope["data"]) - 1)
        _corrupt(envelope["data"][index], params)
    return envelope


def _corrupt(record: dict, params: dict) -> None:
    mode = params["mode"]
    field = params["field"] or _DEFAULT_FIELDS[mode]
    if mode == "missing_field":
        record.pop(field, None)
    elif mode == "wrong_type":
        value = params["value"]
        record[field] = value if value is not None else _other_type(record.get(field))
    else:
        value = params["value"]
        record[field] = value if value is not None else _DEFAULT_VALUES[mode]


def _other_type(value: Any) -> Any:
    """Return `value` as a value of a different JSON type: a number as text, text as a number."""
    if isinstance(value, bool) or value is None:
        return "not-a-value"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return ",".join(map(str, value))
    return 12345
