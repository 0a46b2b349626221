"""The catalog: skills by dense row id, and the lookups that filter them.

Row ids are positions in the vector index. The first rows are the snapshot's
(:class:`~skillstore.columnar.Base`: read-only columns, decoded a row at a time);
rows written since the snapshot follow them, as records in memory. A base row that
changes is copied into memory as a record; one whose preconditions or metadata change
is also marked *stale*, so that the snapshot's persisted indexes skip it and the
in-memory indexes answer for it instead. A deleted skill, or one whose embedding
changed, leaves a tombstone at its old row until ``checkpoint()`` compacts the rows.

Success counters, version numbers and status codes are NumPy arrays over every row, so
that ranking by success and leaving out deprecated skills never loop over skills in Python.
Iteration follows creation order: a skill keeps its
place when it is updated (a new embedding moves it to a new row, not a new place).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, TypeVar

import numpy as np

from skillstore.columnar import Base
from skillstore.errors import SkillNotFoundError
from skillstore.masks import mask, simple_equalities
from skillstore.preconditions import MetadataIndex, PreconditionIndex, RowBuckets, freeze, signature
from skillstore.query import EVERYTHING, Node
from skillstore.records import STATUS_CODES, STATUSES
from skillstore.text import document, term_scores

T = TypeVar("T")

_EMPTY = np.empty(0, dtype=np.int64)


class Catalog:
    def __init__(self, base: Base) -> None:
        self.base = base
        n = base.n
        self._rows = n
        self._live_count = n
        self._overlay: dict[int, dict[str, Any]] = {}  # row -> record: rows past the base, changed base rows
        self._row_of: dict[str, int] = {}  # ids of the rows past the base
        self._dead = np.zeros(max(64, n), dtype=bool)
        self._stale = np.zeros(n, dtype=bool)  # base rows the persisted indexes no longer describe
        self._stale_count = 0
        self._attempts = _grown(np.array(base.counter("attempts")), n)
        self._successes = _grown(np.array(base.counter("successes")), n)
        self._version = _grown(np.array(base.counter("version")), n)
        self._status = _grown(np.array(base.counter("status")), n)
        self._status_counts = np.bincount(base.counter("status"), minlength=len(STATUSES)).astype(np.int64)
        self._status_rows: dict[frozenset[int], np.ndarray | None] = {}  # cached status_rows answers
        self._place = np.zeros(64, dtype=np.int64)  # creation place of each row past the base
        self._next_place = n
        self._moved = False  # whether a row past the base holds an earlier place than one before it
        # the in-memory indexes: rows past the base and stale base rows
        self._preconditions = PreconditionIndex()
        self._metadata = MetadataIndex()
        self._by_signature = RowBuckets()
        self._postings: dict[str, dict[int, int]] = {}  # term -> row -> count, for the in-memory rows
        self._doc_lengths = _grown(np.array(base.counter("doc_lengths"), dtype=np.int64), n)
        self._base_keys = _keys_of(base)
        self._base_cache: dict[int, np.ndarray] = {}  # signature code -> its live base rows
        self._live: np.ndarray | None = None

    @classmethod
    def from_records(cls, records: list[dict[str, Any]], dim: int) -> Catalog:
        """A catalog of ``records`` in row order, all in memory (a format-2 snapshot)."""
        catalog = cls(Base.empty(dim))
        for record in records:
            if record["id"] in catalog._row_of:
                raise ValueError("two skills share an id")
            catalog.append(record)
        return catalog

    # -- shape ------------------------------------------------------------------

    def __len__(self) -> int:
        return self._live_count

    @property
    def rows(self) -> int:
        """Rows in use, tombstones included (equals the vector index's size)."""
        return self._rows

    @property
    def tombstones(self) -> int:
        return self._rows - self._live_count

    def __contains__(self, skill_id: object) -> bool:
        return self._find(skill_id) >= 0

    def _find(self, skill_id: object) -> int:
        if not isinstance(skill_id, str):
            return -1
        row = self._row_of.get(skill_id)
        if row is not None:
            return row
        try:
            row = self.base.find(skill_id)
        except UnicodeEncodeError:
            return -1
        return row if row >= 0 and not self._dead[row] else -1

    def row(self, skill_id: str) -> int:
        row = self._find(skill_id)
        if row < 0:
            raise SkillNotFoundError(skill_id)
        return row

    def record(self, skill_id: str) -> dict[str, Any]:
        """The skill's record, to change in place (a base row is copied into memory first)."""
        row = self.row(skill_id)
        record = self._overlay.get(row)
        if record is None:
            record = self._overlay[row] = self.base.record(row)
        return record

    def record_at(self, row: int) -> dict[str, Any]:
        """The record at a live row, to read only."""
        record = self._overlay.get(row)
        return record if record is not None else self.base.read_record(row)

    def stats_at(self, row: int) -> dict[str, Any]:
        record = self._overlay.get(row)
        return dict(record["stats"]) if record is not None else self.base.stats(row)

    def id_at(self, row: int) -> str:
        record = self._overlay.get(row)
        return str(record["id"]) if record is not None else self.base.id_at(row)

    def id_keys(self, rows: np.ndarray) -> np.ndarray:
        """The ids of ``rows`` as UTF-8 bytes in a NumPy array, which sorts as the ids do. A
        row's id never changes, so a base row's comes from the base's column even if changed."""
        rows = np.asarray(rows, dtype=np.int64)
        in_base = rows < self.base.n
        if in_base.all():
            return self.base.id_keys(rows)
        written = np.array([self.id_at(row).encode("utf-8") for row in rows[~in_base].tolist()])
        snapshot = self.base.id_keys(rows[in_base])
        keys = np.empty(len(rows), dtype=np.result_type(snapshot, written))  # wide enough for both: none is cut
        keys[in_base] = snapshot
        keys[~in_base] = written
        return keys

    def live(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(row, record) for every skill, in creation order."""
        for row in self.ordered_rows().tolist():
            yield row, self.record_at(row)

    def changed_records(self) -> dict[int, dict[str, Any]]:
        """Rows whose records are in memory (past the base, or changed), by row."""
        return self._overlay

    # -- changes ----------------------------------------------------------------

    def append(self, record: dict[str, Any], place: int | None = None) -> int:
        """Add a record at a new row; ``place`` is its place in creation order (a new last place
        unless given: a skill that moves to a new row keeps its place)."""
        row = self._rows
        self._rows += 1
        self._live_count += 1
        self._overlay[row] = record
        self._row_of[record["id"]] = row
        self._dead = _grown(self._dead, self._rows)
        self._attempts = _grown(self._attempts, self._rows)
        self._successes = _grown(self._successes, self._rows)
        self._version = _grown(self._version, self._rows)
        self._status = _grown(self._status, self._rows)
        offset = row - self.base.n
        self._place = _grown(self._place, offset + 1)
        if place is None:
            place, self._next_place = self._next_place, self._next_place + 1
        else:
            self._moved = True
        self._place[offset] = place
        self._sync_counts(row, counted=False)
        self._index(row, record)
        self._live = None
        return row

    def place_of(self, skill_id: str) -> int:
        row = self.row(skill_id)
        return row if row < self.base.n else int(self._place[row - self.base.n])

    def remove(self, skill_id: str) -> dict[str, Any]:
        """Tombstone the skill's row; returns its record."""
        row = self.row(skill_id)
        record = self.record(skill_id)
        if self._indexed_in_memory(row):
            self._unindex(row, record)
        if row < self.base.n:
            self._mark_stale(row)
        else:
            del self._row_of[skill_id]
        self._dead[row] = True
        self._status_counts[self._status[row]] -= 1
        self._status_rows.clear()
        del self._overlay[row]
        self._live_count -= 1
        self._live = None
        return record

    def modify(self, skill_id: str, change: Callable[[dict[str, Any]], T]) -> T:
        """Run ``change`` on the skill's record (which it changes in place), keeping the filter
        lookups and the columns in step; returns what ``change`` returns."""
        row = self.row(skill_id)
        record = self.record(skill_id)
        if self._indexed_in_memory(row):
            self._unindex(row, record)
        try:
            return change(record)
        finally:
            if row < self.base.n:
                self._mark_stale(row)
            self._index(row, record)
            self._sync_counts(row)

    def counts_changed(self, skill_id: str) -> None:
        self._sync_counts(self.row(skill_id))

    def is_live(self, row: int) -> bool:
        return row < self._rows and not bool(self._dead[row])

    def is_stale(self, row: int) -> bool:
        """Whether a base row's entries in the snapshot's indexes no longer describe it."""
        return bool(self._stale[row])

    def _mark_stale(self, row: int) -> None:
        if not self._stale[row]:
            self._stale[row] = True
            self._stale_count += 1
            self._base_cache.clear()

    def _indexed_in_memory(self, row: int) -> bool:
        return row >= self.base.n or bool(self._stale[row])

    def _sync_counts(self, row: int, counted: bool = True) -> None:
        """Copy a changed record's counters, version and status into the arrays; ``counted``
        says whether the row's old status is in the status counts (not for a new row)."""
        record = self._overlay[row]
        stats = record["stats"]
        self._attempts[row] = stats["attempts"]
        self._successes[row] = stats["successes"]
        self._version[row] = record["version"]
        code = STATUS_CODES[record["status"]]
        if counted:
            if self._status[row] == code:
                return
            self._status_counts[self._status[row]] -= 1
        self._status[row] = code
        self._status_counts[code] += 1
        self._status_rows.clear()

    def _index(self, row: int, record: dict[str, Any]) -> None:
        key = signature(record["preconditions"])
        self._preconditions.add(row, key)
        self._metadata.add(row, record["metadata"])
        self._by_signature.add(key, row)
        counts = document(record)
        self._doc_lengths = _grown(self._doc_lengths, row + 1)
        self._doc_lengths[row] = sum(counts.values())
        for term, count in counts.items():
            self._postings.setdefault(term, {})[row] = count

    def _unindex(self, row: int, record: dict[str, Any]) -> None:
        key = signature(record["preconditions"])
        self._preconditions.remove(row, key)
        self._metadata.remove(row, record["metadata"])
        self._by_signature.remove(key, row)
        for term in document(record):
            held = self._postings.get(term)
            if held is not None:
                held.pop(row, None)
                if not held:
                    del self._postings[term]

    # -- queries ----------------------------------------------------------------

    def live_rows(self) -> np.ndarray:
        """Every live row, in row order."""
        if self._live is None:
            self._live = np.flatnonzero(~self._dead[: self._rows]).astype(np.int64)
        return self._live

    def ordered_rows(self) -> np.ndarray:
        """Every live row, in creation order (the order of iteration and of the next snapshot)."""
        rows = self.live_rows()
        if not self._moved:
            return rows
        places = rows.copy()
        past = rows >= self.base.n
        places[past] = self._place[rows[past] - self.base.n]
        return rows[np.argsort(places, kind="stable")]

    def in_creation_order(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` (sorted by row) in creation order."""
        if not self._moved:
            return rows
        places = rows.copy()
        past = rows >= self.base.n
        places[past] = self._place[rows[past] - self.base.n]
        return rows[np.argsort(places, kind="stable")]

    def candidate_rows(
        self, state: Mapping[str, Any] | None, where: Node = EVERYTHING, statuses: frozenset[str] | None = None
    ) -> np.ndarray | None:
        """Rows of the skills that apply to ``state``, match the filter ``where`` and have one of
        ``statuses`` (any status when None).

        None means "every row", which lets search skip the filter altogether.
        """
        rows: np.ndarray | None = None
        if state is not None:
            rows = self._applicable(state)
        equalities = simple_equalities(where)
        if equalities is not None:  # plain equalities: the metadata index's rows, intersected
            for key, value in equalities.items():
                matching = self._metadata_rows(key, value)
                rows = matching if rows is None else np.intersect1d(rows, matching, assume_unique=True)
                if not len(rows):
                    break
        else:
            allowed = mask(where, self) & ~self._dead[: self._rows]
            rows = np.flatnonzero(allowed) if rows is None else rows[allowed[rows]]
        if statuses is not None and (with_status := self.status_rows(statuses)) is not None:
            # last, and by a lookup per candidate: a few deprecated skills never cost a pass over all rows
            rows = with_status if rows is None else rows[self.has_status(rows, statuses)]
        if rows is None and self.tombstones:
            rows = self.live_rows()
        return rows

    def status_rows(self, statuses: frozenset[str]) -> np.ndarray | None:
        """Live rows whose status is one of ``statuses``, in row order; None when that is every
        live row (known from the status counts, without looking at any row)."""
        codes = frozenset(STATUS_CODES[status] for status in statuses)
        if sum(int(self._status_counts[code]) for code in codes) == self._live_count:
            return None
        if codes not in self._status_rows:
            live = self.live_rows()
            self._status_rows[codes] = live[np.isin(self._status[live], np.fromiter(codes, dtype=np.int64))]
        return self._status_rows[codes]

    def has_status(self, rows: np.ndarray, statuses: frozenset[str]) -> np.ndarray:
        """A mask of ``rows`` whose status is one of ``statuses``."""
        codes = np.fromiter((STATUS_CODES[status] for status in statuses), dtype=np.int64)
        return np.isin(self._status[rows], codes)

    def status_counts(self) -> dict[str, int]:
        """How many skills have each status."""
        return {status: int(self._status_counts[code]) for code, status in enumerate(STATUSES)}

    def _applicable(self, state: Mapping[str, Any]) -> np.ndarray:
        parts = []
        for keys, codes in self._base_keys.items():
            if all(k in state for k in keys):
                code = codes.get(tuple(freeze(state[k]) for k in keys))
                if code is not None:
                    parts.append(self._base_signature_rows(code))
        in_memory = self._preconditions.applicable(state)
        if len(in_memory):
            parts.append(in_memory)
        return _union([p for p in parts if len(p)])

    def _base_signature_rows(self, code: int) -> np.ndarray:
        """The live, not stale, base rows of a signature: the same array object until they change."""
        rows = self._base_cache.get(code)
        if rows is None:
            rows = self.base.signature_rows(code)
            if self._stale_count:
                rows = rows[~self._stale[rows]]
            self._base_cache[code] = rows
        return rows

    def field_values(self, name: str) -> np.ndarray:
        """A skill field (``query.SKILL_FIELDS``) for every row: float64, NaN where missing;
        names as an object array of strings."""
        n, split = self._rows, self.base.n
        if name == "status":
            return np.array(STATUSES, dtype=object)[self._status[:n]]  # type: ignore[no-any-return]
        if name == "version":
            return self._version[:n].astype(np.float64)
        if name == "name":
            names = np.empty(n, dtype=object)
            names[:split] = self.base.names()
            for row, record in self._overlay.items():
                names[row] = record["name"]
            return names
        if name == "success_rate":
            attempts = self._attempts[:n].astype(np.float64)
            rates: np.ndarray = np.divide(self._successes[:n], attempts, out=np.zeros(n), where=attempts > 0)
            return rates
        values = np.empty(n, dtype=np.float64)
        values[:split] = self.base.counter(name)
        for row, record in self._overlay.items():
            held = record[name] if name in ("created_at", "updated_at") else record["stats"][name]
            values[row] = np.nan if held is None else held
        return values

    def metadata_rows_matching(self, key: str, keep: Callable[[Hashable], bool]) -> np.ndarray:
        """Live rows whose metadata ``key`` holds a (frozen) value ``keep`` accepts."""
        return self._with_in_memory(self.base.metadata_rows_matching(key, keep), key, keep)

    def metadata_rows_in_range(self, key: str, op: Callable[[Any, Any], Any], bound: float,
                               keep: Callable[[Hashable], bool]) -> np.ndarray:
        """``metadata_rows_matching(key, keep)`` for an ordering ``keep`` equal to ``op(value, bound)``
        on numbers: the snapshot's distinct numbers are compared in one vectorised step."""
        return self._with_in_memory(self.base.metadata_rows_in_range(key, op, bound, keep), key, keep)

    def _with_in_memory(self, base_rows: np.ndarray, key: str, keep: Callable[[Hashable], bool]) -> np.ndarray:
        """``base_rows`` of the snapshot that are not stale, with the in-memory rows whose
        metadata ``key`` holds a (frozen) value ``keep`` accepts."""
        if len(base_rows) and self._stale_count:
            base_rows = base_rows[~self._stale[base_rows]]
        in_memory = [row for row, record in self._overlay.items()
                     if self._indexed_in_memory(row) and not self._dead[row] and key in record["metadata"]
                     and keep(freeze(record["metadata"][key]))]
        return _union([base_rows, np.array(sorted(in_memory), dtype=np.int64)]) if in_memory else base_rows

    def metadata_key_rows(self, key: str) -> np.ndarray:
        """Live rows whose metadata holds ``key``, whatever its value."""
        base_rows = self.base.metadata_key_rows(key)
        if len(base_rows) and self._stale_count:
            base_rows = base_rows[~self._stale[base_rows]]
        in_memory = [row for row, record in self._overlay.items()
                     if self._indexed_in_memory(row) and not self._dead[row] and key in record["metadata"]]
        return _union([base_rows, np.array(sorted(in_memory), dtype=np.int64)]) if in_memory else base_rows

    def metadata_rows(self, key: str, value: Hashable) -> np.ndarray:
        """Rows whose metadata ``key`` equals the frozen ``value``."""
        return self._metadata_rows(key, value)

    def _metadata_rows(self, key: str, value: Hashable) -> np.ndarray:
        base_rows = self.base.metadata_rows(key, value)
        if len(base_rows) and self._stale_count:
            base_rows = base_rows[~self._stale[base_rows]]
        if not self._metadata.has(key):
            self._metadata.build(key, ((row, record["metadata"]) for row, record in self._overlay.items()
                                       if self._indexed_in_memory(row)))
        in_memory = self._metadata.matching({key: value})
        if not len(in_memory):
            return base_rows
        return _union([base_rows, in_memory]) if len(base_rows) else in_memory

    def rows_with_preconditions(self, preconditions: Mapping[str, Any]) -> np.ndarray:
        sig = signature(preconditions)
        in_memory = self._by_signature.rows(sig)
        code = self.base.signature_code(sig)
        if code < 0:
            return in_memory
        return _union([p for p in (self._base_signature_rows(code), in_memory) if len(p)])

    def text_scores(self, terms: list[str]) -> np.ndarray:
        """BM25 (``skillstore.text``) of every row for the query ``terms``; 0 where no term
        matches or the row is not a live skill."""
        scores = np.zeros(self._rows, dtype=np.float64)
        live = self.live_rows()
        if not len(live) or not terms:
            return scores
        average = float(self._doc_lengths[live].mean())
        for term in terms:
            rows, counts = self.base.term_postings(term)
            if len(rows) and self._stale_count:
                keep = ~self._stale[rows]
                rows, counts = rows[keep], counts[keep]
            held = self._postings.get(term, {})
            if held:
                rows = np.concatenate([rows, np.fromiter(held, dtype=np.int64, count=len(held))])
                counts = np.concatenate([counts, np.fromiter(held.values(), dtype=np.int64, count=len(held))])
            if len(rows):
                scores[rows] += term_scores(counts, self._doc_lengths[rows], len(live), len(rows), average)
        return scores

    def counts(self, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(successes, attempts) for ``rows`` (every row when None)."""
        if rows is None:
            return self._successes[: self._rows], self._attempts[: self._rows]
        return self._successes[rows], self._attempts[rows]

    def signature_count(self) -> int:
        """How many distinct precondition key sets the skills use."""
        return len(set(self._base_keys) | set(self._preconditions.key_sets()))

    def summary_counts(self) -> dict[str, np.ndarray]:
        """Every live skill's attempts, successes and observations, as arrays."""
        live = self.live_rows()
        observations = np.zeros(self._rows, dtype=np.int64)
        observations[: self.base.n] = self.base.counter("observations")
        for row, record in self._overlay.items():
            observations[row] = record["stats"]["observations"]
        return {
            "attempts": self._attempts[live],
            "successes": self._successes[live],
            "observations": observations[live],
        }


def _keys_of(base: Base) -> dict[tuple[str, ...], dict[tuple[Hashable, ...], int]]:
    """The base's precondition signatures by key set: values -> signature code."""
    keys: dict[tuple[str, ...], dict[tuple[Hashable, ...], int]] = {}
    for code, (names, values) in enumerate(base.signatures):
        keys.setdefault(names, {})[values] = code
    return keys


def _grown(array: np.ndarray, size: int) -> np.ndarray:
    if size <= len(array):
        return array
    grown = np.zeros(max(size, 2 * len(array), 64), dtype=array.dtype)
    grown[: len(array)] = array
    return grown


def _union(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        return _EMPTY
    if len(parts) == 1:
        return parts[0]
    return np.unique(np.concatenate(parts))
