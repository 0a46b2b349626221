"""Bounds, run against MemoryBackend, SkillStore and PostgresBackend alike: every number a
library holds stays within the documented limits (so that an export of it imports again),
a write that would pass them is refused whole with a typed error, and values no library can
hold are refused or, as ids and query values, found nowhere."""

from __future__ import annotations

import collections
import dataclasses
import inspect
import types
from typing import Any

import numpy as np
import pytest
from conformance_helpers import Backends

from skillstore import (
    CounterOverflowError,
    InvalidInputError,
    InvalidSkillError,
    Skill,
    SkillBackend,
    SkillNotFoundError,
    SkillStats,
)
from skillstore.validation import MAX_ABS_REWARD, MAX_COUNTER, MAX_TIMESTAMP, MAX_TOTAL_REWARD

DIM = 8
E = np.eye(DIM)


def everything(backend: SkillBackend) -> dict[str, Skill]:
    return {str(s.id): s for s in backend}


def assert_refused(
    backends: Backends, backend: SkillBackend, call: Any, error: type[Exception], *, reopen: bool = True
) -> SkillBackend:
    """``call(backend)`` raises ``error`` and changes nothing, also as seen after reopening;
    returns the backend to go on with (the reopened one, when there is one)."""
    before = everything(backend)
    with pytest.raises(error):
        call(backend)
    assert everything(backend) == before
    reopened = backends.reopen(backend) if reopen else None
    if reopened is None:
        return backend
    assert everything(reopened) == before
    return reopened


def skill(skill_id: str, **changes: Any) -> Skill:
    return dataclasses.replace(Skill(skill_id, ["a"], E[0] + 0.1 * E[1], id=skill_id), **changes)


def pending_on_store(make_backend: Backends, request: pytest.FixtureRequest) -> None:
    """SkillStore refuses these in its write path, through records.check_outcome_fits and
    check_merge_fits; until store.py calls both, its case is an expected failure (strict: a
    pass then fails, so that this marker goes once the calls are in)."""
    import skillstore.store

    source = inspect.getsource(skillstore.store)
    if make_backend.kind == "skillstore" and not ("check_outcome_fits" in source and "check_merge_fits" in source):
        request.applymarker(pytest.mark.xfail(strict=True, reason="store.py does not call the checks yet"))


# -- restore: every number within its bound ---------------------------------------------------


OUT_OF_BOUNDS = {
    "attempts 2**63-1": {"stats": SkillStats(attempts=2**63 - 1, successes=2**63 - 1)},
    "attempts past MAX_COUNTER": {"stats": SkillStats(attempts=MAX_COUNTER + 1, failures=MAX_COUNTER + 1)},
    "observations past MAX_COUNTER": {"stats": SkillStats(observations=MAX_COUNTER + 1)},
    "observations 10**400": {"stats": SkillStats(observations=10**400)},
    "total_reward 10**400": {"stats": SkillStats(attempts=1, successes=1, total_reward=10**400)},
    "total_reward past the bound": {"stats": SkillStats(attempts=1, successes=1, total_reward=1e301)},
    "total_reward inf": {"stats": SkillStats(attempts=1, successes=1, total_reward=float("inf"))},
    "reward without attempts": {"stats": SkillStats(total_reward=2.0)},
    "last_used_at 10**400": {"stats": SkillStats(attempts=1, successes=1, last_used_at=10**400)},
    "last_used_at negative": {"stats": SkillStats(attempts=1, successes=1, last_used_at=-1.0)},
    "created_at -1e300": {"created_at": -1e300},
    "created_at 10**400": {"created_at": 10**400},
    "updated_at past year 9999": {"updated_at": MAX_TIMESTAMP + 1},
    "updated_at nan": {"updated_at": float("nan")},
    "provenance at negative": {"provenance": [{"at": -5.0, "name": "x", "score": 1.0}]},
    "provenance at 10**400": {"provenance": [{"at": 10**400, "name": "x", "score": 1.0}]},
    "provenance int keys": {"provenance": [{1: "x"}]},
    "id surrogate": {"id": "\ud800"},
    "id NUL": {"id": "a\x00b"},
    "name surrogate": {"name": "\udfff"},
}


@pytest.mark.parametrize("damage", list(OUT_OF_BOUNDS.values()), ids=list(OUT_OF_BOUNDS))
def test_restore_refuses_values_past_their_bounds(make_backend: Backends, damage: dict[str, Any]) -> None:
    backend = make_backend(DIM)
    backend.restore_many([skill("kept")])
    assert_refused(make_backend, backend, lambda b: b.restore_many([skill("good"), skill("bad", **damage)]),
                   InvalidSkillError)


