"""The writer of the crash campaign, run in a child process until it is SIGKILLed.

Before each call it appends a ``begin`` line describing the call to a journal, and
after the call returns an ``ack`` line with what the store answered. Each line is
one ``write`` on an ``O_APPEND`` file, so the parent sees whole lines, except
perhaps a last one cut short by the kill. Embeddings are given by seed, so the
parent can recompute them.
"""

from __future__ import annotations

import json
import os
import random
import sys
import traceback
from typing import Any

import numpy as np

from skillstore import Skill, SkillStore

DIM = 8
TARGET_SKILLS = 80  # deletes grow more likely above this, keeping every check quick


def embedding(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=DIM)


def skill_item(rng: random.Random, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "vector": rng.randrange(1 << 30),
        "actions": [rng.choice(["up", "down", "left", "right"]) for _ in range(rng.randrange(1, 5))],
        "metadata": {"n": rng.randrange(1000), "tag": rng.choice(["a", "b", "ü"])},
        "preconditions": {"room": rng.randrange(3)} if rng.random() < 0.5 else {},
    }


def to_skill(item: dict[str, Any]) -> Skill:
    return Skill(item["name"], item["actions"], embedding(item["vector"]), preconditions=item["preconditions"],
                 metadata=item["metadata"])


def run(path: str, journal: str, seed: int, durability: str) -> None:
    rng = random.Random(seed)
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def note(**line: Any) -> None:
        os.write(fd, (json.dumps(line) + "\n").encode())

    try:
        with SkillStore.open(path, durability=durability) as store:
            ids = [str(skill.id) for skill in store]
            step = 0
            while True:
                step += 1
                tag = f"{seed}-{step}"
                weights = {"add": 3, "add_many": 2, "update": 2, "delete": 1 + 12 * (len(ids) > TARGET_SKILLS),
                           "outcome": 5, "checkpoint": 1}
                if not ids:
                    weights.update(update=0, delete=0, outcome=0)
                op = rng.choices(list(weights), list(weights.values()))[0]
                if op in ("add", "add_many"):
                    items = [skill_item(rng, f"{tag}-{j}") for j in range(1 if op == "add" else rng.randrange(2, 6))]
                    note(kind="begin", op=op, items=items)
                    if op == "add":
                        new = [store.add(to_skill(items[0]))]
                    else:
                        new = store.add_many([to_skill(item) for item in items])
                    ids.extend(new)
                    note(kind="ack", ids=new)
                elif op == "update":
                    skill_id = rng.choice(ids)
                    fields: dict[str, Any] = {"name": f"{tag}-u", "metadata": {"n": step, "tag": "u"}}
                    if rng.random() < 0.5:
                        fields["vector"] = rng.randrange(1 << 30)
                    if rng.random() < 0.3:
                        fields["preconditions"] = {"room": rng.randrange(3)}
                    note(kind="begin", op=op, id=skill_id, fields=fields)
                    given = {k: v for k, v in fields.items() if k != "vector"}
                    if "vector" in fields:
                        given["embedding"] = embedding(fields["vector"])
                    store.update(skill_id, **given)
                    note(kind="ack")
                elif op == "delete":
                    skill_id = ids.pop(rng.randrange(len(ids)))
                    note(kind="begin", op=op, id=skill_id)
                    store.delete(skill_id)
                    note(kind="ack")
                elif op == "outcome":
                    skill_id = rng.choice(ids)
                    success = rng.random() < 0.6
                    reward = rng.choice([None, 0.25, 1.0, -0.5])
                    note(kind="begin", op=op, id=skill_id, success=success, reward=reward)
                    stats = store.record_outcome(skill_id, success, reward)
                    note(kind="ack", attempts=stats.attempts, successes=stats.successes)
                else:
                    note(kind="begin", op=op)
                    store.checkpoint()
                    note(kind="ack")
    except BaseException:
        note(kind="error", error=traceback.format_exc())
        sys.exit(1)
