"""Every error the stores raise: its type, its place in the hierarchy, and a store left
exactly as it was (compared in full, and for SkillStore again after reopening)."""

from __future__ import annotations

import collections
import datetime
import decimal
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from store_helpers import contents

from skillstore import (
    DimensionMismatchError,
    FormatVersionError,
    InvalidEmbeddingError,
    InvalidInputError,
    InvalidSkillError,
    MemoryBackend,
    ReadOnlyStoreError,
    Skill,
    SkillBackend,
    SkillNotFoundError,
    SkillStore,
    SkillStoreError,
    StoreCorruptError,
    StoreIOError,
    StoreLockedError,
    StoreNotFoundError,
)
from skillstore.validation import MAX_ABS_REWARD, MAX_DEPTH, MAX_LOCK_TIMEOUT

DIM = 4


def test_error_hierarchy_matches_the_design() -> None:
    for error in (
        SkillNotFoundError,
        DimensionMismatchError,
        InvalidEmbeddingError,
        InvalidInputError,
        InvalidSkillError,
        StoreCorruptError,
        StoreLockedError,
        ReadOnlyStoreError,
        FormatVersionError,
        StoreNotFoundError,
        StoreIOError,
    ):
        assert issubclass(error, SkillStoreError)
    assert issubclass(SkillNotFoundError, LookupError)
    assert issubclass(DimensionMismatchError, ValueError)
    assert issubclass(InvalidEmbeddingError, ValueError)
    assert SkillNotFoundError("abc").skill_id == "abc"
    assert StoreCorruptError("bad", "/x/log").path == "/x/log"
    assert "/x/log" in str(StoreCorruptError("bad", "/x/log"))


@pytest.fixture
def populated(make_backend: Callable[..., SkillBackend]) -> Iterator[tuple[SkillBackend, list[str]]]:
    backend = make_backend(DIM)
    ids = backend.add_many(
        [
            Skill("a", ["move_up"], [1, 0, 0, 0], preconditions={"k": 1}, metadata={"m": "x"}),
            Skill("b", ["move_down"], [0, 1, 0, 0]),
        ]
    )
    backend.record_outcome(ids[0], True)
    yield backend, ids


def assert_unchanged(
    backend: SkillBackend,
    action: Callable[[], Any],
    error: type[BaseException] | tuple[type[BaseException], ...],
) -> None:
    """``action`` raises ``error`` and leaves every skill and every storage fact as it was."""
    before = contents(backend)
    facts = _facts(backend)
    with pytest.raises(error):
        action()
    assert contents(backend) == before
    assert _facts(backend) == facts
    if isinstance(backend, SkillStore):
        assert backend.verify().ok
        with SkillStore.open(backend.path, read_only=True) as reopened:
            assert contents(reopened) == before


def _facts(backend: SkillBackend) -> dict[str, Any]:
    facts = backend.stats()
    facts.pop("bytes_on_disk", None)
    return facts


BAD_EMBEDDINGS = [
    pytest.param([1, 0, 0], DimensionMismatchError, id="too-short"),
    pytest.param([1, 0, 0, 0, 0], DimensionMismatchError, id="too-long"),
    pytest.param([1, float("nan"), 0, 0], InvalidEmbeddingError, id="nan"),
    pytest.param([1, float("inf"), 0, 0], InvalidEmbeddingError, id="inf"),
    pytest.param([0, 0, 0, 0], InvalidEmbeddingError, id="all-zero"),
    pytest.param(np.zeros(4, dtype=np.float32), InvalidEmbeddingError, id="all-zero-array"),
    pytest.param([[1, 0, 0, 0]], InvalidEmbeddingError, id="2-d"),
    pytest.param(np.float32(1.0), InvalidEmbeddingError, id="scalar"),
    pytest.param(["a", "b", "c", "d"], InvalidEmbeddingError, id="strings"),
    pytest.param("abcd", InvalidEmbeddingError, id="a-string"),
    pytest.param(b"abcd", InvalidEmbeddingError, id="bytes"),
    pytest.param(None, InvalidEmbeddingError, id="none"),
    pytest.param({"x": 1}, InvalidEmbeddingError, id="dict"),
    pytest.param([1, None, 0, 0], InvalidEmbeddingError, id="holds-none"),
    pytest.param([1, [0], 0, 0], InvalidEmbeddingError, id="ragged"),
    pytest.param(np.array([True, False, True, False]), InvalidEmbeddingError, id="bool-dtype"),
    pytest.param(np.array([1j, 0, 0, 0]), InvalidEmbeddingError, id="complex-dtype"),
    pytest.param([10**400, 0, 0, 0], InvalidEmbeddingError, id="int-too-big"),
]