def test_restore_keeps_values_at_their_bounds_exactly(make_backend: Backends) -> None:
    backend = make_backend(DIM)
    extremes = [
        skill("most", stats=SkillStats(MAX_COUNTER, MAX_COUNTER, 0, MAX_COUNTER, MAX_TOTAL_REWARD, MAX_TIMESTAMP),
              created_at=0.0, updated_at=MAX_TIMESTAMP,
              provenance=[{"at": MAX_TIMESTAMP, "name": "n", "score": 1.0}] * 20),
        skill("least", stats=SkillStats(MAX_COUNTER, 0, MAX_COUNTER, 1, -MAX_TOTAL_REWARD, 0.0),
              created_at=MAX_TIMESTAMP, updated_at=0),
    ]
    backend.restore_many(extremes)
    reopened = make_backend.reopen(backend) or backend
    for expected in extremes:
        got = reopened.get(str(expected.id))
        assert got.stats == expected.stats and type(got.stats.attempts) is int
        assert (got.created_at, got.updated_at, got.provenance) == (expected.created_at, expected.updated_at,
                                                                    expected.provenance)


# -- writes that would pass a bound are refused whole ------------------------------------------------


def test_an_outcome_past_max_counter_is_refused(make_backend: Backends, request: pytest.FixtureRequest) -> None:
    pending_on_store(make_backend, request)
    backend = make_backend(DIM)
    backend.restore_many([skill("full", stats=SkillStats(MAX_COUNTER, MAX_COUNTER - 1, 1))])
    for success in (True, False):
        backend = assert_refused(make_backend, backend, lambda b, s=success: b.record_outcome("full", s),
                                 CounterOverflowError)
    assert backend.get("full").stats.attempts == MAX_COUNTER


def test_an_outcome_up_to_max_counter_is_counted(make_backend: Backends) -> None:
    backend = make_backend(DIM)
    backend.restore_many([skill("nearly", stats=SkillStats(MAX_COUNTER - 1, 0, MAX_COUNTER - 1,
                                                           total_reward=-MAX_TOTAL_REWARD))])
    stats = backend.record_outcome("nearly", True, MAX_ABS_REWARD)
    assert (stats.attempts, stats.successes, stats.total_reward) == (MAX_COUNTER, 1, -MAX_TOTAL_REWARD)


def test_a_merge_past_max_counter_is_refused(make_backend: Backends, request: pytest.FixtureRequest) -> None:
    pending_on_store(make_backend, request)
    backend = make_backend(DIM, dedup_threshold=0.9)
    backend.restore_many([skill("full", stats=SkillStats(observations=MAX_COUNTER))])
    twin = Skill("twin", ["b"], E[0] + 0.1 * E[1])
    assert_refused(make_backend, backend, lambda b: b.add(twin), CounterOverflowError, reopen=False)
    assert_refused(make_backend, backend, lambda b: b.add_many([Skill("new", [], E[5]), twin]),
                   CounterOverflowError, reopen=False)  # a reopened library would not dedup
    backend = make_backend.reopen(backend) or backend
    assert backend.get("full").stats.observations == MAX_COUNTER and len(backend) == 1


def test_a_batch_merging_twice_past_max_counter_is_refused_whole(
    make_backend: Backends, request: pytest.FixtureRequest
) -> None:
    pending_on_store(make_backend, request)
    backend = make_backend(DIM, dedup_threshold=0.9)
    backend.restore_many([skill("nearly", stats=SkillStats(observations=MAX_COUNTER - 1))])
    twins = [Skill(f"twin {i}", ["b"], E[0] + 0.1 * E[1]) for i in range(2)]
    assert_refused(make_backend, backend, lambda b: b.add_many([Skill("new", [], E[5]), *twins]),
                   CounterOverflowError, reopen=False)
    assert backend.add(twins[0]) == "nearly"
    assert backend.get("nearly").stats.observations == MAX_COUNTER and len(backend) == 1


@pytest.mark.parametrize("reward", [10**400, MAX_ABS_REWARD * 2, -np.inf, np.float64(np.nan)], ids=repr)
def test_rewards_past_the_bound_are_refused(make_backend: Backends, reward: Any) -> None:
    backend = make_backend(DIM)
    backend.restore_many([skill("a")])
    assert_refused(make_backend, backend, lambda b: b.record_outcome("a", True, reward), InvalidInputError)


# -- ids and query values no library can hold ----------------------------------------------------------


