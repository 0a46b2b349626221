"""The header peek, skillstore.peek: facts from the MANIFEST and log, without loading the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import DIM, LIBRARY, ok

from skillstore import (
    Skill,
    SkillStore,
    StoreCorruptError,
    StoreNotFoundError,
    peek,
)
from skillstore.cli import main


def test_facts_of_a_fresh_library(store_path: Path) -> None:
    facts = peek(store_path)
    assert (facts.format_version, facts.dim, facts.index_kind, facts.generation) == (3, DIM, "flat", 1)
    assert facts.skills == len(LIBRARY) and facts.snapshot_skills == 0
    assert facts.log_frames > 0 and facts.log_bytes == (store_path / "log-00000001").stat().st_size
    assert facts.torn_bytes == 0
    assert facts.bytes_on_disk >= facts.log_bytes + facts.snapshot_bytes
    assert facts.to_dict()["path"] == str(store_path)


def test_skill_count_follows_every_kind_of_write(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with SkillStore.open(path, dim=2, dedup_threshold=0.99) as store:

        def check() -> None:
            assert peek(path).skills == len(store)

        first, second = store.add_many(
            [Skill(name="a", actions=[], embedding=[1, 0]), Skill(name="b", actions=[], embedding=[0, 1])]
        )
        check()
        store.add(Skill(name="a again", actions=[], embedding=[1, 0.001]))  # merged into "a"
        check()
        store.update(first, embedding=[1, 1])  # a new row, the old one a tombstone
        check()
        store.record_outcome(second, True)
        store.delete(second)
        check()
        store.checkpoint()
        check()
        assert peek(path).snapshot_skills == 1 and peek(path).log_frames == 0


def test_info_does_not_read_the_snapshot(store_path: Path) -> None:
    with SkillStore.open(store_path) as store:
        store.checkpoint()
    index = next(store_path.glob("snap-*/vectors.f32"))
    index.write_bytes(b"\x00" * index.stat().st_size)  # same size, every byte wrong
    with pytest.raises(StoreCorruptError):
        SkillStore.open(store_path, read_only=True)
    assert peek(store_path).skills == len(LIBRARY)
    assert "skills" in ok("info", store_path).stdout


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError):
        peek(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "MANIFEST").write_bytes(b"SKMF" + b"\x00" * 20)
    with pytest.raises(StoreCorruptError):
        peek(tmp_path / "bad")


def test_progress_bar_on_a_terminal(
    store_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    import skillstore.cli.commands as cli

    monkeypatch.setattr(cli, "PROGRESS_THRESHOLD", 1)
    monkeypatch.setattr(cli, "PROGRESS_BYTES", 1)
    monkeypatch.setattr(cli, "_stderr_is_terminal", lambda: True)
    out = tmp_path / "skills.jsonl"
    result = CliRunner().invoke(main, ["export", str(store_path), "-o", str(out)])
    assert result.exit_code == 0 and "Exporting" in result.stderr
    result = CliRunner().invoke(main, ["import", str(tmp_path / "copy"), str(out)])
    assert result.exit_code == 0
    # every step shows: reading the file (by bytes), checking each record, and the one atomic write
    reading, checking, writing = (result.stderr.index(word) for word in ("Reading", "Checking", "Writing"))
    assert reading < checking < writing
    assert f"Writing {len(LIBRARY)} skills in one commit" in result.stderr
