"""The bounds of skillstore.validation and the checks of skillstore.records that the write path
and replay use: each refuses exactly what lies past its documented limit, with a typed error."""

from __future__ import annotations

import collections
import math
import types
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import skillstore
from skillstore import (
    CounterOverflowError,
    InvalidInputError,
    InvalidSkillError,
    MemoryBackend,
    Skill,
    SkillStats,
    SkillStoreError,
)
from skillstore.cli.transfer import import_skills
from skillstore.codec import pack, unpack
from skillstore.index import index_params
from skillstore.preconditions import Unmatchable
from skillstore.records import (
    MAX_ID_LENGTH,
    PROVENANCE_LIMIT,
    RECORD_KEYS,
    STAT_KEYS,
    STATUSES,
    check_merge_fits,
    check_outcome_fits,
    check_stored_record,
    initial_entry,
    load_record,
    merged_for_restore,
)
from skillstore.validation import (
    MAX_ABS_REWARD,
    MAX_BATCH_BYTES,
    MAX_COUNTER,
    MAX_DEPTH,
    MAX_TIMESTAMP,
    MAX_TOTAL_REWARD,
    check_batch_size,
    check_depth,
    check_reward,
    check_timestamp,
    query_value,
)

DIM = 4


def test_counter_overflow_error_is_a_public_invalid_input_error() -> None:
    assert issubclass(CounterOverflowError, InvalidInputError)
    assert issubclass(CounterOverflowError, ValueError)
    assert "CounterOverflowError" in skillstore.__all__
    assert CounterOverflowError.__doc__ and CounterOverflowError.__doc__.startswith("Raised when")


def test_the_limits_are_what_the_documentation_says() -> None:
    assert MAX_COUNTER == 2**53 - 1 and float(MAX_COUNTER) == MAX_COUNTER  # exact in JSON readers' float64
    assert math.isfinite(MAX_TOTAL_REWARD + MAX_TOTAL_REWARD)  # a merge of two bounded totals stays finite
    assert MAX_ABS_REWARD == 1e15 and MAX_TOTAL_REWARD == 1e300
    assert MAX_TIMESTAMP == 253402300799.0 and MAX_DEPTH == 64 and MAX_BATCH_BYTES == 1 << 30


# -- batch size ---------------------------------------------------------------------------------


def test_check_batch_size_refuses_a_frame_past_the_limit() -> None:
    check_batch_size(0)
    check_batch_size(MAX_BATCH_BYTES)
    for size in (MAX_BATCH_BYTES + 1, 1 << 32, 10**20):
        with pytest.raises(InvalidInputError, match="split the batch"):
            check_batch_size(size)


# -- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("reward", [None, 0, -0.0, 1, 1.5, MAX_ABS_REWARD, -MAX_ABS_REWARD, np.int64(7), np.float32(2)])
def test_rewards_within_the_bound(reward: Any) -> None:
    value = check_reward(reward)
    assert value is None if reward is None else (type(value) is float and value == float(reward))


@pytest.mark.parametrize(
    "reward",
    [10**400, -(10**400), MAX_ABS_REWARD * 1.000001, math.inf, -math.inf, math.nan, True, "1", 1j, np.complex64(1),
     [1.0], np.array([1.0])],
    ids=repr,
)
def test_rewards_past_the_bound_or_not_numbers(reward: Any) -> None:
    with pytest.raises(InvalidInputError):
        check_reward(reward)


@pytest.mark.parametrize("stamp", [0, 0.0, 1.5, 1_700_000_000.25, MAX_TIMESTAMP, int(MAX_TIMESTAMP)])
def test_timestamps_within_the_bound(stamp: Any) -> None:
    assert check_timestamp(stamp, "at") == float(stamp)


@pytest.mark.parametrize(
    "stamp", [-1, -1e-300, -1e300, MAX_TIMESTAMP + 1, 10**400, math.nan, math.inf, None, "1", True], ids=repr
)
def test_timestamps_past_the_bound(stamp: Any) -> None:
    with pytest.raises(InvalidSkillError, match="at"):
        check_timestamp(stamp, "at")


def record(**stats: Any) -> dict[str, Any]:
    return {"id": "s", "stats": {**SkillStats().to_dict(), **stats}}


