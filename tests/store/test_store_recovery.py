"""Reopening after crashes and damage: a torn log tail is dropped, a killed writer loses
nothing it acknowledged, and real corruption raises a typed error naming the file."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
from store_helpers import PYTHON, ROOT, contents, subprocess_env

from skillstore import FormatVersionError, Skill, SkillStore, StoreCorruptError
from skillstore.storage import log as storage_log

DIM = 4
LOG = "log-00000001"
WORKER = str(Path(__file__).with_name("store_worker.py"))


def build(path: Path) -> tuple[dict[str, Any], dict[str, Any], int]:
    """A store whose log holds several frames. Returns the contents before and after the
    last write, and the log's size before that write."""
    with SkillStore.open(path, dim=DIM) as store:
        ids = store.add_many([Skill(f"s{i}", [i], np.eye(DIM)[i] + 0.1) for i in range(3)])
        store.record_outcome(ids[0], True)
        store.update(ids[1], name="renamed", embedding=[1, 1, 0, 0])
        store.delete(ids[2])
        before_last = contents(store)
        size_before_last = (path / LOG).stat().st_size
        store.add(Skill("last", ["x" * 40], [0, 0, 1, 1], metadata={"big": "y" * 60}))
        return before_last, contents(store), size_before_last


def _cut(keep: Callable[[int, int], int], tail: bytes = b"") -> Callable[[Path, int], None]:
    def damage(log: Path, last_frame_at: int) -> None:
        data = log.read_bytes()
        log.write_bytes(data[: keep(last_frame_at, len(data))] + tail)

    return damage


TORN_TAILS = {
    # (damage, whether the last, never-acknowledged write survives)
    "cut-mid-payload": (_cut(lambda start, end: end - 17), False),
    "cut-mid-header": (_cut(lambda start, end: start + 5), False),
    "cut-after-header": (_cut(lambda start, end: start + storage_log.FRAME_HEADER_SIZE), False),
    "cut-mid-payload-then-zeros": (_cut(lambda start, end: end - 30, b"\0" * 4096), False),
    "zeros-after-last-frame": (_cut(lambda start, end: end, b"\0" * 100), True),
    "a-few-zeros-after-last-frame": (_cut(lambda start, end: end, b"\0" * 7), True),
    "garbage-after-last-frame": (_cut(lambda start, end: end, b"\xde\xad\xbe\xef" * 9 + b"garbage"), True),
    "cut-mid-payload-then-garbage": (_cut(lambda start, end: end - 10, os.urandom(64)), False),
    "a-copy-of-a-partial-frame": (
        lambda log, start: log.write_bytes(log.read_bytes() + log.read_bytes()[start:-3]),
        True,
    ),
}


@pytest.mark.parametrize("damage", list(TORN_TAILS))
@pytest.mark.parametrize("read_only", [False, True])
def test_reopen_after_a_torn_log_tail_keeps_every_complete_frame(tmp_path: Path, damage: str, read_only: bool) -> None:
    path = tmp_path / "skills"
    before_last, after_last, last_frame_at = build(path)
    harm, last_survives = TORN_TAILS[damage]
    harm(path / LOG, last_frame_at)
    expected = after_last if last_survives else before_last
    with SkillStore.open(path, read_only=read_only) as store:
        assert contents(store) == expected
        report = store.verify()
        assert report.ok, report.problems
        assert any("unfinished append" in w for w in report.warnings)
    with SkillStore.open(path) as store:
        assert contents(store) == expected
        # the next write cuts the torn bytes off and lands where a reader finds it
        new_id = store.add(Skill("after", [], [1, 0, 1, 0]))
        assert store.verify().ok and store.verify().warnings == []
        expected = contents(store)
    with SkillStore.open(path, read_only=True) as store:
        assert contents(store) == expected and new_id in store


def _frame_offsets(log: Path) -> list[int]:
    data, offsets, pos = log.read_bytes(), [], storage_log.HEADER_SIZE
    while pos < len(data):
        offsets.append(pos)
        (length,) = struct.unpack_from("<I", data, pos)
        pos += storage_log.FRAME_HEADER_SIZE + length
    return offsets


@pytest.mark.parametrize("where", ["payload", "length", "payload-crc", "header-crc"])
def test_a_flipped_bit_before_valid_frames_raises_store_corrupt_naming_the_log(tmp_path: Path, where: str) -> None:
    path = tmp_path / "skills"
    build(path)
    log = path / LOG
    offsets = _frame_offsets(log)
    assert len(offsets) == 5
    position = offsets[1] + {"payload": 30, "length": 1, "payload-crc": 17, "header-crc": 21}[where]
    data = bytearray(log.read_bytes())
    data[position] ^= 0x10
    log.write_bytes(bytes(data))
    for options in ({}, {"read_only": True}):
        with pytest.raises(StoreCorruptError) as caught:
            SkillStore.open(path, **options)  # type: ignore[arg-type]
        assert caught.value.path == str(log)
        assert str(log) in str(caught.value)


