"""Where a store keeps its embedder's identity: the MANIFEST (format 4) and, so that it
survives the MANIFEST's loss, the snapshot's columns. The two must agree; repair reads it
back from the snapshot; a store without an embedder writes files the release before reads."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import msgpack
import pytest

from skillstore import EmbedderMismatchError, LexicalEmbedder, Skill, SkillStore, StoreCorruptError, peek, repair_store
from skillstore.embedders import embedder_from_identity, identity
from skillstore.storage.columns import decode_columns

EMBEDDER = LexicalEmbedder(dim=16)


def build(path: Path) -> list[str]:
    with SkillStore.open(path, embedder=EMBEDDER) as store:
        ids = store.add_many([Skill(f"skill {i}", [f"step {i}"], None, description="open the door") for i in range(5)])
        store.checkpoint()
        store.add(Skill("after the checkpoint", ["step"], None))
    return ids


def snapshot_columns(path: Path) -> dict[str, object]:
    return decode_columns((path / f"snap-{peek(path).generation:08d}" / "columns.bin").read_bytes())


def rewrite_manifest_embedder(path: Path, embedder: dict[str, object]) -> None:
    raw = (path / "MANIFEST").read_bytes()
    payload = msgpack.unpackb(raw[8:], raw=False)
    payload["embedder"] = embedder
    packed = msgpack.packb(payload, use_bin_type=True)
    (path / "MANIFEST").write_bytes(raw[:4] + struct.pack("<I", zlib.crc32(packed)) + packed)


def test_the_snapshot_records_the_embedder_only_when_there_is_one(tmp_path: Path) -> None:
    build(tmp_path / "with")
    columns = snapshot_columns(tmp_path / "with")
    assert msgpack.unpackb(bytes(columns["embedder"]), raw=False) == identity(EMBEDDER)  # type: ignore[arg-type]
    with SkillStore.open(tmp_path / "without", dim=16) as store:
        store.add(Skill("plain", ["a"], [1.0] * 16))
        store.checkpoint()
    assert "embedder" not in snapshot_columns(tmp_path / "without")  # the columns format 3 always had


def test_a_manifest_naming_another_embedder_than_the_snapshot_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lib"
    build(path)
    other = identity(LexicalEmbedder(dim=16, min_n=2))  # same dim, valid checksums: only the identity differs
    rewrite_manifest_embedder(path, other)
    for options in ({}, {"read_only": True}):
        with pytest.raises(StoreCorruptError, match="its vectors were made by lexical"):
            SkillStore.open(path, **options)  # type: ignore[arg-type]


def test_repair_reads_the_embedder_back_from_the_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "lib"
    ids = build(path)
    (path / "MANIFEST").unlink()
    report = repair_store(path)
    assert report.skills == len(ids) + 1
    assert peek(path).embedder == identity(EMBEDDER) and peek(path).format_version == 4
    with SkillStore.open(path, embedder=EMBEDDER) as store:
        assert [m.skill.name for m in store.search(None, 1, text="skill 3")] == ["skill 3"]


class LaterLexical(LexicalEmbedder):
    """The lexical embedder as a later release might make it, with a parameter this one lacks."""

    @property
    def params(self) -> dict[str, int]:
        return {**super().params, "keep_case": 1}


def test_a_recorded_embedder_this_release_cannot_build_is_a_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "lib"
    with SkillStore.open(path, embedder=LaterLexical(dim=16)) as store:
        store.add(Skill("open door", ["toggle"], None))
    with pytest.raises(EmbedderMismatchError, match="keep_case"):
        SkillStore.open(path, embedder="recorded")
    with pytest.raises(EmbedderMismatchError, match="keep_case"):
        embedder_from_identity({"name": "lexical", "params": {"keep_case": 1}, "dim": 16})
    with SkillStore.open(path, read_only=True) as store:  # without an embedder it still opens
        assert [m.skill.name for m in store.search(None, 1, text="door")] == ["open door"]


def test_repair_trusts_the_snapshot_over_a_manifest_naming_another_embedder(tmp_path: Path) -> None:
    """The MANIFEST vouches for its snapshot's files; the embedder's identity is the snapshot's
    own. A MANIFEST (valid checksum) naming another is repaired, not taken for a lost snapshot."""
    path = tmp_path / "lib"
    ids = build(path)
    rewrite_manifest_embedder(path, identity(LexicalEmbedder(dim=16, min_n=2)))
    with pytest.raises(StoreCorruptError, match="its vectors were made by"):
        SkillStore.open(path)
    report = repair_store(path)
    assert report.skills == len(ids) + 1 and peek(path).embedder == identity(EMBEDDER)
    with SkillStore.open(path, embedder=EMBEDDER) as store:
        assert set(ids) <= {s.id for s in store} and store.search(None, 1, text="skill 3")[0].skill.name == "skill 3"


def test_repair_still_refuses_a_damaged_snapshot_in_force(tmp_path: Path) -> None:
    path = tmp_path / "lib"
    build(path)
    columns = path / f"snap-{peek(path).generation:08d}" / "columns.bin"
    data = bytearray(columns.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the MANIFEST's checksum no longer matches
    columns.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError):
        repair_store(path)  # no other intact generation: refused, nothing written
