"""Bad-input campaign: hostile values through the public API and hostile files through the
CLI's import. Every case either succeeds or raises a typed ``SkillStoreError``, and a
failed call leaves the store exactly as it was. Store files are data only, and their sizes
are checked before anything is allocated."""

from __future__ import annotations

import ast
import collections
import datetime
import io
import json
import re
import struct
import subprocess
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import forge
import msgpack
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import PYTHON, ROOT, Figures, contents, subprocess_env

from skillstore import RANK_MODES, Skill, SkillStats, SkillStore, SkillStoreError
from skillstore.cli import main as cli
from skillstore.cli.transfer import FORMATS, export_skills, import_skills, read_skills
from skillstore.codec import pack
from skillstore.storage.files import crc32

DIM = 4
FAST, LONG = 300, 5000  # Hypothesis examples per campaign

# -- hostile values ----------------------------------------------------------------------


class Huge(str):
    """A long string that prints short in failure reports."""

    def __repr__(self) -> str:
        return f"Huge({len(self)} chars)"


class HugeBytes(bytes):
    def __repr__(self) -> str:
        return f"HugeBytes({len(self)} bytes)"


any_text = st.text(alphabet=st.characters(blacklist_categories=()), max_size=40)  # lone surrogates included
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80), st.floats(), any_text,
    st.binary(max_size=40), st.just(float("nan")), st.just(float("inf")), st.complex_numbers(max_magnitude=5),
    st.just(object()), st.just(datetime.datetime(2020, 1, 1)), st.sets(st.integers(), max_size=3),
    st.just(np.float32(1.5)), st.just(np.arange(3)), st.just(Huge("x" * 5000)), st.just(HugeBytes(b"\x00\xff" * 1000)),
    st.sampled_from([10**400, -(10**400), 2**63 - 1, 2**53, 1e308, "\ud800", "a\udfffb", "a\x00b", slice(1, 2),
                     types.SimpleNamespace(a=1), 1j]),
)


def deeply(value: Any, depth: int = 5000) -> Any:
    for _ in range(depth):
        value = [value]
    return value


values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner, inner),
        st.dictionaries(st.one_of(any_text, st.integers(), st.binary(max_size=4), st.tuples(st.integers())),
                        inner, max_size=4),
        st.lists(inner, max_size=3).map(collections.UserList), st.lists(inner, max_size=3).map(collections.deque),
        st.dictionaries(any_text, inner, max_size=3).map(collections.UserDict),
        st.dictionaries(any_text, inner, max_size=3).map(types.MappingProxyType),
        inner.map(deeply), inner.map(lambda v: deeply(v, 64)),
    ),
    max_leaves=12,
)
embeddings = st.one_of(
    st.lists(st.floats(width=32), min_size=0, max_size=6),
    st.lists(st.floats(), min_size=DIM, max_size=DIM),
    st.lists(st.integers(min_value=-(2**70), max_value=2**70), min_size=DIM, max_size=DIM),
    st.just([1e308] * DIM), st.just([0.0] * DIM), st.just([[1.0] * DIM]), st.just(np.ones(DIM, dtype=complex)),
    st.just(np.array(["a"] * DIM)), st.just(np.ones(DIM, dtype=object)), st.just(np.ones((DIM, 1))),
    values,
)
names = st.one_of(any_text, st.binary(max_size=8), st.just(Huge("n" * 100_000)), st.just(""), values)
mappings = st.one_of(st.none(), st.dictionaries(any_text, values, max_size=3), values)