def test_check_outcome_fits() -> None:
    check_outcome_fits(record(attempts=MAX_COUNTER - 1), 1.0)
    check_outcome_fits(record(attempts=5, total_reward=-MAX_TOTAL_REWARD), -MAX_ABS_REWARD)  # absorbed
    with pytest.raises(CounterOverflowError, match="attempts"):
        check_outcome_fits(record(attempts=MAX_COUNTER), None)
    with pytest.raises(CounterOverflowError, match="total_reward"):
        check_outcome_fits(record(attempts=1, total_reward=MAX_TOTAL_REWARD), 1e286)  # past the bound by 1e286


def test_check_merge_fits() -> None:
    check_merge_fits(record(observations=MAX_COUNTER - 1))
    check_merge_fits(record(observations=MAX_COUNTER - 3), 3)
    with pytest.raises(CounterOverflowError, match="observed"):
        check_merge_fits(record(observations=MAX_COUNTER))
    with pytest.raises(CounterOverflowError):
        check_merge_fits(record(observations=MAX_COUNTER - 2), 3)


def test_an_import_merge_past_a_bound_is_refused() -> None:
    def exported(**stats: Any) -> Skill:
        return Skill("s", [], [1, 0, 0, 0], id="s", stats=SkillStats(**stats))

    merged = merged_for_restore(exported(attempts=MAX_COUNTER - 1, successes=MAX_COUNTER - 1),
                                exported(attempts=1, failures=1, total_reward=MAX_TOTAL_REWARD))
    assert merged.stats.attempts == MAX_COUNTER and merged.stats.observations == 2
    for kept, incoming in [
        ({"attempts": MAX_COUNTER, "successes": MAX_COUNTER}, {"attempts": 1, "successes": 1}),
        ({"observations": MAX_COUNTER}, {}),
        ({"attempts": 1, "successes": 1, "total_reward": MAX_TOTAL_REWARD},
         {"attempts": 1, "successes": 1, "total_reward": MAX_TOTAL_REWARD}),
        ({"attempts": 1, "failures": 1, "total_reward": -MAX_TOTAL_REWARD},
         {"attempts": 1, "failures": 1, "total_reward": -1e299}),
    ]:
        with pytest.raises(CounterOverflowError):
            merged_for_restore(exported(**kept), exported(**incoming))


# -- nesting ------------------------------------------------------------------------------------


def nested(depth: int, leaf: Any = 0) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def test_check_depth_counts_lists_tuples_and_maps_without_recursion() -> None:
    check_depth(nested(MAX_DEPTH), "v")
    check_depth({"a": [(1, {"b": 2})]}, "v")
    deep_key: Any = ()
    for _ in range(MAX_DEPTH):
        deep_key = (deep_key,)
    for value in (nested(MAX_DEPTH + 1), nested(100_000), {deep_key: 1}):
        with pytest.raises(InvalidSkillError, match="levels deep"):
            check_depth(value, "v")


# -- query values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        (collections.UserList([1, [2]]), (1, (2,))),
        (collections.deque(["a"]), ("a",)),
        (range(3), (0, 1, 2)),
        (np.array([[1, 2]]), ((1, 2),)),
        (collections.UserDict(a=[1]), {"a": (1,)}),
        (types.MappingProxyType({"a": {"b": b"x"}}), {"a": {"b": b"x"}}),
        (bytearray(b"x"), b"x"),
        (memoryview(b"x"), b"x"),
        (np.float32(1.5), 1.5),
        (np.bool_(True), True),
        (np.str_("s"), "s"),
        ({(1, 2): "t"}, {(1, 2): "t"}),
    ],
    ids=lambda v: type(v).__name__,
)
def test_query_values_of_sequence_and_mapping_kinds_become_tuples_and_dicts(value: Any, plain: Any) -> None:
    converted = query_value(value, "v")
    assert converted == plain and type(converted) is type(plain)


@pytest.mark.parametrize(
    "value", [{1}, frozenset(), slice(1), types.SimpleNamespace(), object(), 1j, Ellipsis, [1, {2}]], ids=repr
)
def test_query_values_of_other_kinds_match_nothing(value: Any) -> None:
    converted = query_value(value, "v")
    found = [converted] if isinstance(converted, Unmatchable) else list(converted)
    assert any(isinstance(item, Unmatchable) for item in found)
    assert converted != query_value(value, "v")  # equal to nothing, not even the same value again


