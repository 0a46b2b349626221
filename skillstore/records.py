"""A skill as the stores keep it: a plain dict ("record") beside its unit vector.

Records are what the log and the snapshots serialise, so every change to a skill
is a pure function of a record and the values a log frame carries (timestamps
included): replaying the same frames always rebuilds the same records.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from skillstore.codec import pack
from skillstore.embedders import Embedder, embed_texts, skill_text
from skillstore.errors import (
    CounterOverflowError,
    InvalidInputError,
    InvalidSkillError,
    SkillStoreError,
    VersionNotFoundError,
)
from skillstore.model import Skill, SkillStats, SkillVersion, StatusChange, VersionStats
from skillstore.preconditions import canonical
from skillstore.query import Field, Node, mentions
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
    normalise_embedding,
    shown,
)

PROVENANCE_LIMIT = 20  # merges remembered per skill; `observations` keeps the full count
VERSION_LIMIT = 10  # versions kept per skill (the current one and the 9 before it)
EVENT_LIMIT = 20  # status changes remembered per version
MAX_REASON_LENGTH = 4096
STATUSES = ("active", "candidate", "deprecated")  # their position is the code a column holds
STATUS_CODES = {status: code for code, status in enumerate(STATUSES)}
DEPRECATED = STATUS_CODES["deprecated"]
CONTENT_FIELDS = ("name", "actions", "embedding", "preconditions", "description", "metadata")
VERSION_STAT_KEYS = ("attempts", "successes", "failures", "total_reward")
VERSION_KEYS = frozenset({"version", "at", "reason", "changed", "parent", "rollback_of", "content", "stats",
                          "events"})


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
    fields["status"] = check_status(skill.status)
    return fields, vector


def prepare_skills(skills: Any, dim: int) -> list[tuple[dict[str, Any], np.ndarray]]:
    """``prepare_skill`` for each skill of an ``add_many``."""
    return [prepare_skill(skill, dim) for skill in check_iterable(skills, "skills")]


MAX_ID_LENGTH = 256
STAT_KEYS = ("attempts", "successes", "failures", "observations", "total_reward", "last_used_at")
LEGACY_RECORD_KEYS = frozenset(  # a record of format 2, which had no versions
    {"id", "name", "actions", "preconditions", "description", "metadata", "stats", "created_at", "updated_at",
     "provenance"}
)
RECORD_KEYS = LEGACY_RECORD_KEYS | {"version", "status", "history"}


def check_status(status: Any) -> str:
    """A lifecycle status: one of STATUSES."""
    if not isinstance(status, str) or status not in STATUSES:
        raise InvalidInputError(f"status must be one of {STATUSES}, got {shown(status)}")
    return status


def check_statuses(status: Any, where: Node | None = None) -> frozenset[str]:
    """The statuses a search or an iteration keeps: None means active and candidate (deprecated
    skills are left out) unless the filter ``where`` names ``$skill.status`` (then it decides
    alone); a status or a list of statuses keeps exactly those."""
    if status is None:
        if where is not None and mentions(where, Field("skill", "status")):
            return frozenset(STATUSES)
        return frozenset({"active", "candidate"})
    if isinstance(status, str):
        return frozenset({check_status(status)})
    if not isinstance(status, list | tuple | set | frozenset) or not status:
        raise InvalidInputError(f"status must be None, a status or a non-empty list of statuses, got {shown(status)}")
    return frozenset(check_status(s) for s in status)


def check_reason(reason: Any) -> str | None:
    """Why a version was made or a status changed: None or a string of at most MAX_REASON_LENGTH."""
    if reason is None:
        return None
    if not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH:
        raise InvalidInputError(f"reason must be None or a string of at most {MAX_REASON_LENGTH} characters,"
                                f" got {shown(reason)}")
    return check_text(reason, "a reason")


def check_version_number(version: Any, what: str = "version") -> int:
    if isinstance(version, bool) or not isinstance(version, int | np.integer) or not 1 <= version <= MAX_COUNTER:
        raise InvalidInputError(f"{what} must be an integer from 1 to {MAX_COUNTER}, got {shown(version)}")
    return int(version)


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
    status = fields.pop("status")
    try:
        version = check_version_number(skill.version, "version")
        history = (
            [initial_entry(version, created, checked_stats)] if skill.history is None
            else check_history(_entries_of(skill.history, dim), version, checked_stats, dim)
        )
    except InvalidInputError as exc:
        raise InvalidSkillError(f"skill {shown(skill_id)}: {exc}") from None
    record = {
        "id": skill_id,
        **fields,
        "stats": checked_stats,
        "created_at": created,
        "updated_at": updated,
        "provenance": provenance,
        "version": version,
        "status": status,
        "history": history,
    }
    return record, vector


def _entries_of(versions: Any, dim: int) -> list[Any]:
    """A restored skill's SkillVersions as history entries (the last one's content is the skill's)."""
    if not isinstance(versions, list | tuple) or not all(isinstance(v, SkillVersion) for v in versions):
        raise InvalidSkillError("history must be a list of SkillVersion")
    entries = []
    for number, v in enumerate(versions, start=1):
        content = None
        if number < len(versions):
            vector = normalise_embedding(v.embedding, dim)
            content = {"name": v.name, "actions": v.actions, "preconditions": v.preconditions,
                       "description": v.description, "metadata": v.metadata, "embedding": vector.tobytes()}
        stats = v.stats.to_dict() if isinstance(v.stats, VersionStats) else v.stats
        events = [{"at": e.at, "status": e.status, "reason": e.reason} if isinstance(e, StatusChange) else e
                  for e in v.events]
        entries.append({"version": v.version, "at": v.created_at, "reason": v.reason, "changed": list(v.changed),
                        "parent": v.parent, "rollback_of": v.rollback_of, "content": content, "stats": stats,
                        "events": events})
    return entries


