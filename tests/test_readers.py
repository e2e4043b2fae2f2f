"""Every reader gets the same rows and types from the Parquet folders in one call."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from test_storage_factory import bom_record, commit_batch

from cranium_etl.storage import BOM_SCHEMA, RawStore, SnapshotStore

NULL_FIELDS = {
    "description": None,
    "vcsIntegrationId": None,
    "vcsIntegrationName": None,
    "lastScanStatusMessage": None,
}

DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.list_(pa.string()): "VARCHAR[]",
    pa.int64(): "BIGINT",
    pa.bool_(): "BOOLEAN",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP WITH TIME ZONE",
}

PANDAS_TYPES = {
    pa.string(): "str",
    pa.list_(pa.string()): "object",
    pa.int64(): "int64",
    pa.bool_(): "bool",
    pa.timestamp("us", tz="UTC"): "datetime64[us, UTC]",
}

POLARS_TYPES = {
    pa.string(): pl.String(),
    pa.list_(pa.string()): pl.List(pl.String()),
    pa.int64(): pl.Int64(),
    pa.bool_(): pl.Boolean(),
    pa.timestamp("us", tz="UTC"): pl.Datetime("us", "UTC"),
}


@pytest.fixture
def data_dir(tmp_path):
    """A data directory with normal, empty and all-null raw batches and snapshot partitions."""
    raw = RawStore(tmp_path)
    snapshots = SnapshotStore(tmp_path)
    commit_batch(
        raw,
        [bom_record(n, extraField={"n": n}) for n in range(20)],
        synced_at="2026-01-03T01:00:00Z",
    )
    commit_batch(raw, [], synced_at="2026-01-04T01:00:00Z")
    commit_batch(
        raw,
        [bom_record(n, updatedDate="2026-01-04T12:00:00Z", **NULL_FIELDS) for n in range(5)],
        synced_at="2026-01-05T01:00:00Z",
    )
    raw.write_tombstones(["bom-0019"], detected_at=raw.batches()[-1].synced_at, run_id="rec")
    commit_batch(
        raw,
        [bom_record(100 + n, updatedDate="2026-01-05T12:00:00Z", **NULL_FIELDS) for n in range(3)],
        synced_at="2026-01-06T01:00:00Z",
    )
    for day in (date(2025, 12, 31), date(2026, 1, 2), date(2026, 1, 4), date(2026, 1, 5)):
        snapshots.build(raw, day)
    return tmp_path


def expected_snapshot_rows(data_dir):
    return sum(pq.read_metadata(path).num_rows for path in snapshot_files(data_dir))


def snapshot_files(data_dir):
    return sorted((data_dir / "bill_of_materials").glob("*/*.parquet"))


def raw_files(data_dir):
    return sorted((data_dir / "raw" / "bill_of_materials").glob("*.parquet"))


def test_every_file_has_bom_schema(data_dir):
    files = raw_files(data_dir) + snapshot_files(data_dir)

    assert len(files) == 9
    for path in files:
        schema = pq.read_schema(path)
        assert schema.equals(BOM_SCHEMA), path
        assert "snapshot_date" not in schema.names, path
        for field in BOM_SCHEMA:
            assert schema.field(field.name).metadata == field.metadata, (path, field.name)


def test_all_null_columns_keep_their_types(data_dir):
    path = raw_files(data_dir)[-1]

    table = pq.read_table(path)

    assert table.column("description").null_count == table.num_rows
    assert table.schema.field("description").type == pa.string()
    assert table.schema.field("deleted_at").type == pa.timestamp("us", tz="UTC")


def test_pyarrow_dataset_reads_snapshots(data_dir):
    table = ds.dataset(str(data_dir / "bill_of_materials"), partitioning="hive").to_table()

    assert table.num_rows == expected_snapshot_rows(data_dir)
    for field in BOM_SCHEMA:
        assert table.schema.field(field.name).type == field.type


def test_snapshot_store_dataset_types_partition_as_date(data_dir):
    table = SnapshotStore(data_dir).dataset().to_table()

    assert table.schema.field("snapshot_date").type == pa.date32()
    assert set(table.column("snapshot_date").to_pylist()) == {
        date(2026, 1, 2),
        date(2026, 1, 4),
        date(2026, 1, 5),
    }


def test_pandas_reads_snapshots(data_dir):
    frame = pd.read_parquet(data_dir / "bill_of_materials")

    assert len(frame) == expected_snapshot_rows(data_dir)
    assert "snapshot_date" in frame.columns
    for field in BOM_SCHEMA:
        assert str(frame[field.name].dtype) == PANDAS_TYPES[field.type], field.name


def test_duckdb_reads_snapshots(data_dir):
    pattern = str(data_dir / "bill_of_materials" / "*" / "*.parquet")
    query = f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)"

    with duckdb.connect() as connection:
        rows = connection.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
        described = connection.execute(f"DESCRIBE {query}").fetchall()

    types = {name: column_type for name, column_type, *_ in described}
    assert rows == expected_snapshot_rows(data_dir)
    assert types["snapshot_date"] == "DATE"
    for field in BOM_SCHEMA:
        assert types[field.name] == DUCKDB_TYPES[field.type], field.name


def test_duckdb_reads_raw_batches(data_dir):
    pattern = str(data_dir / "raw" / "bill_of_materials" / "*.parquet")

    with duckdb.connect() as connection:
        rows = connection.execute(f"SELECT count(*) FROM read_parquet('{pattern}')").fetchone()[0]

    assert rows == RawStore(data_dir).read_table().num_rows


def test_polars_reads_snapshots(data_dir):
    frame = pl.scan_parquet(
        data_dir / "bill_of_materials" / "**" / "*.parquet", hive_partitioning=True
    ).collect()

    assert frame.height == expected_snapshot_rows(data_dir)
    assert "snapshot_date" in frame.columns
    for field in BOM_SCHEMA:
        assert frame.schema[field.name] == POLARS_TYPES[field.type], field.name


def test_readers_agree_on_inexact_rows(data_dir):
    pattern = str(data_dir / "bill_of_materials" / "*" / "*.parquet")
    arrow = ds.dataset(str(data_dir / "bill_of_materials"), partitioning="hive").to_table()
    arrow_count = arrow.filter(pa.compute.invert(arrow.column("state_exact"))).num_rows

    with duckdb.connect() as connection:
        duck_count = connection.execute(
            f"SELECT count(*) FROM read_parquet('{pattern}', hive_partitioning = true) "
            "WHERE NOT state_exact"
        ).fetchone()[0]
    polars_count = (
        pl.scan_parquet(data_dir / "bill_of_materials" / "**" / "*.parquet", hive_partitioning=True)
        .filter(~pl.col("state_exact"))
        .collect()
        .height
    )

    assert arrow_count > 0
    assert duck_count == arrow_count
    assert polars_count == arrow_count
