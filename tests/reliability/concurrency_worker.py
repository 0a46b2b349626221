"""One process of the concurrency campaign.

``python concurrency_worker.py PATH ROLE NUMBER START DURATION RESULT``: from the wall-clock
time START, for DURATION seconds, a ``writer`` mixes add, search, record_outcome and
checkpoint; a ``reader`` (read-only, no lock) mixes refresh, search and get. Both check
what they see as they go and write a JSON summary to RESULT: what they added, the
outcomes they recorded, every id a search returned, errors and inconsistencies.
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback
from typing import Any

import numpy as np

from skillstore import Match, Skill, SkillNotFoundError, SkillStore

ROOMS = 3


class Observer:
    """Checks that what one process sees only moves forward."""

    def __init__(self) -> None:
        self.attempts: dict[str, int] = {}
        self.seen: set[str] = set()
        self.violations: list[str] = []

    def saw(self, skill_id: str, attempts: int, *, just_recorded: bool = False) -> None:
        before = self.attempts.get(skill_id, 0 if just_recorded else -1)
        if attempts < before or (just_recorded and attempts <= before):
            self.violations.append(f"{skill_id}: attempts went from {before} to {attempts}")
        self.attempts[skill_id] = max(attempts, before)
        self.seen.add(skill_id)

    def searched(self, matches: list[Match], room: int) -> None:
        for match in matches:
            skill = match.skill
            room_needed = (skill.preconditions or {}).get("room", room)
            if room_needed != room:
                self.violations.append(f"{skill.id} needs room {room_needed} but was found for room {room}")
            self.saw(str(skill.id), skill.stats.attempts)


def run(path: str, role: str, number: int, start: float, duration: float) -> dict[str, Any]:
    rng = random.Random(number)
    vectors = np.random.default_rng(number)
    observer = Observer()
    added: list[str] = []
    outcomes: dict[str, list[int]] = {}
    errors: list[str] = []
    ops: dict[str, int] = {}
    with SkillStore.open(path, read_only=role == "reader") as store:
        known = [str(skill.id) for skill in store]
        time.sleep(max(0.0, start - time.time()))
        deadline = start + duration
        # every process does at least its role's defining operation, however little time a busy
        # machine leaves it: writers a checkpoint (the first writer first), readers a search
        must = ["checkpoint"] if role == "writer" and number == 0 else (["search"] if role == "reader" else [])
        while time.time() < deadline or must:
            if must:
                op = must.pop()
            elif role == "writer":
                op = rng.choices(["add", "search", "outcome", "checkpoint"], [3, 3, 4, 0.3])[0]
            else:
                op = rng.choice(["search", "get"])
            try:
                if op == "add":
                    skill_id = store.add(Skill(f"p{number}-{len(added)}", ["x"], vectors.normal(size=store.dim),
                                               preconditions={"room": rng.randrange(ROOMS)} if rng.random() < 0.7
                                               else None))
                    added.append(skill_id)
                    known.append(skill_id)
                elif op == "search":
                    if role == "reader" or rng.random() < 0.5:
                        store.refresh()
                    room = rng.randrange(ROOMS)
                    matches = store.search(vectors.normal(size=store.dim), k=5, state={"room": room})
                    observer.searched(matches, room)
                    known.extend(str(m.skill.id) for m in matches)
                elif op == "get":
                    store.refresh()
                    skill = store.get(rng.choice(known))
                    observer.saw(str(skill.id), skill.stats.attempts)
                elif op == "outcome":
                    skill_id = rng.choice(known)
                    success = rng.random() < 0.5
                    stats = store.record_outcome(skill_id, success)
                    counts = outcomes.setdefault(skill_id, [0, 0])
                    counts[0 if success else 1] += 1
                    observer.saw(skill_id, stats.attempts, just_recorded=True)
                else:
                    store.checkpoint()
                ops[op] = ops.get(op, 0) + 1
            except SkillNotFoundError as exc:
                errors.append(f"{op}: {exc}")  # nothing is deleted in this campaign
            except Exception:
                errors.append(f"{op}: {traceback.format_exc()}")
    return {"added": added, "outcomes": outcomes, "seen": sorted(observer.seen), "errors": errors,
            "violations": observer.violations, "ops": ops}


if __name__ == "__main__":
    path, role, number, start, duration, result = sys.argv[1:]
    summary = run(path, role, int(number), float(start), float(duration))
    with open(result, "w", encoding="utf-8") as handle:
        json.dump(summary, handle)