def prepare_restores(skills: Any, dim: int, at: float) -> list[tuple[dict[str, Any], np.ndarray]]:
    """``prepare_restore`` for each skill of a ``restore_many``; refuses an id given twice."""
    prepared = [prepare_restore(skill, dim, at) for skill in check_iterable(skills, "skills")]
    ids = [record["id"] for record, _ in prepared]
    if len(set(ids)) != len(ids):
        raise InvalidInputError("restore_many was given the same id twice")
    return prepared


def check_outcome_fits(record: Mapping[str, Any], reward: float | None) -> None:
    """Refuse an outcome that would push the record's attempts past MAX_COUNTER or its (or its
    current version's) total_reward past ±MAX_TOTAL_REWARD (raises CounterOverflowError, before
    any frame is built). A version never counts more attempts than its skill."""
    stats = record["stats"]
    history = record.get("history")
    if reward is not None and history:
        version_reward = history[-1]["stats"]["total_reward"]
        if not abs(version_reward + reward) <= MAX_TOTAL_REWARD:
            raise CounterOverflowError(
                f"skill {shown(record['id'])}: a reward of {reward!r} would take its version's total_reward "
                f"{version_reward!r} past ±{MAX_TOTAL_REWARD:g}"
            )
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
    try:
        return _check_stored_record(raw, dim)
    except InvalidSkillError:
        raise
    except SkillStoreError as exc:
        raise InvalidSkillError(str(exc)) from None
    except (TypeError, ValueError, OverflowError, RecursionError, KeyError, AttributeError) as exc:
        raise InvalidSkillError(f"a stored record cannot be read: {type(exc).__name__}") from None


