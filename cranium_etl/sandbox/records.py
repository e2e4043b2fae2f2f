"""Generation and mutation of plausible Bill of Materials records.

Every value comes from a `random.Random` that the caller seeds, so a tenant is reproducible.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# Field order of a record, as the API serves it.
FIELD_ORDER = (
    "billOfMaterialsId",
    "name",
    "description",
    "repositoryUrl",
    "vcsIntegrationId",
    "vcsIntegrationName",
    "aiSystemIds",
    "lastScanStatus",
    "lastScanStatusMessage",
    "totalVulnerabilitiesCount",
    "totalResolvedVulnerabilitiesCount",
    "modelCount",
    "dataSetCount",
    "technologyCount",
    "infrastructureCount",
    "createdDate",
    "updatedDate",
)

SCAN_STATUSES = (
    "Completed",
    "Failed",
    "InProgress",
    "NotStarted",
    "Pending",
    "Queued",
    "Unscanned",
)
_STATUS_WEIGHTS = (62, 9, 5, 6, 4, 4, 10)
_NEVER_SCANNED = frozenset({"NotStarted", "Unscanned"})

_DESCRIPTION_NULL_RATE = 0.15
_NO_VCS_RATE = 0.12
_AI_SYSTEM_POOL_SIZE = 24

_TEAMS = ("payments", "risk", "platform", "growth", "ml", "support", "data", "search", "security")
_DOMAINS = (
    "fraud", "claims", "credit", "churn", "support", "search", "pricing", "underwriting",
    "document", "invoice", "kyc", "marketing", "forecast", "anomaly", "sentiment", "translation",
    "code-review", "triage", "onboarding", "ranking", "voice", "vision", "ocr", "contract",
)  # fmt: skip
_FUNCTIONS = (
    "scoring", "detection", "classifier", "assistant", "summarizer", "extractor", "copilot",
    "forecaster", "router", "ranker", "embeddings", "moderation", "rag", "agent", "chatbot",
)  # fmt: skip
_SUFFIXES = ("service", "api", "pipeline", "worker", "model", "app")
_STANDALONE_NAMES = (
    "llm-gateway", "prompt-router", "feature-store", "model-registry", "vector-search",
    "eval-harness", "guardrails-proxy", "inference-gateway", "notebook-sandbox",
)  # fmt: skip
_ACRONYMS = frozenset({"llm", "rag", "kyc", "ocr", "api", "ml", "hr", "v2"})
_ORGANISATIONS = ("northwind", "contoso", "fabrikam", "tailspin", "adventure-works", "wingtip")

_FAILED_MESSAGES = (
    "Repository clone failed: authentication required",
    "Dependency resolution failed: requirements.txt could not be parsed",
    "Scan timed out after 60 minutes",
    "Repository not found or access revoked",
    "Model artifact download failed: 403 Forbidden from storage account",
)
_COMPLETED_WARNING = "Completed with warnings: {} files could not be parsed"


def format_timestamp(moment: datetime) -> str:
    """Format a datetime as the API does: UTC, second precision, trailing Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    """Parse a timestamp written by `format_timestamp`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class VcsIntegration:
    """A version control integration of the tenant and the URL pattern of its repositories."""

    integration_id: str
    name: str
    url_prefix: str

    def repository_url(self, repository: str) -> str:
        return f"{self.url_prefix}{repository}"


def _random_guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class RecordGenerator:
    """Creates new records and plausible changes to existing ones from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._create_pools(rng)

    def fork(self, rng: random.Random) -> RecordGenerator:
        """Return a generator that draws from `rng` but shares this one's pools and names."""
        forked = object.__new__(RecordGenerator)
        forked.__dict__.update(self.__dict__)
        forked._rng = rng
        return forked

    def _create_pools(self, rng: random.Random) -> None:
        organisation, second = rng.sample(_ORGANISATIONS, 2)
        self.integrations = (
            VcsIntegration(
                _random_guid(rng), f"GitHub - {organisation}", f"https://github.com/{organisation}/"
            ),
            VcsIntegration(
                _random_guid(rng), f"GitHub - {second}-labs", f"https://github.com/{second}-labs/"
            ),
            VcsIntegration(
                _random_guid(rng),
                f"GitLab - {organisation}/ml-platform",
                f"https://gitlab.com/{organisation}/ml-platform/",
            ),
            VcsIntegration(
                _random_guid(rng),
                f"Azure DevOps - {organisation}",
                f"https://dev.azure.com/{organisation}/AI-Platform/_git/",
            ),
            VcsIntegration(
                _random_guid(rng),
                f"Bitbucket - {organisation}-data",
                f"https://bitbucket.org/{organisation}-data/",
            ),
        )
        self._self_hosted_prefix = f"https://git.{organisation}.internal/ai/"
        self.ai_system_ids = tuple(_random_guid(rng) for _ in range(_AI_SYSTEM_POOL_SIZE))
        self._used_names: set[str] = set()

    def new_guid(self) -> str:
        return _random_guid(self._rng)

    def pick_status(self) -> str:
        return self._rng.choices(SCAN_STATUSES, weights=_STATUS_WEIGHTS)[0]

    def new_record(self, created: datetime, updated: datetime, status: str | None = None) -> dict:
        """Return a new record in API field order."""
        rng = self._rng
        name, description = self._new_name_and_description()
        repository = name.replace("_", "-")
        if rng.random() < _NO_VCS_RATE:
            integration_id = integration_name = None
            repository_url = self._self_hosted_prefix + repository
        else:
            integration = rng.choice(self.integrations)
            integration_id, integration_name = integration.integration_id, integration.name
            repository_url = integration.repository_url(repository)

        status = status or self.pick_status()
        record = {
            "billOfMaterialsId": self.new_guid(),
            "name": name,
            "description": description,
            "repositoryUrl": repository_url,
            "vcsIntegrationId": integration_id,
            "vcsIntegrationName": integration_name,
            "aiSystemIds": self._new_ai_system_ids(),
            "lastScanStatus": status,
            "lastScanStatusMessage": self._status_message(status),
        }
        record.update(self._new_counts(status))
        record["createdDate"] = format_timestamp(created)
        record["updatedDate"] = format_timestamp(updated)
        return record

    def changed_record(self, record: dict, updated: datetime) -> dict:
        """Return a copy of `record` after a plausible change (rescan, growth, new AI system)."""
        rng = self._rng
        changed = dict(record)
        changed["aiSystemIds"] = list(record["aiSystemIds"])

        roll = rng.random()
        if roll < 0.12:
            unused = [i for i in self.ai_system_ids if i not in changed["aiSystemIds"]]
            if unused:
                changed["aiSystemIds"].append(rng.choice(unused))
        elif roll < 0.17:
            changed["description"] = self._description_for(changed["name"])
        else:
            status = rng.choices(SCAN_STATUSES[:3], weights=(75, 12, 13))[0]
            changed["lastScanStatus"] = status
            changed["lastScanStatusMessage"] = self._status_message(status)
            self._grow_counts(changed)

        changed["updatedDate"] = format_timestamp(updated)
        return changed

    def initial_records(self, count: int, epoch: datetime) -> list[dict]:
        """Return `count` records created and updated during the year before `epoch`.

        The records are sorted by (updatedDate, billOfMaterialsId). Every scan status occurs
        when `count` is at least the number of statuses.
        """
        rng = self._rng
        statuses = [self.pick_status() for _ in range(count)]
        if count >= len(SCAN_STATUSES):
            for status in SCAN_STATUSES:
                if status in statuses:
                    continue
                # Overwrite a status that occurs more than once, so no other status goes missing.
                occurrences = Counter(statuses)
                repeated = [i for i, s in enumerate(statuses) if occurrences[s] > 1]
                statuses[rng.choice(repeated)] = status

        records = []
        year_seconds = int(timedelta(days=365).total_seconds())
        for status in statuses:
            created = epoch - timedelta(seconds=rng.randrange(year_seconds))
            span = int((epoch - created).total_seconds())
            never_changed = rng.random() < 0.1
            offset = 0 if never_changed else int(span * rng.random() ** 0.5)
            records.append(self.new_record(created, created + timedelta(seconds=offset), status))
        records.sort(key=lambda r: (r["updatedDate"], r["billOfMaterialsId"]))
        return records

    def _new_name_and_description(self) -> tuple[str, str | None]:
        rng = self._rng
        team = rng.choice(_TEAMS)
        if rng.random() < 0.08:
            base = rng.choice(_STANDALONE_NAMES)
        else:
            parts = [rng.choice(_DOMAINS), rng.choice(_FUNCTIONS)]
            if rng.random() < 0.3:
                parts.insert(0, team)
            if rng.random() < 0.6:
                parts.append(rng.choice(_SUFFIXES))
            base = "-".join(parts)

        candidates = (base, f"{team}-{base}", f"{base}-v2", f"{team}-{base}-v2")
        name = next((c for c in candidates if c not in self._used_names), None)
        number = 2
        while name is None or name in self._used_names:
            name, number = f"{team}-{base}-{number}", number + 1
        self._used_names.add(name)

        if rng.random() < _DESCRIPTION_NULL_RATE:
            return name, None
        return name, self._description_for(name, team)

    def _description_for(self, name: str, team: str | None = None) -> str:
        team = team or self._rng.choice(_TEAMS)
        words = [w.upper() if w in _ACRONYMS else w for w in name.split("-")]
        readable = " ".join(words)
        return f"{readable[0].upper()}{readable[1:]}, owned by the {team} team."

    def _new_ai_system_ids(self) -> list[str]:
        size = self._rng.choices((0, 1, 2, 3, 4), weights=(25, 50, 17, 5, 3))[0]
        return self._rng.sample(self.ai_system_ids, size)

    def _status_message(self, status: str) -> str | None:
        rng = self._rng
        if status == "Failed":
            return rng.choice(_FAILED_MESSAGES)
        if status == "Completed" and rng.random() < 0.12:
            return _COMPLETED_WARNING.format(rng.randint(1, 9))
        if status == "Queued" and rng.random() < 0.5:
            return "Waiting for an available scanner"
        if status == "InProgress" and rng.random() < 0.5:
            return "Analyzing dependencies"
        return None

    def _new_counts(self, status: str) -> dict[str, int]:
        rng = self._rng
        if status in _NEVER_SCANNED or (status in ("Pending", "Queued") and rng.random() < 0.3):
            total = resolved = models = data_sets = technologies = infrastructure = 0
        else:
            # Log-normal spreads: most projects are small, a few are very large.
            total = int(rng.lognormvariate(2.0, 1.5))
            resolved = round(total * rng.betavariate(2.0, 2.5))
            models = int(rng.lognormvariate(0.7, 0.9))
            data_sets = int(rng.lognormvariate(0.3, 1.0))
            technologies = 1 + int(rng.lognormvariate(3.0, 1.0))
            infrastructure = int(rng.lognormvariate(1.0, 0.8))
        return {
            "totalVulnerabilitiesCount": total,
            "totalResolvedVulnerabilitiesCount": resolved,
            "modelCount": models,
            "dataSetCount": data_sets,
            "technologyCount": technologies,
            "infrastructureCount": infrastructure,
        }

    def _grow_counts(self, record: dict) -> None:
        rng = self._rng
        total = record["totalVulnerabilitiesCount"] + rng.randint(0, 6)
        unresolved = total - record["totalResolvedVulnerabilitiesCount"]
        record["totalVulnerabilitiesCount"] = total
        record["totalResolvedVulnerabilitiesCount"] += rng.randint(0, unresolved)
        record["modelCount"] += rng.choices((0, 1), weights=(85, 15))[0]
        record["dataSetCount"] += rng.choices((0, 1), weights=(90, 10))[0]
        record["technologyCount"] += rng.randint(0, 3)
        record["infrastructureCount"] += rng.choices((0, 1), weights=(90, 10))[0]
