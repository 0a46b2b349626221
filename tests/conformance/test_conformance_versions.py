"""Versions, rollback, per-version outcome counts, the retention bound, lifecycle statuses and
the Wilson rank mode: one set of tests for MemoryBackend, SkillStore and PostgresBackend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conformance_helpers import BackendFactory, Backends, assert_ranking, random_skills, reference_scores
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skillstore import (
    STATUSES,
    VERSION_LIMIT,
    InvalidInputError,
    Skill,
    SkillBackend,
    SkillNotFoundError,
    VersionNotFoundError,
    VersionStats,
)

DIM = 4
AXES = np.eye(DIM, dtype=np.float32)


def add(backend: SkillBackend, name: str = "s", axis: int = 0, **options: Any) -> str:
    return backend.add(Skill(name, [name], AXES[axis], **options))


def test_a_new_skill_is_version_1_and_active_unless_added_as_a_candidate(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    active, candidate = add(backend, "a"), add(backend, "c", 1, status="candidate")
    assert (backend.get(active).version, backend.get(active).status) == (1, "active")
    assert backend.get(candidate).status == "candidate"
    [only] = backend.history(active)
    assert (only.version, only.parent, only.rollback_of, only.changed, only.reason) == (1, None, None, (), None)
    assert only.name == "a" and only.actions == ["a"] and only.stats == VersionStats()
    np.testing.assert_array_equal(only.embedding, AXES[0])
    with pytest.raises(InvalidInputError):
        backend.add(Skill("x", [], AXES[0], status="retired"))


def test_a_change_of_content_makes_a_version_with_its_reason_and_changed_fields(
    make_backend: BackendFactory,
) -> None:
    backend = make_backend(DIM)
    skill_id = add(backend, "walk")
    updated = backend.update(skill_id, actions=["up", "up"], reason="shorter route")
    assert updated.version == 2 and updated.actions == ["up", "up"] and updated.id == skill_id
    backend.update(skill_id, embedding=AXES[1], name="walk2", reason="re-embedded")
    assert backend.update(skill_id, name="walk2").version == 3  # an equal value changes nothing
    history = backend.history(skill_id)
    assert [v.version for v in history] == [1, 2, 3]
    assert [v.reason for v in history] == [None, "shorter route", "re-embedded"]
    assert [v.changed for v in history] == [(), ("actions",), ("name", "embedding")]
    assert [v.parent for v in history] == [None, 1, 2]
    assert [v.actions for v in history] == [["walk"], ["up", "up"], ["up", "up"]]
    np.testing.assert_array_equal(history[1].embedding, AXES[0])
    np.testing.assert_array_equal(history[2].embedding, AXES[1])
    assert history[0].created_at <= history[1].created_at <= history[2].created_at
    old = backend.get(skill_id, version=1)
    assert (old.name, old.actions, old.version, old.id) == ("walk", ["walk"], 1, skill_id)
    np.testing.assert_array_equal(old.embedding, AXES[0])
    assert backend.get(skill_id, version=3) == backend.get(skill_id)
    with pytest.raises(VersionNotFoundError):
        backend.get(skill_id, version=4)
    with pytest.raises(InvalidInputError):
        backend.get(skill_id, version=0)
    with pytest.raises(InvalidInputError):
        backend.update(skill_id, reason=3)


def test_rollback_makes_a_new_version_equal_to_the_old_one(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    skill_id = add(backend, "walk", preconditions={"room": 1}, metadata={"kind": "nav"})
    backend.update(skill_id, actions=["worse"], embedding=AXES[2], preconditions={"room": 2}, reason="try")
    rolled = backend.rollback(skill_id, 1, reason="the new route fails")
    assert rolled.version == 3 and rolled.actions == ["walk"] and rolled.preconditions == {"room": 1}
    np.testing.assert_array_equal(rolled.embedding, AXES[0])
    last = backend.history(skill_id)[-1]
    assert (last.rollback_of, last.parent, last.reason) == (1, 2, "the new route fails")
    assert last.changed == ("actions", "embedding", "preconditions")
    # search sees the rolled-back embedding and preconditions
    [match] = backend.search(AXES[0], k=1, state={"room": 1})
    assert match.id == skill_id and match.score == pytest.approx(1.0)
    assert backend.search(AXES[2], k=1, state={"room": 2}) == []
    with pytest.raises(InvalidInputError):
        backend.rollback(skill_id, 3)  # the current version
    with pytest.raises(VersionNotFoundError):
        backend.rollback(skill_id, 7)
    with pytest.raises(SkillNotFoundError):
        backend.rollback("no-such-id", 1)
    assert len(backend.history(skill_id)) == 3


def test_outcomes_count_against_the_current_version(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    skill_id = add(backend)
    for success in (True, True, False):
        backend.record_outcome(skill_id, success, reward=1.0)
    backend.update(skill_id, actions=["v2"])
    backend.record_outcome(skill_id, False, reward=-2.0)
    first, second = backend.history(skill_id)
    assert first.stats == VersionStats(3, 2, 1, 3.0)
    assert second.stats == VersionStats(1, 0, 1, -2.0)
    assert backend.get(skill_id).stats.attempts == 4


def test_the_retention_bound_keeps_the_last_versions(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    skill_id = add(backend)
    for number in range(2, VERSION_LIMIT + 4):
        backend.update(skill_id, actions=[number], reason=f"v{number}")
    history = backend.history(skill_id)
    assert len(history) == VERSION_LIMIT
    assert [v.version for v in history] == list(range(4, VERSION_LIMIT + 4))
    assert history[-1].actions == [VERSION_LIMIT + 3]
    with pytest.raises(VersionNotFoundError):
        backend.rollback(skill_id, 3)
    assert backend.rollback(skill_id, 4).actions == [4]


def test_deprecated_skills_are_left_out_of_search_and_iteration_by_default(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    active, candidate, old = add(backend, "a", 0), add(backend, "c", 1, status="candidate"), add(backend, "d", 2)
    deprecated = backend.update(old, status="deprecated", reason="keeps failing")
    assert deprecated.status == "deprecated" and deprecated.version == 1  # a status change is no version
    [event] = backend.history(old)[-1].events
    assert (event.status, event.reason) == ("deprecated", "keeps failing")
    query = np.ones(DIM)
    assert {m.id for m in backend.search(query, k=10)} == {active, candidate}
    assert {m.id for m in backend.search(None, k=10, rank="wilson")} == {active, candidate}
    assert [m.id for m in backend.search(query, k=10, status="deprecated")] == [old]
    assert {m.id for m in backend.search(query, k=10, status=["active", "deprecated"])} == {active, old}
    assert {m.id for m in backend.search(query, k=10, status=list(STATUSES))} == {active, candidate, old}
    [many] = backend.search_many(query[None, :], k=10, status="candidate")
    assert [m.id for m in many] == [candidate]
    assert [s.id for s in backend] == [active, candidate]
    assert [s.id for s in backend.skills(status=list(STATUSES))] == [active, candidate, old]
    assert [s.id for s in backend.skills(status="deprecated")] == [old]
    assert len(backend) == 3 and old in backend and backend.get(old).status == "deprecated"
    assert backend.stats()["statuses"] == {"active": 1, "candidate": 1, "deprecated": 1}
    assert backend.stats()["total_skills"] == 3
    assert [s.id for s in backend.find()] == [active, candidate]
    assert [s.id for s in backend.find({"$skill": {"attempts": 0}}, status="deprecated")] == [old]
    assert [s.id for s in backend.find(status=["candidate", "deprecated"], limit=1)] == [candidate]
    backend.update(old, status="active")
    assert old in {m.id for m in backend.search(query, k=10)}
    for bad in ("retired", [], ["active", 3], 5):
        with pytest.raises(InvalidInputError):
            backend.search(query, status=bad)
        with pytest.raises(InvalidInputError):
            list(backend.skills(status=bad))


def test_versions_and_statuses_survive_reopening(make_backend: Backends) -> None:
    backend = make_backend(DIM)
    skill_id = add(backend)
    backend.update(skill_id, actions=["v2"], embedding=AXES[1], reason="r")
    backend.record_outcome(skill_id, True)
    backend.update(skill_id, status="candidate", reason="trial")
    backend.rollback(skill_id, 1)
    history = backend.history(skill_id)
    if hasattr(backend, "checkpoint"):
        backend.checkpoint()
    reopened = make_backend.reopen(backend)
    if reopened is None:
        return  # nothing persists in memory
    assert reopened.history(skill_id) == history
    assert reopened.get(skill_id).status == "candidate" and reopened.get(skill_id).version == 3
    assert [m.id for m in reopened.search(AXES[0], k=1, status="candidate")] == [skill_id]


def test_wilson_ranks_a_long_record_above_a_short_lucky_one(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    lucky, steady, untried = add(backend, "lucky", 0), add(backend, "steady", 0), add(backend, "untried", 0)
    for _ in range(3):
        backend.record_outcome(lucky, True)
    for attempt in range(100):
        backend.record_outcome(steady, attempt < 95)
    assert [m.id for m in backend.search(None, k=3, rank="success")][:2] == [lucky, steady]
    ranked = backend.search(None, k=3, rank="wilson")
    assert [m.id for m in ranked] == [steady, lucky, untried]
    assert [round(m.score, 3) for m in ranked] == [0.888, 0.438, 0.0]
    blended = backend.search(AXES[0], k=3, rank="wilson")
    assert [m.id for m in blended] == [steady, lucky, untried]
    assert blended[0].score == pytest.approx(0.7 + 0.3 * 0.88824803, abs=1e-6)


def test_wilson_ranking_matches_the_reference(make_backend: BackendFactory) -> None:
    backend = make_backend(DIM)
    rng = np.random.default_rng(11)
    ids = backend.add_many(random_skills(rng, 60, DIM))
    for _ in range(300):
        backend.record_outcome(ids[int(rng.integers(len(ids)))], bool(rng.random() < 0.6))
    skills = list(backend)
    for query in (None, rng.normal(size=DIM)):
        for k in (1, 5, 60):
            got = backend.search(query, k=k, rank="wilson")
            assert_ranking(got, reference_scores(skills, query, rank="wilson"), k)


# -- random sequences against a model ------------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("update"), st.sampled_from(["actions", "name", "embedding", "same"]), st.integers(0, 3)),
        st.tuples(st.just("rollback"), st.integers(1, VERSION_LIMIT + 8), st.just(0)),
        st.tuples(st.just("outcome"), st.booleans(), st.just(0)),
        st.tuples(st.just("status"), st.sampled_from(STATUSES), st.just(0)),
    ),
    max_size=VERSION_LIMIT + 8,
)


class Model:
    """Versions as the documentation describes them, written out plainly."""

    def __init__(self) -> None:
        self.content = {"name": "s", "actions": ["s"], "embedding": 0}
        self.versions: list[dict[str, Any]] = [self._entry(1, None, None, ())]
        self.status = "active"

    def _entry(self, number: int, parent: int | None, rollback_of: int | None, changed: tuple[str, ...]) -> dict:
        return {"version": number, "parent": parent, "rollback_of": rollback_of, "changed": changed,
                "content": dict(self.content), "stats": [0, 0, 0], "events": []}

    def new_version(self, content: dict[str, Any], rollback_of: int | None = None) -> None:
        changed = tuple(f for f in ("name", "actions", "embedding") if content[f] != self.content[f])
        if not changed and rollback_of is None:
            return
        order = ("name", "actions", "embedding")
        self.content = dict(content)
        current = self.versions[-1]["version"]
        self.versions.append(self._entry(current + 1, current, rollback_of, tuple(f for f in order if f in changed)))
        self.versions = self.versions[-VERSION_LIMIT:]


@pytest.mark.parametrize("seed", [0])
def test_random_histories_agree_with_the_model(make_backend: Backends, seed: int) -> None:
    del seed
    # multiples of the profile's max_examples (100 in ci), so that `make fuzz` scales them
    examples = settings.default.max_examples * (1 if make_backend.kind == "postgres" else 3) // 4

    @settings(max_examples=examples, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                            HealthCheck.too_slow])
    @given(operations)
    def run(ops: list[tuple[str, Any, int]]) -> None:
        backend = make_backend(DIM)
        model = Model()
        skill_id = add(backend)
        for op, arg, value in ops:
            if op == "update":
                content = dict(model.content)
                if arg == "embedding":
                    content["embedding"] = value
                    backend.update(skill_id, embedding=AXES[value], reason=f"e{value}")
                elif arg != "same":
                    content[arg] = f"n{value}" if arg == "name" else [value]
                    backend.update(skill_id, **{arg: content[arg]}, reason=f"{arg}{value}")
                else:
                    backend.update(skill_id, actions=model.content["actions"])
                model.new_version(content)
            elif op == "rollback":
                numbers = [v["version"] for v in model.versions]
                if arg == numbers[-1]:
                    with pytest.raises(InvalidInputError):
                        backend.rollback(skill_id, arg)
                elif arg not in numbers:
                    with pytest.raises(VersionNotFoundError):
                        backend.rollback(skill_id, arg)
                else:
                    backend.rollback(skill_id, arg)
                    model.new_version(model.versions[numbers.index(arg)]["content"], rollback_of=arg)
            elif op == "outcome":
                backend.record_outcome(skill_id, arg)
                counts = model.versions[-1]["stats"]
                counts[0] += 1
                counts[1 if arg else 2] += 1
            else:
                backend.update(skill_id, status=arg)
                if arg != model.status:
                    model.versions[-1]["events"].append(arg)
                    model.status = arg
        check(backend, skill_id, model)
        reopened = make_backend.reopen(backend)
        if reopened is not None:
            check(reopened, skill_id, model)
            reopened.close()  # one connection per example at most: `make fuzz` runs hundreds
        backend.close()

    run()


def check(backend: SkillBackend, skill_id: str, model: Model) -> None:
    skill = backend.get(skill_id)
    assert (skill.version, skill.status) == (model.versions[-1]["version"], model.status)
    history = backend.history(skill_id)
    assert [v.version for v in history] == [v["version"] for v in model.versions]
    for got, expected in zip(history, model.versions, strict=True):
        assert (got.parent, got.rollback_of, got.changed) == (expected["parent"], expected["rollback_of"],
                                                              expected["changed"])
        assert (got.name, got.actions) == (expected["content"]["name"], expected["content"]["actions"])
        np.testing.assert_array_equal(got.embedding, AXES[expected["content"]["embedding"]])
        assert [got.stats.attempts, got.stats.successes, got.stats.failures] == expected["stats"]
        assert [e.status for e in got.events] == expected["events"]
    found = {m.id for m in backend.search(np.ones(DIM), k=5)}
    assert found == (set() if model.status == "deprecated" else {skill_id})


@pytest.mark.parametrize("fmt", ["jsonl", "msgpack", "csv"])
def test_export_and_import_carry_versions_statuses_and_their_counts(make_backend: Backends, fmt: str) -> None:
    import io

    from skillstore.cli.transfer import export_skills, import_skills, read_skills

    source = make_backend(DIM)
    first, second, third = add(source, "a", 0), add(source, "b", 1, status="candidate"), add(source, "c", 2)
    source.record_outcome(first, True, reward=2.5)
    source.update(first, actions=["x"], embedding=AXES[3], metadata={"t": (1, b"\x00")}, reason="faster")
    source.record_outcome(first, False)
    source.update(first, status="deprecated", reason="fails")
    source.rollback(first, 1, reason="back")
    source.update(third, status="deprecated")
    buffer = io.BytesIO()
    assert export_skills(source, buffer, fmt) == 3
    buffer.seek(0)
    target = make_backend(DIM)
    import_skills(target, read_skills(buffer, fmt, dim=DIM).skills)
    every = list(STATUSES)
    assert list(target.skills(status=every)) == list(source.skills(status=every))
    for skill_id in (first, second, third):
        assert target.history(skill_id) == source.history(skill_id)
    assert [m.id for m in target.search(np.ones(DIM), k=5)] == [second]


def test_a_postgres_library_made_before_versions_is_upgraded_by_a_read_write_open(
    pg_library: Callable[[], str],
) -> None:
    import psycopg
    from psycopg import sql

    from skillstore import FormatVersionError, SkillStore
    from skillstore.backends import pgschema

    url = pg_library()
    with SkillStore.open(url, dim=DIM) as library:
        skill_id = add(library)
        for success in (True, False, True):
            library.record_outcome(skill_id, success, reward=1.0)
        library_name = library.library  # type: ignore[union-attr]
        conninfo, _ = pgschema.split_url(url)
    with psycopg.connect(conninfo, autocommit=True) as conn:  # what a library of the previous release holds
        columns = ", ".join(f"DROP COLUMN {c.split()[0]}" for c in pgschema._VERSION_COLUMNS)
        conn.execute(sql.SQL("ALTER TABLE {} " + columns).format(sql.Identifier(library_name)))
        conn.execute(sql.SQL("UPDATE {} SET format = 1 WHERE name = %s").format(sql.Identifier(pgschema.REGISTRY)),
                     (library_name,))
    with pytest.raises(FormatVersionError, match="open it read-write once"):
        SkillStore.open(url, read_only=True)
    with SkillStore.open(url) as library:
        skill = library.get(skill_id)
        assert (skill.version, skill.status, skill.stats.attempts) == (1, "active", 3)
        [only] = library.history(skill_id)
        assert only.stats == VersionStats(3, 2, 1, 3.0) and only.created_at == skill.created_at
        assert library.update(skill_id, actions=["v2"], reason="after the upgrade").version == 2
    with SkillStore.open(url, read_only=True) as reader:
        assert [v.version for v in reader.history(skill_id)] == [1, 2]
