"""Faults that once lost acknowledged writes, locked a store away, or escaped as
untyped errors, each reproduced with the real fault where this machine can make it:
a file-size limit, a full filesystem, a deleted or replaced directory, planted
symbolic links, files crafted with valid checksums. Only a failing ``fdatasync``
(which no filesystem here produces on demand) is simulated."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import struct
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import forge
import msgpack
import numpy as np
import pytest
from reliability_helpers import PYTHON, ROOT, contents, fill, subprocess_env

from skillstore import (
    InvalidInputError,
    Skill,
    SkillNotFoundError,
    SkillStore,
    SkillStoreError,
    StoreCorruptError,
    StoreIOError,
    StoreReplacedError,
    repair_store,
)
from skillstore.storage import log as storage_log

DIM = 8


def skills(count: int, dim: int = DIM, seed: int = 0) -> list[Skill]:
    rng = np.random.default_rng(seed)
    return [
        Skill(f"s{i}", ["a", i], rng.normal(size=dim), preconditions={"zone": i % 3}, metadata={"i": i})
        for i in range(count)
    ]


def run_python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-c", code, *args], capture_output=True, text=True, env=subprocess_env(), cwd=ROOT, timeout=timeout
    )


# -- 1. a checkpoint on a full disk or past a file-size limit ---------------------------------------


CHECKPOINT_UNDER_FSIZE = r"""
import json, resource, sys
from skillstore import SkillStore, StoreIOError
path, limit = sys.argv[1], int(sys.argv[2])
with SkillStore.open(path) as store:
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        store.checkpoint()
        outcome = "committed"
    except StoreIOError as exc:
        outcome = f"StoreIOError: {exc}"
    searched = len(store.search([1.0] * store.dim, k=3))
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    store.checkpoint()
    print(json.dumps({"outcome": outcome, "searched": searched, "generation": store.generation}))
"""


def test_a_checkpoint_past_the_file_size_limit_commits_nothing_and_keeps_the_old_generation(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=64) as store:
        store.add_many(skills(300, dim=64))
        before = contents(store)
    # the new skills file fits under the limit, the new index (300 x 64 float32) does not
    limit = 40_000
    result = run_python(CHECKPOINT_UNDER_FSIZE, str(path), str(limit))
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["outcome"].startswith("StoreIOError") and "too large" in found["outcome"].lower(), found
    assert found["searched"] == 3
    with SkillStore.open(path) as store:
        assert contents(store) == before and store.verify().ok
        assert store.generation == found["generation"]
    assert sorted(p.name for p in path.iterdir()) == [
        "MANIFEST", f"log-{found['generation']:08d}", f"snap-{found['generation']:08d}",
    ]


def test_a_checkpoint_that_fills_the_disk_keeps_every_write_and_recovers_when_space_returns(
    small_tmpfs: Callable[[int], Path],
) -> None:
    disk = small_tmpfs(2048)
    path = disk / "store"
    with SkillStore.open(path, dim=64) as store:
        ids = store.add_many(skills(1500, dim=64))
        for skill_id in ids[:50]:
            store.record_outcome(skill_id, True, 1.0)
        before = contents(store)
        ballast = fill(disk, leave=200_000)  # room for the skills file, not for the index
        with pytest.raises(StoreIOError) as caught:
            store.checkpoint()
        assert caught.value.errno == errno.ENOSPC
        assert contents(store) == before and store.generation == 1
        # a few pages come back: still not enough, still nothing committed or lost
        with open(ballast, "r+b") as handle:
            handle.truncate(max(0, ballast.stat().st_size - 64_000))
        with pytest.raises(StoreIOError):
            store.checkpoint()
        assert contents(store) == before
    with SkillStore.open(path, read_only=True) as reader:
        assert contents(reader) == before and reader.verify().ok
    ballast.unlink()
    with SkillStore.open(path) as store:
        store.checkpoint()
        store.record_outcome(ids[0], False)
        assert store.generation > 1 and store.get(ids[0]).stats.attempts == 2
    assert sorted(p.name for p in path.iterdir() if not p.name.startswith("ballast"))[0] == "MANIFEST"


# -- 1. repair keeps the chain with the most acknowledged writes --------------------------------------


CRASH_AT_MANIFEST = r"""
import os, sys
import skillstore.storage.manifest as manifest
from skillstore import SkillStore
manifest.replace_file = lambda path, data, **options: os._exit(9)  # the process dies at the commit point
with SkillStore.open(sys.argv[1]) as store:
    store.checkpoint()
