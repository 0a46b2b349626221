"""A skill as the stores keep it: a plain dict ("record") beside its unit vector.

Records are what the log and the snapshots serialise, so every change to a skill
is a pure function of a record and the values a log frame carries (timestamps
included): replaying the same frames always rebuilds the same records.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import replace
from typing import Any

import numpy as np

from skillstore.errors import InvalidSkillError
from skillstore.model import Skill, SkillStats
from skillstore.preconditions import canonical
from skillstore.validation import check_actions, check_fields

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


MAX_ID_LENGTH = 256


def prepare_restore(skill: Any, dim: int, at: float) -> tuple[dict[str, Any], np.ndarray]:
    """Validate a complete Skill read back from an export: its fields, and also its id,
    stats, timestamps and provenance, which a restore keeps as given (a skill without
    timestamps gets ``at``)."""
    fields, vector = prepare_skill(skill, dim)
    skill_id = skill.id
    if not isinstance(skill_id, str) or not skill_id or len(skill_id) > MAX_ID_LENGTH:
        raise InvalidSkillError(f"a restored skill needs an id of 1 to {MAX_ID_LENGTH} characters, got {skill_id!r}")
    stats = skill.stats
    if not isinstance(stats, SkillStats):
        raise InvalidSkillError(f"stats must be SkillStats, got {type(stats).__name__}")
    counters = (stats.attempts, stats.successes, stats.failures, stats.observations)
    if any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in counters):
        raise InvalidSkillError(f"skill {skill_id!r}: stats counters must be non-negative integers")
    if stats.successes + stats.failures != stats.attempts or stats.observations < 1:
        raise InvalidSkillError(f"skill {skill_id!r}: successes + failures must equal attempts, observations >= 1")
    created = at if skill.created_at is None else skill.created_at
    updated = created if skill.updated_at is None else skill.updated_at
    times = {"created_at": created, "updated_at": updated, "last_used_at": stats.last_used_at}
    for what, value in [*times.items(), ("total_reward", stats.total_reward)]:
        optional = what == "last_used_at"
        if (value is None and optional) or (_is_real(value) and math.isfinite(float(value))):  # type: ignore[arg-type]
            continue
        raise InvalidSkillError(f"skill {skill_id!r}: {what} must be a finite number, got {value!r}")
    provenance = skill.provenance
    if not isinstance(provenance, list) or not all(isinstance(p, dict) for p in provenance):
        raise InvalidSkillError(f"skill {skill_id!r}: provenance must be a list of mappings")
    record = {
        "id": skill_id,
        **fields,
        "stats": {**stats.to_dict(), "total_reward": float(stats.total_reward)},
        "created_at": float(created),
        "updated_at": float(updated),
        "provenance": check_actions(provenance[-PROVENANCE_LIMIT:]),
    }
    return record, vector


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def merged_for_restore(kept: Skill, incoming: Skill) -> Skill:
    """``kept`` with ``incoming``'s counters added: what an import's "merge" stores."""
    a, b = kept.stats, incoming.stats
    used = [t for t in (a.last_used_at, b.last_used_at) if t is not None]
    stats = SkillStats(
        attempts=a.attempts + b.attempts,
        successes=a.successes + b.successes,
        failures=a.failures + b.failures,
        observations=a.observations + b.observations,
        total_reward=a.total_reward + b.total_reward,
        last_used_at=max(used) if used else None,
    )
    return replace(kept, stats=stats, provenance=(kept.provenance + incoming.provenance)[-PROVENANCE_LIMIT:])


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
        embedding=vector.astype(np.float32),  # always a copy
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
