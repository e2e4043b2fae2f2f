"""Page iteration against the sandbox: completeness, cursors, incremental syncs."""

from __future__ import annotations

import pytest
from test_client_support import client_config, fetch_records, record_ids

from cranium_etl.api import CraniumClient, InvalidCursorError


def test_full_sync_matches_ground_truth(sandbox):
    server = sandbox(bom_count=1000)
    with CraniumClient(client_config(server, page_size=50)) as client:
        records, _ = fetch_records(client)

    ids = record_ids(records)
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(server.tenant.ids())
    assert records == server.tenant.records()


def test_pages_are_numbered_and_sized(sandbox):
    server = sandbox(bom_count=120)
    with CraniumClient(client_config(server, page_size=50)) as client:
        pages = list(client.iter_bill_of_materials())

    assert [page.number for page in pages] == [1, 2, 3]
    assert [len(page.records) for page in pages] == [50, 50, 20]
    assert [page.has_more for page in pages] == [True, True, False]
    assert all(page.request_id for page in pages)
    assert client.stats.pages == 3
    assert client.stats.records == 120


def test_first_request_omits_cursor_and_sends_limit(sandbox):
    server = sandbox(bom_count=30)
    with CraniumClient(client_config(server, page_size=20)) as client:
        pages = list(client.iter_bill_of_materials())

    assert pages[0].cursor is None
    assert pages[1].cursor == pages[0].next_cursor
    assert len(pages[0].records) == 20


def test_default_page_size_is_maximum(sandbox):
    server = sandbox(bom_count=250)
    with CraniumClient(client_config(server)) as client:
        pages = list(client.iter_bill_of_materials())

    assert [len(page.records) for page in pages] == [200, 50]


def test_incremental_sync_returns_only_changes(sandbox):
    server = sandbox(bom_count=200)
    with CraniumClient(client_config(server, page_size=50)) as client:
        _, cursor = fetch_records(client)
        changed = server.tenant.update(5) + server.tenant.add(2)
        records, next_cursor = fetch_records(client, cursor)

    assert sorted(record_ids(records)) == sorted(changed)
    assert next_cursor


def test_incremental_sync_without_changes_is_empty(sandbox):
    server = sandbox(bom_count=50)
    with CraniumClient(client_config(server)) as client:
        _, cursor = fetch_records(client)
        records, next_cursor = fetch_records(client, cursor)

    assert records == []
    assert next_cursor == cursor


def test_iteration_streams_pages_lazily(sandbox):
    server = sandbox(bom_count=500)
    with CraniumClient(client_config(server, page_size=50)) as client:
        pages = client.iter_bill_of_materials()
        first = next(pages)
        pages.close()

    assert first.number == 1
    assert server.stats.data_requests == 1


def test_unknown_fields_are_kept(sandbox):
    server = sandbox(bom_count=10)
    server.faults.inject("corrupt_record", mode="extra_field", field="riskScore", value=0.42)
    with CraniumClient(client_config(server)) as client:
        records, _ = fetch_records(client)

    assert records[0]["riskScore"] == 0.42


def test_invalid_cursor_raises_invalid_cursor_error(sandbox):
    server = sandbox(bom_count=10)
    with CraniumClient(client_config(server)) as client:
        with pytest.raises(InvalidCursorError) as raised:
            fetch_records(client, "not-a-cursor")

    assert raised.value.status == 400
    assert server.stats.data_requests == 1
