"""The nightly job and its schedule."""

from __future__ import annotations

import os
from datetime import timedelta

import dagster as dg

from cranium_etl.defs.assets import bill_of_materials, bill_of_materials_changes, daily_partitions

nightly_sync = dg.define_asset_job(
    name="nightly_sync",
    selection=[bill_of_materials_changes, bill_of_materials],
    partitions_def=daily_partitions,
    description="Fetch the changes since the last sync, then rebuild the previous day's snapshot.",
)


@dg.schedule(
    job=nightly_sync,
    cron_schedule=os.environ.get("CRANIUM_SCHEDULE_CRON", "0 2 * * *"),
    execution_timezone="UTC",
)
def nightly_sync_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Run the nightly sync for the day that ended before the scheduled time (UTC)."""
    previous_day = (context.scheduled_execution_time - timedelta(days=1)).date()
    return dg.RunRequest(partition_key=previous_day.isoformat())
