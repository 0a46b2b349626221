"""Applicability of skills to states, and the indexes that resolve filters to row ids.

A skill applies to a state when every precondition equals the state's value for
that key; a key missing from the state does not match; a skill without
preconditions applies everywhere. Lists and tuples compare as tuples. A state's
values are first made plain by ``validation.query_value``: any sequence kind
becomes a tuple, any mapping kind a dict, and a value of a kind no skill holds
(a set, an object) an :class:`Unmatchable`, which equals nothing.

Instead of testing every skill against a state, :class:`PreconditionIndex` groups
skills by the *set of keys* their preconditions name. A query looks up, for each
distinct key set, the state's values for those keys in a hash table, so its cost
grows with the number of distinct key sets, not with the number of skills.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import numpy as np

_EMPTY_ROWS = np.empty(0, dtype=np.int64)


_PLAIN = frozenset({int, float, str, bool, bytes, type(None)})


def canonical(value: Any) -> Any:
    """The stored form of a precondition value: lists become tuples, recursively."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, list | tuple):
        return tuple(canonical(v) for v in value)
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def freeze(value: Any) -> Hashable:
    """A hashable key equal for values that compare equal under the applicability rule."""
    if type(value) in _PLAIN:  # the common case, checked first: opening a store freezes every value
        return value  # type: ignore[no-any-return]
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return frozenset((k, freeze(v)) for k, v in value.items())
    if isinstance(value, set | frozenset):
        return frozenset(freeze(v) for v in value)
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, np.ndarray):
        return tuple(freeze(v) for v in value.tolist())
    if isinstance(value, np.generic):
        return value.item()  # type: ignore[no-any-return]
    try:
        hash(value)
    except TypeError:
        return Unmatchable()  # a kind no stored value can hold
    return value  # type: ignore[no-any-return]


class Unmatchable:
    """Stands for a queried value of a kind no skill holds (a set, an object...): it is
    hashable and equals nothing but itself, so it matches no skill."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Unmatchable()"


def applies(preconditions: Mapping[str, Any], state: Mapping[str, Any]) -> bool:
    """True when ``preconditions`` hold in ``state`` (the reference rule, one skill at a time)."""
    return all(k in state and freeze(state[k]) == freeze(v) for k, v in preconditions.items())


class RowBuckets:
    """Sets of row ids keyed by a hashable value, each readable as a cached sorted array."""

    def __init__(self) -> None:
        self._sets: dict[Hashable, set[int]] = {}
        self._arrays: dict[Hashable, np.ndarray] = {}

    def add(self, key: Hashable, row: int) -> None:
        self._sets.setdefault(key, set()).add(row)
        self._arrays.pop(key, None)

    def remove(self, key: Hashable, row: int) -> None:
        rows = self._sets.get(key)
        if rows is None:
            return
        rows.discard(row)
        self._arrays.pop(key, None)
        if not rows:
            del self._sets[key]

    def rows(self, key: Hashable) -> np.ndarray:
        cached = self._arrays.get(key)
        if cached is None:
            members = self._sets.get(key)
            if not members:
                return _EMPTY_ROWS
            cached = np.fromiter(sorted(members), dtype=np.int64, count=len(members))
            self._arrays[key] = cached
        return cached

    def __len__(self) -> int:
        return len(self._sets)


Signature = tuple[tuple[str, ...], tuple[Hashable, ...]]


def signature(preconditions: Mapping[str, Any]) -> Signature:
    """(sorted keys, their frozen values): equal exactly when two preconditions are equal."""
    keys = tuple(sorted(preconditions))
    return keys, tuple(freeze(preconditions[k]) for k in keys)


class PreconditionIndex:
    """Resolves a state to the sorted row ids of the skills that apply to it; takes each
    skill's precondition :func:`signature`."""

    def __init__(self) -> None:
        # sorted key tuple -> buckets keyed by the frozen values of those keys
        self._by_keys: dict[tuple[str, ...], RowBuckets] = {}

    def add(self, row: int, signature: Signature) -> None:
        keys, values = signature
        self._by_keys.setdefault(keys, RowBuckets()).add(values, row)

    def remove(self, row: int, signature: Signature) -> None:
        keys, values = signature
        buckets = self._by_keys.get(keys)
        if buckets is not None:
            buckets.remove(values, row)
            if not len(buckets):
                del self._by_keys[keys]

    def applicable(self, state: Mapping[str, Any]) -> np.ndarray:
        parts = []
        for keys, buckets in self._by_keys.items():
            if all(k in state for k in keys):
                rows = buckets.rows(tuple(freeze(state[k]) for k in keys))
                if len(rows):
                    parts.append(rows)
        return _union(parts)

    def key_sets(self) -> list[tuple[str, ...]]:
        """The distinct key sets the indexed preconditions use."""
        return list(self._by_keys)


class MetadataIndex:
    """Equality lookups on metadata keys, built for a key the first time it is queried."""

    def __init__(self) -> None:
        self._by_key: dict[str, RowBuckets] = {}

    def build(self, key: str, rows_and_metadata: Iterable[tuple[int, Mapping[str, Any]]]) -> None:
        buckets = RowBuckets()
        for row, metadata in rows_and_metadata:
            if key in metadata:
                buckets.add(freeze(metadata[key]), row)
        self._by_key[key] = buckets

    def has(self, key: str) -> bool:
        return key in self._by_key

    def add(self, row: int, metadata: Mapping[str, Any]) -> None:
        for key, buckets in self._by_key.items():
            if key in metadata:
                buckets.add(freeze(metadata[key]), row)

    def remove(self, row: int, metadata: Mapping[str, Any]) -> None:
        for key, buckets in self._by_key.items():
            if key in metadata:
                buckets.remove(freeze(metadata[key]), row)

    def matching(self, where: Mapping[str, Any]) -> np.ndarray:
        result: np.ndarray | None = None
        for key, value in where.items():
            rows = self._by_key[key].rows(freeze(value))
            result = rows if result is None else np.intersect1d(result, rows, assume_unique=True)
            if not len(result):
                break
        return _EMPTY_ROWS if result is None else result


def _union(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        return _EMPTY_ROWS
    if len(parts) == 1:
        return parts[0]
    return np.unique(np.concatenate(parts))
