"""Dagster code location: `dagster dev -w workspace.yaml` or `-m cranium_etl.definitions`."""

import dagster as dg

from cranium_etl.defs.assets import bill_of_materials, bill_of_materials_changes
from cranium_etl.defs.jobs import nightly_sync, nightly_sync_schedule
from cranium_etl.defs.resources import resources_from_environment

defs = dg.Definitions(
    assets=[bill_of_materials_changes, bill_of_materials],
    jobs=[nightly_sync],
    schedules=[nightly_sync_schedule],
    resources=resources_from_environment(),
)
