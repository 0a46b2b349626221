"""A skill as the stores keep it: a plain dict ("record") beside its unit vector.

Records are what the log and the snapshots serialise, so every change to a skill
is a pure function of a record and the values a log frame carries (timestamps
included): replaying the same frames always rebuilds the same records.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from skillstore.errors import InvalidSkillError
from skillstore.model import Skill, SkillStats
from skillstore.preconditions import canonical
from skillstore.validation import check_fields

PROVENANCE_LIMIT = 20  # merges remembered per skill; `observations` keeps the full count


def new_id() -> str:
    return uuid.uuid4().hex[:16]


def prepare_skill(skill: Any, dim: int) -> tuple[dict[str, Any], np.ndarray]:
    """Validate a user's Skill; returns its fields and its unit vector (no id, no stats yet)."""
    if not isinstance(skill, Skill):
        raise InvalidSkillError(f"expected a Skill, got {type(skill).__name__}")
    fields = check_fields(
        {
            "name": skill.name,
            "actions": skill.actions,
            "embedding": skill.embedding,
            "preconditions": skill.preconditions,
            "description": skill.description,
            "metadata": skill.metadata,
        },
        dim,
    )
    vector = fields.pop("embedding")
    return fields, vector


def new_record(fields: dict[str, Any], skill_id: str, at: float) -> dict[str, Any]:
    return {
        "id": skill_id,
        **fields,
        "stats": SkillStats().to_dict(),
        "created_at": at,
        "updated_at": at,
        "provenance": [],
    }


def canonical_preconditions(preconditions: dict[str, Any]) -> dict[str, Any]:
    return {k: canonical(v) for k, v in preconditions.items()}


def load_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record decoded from msgpack, with preconditions back in canonical (tuple) form."""
    record["preconditions"] = canonical_preconditions(record["preconditions"])
    return record


def apply_update(record: dict[str, Any], fields: dict[str, Any], at: float) -> None:
    record.update(fields)
    record["updated_at"] = at


def apply_outcome(record: dict[str, Any], success: bool, reward: float | None, at: float) -> None:
    stats = record["stats"]
    stats["attempts"] += 1
    stats["successes" if success else "failures"] += 1
    if reward is not None:
        stats["total_reward"] += reward
    stats["last_used_at"] = at


def apply_merge(record: dict[str, Any], entry: dict[str, Any]) -> None:
    """Count one more observation of this skill and remember where it came from."""
    record["stats"]["observations"] += 1
    record["provenance"] = [*record["provenance"], entry][-PROVENANCE_LIMIT:]
    record["updated_at"] = entry["at"]


def merge_entry(name: str, score: float, at: float) -> dict[str, Any]:
    return {"at": at, "name": name, "score": float(score)}


def to_skill(record: dict[str, Any], vector: np.ndarray) -> Skill:
    """A fresh Skill for the caller; changing it never changes the store."""
    return Skill(
        name=record["name"],
        actions=_copy(record["actions"]),
        embedding=np.array(vector, dtype=np.float32),
        preconditions=dict(record["preconditions"]),
        description=record["description"],
        metadata=_copy(record["metadata"]),
        id=record["id"],
        stats=SkillStats(**record["stats"]),
        created_at=record["created_at"],
        updated_at=record["updated_at"],
        provenance=[dict(p) for p in record["provenance"]],
    )


_SCALARS = (str, int, float, bool, bytes, type(None))


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        if all(type(v) in _SCALARS for v in value):
            return value.copy()  # the common case: a list of action names or numbers
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Library-wide figures over records.

    ``avg_success_rate`` is the mean success rate of the skills attempted at least
    once (untried skills have no rate to average); ``overall_success_rate`` weighs
    every attempt equally.
    """
    attempts = np.array([r["stats"]["attempts"] for r in records], dtype=np.int64)
    successes = np.array([r["stats"]["successes"] for r in records], dtype=np.int64)
    observations = sum(r["stats"]["observations"] for r in records)
    tried = attempts > 0
    total_uses = int(attempts.sum())
    return {
        "total_skills": len(records),
        "total_uses": total_uses,
        "total_successes": int(successes.sum()),
        "total_failures": total_uses - int(successes.sum()),
        "total_observations": int(observations),
        "skills_never_used": int(np.count_nonzero(~tried)),
        "avg_success_rate": float(np.mean(successes[tried] / attempts[tried])) if tried.any() else 0.0,
        "overall_success_rate": float(successes.sum() / total_uses) if total_uses else 0.0,
    }
