"""A fleet: several processes, standing in for hosts, share one PostgreSQL library at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from skillstore import SkillStore
from skillstore.preconditions import freeze

ROOT = Path(__file__).resolve().parents[2]
WORKER = str(Path(__file__).with_name("fleet_worker.py"))
HOSTS = 4
DIM = 8


def run_fleet(*jobs: list[str], timeout: float = 120) -> list[dict[str, Any]]:
    """Start every job at once (they begin writing together); return their JSON summaries."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "FLEET_START": str(time.time() + 2.0)}
    children = [subprocess.Popen([sys.executable, WORKER, *job], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env, cwd=ROOT) for job in jobs]
    summaries = []
    for child in children:
        out, err = child.communicate(timeout=timeout)
        assert child.returncode == 0, err
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    return summaries


def assert_no_duplicates(url: str, threshold: float) -> None:
    """No two skills with equal preconditions are as close as the dedup threshold."""
    with SkillStore.open(url) as library:
        skills = list(library)
    for a, b in combinations(skills, 2):
        if freeze(a.preconditions) == freeze(b.preconditions):
            assert float(np.dot(a.embedding, b.embedding)) < threshold, (a, b)


def test_hosts_adding_the_same_skills_leave_one_each_and_lose_no_outcome(pg_library: Callable[[], str]) -> None:
    url = pg_library()
    SkillStore.open(url, dim=DIM).close()
    rounds = 6
    summaries = run_fleet(*[["direct", url, str(host), str(rounds)] for host in range(HOSTS)])
    with SkillStore.open(url) as library:
        assert len(library) == rounds + HOSTS * rounds
        for r in range(rounds):
            ids = {summary["shared"][r] for summary in summaries}
            assert len(ids) == 1, f"round {r}: the hosts created {len(ids)} copies"
            shared = library.get(ids.pop())
            assert shared.stats.observations == HOSTS
            assert len(shared.provenance) == HOSTS - 1
            assert shared.stats.attempts == 2 * HOSTS
        stats = library.stats()
    assert stats["total_uses"] == sum(s["outcomes"] for s in summaries) == 3 * HOSTS * rounds
    assert stats["total_successes"] == sum(s["successes"] for s in summaries)
    assert stats["total_observations"] == 2 * HOSTS * rounds
    assert_no_duplicates(url, 0.95)


def test_agents_train_together_on_one_library(pg_library: Callable[[], str]) -> None:
    from agent.embedding import DEFAULT_DIM  # the agent's situation embedding

    url = pg_library()
    SkillStore.open(url, dim=DEFAULT_DIM).close()
    summaries = run_fleet(*[["agents", url, str(seed), "12"] for seed in range(HOSTS)])
    with SkillStore.open(url) as library:
        stats = library.stats()
    assert sum(s["adds"] for s in summaries) > 0
    # every outcome an agent reported is counted once; every add is one observation
    assert stats["total_uses"] == sum(s["uses"] for s in summaries)
    assert stats["total_observations"] == sum(s["adds"] for s in summaries)
    assert_no_duplicates(url, 0.999)