@pytest.mark.parametrize(("embedding", "error"), BAD_EMBEDDINGS)
def test_bad_embedding_on_add_is_refused_and_changes_nothing(
    populated: tuple[SkillBackend, list[str]], embedding: Any, error: type[Exception]
) -> None:
    backend, _ = populated
    assert_unchanged(backend, lambda: backend.add(Skill("bad", [], embedding)), error)
    # a bad skill anywhere in a batch refuses the whole batch
    batch = [Skill("good", [], [1, 1, 1, 1]), Skill("bad", [], embedding)]
    assert_unchanged(backend, lambda: backend.add_many(batch), error)


@pytest.mark.parametrize(("embedding", "error"), BAD_EMBEDDINGS)
def test_bad_embedding_on_update_and_search_is_refused(
    populated: tuple[SkillBackend, list[str]], embedding: Any, error: type[Exception]
) -> None:
    backend, ids = populated
    assert_unchanged(backend, lambda: backend.update(ids[0], embedding=embedding, name="renamed"), error)
    if embedding is not None:
        assert_unchanged(backend, lambda: backend.search(embedding), error)


@pytest.mark.parametrize(
    "queries",
    [
        pytest.param([1, 0, 0, 0], id="1-d"),
        pytest.param([[1, 0, 0]], id="wrong-dim"),
        pytest.param([[1, 0, 0, 0], [0, 0, 0, 0]], id="a-zero-row"),
        pytest.param([[1, 0, 0, float("nan")]], id="nan-row"),
        pytest.param(np.zeros((2, 4, 1)), id="3-d"),
    ],
)
def test_bad_queries_for_search_many_are_refused(populated: tuple[SkillBackend, list[str]], queries: Any) -> None:
    backend, _ = populated
    assert_unchanged(backend, lambda: backend.search_many(queries), InvalidInputError)


def test_embedding_dtypes_and_huge_values_are_accepted(make_backend: Callable[..., SkillBackend]) -> None:
    backend = make_backend(DIM)
    for embedding in (
        np.array([1, 2, 3, 4], dtype=np.int8),
        np.array([1, 2, 3, 4], dtype=np.uint64),
        np.array([1, 2, 3, 4], dtype=np.float16),
        (1, 2, 3, 4),
        [1e308, 1e308, 0, 0],
        [1e-320, 0, 0, 0],
    ):
        got = backend.get(backend.add(Skill("ok", [], embedding)))
        assert np.isfinite(got.embedding).all()
        assert np.linalg.norm(got.embedding) == pytest.approx(1.0, abs=1e-6)


class Unpackable:
    pass


BAD_FIELDS = [
    pytest.param({"metadata": {"obj": Unpackable()}}, id="metadata-object"),
    pytest.param({"metadata": {"s": {1, 2}}}, id="metadata-set"),
    pytest.param({"metadata": {"big": 2**70}}, id="metadata-int-overflow"),
    pytest.param({"metadata": {"arr": np.zeros(2)}}, id="metadata-ndarray"),
    pytest.param({"metadata": {"nested": {(1, 2): "tuple key"}}}, id="metadata-tuple-key"),
    pytest.param({"metadata": {1: "x"}}, id="metadata-int-key"),
    pytest.param({"metadata": ["not", "a", "mapping"]}, id="metadata-list"),
    pytest.param({"actions": Unpackable()}, id="actions-object"),
    pytest.param({"actions": [{(0,): 1}]}, id="actions-tuple-key"),
    pytest.param({"preconditions": {"k": Unpackable()}}, id="preconditions-object"),
    pytest.param({"preconditions": {3: 1}}, id="preconditions-int-key"),
    pytest.param({"preconditions": "room=1"}, id="preconditions-string"),
    pytest.param({"name": ""}, id="empty-name"),
    pytest.param({"name": 7}, id="int-name"),
    pytest.param({"name": "x" * 5000}, id="huge-name"),
    pytest.param({"description": None}, id="description-none"),
]


