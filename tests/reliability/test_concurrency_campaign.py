"""Concurrency campaign: 8 processes on one store for a fixed time, 6 writers mixing
add, search, record_outcome and checkpoint, 2 lock-free readers refreshing and searching
across those checkpoints. Afterwards every count is exact, no id is duplicated, every
process saw only forward-moving, applicable results, and nobody got an error."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from reliability_helpers import HERE, PYTHON, ROOT, Figures, subprocess_env

from skillstore import Skill, SkillStore

WORKER = str(HERE / "concurrency_worker.py")
WRITERS, READERS = 6, 2
DIM = 16


def concurrency_campaign(tmp_path: Path, duration: float) -> Figures:
    figures = Figures("concurrency")
    path = tmp_path / "store"
    rng = np.random.default_rng(0)
    with SkillStore.open(path, dim=DIM) as store:
        initial = store.add_many([Skill(f"seed{i}", ["x"], rng.normal(size=DIM), preconditions={"room": i % 3})
                                  for i in range(30)])
    start = time.time() + 2.0  # after every process has imported and opened the store
    roles = ["writer"] * WRITERS + ["reader"] * READERS
    children = [
        subprocess.Popen(
            [PYTHON, WORKER, str(path), role, str(number), str(start), str(duration), str(tmp_path / f"{number}.json")],
            env=subprocess_env(), cwd=ROOT, stderr=subprocess.PIPE, text=True,
        )
        for number, role in enumerate(roles)
    ]
    for child in children:
        _, stderr = child.communicate(timeout=duration + 120)
        assert child.returncode == 0, stderr
    results = [json.loads((tmp_path / f"{number}.json").read_text()) for number in range(len(roles))]

    for number, result in enumerate(results):
        assert not result["errors"], (roles[number], result["errors"][:3])
        assert not result["violations"], (roles[number], result["violations"][:3])
        for op, count in result["ops"].items():
            figures.count(f"{roles[number]} {op}", count)
    added = [skill_id for result in results for skill_id in result["added"]]
    assert len(added) == len(set(added)), "an id was handed out twice"
    expected: dict[str, list[int]] = {skill_id: [0, 0] for skill_id in [*initial, *added]}
    for result in results:
        for skill_id, (successes, failures) in result["outcomes"].items():
            expected[skill_id][0] += successes
            expected[skill_id][1] += failures
    with SkillStore.open(path) as store:
        assert store.verify().ok
        found = {str(skill.id): skill for skill in store}
        assert set(found) == set(expected), "skills lost or invented"
        for skill_id, (successes, failures) in expected.items():
            stats = found[skill_id].stats
            assert (stats.successes, stats.failures, stats.attempts) == (successes, failures, successes + failures), (
                skill_id
            )
        for result in results:
            assert set(result["seen"]) <= set(found)
        figures.count("outcomes counted", sum(s.stats.attempts for s in found.values()))
        figures.count("skills at the end", len(found))
    return figures


def test_eight_processes_for_three_seconds_lose_nothing_and_see_consistent_results(tmp_path: Path) -> None:
    figures = concurrency_campaign(tmp_path, duration=3.0)
    assert figures.counts["writer checkpoint"] > 0 and figures.counts["reader search"] > 0


@pytest.mark.slow
@pytest.mark.reliability
def test_eight_processes_for_a_minute_lose_nothing_and_see_consistent_results(tmp_path: Path) -> None:
    figures = concurrency_campaign(tmp_path, duration=60.0)
    figures.publish(duration=60)
