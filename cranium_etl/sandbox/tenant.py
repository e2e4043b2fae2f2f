"""The sandbox tenant: current records, their change sequence, mutations and ground truth."""

from __future__ import annotations

import bisect
import copy
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cranium_etl.sandbox.records import RecordGenerator, format_timestamp, parse_timestamp

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FeedPage:
    """One slice of the change feed: records after a sequence number, in sequence order."""

    records: list[dict]
    last_sequence: int
    has_more: bool


class Tenant:
    """Thread-safe store of one tenant's Bills of Materials.

    Every creation or update assigns the record the next number of a tenant-wide change
    sequence, and the feed lists records in that order. A record changed while a client pages
    through the feed therefore moves to the end and is served again with its new updatedDate.
    Deleted records leave the feed; their ids stay available as ground truth.
    """

    def __init__(self, seed: int, bom_count: int, epoch: datetime, clock: Clock = utc_now) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self.epoch = epoch.astimezone(UTC).replace(microsecond=0)
        self._generator = RecordGenerator(random.Random(f"cranium-sandbox:{seed}:tenant"))
        # Changes draw from their own generator so that the generated history does not depend
        # on how many changes a test makes, and the changes are reproducible too.
        self._change_rng = random.Random(f"cranium-sandbox:{seed}:changes")
        self._changes = self._generator.fork(self._change_rng)

        self._records: dict[str, dict] = {}
        self._sequence_of: dict[str, int] = {}
        self._id_at_sequence: dict[int, str] = {}
        # Ascending sequence numbers; entries whose record changed or vanished stay until the
        # next compaction and are skipped while reading.
        self._sequences: list[int] = []
        self._last_sequence = 0
        self._deleted: dict[str, datetime] = {}

        for record in self._generator.initial_records(bom_count, self.epoch):
            self._store(record)

    @property
    def last_sequence(self) -> int:
        """Sequence number of the newest change."""
        with self._lock:
            return self._last_sequence

    @property
    def ai_system_ids(self) -> tuple[str, ...]:
        """Pool of AI System GUIDs that records refer to."""
        return self._generator.ai_system_ids

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def records(self) -> list[dict]:
        """Return copies of the current records in feed order, exactly as the API serves them."""
        with self._lock:
            return [copy.deepcopy(self._records[i]) for i in self._id_at_sequence.values()]

    def record(self, bom_id: str) -> dict | None:
        """Return a copy of one current record, or None if it does not exist (any more)."""
        with self._lock:
            record = self._records.get(bom_id)
            return copy.deepcopy(record) if record is not None else None

    def ids(self) -> set[str]:
        with self._lock:
            return set(self._records)

    def deleted_ids(self) -> set[str]:
        with self._lock:
            return set(self._deleted)

    def deletions(self) -> dict[str, datetime]:
        """Return the deleted ids with the UTC time of their deletion."""
        with self._lock:
            return dict(self._deleted)

    def update(self, n_or_ids: int | Iterable[str], at: datetime | None = None) -> list[str]:
        """Change `n` random records, or the given ids, and return the changed ids.

        Without `at`, the change time is the current UTC time, or the record's updatedDate when
        that is later, so a timestamp never goes backwards. With `at`, every changed record gets
        updatedDate = `at`. A count then picks only among records last updated at or before
        `at`, and ValueError is raised when too few exist or when a given id was updated later.
        """
        with self._lock:
            moment = self._normalise(at)
            if isinstance(n_or_ids, int):
                ids = self._pick_for_update(n_or_ids, moment)
            else:
                ids = self._existing_ids(n_or_ids)
                for bom_id in ids:
                    self._check_not_before(bom_id, moment)

            for bom_id in ids:
                current = self._records[bom_id]
                when = moment or max(self._now(), parse_timestamp(current["updatedDate"]))
                self._store(self._changes.changed_record(current, when))
            return ids

    def add(self, n: int, at: datetime | None = None) -> list[str]:
        """Create `n` records, created and updated at `at` (default now), and return their ids."""
        if n < 0:
            raise ValueError(f"number of records to add must be 0 or more, got {n}")
        with self._lock:
            moment = self._normalise(at) or self._now()
            ids = []
            for _ in range(n):
                record = self._changes.new_record(moment, moment)
                self._store(record)
                ids.append(record["billOfMaterialsId"])
            return ids

    def delete(self, n_or_ids: int | Iterable[str], at: datetime | None = None) -> list[str]:
        """Delete `n` random records, or the given ids, and return the deleted ids."""
        with self._lock:
            moment = self._normalise(at) or self._now()
            if isinstance(n_or_ids, int):
                ids = self._pick_random(n_or_ids)
            else:
                ids = self._existing_ids(n_or_ids)

            for bom_id in ids:
                del self._records[bom_id]
                del self._id_at_sequence[self._sequence_of.pop(bom_id)]
                self._deleted[bom_id] = moment
            self._compact_if_sparse()
            return ids

    def churn(self, updates: int, additions: int) -> tuple[list[str], list[str]]:
        """Apply one background change step and return (updated ids, added ids)."""
        with self._lock:
            updated = self.update(min(updates, len(self._records)))
            added = self.add(additions)
            return updated, added

    def page(self, after_sequence: int, limit: int) -> FeedPage:
        """Return up to `limit` records changed after `after_sequence`, in sequence order."""
        with self._lock:
            records: list[dict] = []
            last = after_sequence
            position = bisect.bisect_right(self._sequences, after_sequence)
            has_more = False
            while position < len(self._sequences):
                sequence = self._sequences[position]
                position += 1
                bom_id = self._id_at_sequence.get(sequence)
                if bom_id is None:
                    continue
                if len(records) == limit:
                    has_more = True
                    break
                records.append(copy.deepcopy(self._records[bom_id]))
                last = sequence
            return FeedPage(records=records, last_sequence=last, has_more=has_more)

    def _store(self, record: dict) -> None:
        bom_id = record["billOfMaterialsId"]
        previous = self._sequence_of.get(bom_id)
        if previous is not None:
            del self._id_at_sequence[previous]

        self._last_sequence += 1
        self._records[bom_id] = record
        self._sequence_of[bom_id] = self._last_sequence
        self._id_at_sequence[self._last_sequence] = bom_id
        self._sequences.append(self._last_sequence)
        self._compact_if_sparse()

    def _compact_if_sparse(self) -> None:
        if len(self._sequences) > 2 * len(self._id_at_sequence) + 64:
            # Live sequences were inserted in ascending order, so the dict keys stay sorted.
            self._sequences = list(self._id_at_sequence)

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC).replace(microsecond=0)

    @staticmethod
    def _normalise(at: datetime | None) -> datetime | None:
        if at is None:
            return None
        if at.tzinfo is None:
            raise ValueError(f"change time must be timezone-aware, got naive {at!r}")
        return at.astimezone(UTC).replace(microsecond=0)

    def _existing_ids(self, ids: Iterable[str]) -> list[str]:
        if isinstance(ids, str):
            raise TypeError("pass a list of ids, not a single string")
        ids = list(dict.fromkeys(ids))
        unknown = [i for i in ids if i not in self._records]
        if unknown:
            raise KeyError(f"no current record with id {unknown[0]!r}")
        return ids

    def _check_not_before(self, bom_id: str, moment: datetime | None) -> None:
        if moment is None:
            return
        updated = self._records[bom_id]["updatedDate"]
        if moment < parse_timestamp(updated):
            raise ValueError(
                f"change time {format_timestamp(moment)} is before the updatedDate {updated} "
                f"of record {bom_id}; timestamps of a record never go backwards"
            )

    def _pick_random(self, n: int) -> list[str]:
        if n < 0:
            raise ValueError(f"number of records must be 0 or more, got {n}")
        if n > len(self._records):
            raise ValueError(f"cannot pick {n} records, the tenant has {len(self._records)}")
        return self._change_rng.sample(sorted(self._records), n)

    def _pick_for_update(self, n: int, moment: datetime | None) -> list[str]:
        if moment is None:
            return self._pick_random(n)
        stamp = format_timestamp(moment)
        eligible = sorted(i for i, r in self._records.items() if r["updatedDate"] <= stamp)
        if n > len(eligible):
            raise ValueError(
                f"cannot update {n} records at {stamp}: only {len(eligible)} were last updated "
                "at or before that time"
            )
        return self._change_rng.sample(eligible, n)
