"""What RELIABILITY.md promises about fork(): a store object inherited by a forked child
keeps working in both processes. Writers still exclude each other (the child takes a lock
of its own), and FAISS searches in the child do not hang. Each scenario runs in a fresh
interpreter that forks, so the test process itself never forks."""

from __future__ import annotations

import subprocess
from pathlib import Path

from reliability_helpers import PYTHON, ROOT, subprocess_env

WRITES_FROM_BOTH = r"""
import os, sys
from skillstore import Skill, SkillStore
store = SkillStore.open(sys.argv[1], dim=4)
skill_id = store.add(Skill("shared", ["a"], [1.0, 0.0, 0.0, 0.0]))
pid = os.fork()
for _ in range(300):
    store.record_outcome(skill_id, True)
if pid == 0:
    store.add(Skill("from the child", ["b"], [0.0, 1.0, 0.0, 0.0]))
    os._exit(0)
_, status = os.waitpid(pid, 0)
store.add(Skill("from the parent", ["c"], [0.0, 0.0, 1.0, 0.0]))
store.close()
with SkillStore.open(sys.argv[1]) as reopened:
    print(status, reopened.get(skill_id).stats.attempts, len(reopened), reopened.verify().ok)
"""

SEARCH_AFTER_FORK = r"""
import os, sys
import numpy as np
from skillstore import Skill, SkillStore
rng = np.random.default_rng(0)
store = SkillStore.open(sys.argv[1], dim=16)
store.add_many([Skill(f"s{i}", ["a"], rng.normal(size=16)) for i in range(500)])
store.search_many(rng.normal(size=(64, 16)), k=5)  # the parent has used its OpenMP threads
pid = os.fork()
if pid == 0:
    found = store.search_many(rng.normal(size=(64, 16)), k=5)
    os._exit(0 if len(found) == 64 and all(len(f) == 5 for f in found) else 3)
_, status = os.waitpid(pid, 0)
print(status)
"""


def run_script(script: str, *args: str) -> str:
    result = subprocess.run([PYTHON, "-c", script, *args], capture_output=True, text=True, env=subprocess_env(),
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_store_used_on_both_sides_of_a_fork_loses_no_update(tmp_path: Path) -> None:
    assert run_script(WRITES_FROM_BOTH, str(tmp_path / "store")) == "0 600 3 True"


def test_a_forked_child_can_search_after_its_parent_used_openmp_threads(tmp_path: Path) -> None:
    assert run_script(SEARCH_AFTER_FORK, str(tmp_path / "store")) == "0"
