"""Structure-aware fuzzing of every store file: the decoders' validation, not the checksums.

Each case copies a small valid store (flat or HNSW: skills with preconditions and metadata,
outcomes, updates, a delete, a checkpoint, then log frames of every operation), picks one
file and rewrites its *content* the way a forger who knows the format would: the MANIFEST
payload, the snapshot's ``skills.msgpack`` or ``index.faiss``, the log's header, a log
frame's payload (rewritten in place or appended), or several files consistently. Values of
decoded msgpack are swapped for other types, extreme numbers, NaN, ext types, deep nesting,
duplicate or unhashable keys, other ids, other operations; FAISS header fields, HNSW graph
arrays and vector data are changed at their known offsets. Every checksum, the log salt and
the frame chain are then recomputed, so only validation stands between the bytes and the store.

The property, for opening read-only, opening read-write and refreshing a reader that was
open before the change: either it works, and then the store is usable (len, iteration,
search, stats, a clean verify; for read-write also writes and a checkpoint, refused only
with the typed error of one of the store's limits, and a reopen that gives back what the
writer held), or it raises ``StoreCorruptError`` (``FormatVersionError`` only when the
MANIFEST's format field changed, ``StoreReplacedError`` only for a refresh after the store
id changed). A refused refresh leaves the reader usable, and refreshing again changes
nothing. Never another exception, a crash, a hang, more than a few seconds or 1 GiB.
Cases run in a child process (``fuzz_worker``) that the parent watches.

Mutations are chosen by ``random.Random`` seeded per case, so a case number and seed name
one rewrite; findings that skillstore has yet to fix are listed in ``KNOWN_FINDINGS``.
"""

from __future__ import annotations

import copy
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

import forge
import msgpack
import numpy as np
import pytest
from fuzz_worker import digest
from reliability_helpers import HERE, PYTHON, Figures, subprocess_env

from skillstore import Skill, SkillStats, SkillStore
from skillstore.codec import unpack
from skillstore.storage import log
from skillstore.storage.files import crc32

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


def unit(values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return array / np.linalg.norm(array)


def build_base(path: Path, kind: str) -> Base:
    rng = np.random.default_rng(11)
    with SkillStore.open(path, dim=DIM, index=kind, durability="flush") as store:
        if kind == "hnsw":
            store.configure_index("hnsw", M=4)
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
                frames)


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
        "format": pick(rng, [1, 3, 2.0, "2", None, True, -1, 2**64 - 1]),
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
            ({k: v for k, v in old.items() if k != "skills.msgpack"}, "skills.msgpack unlisted"),
            ({k: v for k, v in old.items() if k != "index.faiss"}, "index.faiss unlisted"),
            ({**old, "other": [0, 0]}, "an unknown file listed"),
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


# -- the snapshot's records -----------------------------------------------------------------------


def record_targets(m: Mutator, records: list[Any]) -> dict[str, Callable[[Any], tuple[Any, str]]]:
    rng = m.rng
    other_ids = [r["id"] for r in records if isinstance(r, dict) and "id" in r]
    counter = pick(rng, COUNTERS)
    return {
        "id": lambda old: rng.choice([(rng.choice(other_ids), "another record's id"), *[
            (i, f"id {i!r:.30}") for i in m.id_pool]]),
        "stats": lambda old: rng.choice([
            ({**old, rng.choice(["attempts", "successes", "failures", "observations"]): rng.choice(COUNTERS)},
             "a counter changed"),
            ({**old, "total_reward": rng.choice([math.nan, math.inf, -math.inf, "1", None, 2**64 - 1, 1e308])},
             "total_reward changed"),
            ({**old, "last_used_at": rng.choice(TIMES)}, "last_used_at changed"),
            ({k: v for k, v in old.items() if k != rng.choice(list(old))} if isinstance(old, dict) else {},
             "a stats field dropped"),
            ({**old, "extra": 1} if isinstance(old, dict) else {}, "unknown stats field"),
            ({"attempts": 2**63 - 1, "successes": 2**63 - 1, "failures": 0, "observations": 1, "total_reward": 0.0,
              "last_used_at": None}, "counters at the int64 limit"),
            ({"attempts": 2**64 - 1, "successes": 2**64 - 1, "failures": 0, "observations": 2**64 - 1,
              "total_reward": 0.0, "last_used_at": None}, "counters past the int64 limit"),
            ([], "stats as list"),
            (None, "stats None"),
        ]),
        "attempts": counter, "successes": counter, "failures": counter, "observations": counter,
        "total_reward": pick(rng, [math.nan, math.inf, -math.inf, 1e308, "0", None, True, 2**64 - 1]),
        "last_used_at": pick(rng, TIMES),
        "created_at": pick(rng, TIMES),
        "updated_at": pick(rng, TIMES),
        "provenance": pick(rng, [[], [1], [{"at": math.nan}], ["x"], {"a": 1}, None,
                                 [{"at": 1.0, "name": "n", "score": 0.5}] * 30, [{1: 2}]]),
        "preconditions": pick(rng, [{"room": [1, 2]}, {1: 2}, {"k": {"nested": [1]}}, {"room": math.nan},
                                    {"room": b"1"}, None, [], {"": None}, {"room": msgpack.ExtType(3, b"")}]),
        "metadata": pick(rng, [{"i": math.nan}, {"i": msgpack.ExtType(3, b"x")}, {b"k": 1}, None, [1],
                               {"i": [1, {"2": 3}]}, {"i": 2**64 - 1}]),
        "name": pick(rng, ["", "n" * 4097, 1, None, b"name", ["n"]]),
        "description": pick(rng, [None, 1, b"d", "d" * 100_000]),
        "actions": pick(rng, [None, [], {"a": 1}, msgpack.ExtType(1, b""), [math.nan], b"raw"]),
    }