@pytest.mark.parametrize("fields", BAD_FIELDS)
def test_bad_fields_raise_invalid_skill_error_and_change_nothing(
    populated: tuple[SkillBackend, list[str]], fields: dict[str, Any]
) -> None:
    backend, ids = populated
    base = {"name": "bad", "actions": [], "embedding": [1, 1, 0, 0]}
    assert_unchanged(backend, lambda: backend.add(Skill(**{**base, **fields})), InvalidSkillError)
    assert_unchanged(backend, lambda: backend.update(ids[0], **fields), InvalidSkillError)


def test_not_a_skill_is_refused(populated: tuple[SkillBackend, list[str]]) -> None:
    backend, _ = populated
    assert_unchanged(backend, lambda: backend.add({"name": "x"}), InvalidSkillError)  # type: ignore[arg-type]
    assert_unchanged(backend, lambda: backend.add_many([Skill("ok", [], [1, 0, 0, 0]), "x"]), InvalidSkillError)  # type: ignore[list-item]


@pytest.mark.parametrize("field", ["id", "stats", "created_at", "provenance", "colour"])
def test_update_refuses_fields_that_are_not_updatable(populated: tuple[SkillBackend, list[str]], field: str) -> None:
    backend, ids = populated
    assert_unchanged(backend, lambda: backend.update(ids[0], **{field: None}), InvalidInputError)


@pytest.mark.parametrize("not_an_id", [None, 17, b"0123456789abcdef", ["x"]])
def test_ids_that_are_not_strings_are_refused(populated: tuple[SkillBackend, list[str]], not_an_id: Any) -> None:
    backend, _ = populated
    refused = (SkillNotFoundError, InvalidInputError)
    assert not_an_id not in backend
    assert_unchanged(backend, lambda: backend.get(not_an_id), refused)
    assert_unchanged(backend, lambda: backend.update(not_an_id, name="x"), refused)
    assert_unchanged(backend, lambda: backend.delete(not_an_id), refused)
    assert_unchanged(backend, lambda: backend.record_outcome(not_an_id, True), refused)


@pytest.mark.parametrize("unknown", ["0123456789abcdef", "", "x" * 1000])
def test_unknown_ids_raise_skill_not_found(populated: tuple[SkillBackend, list[str]], unknown: Any) -> None:
    backend, _ = populated
    assert_unchanged(backend, lambda: backend.get(unknown), SkillNotFoundError)
    assert_unchanged(backend, lambda: backend.update(unknown, name="x"), SkillNotFoundError)
    assert_unchanged(backend, lambda: backend.delete(unknown), SkillNotFoundError)
    assert_unchanged(backend, lambda: backend.record_outcome(unknown, True), SkillNotFoundError)
    with pytest.raises(LookupError):
        backend.get(unknown)


def test_a_deleted_id_is_unknown(populated: tuple[SkillBackend, list[str]]) -> None:
    backend, ids = populated
    backend.delete(ids[1])
    assert_unchanged(backend, lambda: backend.delete(ids[1]), SkillNotFoundError)
    assert_unchanged(backend, lambda: backend.record_outcome(ids[1], False), SkillNotFoundError)


@pytest.mark.parametrize(
    ("success", "reward"),
    [(1, None), ("yes", None), (None, None), (True, "1"), (True, float("nan")), (True, float("inf")), (True, True)],
)
def test_bad_outcomes_are_refused(populated: tuple[SkillBackend, list[str]], success: Any, reward: Any) -> None:
    backend, ids = populated
    assert_unchanged(backend, lambda: backend.record_outcome(ids[0], success, reward), InvalidInputError)


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param({"k": 0}, id="k-zero"),
        pytest.param({"k": -1}, id="k-negative"),
        pytest.param({"k": 2.5}, id="k-float"),
        pytest.param({"k": True}, id="k-bool"),
        pytest.param({"rank": "best"}, id="unknown-rank"),
        pytest.param({"state": [("k", 1)]}, id="state-not-mapping"),
        pytest.param({"where": ["m"]}, id="where-not-mapping"),
        pytest.param({"where": {1: "x"}}, id="where-int-key"),
    ],
)
def test_bad_search_arguments_are_refused(populated: tuple[SkillBackend, list[str]], arguments: dict[str, Any]) -> None:
    backend, _ = populated
    assert_unchanged(backend, lambda: backend.search([1, 0, 0, 0], **arguments), InvalidInputError)
    assert_unchanged(backend, lambda: backend.search_many([[1, 0, 0, 0]], **arguments), InvalidInputError)


