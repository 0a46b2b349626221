"""MemoryBackend: the in-memory reference backend.

It is deliberately simple: it tests every skill against the state and
computes every cosine with NumPy. It is the model the persistent store is checked
against in property tests, and the agent's backend when nothing needs to persist.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from skillstore import ranking
from skillstore.embedders import (
    Embedder,
    checkable_update,
    identity,
    query_vector,
    update_with_embedding,
    with_embeddings,
)
from skillstore.errors import DimensionMismatchError, InvalidInputError, SkillNotFoundError
from skillstore.model import Match, Skill, SkillStats, SkillVersion
from skillstore.preconditions import applies, freeze
from skillstore.query import Node, check_limit, check_order_by, matches, sort_records
from skillstore.query import parse as parse_filter
from skillstore.records import (
    STATUSES,
    apply_merge,
    apply_outcome,
    apply_rollback,
    apply_update,
    check_merge_fits,
    check_outcome_fits,
    check_reason,
    check_status,
    check_statuses,
    check_version_number,
    merge_entry,
    new_id,
    new_record,
    prepare_restores,
    prepare_skills,
    reembedded,
    summarise,
    to_skill,
    version_of,
    versions_of,
)
from skillstore.text import check_text_query, document, fused, id_keys, reference_scores
from skillstore.validation import (
    check_dim,
    check_fields,
    check_ids,
    check_k,
    check_outcome,
    check_state,
    check_threshold,
    normalise_embedding,
    normalise_queries,
    per_query_states,
)


class MemoryBackend:
    """An in-process skill store with the same semantics as ``SkillStore``; nothing persists."""

    def __init__(
        self, dim: int | None = None, *, dedup_threshold: float | None = None, embedder: Embedder | None = None
    ) -> None:
        """``dim``, or ``embedder`` (see ``skillstore.embedders``) whose dim it takes; with an
        embedder, skills added without an embedding and text searches are embedded."""
        wanted = None if embedder is None else identity(embedder)
        if dim is None and wanted is None:
            raise InvalidInputError("MemoryBackend needs dim or an embedder")
        self._dim = check_dim(dim if dim is not None else wanted["dim"])  # type: ignore[index]
        if wanted is not None and self._dim != wanted["dim"]:
            raise DimensionMismatchError(f"dim {self._dim} was given with an embedder of dim {wanted['dim']}")
        self.embedder, self.embedder_identity = embedder, wanted
        self.dedup_threshold = check_threshold(dedup_threshold)
        self._records: dict[str, dict[str, Any]] = {}
        self._vectors: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return self._dim

    def __enter__(self) -> MemoryBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release; present so code can treat every backend alike."""

    # -- writes ---------------------------------------------------------------

    def add(self, skill: Skill) -> str:
        return self.add_many([skill])[0]

    def add_many(self, skills: Iterable[Skill]) -> list[str]:
        prepared = prepare_skills(with_embeddings(skills, self.embedder, "this MemoryBackend"), self._dim)
        at = time.time()
        ids: list[str] = []
        added: dict[str, tuple[dict[str, Any], np.ndarray]] = {}  # new skills of this batch, for dedup
        merges: list[tuple[str, dict[str, Any]]] = []
        for fields, vector in prepared:
            duplicate = self._find_duplicate(fields["preconditions"], vector, added)
            if duplicate is not None:
                skill_id, score = duplicate
                merges.append((skill_id, merge_entry(fields["name"], score, at)))
            else:
                skill_id = new_id()
                while skill_id in self._records or skill_id in added:
                    skill_id = new_id()
                added[skill_id] = (new_record(fields, skill_id, at), vector)
            ids.append(skill_id)
        # every check passes before anything changes: a refused batch leaves the backend as it was
        for skill_id, count in Counter(skill_id for skill_id, _ in merges).items():
            check_merge_fits(self._records[skill_id] if skill_id in self._records else added[skill_id][0], count)
        for skill_id, (record, vector) in added.items():
            self._records[skill_id] = record
            self._vectors[skill_id] = vector
        for skill_id, entry in merges:
            apply_merge(self._records[skill_id], entry)
        return ids

    def _find_duplicate(
        self,
        preconditions: dict[str, Any],
        vector: np.ndarray,
        added: Mapping[str, tuple[dict[str, Any], np.ndarray]],
    ) -> tuple[str, float] | None:
        if self.dedup_threshold is None:
            return None
        signature = freeze(preconditions)
        best: tuple[float, str] | None = None
        candidates = [(i, r, self._vectors[i]) for i, r in self._records.items()]
        candidates += [(i, r, v) for i, (r, v) in added.items()]
        for skill_id, record, stored in candidates:
            if freeze(record["preconditions"]) != signature:
                continue
            score = float(np.dot(stored, vector))
            if score >= self.dedup_threshold and (best is None or (-score, skill_id) < (-best[0], best[1])):
                best = (score, skill_id)
        return None if best is None else (best[1], best[0])

    def update(self, skill_id: str, *, reason: str | None = None, status: str | None = None, **fields: Any) -> Skill:
        record = self._record(skill_id)
        checkable_update(self.embedder, fields, "this MemoryBackend")
        checked = check_fields(update_with_embedding(self.embedder, fields, record), self._dim)
        reason = check_reason(reason)
        status = None if status is None else check_status(status)
        vector = checked.pop("embedding", None)
        apply_update(record, checked, time.time(), vector=None if vector is None else vector.tobytes(),
                     current_vector=self._vectors[skill_id].tobytes(), reason=reason, status=status)
        if vector is not None:
            self._vectors[skill_id] = vector
        return self.get(skill_id)

    def reembed(self, embedder: Embedder, *, progress: Callable[[int, int], None] | None = None) -> None:
        """Embed every skill, and every version it keeps, with ``embedder`` and make it this
        backend's (see ``SkillStore.reembed``); all or nothing."""
        wanted = identity(embedder)
        ids = list(self._records)
        records = [copy.deepcopy(self._records[skill_id]) for skill_id in ids]
        vectors = reembedded(records, embedder, progress)
        self._records = dict(zip(ids, records, strict=True))
        self._vectors = {skill_id: vectors[i].copy() for i, skill_id in enumerate(ids)}
        self._dim, self.embedder, self.embedder_identity = wanted["dim"], embedder, wanted

    def rollback(self, skill_id: str, version: int, *, reason: str | None = None) -> Skill:
        record = self._record(skill_id)
        number, reason = check_version_number(version), check_reason(reason)
        vector = apply_rollback(record, number, time.time(), reason, self._vectors[skill_id].tobytes())
        if vector is not None:
            self._vectors[skill_id] = np.frombuffer(vector, dtype="<f4").astype(np.float32)
        return self.get(skill_id)

    def history(self, skill_id: str) -> list[SkillVersion]:
        return versions_of(self._record(skill_id), self._vectors[skill_id])

    def delete(self, skill_id: str) -> None:
        self.delete_many([skill_id])

    def delete_many(self, skill_ids: Iterable[str] = (), *, where: Mapping[str, Any] | None = None) -> list[str]:
        ids = list(dict.fromkeys(check_ids(skill_ids)))
        if where is not None:
            if ids:
                raise InvalidInputError("delete_many takes ids or a where filter, not both")
            node = parse_filter(where)
            ids = [skill_id for skill_id, record in self._records.items() if matches(node, record)]
        for skill_id in ids:
            self._record(skill_id)
        for skill_id in ids:
            del self._records[skill_id]
            del self._vectors[skill_id]
        return ids

    def find(
        self,
        where: Mapping[str, Any] | None = None,
        *,
        state: Mapping[str, Any] | None = None,
        order_by: str | None = None,
        limit: int | None = None,
        status: str | Sequence[str] | None = None,
    ) -> list[Skill]:
        node, checked_state = parse_filter(where), check_state(state)
        field, descending = check_order_by(order_by)
        limit, statuses = check_limit(limit), check_statuses(status, node)
        records = [
            record for record in self._records.values()
            if record["status"] in statuses
            and (checked_state is None or applies(record["preconditions"], checked_state)) and matches(node, record)
        ]
        return [self.get(record["id"]) for record in sort_records(records, field, descending)[:limit]]

    def restore_many(self, skills: Iterable[Skill], *, replace: bool = False) -> list[str]:
        prepared = prepare_restores(skills, self._dim, time.time())
        ids = [record["id"] for record, _ in prepared]
        clashes = [skill_id for skill_id in ids if skill_id in self._records]
        if clashes and not replace:
            raise InvalidInputError(f"the store already holds {clashes[:3]}; pass replace=True to swap them")
        for record, vector in prepared:
            self._records.pop(record["id"], None)  # a replaced skill moves to the end, as in SkillStore
            self._records[record["id"]] = record
            self._vectors[record["id"]] = vector
        return ids

    def record_outcome(self, skill_id: str, success: bool, reward: float | None = None) -> SkillStats:
        ok, value = check_outcome(success, reward)
        record = self._record(skill_id)
        check_outcome_fits(record, value)
        apply_outcome(record, ok, value, time.time())
        return SkillStats.from_dict(record["stats"])

    # -- reads ----------------------------------------------------------------

    def _record(self, skill_id: str) -> dict[str, Any]:
        try:
            return self._records[skill_id]
        except (KeyError, TypeError):
            raise SkillNotFoundError(skill_id) from None

    def get(self, skill_id: str, version: int | None = None) -> Skill:
        if version is None:
            return to_skill(self._record(skill_id), self._vectors[skill_id])
        return version_of(self._record(skill_id), self._vectors[skill_id], check_version_number(version))

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, skill_id: object) -> bool:
        return isinstance(skill_id, str) and skill_id in self._records

    def __iter__(self) -> Iterator[Skill]:
        return self.skills()

    def skills(self, *, status: str | Sequence[str] | None = None) -> Iterator[Skill]:
        statuses = check_statuses(status)
        return iter([self.get(i) for i, record in self._records.items() if record["status"] in statuses])

    def search(
        self,
        embedding: Any,
        k: int = 5,
        *,
        state: Mapping[str, Any] | None = None,
        where: Mapping[str, Any] | None = None,
        rank: str = "similarity",
        min_score: float | None = None,
        status: str | Sequence[str] | None = None,
        text: str | None = None,
    ) -> list[Match]:
        query = None if embedding is None else normalise_embedding(embedding, self._dim)
        k, state, node, rank = check_k(k), check_state(state), parse_filter(where), ranking.check_rank(rank)
        min_score, statuses = ranking.check_min_score(min_score), check_statuses(status, node)
        if text is not None:
            terms = check_text_query(text, rank)
            if query is None and self.embedder is not None:
                query = query_vector(self.embedder, text)
            return self._text_search(query, terms, k, state, node, min_score, statuses)
        return self._search(query, k, state, node, rank, min_score, statuses)

    def _text_search(
        self,
        query: np.ndarray | None,
        terms: list[str],
        k: int,
        state: Mapping[str, Any] | None,
        where: Node,
        min_score: float | None,
        statuses: frozenset[str],
    ) -> list[Match]:
        """BM25 over the whole library's documents (``skillstore.text``), one skill at a time."""
        documents = {skill_id: document(record) for skill_id, record in self._records.items()}
        scores = reference_scores(" ".join(terms), documents)
        ids = [
            skill_id
            for skill_id, record in self._records.items()
            if (state is None or applies(record["preconditions"], state)) and matches(where, record)
            and record["status"] in statuses and (query is not None or skill_id in scores)
        ]
        if not ids:
            return []
        text_scores = np.array([scores.get(i, 0.0) for i in ids])
        if query is None:
            primary = text_scores
        else:
            primary = fused(np.stack([self._vectors[i] for i in ids]) @ query, text_scores, id_keys(ids))
        best = ranking.order(primary, np.zeros(len(ids)), ranking.ids_lookup(ids), k, min_score)
        return [Match(self.get(ids[i]), float(primary[i])) for i in best]

    def search_many(
        self,
        embeddings: Any,
        k: int = 5,
        *,
        state: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        where: Mapping[str, Any] | None = None,
        rank: str = "similarity",
        min_score: float | None = None,
        status: str | Sequence[str] | None = None,
    ) -> list[list[Match]]:
        queries = normalise_queries(embeddings, self._dim)
        states = per_query_states(state, len(queries))
        k, checked_where, rank = check_k(k), parse_filter(where), ranking.check_rank(rank)
        min_score, statuses = ranking.check_min_score(min_score), check_statuses(status, checked_where)
        return [self._search(q, k, s, checked_where, rank, min_score, statuses)
                for q, s in zip(queries, states, strict=True)]

    def _search(
        self,
        query: np.ndarray | None,
        k: int,
        state: Mapping[str, Any] | None,
        where: Node,
        rank: str,
        min_score: float | None,
        statuses: frozenset[str],
    ) -> list[Match]:
        ids = [
            skill_id
            for skill_id, record in self._records.items()
            if record["status"] in statuses
            and (state is None or applies(record["preconditions"], state)) and matches(where, record)
        ]
        if not ids:
            return []
        stats = [self._records[i]["stats"] for i in ids]
        successes = np.array([s["successes"] for s in stats])
        attempts = np.array([s["attempts"] for s in stats])
        cosines = None
        if query is not None:
            cosines = np.stack([self._vectors[i] for i in ids]) @ query
        primary, secondary = ranking.scores(rank, cosines, successes, attempts)
        best = ranking.order(primary, secondary, ranking.ids_lookup(ids), k, min_score)
        return [Match(self.get(ids[i]), float(primary[i])) for i in best]

    def stats(self) -> dict[str, Any]:
        statuses = Counter(record["status"] for record in self._records.values())
        return {**summarise(list(self._records.values())), "statuses": {s: statuses[s] for s in STATUSES},
                "dim": self._dim, "embedder": self.embedder_identity, "backend": "memory"}