def test_corruption_appearing_under_an_open_store_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "skills"
    build(path)
    with SkillStore.open(path, read_only=True) as reader:
        data = bytearray((path / LOG).read_bytes())
        data[30] ^= 0xFF
        (path / LOG).write_bytes(bytes(data))
        report = reader.verify()
        assert not report.ok and any("log" in p for p in report.problems)


def _manifest(path: Path) -> Path:
    return path / "MANIFEST"


def _rewrite_manifest(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    raw = _manifest(path).read_bytes()
    payload = msgpack.unpackb(raw[8:], raw=False)
    change(payload)
    packed = msgpack.packb(payload, use_bin_type=True)
    _manifest(path).write_bytes(raw[:4] + struct.pack("<I", zlib.crc32(packed)) + packed)


MANIFEST_DAMAGE: dict[str, Callable[[Path], None]] = {
    "bit-flip": lambda p: p.write_bytes(bytes(b ^ (0x01 if i == 20 else 0) for i, b in enumerate(p.read_bytes()))),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[:3]),
    "cut-payload": lambda p: p.write_bytes(p.read_bytes()[:-5]),
    "empty": lambda p: p.write_bytes(b""),
    "bad-magic": lambda p: p.write_bytes(b"XXXX" + p.read_bytes()[4:]),
    "not-msgpack": lambda p: p.write_bytes(b"SKMF" + struct.pack("<I", zlib.crc32(b"\xc1\xc1")) + b"\xc1\xc1"),
    "huge": lambda p: p.write_bytes(b"SKMF" + b"\0" * (2 << 20)),
}


@pytest.mark.parametrize("damage", list(MANIFEST_DAMAGE))
def test_a_corrupt_manifest_raises_store_corrupt(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "skills"
    build(path)
    MANIFEST_DAMAGE[damage](_manifest(path))
    for options in ({}, {"read_only": True}, {"dim": DIM}):
        with pytest.raises(StoreCorruptError) as caught:
            SkillStore.open(path, **options)  # type: ignore[arg-type]
        assert caught.value.path == str(_manifest(path))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda m: m.pop("dim"), id="no-dim"),
        pytest.param(lambda m: m.update(files="nope"), id="files-not-a-map"),
        pytest.param(lambda m: m.update(skills=99), id="wrong-skill-count"),
        pytest.param(lambda m: m["files"].clear(), id="no-files"),
    ],
)
def test_a_manifest_with_bad_fields_raises_store_corrupt(
    tmp_path: Path, change: Callable[[dict[str, Any]], None]
) -> None:
    path = tmp_path / "skills"
    build(path)
    _rewrite_manifest(path, change)
    with pytest.raises(StoreCorruptError):
        SkillStore.open(path)


@pytest.mark.parametrize("version", [5, 0, "3", None])
def test_an_unknown_format_version_raises_format_version_error(tmp_path: Path, version: Any) -> None:
    path = tmp_path / "skills"
    _, after, _ = build(path)
    _rewrite_manifest(path, lambda m: m.update(format=version))
    for options in ({}, {"read_only": True}):
        with pytest.raises(FormatVersionError, match="format version"):
            SkillStore.open(path, **options)  # type: ignore[arg-type]
    _rewrite_manifest(path, lambda m: m.update(format=3))
    with SkillStore.open(path) as store:
        assert contents(store) == after


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda m: m.update(format=4), "has fields"),  # format 4 names an embedder
        (lambda m: m.update(embedder={"name": "lexical", "params": {}, "dim": 8}), "has fields"),  # format 3 does not
        (lambda m: m.update(format=4, embedder={"name": "lexical", "params": {}, "dim": 9}), "dim 9"),
        (lambda m: m.update(format=4, embedder={"name": "", "params": {}, "dim": 8}), "name"),
        (lambda m: m.update(format=4, embedder={"name": "x", "params": {"k": [1]}, "dim": 8}), "scalar"),
        (lambda m: m.update(format=4, embedder=["lexical"]), "identity"),
    ],
)
def test_a_crafted_embedder_record_is_refused(tmp_path: Path, change: Any, complaint: str) -> None:
    path = tmp_path / "skills"
    _, after, _ = build(path)
    _rewrite_manifest(path, change)
    for options in ({}, {"read_only": True}):
        with pytest.raises(StoreCorruptError, match=complaint):
            SkillStore.open(path, **options)  # type: ignore[arg-type]


