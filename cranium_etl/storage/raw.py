"""Raw layer: immutable Parquet batches, one per sync run, each carrying its cursor."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from cranium_etl.storage.batch import DEFAULT_ROW_GROUP_ROWS, BatchWriter, metadata_key
from cranium_etl.storage.errors import StorageError
from cranium_etl.storage.files import ensure_directory, remove_temp_files
from cranium_etl.storage.lock import SyncLock
from cranium_etl.storage.records import to_utc
from cranium_etl.storage.schema import BOM_SCHEMA, METADATA_PREFIX
from cranium_etl.storage.versions import first_per_id

log = logging.getLogger(__name__)

RAW_SUBDIR = Path("raw") / "bill_of_materials"
BATCH_NAME = re.compile(r"^batch-(?P<sequence>\d{6,})-(?P<stamp>\d{8}T\d{6}Z)\.parquet$")


@dataclass(frozen=True)
class BatchInfo:
    """A committed raw batch and the metadata stored in its Parquet footer.

    `error` is set, and the metadata fields are None, when the footer cannot be read.
    """

    path: Path
    sequence: int
    sync_kind: str | None = None
    run_id: str | None = None
    synced_at: datetime | None = None
    cursor: str | None = None
    previous_cursor: str | None = None
    record_count: int | None = None
    schema_version: str | None = None
    request_ids: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def row_count(self) -> int | None:
        """Rows in the batch, tombstones included (the stored record count)."""
        return self.record_count


@dataclass(frozen=True)
class CursorState:
    """The stored API cursor, taken from the newest committed sync batch.

    `cursor` is None when the batch or its cursor cannot be used. `reason` then gives the cause,
    and the caller should run a full sync.
    """

    cursor: str | None
    batch_path: Path
    synced_at: datetime | None
    sync_kind: str | None
    reason: str | None = None

    @property
    def usable(self) -> bool:
        return self.cursor is not None


class RawStore:
    """Raw layer under `<data_dir>/raw/bill_of_materials/`.

    Every sync run adds one immutable file `batch-<sequence>-<synced_at>.parquet` holding the
    records it fetched, with the run's API cursor in the file's key-value metadata.
    """

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir)
        self.directory = self.data_dir / RAW_SUBDIR

    def lock(self, timeout: float = 0) -> SyncLock:
        """Return the data directory's sync lock, which raises StoreLockedError when held.

        Taking the lock also removes temporary files left by interrupted writers.
        """
        return SyncLock(self.data_dir, timeout=timeout, on_acquire=self._remove_all_temp_files)

    def open_batch(
        self,
        *,
        run_id: str,
        synced_at: datetime,
        sync_kind: str,
        previous_cursor: str | None = None,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    ) -> BatchWriter:
        """Start a batch for one sync run. Use the result as a context manager.

        Rows are written in row groups of `row_group_rows`, which bounds the memory a batch
        uses. Temporary files of writers whose process no longer runs are removed first. Callers
        that write should hold `lock()`, which also serialises the sequence numbers.
        """
        ensure_directory(self.directory, "creating the raw directory")
        remove_temp_files(self.directory)
        return BatchWriter(
            self,
            run_id=run_id,
            synced_at=synced_at,
            sync_kind=sync_kind,
            previous_cursor=previous_cursor,
            row_group_rows=row_group_rows,
        )

    def batches(self) -> list[BatchInfo]:
        """Return every committed batch in commit order, unreadable ones with `error` set."""
        return [self._read_info(path, sequence) for sequence, path in self._batch_paths()]

    def latest_cursor(self) -> CursorState | None:
        """Return the cursor of the newest sync batch, or None when no batch was committed.

        Tombstone batches carry no cursor and are skipped. If the newest sync batch is
        unreadable or has no cursor, the state has `cursor=None` and a `reason`.
        """
        for sequence, path in reversed(self._batch_paths()):
            info = self._read_info(path, sequence)
            if info.error is not None:
                return CursorState(
                    None, path, None, None, f"batch {path.name} is unreadable: {info.error}"
                )
            if info.sync_kind == "tombstones":
                continue
            if info.cursor is None:
                reason = f"batch {path.name} has no {metadata_key('cursor')} metadata"
                return CursorState(None, path, info.synced_at, info.sync_kind, reason)
            return CursorState(info.cursor, path, info.synced_at, info.sync_kind)
        return None

    def dataset(self, *, readable_only: bool = False) -> ds.Dataset:
        """Return a pyarrow dataset over the committed batches, in commit order."""
        paths = [info.path for info in self.batches() if not (readable_only and info.error)]
        return ds.dataset([str(path) for path in paths], schema=BOM_SCHEMA, format="parquet")

    def read_table(
        self, filter: ds.Expression | None = None, columns: list[str] | None = None
    ) -> pa.Table:
        """Read the rows of every committed batch, optionally filtered.

        Raises StorageError naming the batch when one cannot be read.
        """
        for info in self.batches():
            if info.error is not None:
                raise StorageError(
                    f"raw batch {info.path} is unreadable ({info.error}); move it out of "
                    f"{self.directory} to read the other batches"
                )
        return self.dataset().to_table(filter=filter, columns=columns)

    def live_ids(self) -> set[str]:
        """Return the ids whose newest raw row is not a tombstone."""
        table = self.read_table(
            columns=["bill_of_materials_id", "deleted_at", "synced_at", "updated_date"]
        )
        table = table.sort_by([("synced_at", "ascending")])
        latest: dict[str, bool] = {}
        ids = table.column("bill_of_materials_id").to_pylist()
        deleted = pc.is_valid(table.column("deleted_at")).to_pylist()
        for bom_id, is_tombstone in zip(ids, deleted, strict=True):
            latest[bom_id] = is_tombstone
        return {bom_id for bom_id, is_tombstone in latest.items() if not is_tombstone}

    def write_tombstones(
        self, ids: Iterable[str], *, detected_at: datetime, run_id: str
    ) -> Path | None:
        """Record that a reconciliation found these BOMs missing from the API.

        Each tombstone row repeats the BOM's newest known version with `deleted_at` set to
        `detected_at`. Return the batch path, or None when `ids` is empty. Raises ValueError
        for an id that has no raw row.
        """
        wanted = sorted(set(ids))
        if not wanted:
            return None
        detected_at = to_utc(detected_at, "detected_at")

        rows = self.read_table(
            filter=(pc.field("bill_of_materials_id").isin(wanted))
            & pc.field("deleted_at").is_null()
        )
        rows = rows.sort_by(
            [
                ("bill_of_materials_id", "ascending"),
                ("updated_date", "descending"),
                ("synced_at", "descending"),
            ]
        )
        newest = first_per_id(rows)
        missing = sorted(set(wanted) - set(newest.column("bill_of_materials_id").to_pylist()))
        if missing:
            raise ValueError(
                f"cannot write tombstones for {len(missing)} ids without raw rows: "
                f"{', '.join(missing[:5])}"
            )

        count = newest.num_rows
        tombstones = (
            newest.set_column(
                BOM_SCHEMA.get_field_index("deleted_at"),
                BOM_SCHEMA.field("deleted_at"),
                pa.array([detected_at] * count, BOM_SCHEMA.field("deleted_at").type),
            )
            .set_column(
                BOM_SCHEMA.get_field_index("sync_run_id"),
                BOM_SCHEMA.field("sync_run_id"),
                pa.array([run_id] * count, pa.string()),
            )
            .set_column(
                BOM_SCHEMA.get_field_index("synced_at"),
                BOM_SCHEMA.field("synced_at"),
                pa.array([detected_at] * count, BOM_SCHEMA.field("synced_at").type),
            )
        )
        with self.open_batch(
            run_id=run_id, synced_at=detected_at, sync_kind="tombstones", previous_cursor=None
        ) as batch:
            batch.write_table(tombstones.cast(BOM_SCHEMA))
            path = batch.commit(cursor=None)
        log.info("recorded %d deleted bills of materials in %s", count, path.name)
        return path

    def next_sequence(self) -> int:
        paths = self._batch_paths()
        return paths[-1][0] + 1 if paths else 1

    @staticmethod
    def batch_file_name(sequence: int, synced_at: datetime) -> str:
        return f"batch-{sequence:06d}-{synced_at.strftime('%Y%m%dT%H%M%SZ')}.parquet"

    def _batch_paths(self) -> list[tuple[int, Path]]:
        try:
            entries = list(self.directory.iterdir())
        except FileNotFoundError:
            return []
        found = []
        for path in entries:
            match = BATCH_NAME.match(path.name)
            if match:
                found.append((int(match["sequence"]), path))
        return sorted(found)

    def _remove_all_temp_files(self) -> None:
        # The lock holder is the only writer, so files of other processes are leftovers.
        remove_temp_files(self.directory, keep_own_process=True)

    def _read_info(self, path: Path, sequence: int) -> BatchInfo:
        try:
            raw_metadata = pq.read_metadata(path).metadata or {}
        except (OSError, pa.ArrowException) as error:
            return BatchInfo(path, sequence, error=str(error) or type(error).__name__)

        metadata = {
            key.decode(): value.decode()
            for key, value in raw_metadata.items()
            if key.decode().startswith(METADATA_PREFIX)
        }
        try:
            synced_at = _parse_time(metadata.get(metadata_key("synced_at")))
            record_count = _parse_int(metadata.get(metadata_key("record_count")))
            request_ids = tuple(json.loads(metadata.get(metadata_key("request_ids"), "[]")))
        except ValueError as error:
            return BatchInfo(path, sequence, metadata=metadata, error=f"bad metadata: {error}")
        return BatchInfo(
            path=path,
            sequence=sequence,
            sync_kind=metadata.get(metadata_key("sync_kind")),
            run_id=metadata.get(metadata_key("sync_run_id")),
            synced_at=synced_at,
            cursor=metadata.get(metadata_key("cursor")),
            previous_cursor=metadata.get(metadata_key("previous_cursor")),
            record_count=record_count,
            schema_version=metadata.get(metadata_key("schema_version")),
            request_ids=request_ids,
            metadata=metadata,
        )


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _parse_int(value: str | None) -> int | None:
    return None if value is None else int(value)
