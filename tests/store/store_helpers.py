"""Shared helpers for the store tests: contents snapshots, a brute-force reference ranking,
and (from ``ranking_oracle``) the checker that accepts exactly the answers the tie rule of
``skillstore.ranking`` allows."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from ranking_oracle import Candidate, may_pass, reference_candidate
from ranking_oracle import assert_valid_result as assert_valid_result  # the store tests import it from here

from skillstore import Skill
from skillstore.preconditions import applies, freeze

ROOT = Path(__file__).resolve().parents[2]


def subprocess_env() -> dict[str, str]:
    """The environment a child Python needs to import this checkout's skillstore."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


PYTHON = sys.executable


def unit(vector: Any) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float64)
    array = array / np.max(np.abs(array))  # tiny or huge values: scale first, or the norm under/overflows
    return array / np.linalg.norm(array)


def random_vectors(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    return rng.normal(size=(count, dim)).astype(np.float32)


def skill_fields(skill: Skill, *, timestamps: bool = True) -> dict[str, Any]:
    """Everything a skill holds, comparable with ``==``; timestamps optional."""
    stats = skill.stats.to_dict()
    fields: dict[str, Any] = {
        "name": skill.name,
        "actions": skill.actions,
        "embedding": np.asarray(skill.embedding, dtype=np.float32).tobytes(),
        "preconditions": skill.preconditions or {},
        "description": skill.description,
        "metadata": skill.metadata or {},
        "stats": stats,
        "provenance": [p["name"] for p in skill.provenance],
        "version": skill.version,
        "status": skill.status,
    }
    if timestamps:
        fields["created_at"] = skill.created_at
        fields["updated_at"] = skill.updated_at
        fields["provenance"] = skill.provenance
    else:
        stats["last_used_at"] = stats["last_used_at"] is not None
        stats["total_reward"] = round(stats["total_reward"], 6)
    return fields


def contents(backend: Iterable[Skill], *, timestamps: bool = True) -> dict[str, dict[str, Any]]:
    """The full contents of a store or backend, by id."""
    return {skill.id: skill_fields(skill, timestamps=timestamps) for skill in backend}  # type: ignore[misc]


def reference_ranking(
    skills: Iterable[Skill],
    query: Any,
    *,
    state: Mapping[str, Any] | None = None,
    where: Mapping[str, Any] | None = None,
    rank: str = "similarity",
    min_score: float | None = None,
) -> list[Candidate]:
    """Every eligible skill, best first, scored in float64 by brute force, with the
    documented rules (see ``skillstore.ranking``) written out independently. With
    ``min_score``, only the skills that cannot pass it are left out."""
    q = None if query is None else unit(query)
    found = []
    for skill in skills:
        if state is not None and not applies(skill.preconditions or {}, state):
            continue
        metadata = skill.metadata or {}
        if where and not all(k in metadata and freeze(metadata[k]) == freeze(v) for k, v in where.items()):
            continue
        cos = None if q is None else float(np.asarray(skill.embedding, dtype=np.float64) @ q)
        candidate = reference_candidate(skill, cos, rank)
        if min_score is None or may_pass(candidate, min_score):
            found.append(candidate)
    found.sort(key=lambda c: (-c.score, -c.secondary, c.id))
    return found
