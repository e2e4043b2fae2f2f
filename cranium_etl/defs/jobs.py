"""The nightly job and its schedule."""

from __future__ import annotations

import os
from datetime import timedelta

import dagster as dg

from cranium_etl.defs.assets import bill_of_materials, bill_of_materials_changes

nightly_sync = dg.define_asset_job(
    name="nightly_sync",
    selection=[bill_of_materials_changes, bill_of_materials],
    description="Fetch the changes since the last sync, then rebuild the previous day's snapshot.",
)


@dg.schedule(
    job=nightly_sync,
    cron_schedule=os.environ.get("CRANIUM_SCHEDULE_CRON") or "0 2 * * *",
    execution_timezone="UTC",
)
def nightly_sync_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Run the nightly sync for the day that ended before the scheduled time (UTC)."""
    previous_day = (context.scheduled_execution_time - timedelta(days=1)).date()
    return dg.RunRequest(partition_key=previous_day.isoformat())


reconcile_deletions = dg.define_asset_job(
    name="reconcile_deletions",
    selection=[bill_of_materials_changes],
    config={"ops": {"bill_of_materials_changes": {"config": {"reconcile": True}}}},
    description="List every bill of materials and record the ones the API no longer returns "
    "as deleted. Launch it from the UI to reconcile on demand.",
)

weekly_reconciliation_schedule = dg.ScheduleDefinition(
    name="weekly_reconciliation_schedule",
    job=reconcile_deletions,
    cron_schedule=os.environ.get("CRANIUM_RECONCILE_CRON") or "0 3 * * 0",
    execution_timezone="UTC",
    description="Weekly full listing that detects deleted bills of materials (Sunday 03:00 UTC).",
)
