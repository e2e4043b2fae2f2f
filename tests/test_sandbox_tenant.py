"""Specification of the generated sandbox tenant: realism, determinism, changes and churn."""

from __future__ import annotations

import re
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from cranium_etl.sandbox import FIELD_ORDER, SCAN_STATUSES, Tenant
from cranium_etl.sandbox.records import parse_timestamp

EPOCH = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
URL_PREFIX_BY_VCS = {
    "GitHub": "https://github.com/",
    "GitLab": "https://gitlab.com/",
    "Azure DevOps": "https://dev.azure.com/",
    "Bitbucket": "https://bitbucket.org/",
}


@pytest.fixture(scope="module")
def records():
    return Tenant(seed=11, bom_count=2000, epoch=EPOCH).records()


def test_same_seed_same_tenant():
    first = Tenant(seed=3, bom_count=200, epoch=EPOCH).records()
    second = Tenant(seed=3, bom_count=200, epoch=EPOCH).records()
    assert first == second


def test_different_seed_different_tenant():
    first = Tenant(seed=3, bom_count=50, epoch=EPOCH).records()
    second = Tenant(seed=4, bom_count=50, epoch=EPOCH).records()
    assert first != second


def test_same_seed_same_changes():
    first = Tenant(seed=3, bom_count=100, epoch=EPOCH)
    second = Tenant(seed=3, bom_count=100, epoch=EPOCH)
    at = EPOCH + timedelta(hours=1)
    assert first.update(10, at=at) == second.update(10, at=at)
    assert first.add(3, at=at) == second.add(3, at=at)
    assert first.records() == second.records()


def test_served_tenant_is_reproducible(sandbox):
    server = sandbox(seed=5, bom_count=120, epoch=EPOCH)
    assert server.tenant.records() == Tenant(seed=5, bom_count=120, epoch=EPOCH).records()


def test_fields_in_contract_order(records):
    assert all(tuple(record) == FIELD_ORDER for record in records)


def test_ids_are_unique_guids(records):
    ids = [record["billOfMaterialsId"] for record in records]
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 4 for i in ids)


def test_names_unique_and_kebab_case(records):
    names = [record["name"] for record in records]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) for name in names)


def test_every_scan_status_occurs(records):
    assert {record["lastScanStatus"] for record in records} == set(SCAN_STATUSES)


def test_every_status_even_in_small_tenant():
    statuses = {r["lastScanStatus"] for r in Tenant(seed=1, bom_count=7, epoch=EPOCH).records()}
    assert statuses == set(SCAN_STATUSES)


def test_completed_most_common(records):
    counts = {s: sum(r["lastScanStatus"] == s for r in records) for s in SCAN_STATUSES}
    assert max(counts, key=counts.get) == "Completed"


def test_failed_scans_have_message(records):
    failed = [record for record in records if record["lastScanStatus"] == "Failed"]
    assert all(record["lastScanStatusMessage"] for record in failed)


def test_descriptions_sometimes_null(records):
    nulls = sum(record["description"] is None for record in records)
    assert 0 < nulls < len(records) / 3


def test_vcs_fields_null_together(records):
    without_vcs = [record for record in records if record["vcsIntegrationId"] is None]
    assert 0 < len(without_vcs) < len(records) / 3
    assert all(record["vcsIntegrationName"] is None for record in without_vcs)


def test_repository_url_matches_vcs(records):
    for record in records:
        name = record["vcsIntegrationName"]
        if name is None:
            continue
        provider = name.split(" - ")[0]
        assert record["repositoryUrl"].startswith(URL_PREFIX_BY_VCS[provider]), record


def test_ai_system_ids_empty_and_multiple(records):
    sizes = {len(record["aiSystemIds"]) for record in records}
    assert 0 in sizes
    assert max(sizes) >= 3


def test_ai_system_ids_from_shared_pool(records):
    used = {i for record in records for i in record["aiSystemIds"]}
    assert 5 < len(used) <= 24


def test_resolved_never_above_total(records):
    assert all(
        r["totalResolvedVulnerabilitiesCount"] <= r["totalVulnerabilitiesCount"] for r in records
    )


def test_counts_are_skewed(records):
    totals = [record["totalVulnerabilitiesCount"] for record in records]
    assert statistics.median(totals) < statistics.mean(totals)
    assert max(totals) > 10 * statistics.median(totals)


def test_counts_are_non_negative_integers(records):
    count_fields = [field for field in FIELD_ORDER if field.endswith("Count")]
    for record in records:
        for field in count_fields:
            assert isinstance(record[field], int), (field, record)
            assert record[field] >= 0, (field, record)


