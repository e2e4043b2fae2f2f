"""Streaming writer for one raw batch file."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from cranium_etl.storage.errors import RecordError, StorageWriteError
from cranium_etl.storage.files import PARQUET_OPTIONS, discard, publish, temp_path
from cranium_etl.storage.records import records_to_table, to_utc
from cranium_etl.storage.schema import BOM_SCHEMA, METADATA_PREFIX, SCHEMA_VERSION

if TYPE_CHECKING:
    from cranium_etl.storage.raw import RawStore

log = logging.getLogger(__name__)

SYNC_KINDS = ("full", "incremental", "tombstones")

# Rows kept in memory before they are written as one row group. Memory use of a batch is
# bounded by this, not by the size of the tenant.
DEFAULT_ROW_GROUP_ROWS = 10_000

# Attempts at finding a free sequence number when another writer commits at the same time.
_COMMIT_ATTEMPTS = 20


def metadata_key(name: str) -> str:
    return f"{METADATA_PREFIX}{name}"


class BatchWriter:
    """Writes the rows of one sync run to a temporary file and publishes it on `commit`.

    Use it as a context manager: leaving the block without `commit` deletes the temporary file,
    so an interrupted sync leaves neither rows nor a new cursor behind.
    """

    def __init__(
        self,
        store: RawStore,
        *,
        run_id: str,
        synced_at: datetime,
        sync_kind: str,
        previous_cursor: str | None,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    ) -> None:
        if sync_kind not in SYNC_KINDS:
            raise ValueError(f"sync_kind must be one of {SYNC_KINDS}, got {sync_kind!r}")
        if not run_id:
            raise ValueError("run_id must not be empty")
        self.store = store
        self.run_id = run_id
        self.synced_at = to_utc(synced_at, "synced_at")
        self.sync_kind = sync_kind
        self.previous_cursor = previous_cursor
        self.record_count = 0
        self.path: Path | None = None
        self._row_group_rows = row_group_rows
        self._buffer: list[pa.Table] = []
        self._buffered_rows = 0
        self._request_ids: list[str] = []
        self._closed = False
        self._temp = temp_path(store.directory, "batch")
        try:
            self._writer = pq.ParquetWriter(self._temp, BOM_SCHEMA, **PARQUET_OPTIONS)
        except OSError as error:
            discard(self._temp)
            raise StorageWriteError("creating a raw batch", self._temp, error) from error

    @property
    def temp_path(self) -> Path:
        """Temporary file the rows go to until `commit`."""
        return self._temp

    @property
    def committed(self) -> bool:
        return self.path is not None

    def write_records(
        self, records: Iterable[Mapping[str, Any]], request_id: str | None = None
    ) -> int:
        """Validate API records, append them and return the number of rows added.

        Raises RecordError (with `request_id` set) when a record is invalid. In that case no
        record of this call is added.
        """
        try:
            table = records_to_table(records, sync_run_id=self.run_id, synced_at=self.synced_at)
        except RecordError as error:
            raise error.with_request_id(request_id) from None
        if request_id is not None:
            self._request_ids.append(request_id)
        self.write_table(table)
        return table.num_rows

    def write_table(self, table: pa.Table) -> None:
        """Append rows that already have `BOM_SCHEMA` (used for tombstones)."""
        self._check_open()
        if not table.schema.equals(BOM_SCHEMA):
            raise ValueError(f"table schema differs from BOM_SCHEMA:\n{table.schema}")
        if table.num_rows == 0:
            return
        self._buffer.append(table)
        self._buffered_rows += table.num_rows
        self.record_count += table.num_rows
        if self._buffered_rows >= self._row_group_rows:
            self._flush()

    def commit(self, cursor: str | None, extra_metadata: Mapping[str, str] | None = None) -> Path:
        """Store `cursor` in the file metadata, publish the file and return its final path.

        The file content and its directory entry are flushed to disk before and after the
        rename, so after a crash the batch is either complete or absent.
        """
        self._check_open()
        metadata = self._metadata(cursor, extra_metadata)
        try:
            self._flush()
            self._writer.add_key_value_metadata(metadata)
            self._writer.close()
        except OSError as error:
            self.abort()
            raise StorageWriteError("writing a raw batch", self._temp, error) from error
        self._closed = True

        self.path = self._publish()
        log.info(
            "committed raw batch %s (%d rows, %s sync, run %s)",
            self.path.name,
            self.record_count,
            self.sync_kind,
            self.run_id,
        )
        return self.path

    def abort(self) -> None:
        """Discard the temporary file, leaving the store as it was before `open_batch`."""
        if not self._closed:
            self._closed = True
            try:
                self._writer.close()
            except OSError as error:
                log.debug("closing the aborted batch %s failed: %s", self._temp, error)
        discard(self._temp)

    def _publish(self) -> Path:
        for _ in range(_COMMIT_ATTEMPTS):
            final = self.store.directory / self.store.batch_file_name(
                self.store.next_sequence(), self.synced_at
            )
            try:
                publish(self._temp, final, replace=False)
            except FileExistsError:
                continue
            except OSError as error:
                discard(self._temp)
                raise StorageWriteError("publishing a raw batch", final, error) from error
            return final
        discard(self._temp)
        raise StorageWriteError(
            "publishing a raw batch",
            self.store.directory,
            FileExistsError(f"no free sequence number after {_COMMIT_ATTEMPTS} attempts"),
        )

    def _flush(self) -> None:
        if not self._buffer:
            return
        table = pa.concat_tables(self._buffer)
        self._buffer = []
        self._buffered_rows = 0
        try:
            self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        except OSError as error:
            self.abort()
            raise StorageWriteError("writing a raw batch", self._temp, error) from error

    def _metadata(self, cursor: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
        metadata = {
            metadata_key("schema_version"): SCHEMA_VERSION,
            metadata_key("sync_kind"): self.sync_kind,
            metadata_key("sync_run_id"): self.run_id,
            metadata_key("synced_at"): self.synced_at.isoformat(),
            metadata_key("record_count"): str(self.record_count),
            metadata_key("request_ids"): json.dumps(self._request_ids),
        }
        if cursor is not None:
            metadata[metadata_key("cursor")] = cursor
        if self.previous_cursor is not None:
            metadata[metadata_key("previous_cursor")] = self.previous_cursor
        for key, value in (extra or {}).items():
            if key in metadata or key.startswith((METADATA_PREFIX, "ARROW:")):
                raise ValueError(f"extra metadata key {key!r} is reserved by the raw store")
            metadata[str(key)] = str(value)
        return metadata

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"raw batch {self._temp.name} is already committed or aborted")

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self.committed:
            self.abort()