def _check_stored_record(raw: Any, dim: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidSkillError(f"a stored record must be a map, got {type(raw).__name__}")
    keys = set(raw)
    legacy = keys == LEGACY_RECORD_KEYS  # format 2: one version, active
    if keys != RECORD_KEYS and not legacy:
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
        if legacy:
            record["version"], record["status"] = 1, "active"
            record["history"] = [initial_entry(1, record["created_at"], record["stats"])]
        else:
            record["version"] = check_version_number(raw["version"])
            record["status"] = check_status(raw["status"])
            record["history"] = check_history(raw["history"], record["version"], record["stats"], dim)
    except InvalidInputError as exc:
        raise InvalidSkillError(f"skill {shown(skill_id)}: {exc}") from None
    return record


def initial_entry(version: int, at: float, stats: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The history entry of a skill's first version (or of the one version a skill restored
    without its history keeps), with the skill's outcome counts when given."""
    counts = {key: (stats[key] if stats is not None else 0) for key in VERSION_STAT_KEYS}
    counts["total_reward"] = float(counts["total_reward"])
    return {"version": version, "at": at, "reason": None, "changed": [], "parent": None, "rollback_of": None,
            "content": None, "stats": counts, "events": []}


def check_vector_bytes(value: Any, dim: int, what: str = "an embedding") -> bytes:
    """Raw float32 bytes of a finite unit vector of length ``dim``."""
    if not isinstance(value, bytes) or len(value) != 4 * dim:
        raise InvalidSkillError(f"{what} must be {4 * dim} bytes ({dim} float32), got {type(value).__name__}")
    vector = np.frombuffer(value, dtype="<f4")
    if not np.all(np.isfinite(vector)) or abs(float(np.linalg.norm(vector.astype(np.float64))) - 1.0) > 1e-4:
        raise InvalidSkillError(f"{what} is not a finite unit vector")
    return value


def check_history(raw: Any, version: int, stats: Mapping[str, Any], dim: int) -> list[dict[str, Any]]:
    """A skill's version history, checked and canonical: 1 to VERSION_LIMIT entries with
    increasing numbers, the last one the skill's ``version`` (its content is the skill's own,
    so it holds none); each earlier entry holds its full content. The versions together never
    count more outcomes than the skill."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= VERSION_LIMIT:
        raise InvalidSkillError(f"history must be a list of 1 to {VERSION_LIMIT} versions")
    history: list[dict[str, Any]] = []
    totals = dict.fromkeys(("attempts", "successes", "failures"), 0)
    for position, entry in enumerate(raw):
        last = position == len(raw) - 1
        if not isinstance(entry, Mapping) or set(entry) != VERSION_KEYS:
            raise InvalidSkillError(f"a history entry must hold exactly {sorted(VERSION_KEYS)}")
        number = check_version_number(entry["version"], "a history entry's version")
        if history and number <= history[-1]["version"]:
            raise InvalidSkillError("history versions must increase")
        if last and number != version:
            raise InvalidSkillError(f"the last history entry is version {number}, the skill is at version {version}")
        what = f"version {number}"
        lineage = {}
        for key in ("parent", "rollback_of"):
            value = entry[key]
            if value is not None and check_version_number(value, f"{what}: {key}") >= number:
                raise InvalidSkillError(f"{what}: {key} must be an earlier version, got {value!r}")
            lineage[key] = value if value is None else int(value)
        changed = entry["changed"]
        if (not isinstance(changed, list) or len(set(map(str, changed))) != len(changed)
                or not set(changed) <= set(CONTENT_FIELDS)):
            raise InvalidSkillError(f"{what}: changed must list distinct fields of {CONTENT_FIELDS}")
        history.append({
            "version": number,
            "at": check_timestamp(entry["at"], f"{what}: at"),
            "reason": check_reason(entry["reason"]),
            "changed": [name for name in CONTENT_FIELDS if name in changed],
            **lineage,
            "content": None if last else _check_content(entry["content"], dim, what),
            "stats": _check_version_stats(entry["stats"], what),
            "events": _check_events(entry["events"], what),
        })
        if last and entry["content"] is not None:
            raise InvalidSkillError(f"{what} is current: its content is the skill's")
        for key in totals:
            totals[key] += history[-1]["stats"][key]
    if any(totals[key] > stats[key] for key in totals):
        raise InvalidSkillError("the versions count more outcomes than the skill")
    return history


def _check_content(content: Any, dim: int, what: str) -> dict[str, Any]:
    keys = set(CONTENT_FIELDS)
    if not isinstance(content, Mapping) or set(content) != keys:
        raise InvalidSkillError(f"{what}: content must hold exactly {sorted(keys)}")
    fields = check_fields({k: v for k, v in content.items() if k != "embedding"}, dim)
    fields["embedding"] = check_vector_bytes(content["embedding"], dim, f"{what}: the embedding")
    return {name: fields[name] for name in CONTENT_FIELDS if name != "embedding"} | {"embedding": fields["embedding"]}


def _check_version_stats(stats: Any, what: str) -> dict[str, Any]:
    if not isinstance(stats, Mapping) or set(stats) != set(VERSION_STAT_KEYS):
        raise InvalidSkillError(f"{what}: stats must hold exactly {list(VERSION_STAT_KEYS)}")
    checked: dict[str, Any] = {k: check_counter(stats[k], f"{what}: {k}") for k in ("attempts", "successes",
                                                                                    "failures")}
    if checked["successes"] + checked["failures"] != checked["attempts"]:
        raise InvalidSkillError(f"{what}: successes + failures must equal attempts")
    checked["total_reward"] = check_total_reward(stats["total_reward"], f"{what}: total_reward")
    if checked["total_reward"] and not checked["attempts"]:
        raise InvalidSkillError(f"{what}: a total_reward without any attempt")
    return checked


def _check_events(events: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(events, list) or len(events) > EVENT_LIMIT:
        raise InvalidSkillError(f"{what}: events must be a list of at most {EVENT_LIMIT} status changes")
    checked = []
    for event in events:
        if not isinstance(event, Mapping) or set(event) != {"at", "status", "reason"}:
            raise InvalidSkillError(f"{what}: an event holds exactly at, status and reason")
        checked.append({"at": check_timestamp(event["at"], f"{what}: an event's at"),
                        "status": check_status(event["status"]), "reason": check_reason(event["reason"])})
    return checked


def new_record(fields: dict[str, Any], skill_id: str, at: float) -> dict[str, Any]:
    """A new skill's record from its checked fields (``status`` among them; "active" if not)."""
    content = {k: v for k, v in fields.items() if k != "status"}
    return {
        "id": skill_id,
        **content,
        "stats": SkillStats().to_dict(),
        "created_at": at,
        "updated_at": at,
        "provenance": [],
        "version": 1,
        "status": fields.get("status", "active"),
        "history": [initial_entry(1, at)],
    }


def canonical_preconditions(preconditions: dict[str, Any]) -> dict[str, Any]:
    return {k: canonical(v) for k, v in preconditions.items()}


def load_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record decoded from msgpack, with preconditions back in canonical (tuple) form."""
    record["preconditions"] = canonical_preconditions(record["preconditions"])
    return record


def changed_fields(
    record: Mapping[str, Any], fields: Mapping[str, Any], vector: bytes | None, current_vector: bytes | None
) -> list[str]:
    """The content fields whose new value differs from the record's, in CONTENT_FIELDS order.
    Values are compared by their msgpack encoding, which every backend keeps the same."""
    changed = [name for name in CONTENT_FIELDS
               if name in fields and name != "embedding" and pack(fields[name]) != pack(record[name])]
    if vector is not None and vector != current_vector:
        changed.append("embedding")
    return [name for name in CONTENT_FIELDS if name in changed]


def apply_update(
    record: dict[str, Any],
    fields: dict[str, Any],
    at: float,
    *,
    vector: bytes | None = None,
    current_vector: bytes | None = None,
    reason: str | None = None,
    status: str | None = None,
) -> bool:
    """Change a record's content (a new version when any field's value changes: the version that
    was current keeps its content in the history) and/or its status (an event of the current
    version). ``vector`` is the new embedding's float32 bytes, ``current_vector`` the one the
    skill has now. Returns whether a new version was made."""
    changed = changed_fields(record, fields, vector, current_vector)
    if changed:
        _new_version(record, current_vector, at, reason, changed, None)
    record.update(fields)
    if status is not None and status != record["status"]:
        record["status"] = status
        events = record["history"][-1]["events"]
        events.append({"at": at, "status": status, "reason": reason})
        del events[:-EVENT_LIMIT]
    record["updated_at"] = at
    return bool(changed)


def rollback_target(record: Mapping[str, Any], version: int) -> dict[str, Any]:
    """The history entry a rollback to ``version`` copies; VersionNotFoundError when the skill
    keeps no such version, InvalidInputError when it is the current one."""
    for entry in record["history"]:
        if entry["version"] == version:
            if entry["content"] is None:
                raise InvalidInputError(f"version {version} of skill {shown(record['id'])} is its current version")
            return entry  # type: ignore[no-any-return]
    raise VersionNotFoundError(
        f"skill {shown(record['id'])} has no version {version}; it keeps versions "
        f"{[e['version'] for e in record['history']]}"
    )


def apply_rollback(
    record: dict[str, Any], version: int, at: float, reason: str | None, current_vector: bytes
) -> bytes | None:
    """Make a new version whose content equals version ``version``'s (history is never
    rewritten). Returns the embedding's float32 bytes when it changes, else None."""
    content = rollback_target(record, version)["content"]
    fields = {name: content[name] for name in CONTENT_FIELDS if name != "embedding"}
    vector: bytes = content["embedding"]
    changed = changed_fields(record, fields, vector, current_vector)
    _new_version(record, current_vector, at, reason, changed, version)
    record.update(fields)
    record["updated_at"] = at
    return vector if vector != current_vector else None