def test_query_values_deeper_than_max_depth_are_refused() -> None:
    query_value(nested(MAX_DEPTH - 1), "v")  # at level 1 (inside a state), so MAX_DEPTH levels in all
    for value in (nested(MAX_DEPTH), nested(10_000)):
        with pytest.raises(InvalidInputError, match="levels deep"):
            query_value(value, "v")


# -- values whose repr fails ----------------------------------------------------------------------


DEEP = nested(5000)


@pytest.mark.parametrize("call", [
    lambda b: b.search([1, 0, 0, 0], min_score=DEEP),
    lambda b: b.search([1, 0, 0, 0], k=DEEP),
    lambda b: b.record_outcome("x", DEEP),
    lambda b: b.record_outcome("x", True, DEEP),
    lambda b: b.get(DEEP),
    lambda b: b.delete_many([DEEP]),
    lambda b: b.restore_many([Skill("s", [], [1, 0, 0, 0], id=DEEP)]),
    lambda b: b.update("x", name=DEEP),
    lambda b: b.add(Skill(DEEP, [], [1, 0, 0, 0])),
    lambda b: MemoryBackend(DEEP),
    lambda b: MemoryBackend(DIM, dedup_threshold=DEEP),
    lambda b: index_params(DEEP),
    lambda b: index_params("hnsw", {"M": DEEP}),
    lambda b: import_skills(b, [], on_conflict=DEEP),
    lambda b: skillstore.SkillStore.open(DEEP),
    lambda b: skillstore.SkillStore.open("x", durability=DEEP, dim=DIM, create=False),
    lambda b: skillstore.SkillStore.open("x", create=DEEP),
], ids=lambda call: "")
def test_a_value_whose_repr_fails_is_refused_with_a_typed_error(call: Any) -> None:
    with pytest.raises(SkillStoreError):
        call(MemoryBackend(DIM))


def test_a_rank_whose_repr_fails_is_refused_with_a_typed_error() -> None:
    with pytest.raises(SkillStoreError):
        MemoryBackend(DIM).search([1, 0, 0, 0], rank=DEEP)


# -- index tunables -------------------------------------------------------------------------------


def test_hnsw_tunables_are_bounded() -> None:
    assert index_params("hnsw", {"M": 2, "efConstruction": 1, "efSearch": 1})["M"] == 2
    assert index_params("hnsw", {"M": 256, "efConstruction": 4096, "efSearch": 4096})["efSearch"] == 4096
    for given_params in ({"M": 1}, {"M": 257}, {"M": 100_000}, {"efConstruction": 4097}, {"efSearch": 0},
                         {"efSearch": 10**5000}):
        with pytest.raises(InvalidInputError, match="between"):
            index_params("hnsw", given_params)
    with pytest.raises(InvalidInputError):
        index_params(10**5000)  # type: ignore[arg-type]


# -- stored records -------------------------------------------------------------------------------


def stored_records() -> list[dict[str, Any]]:
    """Records as a store writes them (decoded from msgpack), of skills with every kind of value."""
    backend = MemoryBackend(DIM, dedup_threshold=0.99)
    ids = backend.add_many([
        Skill("door", ["up", {"raw": b"\x00"}, 1.5, None, True], [1, 0, 0, 0],
              preconditions={"pos": (1, 2), "inv": {"key": [True]}, "n": None}, metadata={"m": {1: "x"}}),
        Skill("door again", ["up"], [1, 0.001, 0, 0], preconditions={"pos": [1, 2], "inv": {"key": (True,)},
                                                                      "n": None}),
        Skill("☃" * 10, b"\xff", [0, 1, 0, 0], description="x\x00y"),
    ])
    backend.record_outcome(ids[0], True, MAX_ABS_REWARD)
    backend.record_outcome(ids[0], False, -0.5)
    extreme = Skill("r", [[[]]], [0, 0, 1, 0], id="r" * MAX_ID_LENGTH, created_at=0, updated_at=MAX_TIMESTAMP,
                    stats=SkillStats(MAX_COUNTER, 0, MAX_COUNTER, MAX_COUNTER, -MAX_TOTAL_REWARD, 0.0),
                    provenance=[{"at": 1.0, "name": "n", "score": 0.5}] * PROVENANCE_LIMIT)
    backend.restore_many([extreme])
    return [unpack(pack(r)) for r in backend._records.values()]


