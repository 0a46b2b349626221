"""What the structure-fuzzing campaign (``test_structure_fuzz_campaign``) found, each reduced to
the smallest store that shows it. Each test states the property the campaign checks: a
rewritten store either opens and stays usable (reads, verify, checkpoint, reopen), or is
refused with ``StoreCorruptError``; a reader's refresh is refused the same way, without
changing what the reader answers; nothing crashes the process.

Every finding is fixed; each stays here as a regression test.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import subprocess
from pathlib import Path

import forge
import pytest
from reliability_helpers import PYTHON, ROOT, subprocess_env

from skillstore import Skill, SkillStore, SkillStoreError, StoreCorruptError
from skillstore.storage import log
from skillstore.storage.files import crc32

LOG_HEADER = struct.Struct("<4sHH16sQQII")


def small_store(path: Path, **options: object) -> str:
    with SkillStore.open(path, dim=2, **options) as store:  # type: ignore[arg-type]
        return store.add(Skill("a", ["x"], [1.0, 0.0]))


def rewrite_log(log_file: Path, *, generation: int | None = None, base_seq: int | None = None) -> None:
    """The log with another generation or base sequence number in its header, and its frames
    numbered and chained again after it (their checksums cover the sequence number)."""
    data = log_file.read_bytes()
    payloads = []
    for offset, _ in log.scan_prefix(log_file).frames:
        (length,) = struct.unpack_from("<I", data, offset)
        payloads.append(data[offset + log.FRAME_HEADER_SIZE : offset + log.FRAME_HEADER_SIZE + length])
    magic, version, reserved, store_id, old_generation, old_base, salt, _ = LOG_HEADER.unpack_from(data)
    head = LOG_HEADER.pack(magic, version, reserved, store_id, old_generation if generation is None else generation,
                           old_base if base_seq is None else base_seq, salt, 0)[:-4]
    head += struct.pack("<I", crc32(head))
    header = log.parse_header(head, log_file)
    cursor, parts = log.start(header), [head]
    for payload in payloads:
        frame = forge.frame_bytes(header, cursor, payload)
        (checksum,) = struct.unpack_from("<I", frame, 16)
        cursor = log.Cursor(cursor.end + len(frame), cursor.seq + 1, checksum, cursor.end)
        parts.append(frame)
    log_file.write_bytes(b"".join(parts))


def test_a_refused_refresh_never_applies_a_frame_twice(tmp_path: Path) -> None:
    path = tmp_path / "store"
    skill_id = small_store(path)
    log_file = path / "log-00000001"
    with SkillStore.open(path, read_only=True) as reader:
        forge.append_frame(log_file, {"op": "outcome", "id": skill_id, "success": True, "reward": None, "at": 1.0})
        forge.append_frame(log_file, {"op": "delete", "ids": ["no-such-skill"]})
        for _ in range(3):
            with pytest.raises(StoreCorruptError):
                reader.refresh()
        assert reader.get(skill_id).stats.attempts <= 1  # it was 3: every refresh applied the outcome again


def test_a_checkpoint_at_the_last_generation_number_leaves_a_store_that_opens(tmp_path: Path) -> None:
    path = tmp_path / "store"
    small_store(path)
    last = 99_999_999  # the largest generation a MANIFEST may name
    os.rename(path / "snap-00000001", path / f"snap-{last:08d}")
    os.rename(path / "log-00000001", path / f"log-{last:08d}")
    rewrite_log(path / f"log-{last:08d}", generation=last)
    manifest = forge.read_manifest_payload(path)
    manifest["generation"] = last
    forge.rewrite_manifest_payload(path, manifest)
    with SkillStore.open(path) as store, contextlib.suppress(SkillStoreError):
        store.checkpoint()  # refusing is fine, as long as the store stays readable
    with SkillStore.open(path, read_only=True) as store:
        assert len(store) == 1


def test_a_log_numbered_past_the_last_sequence_number_is_refused_or_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "store"
    small_store(path)  # one add in the log
    last = 1 << 62
    rewrite_log(path / "log-00000001", base_seq=last)  # the add is now write number 2**62 + 1
    manifest = forge.read_manifest_payload(path)
    manifest["seq"] = last
    forge.rewrite_manifest_payload(path, manifest)
    try:
        store = SkillStore.open(path)
    except StoreCorruptError:
        return  # refusing a frame numbered past the limit is fine
    with store:
        try:
            store.checkpoint()
        except SkillStoreError as exc:  # a typed refusal at the limit is fine; the files were accepted on open
            assert not isinstance(exc, StoreCorruptError), exc
    with SkillStore.open(path, read_only=True) as store:
        assert len(store) == 1


def test_a_manifest_listing_an_unknown_snapshot_file_opens_clean_or_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store"
    small_store(path)
    manifest = forge.read_manifest_payload(path)
    manifest["files"]["other"] = [0, 0]
    forge.rewrite_manifest_payload(path, manifest)
    try:
        store = SkillStore.open(path, read_only=True)
    except StoreCorruptError:
        return
    with store:
        assert store.verify().ok, store.verify().problems


def test_a_graph_marked_untrained_is_rebuilt_from_the_vectors(tmp_path: Path) -> None:
    path = tmp_path / "store"
    small_store(path, index="hnsw")  # generation 1 holds an empty graph, the log one add
    data = bytearray((path / "snap-00000001" / "index.faiss").read_bytes())
    data[4 + 4 + 8 + 8 + 8] = 0  # is_trained: after "IHNf", d, ntotal and two unused int64
    forge.replace_snapshot_file(path, "index.faiss", bytes(data))
    with SkillStore.open(path, read_only=True) as store:
        assert len(store) == 1


OPEN_READ_ONLY = r"""
import json, sys
from skillstore import SkillStore, StoreCorruptError
try:
    with SkillStore.open(sys.argv[1], read_only=True) as store:
        print(json.dumps({"outcome": "opened", "skills": len(store)}))
except StoreCorruptError as exc:
    print(json.dumps({"outcome": "refused", "error": str(exc)}))
"""


def test_an_hnsw_graph_whose_level_probabilities_outrun_its_levels_never_crashes_an_open(tmp_path: Path) -> None:
    path = tmp_path / "store"
    small_store(path, index="hnsw")  # generation 1 holds an empty graph, the log one add
    data = (path / "snap-00000001" / "index.faiss").read_bytes()
    at = 4 + 33  # "IHNf" and the index header; then the level probabilities: a u64 count and that many doubles
    (count,) = struct.unpack_from("<Q", data, at)
    (table,) = struct.unpack_from("<Q", data, at + 8 + 8 * count)  # the neighbours-per-level table's length
    longer = [0.0] * table + [1.0]  # one more than the table has room for, all the weight on the last
    data = data[:at] + struct.pack(f"<Q{len(longer)}d", len(longer), *longer) + data[at + 8 + 8 * count :]
    forge.replace_snapshot_file(path, "index.faiss", data)
    result = subprocess.run([PYTHON, "-c", OPEN_READ_ONLY, str(path)], capture_output=True, text=True,
                            env=subprocess_env(), cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-600:]
    assert json.loads(result.stdout)["outcome"] in ("refused", "opened")