def test_search_many_needs_one_state_per_query(populated: tuple[SkillBackend, list[str]]) -> None:
    backend, _ = populated
    assert_unchanged(backend, lambda: backend.search_many([[1, 0, 0, 0]] * 2, state=[{}]), InvalidInputError)


@pytest.mark.parametrize("dim", [0, -3, 2.0, "4", True, 10**6])
def test_bad_dims_are_refused(tmp_path: Path, dim: Any) -> None:
    with pytest.raises(InvalidInputError):
        MemoryBackend(dim)
    with pytest.raises(InvalidInputError):
        SkillStore.open(tmp_path / "s", dim=dim)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("threshold", [1.5, -2, "0.9", True])
def test_bad_dedup_thresholds_are_refused(tmp_path: Path, threshold: Any) -> None:
    with pytest.raises(InvalidInputError):
        MemoryBackend(4, dedup_threshold=threshold)
    with pytest.raises(InvalidInputError):
        SkillStore.open(tmp_path / "s", dim=4, dedup_threshold=threshold)


# -- SkillStore only -------------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "skills"
    with SkillStore.open(path, dim=DIM) as store:
        skill_id = store.add(Skill("a", ["x"], [1, 0, 0, 0], preconditions={"k": 1}))
        store.record_outcome(skill_id, True)
        return path, contents(store)


def _files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_missing_store_with_create_false_or_read_only_raises_store_not_found(tmp_path: Path) -> None:
    for options in ({"create": False}, {"read_only": True}, {"dim": 4, "create": False}, {"dim": 4, "read_only": True}):
        with pytest.raises(StoreNotFoundError) as caught:
            SkillStore.open(tmp_path / "missing", **options)  # type: ignore[arg-type]
        assert isinstance(caught.value, FileNotFoundError)
    assert not (tmp_path / "missing").exists()


def test_creating_without_dim_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="dim"):
        SkillStore.open(tmp_path / "new")
    assert not (tmp_path / "new" / "MANIFEST").exists()


def test_reopening_with_another_dim_raises_and_changes_nothing(saved: tuple[Path, dict[str, Any]]) -> None:
    path, before = saved
    files = _files(path)
    for options in ({}, {"read_only": True}, {"create": False}):
        with pytest.raises(DimensionMismatchError, match="dim 4"):
            SkillStore.open(path, dim=8, **options)  # type: ignore[arg-type]
    assert _files(path) == files
    with SkillStore.open(path, dim=DIM) as store:
        assert contents(store) == before


def test_a_failed_open_releases_the_writer_lock(saved: tuple[Path, dict[str, Any]]) -> None:
    path, _ = saved
    with pytest.raises(DimensionMismatchError):
        SkillStore.open(path, dim=8)
    with SkillStore.open(path, lock_timeout=0.5) as store:
        store.add(Skill("b", [], [0, 1, 0, 0]))


def test_read_only_store_refuses_every_write_and_changes_nothing(saved: tuple[Path, dict[str, Any]]) -> None:
    path, before = saved
    files = _files(path)
    with SkillStore.open(path, read_only=True) as reader:
        skill_id = next(iter(before))
        for write in (
            lambda: reader.add(Skill("b", [], [0, 1, 0, 0])),
            lambda: reader.add_many([Skill("b", [], [0, 1, 0, 0])]),
            lambda: reader.add_many([]),
            lambda: reader.update(skill_id, name="renamed"),
            lambda: reader.delete(skill_id),
            lambda: reader.record_outcome(skill_id, True),
            lambda: reader.checkpoint(),
        ):
            assert_unchanged(reader, write, ReadOnlyStoreError)
    assert _files(path) == files


@pytest.mark.parametrize(
    "options",
    [{"index": "hnsw-typo"}, {"durability": "never"}, {"dedup_threshold": 2.0}],
)
def test_bad_open_options_are_refused(saved: tuple[Path, dict[str, Any]], options: dict[str, Any]) -> None:
    path, _ = saved
    files = _files(path)
    with pytest.raises(InvalidInputError):
        SkillStore.open(path, **options)
    assert _files(path) == files


