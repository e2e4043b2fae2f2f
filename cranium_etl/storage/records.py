"""Validation and conversion of API bill of materials records into Arrow tables."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from cranium_etl.storage.errors import RecordError
from cranium_etl.storage.schema import API_COLUMNS, BOM_SCHEMA, KNOWN_SCAN_STATUSES

log = logging.getLogger(__name__)

REQUIRED_STRINGS = ("billOfMaterialsId", "name", "repositoryUrl", "lastScanStatus")
# The API documents these as "string or null". A record that omits one is read as null.
NULLABLE_STRINGS = (
    "description",
    "vcsIntegrationId",
    "vcsIntegrationName",
    "lastScanStatusMessage",
)
COUNTS = (
    "totalVulnerabilitiesCount",
    "totalResolvedVulnerabilitiesCount",
    "modelCount",
    "dataSetCount",
    "technologyCount",
    "infrastructureCount",
)
TIMESTAMPS = ("createdDate", "updatedDate")

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# Each unknown lastScanStatus value and each omitted nullable field is logged once per process.
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()

Fail = Callable[[str, str], RecordError]


def records_to_table(
    records: Iterable[Mapping[str, Any]],
    *,
    sync_run_id: str,
    synced_at: datetime,
    deleted_at: datetime | None = None,
) -> pa.Table:
    """Validate API records and convert them to a table with `BOM_SCHEMA`.

    Raises RecordError for the first invalid record, naming its index, its billOfMaterialsId
    when known, the field and the problem. No record is dropped: either every record becomes a
    row or the call raises. Unknown lastScanStatus values are kept as they are (logged once per
    value), and fields that the schema does not know are kept as a sorted-key JSON object in
    `extra_fields`. Timestamps with any UTC offset are converted to UTC; timestamps without an
    offset are rejected because their time zone is unknown.
    """
    synced_at = to_utc(synced_at, "synced_at")
    if deleted_at is not None:
        deleted_at = to_utc(deleted_at, "deleted_at")

    columns: dict[str, list[Any]] = {name: [] for name in BOM_SCHEMA.names}
    for index, record in enumerate(records):
        row = _convert_record(index, record)
        for name, value in row.items():
            columns[name].append(value)
        columns["deleted_at"].append(deleted_at)
        columns["state_exact"].append(True)
        columns["sync_run_id"].append(sync_run_id)
        columns["synced_at"].append(synced_at)

    return pa.Table.from_pydict(columns, schema=BOM_SCHEMA)


def to_utc(value: datetime, name: str) -> datetime:
    """Return `value` converted to UTC, or raise ValueError if it has no time zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


def _convert_record(index: int, record: Any) -> dict[str, Any]:
    if not isinstance(record, Mapping):
        raise RecordError(index, None, "(record)", f"must be a JSON object, got {_kind(record)}")

    raw_id = record.get("billOfMaterialsId")
    bom_id = raw_id if isinstance(raw_id, str) and raw_id else None

    def fail(field: str, problem: str) -> RecordError:
        return RecordError(index, bom_id, field, problem)

    row: dict[str, Any] = {}

    for field in REQUIRED_STRINGS:
        if field not in record:
            raise fail(field, "is missing")
        value = record[field]
        if not isinstance(value, str):
            raise fail(field, f"must be a string, got {_kind(value)}")
        row[API_COLUMNS[field]] = value
    if not row["bill_of_materials_id"]:
        raise fail("billOfMaterialsId", "must not be empty")

    status = row["last_scan_status"]
    if status not in KNOWN_SCAN_STATUSES:
        _warn_once("lastScanStatus", status, "unknown lastScanStatus %r kept as it is", status)

    for field in NULLABLE_STRINGS:
        if field not in record:
            _warn_once("missing", field, "API records omit %s; stored as null", field)
        value = record.get(field)
        if value is not None and not isinstance(value, str):
            raise fail(field, f"must be a string or null, got {_kind(value)}")
        row[API_COLUMNS[field]] = value

    if "aiSystemIds" not in record:
        raise fail("aiSystemIds", "is missing")
    ai_system_ids = record["aiSystemIds"]
    if not isinstance(ai_system_ids, list):
        raise fail("aiSystemIds", f"must be a list of strings, got {_kind(ai_system_ids)}")
    for position, item in enumerate(ai_system_ids):
        if not isinstance(item, str):
            raise fail("aiSystemIds", f"item {position} must be a string, got {_kind(item)}")
    row["ai_system_ids"] = list(ai_system_ids)

    for field in COUNTS:
        if field not in record:
            raise fail(field, "is missing")
        value = record[field]
        # bool is a subclass of int in Python, but true/false is not a count.
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(field, f"must be an integer, got {_kind(value)}")
        if not INT64_MIN <= value <= INT64_MAX:
            raise fail(field, f"is out of the int64 range: {value}")
        row[API_COLUMNS[field]] = value

    for field in TIMESTAMPS:
        if field not in record:
            raise fail(field, "is missing")
        row[API_COLUMNS[field]] = _parse_timestamp(record[field], field, fail)

    extra = {key: value for key, value in record.items() if key not in API_COLUMNS}
    row["extra_fields"] = _encode_extra(extra, fail) if extra else None
    return row


def _parse_timestamp(value: Any, field: str, fail: Fail) -> datetime:
    if not isinstance(value, str):
        raise fail(field, f"must be an ISO 8601 string, got {_kind(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(field, f"is not an ISO 8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise fail(field, f"has no UTC offset (expected e.g. 2026-01-10T08:00:00Z): {value!r}")
    return parsed.astimezone(UTC)


def _encode_extra(extra: dict[str, Any], fail: Fail) -> str:
    try:
        return json.dumps(extra, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        field = ",".join(sorted(str(key) for key in extra))
        raise fail(field, f"cannot be stored as JSON: {error}") from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {json.dumps(value)}"
    if isinstance(value, int | float):
        return f"{type(value).__name__} {value!r}"
    if isinstance(value, str):
        return f"string {value[:40]!r}"
    return type(value).__name__


def _warn_once(category: str, value: str, message: str, *args: Any) -> None:
    with _warned_lock:
        if (category, value) in _warned:
            return
        _warned.add((category, value))
    log.warning(message, *args)
