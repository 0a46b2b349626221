"""Checks that turn user input into the store's canonical values, or raise a typed error.

Every public write validates everything before it touches any state, so a bad
argument leaves the store exactly as it was.
"""

from __future__ import annotations

import math
import os
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
from skillstore.preconditions import Unmatchable, canonical

MAX_NAME_LENGTH = 4096
MAX_RECORD_BYTES = 16 * 1024 * 1024  # one skill's encoded fields, embedding excluded
MAX_DIM = 65536
# Numbers a store holds are bounded so that each one stays exact in an export (JSON
# numbers are float64 to most readers) and every later write on it still fits:
MAX_COUNTER = 2**53 - 1  # attempts, successes, failures, observations
MAX_ABS_REWARD = 1e15  # one reward passed to record_outcome
MAX_TOTAL_REWARD = 1e300  # |total_reward|: adding any reward to it stays finite
MAX_TIMESTAMP = 253402300799.0  # 9999-12-31 23:59:59 UTC; timestamps are seconds in [0, this]
MAX_DEPTH = 64  # nesting levels of lists and maps in one value (actions, metadata, a state...)
MAX_BATCH_BYTES = 1 << 30  # one atomic write (add_many, restore_many) encodes to at most this
MAX_LOCK_TIMEOUT = 365 * 86400.0  # seconds
UNIT_TOLERANCE = 1e-6  # float32 unit vectors have float64 norms within ~1e-7 of 1
UPDATABLE_FIELDS = frozenset(
    {"name", "actions", "embedding", "preconditions", "description", "metadata"}
)


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


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
    if type(embedding) is np.ndarray and embedding.dtype in _FLOATS and embedding.shape == (dim,):
        # the common query, a unit vector already: kept as given, as the general path below
        # keeps it, for a fraction of its cost (a search's fixed cost is measured in microseconds)
        norm = float(np.dot(embedding, embedding))
        if abs(norm - 1.0) <= UNIT_TOLERANCE and float(np.max(np.abs(embedding))) <= 1.0:
            return embedding.astype(np.float32)
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
        raise InvalidInputError(f"dim must be an integer between 1 and {MAX_DIM}, got {shown(dim)}")
    return int(dim)


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {shown(k)}")
    return int(k)


def is_real(value: Any) -> bool:
    """True for an int or a float (bool excluded)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def finite_float(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is no real number or not finite."""
    if not is_real(value):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        return None
    return number if math.isfinite(number) else None


def check_counter(value: Any, what: str) -> int:
    """A counter: an integer in [0, MAX_COUNTER]."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNTER:
        raise InvalidSkillError(f"{what} must be an integer from 0 to {MAX_COUNTER}, got {shown(value)}")
    return int(value)


def check_timestamp(value: Any, what: str) -> float:
    """A timestamp: a finite number of seconds since the epoch in [0, MAX_TIMESTAMP] (year 9999)."""
    number = finite_float(value)
    if number is None or not 0.0 <= number <= MAX_TIMESTAMP:
        raise InvalidSkillError(
            f"{what} must be a finite number of seconds from 0 to {MAX_TIMESTAMP:.0f}, got {shown(value)}"
        )
    return number


def check_total_reward(value: Any, what: str = "total_reward") -> float:
    number = finite_float(value)
    if number is None or abs(number) > MAX_TOTAL_REWARD:
        raise InvalidSkillError(f"{what} must be a finite number within ±{MAX_TOTAL_REWARD:g}, got {shown(value)}")
    return number


def check_reward(reward: Any) -> float | None:
    """One outcome's reward: None, or a finite number within ±MAX_ABS_REWARD."""
    if reward is None:
        return None
    if isinstance(reward, bool) or not isinstance(reward, int | float | np.integer | np.floating):
        raise InvalidInputError(f"reward must be a number or None, got {shown(reward)}")
    try:
        value = float(reward)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value) or abs(value) > MAX_ABS_REWARD:
        raise InvalidInputError(f"reward must be finite and within ±{MAX_ABS_REWARD:g}, got {shown(reward)}")
    return value


