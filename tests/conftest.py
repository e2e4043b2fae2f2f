"""Shared pytest fixtures: a factory that starts sandboxes over HTTPS on loopback."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cranium_etl.sandbox import Sandbox, SandboxConfig

# Small and fast by default. The quota is far above what a test uses, so that only tests that
# set rate_limit get 429 responses.
SANDBOX_TEST_DEFAULTS: dict[str, Any] = {
    "seed": 7,
    "bom_count": 300,
    "rate_limit": 10_000,
    "rate_window": 60.0,
}


REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return a new DAGSTER_HOME holding the project's dagster.yaml, set in the environment."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Sandbox]]:
    """Return a factory `sandbox(**overrides) -> Sandbox` that starts a sandbox.

    Overrides are SandboxConfig fields; the defaults are SANDBOX_TEST_DEFAULTS. Every sandbox
    started through the factory stops when the test ends.
    """
    started: list[Sandbox] = []

    def start(**overrides: Any) -> Sandbox:
        settings = {**SANDBOX_TEST_DEFAULTS, **overrides}
        settings.setdefault("cert_dir", tmp_path_factory.mktemp("sandbox-tls"))
        instance = Sandbox(SandboxConfig(**settings)).start()
        started.append(instance)
        return instance

    yield start

    for instance in reversed(started):
        instance.stop()
