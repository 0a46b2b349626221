"""Structure-aware fuzzing of every store file: the decoders' validation, not the checksums.

Each case copies a small valid store (flat or HNSW: skills with preconditions and metadata,
outcomes, updates, a delete, a checkpoint, then log frames of every operation), picks one
file and rewrites its *content* the way a forger who knows the format would:

- the MANIFEST payload;
- ``columns.bin``: a value at a known place of a known column (counters, timestamps, id, name
  and record offsets, id and name bytes, id hashes and rows, precondition and metadata postings and their starts,
  a row's signature, the vector block checksums, the dimension), items swapped, a column one
  item longer or shorter, the msgpack of the signatures or metadata pairs, the column table
  (dtype, shape, offset, size or name of an entry; entries dropped, repeated, reordered,
  malformed), the header, the file cut or extended; or a change that keeps every rule;
- ``records.bin``: a row's msgpack fields swapped for other types, extreme values, NaN, ext
  types, deep nesting, a wrong number of fields, another row's record, bytes cut or added,
  an array header claiming 2**32 - 1 items; the record offsets follow (mostly);
- ``vectors.f32``: a row made non-unit, NaN, zero, denormal, big-endian, of another size,
  another row's, rows dropped or added; the MANIFEST's checksum fixed, or (one case in five)
  left, and then the damage must be refused and named by its rows;
- ``index.faiss`` (HNSW stores): header fields, graph arrays, neighbours and vector data at
  their known offsets, or another generation's graph;
- the log's header, a log frame's payload (rewritten in place or appended);
- several files consistently: the generation, sequence number or store id renumbered in
  every file that records it, or the snapshot's rows put in another order in every file.

Every checksum, the log salt and the frame chain are then recomputed, so only validation
stands between the bytes and the store.

The property, for opening read-only, opening read-write and refreshing a reader that was
open before the change. A snapshot's records are decoded (and checked, also against the
indexes that lead to them) only when a skill is read, so a store may open and hold rows
that turn out damaged later; the property allows exactly that and no more:

1. the open raises ``StoreCorruptError`` (``FormatVersionError`` only when the MANIFEST's
   format field changed, ``StoreReplacedError`` only for a refresh after the store id
   changed); or
2. the store opens, and every skill is usable: len, a search of everything (whose results
   are each read through ``.skill``), get, ``in``, iteration, filtered searches that find
   each skill by its own preconditions and metadata and only skills that fit, stats, a
   clean verify; for read-write also writes and a checkpoint, refused only with the typed
   error of one of the store's limits, and a reopen that gives back what the writer held; or
3. the store opens with damaged rows: reading such a skill (its search result's ``.skill``,
   get) raises ``StoreCorruptError`` naming its row, at the same row every time (get may
   also not find it when its id lookup is what is damaged); iteration raises it too, never
   skips the skill; verify() names every damaged row; every other skill is usable as in 2;
   a checkpoint keeps the damaged rows as they are, and the reopened store has the same
   readable skills and the same damaged ids.

The three ways in agree (a refreshed reader sees what a fresh open sees). A refused
refresh leaves the reader usable, and refreshing again changes nothing. Changes to
``index.faiss``, a derived structure rebuilt from the vectors, and consistent changes to
several files must open with the base store's skills, never refused, never a skill lost.
Never another exception, a crash, a hang, more than a few seconds or 1 GiB. Cases run in a
child process (``fuzz_worker``) that the parent watches.

Mutations are chosen by ``random.Random`` seeded per case, and the base stores' ids are
numbered, so a case number and seed name one rewrite; findings that skillstore has yet to
fix are listed in ``KNOWN_FINDINGS``.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import random
import re
import select
import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import forge
import msgpack
import numpy as np
import pytest
from fuzz_worker import digest
from reliability_helpers import HERE, PYTHON, Figures, subprocess_env

from skillstore import Skill, SkillStats, SkillStore
from skillstore.codec import unpack
from skillstore.columnar import VECTOR_BLOCK_ROWS
from skillstore.storage import log
from skillstore.storage.files import crc32
from skillstore.validation import MAX_COUNTER, MAX_TIMESTAMP

WORKER = str(HERE / "fuzz_worker.py")
DIM = 4
CASE_SECONDS = 20.0  # the most one case may take (three opens, a checkpoint, a reopen; ~0.1 s on an idle machine)
CASE_TIMEOUT = 60.0  # a case still running then is a hang
MAX_RSS_MB = 1024
FAST_CASES, LONG_CASES = 210, 2100

# -- msgpack with the shapes a forger can write and Python's packer cannot ------------------------


class RawMap:
    """A msgpack map written pair by pair: repeated keys, or keys that cannot be hashed."""

    def __init__(self, pairs: list[tuple[Any, Any]]) -> None:
        self.pairs = pairs

    def __repr__(self) -> str:
        return f"RawMap({self.pairs!r:.80})"

    def __deepcopy__(self, memo: dict[int, Any]) -> RawMap:
        return RawMap(copy.deepcopy(self.pairs, memo))


class Raw:
    """Encoded msgpack spliced in as it is."""

    def __init__(self, data: bytes, label: str) -> None:
        self.data = data
        self.label = label

    def __repr__(self) -> str:
        return f"Raw({self.label})"


class Float32(float):
    """A float written in msgpack's 32-bit form."""


def _header(count: int, fix: int, short: int, long: int) -> bytes:
    if count < 16:
        return bytes([fix | count])
    if count < 1 << 16:
        return bytes([short]) + struct.pack(">H", count)
    return bytes([long]) + struct.pack(">I", count)


def encode(value: Any) -> bytes:
    if isinstance(value, Raw):
        return value.data
    if isinstance(value, Float32):
        return b"\xca" + struct.pack(">f", value)
    if isinstance(value, RawMap | dict):
        pairs = value.pairs if isinstance(value, RawMap) else list(value.items())
        return _header(len(pairs), 0x80, 0xDE, 0xDF) + b"".join(encode(k) + encode(v) for k, v in pairs)
    if isinstance(value, list | tuple):
        return _header(len(value), 0x90, 0xDC, 0xDD) + b"".join(encode(v) for v in value)
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def decode(data: bytes) -> Any:
    """What the store's own decoder makes of ``data`` (None when it cannot)."""
    try:
        return unpack(data)
    except (ValueError, TypeError):
        return None


def nested(depth: int) -> Any:
    value: Any = None
    for _ in range(depth):
        value = [value]
    return value


def nested_map(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = {"k": value}
    return value


HOSTILE: list[tuple[str, Any]] = [
    ("None", None), ("True", True), ("False", False), ("0", 0), ("-1", -1), ("2**31", 2**31),
    ("2**53+1", 2**53 + 1), ("2**63-1", 2**63 - 1), ("2**63", 2**63), ("2**64-1", 2**64 - 1), ("-2**63", -(2**63)),
    ("0.5", 0.5), ("-0.0", -0.0), ("1e308", 1e308), ("nan", math.nan), ("inf", math.inf), ("-inf", -math.inf),
    ("5e-324", 5e-324), ("float32 1.5", Float32(1.5)), ("''", ""), ("'x'", "x"), ("NUL", "\x00"),
    ("5000 chars", "s" * 5000), ("b''", b""), ("16 zero bytes", bytes(16)), ("[]", []), ("[None]", [None]),
    ("{}", {}), ("{1: 2}", {1: 2}), ("{b'k': 1}", {b"k": 1}), ("{None: 1}", {None: 1}),
    ("ext type 5", msgpack.ExtType(5, b"\x01")), ("timestamp ext", Raw(b"\xd6\xff\x00\x00\x00\x01", "timestamp ext")),
    ("bad timestamp ext", Raw(b"\xc7\x03\xff\x00\x00\x01", "bad timestamp ext")),
    ("lists nested 200 deep", nested(200)), ("maps nested 150 deep", nested_map(150)),
    ("lists nested 2000 deep", Raw(b"\x91" * 2000 + b"\xc0", "lists nested 2000 deep")),
    ("lists nested 100000 deep", Raw(b"\x91" * 100_000 + b"\xc0", "lists nested 100000 deep")),
    ("map with a list key", RawMap([([1], 2)])), ("map with a map key", RawMap([({"a": 1}, 2)])),
    ("10000 ints", list(range(10_000))), ("bytes b'name'", b"name"), ("str '1'", "1"),
]
COUNTERS = [-1, 0, 1, 2**31, 2**53, 2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), 1.5, math.nan, "3",
            True, None]
TIMES = [-1, 0, 1e-300, 253402300799, 253402300800, 1e20, 2**63, 2**64 - 1, math.nan, math.inf, "2024", None,
         True, Float32(1.0)]

# -- the base stores ------------------------------------------------------------------------------


@dataclass
class Base:
    """A valid store and what the mutators need to know about it."""

    path: Path
    kind: str
    generation: int
    digest: str
    ids: list[str]  # every id the store ever held, deleted ones included
    manifest: dict[str, Any] = field(default_factory=dict)
    frames: list[Any] = field(default_factory=list)  # the log's decoded payloads
    other_graph: bytes = b""  # an HNSW store's graph of another generation (no vectors)


