"""A child process for the crash test of version writes: ``python versions_worker.py PATH``.

It updates, rolls back, deprecates and counts outcomes of the store's skills until killed,
printing (and flushing) each acknowledged write with the version it left the skill at."""

from __future__ import annotations

import sys

import numpy as np

from skillstore import STATUSES, SkillStore


def main(path: str) -> None:
    rng = np.random.default_rng()
    with SkillStore.open(path) as store:
        ids = [skill.id for skill in store.skills(status=STATUSES)]
        for i in range(10**9):
            skill_id = str(ids[int(rng.integers(len(ids)))])
            roll = i % 10
            if roll < 4:
                embedding = rng.normal(size=store.dim) if roll == 0 else None
                fields = {"actions": [i]} if embedding is None else {"actions": [i], "embedding": embedding}
                skill = store.update(skill_id, reason=f"step {i}", **fields)
            elif roll < 6:
                kept = [v.version for v in store.history(skill_id)][:-1]
                if not kept:
                    continue
                skill = store.rollback(skill_id, int(rng.choice(kept)), reason=f"back {i}")
            elif roll < 9:
                store.record_outcome(skill_id, bool(rng.random() < 0.5))
                skill = store.get(skill_id)
            elif i % 30 == 9:
                store.checkpoint()
                continue
            else:
                skill = store.update(skill_id, status=str(rng.choice(STATUSES)))
            print(skill_id, skill.version, skill.status, skill.stats.attempts, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