def mutate_records(store: Path, m: Mutator) -> None:
    path = snapshot(store) / "skills.msgpack"
    records: Any = msgpack.unpackb(path.read_bytes(), raw=False, strict_map_key=False)
    for _ in range(mutation_count(m.rng)):
        if m.rng.random() < 0.15 and isinstance(records, list) and records:
            records, label = whole_records(m.rng, records)
            m.note(label)
        else:
            records = m.tree(records, record_targets(m, records if isinstance(records, list) else []))
    data = encode(records)
    forge.replace_snapshot_file(store, "skills.msgpack", data)
    if m.rng.random() < 0.5 and isinstance(records, list):  # keep the MANIFEST's count in step
        manifest = forge.read_manifest_payload(store)
        manifest["skills"] = len(records)
        forge.rewrite_manifest_payload(store, manifest)


def whole_records(rng: random.Random, records: list[Any]) -> tuple[list[Any], str]:
    index = rng.randrange(len(records))
    choice = rng.randrange(4)
    if choice == 0:
        return records[:index] + records[index + 1 :], f"record {index} dropped"
    if choice == 1:
        return [*records, copy.deepcopy(records[index])], f"record {index} repeated"
    if choice == 2:
        return records[::-1], "records reversed"
    other = rng.randrange(len(records))
    changed = copy.deepcopy(records)
    if isinstance(changed[index], dict) and isinstance(records[other], dict):
        changed[index]["id"] = records[other].get("id")
    return changed, f"record {index} takes the id of record {other}"


def snapshot(store: Path) -> Path:
    return store / f"snap-{forge.read_manifest_payload(store)['generation']:08d}"


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
    m.note("index of the other kind of base store")
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

KINDS = ["MANIFEST", "skills.msgpack", "index.faiss", "log header", "log frame", "log append", "several files"]
IN_STEP = {"skills.msgpack", "index.faiss", "log frame", "log append", "several files"}  # refresh == fresh open


@dataclass
class Case:
    number: int
    kind: str
    base: Base
    notes: list[str]
    format_changed: bool = False
    store_id_changed: bool = False


def prepare(case_dir: Path, number: int, seed: int, bases: list[Base], other_index: dict[str, bytes]) -> Case:
    rng = random.Random(f"{seed}-{number}")
    kind = KINDS[number % len(KINDS)]
    base = bases[number // len(KINDS) % len(bases)]
    mutated = case_dir / "mutated"
    shutil.copytree(base.path, mutated)
    m = Mutator(rng, base)
    if kind == "MANIFEST":
        mutate_manifest(mutated, m)
    elif kind == "skills.msgpack":
        mutate_records(mutated, m)
    elif kind == "index.faiss":
        mutate_index(mutated, m, other_index[base.kind])
    elif kind == "log header":
        mutate_log_header(mutated, m)
    elif kind == "log frame":
        mutate_frames(mutated, m)
    elif kind == "log append":
        append_frames(mutated, m)
    else:
        renumber(mutated, m)
    case = Case(number, kind, base, m.notes)
    raw = decode((mutated / "MANIFEST").read_bytes()[8:])
    case.format_changed = not (isinstance(raw, dict) and raw.get("format") == base.manifest["format"])
    case.store_id_changed = not (isinstance(raw, dict) and raw.get("store_id") == base.manifest["store_id"])
    shutil.copytree(base.path, case_dir / "reader")
    if kind in ("skills.msgpack", "index.faiss"):
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
    if case.kind == "several files" and ro["outcome"] == "refused":
        found.append("a consistently renumbered store is refused")
    if case.kind == "several files" and ro["outcome"] == "opened" and ro["digest"] != case.base.digest:
        found.append("a consistently renumbered store opens with other contents")
    if result["seconds"] > CASE_SECONDS:
        found.append(f"the case took {result['seconds']}s")
    if result["max_rss_mb"] > MAX_RSS_MB:
        found.append(f"the worker reached {result['max_rss_mb']} MiB")
    return found


def fuzz_campaign(tmp_path: Path, cases: int, seed: int) -> tuple[Figures, list[str]]:
    figures = Figures("structure fuzzing")
    bases = [build_base(tmp_path / f"base-{kind}", kind) for kind in ("flat", "hnsw")]
    index_of = {b.kind: (snapshot(b.path) / "index.faiss").read_bytes() for b in bases}
    other_index = {"flat": index_of["hnsw"], "hnsw": index_of["flat"]}
    worker = Worker(tmp_path / "worker-stderr.txt")
    failures: list[str] = []
    slowest = peak = 0.0
    try:
        for number in range(cases):
            case_dir = tmp_path / "case"
            shutil.rmtree(case_dir, ignore_errors=True)
            case_dir.mkdir()
            case = prepare(case_dir, number, seed, bases, other_index)
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


@pytest.mark.slow
@pytest.mark.reliability
def test_thousands_of_rewritten_store_files_open_usable_or_are_refused_as_corrupt(tmp_path: Path) -> None:
    figures, failures = fuzz_campaign(tmp_path, LONG_CASES, seed=2)
    figures.publish()
    assert not failures, report(failures)
    assert figures.counts["cases"] == LONG_CASES
