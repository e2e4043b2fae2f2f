"""Comparison of the Parquet output with a sandbox tenant's ground truth, for crash and chaos tests.

This module contains no tests; the test modules import it.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from cranium_etl.sandbox import Tenant
from cranium_etl.storage import BOM_SCHEMA, RawStore, SnapshotStore, records_to_table
from cranium_etl.storage.files import is_temp_name

# Columns that carry what the API served; the others describe the sync or the snapshot.
API_COLUMNS = [
    name
    for name in BOM_SCHEMA.names
    if name not in ("deleted_at", "state_exact", "sync_run_id", "synced_at")
]


@dataclass
class Comparison:
    """Differences between the Parquet output and the tenant; every list is empty when they agree.

    `missing`: tenant ids that the raw layer does not hold as live. `stale`: tenant ids whose
    newest live raw version has another updatedDate than the API's. `extra`: live raw ids that
    the tenant does not have and that may not remain live. The `snapshot_*` lists compare today's
    snapshot partition with the tenant in the same way. `snapshot_wrong_content` lists ids whose
    row differs from the API record in any API field.
    """

    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    snapshot_missing: list[str] = field(default_factory=list)
    snapshot_extra: list[str] = field(default_factory=list)
    snapshot_duplicates: list[str] = field(default_factory=list)
    snapshot_wrong_content: list[str] = field(default_factory=list)
    snapshot_inexact: list[str] = field(default_factory=list)
    records_compared: int = 0


def truth_rows(tenant: Tenant) -> dict[str, dict]:
    """Return the tenant's current records converted to rows of API_COLUMNS, by id."""
    table = records_to_table(
        tenant.records(), sync_run_id="ground-truth", synced_at=datetime.now(UTC)
    )
    return {row["bill_of_materials_id"]: row for row in table.select(API_COLUMNS).to_pylist()}


def newest_live_versions(raw: RawStore) -> dict[str, datetime]:
    """Return, for each id whose newest raw row is not a tombstone, its max updated_date.

    Computed from the rows directly, not with RawStore.live_ids, so that the check does not
    share the code it checks. An id is live when a version of it was fetched after its newest
    tombstone was written.
    """
    table = raw.read_table(
        columns=["bill_of_materials_id", "updated_date", "deleted_at", "synced_at"]
    )
    is_tombstone = pc.is_valid(table.column("deleted_at"))
    versions = (
        table.filter(pc.invert(is_tombstone))
        .group_by("bill_of_materials_id")
        .aggregate([("updated_date", "max"), ("synced_at", "max")])
    )
    tombstones = (
        table.filter(is_tombstone)
        .group_by("bill_of_materials_id")
        .aggregate([("deleted_at", "max")])
    )
    deleted_at = dict(
        zip(
            tombstones.column("bill_of_materials_id").to_pylist(),
            tombstones.column("deleted_at_max").to_pylist(),
            strict=True,
        )
    )
    live = {}
    for bom_id, updated, fetched in zip(
        versions.column("bill_of_materials_id").to_pylist(),
        versions.column("updated_date_max").to_pylist(),
        versions.column("synced_at_max").to_pylist(),
        strict=True,
    ):
        if bom_id not in deleted_at or fetched > deleted_at[bom_id]:
            live[bom_id] = updated
    return live


def compare(
    data_dir: Path, tenant: Tenant, *, may_remain_live: set[str] = frozenset()
) -> Comparison:
    """Compare the raw layer and a freshly built snapshot of today with the tenant.

    `may_remain_live` contains deleted ids that no completed reconciliation could have seen
    deleted: the cursor feed never reports a deletion, so they may still be live in the output.
    """
    truth = truth_rows(tenant)
    raw = RawStore(data_dir)
    result = Comparison(records_compared=len(truth))

    live = newest_live_versions(raw)
    result.missing = sorted(set(truth) - set(live))
    result.stale = sorted(
        bom_id
        for bom_id, row in truth.items()
        if bom_id in live and live[bom_id] != row["updated_date"]
    )
    result.extra = sorted(set(live) - set(truth) - set(may_remain_live))

    snapshots = SnapshotStore(data_dir)
    day = snapshots.build(raw, datetime.now(UTC).date(), run_id="comparison").snapshot_date
    table = snapshots.read_table(day)
    ids = table.column("bill_of_materials_id").to_pylist()
    counts = collections.Counter(ids)
    result.snapshot_duplicates = sorted(bom_id for bom_id, count in counts.items() if count > 1)
    result.snapshot_missing = sorted(set(truth) - set(ids))
    result.snapshot_extra = sorted(set(ids) - set(live))
    result.snapshot_inexact = sorted(
        row["bill_of_materials_id"]
        for row in table.select(["bill_of_materials_id", "state_exact"]).to_pylist()
        if not row["state_exact"]
    )
    result.snapshot_wrong_content = sorted(
        row["bill_of_materials_id"]
        for row in table.select(API_COLUMNS).to_pylist()
        if row["bill_of_materials_id"] in truth and row != truth[row["bill_of_materials_id"]]
    )
    return result


def temp_files(data_dir: Path) -> list[Path]:
    """Return the temporary files of unfinished writers anywhere under `data_dir`."""
    return sorted(path for path in data_dir.rglob("*") if is_temp_name(path.name))


def unreadable_visible_files(data_dir: Path) -> list[str]:
    """Return the `*.parquet` files under `data_dir` that cannot be read in full."""
    return unreadable_files(data_dir.rglob("*.parquet"))


def unreadable_files(paths: Iterable[Path]) -> list[str]:
    """Return the given Parquet files that cannot be read in full, each with the error."""
    broken = []
    for path in sorted(paths):
        try:
            pq.read_table(path)
        except Exception as error:  # noqa: BLE001 - any failure means a reader would see it
            broken.append(f"{path}: {error}")
    return broken


def files_seen_by_readers(data_dir: Path) -> list[str]:
    """Return the file names that pyarrow.dataset and `*.parquet` globs find under `data_dir`."""
    names = {path.name for path in data_dir.rglob("*.parquet")}
    for folder in (RawStore(data_dir).directory, SnapshotStore(data_dir).directory):
        if folder.is_dir():
            dataset = ds.dataset(str(folder), format="parquet")
            names.update(Path(name).name for name in dataset.files)
    return sorted(names)
