"""Shared pieces of the benchmarks: a sandbox in this process, syncs in child processes.

A sync runs in its own process so that its peak RSS and its share of the GIL are its own, and
the sandbox's memory and CPU never count towards the client's figures.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from cranium_etl.sandbox import Sandbox, SandboxConfig

BENCHMARK_DIR = Path(__file__).resolve().parent
SECRET_ENV = "CRANIUM_CLIENT_SECRET"


def start_sandbox(**settings) -> Sandbox:
    """Start a sandbox with `settings` (SandboxConfig fields) in a background thread."""
    return Sandbox(SandboxConfig(**settings)).start()


def launch_sync(sandbox: Sandbox, data_dir: Path, **client_settings) -> subprocess.Popen:
    """Start `sync_child.py` that syncs `sandbox` into `data_dir`; `collect` reads its figures.

    `client_settings` are ClientConfig fields. The client secret reaches the child through its
    environment, never through its command line.
    """
    settings = {
        "client_id": sandbox.config.client_id,
        "scope": sandbox.config.scope,
        "token_url": sandbox.token_url,
        "base_url": sandbox.base_url,
        "bom_path": sandbox.config.bom_path,
        "ca_bundle": sandbox.ca_bundle,
        **client_settings,
    }
    environment = {**os.environ, SECRET_ENV: sandbox.config.client_secret}
    command = [sys.executable, str(BENCHMARK_DIR / "sync_child.py"), str(data_dir)]
    return subprocess.Popen(
        [*command, json.dumps(settings)], env=environment, stdout=subprocess.PIPE, text=True
    )


def collect(process: subprocess.Popen) -> dict:
    """Wait for a child started by `launch_sync` and return the figures it printed."""
    output, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"sync child {process.pid} failed with exit status {process.returncode}")
    return json.loads(output)


def machine() -> dict[str, str]:
    """Return the core count, Python version, platform and current date of this run."""
    return {
        "cores (nproc)": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def print_table(rows: list[dict]) -> None:
    """Print `rows` as a Markdown table whose columns are the keys of the first row."""
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[column]) for column in columns) + " |")
