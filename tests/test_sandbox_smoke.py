"""Smoke test of the sandbox: token, one page, the request log."""

import requests


def test_token_then_first_page(sandbox):
    server = sandbox()
    token_response = requests.post(
        server.token_url,
        data={"grant_type": "client_credentials", "scope": server.config.scope},
        auth=(server.config.client_id, server.config.client_secret),
        verify=server.ca_bundle,
        timeout=10,
    )
    assert token_response.status_code == 200
    token = token_response.json()["access_token"]

    page = requests.get(
        server.bom_url,
        params={"limit": 5},
        headers={"Authorization": f"Bearer {token}"},
        verify=server.ca_bundle,
        timeout=10,
    )
    assert page.status_code == 200
    assert len(page.json()["data"]) == 5
    assert server.stats.token_requests == 1
    assert server.stats.data_requests == 1