def _new_version(
    record: dict[str, Any], current_vector: bytes | None, at: float, reason: str | None, changed: list[str],
    rollback_of: int | None,
) -> None:
    """Freeze the current version's content into its history entry and start the next version;
    only the last VERSION_LIMIT versions are kept."""
    history = record["history"]
    history[-1]["content"] = {name: record[name] for name in CONTENT_FIELDS if name != "embedding"}
    history[-1]["content"]["embedding"] = current_vector
    number = record["version"] + 1
    history.append({"version": number, "at": at, "reason": reason, "changed": changed, "parent": record["version"],
                    "rollback_of": rollback_of, "content": None,
                    "stats": {"attempts": 0, "successes": 0, "failures": 0, "total_reward": 0.0}, "events": []})
    del history[:-VERSION_LIMIT]
    record["version"] = number


def apply_outcome(record: dict[str, Any], success: bool, reward: float | None, at: float) -> None:
    """Count an outcome against the skill and against its current version."""
    for stats in (record["stats"], record["history"][-1]["stats"]):
        stats["attempts"] += 1
        stats["successes" if success else "failures"] += 1
        if reward is not None:
            stats["total_reward"] += reward
    record["stats"]["last_used_at"] = at


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
        preconditions=_copy(record["preconditions"]),
        description=record["description"],
        metadata=_copy(record["metadata"]),
        id=record["id"],
        stats=SkillStats(**record["stats"]),
        created_at=record["created_at"],
        updated_at=record["updated_at"],
        provenance=[dict(p) for p in record["provenance"]],
        version=record["version"],
        status=record["status"],
    )


