"""Software-defined assets: the raw change log and the daily snapshots built from it."""

import os
import warnings
from datetime import date, datetime

import dagster as dg
from pydantic import Field

from cranium_etl.api.errors import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    RateLimitWaitTooLong,
    ResponseError,
)
from cranium_etl.defs.resources import CraniumResource, ParquetStorage
from cranium_etl.storage import StoreLockedError
from cranium_etl.sync import (
    InvalidRecordError,
    reconcile_bill_of_materials,
    sync_bill_of_materials,
)

CRANIUM_API_POOL = "cranium_api"

# BackfillPolicy is marked beta in Dagster 1.13. The warning repeats in every step process and
# gives an operator nothing to act on.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)

# Errors that another attempt cannot fix: wrong credentials or scope, a missing setting, a 4xx
# response, or a record or page that breaks the API contract. They fail the step without retries.
PERMANENT_ERRORS = (
    AuthenticationError,
    ConfigurationError,
    ApiError,
    InvalidRecordError,
    ResponseError,
)


def partitions_start() -> str:
    """Return the first daily partition from CRANIUM_PARTITIONS_START (YYYY-MM-DD)."""
    value = os.environ.get("CRANIUM_PARTITIONS_START") or "2026-01-01"
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise ValueError(
            f"CRANIUM_PARTITIONS_START={value!r} is not a valid date; "
            "set it as YYYY-MM-DD, for example 2026-01-01"
        ) from None
    return value


daily_partitions = dg.DailyPartitionsDefinition(start_date=partitions_start(), timezone="UTC")


class SyncConfig(dg.Config):
    """Run configuration of a sync."""

    full_sync: bool = Field(
        default=False, description="Ignore the stored cursor and fetch every bill of materials."
    )
    reconcile: bool = Field(
        default=False,
        description="List every bill of materials and record the ones missing from the API as "
        "deleted. Implies a full sync.",
    )


@dg.asset(
    group_name="cranium",
    kinds={"parquet"},
    pool=CRANIUM_API_POOL,
    retry_policy=dg.RetryPolicy(
        max_retries=int(os.environ.get("CRANIUM_STEP_RETRIES") or "3"),
        delay=float(os.environ.get("CRANIUM_STEP_RETRY_DELAY") or "30"),
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    ),
)
def bill_of_materials_changes(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    cranium: CraniumResource,
    storage: ParquetStorage,
) -> dg.MaterializeResult:
    """Every version of every bill of materials the API reported, one immutable batch per sync.

    Each run fetches what changed since the cursor stored with the newest batch (everything on the
    first run) and appends one Parquet batch under `raw/bill_of_materials/`. The batch and its
    cursor are committed together, so a failed run changes nothing.
    """
    raw = storage.raw()
    try:
        client = cranium.build_client(pacer_dir=storage.root / ".pacer", logger=context.log)
        with client:
            if config.reconcile:
                result = reconcile_bill_of_materials(
                    client, raw, run_id=context.run.run_id, log=context.log
                )
            else:
                result = sync_bill_of_materials(
                    client, raw, run_id=context.run.run_id, full=config.full_sync, log=context.log
                )
    except RateLimitWaitTooLong as error:
        raise dg.RetryRequested(max_retries=3, seconds_to_wait=error.wait_seconds) from error
    except PERMANENT_ERRORS as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    except StoreLockedError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error

    metadata: dict[str, dg.RawMetadataValue] = {
        "records_fetched": result.records,
        "pages": result.pages,
        "sync_kind": result.sync_kind,
        "cursor_advanced": result.cursor_advanced,
        "batch_path": dg.MetadataValue.path(str(result.batch_path or "")),
        "row_count": result.records,
    }
    if config.reconcile:
        metadata["deletions_detected"] = result.deletions_detected
    if result.fallback_reason:
        metadata["full_sync_reason"] = result.fallback_reason
    for name, value in result.request_stats.items():
        metadata[f"api_{name}"] = value
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name="cranium",
    kinds={"parquet"},
    deps=[bill_of_materials_changes],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def bill_of_materials(
    context: dg.AssetExecutionContext, storage: ParquetStorage
) -> dg.MaterializeResult:
    """State of the tenant's bills of materials at the end of each day (UTC).

    Partition D holds, for each bill of materials created by the end of D, its newest version
    updated on or before the end of D, rebuilt from the raw batches. Rows whose state on D is not
    known (D is before the first sync and the bill of materials has changed since) are kept with
    `state_exact = false`. A multi-day backfill runs as one run.
    """
    raw = storage.raw()
    snapshots = storage.snapshots()
    days = [date.fromisoformat(key) for key in context.partition_keys]

    results = []
    for day in days:
        result = snapshots.build(raw, day, run_id=context.run.run_id)
        context.log.info(
            "wrote snapshot %s: %d bills of materials (%d with inexact state) to %s",
            day.isoformat(),
            result.row_count,
            result.inexact_count,
            result.path,
        )
        results.append(result)

    metadata: dict[str, dg.RawMetadataValue] = {
        "partitions": len(results),
        "row_count": sum(result.row_count for result in results),
        "inexact_rows": sum(result.inexact_count for result in results),
    }
    if len(results) == 1:
        metadata["path"] = dg.MetadataValue.path(str(results[0].path))
    else:
        metadata["paths"] = dg.MetadataValue.md(
            "\n".join(f"- `{result.path}`" for result in results)
        )
    return dg.MaterializeResult(metadata=metadata)
