"""Shared pieces of the reliability campaigns: child-process environment, store contents
for before/after comparisons, and the figures ``make reliability`` summarises."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from skillstore import Skill

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
FIGURES_ENV = "RELIABILITY_FIGURES"  # a JSON-lines file the campaigns append their figures to


def subprocess_env() -> dict[str, str]:
    """The environment a child Python needs to import this checkout's skillstore and these helpers."""
    paths = [str(ROOT), str(HERE), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def peak_memory_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ``ru_maxrss``: that keeps the peak of
    the process a child was forked from, so a child of a large test process would look large."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def unit(vector: Any) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float64)
    return array / np.linalg.norm(array)


def skill_state(skill: Skill) -> dict[str, Any]:
    """Everything a skill holds, comparable with ``==`` (embedding as float32 bytes)."""
    return {
        "name": skill.name,
        "actions": skill.actions,
        "embedding": np.asarray(skill.embedding, dtype=np.float32).tobytes(),
        "preconditions": skill.preconditions,
        "description": skill.description,
        "metadata": skill.metadata,
        "stats": skill.stats.to_dict(),
        "created_at": skill.created_at,
        "updated_at": skill.updated_at,
        "provenance": skill.provenance,
    }


def contents(store: Iterable[Skill]) -> dict[str, dict[str, Any]]:
    """The full contents of a store, by id."""
    return {str(skill.id): skill_state(skill) for skill in store}


class Figures:
    """Counts and timings of one campaign, written for the ``make reliability`` summary."""

    def __init__(self, campaign: str) -> None:
        self.campaign = campaign
        self.started = time.monotonic()
        self.counts: dict[str, int] = {}

    def count(self, key: str, amount: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount

    def publish(self, **extra: Any) -> None:
        target = os.environ.get(FIGURES_ENV)
        if not target:
            return
        line = {"campaign": self.campaign, "seconds": round(time.monotonic() - self.started, 1),
                "counts": dict(sorted(self.counts.items())), **extra}
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")


def fill(directory: Path, leave: int = 0) -> Path:
    """Fill the filesystem of ``directory`` up to ``leave`` free bytes with a ballast file."""
    ballast = directory / "ballast"
    with open(ballast, "ab") as handle:
        while True:
            free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
            if free <= leave:
                break
            try:
                handle.write(b"\0" * min(free - leave, 1 << 16))
                handle.flush()
            except OSError:
                break
    return ballast
