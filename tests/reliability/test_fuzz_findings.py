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
import math
import os
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import forge
import msgpack
import numpy as np
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


# -- format 3: columns, records and vectors ------------------------------------------------------------
# A snapshot's columns are checked at open; a row's record when it is read, against the public API's
# rules and against the indexes that lead to it: a row that fails raises StoreCorruptError naming it.


def columnar_store(path: Path) -> list[str]:
    """Three skills with metadata in generation 2's snapshot, nothing in the log."""
    with SkillStore.open(path, dim=2) as store:
        ids = store.add_many([Skill(f"s{i}", ["x"], [1.0, float(i)], metadata={"i": i}) for i in range(3)])
        store.checkpoint()
    return ids


def rewrite_columns(path: Path, change: Callable[[dict[str, forge.Column]], None]) -> None:
    snapshot = path / f"snap-{forge.read_manifest_payload(path)['generation']:08d}"
    columns = forge.parse_columns((snapshot / "columns.bin").read_bytes())
    change(forge.columns_by_name(columns))
    forge.replace_snapshot_file(path, "columns.bin", forge.build_columns(columns))


def damaged_rows(store: SkillStore) -> dict[str, str]:
    """The message of each skill whose reading raises StoreCorruptError, by id."""
    found = {}
    for match in store.search(None, k=len(store), rank="success"):
        try:
            match.skill  # noqa: B018 - reading it is the test
        except StoreCorruptError as exc:
            found[match.id] = str(exc)
    return found


def test_a_row_listed_under_metadata_it_does_not_hold_is_damaged_when_read(tmp_path: Path) -> None:
    path = tmp_path / "store"
    ids = columnar_store(path)

    def row_0_also_under_i_1(by: dict[str, forge.Column]) -> None:  # pair codes follow the values: i=0, 1, 2
        by["metadata_rows"].set(np.array([0, 0, 1, 2], dtype="<i8"))
        by["metadata_starts"].set(np.array([0, 1, 3, 4], dtype="<i8"))

    rewrite_columns(path, row_0_also_under_i_1)
    with SkillStore.open(path, read_only=True) as store:
        found = [m.id for m in store.search(None, k=3, where={"i": 1})]
        assert sorted(found) == sorted(ids[:2])  # the index says so; reading row 0 must then refuse
        with pytest.raises(StoreCorruptError, match="row 0: metadata differs from the metadata index"):
            store.get(ids[0])
        assert list(damaged_rows(store)) == [ids[0]]
        assert any("row 0" in problem for problem in store.verify().problems)


def test_a_record_whose_metadata_the_index_does_not_hold_is_damaged_when_read(tmp_path: Path) -> None:
    path = tmp_path / "store"
    ids = columnar_store(path)
    snapshot = path / "snap-00000002"
    columns = forge.parse_columns((snapshot / "columns.bin").read_bytes())
    offsets = forge.columns_by_name(columns)["record_offsets"].array().tolist()
    data = (snapshot / "records.bin").read_bytes()
    rows = [data[a:b] for a, b in zip(offsets, offsets[1:], strict=False)]
    fields = msgpack.unpackb(rows[2], raw=False)
    fields[4] = {"i": 7}  # the record says i=7, the index i=2
    rows[2] = msgpack.packb(fields, use_bin_type=True)
    forge.columns_by_name(columns)["record_offsets"].set(np.cumsum([0, *map(len, rows)]).astype("<u8"))
    forge.replace_snapshot_files(path, {"records.bin": b"".join(rows), "columns.bin": forge.build_columns(columns)})
    with SkillStore.open(path, read_only=True) as store:
        assert not store.search(None, k=3, where={"i": 7})
        assert list(damaged_rows(store)) == [ids[2]]
        assert any("row 2" in problem for problem in store.verify().problems)


def test_a_metadata_pair_that_is_not_a_key_and_value_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "store"
    columnar_store(path)

    def pairs_of_ints(by: dict[str, forge.Column]) -> None:
        by["metadata_pairs"].set(np.frombuffer(msgpack.packb([1, 2, 3]), dtype=np.uint8))

    rewrite_columns(path, pairs_of_ints)
    with pytest.raises(StoreCorruptError, match="metadata pair"):
        SkillStore.open(path, read_only=True)  # a where search raised TypeError


def swap_id_rows(by: dict[str, forge.Column]) -> None:
    """Rows 0 and 1 swapped in the id lookup: every column rule still holds."""
    rows = by["id_rows"].array().copy()
    first, second = int(np.flatnonzero(rows == 0)[0]), int(np.flatnonzero(rows == 1)[0])
    rows[[first, second]] = rows[[second, first]]
    by["id_rows"].set(rows)


