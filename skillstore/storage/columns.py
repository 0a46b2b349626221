"""The column file: named fixed-width NumPy arrays in one file, read back as memory-mapped views.

Layout (little-endian)::

    b"SKCL" | u32 layout version | u64 table length | table (msgpack) | arrays

The table lists ``[name, dtype, shape, offset, nbytes]`` for every array; each array
starts at a multiple of ``ALIGN`` bytes, so a view of it is aligned for its dtype.
The file's size and CRC-32 are in the MANIFEST and are checked before the table is
read; the table itself is still checked field by field (a crafted file can carry a
valid checksum): known dtypes only, shapes that match their byte counts, arrays
inside the file and never overlapping.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from skillstore.codec import pack, unpack

MAGIC = b"SKCL"
LAYOUT_VERSION = 1
ALIGN = 64
_HEADER = struct.Struct("<4sIQ")
_MAX_TABLE_BYTES = 1 << 20
# Every dtype a column may have: fixed width, little-endian, no objects.
DTYPES = frozenset({"<i8", "<u8", "<i4", "<u4", "<f8", "<f4", "|u1", "|b1"})


class ColumnFileError(ValueError):
    """Raised when a column file's layout is not one this module writes."""


def encode_columns(columns: Mapping[str, np.ndarray]) -> bytes:
    """The column file holding ``columns`` (each made contiguous and little-endian)."""
    arrays = {name: np.ascontiguousarray(array) for name, array in columns.items()}
    for name, array in arrays.items():
        if array.dtype.str not in DTYPES:
            raise ColumnFileError(f"column {name!r} has dtype {array.dtype.str}, not a column dtype")
    # the table's size depends on the offsets it holds: lay out with room for the largest offsets
    table_room = len(pack([[name, a.dtype.str, list(a.shape), 1 << 62, a.nbytes] for name, a in arrays.items()]))
    offsets = []
    offset = _aligned(_HEADER.size + table_room)
    for array in arrays.values():
        offsets.append(offset)
        offset = _aligned(offset + array.nbytes)
    table = pack([[name, a.dtype.str, list(a.shape), at, a.nbytes]
                  for (name, a), at in zip(arrays.items(), offsets, strict=True)])
    parts = [_HEADER.pack(MAGIC, LAYOUT_VERSION, len(table)), table]
    position = _HEADER.size + len(table)
    for at, array in zip(offsets, arrays.values(), strict=True):
        parts.append(bytes(at - position))
        parts.append(array.tobytes())
        position = at + array.nbytes
    return b"".join(parts)


def decode_columns(buffer: Any) -> dict[str, np.ndarray]:
    """Read-only views of the columns in ``buffer`` (a bytes-like object or an mmap); raises
    ColumnFileError for any layout this module would not have written."""
    view = memoryview(buffer).cast("B")
    size = len(view)
    if size < _HEADER.size:
        raise ColumnFileError("is shorter than its header")
    magic, version, table_size = _HEADER.unpack_from(view)
    if magic != MAGIC:
        raise ColumnFileError("is not a column file (bad magic)")
    if version != LAYOUT_VERSION:
        raise ColumnFileError(f"has layout version {version}, this release reads {LAYOUT_VERSION}")
    if table_size > min(_MAX_TABLE_BYTES, size - _HEADER.size):
        raise ColumnFileError(f"claims a table of {table_size} bytes")
    try:
        table = unpack(bytes(view[_HEADER.size : _HEADER.size + table_size]))
    except (ValueError, TypeError) as exc:
        raise ColumnFileError(f"table cannot be decoded: {exc}") from None
    if not isinstance(table, list):
        raise ColumnFileError("table is not a list")
    columns: dict[str, np.ndarray] = {}
    end_of_last = _HEADER.size + table_size
    for entry in table:
        name, dtype, shape, offset, nbytes = _entry(entry)
        if name in columns:
            raise ColumnFileError(f"lists column {name!r} twice")
        if offset % ALIGN or offset < end_of_last or offset + nbytes > size:
            raise ColumnFileError(f"column {name!r} at offset {offset} ({nbytes} bytes) is misplaced")
        itemsize = np.dtype(dtype).itemsize
        if math.prod(shape) * itemsize != nbytes:
            raise ColumnFileError(f"column {name!r}: shape {shape} does not fill {nbytes} bytes")
        array = np.frombuffer(view, dtype=np.dtype(dtype), count=math.prod(shape), offset=offset).reshape(shape)
        array.flags.writeable = False
        columns[name] = array
        end_of_last = offset + nbytes
    return columns


def _entry(entry: Any) -> tuple[str, str, tuple[int, ...], int, int]:
    if not isinstance(entry, list) or len(entry) != 5:
        raise ColumnFileError(f"table entry {str(entry)[:60]} is not [name, dtype, shape, offset, nbytes]")
    name, dtype, shape, offset, nbytes = entry
    if not isinstance(name, str) or len(name) > 64:
        raise ColumnFileError(f"column name {str(name)[:60]!r}")
    if dtype not in DTYPES:
        raise ColumnFileError(f"column {name!r} has dtype {str(dtype)[:20]!r}")
    if not isinstance(shape, list) or not 1 <= len(shape) <= 2 or not all(_count(d) for d in shape):
        raise ColumnFileError(f"column {name!r} has shape {str(shape)[:60]}")
    if not _count(offset) or not _count(nbytes):
        raise ColumnFileError(f"column {name!r}: offset {offset!r}, size {nbytes!r}")
    return name, dtype, tuple(shape), offset, nbytes


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 48


def _aligned(offset: int) -> int:
    return -(-offset // ALIGN) * ALIGN