def test_a_directory_holding_other_files_is_not_taken_over(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SkillStoreError):
        SkillStore.open(tmp_path, dim=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_writer_lock_timeout_raises_store_locked(saved: tuple[Path, dict[str, Any]]) -> None:
    import fcntl
    import os

    path, before = saved
    with SkillStore.open(path, lock_timeout=0.05) as store:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)  # writers lock the store's directory
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            assert_unchanged(store, lambda: store.add(Skill("b", [], [0, 1, 0, 0])), StoreLockedError)
        finally:
            os.close(fd)
        store.add(Skill("b", [], [0, 1, 0, 0]))
        assert len(store) == len(before) + 1


# -- bounds: every bad value is refused with a typed error, on every backend --------------------------


@pytest.mark.parametrize(
    "reward",
    [10**400, -(10**400), 1e16, -1e16, 2**60, np.float64(1e300), np.complex64(1), [1.0]],
    ids=["int-10^400", "int--10^400", "1e16", "-1e16", "2^60", "np-1e300", "complex", "list"],
)
def test_rewards_beyond_the_bound_are_refused(populated: tuple[SkillBackend, list[str]], reward: Any) -> None:
    backend, ids = populated
    assert_unchanged(backend, lambda: backend.record_outcome(ids[0], True, reward), InvalidInputError)


def test_rewards_at_the_bound_are_counted(populated: tuple[SkillBackend, list[str]]) -> None:
    backend, ids = populated
    assert backend.record_outcome(ids[1], True, MAX_ABS_REWARD).total_reward == MAX_ABS_REWARD
    assert backend.record_outcome(ids[1], False, -MAX_ABS_REWARD).total_reward == 0.0
    assert backend.record_outcome(ids[1], True, np.int64(3)).total_reward == 3.0


def test_min_score_beyond_float_range_compares_as_infinity(populated: tuple[SkillBackend, list[str]]) -> None:
    backend, _ = populated
    assert backend.search([1, 0, 0, 0], min_score=10**400) == []
    assert len(backend.search([1, 0, 0, 0], min_score=-(10**400))) == 2
    assert backend.search_many([[1, 0, 0, 0]], min_score=10**400) == [[]]
    assert_unchanged(backend, lambda: backend.search([1, 0, 0, 0], min_score=np.float64("nan")), InvalidInputError)


@pytest.fixture
def kinds(make_backend: Callable[..., SkillBackend]) -> tuple[SkillBackend, str]:
    backend = make_backend(DIM)
    skill_id = backend.add(
        Skill("k", [], [1, 0, 0, 0], preconditions={"pos": [1, 2], "inv": {"key": 1}}, metadata={"tags": ["a"],
                                                                                                 "m": {"x": 1}})
    )
    backend.add(Skill("other", [], [0, 1, 0, 0], preconditions={"pos": [9, 9]}))
    return backend, skill_id


SEQUENCE_KINDS = [collections.UserList, collections.deque, tuple, list, np.array]
MAPPING_KINDS = [collections.UserDict, types.MappingProxyType, dict]


@pytest.mark.parametrize("sequence", SEQUENCE_KINDS, ids=lambda kind: kind.__name__)
@pytest.mark.parametrize("mapping", MAPPING_KINDS, ids=lambda kind: kind.__name__)
def test_any_sequence_or_mapping_kind_queries_like_a_list_or_dict(
    kinds: tuple[SkillBackend, str], sequence: Any, mapping: Any
) -> None:
    backend, skill_id = kinds
    state = mapping({"pos": sequence([1, 2]), "inv": mapping({"key": 1})})
    assert [m.skill.id for m in backend.search([1, 0, 0, 0], state=state)] == [skill_id]
    where = mapping({"tags": sequence(["a"]), "m": mapping({"x": 1})})
    assert [m.skill.id for m in backend.search(None, where=where)] == [skill_id]
    assert backend.search_many([[1, 0, 0, 0]], state=[state])[0][0].skill.id == skill_id
    assert backend.get(skill_id).is_applicable(state)


