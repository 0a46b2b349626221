"""A skill as the stores keep it: a plain dict ("record") beside its unit vector.

Records are what the log and the snapshots serialise, so every change to a skill
is a pure function of a record and the values a log frame carries (timestamps
included): replaying the same frames always rebuilds the same records.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from skillstore.errors import CounterOverflowError, InvalidInputError, InvalidSkillError, SkillStoreError
from skillstore.model import Skill, SkillStats
from skillstore.preconditions import canonical
from skillstore.validation import (
    MAX_COUNTER,
    MAX_TOTAL_REWARD,
    check_actions,
    check_counter,
    check_description,
    check_fields,
    check_iterable,
    check_metadata,
    check_name,
    check_preconditions,
    check_text,
    check_timestamp,
    check_total_reward,
    shown,
)

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


def prepare_skills(skills: Any, dim: int) -> list[tuple[dict[str, Any], np.ndarray]]:
    """``prepare_skill`` for each skill of an ``add_many``."""
    return [prepare_skill(skill, dim) for skill in check_iterable(skills, "skills")]


MAX_ID_LENGTH = 256
STAT_KEYS = ("attempts", "successes", "failures", "observations", "total_reward", "last_used_at")
RECORD_KEYS = frozenset(
    {"id", "name", "actions", "preconditions", "description", "metadata", "stats", "created_at", "updated_at",
     "provenance"}
)


def check_id(skill_id: Any) -> str:
    """A skill id kept as given (restored or stored): 1 to MAX_ID_LENGTH characters of valid
    Unicode, no NUL (which a PostgreSQL text cannot hold)."""
    if not isinstance(skill_id, str) or not skill_id or len(skill_id) > MAX_ID_LENGTH:
        raise InvalidSkillError(
            f"a skill id must be a string of 1 to {MAX_ID_LENGTH} characters, got {shown(skill_id)}"
        )
    if "\x00" in skill_id:
        raise InvalidSkillError(f"a skill id cannot hold a NUL character, got {shown(skill_id)}")
    return check_text(skill_id, "a skill id")


def is_storable_id(skill_id: object) -> bool:
    """False for a value no store can hold as an id (not a string, a NUL, a lone surrogate):
    looking one up finds nothing."""
    if not isinstance(skill_id, str) or "\x00" in skill_id:
        return False
    try:
        skill_id.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_stats(stats: Any, where: str = "stats") -> dict[str, Any]:
    """A skill's stats as a record holds them, from a map with exactly the SkillStats keys.

    Counters are integers in [0, MAX_COUNTER] with successes + failures = attempts and at
    least one observation; ``total_reward`` is finite within ±MAX_TOTAL_REWARD and zero for
    a skill never attempted; ``last_used_at`` is None or a timestamp.
    """
    if not isinstance(stats, Mapping):
        raise InvalidSkillError(f"{where} must be a map, got {type(stats).__name__}")
    keys = set(stats)
    if keys != set(STAT_KEYS):
        missing, unknown = set(STAT_KEYS) - keys, keys - set(STAT_KEYS)
        raise InvalidSkillError(
            f"{where} must hold exactly {list(STAT_KEYS)}"
            + (f"; missing {sorted(missing)}" if missing else "")
            + (f"; unknown {sorted(map(shown, unknown))}" if unknown else "")
        )
    checked: dict[str, Any] = {
        name: check_counter(stats[name], f"{where}.{name}") for name in ("attempts", "successes", "failures",
                                                                         "observations")
    }
    if checked["successes"] + checked["failures"] != checked["attempts"]:
        raise InvalidSkillError(f"{where}: successes + failures must equal attempts")
    if checked["observations"] < 1:
        raise InvalidSkillError(f"{where}.observations must be at least 1")
    checked["total_reward"] = check_total_reward(stats["total_reward"], f"{where}.total_reward")
    if checked["total_reward"] and not checked["attempts"]:
        raise InvalidSkillError(f"{where}: a total_reward of {checked['total_reward']!r} without any attempt")
    last_used = stats["last_used_at"]
    checked["last_used_at"] = None if last_used is None else check_timestamp(last_used, f"{where}.last_used_at")
    return checked


def check_provenance(provenance: Any, limit: int | None = None) -> list[dict[str, Any]]:
    """Provenance entries: a list of maps with string keys whose ``at``, when present, is a
    timestamp; ``limit`` bounds the length (a restore keeps the last PROVENANCE_LIMIT)."""
    if not isinstance(provenance, list) or not all(isinstance(p, Mapping) for p in provenance):
        raise InvalidSkillError("provenance must be a list of mappings")
    if limit is not None and len(provenance) > limit:
        raise InvalidSkillError(f"provenance holds {len(provenance)} entries, at most {limit} are kept")
    entries = []
    for number, entry in enumerate(provenance[-PROVENANCE_LIMIT:]):
        if not all(isinstance(key, str) for key in entry):
            raise InvalidSkillError(f"provenance entry {number}: keys must be strings")
        if "at" in entry:
            check_timestamp(entry["at"], f"provenance entry {number}: at")
        entries.append(dict(entry))
    checked: list[dict[str, Any]] = check_actions(entries) if entries else []
    for entry in checked:
        if "at" in entry:
            entry["at"] = float(entry["at"])
    return checked


def prepare_restore(skill: Any, dim: int, at: float) -> tuple[dict[str, Any], np.ndarray]:
    """Validate a complete Skill read back from an export: its fields, and also its id,
    stats, timestamps and provenance, which a restore keeps as given (a skill without
    timestamps gets ``at``)."""
    fields, vector = prepare_skill(skill, dim)
    skill_id = check_id(skill.id)
    stats = skill.stats
    if not isinstance(stats, SkillStats):
        raise InvalidSkillError(f"stats must be SkillStats, got {type(stats).__name__}")
    try:
        checked_stats = check_stats(stats.to_dict())
        created = check_timestamp(at if skill.created_at is None else skill.created_at, "created_at")
        updated = check_timestamp(created if skill.updated_at is None else skill.updated_at, "updated_at")
        provenance = check_provenance(skill.provenance)
    except InvalidSkillError as exc:
        raise InvalidSkillError(f"skill {shown(skill_id)}: {exc}") from None
    record = {
        "id": skill_id,
        **fields,
        "stats": checked_stats,
        "created_at": created,
        "updated_at": updated,
        "provenance": provenance,
    }
    return record, vector


def prepare_restores(skills: Any, dim: int, at: float) -> list[tuple[dict[str, Any], np.ndarray]]:
    """``prepare_restore`` for each skill of a ``restore_many``; refuses an id given twice."""
    prepared = [prepare_restore(skill, dim, at) for skill in check_iterable(skills, "skills")]
    ids = [record["id"] for record, _ in prepared]
    if len(set(ids)) != len(ids):
        raise InvalidInputError("restore_many was given the same id twice")
    return prepared


def check_outcome_fits(record: Mapping[str, Any], reward: float | None) -> None:
    """Refuse an outcome that would push the record's attempts past MAX_COUNTER or its
    total_reward past ±MAX_TOTAL_REWARD (raises CounterOverflowError, before any frame is built)."""
    stats = record["stats"]
    if stats["attempts"] + 1 > MAX_COUNTER:
        raise CounterOverflowError(
            f"skill {shown(record['id'])} has {stats['attempts']} attempts, the most a skill counts is {MAX_COUNTER}"
        )
    if reward is not None and not abs(stats["total_reward"] + reward) <= MAX_TOTAL_REWARD:
        raise CounterOverflowError(
            f"skill {shown(record['id'])}: a reward of {reward!r} would take total_reward "
            f"{stats['total_reward']!r} past ±{MAX_TOTAL_REWARD:g}"
        )


def check_merge_fits(record: Mapping[str, Any], merges: int = 1) -> None:
    """Refuse ``merges`` more observations of the record (duplicates merged into it) when they
    would push its observations past MAX_COUNTER (raises CounterOverflowError). A batch that
    merges several skills into one record passes their number."""
    observations = record["stats"]["observations"]
    if observations + merges > MAX_COUNTER:
        raise CounterOverflowError(
            f"skill {shown(record['id'])} has been observed {observations} times, "
            f"the most a skill counts is {MAX_COUNTER}"
        )


def merged_for_restore(kept: Skill, incoming: Skill) -> Skill:
    """``kept`` with ``incoming``'s counters added: what an import's "merge" stores.
    Raises CounterOverflowError when a sum would pass MAX_COUNTER or ±MAX_TOTAL_REWARD."""
    a, b = kept.stats, incoming.stats
    used = [t for t in (a.last_used_at, b.last_used_at) if t is not None]
    sums = {
        "attempts": a.attempts + b.attempts,
        "successes": a.successes + b.successes,
        "failures": a.failures + b.failures,
        "observations": a.observations + b.observations,
    }
    for name, total in sums.items():
        if total > MAX_COUNTER:
            raise CounterOverflowError(
                f"merging skill {shown(kept.id)} would count {total} {name}, more than {MAX_COUNTER}"
            )
    reward = a.total_reward + b.total_reward
    if not abs(reward) <= MAX_TOTAL_REWARD:
        raise CounterOverflowError(
            f"merging skill {shown(kept.id)} would take total_reward past ±{MAX_TOTAL_REWARD:g}"
        )
    stats = SkillStats(**sums, total_reward=reward, last_used_at=max(used) if used else None)
    return replace(kept, stats=stats, provenance=(kept.provenance + incoming.provenance)[-PROVENANCE_LIMIT:])


def check_stored_record(raw: Any, dim: int) -> dict[str, Any]:
    """A record as decoded from msgpack (a snapshot or a log frame), checked with the rules of
    the public API and returned canonical (preconditions as ``load_record`` makes them).

    Raises InvalidSkillError naming the field, and nothing else, whatever ``raw`` is.
    ``dim`` is the store's dimension; a record carries no vector, so it is not read here.
    """
    del dim  # the vector beside a record is checked by the caller
    try:
        return _check_stored_record(raw)
    except InvalidSkillError:
        raise
    except SkillStoreError as exc:
        raise InvalidSkillError(str(exc)) from None
    except (TypeError, ValueError, OverflowError, RecursionError, KeyError, AttributeError) as exc:
        raise InvalidSkillError(f"a stored record cannot be read: {type(exc).__name__}") from None


def _check_stored_record(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidSkillError(f"a stored record must be a map, got {type(raw).__name__}")
    keys = set(raw)
    if keys != RECORD_KEYS:
        missing, unknown = RECORD_KEYS - keys, keys - RECORD_KEYS
        raise InvalidSkillError(
            "a stored record"
            + (f" lacks {sorted(missing)}" if missing else "")
            + (f" has unknown keys {sorted(map(shown, unknown))}" if unknown else "")
        )
    skill_id = check_id(raw["id"])
    checkers = {  # in the order new_record writes them
        "name": check_name,
        "actions": check_actions,
        "preconditions": check_preconditions,
        "description": check_description,
        "metadata": check_metadata,
    }
    record: dict[str, Any] = {"id": skill_id}
    for field_name, checker in checkers.items():
        try:
            record[field_name] = checker(raw[field_name])
        except InvalidInputError as exc:
            raise InvalidSkillError(f"skill {shown(skill_id)}: {field_name}: {exc}") from None
    try:
        record["stats"] = check_stats(raw["stats"])
        record["created_at"] = check_timestamp(raw["created_at"], "created_at")
        record["updated_at"] = check_timestamp(raw["updated_at"], "updated_at")
        record["provenance"] = check_provenance(raw["provenance"], PROVENANCE_LIMIT)
    except InvalidSkillError as exc:
        raise InvalidSkillError(f"skill {shown(skill_id)}: {exc}") from None
    return record


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
    """Library-wide figures over records (see ``summarise_counts``)."""
    return summarise_counts(
        attempts=np.array([r["stats"]["attempts"] for r in records], dtype=np.int64),
        successes=np.array([r["stats"]["successes"] for r in records], dtype=np.int64),
        observations=np.array([r["stats"]["observations"] for r in records], dtype=np.int64),
    )


def summarise_counts(attempts: np.ndarray, successes: np.ndarray, observations: np.ndarray) -> dict[str, Any]:
    """Library-wide figures over every skill's counters.

    ``avg_success_rate`` is the mean success rate of the skills attempted at least
    once (untried skills have no rate to average); ``overall_success_rate`` weighs
    every attempt equally.
    """
    tried = attempts > 0
    total_uses = int(attempts.sum())
    total_successes = int(successes.sum())
    return {
        "total_skills": len(attempts),
        "total_uses": total_uses,
        "total_successes": total_successes,
        "total_failures": total_uses - total_successes,
        "total_observations": int(observations.sum()),
        "skills_never_used": int(np.count_nonzero(~tried)),
        "avg_success_rate": float(np.mean(successes[tried] / attempts[tried])) if tried.any() else 0.0,
        "overall_success_rate": float(total_successes / total_uses) if total_uses else 0.0,
    }