def test_dates_within_year_before_epoch(records):
    for record in records:
        assert TIMESTAMP.fullmatch(record["createdDate"])
        assert TIMESTAMP.fullmatch(record["updatedDate"])
        created = parse_timestamp(record["createdDate"])
        assert EPOCH - timedelta(days=365) <= created <= EPOCH
        assert created <= parse_timestamp(record["updatedDate"]) <= EPOCH


def test_feed_order_follows_updated_date(records):
    updated = [record["updatedDate"] for record in records]
    assert updated == sorted(updated)


def test_update_moves_record_to_feed_end():
    tenant = Tenant(seed=2, bom_count=50, epoch=EPOCH)
    first_id = tenant.records()[0]["billOfMaterialsId"]
    before = tenant.last_sequence
    tenant.update([first_id])
    assert tenant.records()[-1]["billOfMaterialsId"] == first_id
    assert tenant.last_sequence == before + 1


def test_update_without_time_uses_clock():
    tenant = Tenant(seed=2, bom_count=50, epoch=datetime.now(UTC) - timedelta(days=1))
    (changed,) = tenant.update(1)
    updated = parse_timestamp(tenant.record(changed)["updatedDate"])
    assert updated >= datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)


def test_update_at_sets_updated_date():
    tenant = Tenant(seed=2, bom_count=50, epoch=EPOCH)
    at = EPOCH + timedelta(days=2)
    ids = tenant.update(5, at=at)
    assert {tenant.record(i)["updatedDate"] for i in ids} == {"2026-01-17T12:00:00Z"}


def test_update_never_moves_time_backwards():
    tenant = Tenant(seed=2, bom_count=50, epoch=EPOCH)
    newest = tenant.records()[-1]["billOfMaterialsId"]
    with pytest.raises(ValueError, match="never go backwards"):
        tenant.update([newest], at=EPOCH - timedelta(days=400))


def test_update_at_picks_only_older_records():
    tenant = Tenant(seed=2, bom_count=50, epoch=EPOCH)
    at = EPOCH - timedelta(days=200)
    eligible = {
        r["billOfMaterialsId"] for r in tenant.records() if parse_timestamp(r["updatedDate"]) <= at
    }
    assert set(tenant.update(len(eligible), at=at)) == eligible
    with pytest.raises(ValueError):
        tenant.update(1, at=EPOCH - timedelta(days=400))


def test_update_keeps_identity_and_creation():
    tenant = Tenant(seed=2, bom_count=50, epoch=EPOCH)
    before = {r["billOfMaterialsId"]: r for r in tenant.records()}
    for bom_id in tenant.update(20, at=EPOCH + timedelta(hours=1)):
        after = tenant.record(bom_id)
        assert after["createdDate"] == before[bom_id]["createdDate"]
        assert after["name"] == before[bom_id]["name"]
        assert after["totalVulnerabilitiesCount"] >= before[bom_id]["totalVulnerabilitiesCount"]


def test_add_creates_new_records():
    tenant = Tenant(seed=2, bom_count=50, epoch=EPOCH)
    at = EPOCH + timedelta(minutes=5)
    ids = tenant.add(3, at=at)
    assert len(tenant) == 53
    assert [r["billOfMaterialsId"] for r in tenant.records()[-3:]] == ids
    assert {tenant.record(i)["createdDate"] for i in ids} == {"2026-01-15T12:05:00Z"}


def test_delete_keeps_ids_as_ground_truth():
    tenant = Tenant(seed=2, bom_count=50, epoch=EPOCH)
    deleted = tenant.delete(5)
    assert len(tenant) == 45
    assert tenant.deleted_ids() == set(deleted)
    assert all(tenant.record(i) is None for i in deleted)


def test_delete_unknown_id_rejected():
    tenant = Tenant(seed=2, bom_count=5, epoch=EPOCH)
    with pytest.raises(KeyError):
        tenant.delete(["00000000-0000-4000-8000-000000000000"])


def test_naive_change_time_rejected():
    tenant = Tenant(seed=2, bom_count=5, epoch=EPOCH)
    with pytest.raises(ValueError, match="timezone-aware"):
        tenant.add(1, at=datetime(2026, 1, 20, 12, 0, 0))


def test_records_returns_copies():
    tenant = Tenant(seed=2, bom_count=5, epoch=EPOCH)
    tenant.records()[0]["name"] = "changed-by-caller"
    assert tenant.records()[0]["name"] != "changed-by-caller"


def test_churn_changes_tenant_in_background(sandbox):
    server = sandbox(bom_count=50, churn_interval=0.05, churn_updates=2, churn_additions=1)
    start = server.tenant.last_sequence
    deadline = time.monotonic() + 10
    while server.tenant.last_sequence < start + 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.tenant.last_sequence >= start + 6
    assert len(server.tenant) > 50
