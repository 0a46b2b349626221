"""msgpack encoding with the options every part of skillstore shares.

Store files are data only: msgpack carries no code, unlike pickle. Decoding is
bounded by the size of the buffer it is given, and callers bound that size
before they read anything from disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgpack


def pack(value: Any) -> bytes:
    """Encode ``value``; raises ``TypeError`` or ``ValueError`` for what msgpack cannot hold."""
    return msgpack.packb(value, use_bin_type=True, strict_types=False)  # type: ignore[no-any-return]


def unpack(data: bytes) -> Any:
    """Decode one msgpack value; raises ``ValueError`` (or a subclass) on malformed data."""
    return msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=True)


def unpack_list(data: bytes, count: int) -> Iterator[Any]:
    """The items of a msgpack array of exactly ``count`` items filling ``data``, decoded one
    at a time, so that a caller can refuse a bad item before the rest is decoded.

    Raises ``ValueError`` for anything else (a wrong count, trailing bytes, malformed data)."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, use_list=True, max_buffer_size=max(len(data), 1))
    unpacker.feed(data)
    try:
        length = unpacker.read_array_header()
    except (msgpack.OutOfData, TypeError) as exc:
        raise ValueError(f"not a list: {exc!r}") from None
    if length != count:
        raise ValueError(f"holds {length} items, expected {count}")
    for _ in range(length):
        try:
            yield unpacker.unpack()
        except (msgpack.OutOfData, TypeError) as exc:
            raise ValueError(f"an item cannot be decoded: {exc!r}") from None
    if unpacker.tell() != len(data):
        raise ValueError(f"{len(data) - unpacker.tell()} bytes follow the list")


def roundtrip(value: Any) -> Any:
    """``value`` as a store gives it back: tuples become lists, and so on."""
    return unpack(pack(value))