def test_a_row_the_id_lookup_does_not_lead_to_is_damaged_when_read(tmp_path: Path) -> None:
    path = tmp_path / "store"
    ids = columnar_store(path)
    rewrite_columns(path, swap_id_rows)
    with SkillStore.open(path, read_only=True) as store:
        assert ids[2] in store and store.get(ids[2]).name == "s2"
        assert sorted(damaged_rows(store)) == sorted(ids[:2])
        problems = store.verify().problems
        assert any("row 0" in p for p in problems) and any("row 1" in p for p in problems)


def test_iteration_over_a_row_the_id_lookup_does_not_lead_to_raises(tmp_path: Path) -> None:
    path = tmp_path / "store"
    columnar_store(path)
    rewrite_columns(path, swap_id_rows)
    with SkillStore.open(path, read_only=True) as store, pytest.raises(StoreCorruptError, match="row 0"):
        list(store)  # not two skills of three, in silence


@pytest.mark.parametrize(("column", "byte", "what"), [
    ("ids", 0xFF, "ids are not UTF-8"), ("ids", 0x80, "ids: a string starts inside a character"),
    ("ids", 0, "an id holds NUL"), ("names", 0xFF, "names are not UTF-8"),
    ("names", 0x80, "names: a string starts inside a character"),
])
def test_an_id_or_name_that_is_not_utf8_on_its_own_is_refused_at_open(
    tmp_path: Path, column: str, byte: int, what: str
) -> None:
    path = tmp_path / "store"
    columnar_store(path)

    def spoil_an_id(by: dict[str, forge.Column]) -> None:
        blob = by[column].array().copy()
        blob[int(by[column[:-1] + "_offsets"].array()[1])] = byte  # the first byte of the second one
        by[column].set(blob)

    rewrite_columns(path, spoil_an_id)
    with pytest.raises(StoreCorruptError, match=what):  # was UnicodeDecodeError on the first lookup
        SkillStore.open(path, read_only=True)


def test_a_manifest_naming_a_snapshot_file_in_bytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store"
    columnar_store(path)
    manifest = forge.read_manifest_payload(path)
    manifest["files"][b"columns.bin"] = manifest["files"].pop("columns.bin")
    forge.rewrite_manifest_payload(path, manifest)
    with pytest.raises(StoreCorruptError, match="must list the snapshot files"):  # was TypeError from sorted()
        SkillStore.open(path, read_only=True)


def test_metadata_holding_nan_reads_back_after_a_checkpoint(tmp_path: Path) -> None:
    """NaN equals no copy of itself, so no metadata lookup finds it: reading the row must not
    take that for a metadata index that lacks the row."""
    path = tmp_path / "store"
    with SkillStore.open(path, dim=2) as store:
        skill_id = store.add(Skill("a", ["x"], [1.0, 0.0], metadata={"i": math.nan, "j": [1, math.nan], "k": 1}))
        store.checkpoint()
    with SkillStore.open(path, read_only=True) as store:
        metadata = store.get(skill_id).metadata
        assert math.isnan(metadata["i"]) and metadata["k"] == 1


def test_verify_finds_nothing_wrong_with_metadata_holding_nan(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=2) as store:
        store.add(Skill("a", ["x"], [1.0, 0.0], metadata={"j": [1, math.nan]}))
        store.checkpoint()
    with SkillStore.open(path, read_only=True) as store:
        assert store.verify().ok, store.verify().problems


@pytest.mark.parametrize(("spoil", "what"), [
    (lambda terms: msgpack.packb(terms) + b"\xc0", "index dictionaries cannot be decoded"),  # was ExtraData later
    (lambda terms: msgpack.packb([1, *terms[1:]]), "terms are not distinct strings"),
    (lambda terms: msgpack.packb([terms[-1], *terms[1:]]), "terms are not distinct strings"),
])
def test_a_lexical_index_whose_terms_are_malformed_is_refused_at_open(
    tmp_path: Path, spoil: Callable[[list[str]], bytes], what: str
) -> None:
    path = tmp_path / "store"
    columnar_store(path)

    def spoil_the_terms(by: dict[str, forge.Column]) -> None:
        terms = msgpack.unpackb(by["terms"].data)
        assert len(terms) >= 2
        by["terms"].set(np.frombuffer(spoil(terms), dtype=np.uint8))

    rewrite_columns(path, spoil_the_terms)
    with pytest.raises(StoreCorruptError, match=what):
        SkillStore.open(path, read_only=True)
