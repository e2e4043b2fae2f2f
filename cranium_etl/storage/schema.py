"""The Arrow schema shared by the raw batches and the snapshot partitions.

Every Parquet file that this package writes has exactly `BOM_SCHEMA`, empty files included, so
pyarrow.dataset, pandas, DuckDB and polars read a whole folder of them in one call. The snapshot
partition column `snapshot_date` is not part of the schema: readers take it from the folder name.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1"

# Prefix of every key-value metadata key this package writes into a Parquet file.
METADATA_PREFIX = "cranium_etl."

TIMESTAMP = pa.timestamp("us", tz="UTC")

# API field name -> column name, in column order. Every API field of the record is listed.
API_COLUMNS: dict[str, str] = {
    "billOfMaterialsId": "bill_of_materials_id",
    "name": "name",
    "description": "description",
    "repositoryUrl": "repository_url",
    "vcsIntegrationId": "vcs_integration_id",
    "vcsIntegrationName": "vcs_integration_name",
    "aiSystemIds": "ai_system_ids",
    "lastScanStatus": "last_scan_status",
    "lastScanStatusMessage": "last_scan_status_message",
    "totalVulnerabilitiesCount": "total_vulnerabilities_count",
    "totalResolvedVulnerabilitiesCount": "total_resolved_vulnerabilities_count",
    "modelCount": "model_count",
    "dataSetCount": "data_set_count",
    "technologyCount": "technology_count",
    "infrastructureCount": "infrastructure_count",
    "createdDate": "created_date",
    "updatedDate": "updated_date",
}

# Values of lastScanStatus listed in the API documentation. Other values are stored unchanged.
KNOWN_SCAN_STATUSES = frozenset(
    {"Completed", "Failed", "InProgress", "NotStarted", "Pending", "Queued", "Unscanned"}
)


def _field(name: str, type_: pa.DataType, description: str, *, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"description": description})


BOM_SCHEMA = pa.schema(
    [
        _field(
            "bill_of_materials_id",
            pa.string(),
            "Stable identity (GUID) of the bill of materials; API field billOfMaterialsId.",
            nullable=False,
        ),
        _field("name", pa.string(), "Name as shown in the Cranium portal."),
        _field("description", pa.string(), "Free-text description; null when the API has none."),
        _field("repository_url", pa.string(), "Source repository of the scanned project."),
        _field(
            "vcs_integration_id",
            pa.string(),
            "VCS integration used for the scan; null when scanned without one.",
        ),
        _field("vcs_integration_name", pa.string(), "Name of that VCS integration, or null."),
        _field(
            "ai_system_ids",
            pa.list_(pa.string()),
            "GUIDs of the AI Systems the bill of materials belongs to; may be empty.",
        ),
        _field(
            "last_scan_status",
            pa.string(),
            "Status of the last scan as sent by the API, unknown values included.",
        ),
        _field("last_scan_status_message", pa.string(), "Message of the last scan, or null."),
        _field("total_vulnerabilities_count", pa.int64(), "Vulnerabilities found."),
        _field("total_resolved_vulnerabilities_count", pa.int64(), "Vulnerabilities resolved."),
        _field("model_count", pa.int64(), "AI models in the bill of materials."),
        _field("data_set_count", pa.int64(), "Data sets in the bill of materials."),
        _field("technology_count", pa.int64(), "Technologies in the bill of materials."),
        _field(
            "infrastructure_count", pa.int64(), "Infrastructure items in the bill of materials."
        ),
        _field("created_date", TIMESTAMP, "Creation time (UTC) reported by the API."),
        _field(
            "updated_date",
            TIMESTAMP,
            "Time (UTC) of the last change reported by the API; identifies the version.",
        ),
        _field(
            "extra_fields",
            pa.string(),
            "JSON object (sorted keys) of API fields this schema does not know; null if none.",
        ),
        _field(
            "deleted_at",
            TIMESTAMP,
            "Time (UTC) a reconciliation found the bill of materials missing from the API; "
            "null except in tombstone rows.",
        ),
        _field(
            "state_exact",
            pa.bool_(),
            "False when the row is the earliest known version standing in for an unknown state "
            "at the snapshot time; always true in the raw layer.",
        ),
        _field("sync_run_id", pa.string(), "Id of the sync run that fetched the row."),
        _field("synced_at", TIMESTAMP, "Start time (UTC) of the sync run that fetched the row."),
    ],
    metadata={
        "description": "Cranium AI bills of materials: a fetched version per row in the raw "
        "layer, a bill of materials per row in a snapshot partition.",
        f"{METADATA_PREFIX}schema_version": SCHEMA_VERSION,
    },
)

COLUMN_NAMES: tuple[str, ...] = tuple(BOM_SCHEMA.names)


def empty_table() -> pa.Table:
    """Return a table with no rows and exactly `BOM_SCHEMA`."""
    return BOM_SCHEMA.empty_table()
