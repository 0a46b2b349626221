"""One host of the fleet test: ``python fleet_worker.py JOB URL ARGS…``, prints a JSON summary.

Every worker waits for the moment in ``FLEET_START`` so that all of them write at once.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import numpy as np

from skillstore import Skill, SkillStore

THRESHOLD = 0.95


def wait_for_start() -> None:
    delay = float(os.environ["FLEET_START"]) - time.time()
    if delay > 0:
        time.sleep(delay)


def shared_embedding(round_number: int, dim: int) -> np.ndarray:
    """The same vector in every process for one round: all hosts learn the same skill."""
    return np.random.default_rng(1000 + round_number).normal(size=dim)


def direct(url: str, host: str, rounds: str) -> dict[str, Any]:
    """Each round: every host adds the same skill at once, then records outcomes on it and on one of its own."""
    number = int(host)
    noise = np.random.default_rng(number)
    summary: dict[str, Any] = {"shared": [], "own": [], "outcomes": 0, "successes": 0}
    with SkillStore.open(url, dedup_threshold=THRESHOLD) as library:
        wait_for_start()
        for r in range(int(rounds)):
            vector = shared_embedding(r, library.dim) + noise.normal(size=library.dim) * 1e-3
            shared = library.add(Skill(f"shared-{r}", ["step"], vector, preconditions={"round": r}))
            own = library.add(Skill(f"own-{host}-{r}", ["step"], noise.normal(size=library.dim),
                                    preconditions={"host": number}))
            summary["shared"].append(shared)
            summary["own"].append(own)
            for skill_id, success in ((shared, (number + r) % 2 == 0), (own, True), (shared, True)):
                library.record_outcome(skill_id, success, reward=1.0)
                summary["outcomes"] += 1
                summary["successes"] += int(success)
    return summary


def agents(url: str, seed: str, episodes: str) -> dict[str, Any]:
    """A GridWorld agent that learns into, and reuses, the shared library."""
    from agent import GridWorld, ProceduralMemoryAgent

    adds = 0

    def count(_: int, result: Any) -> None:
        nonlocal adds
        adds += len(result.learned)

    with SkillStore.open(url, dedup_threshold=0.999) as library:
        agent = ProceduralMemoryAgent(GridWorld(5), library, explore="random", seed=int(seed))
        wait_for_start()
        history = agent.train(int(episodes), on_episode=count)
    return {"uses": agent.total_skill_uses, "adds": adds, "successes": sum(history["successes"])}


if __name__ == "__main__":
    job, *args = sys.argv[1:]
    print(json.dumps({"direct": direct, "agents": agents}[job](*args)), flush=True)