def check_batch_size(total_bytes: int) -> None:
    """Refuse one atomic write that would encode to more than MAX_BATCH_BYTES."""
    if total_bytes > MAX_BATCH_BYTES:
        raise InvalidInputError(
            f"one write would encode to {total_bytes} bytes, more than {MAX_BATCH_BYTES}: split the batch"
        )


def check_iterable(values: Any, what: str) -> list[Any]:
    """The items of ``values``, a collection of items (a list, a generator...); not a string."""
    if values is None or isinstance(values, str | bytes | bytearray):
        raise InvalidInputError(f"{what} must be an iterable of items, got {shown(values)}")
    try:
        iterator = iter(values)
    except TypeError:
        raise InvalidInputError(f"{what} must be an iterable of items, not {type(values).__name__}") from None
    return list(iterator)


def check_text(value: str, what: str) -> str:
    """``value`` unless it cannot be stored as UTF-8 (a lone surrogate such as ``"\\ud800"``)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidSkillError(f"{what} is not valid Unicode: {exc.reason} at position {exc.start}") from None
    return value


def check_depth(value: Any, what: str, error: type[InvalidInputError] = InvalidSkillError) -> None:
    """Refuse a value whose lists, tuples and maps nest more than MAX_DEPTH levels deep."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children: Iterable[Any] = [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if level > MAX_DEPTH:
            raise error(f"{what} nests lists and maps more than {MAX_DEPTH} levels deep")
        stack.extend((child, level + 1) for child in children if isinstance(child, list | tuple | Mapping))


def shown(value: Any) -> str:
    """A repr for messages, cut short: a 400-digit number or a huge string stays readable, and a
    value whose repr fails (a 5000-digit int, a list nested 5000 deep) is named by its type."""
    try:
        text = repr(value)
    except Exception:  # RecursionError, or ValueError past the digit limit of int conversions
        text = f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def check_flag(value: Any, name: str) -> bool:
    """An on/off option: a bool (NumPy's included)."""
    if not isinstance(value, bool | np.bool_):
        raise InvalidInputError(f"{name} must be True or False, got {shown(value)}")
    return bool(value)


def check_path(path: Any) -> str | os.PathLike[str]:
    """A store's location: a str or path naming a directory (or a URL)."""
    if not isinstance(path, str | os.PathLike):
        raise InvalidInputError(f"a store path must be a str or a path, got {shown(path)}")
    try:
        text = os.fspath(path)
    except TypeError as exc:
        raise InvalidInputError(f"a store path must be a str or a path: {exc}") from None
    if not isinstance(text, str):
        raise InvalidInputError(f"a store path must be text, got {shown(text)}")
    if not text:
        raise InvalidInputError("a store path must not be empty")
    if "\x00" in text:
        raise InvalidInputError(f"a store path cannot hold a NUL character: {shown(text)}")
    try:
        os.fsencode(text)
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"a store path cannot be encoded for the file system: {exc.reason}") from None
    return path


def check_lock_timeout(timeout: Any) -> float:
    """Seconds to wait for the writer lock: a finite number in [0, MAX_LOCK_TIMEOUT]."""
    number = finite_float(timeout)
    if number is None or not 0.0 <= number <= MAX_LOCK_TIMEOUT:
        raise InvalidInputError(
            f"lock_timeout must be a number of seconds from 0 to {MAX_LOCK_TIMEOUT:g}, got {shown(timeout)}"
        )
    return number


def _serialisable(value: Any, what: str) -> Any:
    check_depth(value, what)
    try:
        encoded = pack(value)
        decoded = unpack(encoded)  # a map keyed by a tuple packs, but its list key cannot come back
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
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
            raise InvalidSkillError(f"{what} keys must be strings, got {shown(key)}")
    return dict(value)


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidSkillError(f"a skill name must be a non-empty string, got {shown(name)}")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidSkillError(f"a skill name is limited to {MAX_NAME_LENGTH} characters")
    return check_text(name, "a skill name")


