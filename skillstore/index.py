"""Vector search: the only module that imports FAISS.

Vectors are L2-normalised float32 rows, so inner product is cosine similarity.
Rows are dense ids 0..n-1 in insertion order; the catalog maps them to skills.

Two kinds of index:

- ``flat`` (``IndexFlatIP``): exact search.
- ``hnsw`` (``IndexHNSWFlat``, inner product): approximate graph search for
  large libraries. HNSW has no ``remove_ids``: deleted rows stay in the graph as
  tombstones, are filtered out at search, and vanish when ``checkpoint()``
  rebuilds the graph.

Filtered search (a precondition state, ``where``, or tombstones) goes through
:meth:`VectorIndex.search`, a small planner (numbers measured on this project's
2-core machines, see the README):

1. a set queried before (the same filter again) of ``SUBSET_MIN_ROWS`` to
   ``SUBSET_MAX_ROWS`` rows: an exact flat index over a contiguous copy of its
   vectors, kept in a small least-recently-used cache (see :class:`SubsetCache`);
2. otherwise a set of at most ``GATHER_MAX`` rows: gather its vectors and score
   them with one NumPy product; cost grows with the set, not the library;
3. otherwise, on a flat index or when the set is at most ``EXACT_MAX`` rows:
   exact FAISS scan with an ``IDSelectorBitmap`` (O(1) membership; FAISS skips
   the distance computation of rows outside the set);
4. otherwise HNSW with the bitmap selector and ``efSearch`` raised in
   proportion to 1 / selectivity, because a filtered graph walk finds few
   allowed neighbours at the default ``efSearch`` (recall@10 fell to 0.16 at a
   1 % filter).
"""

from __future__ import annotations

import contextlib
import math
import os
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import faiss
import numpy as np

from skillstore.errors import InvalidInputError, StoreCorruptError

INDEX_KINDS = ("flat", "hnsw", "auto")
GATHER_MAX = 4096
EXACT_MAX = 20_000
EF_SEARCH_MAX = 4096
SUBSET_MIN_ROWS = 1024  # below this, gathering the scattered vectors costs next to nothing
SUBSET_MAX_ROWS = 200_000
SUBSET_CACHE_BYTES = 256 << 20
# ``auto`` builds HNSW at checkpoints once a library holds this many skills.
AUTO_HNSW_MIN_SKILLS = 50_000
HNSW_DEFAULTS = {"M": 32, "efConstruction": 200, "efSearch": 128}
# The ranges configure_index accepts: a graph's memory grows with M per vector (M=100000
# would need gigabytes for a few thousand skills) and build and search time with the ef values.
HNSW_RANGES = {"M": (2, 256), "efConstruction": (1, 4096), "efSearch": (1, 4096)}


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def _single_threaded_after_fork() -> None:
    """OpenMP (libgomp) cannot start threads in a child forked from a process that has
    used them: the child's first parallel search hangs. A forked child searches on one
    thread instead."""
    faiss.omp_set_num_threads(1)


os.register_at_fork(after_in_child=_single_threaded_after_fork)


def _query_threads(queries: int) -> int:
    """One query ran faster on one OpenMP thread than on two here; batches use them all."""
    return 1 if queries == 1 else faiss.omp_get_max_threads()