def test_records_a_store_writes_pass_and_come_back_as_load_record_makes_them() -> None:
    for raw in stored_records():
        expected = load_record(unpack(pack(raw)))
        checked = check_stored_record(raw, DIM)
        assert pack(checked) == pack(expected)
        assert checked["preconditions"] == expected["preconditions"]
        assert all(type(v) is type(expected["preconditions"][k]) for k, v in checked["preconditions"].items())
        assert check_stored_record(unpack(pack(checked)), DIM) == checked  # canonical: checking again changes nothing


def damaged(change: Any) -> Any:
    raw = stored_records()[0]
    change(raw)
    return raw


DAMAGE = {
    "not a map": lambda r: r.clear() or r.update({0: 1}),
    "unknown key": lambda r: r.update(colour="red"),
    "missing key": lambda r: r.pop("provenance"),
    "id empty": lambda r: r.update(id=""),
    "id too long": lambda r: r.update(id="x" * (MAX_ID_LENGTH + 1)),
    "id NUL": lambda r: r.update(id="a\x00"),
    "id surrogate": lambda r: r.update(id="\ud800"),
    "id int": lambda r: r.update(id=5),
    "name surrogate": lambda r: r.update(name="\udfff"),
    "name empty": lambda r: r.update(name=""),
    "description bytes": lambda r: r.update(description=b"x"),
    "actions deep": lambda r: r.update(actions=nested(MAX_DEPTH + 1)),
    "actions huge int": lambda r: r.update(actions=[2**64]),
    "preconditions int key": lambda r: r.update(preconditions={1: 1}),
    "preconditions list": lambda r: r.update(preconditions=[1]),
    "metadata tuple key": lambda r: r.update(metadata={"m": {(1,): 2}}),
    "stats missing": lambda r: r["stats"].pop("failures"),
    "stats unknown": lambda r: r["stats"].update(bonus=1),
    "stats list": lambda r: r.update(stats=[1, 2]),
    "attempts past max": lambda r: r["stats"].update(attempts=MAX_COUNTER + 1),
    "attempts bool": lambda r: r["stats"].update(attempts=True),
    "attempts float": lambda r: r["stats"].update(attempts=2.0),
    "counters disagree": lambda r: r["stats"].update(successes=r["stats"]["successes"] + 1),
    "observations zero": lambda r: r["stats"].update(observations=0),
    "total_reward nan": lambda r: r["stats"].update(total_reward=math.nan),
    "total_reward past max": lambda r: r["stats"].update(total_reward=1e301),
    "last_used_at negative": lambda r: r["stats"].update(last_used_at=-1.0),
    "last_used_at string": lambda r: r["stats"].update(last_used_at="now"),
    "created_at inf": lambda r: r.update(created_at=math.inf),
    "updated_at past 9999": lambda r: r.update(updated_at=MAX_TIMESTAMP + 1),
    "updated_at none": lambda r: r.update(updated_at=None),
    "provenance too long": lambda r: r.update(provenance=[{"at": 1.0}] * (PROVENANCE_LIMIT + 1)),
    "provenance not maps": lambda r: r.update(provenance=[1]),
    "provenance int keys": lambda r: r.update(provenance=[{1: 2}]),
    "provenance at negative": lambda r: r.update(provenance=[{"at": -1.0}]),
    "provenance map": lambda r: r.update(provenance={"at": 1.0}),
}


@pytest.mark.parametrize("change", list(DAMAGE.values()), ids=list(DAMAGE))
def test_damaged_records_raise_invalid_skill_error(change: Any) -> None:
    with pytest.raises(InvalidSkillError):
        check_stored_record(damaged(change), DIM)


def test_a_record_that_is_not_a_map_raises_invalid_skill_error() -> None:
    for raw in (None, [], "record", 7, b"", 1.5):
        with pytest.raises(InvalidSkillError):
            check_stored_record(raw, DIM)


