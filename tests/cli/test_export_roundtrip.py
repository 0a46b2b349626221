"""What a library accepts, its export imports again, losslessly, in every format.

Hypothesis drives the public API with hostile and extreme values (the API refuses some with a
typed error, and those change nothing); whatever it accepted is exported as jsonl, msgpack and
CSV, read back and restored into an empty library, which must then hold exactly the same skills.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skillstore import MemoryBackend, Skill, SkillBackend, SkillStats, SkillStore, SkillStoreError
from skillstore.cli import tagged_json
from skillstore.cli.transfer import FORMATS, export_skills, import_skills, read_skills
from skillstore.validation import MAX_ABS_REWARD, MAX_COUNTER, MAX_TIMESTAMP, MAX_TOTAL_REWARD

DIM = 4

any_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=10)  # lone surrogates included
floats = st.one_of(st.floats(), st.sampled_from([1e308, -1e308, 5e-324, -0.0, MAX_ABS_REWARD, 1e300]))
ints = st.one_of(st.integers(-(2**63), 2**64 - 1), st.sampled_from([2**53, 2**53 + 1, -(2**63), 10**400]))
scalars = st.one_of(st.none(), st.booleans(), ints, floats, any_text, st.binary(max_size=6))
keys = st.one_of(any_text, st.integers(-5, 5), st.binary(max_size=3), st.booleans(), st.none(),
                 st.sampled_from(["$bytes", "$tuple", "$map", "$float", "$x"]))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                            st.dictionaries(keys, inner, max_size=3)),
    max_leaves=10,
)
string_keyed = st.dictionaries(st.one_of(any_text, st.sampled_from(["$tuple", "$map", "a"])), values, max_size=3)
embeddings = st.lists(st.floats(-10, 10, allow_nan=False), min_size=DIM, max_size=DIM).filter(
    lambda v: any(abs(x) > 1e-3 for x in v)
)
stamps = st.one_of(st.none(), st.floats(0, MAX_TIMESTAMP), st.sampled_from([0, MAX_TIMESTAMP, -1.0, 10**400]))


@st.composite
def stats(draw: st.DrawFn) -> SkillStats:
    big = st.one_of(st.integers(0, 50), st.sampled_from([MAX_COUNTER // 2, MAX_COUNTER - 1, MAX_COUNTER]))
    attempts = draw(st.one_of(big, st.just(MAX_COUNTER + 1)))
    successes = draw(st.one_of(st.integers(0, attempts), st.just(attempts)))
    failures = attempts - successes
    reward = draw(st.one_of(st.just(0.0), st.floats(-MAX_TOTAL_REWARD, MAX_TOTAL_REWARD),
                            st.sampled_from([MAX_TOTAL_REWARD, -MAX_TOTAL_REWARD, 1e308])))
    return SkillStats(successes + failures, successes, failures, draw(big.filter(bool)), reward,
                      draw(stamps.filter(lambda s: s is None or isinstance(s, float))))


@st.composite
def skills(draw: st.DrawFn, *, with_id: bool) -> Skill:
    return Skill(
        draw(any_text), draw(values), draw(embeddings), preconditions=draw(string_keyed),
        description=draw(any_text), metadata=draw(string_keyed),
        id=draw(st.sampled_from(["a", "b", "c", "x" * 256, "é\x00"])) if with_id else None,
        stats=draw(stats()) if with_id else SkillStats(),
        created_at=draw(stamps) if with_id else None, updated_at=draw(stamps) if with_id else None,
        provenance=draw(st.lists(st.fixed_dictionaries({"at": stamps, "name": any_text, "score": floats}),
                                 max_size=3)) if with_id else [],
    )


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(skills(with_id=False), min_size=1, max_size=3)),
        st.tuples(st.just("outcome"), st.integers(0, 5), st.booleans(),
                  st.one_of(st.none(), floats, ints)),
        st.tuples(st.just("restore"), st.lists(skills(with_id=True), min_size=1, max_size=2)),
        st.tuples(st.just("merge"), st.lists(skills(with_id=True), min_size=1, max_size=2)),
    ),
    max_size=8,
)


def apply(backend: SkillBackend, operation: tuple[Any, ...]) -> None:
    kind = operation[0]
    try:
        if kind == "add":
            backend.add_many(operation[1])
        elif kind == "outcome":
            live = [skill.id for skill in backend]
            if live:
                backend.record_outcome(str(live[operation[1] % len(live)]), operation[2], operation[3])
        elif kind == "restore":
            backend.restore_many(operation[1], replace=True)
        else:
            import_skills(backend, operation[1], on_conflict="merge")
    except SkillStoreError:
        pass  # refused: nothing changed


def exact(value: Any) -> str:
    """A text equal for two values exactly when they are the same value (-0.0 is not 0.0; NaN is NaN)."""
    return json.dumps(tagged_json.encode(value), allow_nan=False, sort_keys=False)


def fingerprint(backend: SkillBackend) -> dict[str, tuple[Any, ...]]:
    return {
        str(s.id): (s.name, s.description, exact(s.actions), exact(s.preconditions), exact(s.metadata),
                    s.embedding.tobytes(), exact(s.stats.to_dict()), exact(s.created_at), exact(s.updated_at),
                    exact(s.provenance))
        for s in backend
    }


def assert_round_trips(backend: SkillBackend) -> None:
    expected = fingerprint(backend)
    for skill in backend:  # every number a library holds is within its bound
        assert skill.stats.attempts <= MAX_COUNTER and skill.stats.observations <= MAX_COUNTER
        assert math.isfinite(skill.stats.total_reward) and abs(skill.stats.total_reward) <= MAX_TOTAL_REWARD
        assert 0 <= skill.created_at <= MAX_TIMESTAMP and 0 <= skill.updated_at <= MAX_TIMESTAMP  # type: ignore[operator]
    for fmt in FORMATS:
        stream = io.BytesIO()
        export_skills(backend, stream, fmt)
        content = read_skills(io.BytesIO(stream.getvalue()), fmt, dim=DIM)
        copy = MemoryBackend(DIM)
        import_skills(copy, content.skills)
        assert fingerprint(copy) == expected, fmt


@settings(max_examples=2 * settings.default.max_examples,  # the profile decides randomness and scale
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=operations, dedup=st.booleans())
def test_what_a_memory_backend_accepts_exports_and_imports_again(steps: list[tuple[Any, ...]], dedup: bool) -> None:
    backend = MemoryBackend(DIM, dedup_threshold=0.999 if dedup else None)
    for step in steps:
        apply(backend, step)
    assert_round_trips(backend)


def test_what_a_store_accepts_exports_and_imports_again(tmp_path: Path) -> None:
    counter = iter(range(10**6))

    @settings(max_examples=settings.default.max_examples // 2,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(steps=operations)
    def case(steps: list[tuple[Any, ...]]) -> None:
        with SkillStore.open(tmp_path / f"s{next(counter)}", dim=DIM, dedup_threshold=0.999,
                             durability="flush") as store:
            for step in steps:
                apply(store, step)
            assert_round_trips(store)

    case()


def test_two_huge_rewards_cannot_make_a_total_no_import_accepts() -> None:
    backend = MemoryBackend(DIM)
    skill_id = backend.add(Skill("s", [], np.ones(DIM)))
    for reward in (1e308, 1e308, MAX_ABS_REWARD * 10):
        apply(backend, ("outcome", 0, True, reward))
    assert backend.get(skill_id).stats.attempts == 0
    full = Skill("s", [], np.ones(DIM), id=skill_id, stats=SkillStats(1, 1, 0, 1, MAX_TOTAL_REWARD))
    backend.restore_many([full], replace=True)
    apply(backend, ("merge", [full]))
    assert backend.get(skill_id).stats.total_reward == MAX_TOTAL_REWARD
    assert_round_trips(backend)


def store_checks_outcomes_and_merges() -> bool:
    import inspect

    import skillstore.store

    source = inspect.getsource(skillstore.store)
    return "check_outcome_fits" in source and "check_merge_fits" in source


@pytest.mark.parametrize("kind", ["memory", "store"])
def test_counters_at_their_bound_stay_importable(tmp_path: Path, kind: str, request: pytest.FixtureRequest) -> None:
    if kind == "store" and not store_checks_outcomes_and_merges():
        request.applymarker(pytest.mark.xfail(strict=True, reason="store.py does not call the checks yet"))
    backend: SkillBackend = (MemoryBackend(DIM, dedup_threshold=0.99) if kind == "memory" else
                             SkillStore.open(tmp_path / "s", dim=DIM, dedup_threshold=0.99))
    full = Skill("full", [], np.ones(DIM), id="full",
                 stats=SkillStats(MAX_COUNTER, MAX_COUNTER, 0, MAX_COUNTER, MAX_TOTAL_REWARD, 1.0))
    backend.restore_many([full])
    apply(backend, ("outcome", 0, True, 1.0))  # one attempt too many
    apply(backend, ("add", [Skill("twin", [], np.ones(DIM))]))  # one observation too many
    apply(backend, ("merge", [full]))  # every counter twice over
    assert backend.get("full").stats == full.stats and len(backend) == 1
    assert_round_trips(backend)
    backend.close()
