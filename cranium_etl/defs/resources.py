"""Dagster resources: the Cranium API client and the Parquet data directory."""

import logging
import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from cranium_etl.api import ClientConfig, CraniumClient
from cranium_etl.storage import RawStore, SnapshotStore

DEFAULT_BASE_URL = "https://api.cranium.ai"
DEFAULT_TOKEN_URL = "https://api.cranium.ai/oauth2/v2.0/token"
DEFAULT_SCOPE = "https://id.cranium.ai/api/.default"
DEFAULT_BOM_PATH = "/api/public/v1/billofmaterials"


def env_or(name: str, default):
    """Return an `EnvVar` when the variable is set, else the default.

    An int default gives `EnvVar.int`. An `EnvVar` is resolved when a run starts and shows in
    the Dagster UI as the variable's name, never its value, which keeps the client secret out of
    run configuration.
    """
    if os.environ.get(name, "") == "":
        return default
    if isinstance(default, int):
        return dg.EnvVar.int(name)
    return dg.EnvVar(name)


class CraniumResource(dg.ConfigurableResource):
    """Connection to the Cranium Public REST API (OAuth 2.0 client credentials).

    Builds a `CraniumClient` per step; the client requests, caches and renews bearer tokens on its
    own, so assets never see one.
    """

    client_id: str = Field(default="", description="OAuth client ID (CRANIUM_CLIENT_ID).")
    client_secret: str = Field(
        default="", description="OAuth client secret (CRANIUM_CLIENT_SECRET); never logged."
    )
    scope: str = Field(default=DEFAULT_SCOPE, description="OAuth scope (CRANIUM_SCOPE).")
    base_url: str = Field(default=DEFAULT_BASE_URL, description="API origin (CRANIUM_BASE_URL).")
    token_url: str = Field(default=DEFAULT_TOKEN_URL, description="Token endpoint URL.")
    bom_path: str = Field(default=DEFAULT_BOM_PATH, description="Bills of Materials list path.")
    auth_style: str = Field(
        default="basic", description="Client authentication at the token endpoint: basic or body."
    )
    ca_bundle: str = Field(
        default="", description="PEM CA bundle to verify the API's TLS certificate; empty = system."
    )
    page_size: int = Field(default=200, description="Records per page, 1 to 200.")
    max_retries: int = Field(default=8, description="Retries per request before giving up.")
    max_total_wait: int = Field(
        default=600, description="Seconds a request may spend waiting on retries in total."
    )
    max_inline_wait: int = Field(
        default=120,
        description="Longest Retry-After, in seconds, waited inside the step; longer waits end "
        "the step and let Dagster retry it later.",
    )
    pacer_dir: str = Field(
        default="",
        description="Folder for the request counter shared by every process on this machine; "
        "empty = <data dir>/.pacer.",
    )

    def build_client(self, *, pacer_dir: Path, logger: logging.Logger) -> CraniumClient:
        config = ClientConfig(
            client_id=self.client_id,
            client_secret=self.client_secret,
            scope=self.scope,
            base_url=self.base_url,
            token_url=self.token_url,
            bom_path=self.bom_path,
            auth_style=self.auth_style,
            ca_bundle=self.ca_bundle or None,
            page_size=self.page_size,
            max_retries=self.max_retries,
            max_total_wait=self.max_total_wait,
            max_inline_wait=self.max_inline_wait,
            pacer_dir=Path(self.pacer_dir) if self.pacer_dir else pacer_dir,
        )
        return CraniumClient(config, logger=logger)


class ParquetStorage(dg.ConfigurableResource):
    """Data directory holding the raw change batches and the daily snapshot partitions."""

    data_dir: str = Field(
        default="data", description="Root of the Parquet output (CRANIUM_DATA_DIR)."
    )

    @property
    def root(self) -> Path:
        return Path(self.data_dir).resolve()

    def raw(self) -> RawStore:
        return RawStore(self.root)

    def snapshots(self) -> SnapshotStore:
        return SnapshotStore(self.root)


def resources_from_environment() -> dict[str, dg.ConfigurableResource]:
    """Build the resources from `CRANIUM_*` environment variables, with the documented defaults."""
    cranium = CraniumResource(
        client_id=env_or("CRANIUM_CLIENT_ID", ""),
        client_secret=env_or("CRANIUM_CLIENT_SECRET", ""),
        scope=env_or("CRANIUM_SCOPE", DEFAULT_SCOPE),
        base_url=env_or("CRANIUM_BASE_URL", DEFAULT_BASE_URL),
        token_url=env_or("CRANIUM_TOKEN_URL", DEFAULT_TOKEN_URL),
        bom_path=env_or("CRANIUM_BOM_PATH", DEFAULT_BOM_PATH),
        auth_style=env_or("CRANIUM_AUTH_STYLE", "basic"),
        ca_bundle=env_or("CRANIUM_CA_BUNDLE", ""),
        pacer_dir=env_or("CRANIUM_PACER_DIR", ""),
        page_size=env_or("CRANIUM_PAGE_SIZE", 200),
        max_retries=env_or("CRANIUM_MAX_RETRIES", 8),
        max_total_wait=env_or("CRANIUM_MAX_TOTAL_WAIT", 600),
        max_inline_wait=env_or("CRANIUM_MAX_INLINE_WAIT", 120),
    )
    storage = ParquetStorage(data_dir=env_or("CRANIUM_DATA_DIR", "data"))
    return {"cranium": cranium, "storage": storage}
