"""Dagster code location: `dagster dev -w workspace.yaml` or `-m cranium_etl.definitions`."""

import dagster as dg

from cranium_etl.defs.assets import bill_of_materials, bill_of_materials_changes
from cranium_etl.defs.jobs import (
    nightly_sync,
    nightly_sync_schedule,
    reconcile_deletions,
    weekly_reconciliation_schedule,
)
from cranium_etl.defs.resources import resources_from_environment

defs = dg.Definitions(
    assets=[bill_of_materials_changes, bill_of_materials],
    jobs=[nightly_sync, reconcile_deletions],
    schedules=[nightly_sync_schedule, weekly_reconciliation_schedule],
    resources=resources_from_environment(),
)