def index_params(kind: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The MANIFEST's description of an index: its kind, and HNSW's tunables where they apply."""
    if not isinstance(kind, str) or kind not in INDEX_KINDS:
        shown = repr(kind) if isinstance(kind, str) else f"a {type(kind).__name__}"
        raise InvalidInputError(f"index must be one of {INDEX_KINDS}, got {shown[:60]}")
    params: dict[str, Any] = {"kind": kind}
    if kind != "flat":
        params.update(HNSW_DEFAULTS)
    for key, value in (given or {}).items():
        if key not in HNSW_DEFAULTS or kind == "flat":
            raise InvalidInputError(f"{key!r} is not a tunable of a {kind} index")
        low, high = HNSW_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            shown = repr(value) if isinstance(value, int) and abs(value) < 10**12 else f"a {type(value).__name__}"
            raise InvalidInputError(f"{key} must be an integer between {low} and {high}, got {shown}")
        params[key] = int(value)
    return params


def active_kind(params: dict[str, Any], skills: int) -> str:
    """The structure to build for ``params`` over ``skills`` skills ("flat" or "hnsw")."""
    kind: str = params["kind"]
    if kind == "auto":
        return "hnsw" if skills >= AUTO_HNSW_MIN_SKILLS else "flat"
    return kind


class SubsetCache:
    """Exact flat indexes over the rows of filters that are queried again and again.

    A filtered search over tens of thousands of rows of a large library pays for
    a bitmap over every row, or for gathering scattered vectors; a contiguous copy
    of the filter's vectors answers in the time of a flat search over the subset.
    The catalog hands out the same array object for the same filter until the
    filter's rows change, so the array's identity is the key: a copy is made the
    second time an array is seen, and copies are evicted least recently used
    beyond ``SUBSET_CACHE_BYTES``. Any ``add`` clears the cache.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._entries: OrderedDict[int, tuple[weakref.ref[np.ndarray], Any]] = OrderedDict()
        self._seen: OrderedDict[int, weakref.ref[np.ndarray]] = OrderedDict()
        self._bytes = 0

    def get(self, rows: np.ndarray, matrix: Callable[[], np.ndarray]) -> Any | None:
        key = id(rows)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is rows:
            self._entries.move_to_end(key)
            return entry[1]
        size = len(rows) * self.dim * 4
        if len(rows) > SUBSET_MAX_ROWS or size > SUBSET_CACHE_BYTES:
            return None
        seen = self._seen.pop(key, None)
        if seen is None or seen() is not rows:
            self._seen[key] = weakref.ref(rows)
            while len(self._seen) > 64:
                self._seen.popitem(last=False)
            return None
        subset = faiss.IndexFlatIP(self.dim)
        subset.add(np.ascontiguousarray(matrix()[rows]))
        self._entries[key] = (weakref.ref(rows), subset)
        self._bytes += size
        while self._bytes > SUBSET_CACHE_BYTES:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._bytes -= int(evicted.ntotal) * self.dim * 4
        return subset

    def clear(self) -> None:
        self._entries.clear()
        self._seen.clear()
        self._bytes = 0


class VectorIndex:
    """Search over unit vectors with optional row filters; exact unless HNSW is active."""

    def __init__(self, dim: int, params: dict[str, Any], index: Any) -> None:
        self.dim = dim
        self.params = params
        self._index = index
        self._matrix: np.ndarray | None = None
        self._subsets = SubsetCache(self.dim)
        self.kind = "hnsw" if isinstance(index, faiss.IndexHNSW) else "flat"
        # the vectors themselves: HNSW keeps them in a flat "storage" index
        self._flat: Any = faiss.downcast_index(index.storage) if self.kind == "hnsw" else index

    @classmethod
    def empty(cls, dim: int, params: dict[str, Any], kind: str) -> VectorIndex:
        index: Any
        if kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, params["M"], faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = params["efConstruction"]
        else:
            index = faiss.IndexFlatIP(dim)
        return cls(dim, params, index)

    @classmethod
    def build(cls, dim: int, params: dict[str, Any], kind: str, vectors: np.ndarray) -> VectorIndex:
        index = cls.empty(dim, params, kind)
        if len(vectors):
            index.add(vectors)
        return index

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim))
        self._matrix = None  # the vectors may have moved
        self._subsets.clear()

    def matrix(self) -> np.ndarray:
        """A read-only view of every stored row (no copy), valid until the next ``add``."""
        if self._matrix is None:
            n = len(self)
            if n == 0:
                return np.empty((0, self.dim), dtype=np.float32)
            view = faiss.rev_swig_ptr(self._flat.get_xb(), n * self.dim)
            self._matrix = np.asarray(view).reshape(n, self.dim)
            self._matrix.flags.writeable = False
        return self._matrix

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return np.array(self.matrix()[rows], dtype=np.float32)

    def cosines(self, query: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        """The exact cosine of ``query`` with each row in ``rows`` (every row when None)."""
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
        total = len(self)
        if rows is not None:
            subset = self._subsets.get(rows, self.matrix) if len(rows) > SUBSET_MIN_ROWS else None
            if subset is not None:
                with _threads(_query_threads(len(queries))):
                    scores, local = subset.search(queries, k)
                return scores, np.where(local >= 0, rows[np.maximum(local, 0)], -1)
            if len(rows) <= GATHER_MAX:
                return self._search_gathered(queries, k, rows)
        selector = None
        if rows is not None:
            allowed = np.zeros(total, dtype=bool)
            allowed[rows] = True
            bitmap = np.packbits(allowed, bitorder="little")  # must outlive the search
            selector = faiss.IDSelectorBitmap(total, faiss.swig_ptr(bitmap))
        exact = self.kind == "flat" or (rows is not None and len(rows) <= EXACT_MAX)
        if exact:
            params: Any = faiss.SearchParameters()
            target = self._flat
        else:
            selectivity = 1.0 if rows is None else len(rows) / total
            params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            params.efSearch = min(EF_SEARCH_MAX, max(k, math.ceil(self.params["efSearch"] / selectivity)))
            target = self._index
        if selector is not None:
            params.sel = selector
        with _threads(_query_threads(len(queries))):
            scores, labels = target.search(queries, k, params=params)
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

    def rebuilt(self, keep: np.ndarray, params: dict[str, Any], kind: str) -> VectorIndex:
        """An index of rows ``keep`` (renumbered 0..len-1 in order) of the given kind.

        Reuses this one when the graph would come out the same (only ``efSearch``
        changed, no row dropped): rebuilding an HNSW graph is costly.
        """
        same_graph = kind == "flat" or all(params.get(k) == self.params.get(k) for k in ("M", "efConstruction"))
        if len(keep) == len(self) and kind == self.kind and same_graph:
            self.params = params
            return self
        return VectorIndex.build(self.dim, params, kind, self.vectors(keep))

    def serialize(self) -> np.ndarray:
        """The index as FAISS's file format, in memory: the store writes it through its own
        checked writer (FAISS's own writer reports a failed write only on stderr)."""
        data: np.ndarray = faiss.serialize_index(self._index)
        return data

    @classmethod
    def from_bytes(cls, data: bytes | np.ndarray, dim: int, params: dict[str, Any]) -> VectorIndex:
        """Load an index whose bytes were checked (checksum, and structure by
        ``skillstore.storage.faiss_file``) before FAISS sees them; its vectors must be
        finite unit vectors."""
        buffer = np.frombuffer(data, dtype=np.uint8)
        try:
            index = faiss.deserialize_index(buffer)
        except RuntimeError as exc:
            raise StoreCorruptError(f"index cannot be loaded: {' '.join(str(exc).split())}") from None
        loaded = cls(dim, params, index)
        if loaded.kind == "hnsw":  # the MANIFEST's parameters rule, not what the file says
            loaded._index.hnsw.efConstruction = params["efConstruction"]
        matrix = loaded.matrix()
        if len(matrix):
            norms = np.linalg.norm(matrix.astype(np.float64), axis=1)
            if not np.all(np.abs(norms - 1.0) <= 1e-4):  # NaN fails too
                raise StoreCorruptError("index holds vectors that are not finite unit vectors")
        return loaded


def check_index_record(raw: dict[str, Any]) -> dict[str, Any]:
    """The MANIFEST's description of an index, checked: a known kind, tunables in range,
    and an ``active`` structure that the kind allows. Raises InvalidInputError."""
    given = dict(raw)
    kind, active = given.pop("kind", None), given.pop("active", None)
    if not isinstance(kind, str):
        raise InvalidInputError(f"index kind must be a string, got {kind!r}")
    params = index_params(kind, given)
    allowed = {"flat": ("flat",), "hnsw": ("hnsw",), "auto": ("flat", "hnsw")}[kind]
    if active not in allowed:
        raise InvalidInputError(f"a {kind} index cannot have a {active!r} structure")
    params["active"] = active
    return params
