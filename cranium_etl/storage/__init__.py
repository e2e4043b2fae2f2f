"""Parquet storage of bills of materials: a raw change log and daily snapshots.

This package imports no HTTP or Dagster code. It takes API records as received and writes
Parquet files that all share `BOM_SCHEMA`.
"""

from cranium_etl.storage.batch import BatchWriter
from cranium_etl.storage.errors import (
    RecordError,
    StorageError,
    StorageWriteError,
    StoreLockedError,
)
from cranium_etl.storage.lock import SyncLock
from cranium_etl.storage.raw import BatchInfo, CursorState, RawStore
from cranium_etl.storage.records import records_to_table
from cranium_etl.storage.schema import BOM_SCHEMA, SCHEMA_VERSION
from cranium_etl.storage.snapshots import SnapshotResult, SnapshotStore

__all__ = [
    "BOM_SCHEMA",
    "SCHEMA_VERSION",
    "BatchInfo",
    "BatchWriter",
    "CursorState",
    "RawStore",
    "RecordError",
    "SnapshotResult",
    "SnapshotStore",
    "StorageError",
    "StorageWriteError",
    "StoreLockedError",
    "SyncLock",
    "records_to_table",
]
