"""Helpers for the API client tests: a client config aimed at a sandbox, ground truth.

This module contains no tests; the test modules import it.
"""

from __future__ import annotations

from typing import Any

from cranium_etl.api import ClientConfig, CraniumClient
from cranium_etl.sandbox import Sandbox

# Backoff in milliseconds keeps retry tests fast; production defaults are in seconds.
FAST_BACKOFF: dict[str, Any] = {"backoff_initial": 0.01, "backoff_max": 0.05}


def client_config(server: Sandbox, **overrides: Any) -> ClientConfig:
    """Return a ClientConfig for `server` whose pacer quota matches the sandbox quota."""
    settings: dict[str, Any] = {
        "client_id": server.config.client_id,
        "client_secret": server.config.client_secret,
        "scope": server.config.scope,
        "token_url": server.token_url,
        "base_url": server.base_url,
        "ca_bundle": server.ca_bundle,
        "rate_limit": server.config.rate_limit,
        "rate_window": server.config.rate_window,
        **FAST_BACKOFF,
    }
    settings.update(overrides)
    return ClientConfig(**settings)


def fetch_records(client: CraniumClient, cursor: str | None = None) -> tuple[list[dict], str]:
    """Return every record from `cursor` on and the final cursor."""
    records: list[dict] = []
    final_cursor = None
    for page in client.iter_bill_of_materials(cursor):
        records.extend(page.records)
        final_cursor = page.next_cursor
    return records, final_cursor


def record_ids(records: list[dict]) -> list[str]:
    return [record["billOfMaterialsId"] for record in records]