@pytest.mark.parametrize("skill_id", ["\ud800", "a\x00b", "x" * 300], ids=["surrogate", "nul", "long"])
def test_ids_no_library_holds_are_not_found(make_backend: Backends, skill_id: str) -> None:
    backend = make_backend(DIM)
    backend.restore_many([skill("a")])
    assert skill_id not in backend
    for call in (
        lambda b: b.get(skill_id),
        lambda b: b.update(skill_id, name="x"),
        lambda b: b.delete(skill_id),
        lambda b: b.delete_many(["a", skill_id]),
        lambda b: b.record_outcome(skill_id, True),
    ):
        backend = assert_refused(make_backend, backend, call, SkillNotFoundError)


@pytest.mark.parametrize("batch", [None, 7, "ab"], ids=repr)
def test_batches_that_are_not_collections_are_refused(make_backend: Backends, batch: Any) -> None:
    backend = make_backend(DIM)
    backend.restore_many([skill("a")])
    for call in (lambda b: b.add_many(batch), lambda b: b.restore_many(batch), lambda b: b.delete_many(batch)):
        backend = assert_refused(make_backend, backend, call, InvalidInputError)


def test_query_values_of_every_kind_agree(make_backend: Backends) -> None:
    backend = make_backend(DIM)
    backend.restore_many([
        skill("seq", preconditions={"pos": (1, 2), "inv": {"key": True}}, metadata={"tags": ["a", "b"]}),
        skill("bytes", preconditions={"raw": b"\x00"}, metadata={"n": 1}, embedding=E[2]),
    ])
    matches = {
        "UserList": ({"pos": collections.UserList([1, 2]), "inv": {"key": True}}, ["seq"]),
        "deque": ({"pos": collections.deque([1, 2]), "inv": types.MappingProxyType({"key": 1})}, ["seq"]),
        "ndarray": ({"pos": np.array([1, 2]), "inv": {"key": np.bool_(True)}}, ["seq"]),
        "UserDict": ({"pos": [1, 2], "inv": collections.UserDict(key=True)}, ["seq"]),
        "bytearray": ({"raw": bytearray(b"\x00")}, ["bytes"]),
        "memoryview": ({"raw": memoryview(b"\x00")}, ["bytes"]),
        "set": ({"pos": {1, 2}, "inv": {"key": True}}, []),
        "slice": ({"pos": slice(1, 2), "inv": {"key": True}}, []),
        "namespace": ({"pos": [1, 2], "inv": types.SimpleNamespace(key=True)}, []),
        "complex": ({"raw": 1j}, []),
        "non-string key": ({"pos": (1, 2), "inv": {"key": 1.0}, 3: object()}, ["seq"]),
    }
    for label, (state, expected) in matches.items():
        found = sorted(str(m.skill.id) for m in backend.search(None, 5, state=state))
        assert found == sorted(expected), label
    where = {"tags": collections.UserList(["a", "b"]), "missing": types.SimpleNamespace()}
    assert backend.search(None, 5, where=where) == []
    assert [m.skill.id for m in backend.search(None, 5, where={"tags": np.array(["a", "b"])})] == ["seq"]
    assert [m.skill.id for m in backend.search(None, 5, where={"n": np.int8(1)})] == ["bytes"]


@pytest.mark.parametrize("k", [2**63, 10**400])
def test_a_huge_k_returns_every_candidate(make_backend: Backends, k: int) -> None:
    backend = make_backend(DIM)
    backend.restore_many([skill("a"), skill("b", embedding=E[2])])
    assert sorted(m.skill.id for m in backend.search(E[0], k)) == ["a", "b"]
    assert [sorted(m.skill.id for m in found) for found in backend.search_many(np.eye(DIM)[:2], k)] == [["a", "b"]] * 2
    assert [m.skill.id for m in backend.search(E[0], k, min_score=10**400)] == []



@pytest.mark.parametrize("url", [None, 123, b"postgresql://h/db", "not-a-url", "postgresql://h/d\x00b", "postgresql://h/\ud800"],
                         ids=repr)
def test_a_postgres_backend_refuses_what_is_not_a_url_before_connecting(url: Any) -> None:
    from skillstore.backends.postgres import PostgresBackend

    with pytest.raises(InvalidInputError):
        PostgresBackend(url)


@pytest.mark.parametrize("options", [{"read_only": [1]}, {"create": "no"}, {"dim": 10**400}, {"exact_limit": -1}],
                         ids=repr)
def test_a_postgres_backend_refuses_bad_options_before_connecting(options: dict[str, Any]) -> None:
    from skillstore.backends.postgres import PostgresBackend

    with pytest.raises(InvalidInputError):
        PostgresBackend("postgresql://nowhere.invalid/db", **options)