def test_a_format_3_store_claiming_format_1_is_not_upgraded(tmp_path: Path) -> None:
    """Format 1 is upgraded on a read-write open (see test_store_upgrade.py), but only a
    store that really is one: a format-3 MANIFEST relabelled 1 is refused, and nothing changes."""
    path = tmp_path / "skills"
    _, after, _ = build(path)
    _rewrite_manifest(path, lambda m: m.update(format=1))
    with pytest.raises(FormatVersionError, match="format version 1"):
        SkillStore.open(path, read_only=True)
    with pytest.raises(StoreCorruptError, match="MANIFEST of format 1 has fields"):
        SkillStore.open(path)
    _rewrite_manifest(path, lambda m: m.update(format=3))
    with SkillStore.open(path) as store:
        assert contents(store) == after


@pytest.mark.parametrize("name", ["columns.bin", "records.bin", "vectors.f32"])
@pytest.mark.parametrize("harm", ["bit-flip", "truncate", "delete"])
def test_a_damaged_snapshot_file_raises_store_corrupt_naming_it(tmp_path: Path, name: str, harm: str) -> None:
    path = tmp_path / "skills"
    with SkillStore.open(path, dim=DIM) as store:
        store.add_many([Skill(f"s{i}", [i], np.eye(DIM)[i]) for i in range(3)])
        store.checkpoint()
    target = path / "snap-00000002" / name
    data = bytearray(target.read_bytes())
    if harm == "bit-flip":
        data[len(data) // 2] ^= 0x04
        target.write_bytes(bytes(data))
    elif harm == "truncate":
        target.write_bytes(bytes(data[:-1]))
    else:
        target.unlink()
    for options in ({}, {"read_only": True}):
        with pytest.raises(StoreCorruptError) as caught:
            SkillStore.open(path, **options)  # type: ignore[arg-type]
        assert caught.value.path == str(target)


def test_a_missing_log_raises_store_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "skills"
    build(path)
    (path / LOG).unlink()
    with pytest.raises(StoreCorruptError, match=LOG):
        SkillStore.open(path)


def test_leftovers_of_a_crashed_checkpoint_are_ignored_then_removed(tmp_path: Path) -> None:
    path = tmp_path / "skills"
    _, after, _ = build(path)
    # a checkpoint that died before its MANIFEST: a half-written temporary snapshot, a whole
    # next generation (snapshot and log) the MANIFEST never named, and a temporary MANIFEST
    with SkillStore.open(path) as store:
        store_id = store._manifest.store_id
    (path / "snap-00000002.tmp-0123456789abcdef").mkdir()
    (path / "snap-00000002.tmp-0123456789abcdef" / "skills.msgpack").write_bytes(b"half")
    (path / "snap-00000002").mkdir()
    (path / "snap-00000002" / "skills.msgpack").write_bytes(b"whole")
    (path / "log-00000002").write_bytes(storage_log.new_log(store_id, 2, 9))
    (path / "MANIFEST.tmp-0123456789abcdef").write_bytes(b"junk")
    with SkillStore.open(path) as store:
        assert contents(store) == after and store.generation == 1
        store.checkpoint()
        assert contents(store) == after and store.generation == 2
    assert sorted(p.name for p in path.iterdir()) == ["MANIFEST", "log-00000002", "snap-00000002"]


def test_files_that_only_look_like_a_stores_own_are_never_removed(tmp_path: Path) -> None:
    """Only what the store can prove it wrote is removed: file names of its snapshots
    inside a snapshot directory, and logs whose header carries the store's id."""
    path = tmp_path / "skills"
    _, after, _ = build(path)
    planted = {
        "log-20240101": b"a diary, not a log",
        "log-00000002": storage_log.new_log(b"another store id", 2, 0),
        "snap-20240101/photo.jpg": b"\xff\xd8",
        "snap-00000001.tmp-0123456789abcdef/notes.txt": b"mine",
        "MANIFEST.tmp": b"not a temporary name the store makes",
    }
    for name, data in planted.items():
        (path / name).parent.mkdir(exist_ok=True)
        (path / name).write_bytes(data)
    with SkillStore.open(path) as store:
        for _ in range(3):
            store.checkpoint()
        assert contents(store) == after
    for name, data in planted.items():
        assert (path / name).read_bytes() == data, name
    with SkillStore.open(path) as store:
        assert contents(store) == after


def test_a_writer_killed_mid_run_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """SIGKILL a process that adds, records outcomes, updates, deletes and checkpoints in
    a loop, at a different moment each round; everything it acknowledged is there."""
    path = tmp_path / "skills"
    SkillStore.open(path, dim=DIM).close()
    alive: set[str] = set()
    attempts: dict[str, int] = {}
    for round_number, acknowledgements in enumerate((15, 60, 140, 37)):
        child = subprocess.Popen(
            [PYTHON, WORKER, "forever", str(path)], stdout=subprocess.PIPE, text=True, env=subprocess_env(), cwd=ROOT
        )
        assert child.stdout is not None
        lines = []
        for _ in range(acknowledgements):
            line = child.stdout.readline()
            assert line, f"the writer died on its own in round {round_number}"
            lines.append(line.split())
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        # the writer kept going while we read: what it printed before the kill is acknowledged too
        lines += [line.split() for line in child.stdout.read().splitlines()]
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        for kind, skill_id, *rest in lines:
            if kind == "add":
                alive.add(skill_id)
            elif kind == "delete":
                alive.discard(skill_id)
            elif kind == "outcome":
                attempts[skill_id] = int(rest[0])
        with SkillStore.open(path) as store:
            assert store.verify().ok, store.verify().problems
            ids = {skill.id for skill in store}
            # acknowledged adds are there, acknowledged deletes gone; at most one write
            # more than acknowledged may have landed (killed after the append, before the print)
            assert len(alive ^ ids) <= 1, (alive - ids, ids - alive)
            for skill_id, count in attempts.items():
                if skill_id in ids:
                    assert store.get(skill_id).stats.attempts in (count, count + 1)
            alive = ids
            attempts = {skill.id: skill.stats.attempts for skill in store}


@pytest.mark.parametrize("harm", ["bit-flip", "truncate", "delete", "other-vectors"])
def test_a_damaged_hnsw_graph_is_rebuilt_from_the_vectors_and_no_skill_is_lost(tmp_path: Path, harm: str) -> None:
    path = tmp_path / "skills"
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(300, DIM))
    with SkillStore.open(path, dim=DIM, index="hnsw") as store:
        store.add_many([Skill(f"s{i}", [i], vectors[i]) for i in range(300)])
        store.checkpoint()
        expected = [[m.id for m in store.search(q, k=5)] for q in vectors[:20]]
        before = contents(store)
    (snapshot,) = path.glob("snap-*")
    target = snapshot / "index.faiss"
    data = bytearray(target.read_bytes())
    if harm == "bit-flip":
        data[len(data) // 3] ^= 0x10
        target.write_bytes(bytes(data))
    elif harm == "truncate":
        target.write_bytes(bytes(data[: len(data) // 2]))
    elif harm == "delete":
        target.unlink()
    else:  # a valid graph with valid checksums, over other vectors: it must not be trusted
        with SkillStore.open(tmp_path / "other", dim=DIM, index="hnsw") as other:
            other.add_many([Skill(f"o{i}", [i], rng.normal(size=DIM)) for i in range(300)])
            other.checkpoint()
        (other_snapshot,) = (tmp_path / "other").glob("snap-*")
        forged = (other_snapshot / "index.faiss").read_bytes()
        target.write_bytes(forged)
        _rewrite_manifest(path, lambda m: m["files"].update({"index.faiss": [len(forged), zlib.crc32(forged)]}))
    for options in ({"read_only": True}, {}):
        with SkillStore.open(path, **options) as store:  # type: ignore[arg-type]
            assert contents(store) == before
            assert [[m.id for m in store.search(q, k=5)] for q in vectors[:20]] == expected
            assert any("HNSW graph rebuilt" in warning for warning in store.verify().warnings)
            if not options:
                store.checkpoint()  # writes the rebuilt graph
    with SkillStore.open(path, read_only=True) as store:
        assert store.verify().ok and not store.verify().warnings


def test_damaged_vectors_are_named_by_their_rows(tmp_path: Path) -> None:
    path = tmp_path / "skills"
    with SkillStore.open(path, dim=DIM) as store:
        store.add_many([Skill(f"s{i}", [i], np.eye(DIM)[i % DIM] + 0.01 * i) for i in range(5000)])
        store.checkpoint()
    target = path / "snap-00000002" / "vectors.f32"
    data = bytearray(target.read_bytes())
    data[4100 * DIM * 4 + 2] ^= 0x01  # a row of the second block of 4096 rows
    target.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError, match="damaged rows: 4096-4999") as caught:
        SkillStore.open(path, read_only=True)
    assert caught.value.path == str(target)
