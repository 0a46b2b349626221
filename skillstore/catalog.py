"""The catalog: skills' records by dense row id, and the lookups that filter them.

Row ids are positions in the vector index. A deleted skill, or one whose
embedding changed, leaves a tombstone at its old row until ``checkpoint()``
compacts the rows. Success counters are mirrored in NumPy arrays so that ranking
by success never loops over skills in Python.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from skillstore.errors import SkillNotFoundError
from skillstore.preconditions import MetadataIndex, PreconditionIndex, RowBuckets, signature


class Catalog:
    def __init__(self) -> None:
        self._records: list[dict[str, Any] | None] = []
        self._row_of: dict[str, int] = {}
        self._attempts = np.zeros(64, dtype=np.int64)
        self._successes = np.zeros(64, dtype=np.int64)
        self._preconditions = PreconditionIndex()
        self._metadata = MetadataIndex()
        self._by_signature = RowBuckets()  # exact preconditions -> rows, for dedup
        self._live: np.ndarray | None = None

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> Catalog:
        """A catalog of ``records`` in row order, built in bulk (opening a large store)."""
        catalog = cls()
        catalog._records = list(records)
        catalog._row_of = {record["id"]: row for row, record in enumerate(records)}
        if len(catalog._row_of) != len(records):
            raise ValueError("two skills share an id")
        size = max(64, len(records))
        for name in ("attempts", "successes"):
            counts = np.zeros(size, dtype=np.int64)
            counts[: len(records)] = np.fromiter((r["stats"][name] for r in records), np.int64, len(records))
            setattr(catalog, f"_{name}", counts)
        for row, record in enumerate(records):
            catalog._index(row, record)
        return catalog

    # -- shape ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._row_of)

    @property
    def rows(self) -> int:
        """Rows in use, tombstones included (equals the vector index's size)."""
        return len(self._records)

    @property
    def tombstones(self) -> int:
        return len(self._records) - len(self._row_of)

    def __contains__(self, skill_id: object) -> bool:
        return skill_id in self._row_of

    def row(self, skill_id: str) -> int:
        try:
            return self._row_of[skill_id]
        except (KeyError, TypeError):
            raise SkillNotFoundError(skill_id) from None

    def record(self, skill_id: str) -> dict[str, Any]:
        return self._records[self.row(skill_id)]  # type: ignore[return-value]

    def record_at(self, row: int) -> dict[str, Any]:
        record = self._records[row]
        assert record is not None, "tombstoned rows never leave the catalog's lookups"
        return record

    def live(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(row, record) for every skill, in row order."""
        for row, record in enumerate(self._records):
            if record is not None:
                yield row, record

    def id_at(self, row: int) -> str:
        return self.record_at(row)["id"]  # type: ignore[no-any-return]

    # -- changes ----------------------------------------------------------------

    def append(self, record: dict[str, Any]) -> int:
        row = len(self._records)
        self._records.append(record)
        self._row_of[record["id"]] = row
        if row >= len(self._attempts):
            self._attempts = np.concatenate([self._attempts, np.zeros_like(self._attempts)])
            self._successes = np.concatenate([self._successes, np.zeros_like(self._successes)])
        self._sync_counts(row)
        self._index(row, record)
        self._live = None
        return row

    def remove(self, skill_id: str) -> dict[str, Any]:
        """Tombstone the skill's row; returns its record."""
        row = self.row(skill_id)
        record = self.record_at(row)
        self._unindex(row, record)
        self._records[row] = None
        del self._row_of[skill_id]
        self._live = None
        return record

    def reindex(self, skill_id: str, change: Mapping[str, Any]) -> None:
        """Apply ``change`` to a record, keeping the filter lookups in step."""
        row = self.row(skill_id)
        record = self.record_at(row)
        self._unindex(row, record)
        record.update(change)
        self._index(row, record)

    def counts_changed(self, skill_id: str) -> None:
        self._sync_counts(self.row(skill_id))

    def _sync_counts(self, row: int) -> None:
        stats = self.record_at(row)["stats"]
        self._attempts[row] = stats["attempts"]
        self._successes[row] = stats["successes"]

    def _index(self, row: int, record: dict[str, Any]) -> None:
        key = signature(record["preconditions"])
        self._preconditions.add(row, key)
        self._metadata.add(row, record["metadata"])
        self._by_signature.add(key, row)

    def _unindex(self, row: int, record: dict[str, Any]) -> None:
        key = signature(record["preconditions"])
        self._preconditions.remove(row, key)
        self._metadata.remove(row, record["metadata"])
        self._by_signature.remove(key, row)

    # -- queries ----------------------------------------------------------------

    def live_rows(self) -> np.ndarray:
        if self._live is None:
            self._live = np.fromiter(
                (row for row, record in enumerate(self._records) if record is not None),
                dtype=np.int64,
                count=len(self._row_of),
            )
        return self._live

    def candidate_rows(self, state: Mapping[str, Any] | None, where: Mapping[str, Any]) -> np.ndarray | None:
        """Rows of the skills that apply to ``state`` and match ``where``.

        None means "every row", which lets search skip the filter altogether.
        """
        rows: np.ndarray | None = None
        if state is not None:
            rows = self._preconditions.applicable(state)
        if where:
            for key in where:
                if not self._metadata.has(key):
                    self._metadata.build(key, ((r, rec["metadata"]) for r, rec in self.live()))
            matching = self._metadata.matching(where)
            rows = matching if rows is None else np.intersect1d(rows, matching, assume_unique=True)
        if rows is None and self.tombstones:
            rows = self.live_rows()
        return rows

    def rows_with_preconditions(self, preconditions: Mapping[str, Any]) -> np.ndarray:
        return self._by_signature.rows(signature(preconditions))

    def counts(self, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(successes, attempts) for ``rows`` (every row when None)."""
        if rows is None:
            n = len(self._records)
            return self._successes[:n], self._attempts[:n]
        return self._successes[rows], self._attempts[rows]

    def signature_count(self) -> int:
        return self._preconditions.signature_count()
