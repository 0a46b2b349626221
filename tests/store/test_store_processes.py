"""Several processes on one store: writers serialise on the lock and lose no update;
readers see new commits after refresh() and keep working across checkpoints."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
from store_helpers import PYTHON, ROOT, assert_valid_result, contents, reference_ranking, subprocess_env

from skillstore import Skill, SkillStore

WORKER = str(Path(__file__).with_name("store_worker.py"))
DIM = 8


def run_workers(*jobs: list[str], timeout: float = 120) -> list[str]:
    """Start every job at once; wait for all; return their stdouts (each must succeed).

    The workers begin their writes at the same moment, once all of them have imported."""
    env = {**subprocess_env(), "STORE_WORKER_START": str(time.time() + 1.0)}
    children = [
        subprocess.Popen(
            [PYTHON, WORKER, *job],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for job in jobs
    ]
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=timeout)
        assert child.returncode == 0, err
        outputs.append(out)
    return outputs


def test_concurrent_outcomes_from_four_processes_are_all_counted(tmp_path: Path) -> None:
    path = tmp_path / "skills"
    with SkillStore.open(path, dim=DIM) as store:
        skill_id = store.add(Skill("shared", ["go"], np.ones(DIM)))
        other = store.add(Skill("untouched", ["stay"], np.arange(DIM) + 1.0))
    run_workers(*[["outcomes", str(path), skill_id, "50"] for _ in range(4)])
    with SkillStore.open(path) as store:
        stats = store.get(skill_id).stats
        assert (stats.attempts, stats.successes, stats.failures) == (200, 100, 100)
        assert stats.total_reward == 200.0
        assert store.get(other).stats.attempts == 0
        assert store.stats()["log_frames"] == 2 + 200
        assert store.verify().ok


def test_outcomes_stay_exact_while_another_process_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "skills"
    with SkillStore.open(path, dim=DIM) as store:
        skill_id = store.add(Skill("shared", ["go"], np.ones(DIM)))
    run_workers(
        ["outcomes", str(path), skill_id, "40"],
        ["outcomes", str(path), skill_id, "40"],
        ["checkpoints", str(path), "8"],
    )
    with SkillStore.open(path) as store:
        assert store.get(skill_id).stats.attempts == 80
        assert store.generation == 9
        assert store.verify().ok
    generations = sorted(p.name for p in path.iterdir() if p.name.startswith(("snap-", "log-")))
    assert generations == ["log-00000009", "snap-00000009"]


def test_concurrent_adds_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    path = tmp_path / "skills"
    SkillStore.open(path, dim=DIM).close()
    outputs = run_workers(*[["adds", str(path), f"p{n}", "25"] for n in range(4)])
    acknowledged = [line for out in outputs for line in out.split()]
    assert len(acknowledged) == len(set(acknowledged)) == 4 * (20 + 5 * 3)
    with SkillStore.open(path) as store:
        assert {skill.id for skill in store} == set(acknowledged)
        assert len({skill.name for skill in store}) == len(store)
        assert store.verify().ok
        for n in range(4):
            assert len(store.search(np.ones(DIM), k=1000, state={"tag": f"p{n}"})) >= 20


def test_a_reader_sees_new_commits_only_after_refresh(tmp_path: Path) -> None:
    path = tmp_path / "skills"
    with SkillStore.open(path, dim=DIM) as store:
        first = store.add(Skill("first", ["a"], np.ones(DIM)))
    with SkillStore.open(path, read_only=True) as reader:
        before = contents(reader)
        (out,) = run_workers(["adds", str(path), "writer", "3"])
        added = out.split()
        run_workers(["outcomes", str(path), first, "4"])
        assert contents(reader) == before
        assert not any(skill_id in reader for skill_id in added)
        assert reader.get(first).stats.attempts == 0
        reader.refresh()
        assert all(skill_id in reader for skill_id in added)
        assert reader.get(first).stats.attempts == 4
        assert len(reader) == 1 + len(added)
        with SkillStore.open(path) as fresh:
            assert contents(reader) == contents(fresh)


def test_a_reader_keeps_working_across_a_writers_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "skills"
    rng = np.random.default_rng(2)
    with SkillStore.open(path, dim=DIM) as store:
        store.add_many([Skill(f"s{i}", [i], rng.normal(size=DIM), preconditions={"p": i % 3}) for i in range(40)])
    with SkillStore.open(path, read_only=True) as reader:
        before = contents(reader)
        old_skills = list(reader)
        (out,) = run_workers(["churn_and_checkpoint", str(path)])
        new_id = out.split()[0]
        # the generation the reader loaded stays on disk while the reader has it pinned
        assert (path / "snap-00000001").exists() and (path / "log-00000001").exists()
        assert contents(reader) == before
        query = rng.normal(size=DIM)
        assert_valid_result(
            reader.search(query, 5, state={"p": 1}), reference_ranking(old_skills, query, state={"p": 1}), 5
        )
        reader.refresh()
        assert reader.generation == 3 and new_id in reader and len(reader) == 40
        new_skills = list(reader)
        assert_valid_result(reader.search(query, 7), reference_ranking(new_skills, query), 7)
        assert reader.verify().ok
        with SkillStore.open(path) as fresh:
            assert contents(reader) == contents(fresh)
    SkillStore.open(path).close()  # the next writer removes what no reader needs any more
    assert sorted(p.name for p in path.iterdir()) == ["MANIFEST", "log-00000003", "snap-00000003"]
