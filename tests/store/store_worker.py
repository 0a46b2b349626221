"""A child process for the multi-process and crash tests: ``python store_worker.py JOB PATH ARGS…``.

Every acknowledged write is printed (and flushed) before the next one starts, so the
parent knows exactly which writes returned to their caller.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from skillstore import Skill, SkillStore


def outcomes(path: str, skill_id: str, count: str) -> None:
    with SkillStore.open(path) as store:
        for i in range(int(count)):
            store.record_outcome(skill_id, i % 2 == 0, reward=1.0)
    print("done", flush=True)


def adds(path: str, tag: str, count: str) -> None:
    rng = np.random.default_rng(abs(hash(tag)) % 2**32)
    with SkillStore.open(path) as store:
        for i in range(int(count)):
            if i % 5 == 4:
                ids = store.add_many([Skill(f"{tag}-{i}-{j}", [i, j], rng.normal(size=store.dim)) for j in range(3)])
            else:
                ids = [store.add(Skill(f"{tag}-{i}", [i], rng.normal(size=store.dim), preconditions={"tag": tag}))]
            for skill_id in ids:
                print(skill_id, flush=True)


def checkpoints(path: str, count: str) -> None:
    with SkillStore.open(path) as store:
        for _ in range(int(count)):
            store.checkpoint()
    print("done", flush=True)


def churn_and_checkpoint(path: str) -> None:
    with SkillStore.open(path) as store:
        ids = [skill.id for skill in store]
        store.delete(ids[0])
        store.update(ids[1], embedding=np.ones(store.dim))
        store.checkpoint()
        print(store.add(Skill("after-checkpoint", ["new"], np.arange(store.dim) + 1.0)), flush=True)
        store.checkpoint()


def forever(path: str) -> None:
    """Write until killed: adds, outcomes, an update or delete now and then, checkpoints."""
    rng = np.random.default_rng()
    with SkillStore.open(path) as store:
        ids: list[str] = []
        for i in range(10**9):
            roll = i % 10
            if roll < 4 or len(ids) < 3:
                skill_id = store.add(Skill(f"k{i}", [i], rng.normal(size=store.dim), metadata={"i": i}))
                ids.append(skill_id)
                print("add", skill_id, flush=True)
            elif roll < 8:
                skill_id = ids[int(rng.integers(0, len(ids)))]
                attempts = store.record_outcome(skill_id, bool(rng.random() < 0.5)).attempts
                print("outcome", skill_id, attempts, flush=True)
            elif roll == 8:
                skill_id = ids.pop(int(rng.integers(0, len(ids))))
                store.delete(skill_id)
                print("delete", skill_id, flush=True)
            elif i % 50 == 9:
                store.checkpoint()
                print("checkpoint", store.generation, flush=True)
            else:
                skill_id = ids[int(rng.integers(0, len(ids)))]
                store.update(skill_id, embedding=rng.normal(size=store.dim))
                print("move", skill_id, flush=True)


def wait_for_start() -> None:
    """Workers started together begin together, after their slow imports."""
    start = float(os.environ.get("STORE_WORKER_START", "0"))
    time.sleep(max(0.0, start - time.time()))


if __name__ == "__main__":
    job, *arguments = sys.argv[1:]
    wait_for_start()
    {
        "outcomes": outcomes,
        "adds": adds,
        "checkpoints": checkpoints,
        "churn_and_checkpoint": churn_and_checkpoint,
        "forever": forever,
    }[job](*arguments)
