"""Canonical text for precondition and metadata values, so that SQL equality is Python equality.

A server compares values as text or JSON, not with Python's ``==``. Applicability
(``skillstore.preconditions.applies``) and ``where`` filters compare values after
``freeze``: lists equal tuples, ``True == 1 == 1.0``, ``1 != "1"``, dicts compare as
sets of pairs. :func:`item` turns one ``key: value`` pair into a string that two
pairs share exactly when their keys are equal and their values compare equal:

- ``None`` and strings stay as they are; ``bool`` and integral floats become ints
  (``True``, ``1`` and ``1.0`` give one text); other finite floats keep their
  shortest round-trip repr, which is unique to the float.
- lists, tuples and NumPy arrays become JSON arrays; dicts become a tagged list of
  ``[key, value]`` pairs sorted by the key's text; bytes are tagged hex.
- ``inf`` and ``-inf`` are tagged; NaN and any value of another type (a set, an
  object) get a fresh random tag, so they match nothing, not even themselves.
  Python's NaN likewise never equals NaN, except inside a list where it is the
  very same object: the one place the two rules part.

A store then keeps, per skill, the set of its precondition items; a skill applies
to a state when its set is contained in the state's set (``<@`` on ``text[]``, which
a GIN index serves). Long items are replaced by a digest so that they fit an index entry.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

MAX_ITEM_CHARS = 256  # longer items are stored as a digest (a GIN entry holds ~2.7 kB)


def canonical_value(value: Any) -> Any:
    """A JSON-encodable value, equal for two inputs exactly when Python finds them equal."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, np.ndarray):
        return canonical_value(value.tolist())
    if isinstance(value, np.generic):
        return canonical_value(value.item())
    if isinstance(value, numbers.Integral):  # bool included: True == 1 in Python
        return int(value)
    if isinstance(value, float):
        if value.is_integer():
            return int(value)  # exact: 1.0 == 1, 2.0**60 == 2**60
        if math.isfinite(value):
            return value
        if math.isnan(value):
            return {"nan": uuid.uuid4().hex}
        return {"float": "inf" if value > 0 else "-inf"}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, list | tuple):
        return [canonical_value(v) for v in value]
    if isinstance(value, Mapping):
        pairs = [[canonical_value(k), canonical_value(v)] for k, v in value.items()]
        return {"dict": sorted(pairs, key=lambda pair: _text(pair[0]))}
    return {"opaque": uuid.uuid4().hex}


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), sort_keys=True, allow_nan=False)


def item(key: str, value: Any) -> str:
    """The canonical text of one ``key: value`` pair."""
    text = _text([key, canonical_value(value)])
    if len(text) <= MAX_ITEM_CHARS:
        return text  # starts with "[": never equal to a digest
    return "#" + hashlib.sha256(text.encode("ascii")).hexdigest()


def items(mapping: Mapping[Any, Any]) -> list[str]:
    """Sorted canonical items of a mapping's string keys (other keys can never match a skill's)."""
    return sorted(item(k, v) for k, v in mapping.items() if isinstance(k, str))


def signature(preconditions: Mapping[str, Any]) -> str:
    """A digest equal for two precondition mappings exactly when they are equal (dedup groups)."""
    return hashlib.sha256(_text(items(preconditions)).encode("ascii")).hexdigest()


def readable(value: Any) -> Any:
    """A JSON rendering for people reading the table: natural where JSON can say it.

    Only for display and hand-written SQL; filters use :func:`item`. Bytes, non-finite
    floats and non-string keys are tagged or stringified, NUL characters replaced.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, list | tuple):
        return [readable(v) for v in value]
    if isinstance(value, Mapping):
        return {readable(k) if isinstance(k, str) else _text(canonical_value(k)): readable(v)
                for k, v in value.items()}
    return repr(value)


def lock_key(namespace: str, text: str) -> int:
    """A signed 64-bit key for ``pg_advisory_xact_lock``, derived from ``namespace`` and ``text``."""
    digest = hashlib.sha256(f"{namespace}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)