# Values msgpack can decode (keys of maps: anything hashable it decodes, tuples for array keys),
# plus values it never produces but a caller might pass: huge ints, lone surrogates, NaN.
any_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=12)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.just(10**400), st.floats(), any_text,
    st.binary(max_size=8),
)
keys = st.one_of(any_text, st.integers(-(2**64), 2**64), st.binary(max_size=4), st.none(), st.booleans(),
                 st.floats(allow_nan=False), st.tuples(st.integers(), any_text))
msgpack_like = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)
record_keys = sorted(RECORD_KEYS)
good_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
good_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(), good_text,
              st.binary(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(good_text, inner, max_size=4)),
    max_leaves=12,
)
stamps = st.floats(min_value=0, max_value=MAX_TIMESTAMP)


@st.composite
def good_stats(draw: st.DrawFn) -> dict[str, Any]:
    successes, failures = draw(st.integers(0, MAX_COUNTER // 2)), draw(st.integers(0, MAX_COUNTER // 2))
    attempts = successes + failures
    reward = draw(st.floats(-MAX_TOTAL_REWARD, MAX_TOTAL_REWARD)) if attempts else 0.0
    return SkillStats(attempts, successes, failures, draw(st.integers(1, MAX_COUNTER)), reward,
                      draw(st.none() | stamps)).to_dict()


good_records = st.fixed_dictionaries({
    "id": good_text.filter(lambda t: 0 < len(t) <= MAX_ID_LENGTH),
    "name": good_text.filter(bool),
    "description": good_text,
    "actions": good_values,
    "preconditions": st.dictionaries(good_text, good_values, max_size=3),
    "metadata": st.dictionaries(good_text, good_values, max_size=3),
    "stats": good_stats(),
    "created_at": stamps,
    "updated_at": stamps,
    "provenance": st.lists(st.fixed_dictionaries({"at": stamps, "name": good_text, "score": st.floats(-1, 1)}),
                           max_size=PROVENANCE_LIMIT),
    "version": st.just(1),
    "status": st.sampled_from(STATUSES),
    "history": st.builds(lambda at: [initial_entry(1, at)], stamps),
})


@st.composite
def damaged_records(draw: st.DrawFn) -> Any:
    """A good record with one part replaced by any value, removed, or joined by an unknown key."""
    raw = dict(draw(good_records))
    key = draw(st.sampled_from(record_keys))
    how = draw(st.sampled_from(["replace", "remove", "add", "stat"]))
    if how == "replace":
        raw[key] = draw(msgpack_like)
    elif how == "remove":
        del raw[key]
    elif how == "add":
        raw[draw(keys.filter(lambda k: k not in RECORD_KEYS))] = draw(msgpack_like)
    else:
        raw["stats"] = {**raw["stats"], draw(st.sampled_from([*STAT_KEYS, "bonus"])): draw(msgpack_like)}
    return raw


records_like = st.one_of(msgpack_like, good_records, damaged_records())


@settings(max_examples=4 * settings.default.max_examples,  # the profile decides randomness and scale
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=records_like)
def test_check_stored_record_raises_only_invalid_skill_error(raw: Any) -> None:
    try:
        checked = check_stored_record(raw, DIM)
    except InvalidSkillError:
        return
    # accepted: the same rules as the public API, so the record is one a restore accepts too
    assert set(checked) == RECORD_KEYS
    again = check_stored_record(unpack(pack(checked)), DIM)
    assert pack(again) == pack(checked)
    skill = Skill(checked["name"], checked["actions"], [1, 0, 0, 0], preconditions=checked["preconditions"],
                  description=checked["description"], metadata=checked["metadata"], id=checked["id"],
                  stats=SkillStats(**checked["stats"]), created_at=checked["created_at"],
                  updated_at=checked["updated_at"], provenance=checked["provenance"])
    MemoryBackend(DIM).restore_many([skill])


@settings(max_examples=2 * settings.default.max_examples, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=200))
def test_check_stored_record_on_whatever_bytes_decode_to(data: bytes) -> None:
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.exceptions.ExtraData, msgpack.exceptions.UnpackException):
        return
    try:
        check_stored_record(raw, DIM)
    except InvalidSkillError:
        pass
    except SkillStoreError as exc:
        raise AssertionError(f"{type(exc).__name__} instead of InvalidSkillError") from None
