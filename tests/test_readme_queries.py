"""The README's query examples run as written on Parquet that a real sync produced."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_client_support import client_config

from cranium_etl.api import CraniumClient
from cranium_etl.storage import RawStore, SnapshotStore
from cranium_etl.sync import sync_bill_of_materials

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_python_blocks() -> list[str]:
    querying = README.read_text().split("## Querying", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", querying, flags=re.DOTALL)


def test_readme_has_query_examples():
    assert len(readme_python_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(readme_python_blocks())))
def test_readme_query_runs(sandbox, tmp_path, monkeypatch, index):
    server = sandbox(bom_count=80)
    raw = RawStore(tmp_path / "data")
    with CraniumClient(client_config(server)) as client:
        sync_bill_of_materials(client, raw, run_id="readme")
    today = datetime.now(UTC).date()
    for day in (today - timedelta(days=2), today - timedelta(days=1)):
        SnapshotStore(tmp_path / "data").build(raw, day)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}

    exec(compile(readme_python_blocks()[index], f"README.md block {index}", "exec"), namespace)

    if "latest" in namespace:
        assert len(namespace["latest"]) > 0
        assert namespace["latest"]["snapshot_date"].nunique() == 1
