"""Versions in the embedded store: what the log and the snapshot carry, what replay refuses,
and the versions a format-2 store's skills get when it is converted."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skillstore import STATUSES, SkillStore, StoreCorruptError, VersionStats
from skillstore.model import Skill
from skillstore.records import initial_entry
from skillstore.storage import log
from skillstore.storage.manifest import read_manifest

DIM = 4
AXES = np.eye(DIM, dtype=np.float32)
DATA = Path(__file__).parent / "data"


def append_frame(store: Path, frame: dict[str, Any]) -> None:
    """Append ``frame`` after the log's last frame, with a valid checksum chain: only replay's
    own checks can refuse it."""
    path = store / read_manifest(store).log_name
    scan = log.scan_prefix(path)
    data, _ = log.encode_frame(frame, scan.header, scan.cursor)
    path.write_bytes(path.read_bytes()[: scan.cursor.end] + data)


@pytest.fixture
def versioned(tmp_path: Path) -> tuple[Path, str]:
    """A store with one skill at version 2 (version 1 kept in its history), checkpointed."""
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store:
        skill_id = store.add(Skill("s", ["a"], AXES[0]))
        store.update(skill_id, actions=["b"], reason="shorter")
        store.checkpoint()
    return path, skill_id


def test_a_valid_forged_rollback_frame_is_applied(versioned: tuple[Path, str]) -> None:
    path, skill_id = versioned
    append_frame(path, {"op": "rollback", "id": skill_id, "version": 1, "at": 5.0, "reason": "r"})
    with SkillStore.open(path, read_only=True) as store:
        assert store.get(skill_id).actions == ["a"] and store.get(skill_id).version == 3
        assert store.history(skill_id)[-1].rollback_of == 1


@pytest.mark.parametrize(
    "frame",
    [
        {"op": "rollback", "version": 9, "at": 5.0, "reason": None},  # a version the skill never had
        {"op": "rollback", "version": 2, "at": 5.0, "reason": None},  # the current version
        {"op": "rollback", "version": "1", "at": 5.0, "reason": None},
        {"op": "rollback", "version": 0, "at": 5.0, "reason": None},
        {"op": "rollback", "version": True, "at": 5.0, "reason": None},
        {"op": "rollback", "version": 1, "at": 5.0, "reason": 7},
        {"op": "rollback", "version": 1, "at": 5.0},
        {"op": "update", "fields": {}, "vector": None, "at": 5.0, "reason": None, "status": "retired"},
        {"op": "update", "fields": {}, "vector": None, "at": 5.0, "reason": b"x", "status": None},
        {"op": "update", "fields": {}, "vector": None, "at": 5.0, "reason": None},
        {"op": "update", "fields": {"status": "active"}, "vector": None, "at": 5.0, "reason": None, "status": None},
    ],
)
def test_forged_version_frames_are_refused_on_replay(versioned: tuple[Path, str], frame: dict[str, Any]) -> None:
    path, skill_id = versioned
    append_frame(path, {**frame, "id": skill_id})
    with pytest.raises(StoreCorruptError, match="log frame at offset"):
        SkillStore.open(path, read_only=True)


def good_record(skill_id: str) -> dict[str, Any]:
    stats = {"attempts": 2, "successes": 1, "failures": 1, "observations": 1, "total_reward": 0.0,
             "last_used_at": 3.0}
    return {"id": skill_id, "name": "n", "actions": [], "preconditions": {}, "description": "", "metadata": {},
            "stats": stats, "created_at": 1.0, "updated_at": 1.0, "provenance": [], "version": 1,
            "status": "active", "history": [initial_entry(1, 1.0, stats)]}


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r.update(version=2),  # the history's last version is 1
        lambda r: r.update(status="retired"),
        lambda r: r["history"][0]["stats"].update(attempts=3, successes=2),  # more than the skill counted
        lambda r: r["history"][0].update(content={"name": "n"}),  # the current version holds no content
        lambda r: r["history"].insert(0, {**initial_entry(1, 1.0), "content": None}),  # two versions 1
        lambda r: r["history"].clear(),
        lambda r: r["history"][0].update(events=[{"at": 1.0, "status": "gone", "reason": None}]),
        lambda r: r["history"][0].update(parent=1),  # a parent must be an earlier version
    ],
)
def test_forged_records_with_bad_versions_are_refused(tmp_path: Path, damage: Any) -> None:
    path = tmp_path / "store"
    SkillStore.open(path, dim=DIM).close()
    append_frame(path, {"op": "restore", "items": [{"record": good_record("ok"), "vector": AXES[0].tobytes()}]})
    with SkillStore.open(path, read_only=True) as store:
        assert store.get("ok").version == 1  # the undamaged record is accepted
    record = good_record("bad")
    damage(record)
    append_frame(path, {"op": "restore", "items": [{"record": record, "vector": AXES[1].tobytes()}]})
    with pytest.raises(StoreCorruptError):
        SkillStore.open(path, read_only=True)


def test_status_and_version_columns_serve_search_after_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with SkillStore.open(path, dim=DIM) as store:
        ids = store.add_many([Skill(f"s{i}", [i], AXES[i % DIM]) for i in range(40)])
        for skill_id in ids[::3]:
            store.update(skill_id, status="deprecated")
        store.update(ids[1], status="candidate")
        store.checkpoint()
    with SkillStore.open(path) as store:  # the base's columns answer without decoding records
        kept = {m.id for m in store.search(np.ones(DIM), k=40)}
        assert kept == set(ids) - set(ids[::3])
        assert {m.id for m in store.search(np.ones(DIM), k=40, status="deprecated")} == set(ids[::3])
        assert [s.id for s in store.skills(status="candidate")] == [ids[1]]
        store.update(ids[0], status="active")  # a base row changed in memory
        store.delete(ids[3])
        assert {m.id for m in store.search(np.ones(DIM), k=40)} == set(ids) - set(ids[3::3])


def test_a_converted_format_2_store_gives_every_skill_one_active_version(tmp_path: Path) -> None:
    """Its snapshot's skills become version 1, active, with all their outcomes; the update
    frames of its log, replayed, make later versions as any update does."""
    path = tmp_path / "store"
    shutil.copytree(DATA / "format2-flat-store", path)
    with SkillStore.open(path) as store:
        skills = list(store.skills(status=["active", "candidate", "deprecated"]))
        assert skills and len(skills) == len(store)
        assert any(skill.version == 1 for skill in skills)
        for skill in skills:
            assert skill.status == "active"
            history = store.history(skill.id)
            assert [v.version for v in history] == list(range(1, skill.version + 1))
            stats = skill.stats
            counted = [sum(getattr(v.stats, name) for v in history) for name in ("attempts", "successes")]
            assert counted == [stats.attempts, stats.successes]
            assert history[0].created_at == skill.created_at
            if skill.version == 1:
                assert history[0].stats == VersionStats(stats.attempts, stats.successes, stats.failures,
                                                        stats.total_reward)
        first = skills[0]
        updated = store.update(first.id, actions=["new"], reason="after the conversion")
        assert updated.version == first.version + 1
    with SkillStore.open(path, read_only=True) as store:
        assert store.history(first.id)[-1].reason == "after the conversion"


def test_the_readme_versions_example_prints_what_its_comments_say() -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    section = readme[readme.index("### Versions and lifecycle") :]
    start = section.index("```python\n") + len("```python\n")
    code = section[start : section.index("```", start)]
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                            check=True)
    promised = [line.split("  # ", 1)[1].strip() for line in code.splitlines() if line.startswith("print(")]
    assert result.stdout.splitlines() == promised


def test_a_writer_killed_amid_version_writes_loses_no_acknowledged_version(tmp_path: Path) -> None:
    """SIGKILL a process that updates, rolls back, changes statuses, counts outcomes and
    checkpoints, at a different moment each round: every acknowledged version is there, with
    a history that adds up."""
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    worker = Path(__file__).parent / "versions_worker.py"
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    path = tmp_path / "skills"
    with SkillStore.open(path, dim=DIM) as store:
        store.add_many([Skill(f"s{i}", [i], AXES[i]) for i in range(3)])
    acknowledged: dict[str, tuple[int, str, int]] = {}
    for round_number, writes in enumerate((7, 40, 90, 23)):
        child = subprocess.Popen([sys.executable, str(worker), str(path)], stdout=subprocess.PIPE, text=True,
                                 env=env, cwd=root)
        assert child.stdout is not None
        lines = []
        for _ in range(writes):
            line = child.stdout.readline()
            assert line, f"the writer died on its own in round {round_number}"
            lines.append(line.split())
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        lines += [line.split() for line in child.stdout.read().splitlines()]  # acknowledged before the kill
        child.stdout.close()
        for skill_id, version, status, attempts in lines:
            acknowledged[skill_id] = (int(version), status, int(attempts))
        with SkillStore.open(path) as store:
            assert store.verify().ok, store.verify().problems
            ahead = 0  # at most one write more than acknowledged (killed after the append, before the print)
            for skill_id, (version, _, attempts) in acknowledged.items():
                skill = store.get(skill_id)
                assert skill.version in (version, version + 1) and skill.stats.attempts in (attempts, attempts + 1)
                ahead += (skill.version - version) + (skill.stats.attempts - attempts)
                history = store.history(skill_id)
                assert [v.version for v in history] == list(range(history[0].version, skill.version + 1))
                assert sum(v.stats.attempts for v in history) <= skill.stats.attempts
                np.testing.assert_array_equal(history[-1].embedding, skill.embedding)
            assert ahead <= 1
            acknowledged = {s.id: (s.version, s.status, s.stats.attempts)  # type: ignore[misc]
                            for s in store.skills(status=list(STATUSES))}
