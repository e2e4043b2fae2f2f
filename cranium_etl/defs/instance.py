"""Preparation of the Dagster instance that runs cranium-etl."""

import dagster as dg

from cranium_etl.defs.assets import CRANIUM_API_POOL


def prepare_instance(instance: dg.DagsterInstance) -> None:
    """Create the instance's storage and the `cranium_api` pool before any run starts.

    Dagster creates both lazily on first use. When two runs are the first to start at once, both
    create the SQLite tables (one fails) and both find the pool missing, so neither waits for the
    other. Doing it once up front makes the pool's limit (`default_limit` in dagster.yaml) hold
    from the first run on.
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    if CRANIUM_API_POOL not in {pool.name for pool in storage.get_pool_limits()}:
        storage.initialize_concurrency_limit_to_default(CRANIUM_API_POOL)
