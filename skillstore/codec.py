"""msgpack encoding with the options every part of skillstore shares.

Store files are data only: msgpack carries no code, unlike pickle. Decoding is
bounded by the size of the buffer it is given, and callers bound that size
before they read anything from disk.
"""

from __future__ import annotations

from typing import Any

import msgpack


def pack(value: Any) -> bytes:
    """Encode ``value``; raises ``TypeError`` or ``ValueError`` for what msgpack cannot hold."""
    return msgpack.packb(value, use_bin_type=True, strict_types=False)  # type: ignore[no-any-return]


def unpack(data: bytes) -> Any:
    """Decode one msgpack value; raises ``ValueError`` (or a subclass) on malformed data."""
    return msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=True)


def roundtrip(value: Any) -> Any:
    """``value`` as a store gives it back: tuples become lists, and so on."""
    return unpack(pack(value))
