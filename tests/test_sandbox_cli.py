"""Specification of the sandbox command line, run as a real process."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from urllib.parse import quote_plus

import requests

SECRET = "cli secret+/:%="


def wait_for_file(path, process, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            output = process.communicate(timeout=5)[0] if process.poll() is not None else ""
            raise AssertionError(f"sandbox did not write {path}: {output}")
        time.sleep(0.05)


def test_cli_serves_until_sigterm(tmp_path):
    info_file = tmp_path / "sandbox.json"
    env = {**os.environ, "CRANIUM_SANDBOX_CLIENT_SECRET": SECRET}
    command = [sys.executable, "-m", "cranium_etl.sandbox", "--port", "0", "--bom-count", "25",
               "--info-file", str(info_file), "--cert-dir", str(tmp_path)]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for_file(info_file, process)
        info = json.loads(info_file.read_text())
        pair = f"{quote_plus(info['client_id'])}:{quote_plus(SECRET)}"
        token_response = requests.post(
            info["token_url"],
            data={"grant_type": "client_credentials", "scope": info["scope"]},
            headers={"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()},
            verify=info["ca_bundle"],
            timeout=10,
        )
        token = token_response.json()["access_token"]
        page = requests.get(
            info["bom_url"],
            headers={"Authorization": f"Bearer {token}"},
            verify=info["ca_bundle"],
            timeout=10,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]

    assert set(info) == {"base_url", "token_url", "bom_url", "ca_bundle", "client_id", "scope"}
    assert token_response.status_code == 200
    assert len(page.json()["data"]) == 25
    assert process.returncode == 0
    assert "GET /api/public/v1/billofmaterials -> 200" in output
    assert SECRET not in output
    assert token not in output
    assert not info_file.exists()