def unit(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return array / np.linalg.norm(array)


def build_base(path: Path, kind: str) -> Base:
    """The base store of ``kind``; its ids are numbered, not random, so that a case number and seed
    name the same rewrite in every run (ids decide the order of the id lookup)."""
    numbers = itertools.count()
    with mock.patch("skillstore.store.new_id", lambda: f"{kind[0]}{next(numbers):015x}"):
        return _build_base(path, kind)


def _build_base(path: Path, kind: str) -> Base:
    rng = np.random.default_rng(11)
    with SkillStore.open(path, dim=DIM, index=kind, durability="flush") as store:
        if kind == "hnsw":
            store.configure_index("hnsw", M=4)
        first_graph = (snapshot(path) / GRAPH).read_bytes() if kind == "hnsw" else b""
        ids = store.add_many([
            Skill(f"s{i}", ["go", i, {"to": f"room{i % 3}"}], rng.normal(size=DIM),
                  preconditions={"room": i % 2, "tool": ["key", i % 3]}, description=f"skill {i}",
                  metadata={"i": i, "tags": ["a", "b"][: i % 3]})
            for i in range(6)
        ])
        store.record_outcome(ids[0], True, 1.5)
        store.record_outcome(ids[1], False)
        store.update(ids[2], name="renamed", metadata={"i": 2, "new": True})
        store.update(ids[3], embedding=rng.normal(size=DIM))
        store.delete(ids[4])
        store.checkpoint()
        # after the checkpoint, frames of every operation
        ids += store.add_many([Skill("n0", ["fresh"], rng.normal(size=DIM), preconditions={"room": 1}),
                               Skill("n1", [], rng.normal(size=DIM), metadata={"i": 1})])
        store.record_outcome(ids[0], False, -0.5)
        store.record_outcome(ids[6], True)
        store.update(ids[1], description="updated", preconditions={"room": 0})
        store.update(ids[7], embedding=rng.normal(size=DIM), actions=["moved"])
        store.delete(ids[5])
        stats = SkillStats(attempts=3, successes=2, failures=1, observations=2, total_reward=1.0, last_used_at=5.0)
        ids += store.restore_many([Skill("restored", ["r"], unit([1, 2, 3, 4]), id="restored-1", stats=stats,
                                         created_at=1.0, updated_at=2.0,
                                         provenance=[{"at": 1.0, "name": "seen", "score": 0.99}])])
        store.dedup_threshold = 0.99
        twin = store.get(ids[6])
        ids += store.add_many([Skill("twin", ["again"], twin.embedding, preconditions=twin.preconditions),
                               Skill("n2", ["x"], rng.normal(size=DIM))])
        current = digest(store)
        generation = store.generation
    frames = [record for _, record in log.scan_prefix(path / f"log-{generation:08d}").frames]
    return Base(path, kind, generation, current, list(dict.fromkeys(ids)), forge.read_manifest_payload(path),
                frames, first_graph)


# -- generic mutation of decoded values ----------------------------------------------------------

Path_ = tuple[Any, ...]


def nodes(value: Any, path: Path_ = ()) -> list[tuple[Path_, Any]]:
    found = [(path, value)]
    if isinstance(value, dict):
        for key, item in value.items():
            found += nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += nodes(item, (*path, index))
    return found


def put(tree: Any, path: Path_, value: Any) -> Any:
    if not path:
        return value
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return tree


class Mutator:
    """Chooses and applies mutations with one seeded generator; ``notes`` says what it did."""

    def __init__(self, rng: random.Random, base: Base) -> None:
        self.rng = rng
        self.base = base
        self.notes: list[str] = []
        self.id_pool = [*base.ids, "nope", "", "x" * 256, "x" * 257, 7, None, b"id"]

    def note(self, text: str) -> None:
        self.notes.append(text[:160])

    def hostile(self) -> Any:
        label, value = self.rng.choice(HOSTILE)
        return copy.deepcopy(value), label

    def vector(self, data: bytes) -> tuple[Any, str]:
        """A mutated float32 vector of the store's dimension."""
        v = np.frombuffer(data, dtype="<f4").astype(np.float32)
        choices: list[tuple[str, Callable[[], Any]]] = [
            ("NaN component", lambda: _with(v, 0, np.nan).tobytes()),
            ("inf component", lambda: _with(v, DIM - 1, np.inf).tobytes()),
            ("zeros", lambda: np.zeros(DIM, "<f4").tobytes()),
            ("twice as long", lambda: (v * 2).tobytes()),
            ("norm 1 + 5e-5", lambda: (v * np.float32(1 + 5e-5)).tobytes()),
            ("norm 1 + 3e-4", lambda: (v * np.float32(1 + 3e-4)).tobytes()),
            ("one float short", lambda: v[:-1].tobytes()),
            ("one float more", lambda: np.append(v, np.float32(0)).tobytes()),
            ("float64", lambda: v.astype("<f8").tobytes()),
            ("negated", lambda: (-v).tobytes()),
            ("other unit vector", lambda: unit(np.arange(1, DIM + 1)).astype("<f4").tobytes()),
            ("denormals", lambda: np.full(DIM, 1e-45, "<f4").tobytes()),
            ("big-endian", lambda: v.astype(">f4").tobytes()),
            ("as a list", lambda: [float(x) for x in v]),
        ]
        label, make = self.rng.choice(choices)
        with np.errstate(all="ignore"):  # the vector may hold NaN from an earlier change
            return make(), f"vector {label}"

    def node(self, value: Any) -> tuple[Any, str]:
        """``value`` changed in a way that fits its type, or swapped for a hostile value."""
        rng = self.rng
        if rng.random() < 0.3:
            return self.hostile()
        if isinstance(value, bool):
            return rng.choice([(not value, "negated"), (int(value), "as int"), ("true", "as str")])
        if isinstance(value, int):
            candidates = [(value + 1, "+1"), (value - 1, "-1"), (-value, "negated"), (float(value), "as float"),
                          (str(value), "as str"), (2**53 + 1, "2**53+1"), (2**63 - 1, "2**63-1"), (-1, "-1")]
            if abs(value) < 2**40:
                candidates.append((value * 2**20, "times 2**20"))
            return rng.choice(candidates)
        if isinstance(value, float):
            candidates = [(math.nan, "nan"), (math.inf, "inf"), (-value, "negated"), (1e308, "1e308"),
                          (5e-324, "5e-324"), (Float32(value), "as float32"), (str(value), "as str")]
            if math.isfinite(value):
                candidates.append((int(value), "as int"))
            return rng.choice(candidates)
        if isinstance(value, str):
            label, other = rng.choice([(repr(i)[:40], i) for i in self.id_pool])
            return rng.choice([("", "empty"), (value * 2000 or "x" * 5000, "long"), (value + "\x00", "NUL added"),
                               (value.encode(), "as bytes"), (other, f"another id {label}"),
                               ("\u00fc" + value, "non-ASCII"), (1, "as int")])
        if isinstance(value, bytes):
            if len(value) == 4 * DIM:
                return self.vector(value)
            return rng.choice([(b"", "empty"), (value[:-1], "one byte short"), (value + b"\x00", "one byte more"),
                               (value.decode("latin-1"), "as str")])
        if isinstance(value, list):
            mutated = list(value)
            ops = ["empty", "append", "wrap", "as map"]
            if value:
                ops += ["drop", "duplicate", "reverse", "repeat"]
            op = rng.choice(ops)
            if op == "empty":
                return [], "emptied"
            if op == "append":
                extra, label = self.hostile()
                return [*mutated, extra], f"appended {label}"
            if op == "wrap":
                return [mutated], "wrapped in a list"
            if op == "as map":
                return {str(i): v for i, v in enumerate(mutated)}, "list as map"
            index = rng.randrange(len(mutated))
            if op == "drop":
                del mutated[index]
                return mutated, f"item {index} dropped"
            if op == "duplicate":
                return [*mutated, copy.deepcopy(mutated[index])], f"item {index} duplicated"
            if op == "reverse":
                return mutated[::-1], "reversed"
            return mutated * max(2, 2000 // len(mutated)), "repeated"
        if isinstance(value, dict):
            ops = ["empty", "unknown key", "as list", "wrap"]
            if value:
                ops += ["drop key", "duplicate key", "key type", "unhashable key"]
            op = rng.choice(ops)
            if op == "empty":
                return {}, "emptied"
            if op == "unknown key":
                extra, label = self.hostile()
                return {**value, rng.choice(["extra", "", "id", "stats", "op", "format"]): extra}, f"key with {label}"
            if op == "as list":
                return list(value.values()), "map as list of its values"
            if op == "wrap":
                return {"value": value}, "wrapped in a map"
            key = rng.choice(list(value))
            if op == "drop key":
                return {k: v for k, v in value.items() if k != key}, f"key {key!r} dropped"
            if op == "duplicate key":
                extra, label = self.hostile()
                return RawMap([*value.items(), (key, extra)]), f"key {key!r} repeated with {label}"
            if op == "key type":
                retyped = key.encode() if isinstance(key, str) else str(key)
                return {(retyped if k == key else k): v for k, v in value.items()}, f"key {key!r} as {retyped!r}"
            return RawMap([*value.items(), ([key], 1)]), "a list as key"
        return self.hostile()

    def tree(self, tree: Any, targets: dict[str, Callable[[Any], tuple[Any, str]]]) -> Any:
        """One mutation of ``tree``: at a key the file kind cares about (``targets``), or anywhere."""
        candidates = nodes(tree)
        targeted = [(p, v) for p, v in candidates if p and isinstance(p[-1], str) and p[-1] in targets]
        if targeted and self.rng.random() < 0.55:
            path, value = self.rng.choice(targeted)
            try:
                new, label = targets[path[-1]](value)
            except (TypeError, KeyError, IndexError, AttributeError, ValueError):  # an earlier change reshaped it
                new, label = self.node(value)
        else:
            path, value = self.rng.choice(candidates)
            new, label = self.node(value)
        self.note(f"{'/'.join(map(str, path)) or '(root)'}: {label}")
        return put(tree, path, new)


def _with(vector: np.ndarray, index: int, value: float) -> np.ndarray:
    changed = vector.copy()
    changed[index] = value
    return changed


def pick(rng: random.Random, values: list[Any]) -> Callable[[Any], tuple[Any, str]]:
    def choose(_: Any) -> tuple[Any, str]:
        value = copy.deepcopy(rng.choice(values))
        return value, repr(value)[:60]

    return choose


# -- the MANIFEST ---------------------------------------------------------------------------------


def manifest_targets(m: Mutator) -> dict[str, Callable[[Any], tuple[Any, str]]]:
    rng, base = m.rng, m.base
    g, seq = base.generation, base.manifest["seq"]
    kinds = [{"kind": k, "active": a} for k in ("flat", "hnsw", "auto", "x", "") for a in ("flat", "hnsw", "auto")]
    tunables = [0, 1, 4, 100_000, 100_001, -1, 2**40, "4", 4.0, True]
    return {
        "format": pick(rng, [1, 2, 4, 3.0, "3", None, True, -1, 2**64 - 1]),
        "dim": pick(rng, [0, 1, 3, 5, 8, 65536, 65537, -4, 4.0, "4", True]),
        "generation": pick(rng, [0, 1, g - 1, g + 1, 99_999_999, 10**8, -1, 2**64 - 1, float(g)]),
        "seq": pick(rng, [0, seq - 1, seq + 1, 2**62, 2**62 + 1, 2**63, -1, float(seq)]),
        "skills": pick(rng, [0, 1, 2**40, 2**40 + 1, -1, 5.0]),
        "created_at": pick(rng, TIMES),
        "checkpointed_at": pick(rng, TIMES),
        "store_id": pick(rng, [b"", bytes(16), bytes(15), bytes(17), "a" * 16, rng.randbytes(16)]),
        "metric": pick(rng, ["l2", "", None, b"inner_product", "INNER_PRODUCT"]),
        "index": lambda old: rng.choice([
            ({**rng.choice(kinds), **old_tunables(old)}, "kind and active changed"),
            ({**old, rng.choice(["M", "efConstruction", "efSearch"]): rng.choice(tunables)}, "a tunable changed"),
            ({**old, "extra": 1}, "unknown parameter"),
            ({**old, "kind": "auto"}, "kind auto"),
            ({k: v for k, v in old.items() if k != "active"}, "no active structure"),
            ({str(i): i for i in range(17)}, "17 entries"),
        ]),
        "files": lambda old: rng.choice([
            *[({k: v for k, v in old.items() if k != name}, f"{name} unlisted")
              for name in (COLUMNS, RECORDS, VECTORS, GRAPH) if isinstance(old, dict) and name in old],
            ({**old, GRAPH: [0, 0]} if isinstance(old, dict) else {}, "index.faiss listed, empty"),
            ({**old, "skills.msgpack": [0, 0]} if isinstance(old, dict) else {}, "format 2's skills.msgpack listed"),
            ({**old, COLUMNS: old.get(RECORDS), RECORDS: old.get(COLUMNS)} if isinstance(old, dict) else {},
             "columns and records entries swapped"),
            ({**old, "other": [0, 0]}, "an unknown file listed"),
            ({**old, b"columns.bin": [0, 0]}, "a file named in bytes"),
            ({**old, "../MANIFEST": [0, 0]}, "a path outside listed"),
            ({k: [v[0] + 1, v[1]] for k, v in old.items()}, "sizes + 1"),
            ({k: [v[0], v[1] ^ 1] for k, v in old.items()}, "checksums changed"),
            ({k: v[:1] for k, v in old.items()}, "entries without checksum"),
            ({k: [2**48, v[1]] for k, v in old.items()}, "sizes 2**48"),
            ({f"f{i}": [0, 0] for i in range(65)}, "65 files"),
        ]),
    }


def old_tunables(index: Any) -> dict[str, Any]:
    if not isinstance(index, dict):
        return {}
    return {k: v for k, v in index.items() if k in ("M", "efConstruction", "efSearch")}


def mutate_manifest(store: Path, m: Mutator) -> None:
    payload: Any = forge.read_manifest_payload(store)
    for _ in range(mutation_count(m.rng)):
        payload = m.tree(payload, manifest_targets(m))
    write_manifest_bytes(store, encode(payload))


def write_manifest_bytes(store: Path, payload: bytes) -> None:
    (store / "MANIFEST").write_bytes(b"SKMF" + struct.pack("<I", crc32(payload)) + payload)


def mutation_count(rng: random.Random) -> int:
    return rng.choices([1, 2, 3], weights=[6, 3, 1])[0]


# -- the snapshot of format 3: columns, records, vectors --------------------------------------------

RECORD_FIELDS = ("name", "actions", "preconditions", "description", "metadata", "provenance")
COLUMNS, RECORDS, VECTORS, GRAPH = "columns.bin", "records.bin", "vectors.f32", "index.faiss"


def snapshot(store: Path) -> Path:
    return store / f"snap-{forge.read_manifest_payload(store)['generation']:08d}"


def read_columns(store: Path) -> list[forge.Column]:
    return forge.parse_columns((snapshot(store) / COLUMNS).read_bytes())


def record_rows(store: Path, columns: list[forge.Column]) -> list[bytes]:
    """The packed record of each row, cut from records.bin at the record offsets."""
    offsets = forge.columns_by_name(columns)["record_offsets"].array().tolist()
    data = (snapshot(store) / RECORDS).read_bytes()
    return [data[start:end] for start, end in zip(offsets, offsets[1:], strict=False)]


def offsets_of(parts: list[bytes]) -> np.ndarray:
    offsets = np.zeros(len(parts) + 1, dtype="<u8")
    np.cumsum([len(p) for p in parts], out=offsets[1:])
    return offsets


def record_targets(m: Mutator) -> dict[str, Callable[[Any], tuple[Any, str]]]:
    rng = m.rng
    return {
        "name": pick(rng, ["", "n" * 4097, 1, None, b"name", ["n"], "\x00", "renamed by the forger",
                           Raw(b"\xa3\xed\xa0\x80", "a lone surrogate")]),
        "actions": pick(rng, [None, [], {"a": 1}, msgpack.ExtType(1, b""), [math.nan], b"raw", "go", nested(70),
                              ["forged", 1]]),
        "preconditions": pick(rng, [{"room": [1, 2]}, {1: 2}, {"k": {"nested": [1]}}, {"room": math.nan},
                                    {"room": b"1"}, None, [], {"": None}, {"room": msgpack.ExtType(3, b"")}, {},
                                    {"room": 0}, {"room": 1}, {"room": 1, "tool": ["key", 0]}, {"room": nested(70)}]),
        "description": pick(rng, [None, 1, b"d", "d" * 100_000, "forged"]),
        "metadata": pick(rng, [{"i": math.nan}, {"i": msgpack.ExtType(3, b"x")}, {b"k": 1}, None, [1],
                               {"i": [1, {"2": 3}]}, {"i": 2**64 - 1}, {}, {"i": 1}, {"i": 2}, {"new": True},
                               {"i": 0, "tags": []}, {"i": 1.0}, {"i": True}]),
        "provenance": pick(rng, [[], [1], [{"at": math.nan}], ["x"], {"a": 1}, None,
                                 [{"at": 1.0, "name": "n", "score": 0.5}] * 30, [{1: 2}], [{"at": 5.0}]]),
        "at": pick(rng, TIMES),
        "score": pick(rng, [math.nan, 2, "0.9", None, 1.5]),
    }


def mutated_record(m: Mutator, packed: bytes, rows: list[bytes], row: int) -> bytes:
    """Row ``row``'s record rewritten: one of its fields changed (by name when it holds the six
    fields), or the whole record swapped for another shape."""
    rng = m.rng
    fields = decode(packed)
    if rng.random() < 0.7 and isinstance(fields, list):
        tree: Any = dict(zip(RECORD_FIELDS, fields, strict=False)) if len(fields) == len(RECORD_FIELDS) else fields
        tree = m.tree(tree, record_targets(m))
        if isinstance(tree, dict) and set(tree) == set(RECORD_FIELDS):
            tree = [tree[name] for name in RECORD_FIELDS]
        return encode(tree)
    other = rng.randrange(len(rows))
    label, value = rng.choice([
        ("the last field dropped", lambda: encode(fields[:-1]) if isinstance(fields, list) else b""),
        ("a seventh field", lambda: encode([*fields, 0]) if isinstance(fields, list) else b""),
        ("the fields as a map", lambda: encode(dict(zip(RECORD_FIELDS, fields, strict=False)))
         if isinstance(fields, list) else b"\x80"),
        (f"the record of row {other}", lambda: rows[other]),
        ("cut by one byte", lambda: packed[:-1]),
        ("a byte after it", lambda: packed + b"\xc0"),
        ("two records in one", lambda: packed + rows[other]),
        ("empty", lambda: b""),
        ("an array header claiming 2**32-1 fields", lambda: b"\xdd\xff\xff\xff\xff" + packed[1:]),
        ("nested 100000 deep", lambda: b"\x91" * 100_000 + b"\xc0"),
        ("a hostile value", lambda: encode(m.hostile()[0])),
    ])
    m.note(f"row {row}: record {label}")
    return value()  # type: ignore[no-any-return]


def mutate_records(store: Path, m: Mutator) -> None:
    """Rewrite one to three rows' records; the record offsets in columns.bin follow them (mostly:
    a forger who forgets them is refused outright)."""
    columns = read_columns(store)
    rows = record_rows(store, columns)
    for _ in range(mutation_count(m.rng)):
        row = m.rng.randrange(len(rows))
        if m.rng.random() < 0.1:
            other = m.rng.randrange(len(rows))
            rows[row], rows[other] = rows[other], rows[row]
            m.note(f"records of rows {row} and {other} swapped")
        else:
            m.note(f"row {row}")
            rows[row] = mutated_record(m, rows[row], rows, row)
    files = {RECORDS: b"".join(rows)}
    if m.rng.random() < 0.9:
        forge.columns_by_name(columns)["record_offsets"].set(offsets_of(rows))
        files[COLUMNS] = forge.build_columns(columns)
    else:
        m.note("record offsets left as they were")
    forge.replace_snapshot_files(store, files)


# the values worth trying in each column, beside the current value's neighbours
U8_EDGES = [0, 1, 2**32, 2**63, 2**64 - 1]
I8_EDGES = [-1, 0, 1, 2**31, 2**63 - 1, -(2**63)]
COUNTER_EDGES = [-1, 0, 1, MAX_COUNTER, MAX_COUNTER + 1, 2**62, 2**63 - 1, -(2**63)]
TIME_EDGES = [math.nan, math.inf, -math.inf, -1.0, -0.0, 0.0, 5e-324, MAX_TIMESTAMP, MAX_TIMESTAMP * (1 + 1e-15),
              1e20]
REWARD_EDGES = [math.nan, math.inf, -math.inf, 1e300, -1e300, 1.1e300, -0.0, 5e-324, 1.0]


def column_values(column: forge.Column, values: np.ndarray, index: int, m: Mutator) -> list[Any]:
    """Values to write at ``values[index]`` of ``column`` (any may be out of the column's range)."""
    name, current = column.name, values[index].item()
    n = len(m.base.ids)
    if column.dtype == "|u1":
        return [0, 0x7F, 0x80, 0xFF, (current + 1) % 256, ord("x"), ord(" ")]
    if column.dtype == "<f8":
        return REWARD_EDGES + [current + 1.0] if name == "total_reward" else TIME_EDGES + [current + 1.0]
    if column.dtype == "<u4":
        return [0, current ^ 1, 2**32 - 1]
    near = [current - 1, current + 1, *(values[m.rng.randrange(len(values))].item() for _ in range(2))]
    if column.dtype == "<u8":
        return [v for v in U8_EDGES + near if 0 <= v < 2**64] + [current ^ 1, current ^ (1 << 63)]
    if name in ("attempts", "successes", "failures", "observations"):
        return COUNTER_EDGES + near
    if name == "dim":
        return [0, DIM - 1, DIM + 1, -1, 2**40, 65536, 65537]
    if name == "status":  # a code of STATUSES
        return [0, 1, 2, 3, -1, 2**63 - 1]
    if name == "version":
        return [0, 1, 2, -1, 2**53, 2**63 - 1]
    return I8_EDGES + near + [n, n + 1, -2]


def column_value_change(columns: list[forge.Column], m: Mutator) -> None:
    """One value of one column (at its known place) set to a value chosen for that column."""
    candidates = [c for c in columns if c.data and c.name not in ("signatures", "metadata_pairs")]
    column = m.rng.choice(candidates)
    values = column.array().copy()
    index = m.rng.randrange(len(values))
    value = m.rng.choice([v for v in column_values(column, values, index, m) if fits(v, values.dtype)])
    values[index] = value
    column.set(values)
    m.note(f"columns {column.name}[{index}] = {value!r:.40}")


def fits(value: Any, dtype: np.dtype) -> bool:
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return isinstance(value, int) and info.min <= value <= info.max
    return True


def consistent_change(columns: list[forge.Column], m: Mutator) -> None:
    """A change a forger could make that keeps every column rule: the store must open with it."""
    by = forge.columns_by_name(columns)
    n = len(by["attempts"].data) // 8
    row = m.rng.randrange(n)
    choice = m.rng.randrange(6)
    if choice >= 4:
        index_change(by, row, m, "signature" if choice == 4 else "metadata")
    elif choice == 0:
        for name in ("attempts", "successes"):
            values = by[name].array().copy()
            values[row] += 1
            by[name].set(values)
        m.note(f"columns: row {row} one more attempt and success")
    elif choice == 1:
        for name in ("created_at", "updated_at", "last_used_at"):
            values = by[name].array().copy()
            values[row] = m.rng.choice([0.0, MAX_TIMESTAMP, 1.5])
            by[name].set(values)
        m.note(f"columns: row {row} timestamps changed")
    elif choice == 2:
        values = by["vector_crcs"].array().copy()
        values[:] = m.rng.choice([0, 2**32 - 1])
        by["vector_crcs"].set(values)
        m.note("columns: every vector block checksum changed")
    else:
        values = by["observations"].array().copy()
        values[row] = MAX_COUNTER
        by["observations"].set(values)
        m.note(f"columns: row {row} observed {MAX_COUNTER} times")


def index_change(by: dict[str, forge.Column], row: int, m: Mutator, kind: str) -> None:
    """Row ``row`` moved to another precondition signature, or listed under one more (or one
    fewer) metadata pair, with the postings rebuilt to every rule: what its record says then
    differs from the index that leads to it."""
    starts = by[f"{kind}_starts"].array()
    groups = len(starts) - 1
    rows = by[f"{kind}_rows"].array().copy()
    if groups < 1 or np.any(np.diff(starts) < 0) or starts[0] != 0 or starts[-1] != len(rows):
        m.note(f"columns: the {kind} postings, already broken, left as they are")
        return
    codes = np.repeat(np.arange(groups, dtype=np.int64), np.diff(starts))
    if kind == "signature":
        of = by["signature_of"].array().copy()
        of[row] = m.rng.randrange(groups)
        by["signature_of"].set(of)
        codes, rows = of, np.arange(len(of), dtype=np.int64)
        m.note(f"columns: row {row} moved to precondition signature {of[row]}")
    elif m.rng.random() < 0.5 and np.any(rows == row):
        keep = np.ones(len(rows), dtype=bool)
        keep[m.rng.choice(np.flatnonzero(rows == row).tolist())] = False
        codes, rows = codes[keep], rows[keep]
        m.note(f"columns: row {row} taken out of a metadata pair's postings")
    else:
        code = m.rng.randrange(groups)
        codes, rows = np.append(codes, code), np.append(rows, row)
        m.note(f"columns: row {row} added to metadata pair {code}'s postings")
    order = np.lexsort((rows, codes))
    counts = np.bincount(codes, minlength=groups)
    by[f"{kind}_rows"].set(rows[order])
    by[f"{kind}_starts"].set(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))


def swap_values(columns: list[forge.Column], m: Mutator) -> None:
    candidates = [c for c in columns if len(c.array()) >= 2 and c.name not in ("signatures", "metadata_pairs")]
    column = m.rng.choice(candidates)
    values = column.array().copy()
    i, j = m.rng.sample(range(len(values)), 2)
    values[[i, j]] = values[[j, i]]
    column.set(values)
    m.note(f"columns {column.name}: items {i} and {j} swapped")


def resize_column(columns: list[forge.Column], m: Mutator) -> None:
    column = m.rng.choice(columns)
    values = column.array()
    if len(values) and m.rng.random() < 0.5:
        column.set(values[:-1] if m.rng.random() < 0.5 else values[1:])
        m.note(f"columns {column.name}: one item fewer")
    else:
        extra = values[-1:] if len(values) and m.rng.random() < 0.5 else np.zeros(1, dtype=column.dtype)
        column.set(np.concatenate([values, extra]))
        m.note(f"columns {column.name}: one item more")


def blob_change(columns: list[forge.Column], m: Mutator) -> None:
    """The msgpack of the precondition signatures or the metadata pairs, rewritten."""
    column = forge.columns_by_name(columns)[m.rng.choice(["signatures", "metadata_pairs"])]
    tree = decode(column.data)
    m.note(f"columns {column.name} (msgpack)")
    if m.rng.random() < 0.15:
        data = m.rng.choice([b"", b"\xc1", column.data[:-1], column.data + b"\xc0", b"\xdd\xff\xff\xff\xff",
                             b"\x91" * 100_000 + b"\xc0"])
        m.note(f"{len(data)} raw bytes")
    else:
        data = encode(m.tree(tree, {}))
    column.data, column.shape = data, [len(data)]


TABLE_FIELDS = ("name", "dtype", "shape", "offset", "nbytes")


def table_change(columns: list[forge.Column], m: Mutator) -> bytes:
    """The column table lying about a column, or malformed."""
    rng = m.rng
    names = [c.name for c in columns]
    index = rng.randrange(len(columns))
    field = rng.choice(TABLE_FIELDS)
    label = ""

    def edit(entries: list[list[Any]]) -> list[Any]:
        nonlocal label
        entry = entries[index]
        size, shape, offset, nbytes = len(columns[index].data), entry[2], entry[3], entry[4]
        choices: dict[str, list[Any]] = {
            "name": [rng.choice(names), "", "x" * 65, 1, b"ids", "extra", None],
            "dtype": ["<u8", "<i8", "<f8", "<i4", "<f4", "|u1", "|b1", ">i8", "|O", "<f2", "<c16", 1, None, ""],
            "shape": [[shape[0] + 1] if shape else [1], [2**47], [2**48], [max(shape[0] if shape else 1, 1), 1],
                      [1, shape[0] if shape else 0], [], [-1], [1, 2, 3], "8", [0], [2**24, 2**24]],
            "offset": [offset + 1, offset - 64, offset + 64, 0, 16, 2**48 - 1, 2**48, -1, 2**64 - 1, 1.0],
            "nbytes": [nbytes + 8, max(nbytes - 8, 0), 0, 2**48 - 1, -1, size * 2, None],
        }
        value = rng.choice(choices[field])
        label = f"{entry[0]}'s {field} = {value!r:.30}"
        entry[TABLE_FIELDS.index(field)] = value
        return entries

    whole: list[tuple[str, Callable[[list[list[Any]]], Any]]] = [
        ("an entry dropped", lambda e: e[:index] + e[index + 1 :]),
        ("an entry repeated", lambda e: [*e, list(e[index])]),
        ("entries reversed", lambda e: e[::-1]),
        ("an entry of four fields", lambda e: [*e[:index], e[index][:4], *e[index + 1 :]]),
        ("an entry as a map", lambda e: [*e[:index], dict(zip(TABLE_FIELDS, e[index], strict=True)), *e[index + 1 :]]),
        ("the table as a map", lambda e: {str(x[0]): x[1:] for x in e}),
        ("an unknown column", lambda e: [*e, ["extra", "<i8", [1], e[-1][3] + 4096, 8]]),
        ("two entries swapped", lambda e: [*e[:index], *e[index + 1 : index + 2], e[index], *e[index + 2 :]]),
    ]
    if rng.random() < 0.7:
        data = forge.build_columns(columns, table_edit=edit)
        m.note(f"column table: {label}")
        return data
    name, change = rng.choice(whole)
    m.note(f"column table: {name}")
    return forge.build_columns(columns, table_edit=change)


def header_change(columns: list[forge.Column], m: Mutator) -> bytes:
    rng = m.rng
    choice = rng.randrange(3)
    if choice == 0:
        magic = rng.choice([b"SKMF", bytes(4), b"skcl"])
        m.note(f"column file magic {magic!r}")
        return forge.build_columns(columns, magic=magic)
    if choice == 1:
        version = rng.choice([0, 2, 2**32 - 1])
        m.note(f"column layout version {version}")
        return forge.build_columns(columns, version=version)
    data = forge.build_columns(columns)
    (true_size,) = struct.unpack_from("<Q", data, 8)
    claimed = rng.choice([0, true_size - 1, true_size + 1, 1 << 20, (1 << 20) + 1, len(data), 2**64 - 1])
    m.note(f"column table size claimed {claimed} (is {true_size})")
    return data[:8] + struct.pack("<Q", claimed) + data[16:]


def mutate_columns(store: Path, m: Mutator) -> None:
    columns = read_columns(store)
    data: bytes | None = None
    for _ in range(mutation_count(m.rng)):
        op = m.rng.choices(["value", "consistent", "swap", "resize", "blob", "table", "header", "truncate",
                            "extend"], weights=[10, 2, 3, 2, 3, 4, 1, 1, 1])[0]
        if op == "value":
            column_value_change(columns, m)
        elif op == "consistent":
            consistent_change(columns, m)
        elif op == "swap":
            swap_values(columns, m)
        elif op == "resize":
            resize_column(columns, m)
        elif op == "blob":
            blob_change(columns, m)
        elif op == "table":
            data = table_change(columns, m)
            break
        elif op == "header":
            data = header_change(columns, m)
            break
        elif op == "truncate":
            whole = forge.build_columns(columns)
            cut = m.rng.randrange(len(whole))
            m.note(f"column file cut to {cut} of {len(whole)} bytes")
            data = whole[:cut]
            break
        else:
            extra = m.rng.choice([bytes(1), bytes(64), m.rng.randbytes(16)])
            m.note(f"column file extended by {len(extra)} bytes")
            data = forge.build_columns(columns) + extra
            break
    forge.replace_snapshot_file(store, COLUMNS, data if data is not None else forge.build_columns(columns))


def mutate_vectors(store: Path, m: Mutator) -> str | None:
    """Rewrite vectors.f32; returns what the refusal must say when the MANIFEST's checksum is left
    as it was (the damage named by rows), None when the forger fixed it."""
    path = snapshot(store) / VECTORS
    vectors = np.frombuffer(path.read_bytes(), dtype="<f4").reshape(-1, DIM).copy()
    n = len(vectors)
    data: bytes | None = None
    for _ in range(mutation_count(m.rng)):
        row = m.rng.randrange(n)
        op = m.rng.choice(["row", "row", "row", "swap", "copy", "shape"])
        if op == "row":
            new, label = m.vector(vectors[row].tobytes())
            m.note(f"vectors row {row}: {label}")
            if isinstance(new, bytes) and len(new) == 4 * DIM:
                vectors[row] = np.frombuffer(new, dtype="<f4")
            elif isinstance(new, bytes):  # a row of another size: the rows after it shift
                data = b"".join(new if i == row else v.tobytes() for i, v in enumerate(vectors))
                break
            else:
                vectors[row] = np.float32(np.nan)
        elif op == "swap":
            other = m.rng.randrange(n)
            vectors[[row, other]] = vectors[[other, row]]
            m.note(f"vectors rows {row} and {other} swapped")
        elif op == "copy":
            other = m.rng.randrange(n)
            vectors[row] = vectors[other]
            m.note(f"vectors row {row} = row {other}")
        else:
            change = m.rng.choice(["a row dropped", "a row added", "4 bytes cut", "emptied"])
            m.note(f"vectors: {change}")
            data = {"a row dropped": vectors[:-1].tobytes(), "4 bytes cut": vectors.tobytes()[:-4], "emptied": b"",
                    "a row added": np.concatenate([vectors, vectors[:1]]).tobytes()}[change]
            break
    original = path.read_bytes()
    if data is None:
        data = vectors.tobytes()
    if m.rng.random() < 0.8:
        forge.replace_snapshot_file(store, VECTORS, data)
        return None
    m.note("the MANIFEST's checksum of the vectors left as it was")
    path.write_bytes(data)
    manifest = forge.read_manifest_payload(store)
    manifest["files"][VECTORS][0] = len(data)
    forge.rewrite_manifest_payload(store, manifest)
    if data == original:
        return None
    if len(data) != len(original):
        return ""  # not whole rows, or not one row per skill: refused, said in any way
    first_block_last_row = min(n, VECTOR_BLOCK_ROWS) - 1
    return f"vectors checksum mismatch; damaged rows: 0-{first_block_last_row}"
# -- the FAISS index ------------------------------------------------------------------------------


@dataclass
class Field:
    name: str
    offset: int
    fmt: str  # struct format of one item


@dataclass
class Array:
    name: str
    size_offset: int  # the u64 item count
    offset: int  # the first item
    fmt: str
    count: int


def index_layout(data: bytes) -> tuple[list[Field], list[Array]]:
    """The header fields and arrays of an index the store wrote (layout of ``storage.faiss_file``)."""
    fields: list[Field] = []
    arrays: list[Array] = []
    pos = 0

    def header(prefix: str) -> None:
        nonlocal pos
        for name, fmt, size in (("d", "<i", 4), ("ntotal", "<q", 8), ("unused 1", "<q", 8), ("unused 2", "<q", 8),
                                ("is_trained", "<B", 1), ("metric", "<i", 4)):
            fields.append(Field(f"{prefix}{name}", pos, fmt))
            pos += size

    def array(name: str, fmt: str) -> None:
        nonlocal pos
        (count,) = struct.unpack_from("<Q", data, pos)
        arrays.append(Array(name, pos, pos + 8, fmt, count))
        fields.append(Field(f"{name} size", pos, "<Q"))
        pos += 8 + count * struct.calcsize(fmt)

    fourcc = data[:4]
    pos = 4
    header("")
    if fourcc == b"IHNf":
        for name, fmt in (("level probabilities", "<d"), ("neighbours per level", "<i"), ("levels", "<i"),
                          ("offsets", "<Q"), ("neighbours", "<i")):
            array(name, fmt)
        for name in ("entry point", "max level", "efConstruction", "efSearch", "upper beam"):
            fields.append(Field(name, pos, "<i"))
            pos += 4
        pos += 4  # the storage's fourcc
        header("storage ")
    array("vector data", "<f")
    return fields, arrays


INT_VALUES = [0, -1, 1, 2, 3, 4, 5, 6, 7, 8, 2**31 - 1, -(2**31), 64]
U64_VALUES = [0, 1, 4, 2**30, 2**32, 2**62, 2**63, 2**64 - 1]
Q_VALUES = [0, 1, -1, 2**31, 2**62, -(2**63), 2**63 - 1]
FLOAT_VALUES = [math.nan, math.inf, -1.0, 2.0, 0.0, 1e30, 0.5]


def element_values(fmt: str, current: Any) -> list[Any]:
    if fmt in ("<d", "<f"):
        return FLOAT_VALUES + [-current, current * 2]
    if fmt == "<Q":
        return U64_VALUES + [min(current + 1, 2**64 - 1), max(current - 1, 0)]
    if fmt == "<q":
        return Q_VALUES + [min(current + 1, 2**63 - 1), max(current - 1, -(2**63))]
    if fmt == "<B":
        return [0, 1, 2, 255]
    return INT_VALUES + [max(min(current + d, 2**31 - 1), -(2**31)) for d in (-1, 1)]


def mutate_index(store: Path, m: Mutator, other_index: bytes) -> None:
    path = snapshot(store) / "index.faiss"
    data = bytearray(path.read_bytes())
    for _ in range(mutation_count(m.rng)):
        data = bytearray(index_mutation(bytes(data), m, other_index))
    forge.replace_snapshot_file(store, "index.faiss", bytes(data))


def index_mutation(data: bytes, m: Mutator, other_index: bytes) -> bytes:
    rng = m.rng
    try:
        fields, arrays = index_layout(data)
    except (struct.error, OverflowError):  # an earlier change left sizes that point anywhere
        fields, arrays = [], []
    arrays = [a for a in arrays if a.offset + a.count * struct.calcsize(a.fmt) <= len(data)]
    fields = [f for f in fields if f.offset + struct.calcsize(f.fmt) <= len(data)]
    weights = {"field": 8 * bool(fields), "element": 8 * any(a.count for a in arrays), "resize": 4 * bool(arrays),
               "graph": 5 * any(a.name == "neighbours" for a in arrays), "truncate": 2, "extend": 2, "fourcc": 1,
               "swap": 1}
    op = rng.choices(list(weights), weights=list(weights.values()))[0]
    if op == "field":
        chosen = rng.choice(fields)
        (current,) = struct.unpack_from(chosen.fmt, data, chosen.offset)
        value = rng.choice(element_values(chosen.fmt, current))
        m.note(f"index {chosen.name}: {current} -> {value}")
        return data[: chosen.offset] + struct.pack(chosen.fmt, value) + data[chosen.offset + struct.calcsize(
            chosen.fmt) :]
    if op == "element":
        chosen = rng.choice([a for a in arrays if a.count])
        index = rng.randrange(chosen.count)
        at = chosen.offset + index * struct.calcsize(chosen.fmt)
        (current,) = struct.unpack_from(chosen.fmt, data, at)
        value = rng.choice(element_values(chosen.fmt, current))
        m.note(f"index {chosen.name}[{index}]: {current} -> {value}")
        return data[:at] + struct.pack(chosen.fmt, value) + data[at + struct.calcsize(chosen.fmt) :]
    if op == "resize":
        chosen = rng.choice(arrays)
        size = struct.calcsize(chosen.fmt)
        change = rng.choice([-3, -1, 1, 2, 8])
        at = chosen.offset + rng.randint(0, chosen.count) * size
        if change < 0:
            removed = min(-change, (chosen.offset + chosen.count * size - at) // size)
            body = data[:at] + data[at + removed * size :]
            count = chosen.count - removed
        else:
            values = [rng.choice(element_values(chosen.fmt, 0)) for _ in range(change)]
            body = data[:at] + b"".join(struct.pack(chosen.fmt, v) for v in values) + data[at:]
            count = chosen.count + change
        m.note(f"index {chosen.name}: {chosen.count} -> {count} items (size field kept in step)")
        return body[: chosen.size_offset] + struct.pack("<Q", count) + body[chosen.size_offset + 8 :]
    if op == "graph":
        return graph_mutation(data, m, fields, {a.name: a for a in arrays})
    if op == "truncate":
        cut = rng.randrange(len(data) + 1)
        m.note(f"index truncated to {cut} bytes")
        return data[:cut]
    if op == "extend":
        extra = rng.choice([bytes(rng.choice([1, 4, 8, 64])), rng.randbytes(rng.choice([1, 16])),
                            struct.pack("<Q", 2**40)])
        m.note(f"index extended by {len(extra)} bytes")
        return data + extra
    if op == "fourcc":
        fourcc = rng.choice([b"IxF2", b"IHNf", b"IxFI", b"IxFl", b"\x00\x00\x00\x00", b"IHNp"])
        m.note(f"index type {fourcc!r}")
        return fourcc + data[4:]
    m.note("the graph of another generation (no vectors)")
    return other_index


def graph_mutation(data: bytes, m: Mutator, fields: list[Field], arrays: dict[str, Array]) -> bytes:
    """Changes to the HNSW graph that keep every size consistent."""
    rng = m.rng
    neighbours = arrays["neighbours"]
    body = bytearray(data)
    ids = list(struct.unpack_from(f"<{neighbours.count}i", data, neighbours.offset))
    rows = arrays["levels"].count
    choice = rng.randrange(6)
    if choice >= 4:
        probabilities = arrays["level probabilities"]
        levels = arrays["neighbours per level"].count - 1  # the levels the graph has room for
        count = levels + rng.choice([1, 3, 40]) if choice == 4 else probabilities.count
        values = [0.0] * (count - 1) + [1.0]  # every new node drawn at the last level listed
        m.note(f"index: {count} level probabilities for {levels} levels, all weight on the last")
        body = data[: probabilities.size_offset] + struct.pack(f"<Q{count}d", count, *values)
        return body + data[probabilities.offset + 8 * probabilities.count :]
    if choice == 0:
        ids = [-1] * len(ids)
        m.note("index: every neighbour slot empty")
    elif choice == 1:
        ids = [rng.randrange(-1, rows) for _ in ids]
        m.note("index: neighbours random but in range")
    elif choice == 2:
        ids = [i % max(rows, 1) for i in range(len(ids))]
        m.note("index: neighbours cycle through every node")
    else:
        entry = next(f for f in fields if f.name == "entry point")
        point = rng.randrange(-1, rows + 1)
        struct.pack_into("<i", body, entry.offset, point)
        m.note(f"index: entry point {point}")
        return bytes(body)
    struct.pack_into(f"<{len(ids)}i", body, neighbours.offset, *ids)
    return bytes(body)


# -- the log ----------------------------------------------------------------------------------------

LOG_HEADER = struct.Struct("<4sHH16sQQII")


def log_path(store: Path) -> Path:
    return store / f"log-{forge.read_manifest_payload(store)['generation']:08d}"


def payloads(path: Path) -> list[bytes]:
    """The raw payloads of the log's intact frames."""
    scan = log.scan_prefix(path)
    data = path.read_bytes()
    found = []
    for offset, _ in scan.frames:
        (length,) = struct.unpack_from("<I", data, offset)
        found.append(data[offset + log.FRAME_HEADER_SIZE : offset + log.FRAME_HEADER_SIZE + length])
    return found


def write_log(path: Path, head: bytes, frames: list[bytes]) -> None:
    """A log of ``head`` and frames of these payloads, chained with checksums seeded by its salt."""
    header = log.parse_header(head, path)
    cursor = log.start(header)
    parts = [head]
    for payload in frames:
        frame = forge.frame_bytes(header, cursor, payload)
        (checksum,) = struct.unpack_from("<I", frame, 16)
        cursor = log.Cursor(cursor.end + len(frame), cursor.seq + 1, checksum, cursor.end)
        parts.append(frame)
    path.write_bytes(b"".join(parts))


def log_header_bytes(magic: bytes, version: int, reserved: int, store_id: bytes, generation: int, base_seq: int,
                     salt: int) -> bytes:
    head = LOG_HEADER.pack(magic, version, reserved, store_id, generation, base_seq, salt, 0)[:-4]
    return head + struct.pack("<I", crc32(head))


def frame_targets(m: Mutator) -> dict[str, Callable[[Any], tuple[Any, str]]]:
    rng = m.rng
    live_vector = unit(np.arange(1, DIM + 1)).astype("<f4").tobytes()
    return {
        "op": pick(rng, ["add", "update", "restore", "delete", "outcome", "ADD", "", None, 1, b"add", "checkpoint"]),
        "fields": pick(rng, [{"id": "x"}, {"stats": {"attempts": 5}}, {"embedding": [1.0] * DIM},
                             {"created_at": 1.0}, {"name": 1}, {}, {"preconditions": {"room": [1]}},
                             {"name": "ok", "bogus": 1}, {"metadata": {"i": math.nan}}, [], None]),
        "success": pick(rng, ["no", 1, 0, None, "true", [], False, True]),
        "reward": pick(rng, [math.nan, math.inf, -math.inf, "1", True, 2**64 - 1, 1e308, -1e308, 2**63, None, 0]),
        "at": pick(rng, TIMES),
        "id": lambda old: rng.choice([(i, f"id {i!r:.30}") for i in m.id_pool]),
        "merge": lambda old: rng.choice([(i, f"merge into {i!r:.30}") for i in m.id_pool]),
        "ids": lambda old: rng.choice([
            ([], "no ids"), ((old or []) * 2, "ids repeated"), (["nope"], "an unknown id"),
            (list(m.base.ids), "every id ever held"), ([1], "an int id"), ("abc", "ids as str"), (None, "ids None")]),
        "score": pick(rng, [1.02, 1.01, -1.0, math.nan, True, "0.9", 2]),
        "vector": lambda old: m.vector(old) if isinstance(old, bytes) and len(old) == 4 * DIM else rng.choice(
            [(None, "no vector"), (live_vector, "a unit vector"), (b"", "empty vector")]),
        "items": lambda old: rng.choice([
            ([], "no items"), ((old or []) * 2, "items repeated"), ([None], "a None item"),
            ([{"record": (old or [{}])[0].get("record") if isinstance((old or [{}])[0], dict) else None}],
             "an item without vector")]),
        "stats": lambda old: ({**old, "attempts": rng.choice(COUNTERS)} if isinstance(old, dict) else {},
                              "record counters changed"),
        "created_at": pick(rng, TIMES),
    }


def mutated_frame(m: Mutator, frame: Any) -> bytes:
    tree = copy.deepcopy(frame)
    for _ in range(mutation_count(m.rng)):
        tree = m.tree(tree, frame_targets(m))
    return encode(tree)


def mutate_frames(store: Path, m: Mutator) -> None:
    """Rewrite one of the log's frames, and chain the frames after it again."""
    path = log_path(store)
    frames = payloads(path)
    index = m.rng.randrange(len(frames))
    decoded = unpack(frames[index])
    m.note(f"frame {index} ({decoded.get('op')})")
    frames[index] = mutated_frame(m, decoded)
    write_log(path, path.read_bytes()[: log.HEADER_SIZE], frames)


def append_frames(store: Path, m: Mutator) -> None:
    """Append one to three frames, mutated copies of the base's frames or valid ones before them."""
    path = log_path(store)
    frames = payloads(path)
    for _ in range(m.rng.choice([1, 1, 2, 3])):
        template = m.rng.choice(m.base.frames)
        if m.rng.random() < 0.3:
            m.note(f"valid {template['op']} frame appended")
            frames.append(encode(template))
        else:
            m.note(f"mutated {template['op']} frame appended")
            frames.append(mutated_frame(m, template))
    write_log(path, path.read_bytes()[: log.HEADER_SIZE], frames)


def mutate_log_header(store: Path, m: Mutator) -> None:
    path = log_path(store)
    data = path.read_bytes()
    magic, version, reserved, store_id, generation, base_seq, salt, _ = LOG_HEADER.unpack_from(data)
    values = {"magic": magic, "version": version, "reserved": reserved, "store_id": store_id,
              "generation": generation, "base_seq": base_seq, "salt": salt}
    name = m.rng.choice(["magic", "version", "reserved", "store_id", "store_id", "generation", "generation",
                         "base_seq", "base_seq", "salt"])
    options: dict[str, list[Any]] = {
        "magic": [b"SKLH", b"SKMF", bytes(4)],
        "version": [0, 2, 65535],
        "reserved": [1, 65535],
        "store_id": [bytes(16), m.rng.randbytes(16), store_id[::-1]],
        "generation": [0, generation - 1, generation + 1, 2**63, 2**64 - 1],
        "base_seq": [0, base_seq - 1 if base_seq else 1, base_seq + 1, 2**62, 2**63, 2**64 - 1],
        "salt": [0, salt ^ 1, 2**32 - 1],
    }
    values[name] = m.rng.choice(options[name])
    m.note(f"log header {name}: {values[name]!r:.40}")
    path.write_bytes(log_header_bytes(**values) + data[log.HEADER_SIZE :])


# -- several files, consistently ------------------------------------------------------------------


def renumber(store: Path, m: Mutator) -> None:
    """Changes a store could show after a long life: another generation number, sequence number or
    store id, every file that records it changed in step. The store must open as before."""
    for change in m.rng.sample(["generation", "seq", "store_id"], m.rng.choice([1, 1, 2, 3])):
        manifest = forge.read_manifest_payload(store)
        path = log_path(store)
        head = path.read_bytes()[: log.HEADER_SIZE]
        magic, version, reserved, store_id, generation, base_seq, salt, _ = LOG_HEADER.unpack_from(head)
        frames = payloads(path)
        if change == "generation":
            new = m.rng.choice([g for g in (1, 2, generation + 1, 12_345_678, 99_999_998, 99_999_999)
                                if g != generation])
            os.rename(store / f"snap-{generation:08d}", store / f"snap-{new:08d}")
            path.unlink()
            path = store / f"log-{new:08d}"
            manifest["generation"] = generation = new
        elif change == "seq":
            manifest["seq"] = base_seq = m.rng.choice([0, 1, 2**32, 2**53, 2**62 - 40])
            new = base_seq
        else:
            manifest["store_id"] = store_id = new = m.rng.randbytes(16)
        m.note(f"{change} is {new!r:.40} in every file")
        write_log(path, log_header_bytes(magic, version, reserved, store_id, generation, base_seq, salt), frames)
        forge.rewrite_manifest_payload(store, manifest)


def permute_rows(store: Path, m: Mutator) -> None:
    """The snapshot's rows in another order, every file in step: the columns of each row, the ids
    and their lookup, both indexes, the records and the vectors (the HNSW graph then no longer
    holds the snapshot's vectors and is rebuilt). The store must open with the same skills."""
    columns = read_columns(store)
    by = forge.columns_by_name(columns)
    n = len(by["attempts"].array())
    order = list(range(n))
    while order == list(range(n)):
        m.rng.shuffle(order)
    m.note(f"rows reordered as {order} in every file")
    new = np.asarray(order, dtype=np.int64)  # new row i holds old row new[i]
    position = np.empty(n, dtype=np.int64)
    position[new] = np.arange(n)
    for name in ("attempts", "successes", "failures", "observations", "total_reward", "last_used_at", "created_at",
                 "updated_at", "version", "status", "signature_of"):
        by[name].set(by[name].array()[new])
    for blob, offsets in (("ids", "id_offsets"), ("names", "name_offsets")):
        bounds = by[offsets].array().tolist()
        pieces = [by[blob].data[bounds[row] : bounds[row + 1]] for row in order]
        by[blob].set(np.frombuffer(b"".join(pieces), dtype=np.uint8))
        by[offsets].set(offsets_of(pieces))
    by["id_rows"].set(position[by["id_rows"].array()])
    for kind in ("signature", "metadata"):
        starts = by[f"{kind}_starts"].array().tolist()
        rows = position[by[f"{kind}_rows"].array()]
        by[f"{kind}_rows"].set(np.concatenate([np.sort(rows[a:b]) for a, b in zip(starts, starts[1:], strict=False)]
                                              or [rows]))
    records = record_rows(store, columns)
    reordered = [records[row] for row in order]
    by["record_offsets"].set(offsets_of(reordered))
    vectors = np.frombuffer((snapshot(store) / VECTORS).read_bytes(), dtype="<f4").reshape(n, DIM)[new]
    by["vector_crcs"].set(np.array([crc32(vectors[a : a + VECTOR_BLOCK_ROWS].tobytes())
                                    for a in range(0, n, VECTOR_BLOCK_ROWS)], dtype="<u4"))
    forge.replace_snapshot_files(store, {COLUMNS: forge.build_columns(columns), RECORDS: b"".join(reordered),
                                         VECTORS: vectors.tobytes()})


def several_files(store: Path, m: Mutator) -> None:
    if m.rng.random() < 0.35:
        permute_rows(store, m)
    else:
        renumber(store, m)


def as_next_generation(source: Path, target: Path, generation: int) -> None:
    """``source``'s current generation as generation ``generation``: what a reader of the base store
    sees after another process checkpoints into it."""
    manifest = forge.read_manifest_payload(source)
    old = manifest["generation"]
    target.mkdir()
    shutil.copytree(source / f"snap-{old:08d}", target / f"snap-{generation:08d}")
    head = (source / f"log-{old:08d}").read_bytes()
    magic, version, reserved, store_id, _, base_seq, salt, _ = LOG_HEADER.unpack_from(head)
    rest = head[log.HEADER_SIZE :]  # frame checksums do not cover the generation
    head = log_header_bytes(magic, version, reserved, store_id, generation, base_seq, salt)
    (target / f"log-{generation:08d}").write_bytes(head + rest)
    manifest["generation"] = generation
    forge.rewrite_manifest_payload(target, manifest)


# -- the campaign ----------------------------------------------------------------------------------

# columns and records hold the most structure: they get two slots each
KINDS = ["MANIFEST", COLUMNS, RECORDS, COLUMNS, RECORDS, VECTORS, GRAPH, "log header", "log frame", "log append",
         "several files"]
SNAPSHOT_KINDS = {COLUMNS, RECORDS, VECTORS, GRAPH}
IN_STEP = SNAPSHOT_KINDS | {"log frame", "log append", "several files"}  # refresh == fresh open
SAME = {GRAPH, "several files"}  # must open with the base store's skills: derived data, or consistent changes


@dataclass
class Case:
    number: int
    kind: str
    base: Base
    notes: list[str]
    format_changed: bool = False
    store_id_changed: bool = False
    refusal: str | None = None  # what every way in must be refused with (a pattern of its message)


def prepare(case_dir: Path, number: int, seed: int, bases: list[Base]) -> Case:
    rng = random.Random(f"{seed}-{number}")
    kind = KINDS[number % len(KINDS)]
    base = bases[number // len(KINDS) % len(bases)]
    if kind == GRAPH:  # only an HNSW store has a graph file
        base = next(b for b in bases if b.kind == "hnsw")
    mutated = case_dir / "mutated"
    shutil.copytree(base.path, mutated)
    m = Mutator(rng, base)
    refusal = None
    if kind == "MANIFEST":
        mutate_manifest(mutated, m)
    elif kind == COLUMNS:
        mutate_columns(mutated, m)
    elif kind == RECORDS:
        mutate_records(mutated, m)
    elif kind == VECTORS:
        refusal = mutate_vectors(mutated, m)
    elif kind == GRAPH:
        mutate_index(mutated, m, base.other_graph)
    elif kind == "log header":
        mutate_log_header(mutated, m)
    elif kind == "log frame":
        mutate_frames(mutated, m)
    elif kind == "log append":
        append_frames(mutated, m)
    else:
        several_files(mutated, m)
    case = Case(number, kind, base, m.notes, refusal=refusal)
    raw = decode((mutated / "MANIFEST").read_bytes()[8:])
    case.format_changed = not (isinstance(raw, dict) and raw.get("format") == base.manifest["format"])
    case.store_id_changed = not (isinstance(raw, dict) and raw.get("store_id") == base.manifest["store_id"])
    shutil.copytree(base.path, case_dir / "reader")
    if kind in SNAPSHOT_KINDS:
        as_next_generation(mutated, case_dir / "next", base.generation + 1)
    else:
        shutil.copytree(mutated, case_dir / "next")
    shutil.copytree(mutated, case_dir / "original")  # the worker changes ``mutated``; kept for a finding
    return case


class Worker:
    """The examining child; restarted after it dies or hangs."""

    def __init__(self, stderr: Path) -> None:
        self.stderr_path = stderr
        self.process: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        with open(self.stderr_path, "w") as stderr:
            process = subprocess.Popen([PYTHON, WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=stderr, text=True, env=subprocess_env())
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        return process

    def examine(self, case_dir: Path) -> dict[str, Any]:
        if self.process is None:
            self.process = self._start()
        process = self.process
        assert process.stdin is not None and process.stdout is not None
        request = {"mutated": str(case_dir / "mutated"), "reader": str(case_dir / "reader"),
                   "next": str(case_dir / "next")}
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], CASE_TIMEOUT)
        line = process.stdout.readline() if ready else ""
        if line:
            return json.loads(line)  # type: ignore[no-any-return]
        if ready:
            code = process.wait(timeout=30)
            tail = self.stderr_path.read_text(errors="replace")[-1500:]
            failure = {"crash": f"the worker died with exit code {code}: {tail}"}
        else:
            process.kill()
            process.wait()
            failure = {"crash": f"the case took longer than {CASE_TIMEOUT}s"}
        self.close()
        return failure

    def close(self) -> None:
        if self.process is not None:
            for stream in (self.process.stdin, self.process.stdout):
                if stream is not None:
                    stream.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # stuck on the way out after a failure inside FAISS
                self.process.kill()
                self.process.wait()
            self.process = None


# Findings of this campaign that skillstore has yet to fix, by the problem text they show. Each has
# a failing reproducer (marked xfail) in test_fuzz_findings.py; a case whose every problem matches
# one of them is counted, not failed. Remove an entry together with its xfail once the fix lands.
KNOWN_FINDINGS: dict[str, re.Pattern[str]] = {}


def known_findings(case: Case, found: list[str]) -> list[str] | None:
    """The known findings that explain every problem in ``found``; None if one is new. Patterns
    see the case's mutations, then " => ", then the problem."""
    names = []
    for problem in found:
        shown = f"{'; '.join(case.notes)} => {problem}"
        name = next((n for n, pattern in KNOWN_FINDINGS.items() if pattern.search(shown)), None)
        if name is None:
            return None
        names.append(name)
    return sorted(set(names))


def problems(case: Case, result: dict[str, Any]) -> list[str]:
    """Everything the case's result shows against the property."""
    if "crash" in result:
        return [result["crash"]]
    found = []
    for side in ("ro", "rw", "refresh"):
        outcome = result[side]
        if outcome["outcome"] == "failed":
            found.append(f"{side} {outcome['stage']}: {outcome['error']} at {outcome['where']}: "
                         f"{outcome['message'][:300]}")
        elif outcome["outcome"] == "refused":
            error = outcome["error"]
            allowed = error == "StoreCorruptError" or (error == "FormatVersionError" and case.format_changed) or (
                error == "StoreReplacedError" and side == "refresh" and case.store_id_changed)
            if not allowed:
                found.append(f"{side} refused with {error}: {outcome['message'][:300]}")
            elif case.kind in SAME and error != "StoreReplacedError":
                found.append(f"{side}: a store with {case.kind} changed this way must open, it is refused: "
                             f"{outcome['message'][:300]}")
            elif case.refusal is not None and not re.search(case.refusal, outcome["message"]):
                found.append(f"{side}: the refusal should say {case.refusal!r}: {outcome['message'][:300]}")
        elif case.refusal is not None:
            found.append(f"{side}: opened, must be refused ({case.refusal!r})")
        elif case.kind in SAME and (outcome["digest"] != case.base.digest or outcome["damaged"]):
            found.append(f"{side}: a store with {case.kind} changed this way opens with other contents "
                         f"({outcome['damaged']} damaged rows)")
    ro, rw, refresh = result["ro"], result["rw"], result["refresh"]
    upgraded = case.format_changed and ro.get("error") == "FormatVersionError"  # a read-write open upgrades
    if "failed" not in (ro["outcome"], rw["outcome"]) and not upgraded:
        if ro["outcome"] != rw["outcome"]:
            found.append(f"read-only {ro['outcome']}, read-write {rw['outcome']}")
        elif ro["outcome"] == "opened" and ro["digest"] != rw["digest"]:
            found.append("read-only and read-write opens differ")
    replaced = refresh["outcome"] == "refused" and refresh["error"] == "StoreReplacedError"
    if case.kind in IN_STEP and not replaced and "failed" not in (ro["outcome"], refresh["outcome"]):
        if ro["outcome"] != refresh["outcome"]:
            found.append(f"a fresh open {ro['outcome']}, a refreshed reader {refresh['outcome']}")
        elif ro["outcome"] == "opened" and ro["digest"] != refresh["digest"]:
            found.append("a refreshed reader differs from a fresh open")
    if result["seconds"] > CASE_SECONDS:
        found.append(f"the case took {result['seconds']}s")
    if result["max_rss_mb"] > MAX_RSS_MB:
        found.append(f"the worker reached {result['max_rss_mb']} MiB")
    return found


def fuzz_campaign(tmp_path: Path, cases: int, seed: int) -> tuple[Figures, list[str]]:
    figures = Figures("structure fuzzing")
    bases = [build_base(tmp_path / f"base-{kind}", kind) for kind in ("flat", "hnsw")]
    worker = Worker(tmp_path / "worker-stderr.txt")
    failures: list[str] = []
    slowest = peak = 0.0
    try:
        for number in range(cases):
            case_dir = tmp_path / "case"
            shutil.rmtree(case_dir, ignore_errors=True)
            case_dir.mkdir()
            case = prepare(case_dir, number, seed, bases)
            result = worker.examine(case_dir)
            found = problems(case, result)
            if any(sign in problem for problem in found for sign in ("MemoryError", " at index.py:", "reached")):
                worker.close()  # FAISS failed inside (its heap may be damaged) or the peak is spent: a fresh one
            known = known_findings(case, found) if found else None
            if known:
                for name in known:
                    figures.count(f"known finding: {name}")
            elif found:
                kept = tmp_path / "findings" / f"case-{number}"
                shutil.copytree(case_dir / "original", kept)
                failures.append(f"case {number} ({case.kind}, {case.base.kind} store; {'; '.join(case.notes)}; "
                                f"kept in {kept}): {' | '.join(found)}")
                figures.count("findings")
            else:
                outcome = result["ro"]["outcome"]
                figures.count(f"{case.kind}: {outcome}")
                if result["ro"].get("damaged"):
                    figures.count(f"{case.kind}: opened with damaged rows")
                figures.count(f"refresh {result['refresh']['outcome']}")
                if result["rw"].get("refused_writes"):
                    figures.count("stores at a limit: writes refused")
            figures.count("cases")
            if "crash" not in result:
                slowest = max(slowest, result["seconds"])
                peak = max(peak, result["max_rss_mb"])
    finally:
        worker.close()
    figures.counts["slowest case (ms)"] = round(slowest * 1000)
    figures.counts["worker peak RSS (MiB)"] = round(peak)
    return figures, failures


def report(failures: list[str]) -> str:
    return f"{len(failures)} cases broke the property:\n" + "\n".join(failures[:40])


def test_rewritten_store_files_open_usable_or_are_refused_as_corrupt(tmp_path: Path) -> None:
    figures, failures = fuzz_campaign(tmp_path, FAST_CASES, seed=1)
    assert not failures, report(failures)
    assert figures.counts["cases"] == FAST_CASES
    assert all(figures.counts.get(f"{kind}: opened", 0) + figures.counts.get(f"{kind}: refused", 0)
               for kind in KINDS)
    assert figures.counts.get(f"{RECORDS}: opened with damaged rows")  # the property's third case is reached
    assert figures.counts.get(f"{GRAPH}: opened") == sum(kind == GRAPH for kind in (KINDS * FAST_CASES)[:FAST_CASES])


@pytest.mark.slow
@pytest.mark.reliability
def test_thousands_of_rewritten_store_files_open_usable_or_are_refused_as_corrupt(tmp_path: Path) -> None:
    figures, failures = fuzz_campaign(tmp_path, LONG_CASES, seed=2)
    figures.publish()
    assert not failures, report(failures)
    assert figures.counts["cases"] == LONG_CASES
