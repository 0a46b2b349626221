"""A check of a FAISS index file's structure, made before FAISS reads it.

FAISS trusts the sizes a file claims: a 45-byte file whose header claims 2^30
vectors makes it allocate gigabytes before it notices the file is short, and an
HNSW graph whose neighbour lists point past the last vector crashes the first
search. Store files are checked against the MANIFEST's checksums, but a checksum
proves only that a file is the one the MANIFEST names, not that it is sane. So
every size and id in the file is checked against the file's length and against
what the store expects, and FAISS is handed only a file that passed.

Only the two layouts a store writes are accepted: ``IndexFlatIP`` ("IxFI") and
``IndexHNSWFlat`` ("IHNf") over an ``IndexFlatIP`` storage (FAISS's
``index_read.cpp``; the layout has been stable since FAISS 1.7).
"""

from __future__ import annotations

import struct

import numpy as np

_INDEX_HEADER = struct.Struct("<iqqq?i")  # d, ntotal, 2 unused, is_trained, metric
_U64 = struct.Struct("<Q")
_HNSW_TAIL = struct.Struct("<iiiii")  # entry_point, max_level, efConstruction, efSearch, unused
METRIC_INNER_PRODUCT = 0


class IndexFileError(ValueError):
    """The file is not an index the store could have written."""


class _Reader:
    def __init__(self, data: bytes | memoryview) -> None:
        self.data = memoryview(data).cast("B")
        self.pos = 0

    def take(self, size: int, what: str) -> memoryview:
        if size < 0 or size > len(self.data) - self.pos:
            raise IndexFileError(f"{what} needs {size} bytes at offset {self.pos}; the file has {len(self.data)}")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, fmt: struct.Struct, what: str) -> tuple[int, ...]:
        return fmt.unpack(self.take(fmt.size, what))

    def vector(self, dtype: str, what: str) -> np.ndarray:
        (count,) = self.unpack(_U64, f"{what} size")
        itemsize = np.dtype(dtype).itemsize
        if count > (len(self.data) - self.pos) // itemsize:
            raise IndexFileError(f"{what} claims {count} items; the file has room for fewer")
        return np.frombuffer(self.take(count * itemsize, what), dtype=dtype)


def check_index_file(data: bytes | memoryview, *, dim: int, rows: int, kind: str, m: int | None = None) -> None:
    """Raise IndexFileError unless ``data`` is a ``kind`` ("flat" or "hnsw") inner-product
    index of exactly ``rows`` vectors of dimension ``dim``, with nothing after it; an HNSW
    graph must have the neighbour-list sizes that ``M`` = ``m`` gives."""
    reader = _Reader(data)
    fourcc = bytes(reader.take(4, "index type"))
    expected = b"IHNf" if kind == "hnsw" else b"IxFI"
    if fourcc != expected:
        raise IndexFileError(f"index type {fourcc!r}, expected {expected!r} ({kind})")
    _check_header(reader, dim, rows)
    if kind == "hnsw":
        if m is None:
            raise IndexFileError("an HNSW index needs its M to be checked")
        _check_hnsw(reader, rows, m)
        if bytes(reader.take(4, "storage type")) != b"IxFI":
            raise IndexFileError("the HNSW graph's storage is not a flat inner-product index")
        _check_header(reader, dim, rows)
    (units,) = reader.unpack(_U64, "vector data size")
    if units != rows * dim:  # counted in 4-byte floats
        raise IndexFileError(f"vector data holds {units} floats, expected {rows} x {dim}")
    reader.take(units * 4, "vector data")
    if reader.pos != len(reader.data):
        raise IndexFileError(f"{len(reader.data) - reader.pos} unexpected bytes after the index")


def hnsw_m(head: bytes) -> int:
    """An HNSW file's M, from its first kilobyte (the size of its level 0 lists is 2M)."""
    reader = _Reader(head)
    if bytes(reader.take(4, "index type")) != b"IHNf":
        raise IndexFileError("not an HNSW index")
    reader.unpack(_INDEX_HEADER, "index header")
    reader.vector("<f8", "level probabilities")
    cumulative = reader.vector("<i4", "neighbours per level")
    if len(cumulative) < 2 or cumulative[1] % 2:
        raise IndexFileError("neighbours per level do not start with 2M")
    return int(cumulative[1]) // 2


def _check_header(reader: _Reader, dim: int, rows: int) -> None:
    d, ntotal, _, _, trained, metric = reader.unpack(_INDEX_HEADER, "index header")
    if not trained:
        raise IndexFileError("the index is marked untrained; the store only writes trained ones")
    if d != dim or ntotal != rows:
        raise IndexFileError(f"index of {ntotal} vectors of dimension {d}, expected {rows} of dimension {dim}")
    if metric != METRIC_INNER_PRODUCT:
        raise IndexFileError(f"index metric {metric}, expected inner product")


def _check_hnsw(reader: _Reader, rows: int, m: int) -> None:
    probabilities = reader.vector("<f8", "level probabilities")
    cumulative = reader.vector("<i4", "neighbours per level")
    # FAISS draws a new node's level from the probabilities and sizes its lists from the
    # table: one more entry than levels, 2M neighbours on level 0 and M on each above
    if not 1 <= len(probabilities) <= 64 or not np.all((probabilities >= 0) & (probabilities <= 1)):
        raise IndexFileError("level probabilities are not 1 to 64 probabilities")
    expected = np.concatenate([[0], 2 * m + m * np.arange(len(probabilities))])
    if len(cumulative) != len(probabilities) + 1 or np.any(cumulative != expected):
        raise IndexFileError(f"neighbours per level do not follow M = {m}")
    levels = reader.vector("<i4", "levels")
    offsets = reader.vector("<u8", "offsets")
    neighbours = reader.vector("<i4", "neighbour lists")
    entry_point, max_level, _, _, _ = reader.unpack(_HNSW_TAIL, "graph parameters")
    if len(levels) != rows or (rows and (levels.min() < 1 or levels.max() >= len(cumulative))):
        raise IndexFileError("node levels are out of range")
    if len(offsets) != rows + 1 or offsets[0] != 0 or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise IndexFileError("neighbour list offsets are not increasing from 0")
    if int(offsets[-1]) != len(neighbours):
        raise IndexFileError("neighbour list offsets do not end at the neighbour lists' end")
    sizes = np.diff(offsets.astype(np.int64))
    if rows and np.any(sizes != cumulative[levels].astype(np.int64)):
        raise IndexFileError("a node's neighbour list does not match its level")
    if len(neighbours) and (neighbours.min() < -1 or neighbours.max() >= rows):
        raise IndexFileError("a neighbour id is out of range")
    top = int(levels.max()) - 1 if rows else -1
    if max_level != top or not (-1 <= entry_point < rows) or (rows and levels[entry_point] - 1 != max_level):
        raise IndexFileError("the graph's entry point or top level is out of range")
