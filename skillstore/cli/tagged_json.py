"""Skill values as JSON, without losing what JSON cannot say.

A skill's ``actions``, ``metadata`` and ``preconditions`` hold any msgpack value:
bytes, tuples, maps with non-string keys, NaN and infinities. JSON has none of
these, so they are written as one-key "tagged" objects:

- ``{"$bytes": "<base64>"}`` for bytes,
- ``{"$tuple": [...]}`` for tuples (preconditions compare positions as tuples),
- ``{"$map": [[key, value], ...]}`` for a map whose keys are not all strings, or
  whose only key starts with ``$`` (so user data can never pass for a tag),
- ``{"$float": "nan" | "inf" | "-inf"}`` for floats strict JSON cannot hold.

Every other value is plain JSON, so ordinary data stays readable. ``decode``
inverts ``encode`` exactly: ``decode(encode(v)) == v`` (NaN aside, which equals nothing).
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

_TAGS = ("$bytes", "$tuple", "$map", "$float")
_SPECIAL_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class TaggedJSONError(ValueError):
    """Raised when a JSON value holds a malformed tag."""


def encode(value: Any) -> Any:
    """A JSON-serialisable form of ``value`` (see the module docstring for the tags)."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        plain = all(isinstance(k, str) for k in value) and not (
            len(value) == 1 and next(iter(value)).startswith("$")
        )
        if plain:
            return {k: encode(v) for k, v in value.items()}
        return {"$map": [[encode(k), encode(v)] for k, v in value.items()]}
    # numpy scalars and the like: their Python value, when they have one
    item = getattr(value, "item", None)
    if callable(item):
        return encode(item())
    raise TypeError(f"cannot encode a {type(value).__name__} as JSON")


def decode(value: Any) -> Any:
    """The value ``encode`` was given; raises :class:`TaggedJSONError` for a malformed tag."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, inner),) = value.items()
        if key in _TAGS:
            return _decode_tag(key, inner)
        if isinstance(key, str) and key.startswith("$"):
            raise TaggedJSONError(f"unknown tag {key[:40]!r}")
    return {k: decode(v) for k, v in value.items()}


def _decode_tag(tag: str, inner: Any) -> Any:
    if tag == "$bytes":
        if not isinstance(inner, str):
            raise TaggedJSONError("$bytes holds a base64 string")
        try:
            return base64.b64decode(inner.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise TaggedJSONError(f"$bytes is not valid base64: {exc}") from None
    if tag == "$float":
        if not isinstance(inner, str) or inner not in _SPECIAL_FLOATS:
            raise TaggedJSONError(f"$float is one of {sorted(_SPECIAL_FLOATS)}, got a {type(inner).__name__}")
        return _SPECIAL_FLOATS[inner]
    if not isinstance(inner, list):
        raise TaggedJSONError(f"{tag} holds a list")
    if tag == "$tuple":
        return tuple(decode(v) for v in inner)
    pairs = {}
    for pair in inner:
        if not isinstance(pair, list) or len(pair) != 2:
            raise TaggedJSONError("$map holds [key, value] pairs")
        key = decode(pair[0])
        try:
            hash(key)
        except TypeError:  # a list or a map, or a tuple holding one
            raise TaggedJSONError(f"a map key cannot be a {type(key).__name__} holding lists or maps") from None
        pairs[key] = decode(pair[1])
    return pairs
