"""A Hypothesis state machine drives SkillStore and MemoryBackend with the same operations,
close-and-reopen and checkpoint among them, and checks after every step that they agree:
same skills, equal records (timestamps aside), and search results that the tie rule of
``skillstore.ranking`` allows (near ties may come either way, so the two may differ there)."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from store_helpers import assert_valid_result, contents, reference_ranking

import skillstore.backends.memory
import skillstore.store
from skillstore import RANK_MODES, STATUSES, Match, MemoryBackend, Skill, SkillBackend, SkillStore, SkillStoreError

DIM = 4
# chosen so that no cosine of two small integer vectors lands on it exactly
DEDUP_THRESHOLD = 0.9731
MIN_SCORES = [-0.3333, 0.2013, 0.6131, 0.9123]
MEMORY_DIR = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


class IdFeed:
    """Hands both backends the same ids, in the same order, for the same add call.

    The ids are hashes of a counter: unrelated to insertion order, as real ids are, so
    that ties broken by id exercise more than row order.
    """

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.reset()

    def reset(self) -> None:
        """Start the id sequence again: each test case must replay identically."""
        self._counter = itertools.count()

    def load(self, count: int) -> list[str]:
        batch = [hashlib.blake2b(str(next(self._counter)).encode(), digest_size=8).hexdigest() for _ in range(count)]
        return batch

    def next_id(self) -> str:
        assert self.pending, "a backend asked for more ids than the other"
        return self.pending.pop(0)


FEED = IdFeed()

embeddings = st.lists(st.integers(-2, 2), min_size=DIM, max_size=DIM).filter(any)
precondition_values = st.sampled_from([0, 1, "x", (0, 1), [0, 1], True])
preconditions = st.dictionaries(st.sampled_from(["a", "b"]), precondition_values, max_size=2)
states = st.one_of(st.none(), st.dictionaries(st.sampled_from(["a", "b", "c"]), precondition_values, max_size=3))
metadata = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={"tag": st.sampled_from(["p", "q"]), "n": st.integers(0, 2)}),
)
wheres = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={"tag": st.sampled_from(["p", "q"]), "n": st.integers(0, 2)}),
)
skills = st.builds(
    Skill,
    name=st.sampled_from(["up", "down", "key", "door"]),
    actions=st.lists(st.sampled_from(["move_up", "open_door"]), max_size=3),
    embedding=embeddings,
    preconditions=st.one_of(st.none(), preconditions),
    description=st.sampled_from(["", "a skill"]),
    metadata=metadata,
)
updates = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["renamed", "up"]),
        "actions": st.lists(st.sampled_from(["pickup_key"]), max_size=2),
        "embedding": embeddings,
        "preconditions": st.one_of(st.none(), preconditions),
        "description": st.just("changed"),
        "metadata": metadata,
    },
)
reasons = st.one_of(st.none(), st.sampled_from(["shorter", "fix"]))
status_filters = st.sampled_from([None, "deprecated", "candidate", ["active", "deprecated"], list(STATUSES)])
queries = st.one_of(st.none(), embeddings, st.lists(st.floats(-1, 1), min_size=DIM, max_size=DIM).filter(any))


class StoreAgreesWithMemory(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # semantics, not durability, are checked here: keep the many small stores off the disk
        self.directory = Path(tempfile.mkdtemp(prefix="skillstore-model-", dir=MEMORY_DIR))
        self.path = self.directory / "skills"
        self.threshold: float | None = None
        self.store: SkillStore
        self.model: MemoryBackend

    @initialize(dedup=st.booleans())
    def open_both(self, dedup: bool) -> None:
        FEED.reset()
        self.threshold = DEDUP_THRESHOLD if dedup else None
        self.store = SkillStore.open(self.path, dim=DIM, dedup_threshold=self.threshold, durability="flush")
        self.model = MemoryBackend(DIM, dedup_threshold=self.threshold)

    def teardown(self) -> None:
        if hasattr(self, "store"):
            self.store.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def ids(self) -> list[str]:
        return sorted(skill.id for skill in self.model.skills(status=STATUSES))  # type: ignore[misc]

    # -- writes -----------------------------------------------------------------------------

    def _add(self, batch: list[Skill]) -> None:
        ids = FEED.load(len(batch))
        FEED.pending = list(ids)
        got = self.store.add_many(batch)
        left_by_store = len(FEED.pending)
        FEED.pending = list(ids)
        expected = self.model.add_many(batch)
        assert len(FEED.pending) == left_by_store, "the backends merged different skills"
        FEED.pending = []
        assert got == expected

    @rule(skill=skills)
    def add(self, skill: Skill) -> None:
        self._add([skill])

    @rule(batch=st.lists(skills, max_size=4))
    def add_many(self, batch: list[Skill]) -> None:
        self._add(batch)

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data(), fields=updates, reason=reasons, status=st.one_of(st.none(), st.sampled_from(STATUSES)))
    def update(self, data: st.DataObject, fields: dict[str, Any], reason: str | None, status: str | None) -> None:
        skill_id = data.draw(st.sampled_from(self.ids()))
        got = self.store.update(skill_id, reason=reason, status=status, **fields)
        expected = self.model.update(skill_id, reason=reason, status=status, **fields)
        assert contents([got], timestamps=False) == contents([expected], timestamps=False)
        assert versions(self.store, skill_id) == versions(self.model, skill_id)

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data(), reason=reasons)
    def rollback(self, data: st.DataObject, reason: str | None) -> None:
        skill_id = data.draw(st.sampled_from(self.ids()))
        kept = [v.version for v in self.model.history(skill_id)]
        version = data.draw(st.sampled_from([*kept, kept[0] - 1 or 99]))  # one it keeps, or one it does not
        outcomes = []
        for backend in (self.store, self.model):
            try:
                outcomes.append(backend.rollback(skill_id, version, reason=reason))
            except SkillStoreError as exc:
                outcomes.append(type(exc))
        got, expected = outcomes
        if isinstance(expected, Skill):
            assert isinstance(got, Skill)
            assert contents([got], timestamps=False) == contents([expected], timestamps=False)
        else:
            assert got is expected
        assert versions(self.store, skill_id) == versions(self.model, skill_id)

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        skill_id = data.draw(st.sampled_from(self.ids()))
        self.store.delete(skill_id)
        self.model.delete(skill_id)

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data(), success=st.booleans(), reward=st.one_of(st.none(), st.sampled_from([-1.0, 0.5, 2])))
    def record_outcome(self, data: st.DataObject, success: bool, reward: float | None) -> None:
        skill_id = data.draw(st.sampled_from(self.ids()))
        got = self.store.record_outcome(skill_id, success, reward)
        expected = self.model.record_outcome(skill_id, success, reward)
        assert (got.attempts, got.successes, got.failures, got.total_reward) == (
            expected.attempts,
            expected.successes,
            expected.failures,
            expected.total_reward,
        )

    @rule(read_only_look=st.booleans())
    def close_and_reopen(self, read_only_look: bool) -> None:
        self.store.close()
        if read_only_look:
            with SkillStore.open(self.path, read_only=True) as reader:
                assert contents(reader, timestamps=False) == contents(self.model, timestamps=False)
        self.store = SkillStore.open(self.path, dim=DIM, dedup_threshold=self.threshold, durability="flush")
        for skill_id in self.ids():  # the versions came back from the log and the snapshot
            assert versions(self.store, skill_id) == versions(self.model, skill_id)

    @rule()
    def checkpoint(self) -> None:
        self.store.checkpoint()

    @rule()
    def refresh(self) -> None:
        self.store.refresh()

    # -- reads ------------------------------------------------------------------------------

    @rule(
        query=queries,
        k=st.integers(1, 6),
        state=states,
        where=wheres,
        rank=st.sampled_from(RANK_MODES),
        min_score=st.one_of(st.none(), st.sampled_from(MIN_SCORES)),
        status=status_filters,
    )
    def search(
        self,
        query: list[float] | None,
        k: int,
        state: dict[str, Any] | None,
        where: dict[str, Any] | None,
        rank: str,
        min_score: float | None,
        status: Any,
    ) -> None:
        got = self.store.search(query, k, state=state, where=where, rank=rank, min_score=min_score, status=status)
        expected = self.model.search(query, k, state=state, where=where, rank=rank, min_score=min_score,
                                     status=status)
        self._agree(got, expected, query, k, list(self.model.skills(status=status)), state=state, where=where,
                    rank=rank, min_score=min_score)

    @rule(
        batch=st.lists(embeddings, min_size=1, max_size=3),
        k=st.integers(1, 6),
        shared=st.booleans(),
        data=st.data(),
        where=wheres,
        rank=st.sampled_from(RANK_MODES),
    )
    def search_many(
        self, batch: list[list[int]], k: int, shared: bool, data: st.DataObject, where: Any, rank: str
    ) -> None:
        per_query = data.draw(st.lists(states, min_size=len(batch), max_size=len(batch)))
        state: Any = per_query[0] if shared else per_query
        got = self.store.search_many(batch, k, state=state, where=where, rank=rank)
        expected = self.model.search_many(batch, k, state=state, where=where, rank=rank)
        assert len(got) == len(expected) == len(batch)
        for i, query in enumerate(batch):
            one_state = per_query[0] if shared else per_query[i]
            self._agree(got[i], expected[i], query, k, list(self.model), state=one_state, where=where, rank=rank,
                        min_score=None)

    def _agree(
        self, got: list[Match], expected: list[Match], query: Any, k: int, eligible: list[Skill], **filters: Any
    ) -> None:
        """Both answers are ones the tie rule allows; they may differ only where it leaves a choice."""
        reference = reference_ranking(eligible, query, **filters)
        assert_valid_result(expected, reference, k, min_score=filters["min_score"])
        assert_valid_result(got, reference, k, min_score=filters["min_score"])
        for match in got:
            assert contents([match.skill], timestamps=False) == contents(
                [self.model.get(match.skill.id)], timestamps=False
            )

    # -- after every step -------------------------------------------------------------------

    @invariant()
    def same_skills(self) -> None:
        assert len(self.store) == len(self.model)
        every = list(STATUSES)  # deprecated skills too (leaving them out is checked by search)
        assert contents(self.store.skills(status=every), timestamps=False) == contents(
            self.model.skills(status=every), timestamps=False)
        for skill_id in self.ids():
            assert skill_id in self.store

    @invariant()
    def same_summary(self) -> None:
        got, expected = self.store.stats(), self.model.stats()
        for key in ("total_skills", "total_uses", "total_successes", "total_failures", "total_observations"):
            assert got[key] == expected[key], key
        assert got["avg_success_rate"] == pytest.approx(expected["avg_success_rate"])
        assert got["tombstones"] >= 0 and got["log_frames"] >= 0


def versions(backend: SkillBackend, skill_id: str) -> list[tuple[Any, ...]]:
    """A skill's history, times aside (each backend stamps its own writes)."""
    return [
        (v.version, v.reason, v.changed, v.parent, v.rollback_of, v.stats, [(e.status, e.reason) for e in v.events],
         v.name, v.actions, v.embedding.tobytes(), v.preconditions, v.description, v.metadata)
        for v in backend.history(skill_id)
    ]


def test_store_agrees_with_memory_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(skillstore.store, "new_id", FEED.next_id)
    monkeypatch.setattr(skillstore.backends.memory, "new_id", FEED.next_id)
    run_state_machine_as_test(
        StoreAgreesWithMemory,
        settings=settings(  # randomness, deadline and database come from the Hypothesis profile
            max_examples=4 * settings.default.max_examples,
            stateful_step_count=40,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_model_ids_are_fed_to_both_backends_alike(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The id feed the state machine relies on really controls the ids of both backends."""
    monkeypatch.setattr(skillstore.store, "new_id", FEED.next_id)
    monkeypatch.setattr(skillstore.backends.memory, "new_id", FEED.next_id)
    FEED.pending = ["aaaa", "bbbb"]
    with SkillStore.open(tmp_path / "s", dim=2) as store:
        assert store.add_many([Skill("x", [], [1, 0]), Skill("y", [], [0, 1])]) == ["aaaa", "bbbb"]
    FEED.pending = ["cccc"]
    assert MemoryBackend(2).add(Skill("x", [], np.ones(2))) == "cccc"
