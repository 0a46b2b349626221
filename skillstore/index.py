"""Vector search: the only module that imports FAISS.

Vectors live in a FAISS ``IndexFlatIP`` over L2-normalised float32 rows, so inner
product is cosine similarity and search is exact. Rows are dense ids 0..n-1 in
insertion order; the catalog maps them to skill ids.

Filtered search picks its path by the size of the allowed set: a small set is
gathered and scored with one NumPy matrix product (cost grows with the set, not
the library); a large one goes to FAISS with an ``IDSelectorBitmap`` over row ids
(O(1) membership; ``IDSelectorArray`` tests membership by a linear scan).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import faiss
import numpy as np

from skillstore.errors import StoreCorruptError

# Allowed sets up to this size are scored by gathering their vectors. Above it a
# bitmap-filtered FAISS scan is cheaper (see the benchmarks in the README).
GATHER_MAX = 4096


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    """One query on a flat index ran faster on one OpenMP thread than on two here."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


class FlatIndex:
    """Exact inner-product search over unit vectors, with optional row filters."""

    kind = "flat"

    def __init__(self, dim: int, index: faiss.IndexFlatIP | None = None) -> None:
        self.dim = dim
        self._index: faiss.IndexFlatIP = index if index is not None else faiss.IndexFlatIP(dim)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim))

    def matrix(self) -> np.ndarray:
        """A read-only view of every stored row (no copy)."""
        n = len(self)
        if n == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        view = faiss.rev_swig_ptr(self._index.get_xb(), n * self.dim)
        array = np.asarray(view).reshape(n, self.dim)
        array.flags.writeable = False
        return array

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return np.array(self.matrix()[rows], dtype=np.float32)

    def cosines(self, query: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        """The cosine of ``query`` with each row in ``rows`` (every row when None)."""
        matrix = self.matrix()
        cosines: np.ndarray = (matrix if rows is None else matrix[rows]) @ query
        return cosines

    def search(
        self, queries: np.ndarray, k: int, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, row ids) per query among ``rows`` (all rows when None).

        Missing results are padded with row id -1.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        if rows is not None and len(rows) <= GATHER_MAX:
            return self._search_gathered(queries, k, rows)
        params = None
        if rows is not None:
            allowed = np.zeros(len(self), dtype=bool)
            allowed[rows] = True
            bitmap = np.packbits(allowed, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(self), faiss.swig_ptr(bitmap))
            params = faiss.SearchParameters()
            params.sel = selector
        threads = 1 if len(queries) == 1 else faiss.omp_get_max_threads()
        with _threads(threads):
            scores, labels = self._index.search(queries, k, params=params)
        return scores, labels

    def _search_gathered(
        self, queries: np.ndarray, k: int, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        labels = np.full((len(queries), k), -1, dtype=np.int64)
        if not len(rows):
            return scores, labels
        sims = queries @ self.matrix()[rows].T
        take = min(k, len(rows))
        top = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        top_scores = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        scores[:, :take] = np.take_along_axis(top_scores, order, axis=1)
        labels[:, :take] = rows[np.take_along_axis(top, order, axis=1)]
        return scores, labels

    def compacted(self, keep: np.ndarray) -> FlatIndex:
        """A new index holding only rows ``keep``, renumbered 0..len(keep)-1 in order."""
        fresh = FlatIndex(self.dim)
        if len(keep):
            fresh.add(self.vectors(keep))
        return fresh

    def to_bytes(self) -> bytes:
        return bytes(faiss.serialize_index(self._index))

    @classmethod
    def from_bytes(cls, data: bytes, dim: int, expected_rows: int, path: str) -> FlatIndex:
        """Load a serialised index whose checksum the caller has already verified."""
        try:
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except RuntimeError as exc:
            raise StoreCorruptError(f"index cannot be loaded: {exc}", path) from None
        if not isinstance(index, faiss.IndexFlatIP) or index.d != dim or index.ntotal != expected_rows:
            raise StoreCorruptError(
                f"index holds {index.ntotal} vectors of dimension {index.d}, "
                f"expected {expected_rows} of dimension {dim}",
                path,
            )
        return cls(dim, index)
