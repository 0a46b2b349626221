"""The log's records ("frames") and their validation on replay.

A frame is what one committed write appends to the log: a msgpack map whose
``op`` says what it does. Replaying frames rebuilds a store, so a frame read back
from disk is checked with the same rules as the public API before it is applied:
a checksum proves that the writer wrote the bytes, not that the writer (or
whoever forged the file) wrote something sane. Every check raises
:class:`FrameError`, which the store reports as ``StoreCorruptError`` naming
the file and the frame's offset.

Frames (every key required, no other key allowed)::

    {"op": "add", "items": [{"record": <record>, "vector": <bytes>}
                            | {"merge": <id>, "entry": {"at", "name", "score"}}, ...]}
    {"op": "update", "id": <id>, "fields": {<updatable field but embedding>: value},
     "vector": <bytes> | None, "at": <time>, "reason": <str> | None, "status": <status> | None}
    {"op": "rollback", "id": <id>, "version": <int>, "at": <time>, "reason": <str> | None}
    {"op": "restore", "items": [{"record": <record>, "vector": <bytes>}, ...]}
    {"op": "delete", "ids": [<id>, ...]}
    {"op": "outcome", "id": <id>, "success": <bool>, "reward": <number> | None, "at": <time>}

An update frame of format 2 has no ``reason`` and ``status``: it is read as one with both None.
Records are checked by ``records.check_stored_record`` (a format-2 record, without versions,
becomes version 1, active, with a history of one version).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from skillstore.errors import InvalidInputError
from skillstore.records import (
    MAX_ID_LENGTH,
    check_reason,
    check_status,
    check_stored_record,
    check_version_number,
)
from skillstore.validation import UPDATABLE_FIELDS, check_fields, check_name, check_outcome, check_timestamp

VECTOR_NORM_TOLERANCE = 1e-4  # stored vectors are float32 unit vectors; their norms are within ~1e-6 of 1
_KEYS = {
    "add": {"op", "items"},
    "update": {"op", "id", "fields", "vector", "at", "reason", "status"},
    "rollback": {"op", "id", "version", "at", "reason"},
    "restore": {"op", "items"},
    "delete": {"op", "ids"},
    "outcome": {"op", "id", "success", "reward", "at"},
}


class FrameError(ValueError):
    """A frame that the public API could never have written."""


def check_frame(frame: Any, dim: int) -> dict[str, Any]:
    """``frame`` with canonical values, or FrameError saying what is wrong with it."""
    try:
        return _check(frame, dim)
    except FrameError:
        raise
    except InvalidInputError as exc:  # a field that the public API would refuse
        raise FrameError(str(exc)) from None


def _check(frame: Any, dim: int) -> dict[str, Any]:
    if not isinstance(frame, dict):
        raise FrameError(f"a frame must be a map, got {type(frame).__name__}")
    op = frame.get("op")
    if not isinstance(op, str) or op not in _KEYS:
        raise FrameError(f"unknown operation {op!r}")
    if op == "update" and set(frame) == _KEYS[op] - {"reason", "status"}:
        frame = {**frame, "reason": None, "status": None}  # written by format 2
    if set(frame) != _KEYS[op]:
        raise FrameError(f"{op} frame has fields {sorted(map(repr, frame))}, expected {sorted(_KEYS[op])}")
    if op in ("add", "restore"):
        items = _list(frame["items"], "items")
        checked = [_merge(item) if op == "add" and _is_merge(item) else _new(item, dim) for item in items]
        ids = [item["record"]["id"] for item in checked if "record" in item]
        if len(set(ids)) != len(ids):
            raise FrameError("the same id is added twice")
        return {"op": op, "items": checked}
    if op == "delete":
        ids = [_id(skill_id) for skill_id in _list(frame["ids"], "ids")]
        if len(set(ids)) != len(ids):
            raise FrameError("the same id is deleted twice")
        return {"op": op, "ids": ids}
    if op == "outcome":
        if not isinstance(frame["success"], bool):
            raise FrameError(f"success must be a bool, got {frame['success']!r}")
        success, reward = check_outcome(frame["success"], frame["reward"])
        return {"op": op, "id": _id(frame["id"]), "success": success, "reward": reward, "at": _time(frame["at"])}
    if op == "rollback":
        return {"op": op, "id": _id(frame["id"]), "version": check_version_number(frame["version"]),
                "at": _time(frame["at"]), "reason": check_reason(frame["reason"])}
    fields = frame["fields"]
    if not isinstance(fields, dict) or not set(fields) <= UPDATABLE_FIELDS - {"embedding"}:
        raise FrameError(f"update fields must be a map of {sorted(UPDATABLE_FIELDS - {'embedding'})}")
    vector = None if frame["vector"] is None else _vector(frame["vector"], dim)
    return {
        "op": op,
        "id": _id(frame["id"]),
        "fields": check_fields(fields, dim),
        "vector": vector,
        "at": _time(frame["at"]),
        "reason": check_reason(frame["reason"]),
        "status": None if frame["status"] is None else check_status(frame["status"]),
    }


def _is_merge(item: Any) -> bool:
    return isinstance(item, dict) and "merge" in item


def _merge(item: dict[str, Any]) -> dict[str, Any]:
    if set(item) != {"merge", "entry"}:
        raise FrameError("a merge item has fields merge and entry")
    entry = item["entry"]
    if not isinstance(entry, dict) or set(entry) != {"at", "name", "score"}:
        raise FrameError("a merge entry has fields at, name and score")
    score = entry["score"]
    if isinstance(score, bool) or not isinstance(score, float | int) or not math.isfinite(score) or abs(score) > 1.01:
        raise FrameError(f"a merge score must be a cosine, got {score!r}")
    checked = {"at": _time(entry["at"]), "name": check_name(entry["name"]), "score": float(score)}
    return {"merge": _id(item["merge"]), "entry": checked}


def _new(item: Any, dim: int) -> dict[str, Any]:
    if not isinstance(item, dict) or set(item) != {"record", "vector"}:
        raise FrameError("an item has fields record and vector")
    return {"record": check_stored_record(item["record"], dim), "vector": _vector(item["vector"], dim)}


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise FrameError(f"{what} must be a list")
    return value


def _id(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_LENGTH:
        raise FrameError(f"a skill id must be a string of 1 to {MAX_ID_LENGTH} characters, got {value!r}")
    return value


def _time(value: Any) -> float:
    return check_timestamp(value, "a frame's time")


def _vector(value: Any, dim: int) -> bytes:
    """Raw float32 bytes of a finite unit vector of length ``dim``."""
    if not isinstance(value, bytes) or len(value) != 4 * dim:
        raise FrameError(f"a vector must be {4 * dim} bytes ({dim} float32), got {type(value).__name__}")
    vector = np.frombuffer(value, dtype="<f4")
    if not np.all(np.isfinite(vector)):
        raise FrameError("a vector holds NaN or inf")
    norm = float(np.linalg.norm(vector.astype(np.float64)))
    if abs(norm - 1.0) > VECTOR_NORM_TOLERANCE:
        raise FrameError(f"a vector has norm {norm}, not 1")
    return value