def check_description(description: Any) -> str:
    if not isinstance(description, str):
        raise InvalidSkillError(f"a description must be a string, got {type(description).__name__}")
    return check_text(description, "a description")


def check_preconditions(preconditions: Any) -> dict[str, Any]:
    """Preconditions in canonical form: string keys, lists turned into tuples."""
    checked = _string_keyed(preconditions, "preconditions")
    check_depth(checked, "preconditions")
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
    """``where`` as a dict of metadata keys to query values (see :func:`query_value`)."""
    if where is None:
        return {}
    if not isinstance(where, Mapping) or not all(isinstance(k, str) for k in where):
        raise InvalidInputError("where must be a mapping from metadata keys (strings) to values")
    return {key: query_value(value, f"where[{shown(key)}]", 1) for key, value in where.items()}


def check_state(state: Any) -> dict[str, Any] | None:
    """``state`` as a dict of query values (see :func:`query_value`). Entries under keys that
    are not strings are left out: no precondition can name them."""
    if state is None:
        return None
    if not isinstance(state, Mapping):
        raise InvalidInputError(f"state must be a mapping, not {type(state).__name__}")
    return {key: query_value(value, f"state[{shown(key)}]", 1) for key, value in state.items() if isinstance(key, str)}


_QUERY_SCALARS = frozenset({type(None), bool, int, float, str, bytes})


def query_value(value: Any, what: str, depth: int = 1) -> Any:
    """A state or ``where`` value in the plain form every backend compares.

    The rule: None, bool, int, float, str and bytes stay as they are (subclasses become
    the base type; bytearray and memoryview become bytes; NumPy scalars their Python
    value); any other mapping (``UserDict``, ``MappingProxyType``...) becomes a dict and
    any other sequence (``UserList``, ``deque``, a NumPy array...) a tuple, item by item.
    A value of any other kind (a set, a slice, a ``SimpleNamespace``, a complex or a
    ``Decimal``...) is never a value a skill holds, so it matches nothing: it becomes an
    :class:`~skillstore.preconditions.Unmatchable`. Nesting deeper than ``MAX_DEPTH``
    levels raises InvalidInputError; ``depth`` is the level ``value`` sits at, 1 for a
    value of a state (whose mapping is level 1, as a skill's preconditions are).
    """
    kind = type(value)
    if kind in _QUERY_SCALARS:
        return value
    if isinstance(value, np.generic):
        return query_value(value.item(), what, depth)
    if isinstance(value, int):  # bool cannot be subclassed: this is an int subclass (IntEnum...)
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if not isinstance(value, np.ndarray | Mapping | Sequence):
        return Unmatchable()
    if depth >= MAX_DEPTH:
        raise InvalidInputError(f"{what} nests sequences and mappings more than {MAX_DEPTH} levels deep")
    if isinstance(value, np.ndarray):
        return query_value(value.tolist(), what, depth)
    if isinstance(value, Mapping):
        return {_query_key(key, what, depth + 1): query_value(item, what, depth + 1) for key, item in value.items()}
    return tuple(query_value(item, what, depth + 1) for item in value)


def _query_key(key: Any, what: str, depth: int) -> Any:
    plain = query_value(key, what, depth)
    try:
        hash(plain)
    except TypeError:  # a hashable mapping or sequence holding a mapping
        return Unmatchable()
    return plain


def check_ids(ids: Any) -> list[str]:
    checked = check_iterable(ids, "skill ids")
    for skill_id in checked:
        if not isinstance(skill_id, str):
            raise InvalidInputError(f"a skill id must be a string, got {shown(skill_id)}")
    return checked


def check_outcome(success: Any, reward: Any) -> tuple[bool, float | None]:
    if not isinstance(success, bool | np.bool_):
        raise InvalidInputError(f"success must be a bool, got {shown(success)}")
    return bool(success), check_reward(reward)


def per_query_states(
    state: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None, count: int
) -> list[dict[str, Any] | None]:
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
        raise InvalidInputError(f"dedup_threshold must be a number in [-1, 1] or None, got {shown(threshold)}")
    return float(threshold)