@pytest.mark.parametrize(
    "value",
    [types.SimpleNamespace(a=1), slice(1, 2), {1, 2}, frozenset({1}), object(), 1 + 0j, decimal.Decimal(1),
     datetime.datetime(2020, 1, 1), collections.UserList([types.SimpleNamespace()]),
     types.MappingProxyType({"key": {1}})],
    ids=lambda value: type(value).__name__,
)
def test_values_of_other_kinds_match_nothing(kinds: tuple[SkillBackend, str], value: Any) -> None:
    backend, skill_id = kinds
    assert backend.search([1, 0, 0, 0], state={"pos": value}) == []
    assert backend.search([1, 0, 0, 0], state={"inv": value}) == []
    assert backend.search(None, where={"m": value}) == []
    assert backend.search(None, where={"tags": value}) == []
    assert not backend.get(skill_id).is_applicable({"pos": value, "inv": {"key": 1}})
    # a state entry no precondition names, or under a key that is not a string, is ignored
    assert [m.skill.id for m in backend.search([1, 0, 0, 0], state={"pos": [1, 2], "inv": {"key": 1}, "x": value,
                                                                     7: value})] == [skill_id]


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [MAX_DEPTH, 5000])  # a field's own map or list is a level: MAX_DEPTH more is too many
@pytest.mark.parametrize("field", ["actions", "metadata", "preconditions"])
def test_fields_nested_deeper_than_max_depth_are_refused(
    populated: tuple[SkillBackend, list[str]], depth: int, field: str
) -> None:
    backend, ids = populated
    value = nested(depth + 1) if field == "actions" else {"k": nested(depth)}
    base = {"name": "deep", "actions": [], "embedding": [1, 1, 0, 0]}
    assert_unchanged(backend, lambda: backend.add(Skill(**{**base, field: value})), InvalidSkillError)
    assert_unchanged(backend, lambda: backend.update(ids[0], **{field: value}), InvalidSkillError)


@pytest.mark.parametrize("depth", [MAX_DEPTH, 5000])
def test_queries_nested_deeper_than_max_depth_are_refused(
    populated: tuple[SkillBackend, list[str]], depth: int
) -> None:
    backend, _ = populated
    deep = nested(depth)
    assert_unchanged(backend, lambda: backend.search([1, 0, 0, 0], state={"k": deep}), InvalidInputError)
    assert_unchanged(backend, lambda: backend.search([1, 0, 0, 0], where={"m": deep}), InvalidInputError)
    assert_unchanged(backend, lambda: backend.search_many([[1, 0, 0, 0]], state=[{"k": deep}]), InvalidInputError)
    with pytest.raises(InvalidInputError):
        Skill("s", [], [1, 0, 0, 0]).is_applicable({"k": deep})


def test_values_nested_max_depth_levels_are_stored_and_found(make_backend: Callable[..., SkillBackend]) -> None:
    backend = make_backend(DIM)
    deepest = nested(MAX_DEPTH - 1)  # inside the preconditions map: MAX_DEPTH levels in all
    skill_id = backend.add(Skill("deep", nested(MAX_DEPTH), [1, 0, 0, 0], preconditions={"k": deepest},
                                 metadata={"m": deepest}))
    assert backend.get(skill_id).actions == nested(MAX_DEPTH)
    assert [m.skill.id for m in backend.search([1, 0, 0, 0], state={"k": deepest}, where={"m": deepest})] == [
        skill_id
    ]


SURROGATE = "\ud800"


@pytest.mark.parametrize(
    "fields",
    [
        {"name": SURROGATE},
        {"name": "ok" + SURROGATE},
        {"description": SURROGATE},
        {"actions": [SURROGATE]},
        {"metadata": {SURROGATE: 1}},
        {"metadata": {"m": {"n": SURROGATE}}},
        {"preconditions": {"k": SURROGATE}},
        {"preconditions": {SURROGATE: 1}},
    ],
    ids=lambda fields: next(iter(fields)),
)
def test_lone_surrogates_in_fields_are_refused(
    populated: tuple[SkillBackend, list[str]], fields: dict[str, Any]
) -> None:
    backend, ids = populated
    base = {"name": "bad", "actions": [], "embedding": [1, 1, 0, 0]}
    assert_unchanged(backend, lambda: backend.add(Skill(**{**base, **fields})), InvalidSkillError)
    assert_unchanged(backend, lambda: backend.update(ids[0], **fields), InvalidSkillError)
    assert_unchanged(backend, lambda: backend.restore_many([Skill(**{**base, **fields}, id="r")]), InvalidSkillError)


