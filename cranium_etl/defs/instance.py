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
    free_slots_of_finished_runs(instance)


def free_slots_of_finished_runs(instance: dg.DagsterInstance) -> list[str]:
    """Release `cranium_api` slots still held by runs that have ended, and return their ids.

    A run whose process was killed keeps its slot, so every later run would wait for it. Once
    the run is marked as ended (in the UI: Terminate, then force termination), this releases the
    slot at once. The daemon does the same after `free_slots_after_run_end_seconds`.
    """
    info = instance.event_log_storage.get_concurrency_info(CRANIUM_API_POOL)
    holders = {slot.run_id for slot in info.claimed_slots}
    holders |= {step.run_id for step in info.pending_steps}

    freed = []
    for run_id in sorted(holders):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            freed.append(run_id)
    return freed
