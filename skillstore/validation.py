"""Checks that turn user input into the store's canonical values, or raise a typed error.

Every public write validates everything before it touches any state, so a bad
argument leaves the store exactly as it was.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from skillstore.codec import pack, unpack
from skillstore.errors import (
    DimensionMismatchError,
    InvalidEmbeddingError,
    InvalidInputError,
    InvalidSkillError,
)
from skillstore.preconditions import canonical

MAX_NAME_LENGTH = 4096
MAX_RECORD_BYTES = 16 * 1024 * 1024  # one skill's encoded fields, embedding excluded
MAX_DIM = 65536
UNIT_TOLERANCE = 1e-6  # float32 unit vectors have float64 norms within ~1e-7 of 1
UPDATABLE_FIELDS = frozenset(
    {"name", "actions", "embedding", "preconditions", "description", "metadata"}
)


def _as_float_array(embedding: Any, ndim: int) -> np.ndarray:
    if isinstance(embedding, str | bytes | dict) or embedding is None:
        raise InvalidEmbeddingError(f"an embedding must be a sequence of numbers, not {type(embedding).__name__}")
    try:
        array = np.asarray(embedding)
    except (ValueError, TypeError) as exc:
        raise InvalidEmbeddingError(f"an embedding must be a sequence of numbers: {exc}") from None
    if array.dtype.kind not in "fiu":
        raise InvalidEmbeddingError(f"an embedding must hold real numbers, got dtype {array.dtype}")
    if array.ndim != ndim:
        shape = "a 1-D vector" if ndim == 1 else "a 2-D array (one row per query)"
        raise InvalidEmbeddingError(f"an embedding must be {shape}, got shape {array.shape}")
    return array.astype(np.float64, copy=False)


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(matrix)):
        raise InvalidEmbeddingError("an embedding holds NaN or inf")
    # Scale by the largest magnitude first so that the norm of huge finite values cannot overflow.
    scale = np.max(np.abs(matrix), axis=1, keepdims=True) if matrix.size else np.ones((len(matrix), 1))
    if np.any(scale == 0):
        raise InvalidEmbeddingError("an embedding is all zeros and has no direction")
    scaled = matrix / scale
    norms = np.linalg.norm(scaled, axis=1, keepdims=True)
    unit: np.ndarray = (scaled / norms).astype(np.float32)
    # A row that is already unit length is kept as given: dividing it by its norm again could
    # move its last bit, and an exported embedding must come back exactly.
    # (a unit vector has no component above 1, which also keeps norms * scale from overflowing)
    already_unit = (scale <= 1.0) & (np.abs(norms * np.minimum(scale, 1.0) - 1.0) <= UNIT_TOLERANCE)
    if already_unit.any():
        unit = np.where(already_unit, matrix.astype(np.float32), unit)
    return unit


def normalise_embedding(embedding: Any, dim: int) -> np.ndarray:
    """A 1-D float32 unit vector of length ``dim``."""
    array = _as_float_array(embedding, 1)
    if array.shape[0] != dim:
        raise DimensionMismatchError(f"embedding has dimension {array.shape[0]}, the store has {dim}")
    vector: np.ndarray = _normalise_rows(array[None, :])[0]
    return vector


def normalise_queries(embeddings: Any, dim: int) -> np.ndarray:
    """A 2-D float32 array of unit rows, one per query."""
    array = _as_float_array(embeddings, 2)
    if array.shape[1] != dim:
        raise DimensionMismatchError(f"queries have dimension {array.shape[1]}, the store has {dim}")
    if array.shape[0] == 0:
        return np.empty((0, dim), dtype=np.float32)
    return _normalise_rows(array)


def check_dim(dim: Any) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or not 1 <= dim <= MAX_DIM:
        raise InvalidInputError(f"dim must be an integer between 1 and {MAX_DIM}, got {dim!r}")
    return int(dim)


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _serialisable(value: Any, what: str) -> Any:
    try:
        encoded = pack(value)
        decoded = unpack(encoded)  # a map keyed by a tuple packs, but its list key cannot come back
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidSkillError(f"{what} cannot be serialised with msgpack: {exc}") from None
    if len(encoded) > MAX_RECORD_BYTES:
        raise InvalidSkillError(f"{what} takes {len(encoded)} bytes, more than {MAX_RECORD_BYTES}")
    return decoded


def _string_keyed(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidSkillError(f"{what} must be a mapping, not {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise InvalidSkillError(f"{what} keys must be strings, got {key!r}")
    return dict(value)


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidSkillError(f"a skill name must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidSkillError(f"a skill name is limited to {MAX_NAME_LENGTH} characters")
    return name


def check_description(description: Any) -> str:
    if not isinstance(description, str):
        raise InvalidSkillError(f"a description must be a string, got {type(description).__name__}")
    return description


def check_preconditions(preconditions: Any) -> dict[str, Any]:
    """Preconditions in canonical form: string keys, lists turned into tuples."""
    checked = _string_keyed(preconditions, "preconditions")
    checked = {k: canonical(v) for k, v in checked.items()}
    _serialisable(checked, "preconditions")
    return checked


def check_metadata(metadata: Any) -> dict[str, Any]:
    checked = _string_keyed(metadata, "metadata")
    return _serialisable(checked, "metadata")  # type: ignore[no-any-return]


def check_actions(actions: Any) -> Any:
    return _serialisable(actions, "actions")


def check_fields(fields: Mapping[str, Any], dim: int) -> dict[str, Any]:
    """Validate the fields of an add or an update; returns them canonical, embedding as float32."""
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise InvalidInputError(
            f"cannot set {sorted(unknown)}; updatable fields are {sorted(UPDATABLE_FIELDS)}"
        )
    checkers = {
        "name": check_name,
        "actions": check_actions,
        "preconditions": check_preconditions,
        "description": check_description,
        "metadata": check_metadata,
    }
    checked: dict[str, Any] = {}
    for field_name, value in fields.items():
        if field_name == "embedding":
            checked["embedding"] = normalise_embedding(value, dim)
        else:
            checked[field_name] = checkers[field_name](value)
    return checked


def check_where(where: Any) -> dict[str, Any]:
    if where is None:
        return {}
    if not isinstance(where, Mapping) or not all(isinstance(k, str) for k in where):
        raise InvalidInputError("where must be a mapping from metadata keys (strings) to values")
    return dict(where)


def check_state(state: Any) -> Mapping[str, Any] | None:
    if state is not None and not isinstance(state, Mapping):
        raise InvalidInputError(f"state must be a mapping, not {type(state).__name__}")
    return state


def check_ids(ids: Iterable[Any]) -> list[str]:
    checked = list(ids)
    for skill_id in checked:
        if not isinstance(skill_id, str):
            raise InvalidInputError(f"a skill id must be a string, got {skill_id!r}")
    return checked


def check_outcome(success: Any, reward: Any) -> tuple[bool, float | None]:
    if not isinstance(success, bool | np.bool_):
        raise InvalidInputError(f"success must be a bool, got {success!r}")
    if reward is not None:
        if isinstance(reward, bool) or not isinstance(reward, int | float | np.number):
            raise InvalidInputError(f"reward must be a number or None, got {reward!r}")
        reward = float(reward)
        if not math.isfinite(reward):
            raise InvalidInputError("reward must be finite")
    return bool(success), reward


def per_query_states(
    state: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None, count: int
) -> list[Mapping[str, Any] | None]:
    """``search_many`` takes one state for every query, or a sequence with one per query."""
    if state is None or isinstance(state, Mapping):
        return [check_state(state)] * count
    if isinstance(state, str | bytes) or not isinstance(state, Sequence):
        raise InvalidInputError(f"state must be a mapping or a sequence of mappings, not {type(state).__name__}")
    states = list(state)
    if len(states) != count:
        raise InvalidInputError(f"got {len(states)} states for {count} queries")
    return [check_state(s) for s in states]


def check_threshold(threshold: Any) -> float | None:
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not -1.0 <= threshold <= 1.0:
        raise InvalidInputError(f"dedup_threshold must be a number in [-1, 1] or None, got {threshold!r}")
    return float(threshold)