"""


def test_repair_keeps_writes_acknowledged_after_a_checkpoint_died_at_its_commit_point(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store:
        first, second = store.add_many(skills(2))
        crashed = run_python(CRASH_AT_MANIFEST, str(path))
        assert crashed.returncode == 9, crashed.stderr
        assert (path / "snap-00000002").is_dir() and (path / "log-00000002").is_file()
        # the MANIFEST still names generation 1: these land in log-00000001
        third, fourth = store.add_many(skills(2, seed=1))
        store.record_outcome(first, True)
        expected = contents(store)
    data = bytearray((path / "MANIFEST").read_bytes())
    data[12] ^= 0x40
    (path / "MANIFEST").write_bytes(bytes(data))
    report = repair_store(path)
    assert report.restored_from == 1 and report.writes == 3
    assert [entry for entry in report.lost if not entry.startswith("MANIFEST")] == []
    with SkillStore.open(path) as store:
        assert contents(store) == expected


# -- 1. a reader never keeps a write that failed ---------------------------------------------------


def test_a_reader_that_saw_a_refused_append_rebuilds_and_misses_no_committed_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store"
    writer = SkillStore.open(path, dim=DIM)
    reader = SkillStore.open(path, read_only=True)
    try:
        (skill_id,) = writer.add_many(skills(1))
        real_sync = os.fdatasync

        def sync_fails_after_a_reader_looked(fd: int) -> None:
            reader.refresh()  # the frame is complete in the file: the reader applies it
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(os, "fdatasync", sync_fails_after_a_reader_looked)
        with pytest.raises(StoreIOError):
            writer.record_outcome(skill_id, True, 5.0)
        assert reader.get(skill_id).stats.successes == 1  # what a lock-free reader may briefly see
        monkeypatch.setattr(os, "fdatasync", real_sync)
        writer.record_outcome(skill_id, False, 5.0)  # a committed frame of the same length, same place
        reader.refresh()
        stats = reader.get(skill_id).stats
        assert (stats.attempts, stats.successes, stats.failures) == (1, 0, 1)
        writer.record_outcome(skill_id, True)
        reader.refresh()
        assert contents(reader) == contents(writer)
    finally:
        writer.close()
        reader.close()


# -- 1. readers keep working while a writer checkpoints back to back ---------------------------------


CHECKPOINT_LOOP = r"""
import sys, time
from skillstore import SkillStore
with SkillStore.open(sys.argv[1]) as store:
    skill_id = next(iter(store)).id
    deadline = time.monotonic() + float(sys.argv[2])
    count = 0
    while time.monotonic() < deadline:
        store.record_outcome(skill_id, True)
        store.checkpoint()
        count += 1
    print(count)
"""


def test_readers_keep_working_while_a_writer_checkpoints_back_to_back(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store:
        store.add_many(skills(200))
    child = subprocess.Popen(
        [PYTHON, "-c", CHECKPOINT_LOOP, str(path), "4"], stdout=subprocess.PIPE, text=True,
        env=subprocess_env(), cwd=ROOT,
    )
    refreshes = opens = 0
    with SkillStore.open(path, read_only=True) as reader:
        while child.poll() is None:
            reader.refresh()
            assert len(reader) == 200
            refreshes += 1
            if refreshes % 5 == 0:
                with SkillStore.open(path, read_only=True) as fresh:
                    assert len(fresh) == 200
                opens += 1
    out, _ = child.communicate()
    checkpoints = int(out)
    # the counts only show that both sides were busy (this machine may be loaded by other work)
    assert child.returncode == 0 and checkpoints >= 3 and refreshes >= 3 and opens >= 1
    with SkillStore.open(path) as store:
        assert next(iter(store)).stats.attempts == checkpoints


# -- 1. bytes inside a skill never pass for frames ---------------------------------------------------


@pytest.mark.parametrize("embedded", ["copy-of-a-frame", "frame-forged-for-this-position", "frame-of-another-log"])
def test_frames_inside_a_torn_append_do_not_make_it_corruption(tmp_path: Path, embedded: str) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store:
        store.add_many(skills(3))
        before = contents(store)
    log_path = path / "log-00000001"
    header, cursor = forge.log_state(log_path)
    other = storage_log.parse_header(storage_log.new_log(header.store_id, 1, 0), log_path)
    fake = {
        "copy-of-a-frame": log_path.read_bytes()[storage_log.HEADER_SIZE :],
        "frame-forged-for-this-position": forge.frame_bytes(header, cursor, msgpack.packb({"op": "delete", "ids": []})),
        "frame-of-another-log": forge.frame_bytes(other, storage_log.start(other), msgpack.packb({"op": "delete"})),
    }[embedded]
    reader = SkillStore.open(path, read_only=True)
    try:
        with SkillStore.open(path) as store:
            store.add(Skill("carrier", ["x"], np.ones(DIM), metadata={"blob": fake * 3}))
        data = log_path.read_bytes()
        log_path.write_bytes(data[: len(data) - 40])  # the append is torn after the embedded frames
        for options in ({}, {"read_only": True}):
            with SkillStore.open(path, **options) as store:  # type: ignore[arg-type]
                assert contents(store) == before
        reader.refresh()
        assert contents(reader) == before
    finally:
        reader.close()


# -- 1. files deleted, directories moved or replaced under open stores --------------------------------


OUTCOMES = r"""
import sys
from skillstore import SkillStore
with SkillStore.open(sys.argv[1]) as store:
    for _ in range(int(sys.argv[3])):
        store.record_outcome(sys.argv[2], True)