@st.composite
def hostile_skills(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(values)  # not a Skill at all
    return Skill(draw(names), draw(values), draw(embeddings), preconditions=draw(mappings),
                 description=draw(st.one_of(any_text, values)), metadata=draw(mappings))


numbers = st.one_of(st.floats(), st.integers(-(2**70), 2**70), st.sampled_from([10**400, 2**63 - 1, 2**53 - 1, 2**53]))
stamps = st.one_of(st.none(), numbers, st.sampled_from([-1e300, 253402300799.0, 253402300800.0]), values)


@st.composite
def hostile_restores(draw: st.DrawFn) -> Any:
    """A complete skill as an import hands it over: id, stats, timestamps and provenance included."""
    skill = draw(hostile_skills())
    if not isinstance(skill, Skill):
        return skill
    counters = [draw(st.one_of(numbers, values)) for _ in range(4)]
    stats = draw(st.one_of(
        st.builds(SkillStats, *[st.just(c) for c in counters], st.one_of(numbers, values), stamps),
        st.builds(lambda s, f, o, r: SkillStats(s + f, s, f, o, r), st.integers(0, 2**64), st.integers(0, 2**64),
                  st.integers(1, 2**64), numbers),
        values,
    ))
    return Skill(skill.name, skill.actions, skill.embedding, skill.preconditions, skill.description, skill.metadata,
                 id=draw(st.one_of(any_text, values)), stats=stats, created_at=draw(stamps), updated_at=draw(stamps),
                 provenance=draw(st.one_of(st.lists(st.dictionaries(any_text, values, max_size=3), max_size=3),
                                           values)))


class LiveId(int):
    """The n-th skill of the store when the call is made (examples must not depend on the
    store's contents when they are drawn)."""


def ids() -> st.SearchStrategy[Any]:
    return st.one_of(st.integers(0, 7).map(LiveId), any_text, values)


def resolve(store: SkillStore, value: Any) -> Any:
    if isinstance(value, LiveId):
        live = [skill.id for skill in store]
        return live[value % len(live)] if live else "none-left"
    return value


def resolve_all(store: SkillStore, values: Any) -> Any:
    return [resolve(store, value) for value in values] if isinstance(values, list) else values


def calls(store: SkillStore) -> st.SearchStrategy[tuple[str, Callable[[], Any]]]:
    """A public call with hostile arguments, as (description, thunk)."""
    field_names = st.sampled_from(["name", "actions", "embedding", "preconditions", "description", "metadata",
                                   "id", "stats", "bogus"])
    updates = st.dictionaries(field_names, st.one_of(values, embeddings, names), max_size=3)
    ks = st.one_of(st.integers(-3, 20), values)
    ranks = st.one_of(st.sampled_from(RANK_MODES), scalars)  # (a rank nested 5000 deep: see test_bounds.py)
    return st.one_of(
        st.builds(lambda s: ("add", lambda: store.add(s)), hostile_skills()),
        st.builds(lambda ss: ("add_many", lambda: store.add_many(ss)),
                  st.one_of(st.lists(hostile_skills(), max_size=3), values)),
        st.builds(lambda ss, r: ("restore_many", lambda: store.restore_many(ss, replace=r)),
                  st.one_of(st.lists(hostile_restores(), max_size=3), values), st.booleans()),
        st.builds(lambda ii: ("delete_many", lambda: store.delete_many(resolve_all(store, ii))),
                  st.one_of(st.lists(ids(), max_size=2), values)),
        st.builds(lambda i, f: ("update", lambda: store.update(resolve(store, i), **f)), ids(), updates),
        st.builds(lambda i: ("delete", lambda: store.delete(resolve(store, i))), ids()),
        st.builds(lambda i, ok, r: ("record_outcome", lambda: store.record_outcome(resolve(store, i), ok, r)), ids(),
                  st.one_of(st.booleans(), values), st.one_of(st.none(), st.floats(), numbers, values)),
        st.builds(lambda i: ("get", lambda: store.get(resolve(store, i))), ids()),
        st.builds(lambda e, k, s, w, r, m: ("search", lambda: store.search(e, k, state=s, where=w, rank=r,
                                                                             min_score=m)),
                  st.one_of(st.none(), embeddings), ks, mappings, mappings, ranks,
                  st.one_of(st.none(), st.floats(), numbers, values)),
        st.builds(lambda e, k, s: ("search_many", lambda: store.search_many(e, k, state=s)),
                  st.one_of(embeddings, st.lists(embeddings, max_size=3)), ks,
                  st.one_of(mappings, st.lists(mappings, max_size=3))),
    )


@pytest.fixture
def populated(tmp_path: Path) -> Iterator[SkillStore]:
    rng = np.random.default_rng(0)
    with SkillStore.open(tmp_path / "store", dim=DIM, durability="flush") as store:  # flush: speed only
        store.add_many([Skill(f"s{i}", ["a", i], rng.normal(size=DIM), preconditions={"room": i % 2},
                              metadata={"i": i}) for i in range(6)])
        store.record_outcome(next(iter(store)).id, True, 1.0)
        yield store


def api_campaign(store: SkillStore, examples: int) -> Figures:
    figures = Figures("bad input (API)")

    @settings(max_examples=examples, deadline=None,  # randomness and database: the Hypothesis profile
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def case(data: st.DataObject) -> None:
        name, call = data.draw(calls(store))
        before = contents(store)
        try:
            call()
        except SkillStoreError:
            assert contents(store) == before, f"a failed {name} changed the store"
            figures.count(f"{name}: typed error")
        except Exception as exc:
            raise AssertionError(f"{name} raised an untyped {type(exc).__name__}: {str(exc)[:300]}") from None
        else:
            figures.count(f"{name}: accepted")
        figures.count("cases")

    case()
    in_memory = contents(store)
    assert store.verify().ok
    with SkillStore.open(store.path, read_only=True) as reopened:
        assert contents(reopened) == in_memory, "what the store answered differs from what it wrote"
    for fmt in FORMATS:  # whatever the store accepted, its export imports again
        exported = io.BytesIO()
        export_skills(store, exported, fmt)
        with SkillStore.open(store.path.parent / f"copy-{fmt}", dim=DIM, durability="flush") as copy:
            import_skills(copy, read_skills(io.BytesIO(exported.getvalue()), fmt, dim=DIM).skills)
            assert contents(copy) == in_memory, f"the {fmt} export did not import as it was"
    return figures


def test_hostile_api_calls_raise_typed_errors_and_change_nothing(populated: SkillStore) -> None:
    figures = api_campaign(populated, FAST)
    assert figures.counts["cases"] == FAST


@pytest.mark.slow
@pytest.mark.reliability
def test_thousands_of_hostile_api_calls_raise_typed_errors_and_change_nothing(populated: SkillStore) -> None:
    api_campaign(populated, LONG).publish()


# -- hostile import files ------------------------------------------------------------------------

BOMBS = {
    "array claiming 2**32-1 items": b"\xdd\xff\xff\xff\xff",
    "map claiming 2**32-1 pairs": b"\xdf\xff\xff\xff\xff",
    "string claiming 4 GiB": b"\xdb\xff\xff\xff\xff",
    "binary claiming 4 GiB": b"\xc6\xff\xff\xff\xff",
    "arrays nested 100000 deep": b"\x91" * 100_000 + b"\xc0",
    "extension type": b"\xd4\x01\x00",
    "header then array bomb": msgpack.packb({"format": "skillstore-export", "version": 1, "dim": DIM})
    + b"\xdd\xff\xff\xff\xff",
}

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False),
              st.text(max_size=20), any_text,
              st.sampled_from([10**400, -(10**400), 2**53, 2**53 - 1, -1e300, 1e300, 253402300800.0, "\ud800"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=15,
)
record_like = st.fixed_dictionaries(
    {"name": json_values, "actions": json_values, "embedding": st.one_of(json_values, st.lists(st.floats(
        allow_nan=False), max_size=6))},
    optional={"id": json_values, "stats": json_values, "metadata": json_values, "preconditions": json_values,
              "created_at": json_values, "updated_at": json_values, "provenance": json_values,
              "description": json_values},
)


def import_file(store: Path, file: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["import", str(store), str(file)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output


def cli_campaign(tmp_path: Path, examples: int) -> Figures:
    figures = Figures("bad input (CLI import)")
    store = tmp_path / "store"
    with SkillStore.open(store, dim=DIM) as opened:
        opened.add(Skill("kept", ["a"], [1.0, 0.0, 0.0, 0.0]))
        before = contents(opened)

    def unchanged_after(file: Path) -> tuple[int, str]:
        code, output = import_file(store, file)
        if code != 0:
            with SkillStore.open(store, read_only=True) as reopened:
                assert contents(reopened) == before, f"a rejected import changed the store: {output}"
        return code, output

    for label, bomb in BOMBS.items():
        file = tmp_path / "bomb.msgpack"
        file.write_bytes(bomb)
        code, output = unchanged_after(file)
        assert code == 1 and "Error" in output, (label, output)
        figures.count("msgpack bombs rejected")

    @settings(max_examples=examples, deadline=None,  # randomness and database: the Hypothesis profile
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(lines=st.lists(st.one_of(record_like, json_values), min_size=1, max_size=4), binary=st.booleans())
    def case(lines: list[Any], binary: bool) -> None:
        nonlocal before
        if binary:
            try:
                data = b"".join(msgpack.packb(line) for line in lines)
            except (OverflowError, UnicodeEncodeError):  # msgpack holds neither: such lines go as JSON
                binary = False
        file = tmp_path / ("case.msgpack" if binary else "case.jsonl")
        if binary:
            file.write_bytes(data)
        else:
            file.write_text("".join(json.dumps(line) + "\n" for line in lines))
        code, _ = unchanged_after(file)
        if code == 0:  # a file that happened to be valid: it is the new baseline
            with SkillStore.open(store, read_only=True) as reopened:
                before = contents(reopened)
        figures.count("import files accepted" if code == 0 else "import files rejected")

    case()
    return figures


def test_hostile_import_files_are_rejected_with_an_error_and_change_nothing(tmp_path: Path) -> None:
    figures = cli_campaign(tmp_path, FAST // 2)
    assert figures.counts["msgpack bombs rejected"] == len(BOMBS)


@pytest.mark.slow
@pytest.mark.reliability
def test_thousands_of_hostile_import_files_are_rejected_and_change_nothing(tmp_path: Path) -> None:
    cli_campaign(tmp_path, LONG // 2).publish()


# -- store files are data, and bounded --------------------------------------------------------------

CODE_LOADERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal", "joblib"}


def test_no_skillstore_module_can_run_code_from_a_file() -> None:
    offenders = []
    for source in sorted((ROOT / "skillstore").rglob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [(node.module or "").split(".")[0]]
            elif isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                names = ["allow_pickle"]
            else:
                continue
            offenders += [f"{source.relative_to(ROOT)}:{node.lineno} {name}" for name in names
                          if name in CODE_LOADERS | {"allow_pickle"}]
    assert not offenders


def rewrite_manifest(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = (path / "MANIFEST").read_bytes()
    payload = msgpack.unpackb(data[8:], raw=False, strict_map_key=False)
    change(payload)
    encoded = pack(payload)
    (path / "MANIFEST").write_bytes(b"SKMF" + struct.pack("<I", crc32(encoded)) + encoded)


def hostile_log(path: Path) -> None:
    """A frame header whose own checksum is right and that claims a 4 GiB payload."""
    log = next(path.glob("log-*"))
    header, cursor = forge.log_state(log)
    log.write_bytes(log.read_bytes() + forge.frame_bytes(header, cursor, b"tiny", length=0xFFFFFFF0))


def huge_listed_file(path: Path) -> None:
    """The MANIFEST claims a 1 TiB column file (the file is a few kilobytes)."""
    rewrite_manifest(path, lambda m: m["files"].__setitem__("columns.bin", [1 << 40, 0]))


def column_table_bomb(path: Path) -> None:
    """Every column of the table claims 2**44 items, at offsets far past the file; checksums right."""
    snapshot = next(path.glob("snap-*"))
    columns = forge.parse_columns((snapshot / "columns.bin").read_bytes())

    def huge(entries: list[list[Any]]) -> list[list[Any]]:
        return [[name, dtype, [1 << 44], offset + (1 << 46), (1 << 44) * np.dtype(dtype).itemsize]
                for name, dtype, _, offset, _ in entries]

    forge.replace_snapshot_file(path, "columns.bin", forge.build_columns(columns, table_edit=huge))


def record_offsets_past_the_file(path: Path) -> None:
    """The last record ends 1 TiB into a records file of a few hundred bytes."""
    snapshot = next(path.glob("snap-*"))
    columns = forge.parse_columns((snapshot / "columns.bin").read_bytes())
    offsets = forge.columns_by_name(columns)["record_offsets"]
    offsets.set(np.array([*offsets.array()[:-1].tolist(), 1 << 40], dtype="<u8"))
    forge.replace_snapshot_file(path, "columns.bin", forge.build_columns(columns))


def record_array_bomb(path: Path) -> None:
    """The first record claims 2**32 - 1 fields; the offsets around it are right. Records are read
    when a skill is: the store opens, and reading that skill is refused."""
    snapshot = next(path.glob("snap-*"))
    columns = forge.parse_columns((snapshot / "columns.bin").read_bytes())
    offsets = forge.columns_by_name(columns)["record_offsets"]
    bounds = offsets.array().tolist()
    data = (snapshot / "records.bin").read_bytes()
    bomb = b"\xdd\xff\xff\xff\xff" + data[1 : bounds[1]]
    offsets.set(np.array([0, *(b - bounds[1] + len(bomb) for b in bounds[1:])], dtype="<u8"))
    forge.replace_snapshot_files(path, {"records.bin": bomb + data[bounds[1] :],
                                        "columns.bin": forge.build_columns(columns)})


def huge_manifest(path: Path) -> None:
    (path / "MANIFEST").write_bytes(b"SKMF" + b"\x00" * (64 << 20))


def deep_log_frame(path: Path) -> None:
    forge.append_frame(next(path.glob("log-*")), None, raw_payload=b"\x91" * 200_000 + b"\xc0")


OPEN_AND_MEASURE = r"""
import json, sys, time
from reliability_helpers import peak_memory_mb
from skillstore import SkillStore, SkillStoreError
start = time.monotonic()
try:
    with SkillStore.open(sys.argv[1], read_only=True) as store:
        outcome = f"opened with {len(store)} skills"
        try:
            outcome += f", read {len(list(store))}"
        except SkillStoreError as exc:
            outcome += f", reading: {type(exc).__name__}: {exc}"
except SkillStoreError as exc:
    outcome = f"{type(exc).__name__}: {exc}"
print(json.dumps({"outcome": outcome, "seconds": time.monotonic() - start,
                  "max_rss_mb": peak_memory_mb()}))
"""


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        (hostile_log, "opened with 3 skills, read 3"),  # an unfinished append: dropped, never allocated
        (huge_listed_file, "StoreCorruptError: .*the MANIFEST says 1099511627776"),
        (column_table_bomb, r"StoreCorruptError: .*column '\w+' at offset \d+ \(17592186044416 bytes\) is misplaced"),
        (record_offsets_past_the_file, "StoreCorruptError: .*record_offsets do not span their data"),
        (record_array_bomb, "opened with 3 skills, reading: StoreCorruptError: .*record of row 0 is damaged"),
        (huge_manifest, "StoreCorruptError"),
        (deep_log_frame, "StoreCorruptError"),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_sizes_in_store_files_are_bounded_before_anything_is_allocated(
    tmp_path: Path, hostile: Callable[[Path], None], expected: str
) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store:
        store.add_many([Skill(f"s{i}", ["a"], [1.0, i, 0.0, 0.0]) for i in range(2)])
        store.checkpoint()
        store.add(Skill("logged", ["b"], [0.0, 1.0, 0.0, 0.0]))
    hostile(path)
    result = subprocess.run([PYTHON, "-c", OPEN_AND_MEASURE, str(path)], capture_output=True, text=True,
                            env=subprocess_env(), cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert re.match(expected, found["outcome"]), found
    assert found["seconds"] < 10 and found["max_rss_mb"] < 1024, found
