"""Validation and conversion of API records by records_to_table."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from test_storage_factory import bom_record

from cranium_etl.storage import BOM_SCHEMA, RecordError, records_to_table

SYNCED_AT = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)


def convert(records):
    return records_to_table(records, sync_run_id="run-1", synced_at=SYNCED_AT)


def test_records_convert_to_schema():
    table = convert([bom_record(1), bom_record(2)])

    assert table.schema.equals(BOM_SCHEMA)
    assert table.num_rows == 2
    row = table.to_pylist()[0]
    assert row["bill_of_materials_id"] == "bom-0001"
    assert row["ai_system_ids"] == ["ai-1", "ai-2"]
    assert row["total_vulnerabilities_count"] == 11
    assert row["created_date"] == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    assert row["updated_date"] == datetime(2026, 1, 2, 9, 0, tzinfo=UTC)
    assert row["extra_fields"] is None
    assert row["deleted_at"] is None
    assert row["state_exact"] is True
    assert row["sync_run_id"] == "run-1"
    assert row["synced_at"] == SYNCED_AT


def test_empty_record_list_gives_empty_table():
    table = convert([])

    assert table.num_rows == 0
    assert table.schema.equals(BOM_SCHEMA)


def test_timestamp_offset_converted_to_utc():
    table = convert([bom_record(1, updatedDate="2026-01-02T11:30:00.123456+02:00")])

    assert table.column("updated_date")[0].as_py() == datetime(
        2026, 1, 2, 9, 30, 0, 123456, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "field",
    [
        "billOfMaterialsId",
        "name",
        "repositoryUrl",
        "aiSystemIds",
        "lastScanStatus",
        "totalVulnerabilitiesCount",
        "totalResolvedVulnerabilitiesCount",
        "modelCount",
        "dataSetCount",
        "technologyCount",
        "infrastructureCount",
        "createdDate",
        "updatedDate",
    ],
)
def test_missing_required_field_rejected(field):
    record = bom_record(7)
    del record[field]

    with pytest.raises(RecordError) as caught:
        convert([bom_record(1), record])

    assert caught.value.index == 1
    assert caught.value.field == field
    assert "is missing" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("modelCount", True, "must be an integer, got boolean true"),
        ("modelCount", 2.0, "must be an integer, got float 2.0"),
        ("modelCount", "2", "must be an integer, got string '2'"),
        ("modelCount", None, "must be an integer, got null"),
        ("modelCount", 2**63, "out of the int64 range"),
        ("name", 5, "must be a string, got int 5"),
        ("name", None, "must be a string, got null"),
        ("lastScanStatus", None, "must be a string, got null"),
        ("description", 3, "must be a string or null, got int 3"),
        ("aiSystemIds", "ai-1", "must be a list of strings, got string 'ai-1'"),
        ("aiSystemIds", None, "must be a list of strings, got null"),
        ("aiSystemIds", ["ai-1", 2], "item 1 must be a string, got int 2"),
        ("createdDate", "yesterday", "is not an ISO 8601 timestamp"),
        ("createdDate", 1767254400, "must be an ISO 8601 string, got int"),
        ("updatedDate", "2026-01-02T09:00:00", "has no UTC offset"),
        ("updatedDate", "2026-01-02", "has no UTC offset"),
    ],
)
def test_wrong_type_rejected(field, value, problem):
    with pytest.raises(RecordError) as caught:
        convert([bom_record(3, **{field: value})])

    assert caught.value.field == field
    assert problem in caught.value.problem


def test_record_error_names_index_id_and_field():
    with pytest.raises(RecordError) as caught:
        convert([bom_record(1), bom_record(2), bom_record(3, modelCount="many")])

    message = str(caught.value)
    assert "record 2" in message
    assert "billOfMaterialsId=bom-0003" in message
    assert "field modelCount" in message


def test_record_error_without_usable_id():
    with pytest.raises(RecordError) as caught:
        convert([bom_record(1, billOfMaterialsId=42)])

    assert caught.value.bom_id is None
    assert caught.value.field == "billOfMaterialsId"


def test_empty_id_rejected():
    with pytest.raises(RecordError) as caught:
        convert([bom_record(1, billOfMaterialsId="")])

    assert caught.value.problem == "must not be empty"


def test_record_that_is_not_an_object_rejected():
    with pytest.raises(RecordError) as caught:
        convert([bom_record(1), ["not", "an", "object"]])

    assert caught.value.index == 1
    assert "must be a JSON object, got list" in str(caught.value)


def test_request_id_appears_in_message():
    error = RecordError(4, "bom-0004", "name", "is missing").with_request_id("req-77")

    assert "requestId=req-77" in str(error)


def test_nullable_fields_accept_null():
    record = bom_record(
        1,
        description=None,
        vcsIntegrationId=None,
        vcsIntegrationName=None,
        lastScanStatusMessage=None,
    )

    row = convert([record]).to_pylist()[0]

    assert row["description"] is None
    assert row["vcs_integration_id"] is None
    assert row["vcs_integration_name"] is None
    assert row["last_scan_status_message"] is None


def test_omitted_nullable_field_stored_as_null():
    record = bom_record(1)
    del record["vcsIntegrationName"]

    row = convert([record]).to_pylist()[0]

    assert row["vcs_integration_name"] is None


def test_empty_ai_system_list_kept():
    row = convert([bom_record(1, aiSystemIds=[])]).to_pylist()[0]

    assert row["ai_system_ids"] == []


def test_unknown_status_kept_and_logged_once(caplog):
    records = [bom_record(n, lastScanStatus="Archived-For-Test") for n in range(3)]

    with caplog.at_level(logging.WARNING, logger="cranium_etl.storage.records"):
        table = convert(records)
        convert(records)

    assert table.column("last_scan_status").to_pylist() == ["Archived-For-Test"] * 3
    warnings = [r for r in caplog.records if "Archived-For-Test" in r.getMessage()]
    assert len(warnings) == 1


def test_extra_fields_kept_as_sorted_json():
    record = bom_record(1, zeta={"nested": [1, 2]}, alpha="ä")

    value = convert([record]).column("extra_fields")[0].as_py()

    assert value == '{"alpha": "ä", "zeta": {"nested": [1, 2]}}'
    assert json.loads(value) == {"alpha": "ä", "zeta": {"nested": [1, 2]}}


def test_naive_synced_at_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        records_to_table([bom_record(1)], sync_run_id="run-1", synced_at=datetime(2026, 1, 3))


def test_sandbox_tenant_records_convert():
    from cranium_etl.sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(seed=11, bom_count=300)) as sandbox:
        records = sandbox.tenant.records()

    table = convert(records)

    assert table.num_rows == 300
    assert table.column("bill_of_materials_id").null_count == 0