"""


def test_files_deleted_and_planted_beside_writers_lose_no_outcome(tmp_path: Path) -> None:
    """The writer lock is the directory itself: a LOCK file deleted or created as writers run
    (the lock of earlier releases) or any other stranger's file changes nothing."""
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store:
        (skill_id,) = store.add_many(skills(1))
    workers = [
        subprocess.Popen([PYTHON, "-c", OUTCOMES, str(path), skill_id, "300"], env=subprocess_env(), cwd=ROOT)
        for _ in range(3)
    ]
    while any(worker.poll() is None for worker in workers):
        for name in ("LOCK", "stranger.txt"):
            (path / name).write_bytes(b"x")
            (path / name).unlink()
    assert [worker.returncode for worker in workers] == [0, 0, 0]
    with SkillStore.open(path) as store:
        assert store.get(skill_id).stats.attempts == 900


def test_a_store_moved_away_refuses_writes_and_keeps_what_it_acknowledged(tmp_path: Path) -> None:
    path, moved = tmp_path / "store", tmp_path / "moved"
    with SkillStore.open(path, dim=DIM) as store, SkillStore.open(path, read_only=True) as reader:
        (skill_id,) = store.add_many(skills(1))
        before = contents(store)
        path.rename(moved)
        for call in (lambda: store.record_outcome(skill_id, True), store.checkpoint, lambda: store.delete(skill_id),
                     store.refresh, reader.refresh):
            with pytest.raises(StoreReplacedError):
                call()
        assert contents(store) == before  # the in-memory view still answers
    with SkillStore.open(moved) as store:
        assert contents(store) == before


