"""Export and import: lossless files in three formats, round trips through stores, hostile files."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
from cli_helpers import DIM, LIBRARY, build_library, contents
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skillstore import (
    DimensionMismatchError,
    FormatVersionError,
    InvalidInputError,
    InvalidSkillError,
    MemoryBackend,
    Skill,
    SkillStore,
    SkillStoreError,
)
from skillstore.cli import transfer
from skillstore.cli.transfer import FORMATS, export_skills, import_skills, read_skills

QUERIES = [[1.0, 0.1, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.2, 0.3, 0.9, 0.1], [0.1, 0.0, 0.2, 1.0]]
STATES: list[dict[str, Any] | None] = [
    None,
    {"has_key": True, "agent_pos": (2, 2)},
    {"agent_pos": [1, 1], "has_key": False},
]


def exported(store: Any, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    export_skills(store, buffer, fmt, **options)
    return buffer.getvalue()


def read(data: bytes, fmt: str, **options: Any) -> transfer.ExportFile:
    return read_skills(io.BytesIO(data), fmt, **options)


def bare(skill: Skill) -> tuple[Any, ...]:
    stats = skill.stats
    return (
        skill.name,
        repr(skill.actions),
        repr(skill.preconditions),
        skill.description,
        repr(skill.metadata),
        (stats.attempts, stats.successes, stats.failures, stats.total_reward),
    )


def results(store: SkillStore) -> list[list[tuple[str, float]]]:
    found = []
    for query in QUERIES:
        for state in STATES:
            for rank in ("similarity", "success", "blend"):
                found.append(
                    [(m.skill.name, m.score) for m in store.search(query, 4, state=state, rank=rank)]
                )
    return found


def untied(matches: list[tuple[str, float]]) -> list[tuple[float, str]]:
    """Results in order, except that equal scores (ordered by id, and ids change on import) sort by name."""
    return sorted((-round(score, 6), name) for name, score in matches)


@pytest.fixture
def source(store_path: Path) -> SkillStore:
    store = SkillStore.open(store_path, read_only=True)
    yield store  # type: ignore[misc]
    store.close()


# -- the file is lossless ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_holds_every_field_exactly(source: SkillStore, fmt: str) -> None:
    content = read(exported(source, fmt), fmt)
    assert content.dim == DIM
    assert content.skills == list(source)  # ids, stats, timestamps, embeddings: all equal


@pytest.mark.parametrize("fmt", ["jsonl", "msgpack"])
def test_file_header(source: SkillStore, fmt: str) -> None:
    data = exported(source, fmt)
    header = json.loads(data.splitlines()[0]) if fmt == "jsonl" else next(msgpack.Unpacker(io.BytesIO(data)))
    assert header == {"skillstore_export": 1, "dim": DIM, "count": len(LIBRARY), "embeddings": True}


def test_jsonl_is_readable_json(source: SkillStore) -> None:
    lines = exported(source, "jsonl").decode("utf-8").splitlines()
    records = {r["name"]: r for r in map(json.loads, lines[1:])}
    key = records["鍵を拾う ☃"]  # unicode is written as is, not escaped
    assert "鍵を拾う ☃" in lines[2] or "鍵を拾う ☃" in "".join(lines)
    assert key["actions"][0] == {"$bytes": "AP8Q"}
    assert key["preconditions"]["agent_pos"] == {"$tuple": [1, 1]}
    assert len(key["embedding"]) == DIM


# -- round trips through a store -------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_into_a_new_store(source: SkillStore, tmp_path: Path, fmt: str) -> None:
    content = read(exported(source, fmt), fmt)
    with SkillStore.open(tmp_path / "copy", dim=content.dim) as copy:
        result = import_skills(copy, content.skills)
        assert result.added == len(LIBRARY) and set(result.ids) == {s.id for s in source}
        originals = {s.id: s for s in source}
        for file_id, new_id in result.ids.items():
            original, imported = originals[file_id], copy.get(new_id)
            assert bare(imported) == bare(original)
            assert type(imported.preconditions.get("agent_pos", ())) is tuple  # type: ignore[union-attr]
            np.testing.assert_allclose(imported.embedding, original.embedding, rtol=0, atol=1e-7)
        for got, expected in zip(results(copy), results(source), strict=True):
            assert untied(got) == untied(expected)
            assert [score for _, score in got] == pytest.approx([score for _, score in expected], abs=1e-6)


def test_round_trip_keeps_ids_stats_and_timestamps(source: SkillStore, tmp_path: Path) -> None:
    content = read(exported(source, "msgpack"), "msgpack")
    with SkillStore.open(tmp_path / "copy", dim=DIM) as copy:
        import_skills(copy, content.skills)
        assert list(copy) == list(source)


def _unstable_vector() -> list[float]:
    """A raw vector whose float32 unit form moves by a bit when divided by its norm again."""
    rng = np.random.default_rng(0)
    for _ in range(100_000):
        raw = rng.normal(size=DIM)
        once = (raw / np.linalg.norm(raw)).astype(np.float32)
        again = once.astype(np.float64)
        if not np.array_equal(once, (again / np.linalg.norm(again)).astype(np.float32)):
            return raw.tolist()
    raise AssertionError("no vector found whose renormalisation moves a bit")


def test_re_adding_a_stored_embedding_keeps_it_exactly(tmp_path: Path) -> None:
    with SkillStore.open(tmp_path / "s", dim=DIM) as store:
        first = store.get(store.add(Skill(name="a", actions=[], embedding=_unstable_vector())))
        again = store.get(store.add(Skill(name="b", actions=[], embedding=first.embedding)))
        assert np.array_equal(first.embedding, again.embedding)


def test_import_conflicts(source: SkillStore, tmp_path: Path) -> None:
    content = read(exported(source, "jsonl"), "jsonl")
    with SkillStore.open(tmp_path / "copy", dim=DIM) as copy:
        first = import_skills(copy, content.skills)
        # ids in the file no longer name skills in the copy, so make them conflict on purpose
        renamed = [_with_id(s, first.ids[str(s.id)]) for s in content.skills]
        skipped = import_skills(copy, renamed, on_conflict="skip")
        assert (skipped.added, skipped.skipped, len(copy)) == (0, len(LIBRARY), len(LIBRARY))
        merged = import_skills(copy, renamed, on_conflict="merge")
        assert merged.merged == len(LIBRARY)
        door = copy.get(first.ids[next(s.id for s in source if s.name == "open door")])  # type: ignore[index]
        assert (door.stats.attempts, door.stats.successes, door.stats.total_reward) == (8, 6, 5.0)
        replaced = import_skills(copy, renamed, on_conflict="replace")
        assert (replaced.replaced, len(copy)) == (len(LIBRARY), len(LIBRARY))
        assert sorted(bare(s) for s in copy) == sorted(bare(s) for s in source)
        with pytest.raises(InvalidInputError):
            import_skills(copy, renamed, on_conflict="overwrite")


def _with_id(skill: Skill, skill_id: str) -> Skill:
    return Skill(**{**skill.__dict__, "id": skill_id})


def test_progress_is_reported(source: SkillStore, tmp_path: Path) -> None:
    ticks: list[int] = []
    data = exported(source, "csv")
    export_skills(source, io.BytesIO(), "jsonl", progress=ticks.append)
    assert sum(ticks) == len(LIBRARY)
    ticks.clear()
    content = read_skills(io.BytesIO(data), "csv", progress=ticks.append)
    with SkillStore.open(tmp_path / "copy", dim=DIM) as copy:
        import_skills(copy, content.skills, progress=ticks.append)
    assert sum(ticks) == 2 * len(LIBRARY)


# -- Hypothesis: any skill survives any format ----------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30)
leaves = st.one_of(
    st.booleans(),
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    names,
    st.binary(max_size=8),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
positions = st.one_of(
    st.integers(-5, 5), st.tuples(st.integers(0, 9), st.integers(0, 9)), st.booleans(), names
)
skills = st.builds(
    Skill,
    name=names,
    actions=values,
    embedding=st.lists(st.floats(-1, 1, allow_subnormal=False), min_size=3, max_size=3).filter(
        lambda v: max(map(abs, v)) > 1e-3
    ),
    preconditions=st.one_of(st.none(), st.dictionaries(st.text(max_size=5), positions, max_size=3)),
    description=st.text(max_size=20),
    metadata=st.one_of(st.none(), st.dictionaries(st.text(max_size=5), values, max_size=3)),
)


@settings(max_examples=settings.default.max_examples * 2 // 5, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(skills, max_size=5), st.lists(st.booleans(), max_size=6), st.sampled_from(FORMATS))
def test_hypothesis_round_trip(library: list[Skill], outcomes: list[bool], fmt: str) -> None:
    with MemoryBackend(3) as backend:
        ids = backend.add_many(library)
        for number, success in enumerate(outcomes):
            if ids:
                backend.record_outcome(ids[number % len(ids)], success, reward=0.5 * number)
        content = read(exported(backend, fmt), fmt)
        assert content.skills == list(backend)
        with MemoryBackend(3) as copy:
            result = import_skills(copy, content.skills)
            assert sorted(bare(copy.get(result.ids[str(s.id)])) for s in backend) == sorted(
                bare(s) for s in backend
            )


# -- hostile and damaged files ------------------------------------------------------------------

HEADER = {"skillstore_export": 1, "dim": DIM, "count": 1, "embeddings": True}
GOOD = {"id": "a1", "name": "ok", "actions": [], "embedding": [1.0, 0.0, 0.0, 0.0]}


def jsonl(*records: Any, header: Any = HEADER) -> bytes:
    lines = [header, *records] if header is not None else list(records)
    return b"".join(json.dumps(r).encode() + b"\n" for r in lines)


def mp(*values: Any) -> bytes:
    return b"".join(msgpack.packb(v, use_bin_type=True) for v in values)


HOSTILE_JSONL = {
    "no header": (jsonl(GOOD, header=None), InvalidInputError, "header is missing"),
    "newer version": (
        jsonl(GOOD, header={**HEADER, "skillstore_export": 2}),
        FormatVersionError,
        "version 2",
    ),
    "bad dim": (jsonl(GOOD, header={**HEADER, "dim": "4"}), InvalidInputError, "dim"),
    "count too high": (jsonl(GOOD, header={**HEADER, "count": 2}), InvalidInputError, "announces 2"),
    "not a record": (jsonl([1, 2]), InvalidInputError, "map of fields"),
    "id not a string": (jsonl({**GOOD, "id": 5}), InvalidInputError, "id must be a string"),
    "id too long": (jsonl({**GOOD, "id": "x" * 300}), InvalidInputError, "id must be"),
    "no embedding": (
        jsonl({k: v for k, v in GOOD.items() if k != "embedding"}),
        InvalidInputError,
        "no embedding",
    ),
    "embedding of strings": (
        jsonl({**GOOD, "embedding": ["1", "0", "0", "0"]}),
        InvalidInputError,
        "embedding",
    ),
    "embedding tagged": (jsonl({**GOOD, "embedding": {"$float": "nan"}}), InvalidInputError, "embedding"),
    "wrong dimension": (jsonl({**GOOD, "embedding": [1.0, 0.0]}), DimensionMismatchError, "dimension 2"),
    "zero embedding": (jsonl({**GOOD, "embedding": [0, 0, 0, 0]}), InvalidInputError, "all zeros"),
    "name not a string": (jsonl({**GOOD, "name": 7}), InvalidSkillError, "name"),
    "name too long": (jsonl({**GOOD, "name": "n" * 5000}), InvalidSkillError, "limited to"),
    "metadata a list": (jsonl({**GOOD, "metadata": [1]}), InvalidSkillError, "metadata must be a mapping"),
    "precondition key not a string": (
        jsonl({**GOOD, "preconditions": {"$map": [[1, 2]]}}),
        InvalidSkillError,
        "keys must be strings",
    ),
    "unknown field": (jsonl({**GOOD, "colour": "red"}), InvalidInputError, "unknown fields"),
    "counter a string": (jsonl({**GOOD, "stats": {"attempts": "3"}}), InvalidInputError, "stats.attempts"),
    "negative counter": (jsonl({**GOOD, "stats": {"failures": -1}}), InvalidInputError, "stats.failures"),
    "counters disagree": (
        jsonl({**GOOD, "stats": {"attempts": 3, "successes": 1, "failures": 1}}),
        InvalidInputError,
        "must equal",
    ),
    "reward without attempts": (jsonl({**GOOD, "stats": {"total_reward": 5.0}}), InvalidInputError, "reward"),
    "timestamp a string": (jsonl({**GOOD, "created_at": "today"}), InvalidInputError, "created_at"),
    "bad base64": (jsonl({**GOOD, "actions": {"$bytes": "!!"}}), InvalidInputError, "base64"),
    "unknown tag": (jsonl({**GOOD, "actions": {"$code": "rm -rf"}}), InvalidInputError, "unknown tag"),
    "duplicate ids": (jsonl(GOOD, GOOD, header={**HEADER, "count": 2}), InvalidInputError, "appears twice"),
    "not json": (jsonl(header=HEADER) + b"{nope\n", InvalidInputError, "not JSON"),
    "not utf-8": (jsonl(header=HEADER) + b'{"id": "\xff"}\n', InvalidInputError, "not UTF-8"),
    "huge integer": (
        jsonl(header=HEADER) + b'{"id": "a", "actions": ' + b"9" * 5000 + b"}\n",
        InvalidInputError,
        "line 2",
    ),
    "deep nesting": (
        jsonl(header=HEADER) + b'{"id": "a", "actions": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        InvalidInputError,
        "nested too deeply",
    ),
}

HOSTILE_MSGPACK = {
    "array bomb": (mp(HEADER) + b"\xdd\xff\xff\xff\xff", "cannot be decoded"),
    "map bomb": (mp(HEADER) + b"\xdf\xff\xff\xff\xff", "cannot be decoded"),
    "string bomb": (mp(HEADER) + b"\xdb\xff\xff\xff\xff" + b"x" * 100, "announces 1"),
    "deep nesting": (mp(HEADER) + b"\x91" * 100_000 + b"\xc0", "nested too deeply"),
    "extension type": (mp(HEADER, {**GOOD, "actions": msgpack.ExtType(5, b"boom")}), "cannot be decoded"),
    "invalid byte": (mp(HEADER) + b"\xc1", "cannot be decoded"),
    "truncated": (mp(HEADER, {**GOOD, "embedding": np.ones(DIM, "<f4").tobytes()})[:-5], "announces 1"),
    "odd embedding bytes": (mp(HEADER, {**GOOD, "embedding": b"\x00" * 7}), "multiple of 4"),
    "embedding all NaN": (mp(HEADER, {**GOOD, "embedding": np.full(DIM, np.nan, "<f4").tobytes()}), "NaN"),
    "unhashable key": (mp(HEADER) + b"\x81\x91\x01\x02", "cannot be decoded"),
}

CSV_HEAD = ",".join(transfer.CSV_COLUMNS[:16]) + "\n"  # the columns of an export made before versions
CSV_ROW = 'a1,ok,,[],{},{},"[1.0,0,0,0]",0,0,0,1,0.0,null,null,null,[]\n'
HOSTILE_CSV = {
    "not an export": (b"name,score\nx,1\n", "missing columns"),
    "short row": ((CSV_HEAD + "a1,ok\n").encode(), "cells for"),
    "cell not json": ((CSV_HEAD + CSV_ROW.replace(",[],", ",[oops,")).encode(), "not JSON"),
    "not utf-8": ((CSV_HEAD + CSV_ROW).encode().replace(b"ok", b"\xff\xfe"), "not UTF-8"),
    "unclosed quote": ((CSV_HEAD + CSV_ROW.replace(',"[1.0', ',"[1.0"x')).encode(), "CSV row"),
}


def assert_rejected(data: bytes, fmt: str, error: type[Exception], fragment: str, store_path: Path) -> None:
    before = contents(store_path)
    with pytest.raises(error) as caught:
        content = read(data, fmt, dim=DIM, source="hostile")
        with SkillStore.open(store_path, create=False) as store:  # never reached
            import_skills(store, content.skills)
    assert isinstance(caught.value, SkillStoreError)
    assert fragment in str(caught.value), str(caught.value)
    assert str(caught.value).startswith("hostile")
    assert contents(store_path) == before


@pytest.mark.parametrize("case", sorted(HOSTILE_JSONL))
def test_hostile_jsonl(store_path: Path, case: str) -> None:
    data, error, fragment = HOSTILE_JSONL[case]
    assert_rejected(data, "jsonl", error, fragment, store_path)


@pytest.mark.parametrize("case", sorted(HOSTILE_MSGPACK))
def test_hostile_msgpack(store_path: Path, case: str) -> None:
    data, fragment = HOSTILE_MSGPACK[case]
    assert_rejected(data, "msgpack", InvalidInputError, fragment, store_path)


@pytest.mark.parametrize("case", sorted(HOSTILE_CSV))
def test_hostile_csv(store_path: Path, case: str) -> None:
    data, fragment = HOSTILE_CSV[case]
    assert_rejected(data, "csv", InvalidInputError, fragment, store_path)


def test_oversized_records_are_refused_before_they_are_read(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfer, "MAX_RECORD_BYTES", 1000)
    big = {**GOOD, "description": "d" * 2000}
    assert_rejected(jsonl(big), "jsonl", InvalidInputError, "longer than 1000 bytes", store_path)
    assert_rejected(
        (CSV_HEAD + "a," + "x" * 2000 + "\n").encode(), "csv", InvalidInputError, "longer than", store_path
    )


def test_a_bad_record_late_in_a_file_changes_nothing(store_path: Path, source: SkillStore) -> None:
    # every record but the last is fine: nothing may be written before the last is checked
    data = exported(source, "jsonl").rstrip(b"\n").rsplit(b"\n", 1)
    last = json.loads(data[1])
    last["preconditions"] = {"pos": {"$map": [[{"$tuple": [1]}, 2]]}}  # a dict with a tuple key
    bad = data[0] + b"\n" + json.dumps(last).encode() + b"\n"
    target = store_path.parent / "other"
    build_library(target, LIBRARY[:1])
    before = contents(target)
    with pytest.raises(InvalidInputError):
        content = read(bad, "jsonl", dim=DIM)
        with SkillStore.open(target) as store:
            import_skills(store, content.skills)
    assert contents(target) == before


def test_csv_field_limit_is_restored(source: SkillStore) -> None:
    import csv

    limit = csv.field_size_limit()
    read(exported(source, "csv"), "csv")
    assert csv.field_size_limit() == limit
