"""Stores written by earlier releases (kept in tests/store/data, with the contents and search
results those releases read from them) open with this one and are upgraded to format 3 by
their first read-write open: format 1 (the first release), and format 2 (flat and HNSW, each
with a snapshot and log frames of every operation after it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skillstore import FormatVersionError, Skill, SkillStore, StoreCorruptError, peek

DATA = Path(__file__).parent / "data"


def fields(store: Any) -> dict[str, dict[str, Any]]:
    return {
        s.id: {
            "name": s.name, "actions": s.actions, "embedding": [float(x) for x in s.embedding],
            "preconditions": s.preconditions, "metadata": s.metadata, "stats": s.stats.to_dict(),
            "created_at": s.created_at, "updated_at": s.updated_at,
        }
        for s in store
    }


def expected() -> dict[str, dict[str, Any]]:
    raw = json.loads((DATA / "format1-expected.json").read_text())
    for skill in raw.values():  # JSON has no tuples: preconditions come back as the store keeps them
        skill["preconditions"] = {k: tuple(v) if isinstance(v, list) else v for k, v in skill["preconditions"].items()}
    return raw  # type: ignore[no-any-return]


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    shutil.copytree(DATA / "format1-store", path)
    return path


def test_a_read_write_open_upgrades_a_format_1_store_keeping_everything(old_store: Path) -> None:
    with pytest.raises(FormatVersionError, match="open it read-write once to upgrade it"):
        SkillStore.open(old_store, read_only=True)
    with SkillStore.open(old_store) as store:
        assert fields(store) == expected()
        assert store.verify().ok
        skill_id = next(iter(store)).id
        store.record_outcome(skill_id, True)
        store.add(Skill("after the upgrade", ["b"], np.ones(4)))
    assert sorted(p.name for p in old_store.iterdir()) == ["MANIFEST", "log-00000003", "snap-00000003"]
    with SkillStore.open(old_store, read_only=True) as store:
        assert len(store) == len(expected()) + 1
        assert store.get(skill_id).stats.attempts == expected()[skill_id]["stats"]["attempts"] + 1


def test_a_format_1_log_damaged_before_intact_frames_refuses_the_upgrade_and_changes_nothing(old_store: Path) -> None:
    log = old_store / "log-00000002"
    data = bytearray(log.read_bytes())
    data[20] ^= 0xFF
    log.write_bytes(bytes(data))
    before = {p.name: p.read_bytes() for p in old_store.iterdir() if p.is_file()}
    with pytest.raises(StoreCorruptError, match="release that wrote it"):
        SkillStore.open(old_store)
    assert {p.name: p.read_bytes() for p in old_store.iterdir() if p.is_file()} == before


def format_2_expected(kind: str) -> dict[str, Any]:
    return json.loads((DATA / "format2-expected.json").read_text())[kind]  # type: ignore[no-any-return]


def format_2_contents(store: Any) -> dict[str, dict[str, Any]]:
    found = fields(store)
    for skill_id, skill in found.items():
        skill["description"] = store.get(skill_id).description
        skill["preconditions"] = {k: list(v) if isinstance(v, tuple) else v for k, v in skill["preconditions"].items()}
    return found


def searches(store: Any, recorded: list[dict[str, Any]]) -> list[tuple[list[str], list[float]]]:
    found = []
    for case in recorded:
        hits = store.search(np.array(case["query"]), k=4, state=case["state"], where=case["where"])
        found.append(([m.id for m in hits], [round(m.score, 5) for m in hits]))
    return found


def recorded_searches(recorded: list[dict[str, Any]]) -> list[tuple[list[str], list[float]]]:
    return [(case["ids"], [round(score, 5) for score in case["scores"]]) for case in recorded]


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_a_format_2_store_opens_read_only_as_it_is_and_converts_on_a_read_write_open(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "store"
    shutil.copytree(DATA / f"format2-{kind}-store", path)
    want = format_2_expected(kind)
    before = {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    with SkillStore.open(path, read_only=True) as store:
        assert format_2_contents(store) == want["contents"]
        assert searches(store, want["searches"]) == recorded_searches(want["searches"])
        assert store.verify().ok
    assert {p.relative_to(path): p.read_bytes() for p in path.rglob("*") if p.is_file()} == before

    with SkillStore.open(path) as store:  # converted: a new generation of format 3
        assert store.index_kind == kind
        assert format_2_contents(store) == want["contents"]
        assert searches(store, want["searches"]) == recorded_searches(want["searches"])
    snapshot = next(path.glob("snap-*"))
    expected_files = {"columns.bin", "records.bin", "vectors.f32"} | ({"index.faiss"} if kind == "hnsw" else set())
    assert {p.name for p in snapshot.iterdir()} == expected_files
    assert sorted(p.name for p in path.iterdir()) == ["MANIFEST", f"log-{snapshot.name[5:]}", snapshot.name]
    with SkillStore.open(path, read_only=True) as store:
        assert peek(path).format_version == 3
        assert format_2_contents(store) == want["contents"]
        assert searches(store, want["searches"]) == recorded_searches(want["searches"])
        assert store.verify().ok and not store.verify().warnings


def test_skillstore_migrate_converts_a_format_2_store_and_then_has_nothing_to_do(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from skillstore.cli import main as cli

    path = tmp_path / "store"
    shutil.copytree(DATA / "format2-flat-store", path)
    first = CliRunner().invoke(cli, ["migrate", str(path)])
    assert first.exit_code == 0 and "from format 2 to format 3: 43 skills" in first.output, first.output
    again = CliRunner().invoke(cli, ["migrate", str(path)])
    assert again.exit_code == 0 and "already in format 3" in again.output
    with SkillStore.open(path, read_only=True) as store:
        assert format_2_contents(store) == format_2_expected("flat")["contents"]