def versions_of(record: Mapping[str, Any], vector: np.ndarray) -> list[SkillVersion]:
    """Every version the skill keeps, oldest first, each with its full content (the current
    one's is the record's and ``vector``)."""
    versions = []
    for entry in record["history"]:
        content = entry["content"]
        if content is None:
            content = {**{name: record[name] for name in CONTENT_FIELDS if name != "embedding"}}
            embedding = vector.astype(np.float32)
        else:
            embedding = np.frombuffer(content["embedding"], dtype="<f4").astype(np.float32)
        versions.append(SkillVersion(
            version=entry["version"],
            created_at=entry["at"],
            name=content["name"],
            actions=_copy(content["actions"]),
            embedding=embedding,
            preconditions=_copy(content["preconditions"]),
            description=content["description"],
            metadata=_copy(content["metadata"]),
            reason=entry["reason"],
            changed=tuple(entry["changed"]),
            parent=entry["parent"],
            rollback_of=entry["rollback_of"],
            stats=VersionStats(**entry["stats"]),
            events=tuple(StatusChange(**event) for event in entry["events"]),
        ))
    return versions


def version_of(record: Mapping[str, Any], vector: np.ndarray, version: int | None) -> Skill:
    """The skill with the content of ``version`` (its id, status, stats and times are the
    skill's own); the current skill for None or the current number."""
    skill = to_skill(dict(record), vector)
    if version is None or version == record["version"]:
        return skill
    number = check_version_number(version)
    for entry in record["history"]:
        if entry["version"] == number and entry["content"] is not None:
            content = entry["content"]
            skill.name, skill.actions = content["name"], _copy(content["actions"])
            skill.embedding = np.frombuffer(content["embedding"], dtype="<f4").astype(np.float32)
            skill.preconditions, skill.description = _copy(content["preconditions"]), content["description"]
            skill.metadata, skill.version = _copy(content["metadata"]), number
            return skill
    raise VersionNotFoundError(
        f"skill {shown(record['id'])} has no version {number}; it keeps versions "
        f"{[e['version'] for e in record['history']]}"
    )


_SCALARS = (str, int, float, bool, bytes, type(None))


def _copy(value: Any) -> Any:
    """A copy of ``value`` that shares nothing mutable with it (tuples too may hold maps)."""
    if isinstance(value, list):
        if all(type(v) in _SCALARS for v in value):
            return value.copy()  # the common case: a list of action names or numbers
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, tuple) and not all(type(v) in _SCALARS for v in value):
        return tuple(_copy(v) for v in value)
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


EMBED_BATCH = 256  # texts per call of an embedder during a re-embedding


def reembedded(
    records: list[dict[str, Any]], embedder: Embedder, progress: Callable[[int, int], None] | None = None
) -> np.ndarray:
    """Give the content of every version the records keep the embedding of its text by
    ``embedder`` (in place), and return the current versions' embeddings, a row per record.
    Each distinct text is embedded once; ``progress(done, total)`` follows the texts."""

    def text_of(content: Mapping[str, Any]) -> str:
        return skill_text(content["name"], content["description"], content["actions"])

    contents = [entry["content"] for record in records for entry in record["history"] if entry["content"] is not None]
    texts = list(dict.fromkeys([text_of(record) for record in records] + [text_of(c) for c in contents]))
    vectors = np.empty((len(texts), embedder.dim), dtype=np.float32)
    for start in range(0, len(texts), EMBED_BATCH):
        batch = embed_texts(embedder, texts[start : start + EMBED_BATCH])
        vectors[start : start + len(batch)] = [normalise_embedding(vector, embedder.dim) for vector in batch]
        if progress is not None:
            progress(start + len(batch), len(texts))
    position = {text: i for i, text in enumerate(texts)}
    for content in contents:
        content["embedding"] = vectors[position[text_of(content)]].tobytes()
    return vectors[[position[text_of(record)] for record in records]]