def test_a_store_replaced_by_another_refuses_writes_to_either(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store, SkillStore.open(path, read_only=True) as reader:
        (skill_id,) = store.add_many(skills(1))
        path.rename(tmp_path / "old")
        with SkillStore.open(path, dim=DIM) as newcomer:
            newcomer.add_many(skills(2, seed=5))
            after = contents(newcomer)
        for call in (lambda: store.record_outcome(skill_id, True), store.checkpoint, reader.refresh):
            with pytest.raises(StoreReplacedError):
                call()
    with SkillStore.open(path) as newcomer:
        assert contents(newcomer) == after
    with SkillStore.open(tmp_path / "old") as old:
        assert old.get(skill_id).stats.attempts == 0


def test_a_store_deleted_under_open_handles_raises_typed_errors(tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store, SkillStore.open(path, read_only=True) as reader:
        (skill_id,) = store.add_many(skills(1))
        shutil.rmtree(path)
        for call in (lambda: store.record_outcome(skill_id, True), store.checkpoint, store.refresh, reader.refresh,
                     lambda: store.add(Skill("x", [], np.ones(DIM)))):
            with pytest.raises(StoreReplacedError):
                call()


# -- 2. hostile files with valid checksums -------------------------------------------------------------


OPEN_AND_MEASURE = r"""
import json, sys, time
from reliability_helpers import peak_memory_mb
from skillstore import SkillStore, SkillStoreError
start = time.monotonic()
outcomes = []
for read_only in (True, False):
    try:
        with SkillStore.open(sys.argv[1], read_only=read_only) as store:
            outcomes.append(f"opened with {len(store)} skills")
    except SkillStoreError as exc:
        outcomes.append(f"{type(exc).__name__}: {exc}")
print(json.dumps({"outcomes": outcomes, "seconds": time.monotonic() - start,
                  "max_rss_mb": peak_memory_mb()}))
"""


def graph_claiming_a_billion_vectors(path: Path) -> None:
    """The HNSW graph file says it holds 2**30 vectors (in the graph's and in its storage's
    header, and in the vector data's length): FAISS would allocate 32 GiB reading it."""
    snapshot = next(path.glob("snap-*"))
    data = bytearray((snapshot / "index.faiss").read_bytes())
    count = struct.pack("<q", 1 << 30)
    data[8:16] = count  # after "IHNf" and d
    storage = data.rindex(b"IxFI")
    data[storage + 8 : storage + 16] = count
    data[storage + 37 : storage + 45] = struct.pack("<Q", (1 << 30) * DIM)  # the vector data's float count
    forge.replace_snapshot_file(path, "index.faiss", bytes(data))


def columns_claiming_huge_shapes(path: Path) -> None:
    """Every per-row column of the table claims 2**40 rows, each within the file's size limit."""
    columns = forge.parse_columns((next(path.glob("snap-*")) / "columns.bin").read_bytes())

    def huge(entries: list[list[Any]]) -> list[list[Any]]:
        return [[name, dtype, [1 << 40] if nbytes == 3 * 8 else shape, offset, nbytes]
                for name, dtype, shape, offset, nbytes in entries]

    forge.replace_snapshot_file(path, "columns.bin", forge.build_columns(columns, table_edit=huge))
    manifest = forge.read_manifest_payload(path)
    manifest["skills"] = 1 << 40
    forge.rewrite_manifest_payload(path, manifest)


def record_offsets_past_the_records(path: Path) -> None:
    """Record offsets that grow by 2**40 a row, the last one equal to a records file the MANIFEST
    says is 3 TiB long: refused before anything is mapped or decoded."""
    columns = forge.parse_columns((next(path.glob("snap-*")) / "columns.bin").read_bytes())
    forge.columns_by_name(columns)["record_offsets"].set(np.arange(4, dtype="<u8") << np.uint64(40))
    forge.replace_snapshot_file(path, "columns.bin", forge.build_columns(columns))
    manifest = forge.read_manifest_payload(path)
    manifest["files"]["records.bin"][0] = 3 << 40
    forge.rewrite_manifest_payload(path, manifest)


@pytest.mark.parametrize(
    ("hostile", "kind", "expected"),
    [
        (graph_claiming_a_billion_vectors, "hnsw", "opened with 3 skills"),  # rebuilt from the vectors
        (columns_claiming_huge_shapes, "flat", "StoreCorruptError: .*shape \\(1099511627776,\\) does not fill"),
        (record_offsets_past_the_records, "flat", "StoreCorruptError: .*records.bin: snapshot file is"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_sizes_claimed_by_crafted_snapshot_files_are_refused_before_allocation(
    tmp_path: Path, hostile: Callable[[Path], None], kind: str, expected: str
) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM, index=kind) as store:
        if kind == "hnsw":
            store.configure_index("hnsw")
        store.add_many(skills(3))
        store.checkpoint()
    hostile(path)
    result = run_python(OPEN_AND_MEASURE, str(path))
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert all(re.match(expected, outcome) for outcome in found["outcomes"]), found
    assert found["seconds"] < 10 and found["max_rss_mb"] < 1024, found


def _record(**change: Any) -> dict[str, Any]:
    record = {
        "id": "forged", "name": "n", "actions": [], "preconditions": {}, "description": "", "metadata": {},
        "stats": {"attempts": 0, "successes": 0, "failures": 0, "observations": 1, "total_reward": 0.0,
                  "last_used_at": None},
        "created_at": 1.0, "updated_at": 1.0, "provenance": [],
    }
    record.update(change)
    return record


UNIT = np.eye(DIM, dtype="<f4")[0].tobytes()
HOSTILE_FRAMES: dict[str, Any] = {
    "array-key": msgpack.packb({"op": "delete", "ids": [], (1, 2): 3}, use_bin_type=True),
    "huge-attempts": {"op": "restore", "items": [{"record": _record(stats={
        "attempts": 2**64 - 1, "successes": 2**64 - 1, "failures": 0, "observations": 1, "total_reward": 0.0,
        "last_used_at": None}), "vector": UNIT}]},
    "short-vector": {"op": "restore", "items": [{"record": _record(), "vector": UNIT[:-4]}]},
    "empty-vector": {"op": "restore", "items": [{"record": _record(), "vector": b""}]},
    "nan-vector": {"op": "restore", "items": [{"record": _record(), "vector": np.full(DIM, np.nan, "<f4").tobytes()}]},
    "update-of-stats": {"op": "update", "id": "victim", "fields": {"stats": {}}, "vector": None, "at": 2.0},
    "update-renaming-the-id": {"op": "update", "id": "victim", "fields": {"id": "other"}, "vector": None, "at": 2.0},
    "int-id": {"op": "outcome", "id": 7, "success": True, "reward": None, "at": 2.0},
    "int-name": {"op": "update", "id": "victim", "fields": {"name": 7}, "vector": None, "at": 2.0},
    "time-as-text": {"op": "outcome", "id": "victim", "success": True, "reward": None, "at": "yesterday"},
    "nan-reward": {"op": "outcome", "id": "victim", "success": True, "reward": float("nan"), "at": 2.0},
    "success-as-text": {"op": "outcome", "id": "victim", "success": "no", "reward": None, "at": 2.0},
    "unknown-op": {"op": "format", "ids": []},
    "unknown-skill": {"op": "outcome", "id": "nobody", "success": True, "reward": None, "at": 2.0},
}


@pytest.mark.parametrize("case", list(HOSTILE_FRAMES))
def test_a_frame_with_valid_checksums_but_bad_content_is_refused_naming_the_file_and_offset(
    tmp_path: Path, case: str
) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store:
        store.restore_many([Skill("victim", [], np.ones(DIM), id="victim")])
    reader = SkillStore.open(path, read_only=True)
    log_path = path / "log-00000001"
    offset = forge.log_state(log_path)[1].end
    payload = HOSTILE_FRAMES[case]
    if isinstance(payload, bytes):
        forge.append_frame(log_path, None, raw_payload=payload)
    else:
        forge.append_frame(log_path, payload)
    try:
        for options in ({}, {"read_only": True}):
            with pytest.raises(StoreCorruptError) as caught:
                SkillStore.open(path, **options)  # type: ignore[arg-type]
            assert caught.value.path == str(log_path) and f"offset {offset}" in str(caught.value)
        with pytest.raises(StoreCorruptError):
            reader.refresh()
    finally:
        reader.close()


@pytest.mark.parametrize(
    "change",
    [{"M": 0}, {"efConstruction": "x"}, {"kind": "bogus"}, {"active": "ivf"}, {"kind": "flat", "M": 16}],
    ids=str,
)
def test_a_manifest_with_bad_index_parameters_is_refused_at_open(tmp_path: Path, change: dict[str, Any]) -> None:
    path = tmp_path / "store"
    SkillStore.open(path, dim=DIM, index="hnsw").close()
    manifest = forge.read_manifest_payload(path)
    manifest["index"].update(change)
    forge.rewrite_manifest_payload(path, manifest)
    for options in ({}, {"read_only": True}):
        with pytest.raises(StoreCorruptError, match="index"):
            SkillStore.open(path, **options)  # type: ignore[arg-type]


def test_planted_symbolic_links_are_never_followed(tmp_path: Path) -> None:
    path, outside = tmp_path / "store", tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_bytes(b"keep me")
    (outside / "skills.msgpack").write_bytes(b"keep me too")
    (outside / "index.faiss").write_bytes(b"and me")
    with SkillStore.open(path, dim=DIM) as store:
        store.add_many(skills(3))
        before = contents(store)
    for name in ("log-00000002", "log-00000003", "MANIFEST.tmp", "snap-00000002.tmp", "snap-00000004"):
        os.symlink(outside / "precious" if name.startswith(("log", "MANIFEST")) else outside, path / name)
    with SkillStore.open(path) as store:
        for _ in range(3):
            store.checkpoint()
        assert contents(store) == before
    assert sorted(os.listdir(outside)) == ["index.faiss", "precious", "skills.msgpack"]
    assert (outside / "precious").read_bytes() == b"keep me"
    assert (outside / "skills.msgpack").read_bytes() == b"keep me too"
    # the current log swapped for a link to a copy of itself: refused, not followed
    with SkillStore.open(path) as store:
        current = path / f"log-{store.generation:08d}"
    (outside / "copy").write_bytes(current.read_bytes())
    current.unlink()
    os.symlink(outside / "copy", current)
    with pytest.raises(StoreCorruptError, match="symbolic link"):
        SkillStore.open(path)


# -- 4. races and leaks ------------------------------------------------------------------------------


def test_update_returns_what_it_committed_while_another_thread_deletes(tmp_path: Path) -> None:
    returned, refused = set(), set()
    with SkillStore.open(tmp_path / "store", dim=DIM) as store:
        for _ in range(150):
            (skill_id,) = store.add_many(skills(1))

            def update(skill_id: str = skill_id) -> None:
                try:
                    assert store.update(skill_id, name="renamed").name == "renamed"
                    returned.add(skill_id)
                except SkillNotFoundError:
                    refused.add(skill_id)

            threads = [threading.Thread(target=update), threading.Thread(target=store.delete, args=(skill_id,))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        frames = storage_log.scan(store.path / store._manifest.log_name, store._log_header).frames
    committed = {frame["id"] for _, frame in frames if frame["op"] == "update"}
    # an update that was committed is returned; one refused wrote nothing
    assert returned == committed and not refused & committed and len(returned | refused) == 150
    assert returned  # both orders happened


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_stores_that_are_never_closed_warn_and_release_their_descriptors(tmp_path: Path) -> None:
    path = tmp_path / "store"
    SkillStore.open(path, dim=DIM).close()
    baseline = _open_descriptors()
    with pytest.warns(ResourceWarning, match="unclosed"):
        for _ in range(200):
            SkillStore.open(path)
            SkillStore.open(path, read_only=True)
    import gc

    gc.collect()
    assert _open_descriptors() <= baseline + 2


def _files_held(directory: Path) -> list[str]:
    """The files under ``directory`` that this process holds open or mapped, removed ones included."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the descriptor listdir used, closed since
            held.append(os.readlink(f"/proc/self/fd/{fd}"))
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
        held += [fields[5].strip() for fields in (line.split(None, 5) for line in maps) if len(fields) == 6]
    return sorted(name for name in held if name.startswith(f"{directory.resolve()}/"))


def test_a_closed_store_holds_no_file_so_removed_generations_give_their_space_back(tmp_path: Path) -> None:
    # A closed store kept its snapshot's memory maps (each with a descriptor of its own) for as
    # long as the object lived: once a checkpoint removed that generation, its space stayed taken.
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as writer:
        writer.add_many(skills(20))
        writer.checkpoint()
    reader = SkillStore.open(path, read_only=True)
    reader.close()
    assert _files_held(path) == []  # both objects still live here
    with SkillStore.open(path) as other:
        other.add(Skill("later", ["b"], np.ones(DIM)))
        other.checkpoint()  # removes the generation the closed stores had loaded
        assert all(f"-{other.generation:08d}" in name for name in _files_held(path))
    assert _files_held(path) == []
    for closed in (writer, reader, other):
        with pytest.raises(SkillStoreError, match="closed"):
            len(closed)
        with pytest.raises(SkillStoreError, match="closed"):
            _ = "later" in closed


def test_a_checkpoint_holds_no_file_of_the_generation_it_replaced(tmp_path: Path) -> None:
    # The log writer stayed open on the replaced log until the next write: a second checkpoint
    # on a full disk could not use the space of the log the first one had removed.
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store:
        store.add_many(skills(20))
        store.checkpoint()
        held = _files_held(path)
        assert held and all(f"-{store.generation:08d}" in name for name in held), held
        store.add(Skill("later", ["b"], np.ones(DIM)))
        assert len(store) == 21


def test_index_configuration_changes_catch_up_with_other_writers(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM, index="hnsw") as first, SkillStore.open(path) as second:
        first.add_many(skills(20))
        first.configure_index(efSearch=300)
        second.configure_index(M=8)  # second has not seen efSearch=300: it must not revert it
        assert second.stats()["index_params"] == {"M": 8, "efConstruction": 200, "efSearch": 300}
        first.configure_index(kind="flat")
        with pytest.raises(InvalidInputError):
            second.configure_index(efSearch=50)  # a tunable of HNSW: the store is flat now
        assert second.index_kind == "flat" and len(second) == 20
    with SkillStore.open(path) as store:
        assert store.index_kind == "flat"


# -- found by a review of format 2 -------------------------------------------------------------------


def test_a_store_that_lost_its_manifest_is_never_recreated_empty(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store:
        store.add_many(skills(5))
        store.checkpoint()
        store.add(Skill("logged", ["x"], np.ones(DIM)))
        before = contents(store)
    (path / "MANIFEST").unlink()
    files = sorted(p.name for p in path.iterdir())
    with pytest.raises(StoreCorruptError, match="verify PATH --repair"):
        SkillStore.open(path, dim=DIM)
    assert sorted(p.name for p in path.iterdir()) == files
    assert not repair_store(path).complete  # the MANIFEST is reported lost, the skills are not
    with SkillStore.open(path) as store:
        assert contents(store) == before


def test_a_checkpoint_whose_commit_fails_leaves_only_the_generation_in_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store:
        store.add_many(skills(4))
        before = contents(store)
        real_replace = os.replace

        def full_disk(source: Any, target: Any, **kwargs: Any) -> None:
            if str(target).endswith("MANIFEST"):
                raise OSError(errno.ENOSPC, "No space left on device")
            real_replace(source, target, **kwargs)

        monkeypatch.setattr(os, "replace", full_disk)
        with pytest.raises(StoreIOError):
            store.checkpoint()
        monkeypatch.setattr(os, "replace", real_replace)
        assert sorted(p.name for p in path.iterdir()) == ["MANIFEST", "log-00000001", "snap-00000001"]
        assert contents(store) == before
        store.record_outcome(next(iter(before)), True)
    assert repair_store(path).complete


FIFO_OPEN = r"""
import sys
from skillstore import SkillStore, StoreCorruptError
for options in ({"read_only": True}, {}):
    try:
        SkillStore.open(sys.argv[1], **options).close()
        print("opened")
    except StoreCorruptError as exc:
        print("refused")
"""


@pytest.mark.parametrize("name", ["MANIFEST", "log-00000001", "log-00000050"])
def test_a_fifo_planted_as_a_store_file_is_refused_not_waited_on(tmp_path: Path, name: str) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store:
        store.add_many(skills(2))
    if (path / name).exists():
        (path / name).unlink()
    os.mkfifo(path / name)
    result = run_python(FIFO_OPEN, str(path), timeout=60)
    assert result.returncode == 0, result.stderr
    expected = ["opened", "opened"] if name == "log-00000050" else ["refused", "refused"]
    assert result.stdout.split() == expected


def test_a_forked_writer_whose_store_moved_raises_typed_errors_and_closes_only_its_own(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store:
        store.add_many(skills(1))
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through its exit code
            code = 1
            try:
                path.rename(tmp_path / "moved")
                try:
                    store.add(Skill("x", [], np.ones(DIM)))
                except StoreReplacedError:
                    with open(tmp_path / "victim", "w") as victim:
                        store.close()
                        victim.write("still mine")
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    assert (tmp_path / "victim").read_text() == "still mine"


def test_forged_merges_past_the_bound_into_a_skill_of_the_same_frame_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "store"
    SkillStore.open(path, dim=DIM).close()
    full = _record(id="full", stats={"attempts": 0, "successes": 0, "failures": 0, "observations": 2**53 - 1,
                                     "total_reward": 0.0, "last_used_at": None})
    frame = {"op": "add", "items": [{"record": full, "vector": UNIT},
                                    {"merge": "full", "entry": {"at": 2.0, "name": "dup", "score": 1.0}}]}
    forge.append_frame(path / "log-00000001", frame)
    with pytest.raises(StoreCorruptError, match="observ"):
        SkillStore.open(path, read_only=True)


def test_a_refused_delete_frame_changes_nothing_in_a_reader(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store:
        store.restore_many([Skill("victim", [], np.ones(DIM), id="victim")])
    with SkillStore.open(path, read_only=True) as reader:
        before = contents(reader)
        forge.append_frame(path / "log-00000001", {"op": "delete", "ids": ["victim", "nobody"]})
        with pytest.raises(StoreCorruptError):
            reader.refresh()
        assert contents(reader) == before
