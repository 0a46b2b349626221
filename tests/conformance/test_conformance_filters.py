"""Filter expressions give the same skills on every backend, and the skills the documented
rules give: a Hypothesis property checks random expressions against a brute-force evaluator
written here from the rules (README, ``skillstore.query``), independently of any backend.

The library mixes values that compare across kinds (``True``, ``1``, ``1.0``, ``"1"``, lists
and tuples, ``None``), keys that some skills lack, and skills with and without outcomes. On
the embedded store part of it is in a snapshot, part in the log, and one snapshot row was
changed after it (its metadata then answers from memory, not from the persisted index).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from conformance_helpers import Backends
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skillstore import InvalidInputError, Skill, SkillBackend, SkillStore

DIM = 4
KEYS = ["room", "tier", "owner"]
VALUES: list[Any] = [0, 1, 2, 3, -1, 1.0, 2.5, -0.5, True, False, "1", "a", "b", "ops", None, [1, 2], [1.0, 2], []]
ORDERABLE: list[Any] = [0, 1, 2, 2.5, -1, True, "a", "b", "1", "ops"]
NAMES = ["open door", "pick key", "go", "Go", "zeta"]
SKILL_FIELDS = ["attempts", "successes", "failures", "success_rate", "observations", "total_reward", "last_used_at",
                "name"]


def library_skills() -> list[tuple[Skill, list[bool]]]:
    """Skills and the outcomes to record for each (a fixed pseudo-random library)."""
    rng = np.random.default_rng(2024)
    skills = []
    for i in range(48):
        metadata = {key: VALUES[int(rng.integers(len(VALUES)))] for key in KEYS if rng.random() < 0.7}
        outcomes = [bool(rng.random() < 0.6) for _ in range(int(rng.integers(0, 4)))]
        skill = Skill(NAMES[i % len(NAMES)], [i], rng.normal(size=DIM), metadata=metadata)
        skills.append((skill, outcomes))
    return skills


def build(backend: SkillBackend) -> None:
    skills = library_skills()
    ids = backend.add_many([skill for skill, _ in skills[:30]])
    if isinstance(backend, SkillStore):
        backend.checkpoint()  # the first 30 in the snapshot, the rest in the log
    ids += backend.add_many([skill for skill, _ in skills[30:]])
    for skill_id, (_, outcomes) in zip(ids, skills, strict=True):
        for number, success in enumerate(outcomes):
            backend.record_outcome(skill_id, success, reward=float(number) - 0.5)
    backend.update(ids[3], metadata={"room": [1, 2], "tier": "b"})  # a snapshot row changed after it
    backend.delete(ids[4])


# -- the reference, from the documented rules ---------------------------------------------


def equal(a: Any, b: Any) -> bool:
    """The precondition rule: lists equal tuples, True == 1 == 1.0, "1" != 1."""
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        return (isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b)
                and all(equal(x, y) for x, y in zip(a, b, strict=True)))
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(
            equal(a[k], b[k]) for k in a)
    if isinstance(a, str) != isinstance(b, str):
        return False
    return bool(a == b)


def number(value: Any) -> bool:
    return isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value))


def compare(value: Any, op: str, bound: Any) -> bool:
    if isinstance(bound, str):
        if not isinstance(value, str):
            return False
    elif not (number(value) and number(bound)):
        return False
    return {"$gt": value > bound, "$gte": value >= bound, "$lt": value < bound, "$lte": value <= bound}[op]


MISSING = object()


def field_value(skill: Skill, kind: str, name: str) -> Any:
    if kind == "metadata":
        return (skill.metadata or {}).get(name, MISSING)
    if name == "name":
        return skill.name
    if name == "success_rate":
        return skill.stats.success_rate
    value = getattr(skill, name) if name in ("created_at", "updated_at") else getattr(skill.stats, name)
    return MISSING if value is None else value


def condition(value: Any, op: str, operand: Any) -> bool:
    present = value is not MISSING
    if op == "$eq":
        return present and equal(value, operand)
    if op == "$ne":
        return not (present and equal(value, operand))
    if op == "$in":
        return present and any(equal(value, o) for o in operand)
    if op == "$nin":
        return not (present and any(equal(value, o) for o in operand))
    if op == "$exists":
        return present == operand
    if op == "$not":
        return not field_matches(value, operand)
    return present and compare(value, op, operand)


def field_matches(value: Any, spec: Any) -> bool:
    if isinstance(spec, dict) and spec and all(k.startswith("$") for k in spec):
        return all(condition(value, op, operand) for op, operand in spec.items())
    return condition(value, "$eq", spec)


def reference(skill: Skill, expression: dict[str, Any]) -> bool:
    for key, spec in expression.items():
        if key == "$and" and not all(reference(skill, e) for e in spec):
            return False
        if key == "$or" and not any(reference(skill, e) for e in spec):
            return False
        if key == "$not" and reference(skill, spec):
            return False
        if key in ("$skill", "$metadata"):
            kind = key[1:]
            if not all(field_matches(field_value(skill, kind, name), s) for name, s in spec.items()):
                return False
        if not key.startswith("$") and not field_matches(field_value(skill, "metadata", key), spec):
            return False
    return True


# -- expressions ----------------------------------------------------------------------------

values = st.sampled_from(VALUES)
operators = st.one_of(
    st.tuples(st.sampled_from(["$eq", "$ne"]), values),
    st.tuples(st.sampled_from(["$in", "$nin"]), st.lists(values, max_size=3)),
    st.tuples(st.just("$exists"), st.booleans()),
    st.tuples(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), st.sampled_from(ORDERABLE)),
)


def operator_object(ops: list[tuple[str, Any]]) -> dict[str, Any]:
    return dict(ops)


field_specs = st.one_of(
    values,
    st.lists(operators, min_size=1, max_size=2).map(operator_object),
    st.lists(operators, min_size=1, max_size=1).map(lambda ops: {"$not": operator_object(ops)}),
)
skill_specs = st.one_of(
    st.tuples(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]),
              st.sampled_from([0, 1, 2, 0.5, 0.6, -0.5, 1.5, "go", "Go", "open door"])).map(lambda t: {t[0]: t[1]}),
    st.tuples(st.sampled_from(["$eq", "$ne"]), st.sampled_from([0, 1, 2, 1.0, True, 0.5, "go", "zeta"])).map(
        lambda t: {t[0]: t[1]}),
    st.booleans().map(lambda b: {"$exists": b}),
    st.lists(st.sampled_from(NAMES + [1, 2]), max_size=3).map(lambda v: {"$in": v}),
)
leaves = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), field_specs, min_size=1, max_size=2),
    st.dictionaries(st.sampled_from(SKILL_FIELDS), skill_specs, min_size=1, max_size=2).map(lambda d: {"$skill": d}),
)
expressions = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda parts: {"$and": parts}),
        st.lists(children, min_size=1, max_size=3).map(lambda parts: {"$or": parts}),
        children.map(lambda part: {"$not": part}),
    ),
    max_leaves=6,
)


def found(backend: SkillBackend, where: dict[str, Any]) -> list[str]:
    return sorted(str(m.skill.id) for m in backend.search(None, k=1000, where=where))


def expected(backend: SkillBackend, where: dict[str, Any]) -> list[str]:
    return sorted(str(s.id) for s in backend if reference(s, where))


def test_random_expressions_match_the_reference_on_every_backend(make_backend: Backends) -> None:
    backend = make_backend(DIM)
    build(backend)

    @settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(expressions)
    def check(where: dict[str, Any]) -> None:
        assert found(backend, where) == expected(backend, where), where

    check()


EXAMPLES: list[tuple[dict[str, Any], str]] = [
    ({"room": {"$in": [1, 2]}}, "in"),
    ({"room": {"$nin": [1, 2]}}, "nin: missing keys pass"),
    ({"room": 1}, "plain equality: True and 1.0 equal 1"),
    ({"room": {"$ne": 1}}, "ne: missing keys pass"),
    ({"room": {"$exists": False}}, "exists false"),
    ({"room": {"$gt": 0}}, "gt: numbers and bools only"),
    ({"owner": {"$gte": "a"}}, "strings by code point"),
    ({"room": {"$not": {"$gt": 1}}}, "field-level not"),
    ({"$not": {"room": 1}}, "expression-level not"),
    ({"room": [1, 2]}, "lists equal tuples"),
    ({"$or": [{"tier": {"$gte": 2}}, {"owner": "ops"}], "room": {"$in": [0, 1]}}, "or beside a key"),
    ({"$skill": {"attempts": {"$gte": 2}, "success_rate": {"$gt": 0.5}}}, "statistics"),
    ({"$skill": {"last_used_at": {"$exists": False}}}, "never used"),
    ({"$skill": {"last_used_at": {"$ne": 0}}}, "a skill never used passes ne"),
    ({"$skill": {"last_used_at": {"$nin": [0, 1]}}}, "and nin"),
    ({"$skill": {"name": {"$in": ["go", "zeta"]}}}, "names"),
    ({"$skill": {"created_at": {"$gt": 0}}, "$metadata": {"room": {"$lte": 1}}}, "timestamps, $metadata"),
]


@pytest.mark.parametrize(("where", "what"), EXAMPLES, ids=[what for _, what in EXAMPLES])
def test_documented_examples(make_backend: Backends, where: dict[str, Any], what: str) -> None:
    backend = make_backend(DIM)
    build(backend)
    assert found(backend, where) == expected(backend, where)


@pytest.mark.parametrize(
    ("where", "named"),
    [
        ({"room": {"$bogus": 1}}, "$bogus"),
        ({"room": {"$in": 3}}, "$in"),
        ({"room": {"$gt": [1]}}, "$gt"),
        ({"room": {"$exists": 1}}, "$exists"),
        ({"$and": {"room": 1}}, "$and"),
        ({"$or": []}, "$or"),
        ({"$nor": [{"room": 1}]}, "$nor"),
        ({"$skill": {"colour": 1}}, "colour"),
        ({"room": {"$gt": 1, "plain": 2}}, "mixes"),
        ({"room": {"$not": 3}}, "$not"),
        ({1: 2}, "keys must be strings"),
        ("room = 1", "mapping"),
    ],
)
def test_a_malformed_expression_is_refused_naming_its_part_and_changes_nothing(
    make_backend: Backends, where: Any, named: str
) -> None:
    backend = make_backend(DIM)
    backend.add(Skill("s", [1], np.ones(DIM), metadata={"room": 1}))
    with pytest.raises(InvalidInputError, match=named.replace("$", r"\$")):
        backend.search(None, k=5, where=where)
    assert len(backend) == 1


def reference_order(skills: list[Skill], field: str | None, descending: bool) -> list[str]:
    """Creation order, or by a field: ties keep creation order, a missing value last."""
    if field is None:
        return [str(s.id) for s in skills]
    present = [s for s in skills if field_value(s, "skill", field) is not MISSING]
    missing = [s for s in skills if field_value(s, "skill", field) is MISSING]
    present.sort(key=lambda s: field_value(s, "skill", field), reverse=descending)
    return [str(s.id) for s in present + missing]


@pytest.mark.parametrize("order_by", [None, "attempts", "-success_rate", "name", "-name", "last_used_at",
                                      "-last_used_at", "-created_at", "total_reward"])
def test_find_lists_matches_in_the_documented_order(make_backend: Backends, order_by: str | None) -> None:
    backend = make_backend(DIM)
    build(backend)
    where = {"$or": [{"room": {"$exists": True}}, {"$skill": {"attempts": {"$gte": 1}}}]}
    matching = [s for s in backend if reference(s, where)]
    want = reference_order(matching, None if order_by is None else order_by.lstrip("-"),
                           bool(order_by and order_by.startswith("-")))
    assert [str(s.id) for s in backend.find(where, order_by=order_by)] == want
    assert [str(s.id) for s in backend.find(where, order_by=order_by, limit=5)] == want[:5]
    assert backend.find(where, limit=0) == []
    everything = [str(s.id) for s in backend]
    assert [str(s.id) for s in backend.find()] == everything


def test_find_and_its_errors(make_backend: Backends) -> None:
    backend = make_backend(DIM)
    backend.add_many([Skill("a", [1], np.ones(DIM), preconditions={"door": "open"}, metadata={"room": 1}),
                      Skill("b", [2], np.ones(DIM), metadata={"room": 2})])
    assert [s.name for s in backend.find(state={"door": "open"})] == ["a", "b"]  # b applies everywhere
    assert [s.name for s in backend.find({"room": 2}, state={"door": "shut"})] == ["b"]
    for bad in ({"order_by": "colour"}, {"order_by": 3}, {"limit": -1}, {"limit": 1.5}, {"order_by": "--name"}):
        with pytest.raises(InvalidInputError):
            backend.find(**bad)  # type: ignore[arg-type]


def test_delete_many_by_filter_removes_exactly_the_matches_at_once(make_backend: Backends) -> None:
    backend = make_backend(DIM)
    build(backend)
    where = {"$or": [{"room": {"$lte": 1}}, {"$skill": {"failures": {"$gte": 1}}}]}
    doomed = [str(s.id) for s in backend if reference(s, where)]
    kept = [str(s.id) for s in backend if not reference(s, where)]
    assert doomed and kept
    assert sorted(backend.delete_many(where=where)) == sorted(doomed)
    assert [str(s.id) for s in backend] == kept
    assert backend.delete_many(where=where) == []
    with pytest.raises(InvalidInputError, match="not both"):
        backend.delete_many([kept[0]], where={"room": 1})
    with pytest.raises(InvalidInputError):
        backend.delete_many(where={"room": {"$bad": 1}})
    assert [str(s.id) for s in backend] == kept
    reopened = make_backend.reopen(backend)
    if reopened is not None:
        assert [str(s.id) for s in reopened] == kept


def test_a_key_holding_nan_exists_and_equals_nothing(make_backend: Backends) -> None:
    backend = make_backend(DIM)
    backend.add(Skill("nan", [1], np.ones(DIM), metadata={"score": math.nan, "pair": [1, math.nan]}))
    if isinstance(backend, SkillStore):
        backend.checkpoint()
    backend.add(Skill("plain", [2], np.ones(DIM), metadata={"score": 1.0}))
    assert sorted(s.name for s in backend.find({"score": {"$exists": True}})) == ["nan", "plain"]
    assert [s.name for s in backend.find({"pair": {"$exists": True}})] == ["nan"]
    assert [s.name for s in backend.find({"score": {"$ne": 1.0}})] == ["nan"]
    assert backend.find({"score": {"$gt": 0.5}, "pair": {"$exists": True}}) == []


@pytest.mark.parametrize("bound", [2**60, 2**60 + 1, float(2**60), 1.5, True, -(2**70)])
@pytest.mark.parametrize("op", ["$gt", "$gte", "$lt", "$lte"])
def test_ranges_over_numbers_no_float_holds_compare_exactly(make_backend: Backends, op: str, bound: Any) -> None:
    if make_backend.kind == "postgres":
        pytest.skip("JSON keeps floats as their shortest decimal: beyond 2**53 PostgreSQL may differ (documented)")
    backend = make_backend(DIM)
    values = [2**60, 2**60 + 1, float(2**60), 2**62 + 1, 1, True, 0.5, "text", None]
    ids = backend.add_many([Skill(f"s{i}", [i], np.ones(DIM), metadata={"n": v}) for i, v in enumerate(values[:5])])
    if isinstance(backend, SkillStore):
        backend.checkpoint()  # half in the snapshot, half in memory
    ids += backend.add_many([Skill(f"s{i + 5}", [i], np.ones(DIM), metadata={"n": v})
                             for i, v in enumerate(values[5:])])
    where = {"n": {op: bound}}
    assert sorted(str(s.id) for s in backend.find(where)) == expected(backend, where)


def test_a_filter_on_status_or_version_decides_which_skills_a_search_keeps(make_backend: Backends) -> None:
    backend = make_backend(DIM)
    first, second, third = backend.add_many([Skill(n, [1], np.eye(DIM)[i]) for i, n in enumerate("abc")])
    backend.update(first, status="deprecated", reason="replaced")
    backend.update(second, name="b2", reason="renamed")  # version 2
    assert sorted(s.name for s in backend.find()) == ["b2", "c"]  # deprecated left out by default
    assert [s.name for s in backend.find({"$skill": {"status": "deprecated"}})] == ["a"]
    assert [m.skill.name for m in backend.search(np.eye(DIM)[0], k=5, where={"$skill": {"status": "deprecated"}})] == [
        "a"]
    assert sorted(s.name for s in backend.find({"$skill": {"status": {"$ne": "candidate"}}})) == ["a", "b2", "c"]
    assert [s.name for s in backend.find({"$skill": {"version": {"$gte": 2}}})] == ["b2"]
    assert [s.name for s in backend.find(order_by="-version")] == ["b2", "c"]
    assert backend.find({"$skill": {"status": "deprecated"}}, status="active") == []  # an explicit status= still rules


@pytest.mark.parametrize("where", [{"y": {"$lt": 0}}, {"y": {"$gt": 1e308}}, {"y": {"$gte": -math.inf}},
                                   {"y": {"$lte": math.inf}}, {"y": {"$gt": math.inf}}])
def test_infinite_metadata_values_are_ordered_as_numbers(make_backend: Backends, where: dict[str, Any]) -> None:
    backend = make_backend(DIM)
    backend.add_many([Skill(n, [1], np.ones(DIM), metadata={"y": v})
                      for n, v in (("low", -math.inf), ("high", math.inf), ("one", 1), ("text", "x"))])
    assert sorted(str(s.id) for s in backend.find(where)) == expected(backend, where)