@pytest.mark.parametrize("skill_id", [SURROGATE, "a\x00b", 10**5000], ids=["surrogate", "nul", "5001-digit-int"])
def test_ids_no_store_can_hold_are_refused(populated: tuple[SkillBackend, list[str]], skill_id: Any) -> None:
    backend, _ = populated
    refused = (SkillNotFoundError, InvalidInputError)
    assert skill_id not in backend
    assert_unchanged(backend, lambda: backend.get(skill_id), refused)
    assert_unchanged(backend, lambda: backend.update(skill_id, name="x"), refused)
    assert_unchanged(backend, lambda: backend.delete(skill_id), refused)
    assert_unchanged(backend, lambda: backend.delete_many([skill_id]), refused)
    assert_unchanged(backend, lambda: backend.record_outcome(skill_id, True), refused)
    assert_unchanged(backend, lambda: backend.restore_many([Skill("x", [], [1, 0, 0, 0], id=skill_id)]),
                     InvalidSkillError)


@pytest.mark.parametrize("items", [None, 5, 1.5, "abc", b"abc"], ids=repr)
def test_batches_that_are_not_collections_are_refused(populated: tuple[SkillBackend, list[str]], items: Any) -> None:
    backend, _ = populated
    assert_unchanged(backend, lambda: backend.add_many(items), InvalidInputError)
    assert_unchanged(backend, lambda: backend.delete_many(items), InvalidInputError)
    assert_unchanged(backend, lambda: backend.restore_many(items), InvalidInputError)


@pytest.mark.parametrize(
    "path", [None, 123, 1.5, b"/tmp/x", "", "a\x00b", "dir-" + SURROGATE, ["x"]], ids=repr
)
def test_bad_store_paths_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: Any) -> None:
    monkeypatch.chdir(tmp_path)
    for options in ({"dim": DIM}, {"read_only": True}, {"create": False}):
        with pytest.raises(InvalidInputError):
            SkillStore.open(path, **options)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "timeout", ["x", None, 10**400, -1, -0.5, float("nan"), float("inf"), True, [1], MAX_LOCK_TIMEOUT * 2], ids=repr
)
def test_bad_lock_timeouts_are_refused_at_open(tmp_path: Path, timeout: Any) -> None:
    with pytest.raises(InvalidInputError, match="lock_timeout"):
        SkillStore.open(tmp_path / "new", dim=DIM, lock_timeout=timeout)
    assert not (tmp_path / "new").exists()
    with SkillStore.open(tmp_path / "old", dim=DIM):
        pass
    files = _files(tmp_path / "old")
    with pytest.raises(InvalidInputError, match="lock_timeout"):
        SkillStore.open(tmp_path / "old", lock_timeout=timeout)
    assert _files(tmp_path / "old") == files


@pytest.mark.parametrize("timeout", [0, 0.0, 5, 2.5, MAX_LOCK_TIMEOUT])
def test_lock_timeouts_in_range_are_accepted(tmp_path: Path, timeout: Any) -> None:
    with SkillStore.open(tmp_path / "s", dim=DIM, lock_timeout=timeout) as store:
        store.add(Skill("a", [], [1, 0, 0, 0]))


@pytest.mark.parametrize(
    "tunables",
    [{"M": 100_000}, {"M": 1}, {"M": 257}, {"efConstruction": 0}, {"efConstruction": 4097}, {"efSearch": 5000},
     {"efSearch": 10**400}, {"M": 16.0}, {"M": True}, {"colour": 3}],
    ids=repr,
)
def test_hnsw_tunables_out_of_range_are_refused(saved: tuple[Path, dict[str, Any]], tunables: dict[str, Any]) -> None:
    path, before = saved
    with SkillStore.open(path) as store:
        assert_unchanged(store, lambda: store.configure_index("hnsw", **tunables), InvalidInputError)
        assert store.index_kind == "flat"


def test_hnsw_tunables_at_their_bounds_are_accepted(saved: tuple[Path, dict[str, Any]]) -> None:
    path, before = saved
    with SkillStore.open(path) as store:
        store.configure_index("hnsw", M=2, efConstruction=1, efSearch=1)
        store.configure_index("hnsw", M=256, efConstruction=4096, efSearch=4096)
        assert store.stats()["index_params"] == {"M": 256, "efConstruction": 4096, "efSearch": 4096}
        assert contents(store) == before
