"""Selection of one version per bill of materials from raw rows."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

# Helper columns that record where a raw row came from, so ties resolve the same way each time.
SEQUENCE_COLUMN = "_batch_sequence"
ROW_COLUMN = "_batch_row"


def with_position(table: pa.Table, sequence: int) -> pa.Table:
    """Append the batch sequence number and the row index within the batch."""
    count = table.num_rows
    table = table.append_column(SEQUENCE_COLUMN, pa.array([sequence] * count, pa.int64()))
    return table.append_column(ROW_COLUMN, pa.array(range(count), pa.int64()))


def first_per_id(table: pa.Table) -> pa.Table:
    """Return the first row of each run of equal ids in a table sorted by id."""
    if table.num_rows == 0:
        return table
    ids = table.column("bill_of_materials_id")
    changed = pc.not_equal(ids.slice(1), ids.slice(0, table.num_rows - 1))
    mask = pa.concat_arrays([pa.array([True]), changed.combine_chunks()])
    return table.filter(mask)


def newest_per_id(table: pa.Table) -> pa.Table:
    """Keep each id's newest version (max updated_date), the last fetched one on a tie."""
    return first_per_id(
        table.sort_by(
            [
                ("bill_of_materials_id", "ascending"),
                ("updated_date", "descending"),
                ("synced_at", "descending"),
                (SEQUENCE_COLUMN, "descending"),
                (ROW_COLUMN, "descending"),
            ]
        )
    )


def earliest_per_id(table: pa.Table) -> pa.Table:
    """Keep each id's earliest version (min updated_date), the last fetched one on a tie."""
    return first_per_id(
        table.sort_by(
            [
                ("bill_of_materials_id", "ascending"),
                ("updated_date", "ascending"),
                ("synced_at", "descending"),
                (SEQUENCE_COLUMN, "descending"),
                (ROW_COLUMN, "descending"),
            ]
        )
    )


def concat_optional(first: pa.Table | None, second: pa.Table) -> pa.Table:
    return second if first is None else pa.concat_tables([first, second])
