"""Shared helpers for the CLI tests: a populated library, invoking commands, store contents."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from click.testing import CliRunner, Result

from skillstore import Skill, SkillStore
from skillstore.cli import main

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
DIM = 4


def subprocess_env() -> dict[str, str]:
    """The environment a child Python needs to import this checkout's skillstore."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def run(*args: Any, input: bytes | str | None = None) -> Result:
    """Invoke the CLI in-process; an unexpected Python exception fails the test at once."""
    result = CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def ok(*args: Any, input: bytes | str | None = None) -> Result:
    result = run(*args, input=input)
    assert result.exit_code == 0, (result.exit_code, result.output)
    return result


# Embeddings far apart, so every search below has one right order with no near ties.
LIBRARY = [
    {
        "name": "open door",
        "actions": ["move_up", "open_door"],
        "embedding": [1.0, 0.1, 0.0, 0.0],
        "preconditions": {"has_key": True, "agent_pos": (2, 2)},
        "description": "walk to the door and open it",
        "metadata": {"room": 3, "source": "episode 12"},
        "outcomes": [True, True, True, False],
    },
    {
        "name": "鍵を拾う ☃",
        "actions": [b"\x00\xff\x10", {"pickup": (1, 2)}],
        "embedding": [0.0, 1.0, 0.2, 0.0],
        "preconditions": {"has_key": False, "agent_pos": (1, 1)},
        "description": "pick up the key\nthen stop",
        "metadata": {"room": 3, "blob": b"\x01\x02"},
        "outcomes": [True, False],
    },
    {
        "name": "explore",
        "actions": ["move_right", "move_right", "move_down"],
        "embedding": [0.0, 0.0, 1.0, 0.3],
        "preconditions": None,
        "description": "",
        "metadata": {"room": 1},
        "outcomes": [],
    },
    {
        "name": "go right",
        "actions": ["move_right"],
        "embedding": [0.3, 0.0, 0.0, 1.0],
        "preconditions": {"agent_pos": (0, 1)},
        "description": "",
        "metadata": None,
        "outcomes": [False],
    },
]


def build_library(path: Path, entries: Sequence[dict[str, Any]] = LIBRARY) -> dict[str, str]:
    """A store at ``path`` holding ``entries`` with their outcomes; returns name -> id."""
    ids = {}
    with SkillStore.open(path, dim=DIM) as store:
        for entry in entries:
            fields = {k: v for k, v in entry.items() if k != "outcomes"}
            skill_id = store.add(Skill(**fields))
            ids[entry["name"]] = skill_id
            for number, success in enumerate(entry["outcomes"]):
                store.record_outcome(skill_id, success, reward=0.25 * (number + 1))
    return ids


def contents(path: Path) -> list[tuple[Any, ...]]:
    """Everything observable about a store's skills, for "unchanged" checks."""
    with SkillStore.open(path, read_only=True) as store:
        return sorted(
            (
                s.id,
                s.name,
                repr(s.actions),
                repr(s.preconditions),
                repr(s.metadata),
                s.description,
                np.asarray(s.embedding).tobytes(),
                s.stats,
                s.created_at,
                s.updated_at,
            )
            for s in store
        )
