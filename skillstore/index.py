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

import math
import os
import weakref
from collections import OrderedDict
from collections.abc import Callable
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


class _threads:  # noqa: N801 - used as a context manager, like a function
    """Run FAISS on ``count`` OpenMP threads inside the block (a class, not a generator:
    it is entered on every search)."""

    __slots__ = ("count", "previous")

    def __init__(self, count: int) -> None:
        self.count = count
        self.previous = 0

    def __enter__(self) -> None:
        self.previous = faiss.omp_get_max_threads()
        if self.previous != self.count:
            faiss.omp_set_num_threads(self.count)

    def __exit__(self, *exc: object) -> None:
        if self.previous != self.count:
            faiss.omp_set_num_threads(self.previous)


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
    """Exact copies of the vectors of filters that are queried again and again.

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
        self._entries: OrderedDict[int, tuple[weakref.ref[np.ndarray], np.ndarray]] = OrderedDict()
        self._seen: OrderedDict[int, weakref.ref[np.ndarray]] = OrderedDict()
        self._bytes = 0

    def get(self, rows: np.ndarray, gather: Callable[[np.ndarray], np.ndarray]) -> np.ndarray | None:
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
        subset = gather(rows)
        self._entries[key] = (weakref.ref(rows), subset)
        self._bytes += size
        while self._bytes > SUBSET_CACHE_BYTES:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._bytes -= evicted.nbytes
        return subset

    def clear(self) -> None:
        self._entries.clear()
        self._seen.clear()
        self._bytes = 0


def knn(queries: np.ndarray, vectors: np.ndarray, k: int, selector: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """FAISS's exact inner-product scan over ``vectors`` in place (a memory map needs no copy);
    rows outside ``selector`` are skipped. Missing results have row id -1."""
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    labels = np.full((len(queries), k), -1, dtype=np.int64)
    if len(vectors) and len(queries):
        faiss.knn_inner_product(
            faiss.swig_ptr(queries), faiss.swig_ptr(vectors), vectors.shape[1], len(queries), len(vectors), k,
            faiss.swig_ptr(scores), faiss.swig_ptr(labels), selector,
        )
    return scores, labels


def _bitmap(allowed: np.ndarray) -> tuple[Any, np.ndarray]:
    bits = np.packbits(allowed, bitorder="little")  # must outlive the search
    return faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits)), bits


def _merge(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of several (scores, labels) results per query, best first."""
    if len(parts) == 1:
        return parts[0]
    scores = np.concatenate([p[0] for p in parts], axis=1)
    labels = np.concatenate([p[1] for p in parts], axis=1)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(labels, order, axis=1)


class VectorIndex:
    """Search over unit vectors with optional row filters; exact unless HNSW is active.

    The vectors are the snapshot's rows (``base``, memory-mapped, never copied) followed by
    the rows added since (``tail``, in memory). An exact search scans both in place; an
    HNSW graph, when active, is derived from the same rows and holds them all.
    """

    def __init__(self, dim: int, params: dict[str, Any], base: np.ndarray, graph: Any = None) -> None:
        self.dim = dim
        self.params = params
        self._base = base
        self._tail = np.empty((0, dim), dtype=np.float32)
        self._tail_rows = 0
        self._graph = graph
        self._subsets = SubsetCache(dim)
        self.kind = "flat" if graph is None else "hnsw"

    @classmethod
    def empty(cls, dim: int, params: dict[str, Any], kind: str) -> VectorIndex:
        base = np.empty((0, dim), dtype=np.float32)
        return cls(dim, params, base, new_graph(dim, params) if kind == "hnsw" else None)

    @classmethod
    def from_faiss_file(cls, data: bytes, dim: int, rows: int, params: dict[str, Any]) -> VectorIndex:
        """The vectors (and HNSW graph) of a FAISS index file of format 2, whose structure was
        checked before FAISS reads it; its vectors must be finite unit vectors."""
        try:
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except RuntimeError as exc:
            raise StoreCorruptError(f"index cannot be loaded: {' '.join(str(exc).split())}") from None
        flat: Any = faiss.downcast_index(index.storage) if isinstance(index, faiss.IndexHNSW) else index
        vectors = np.array(faiss.rev_swig_ptr(flat.get_xb(), rows * dim), dtype=np.float32).reshape(rows, dim)
        if len(check_unit_rows(vectors)):
            raise StoreCorruptError("index holds vectors that are not finite unit vectors")
        graph = None
        if params["active"] == "hnsw":
            index.hnsw.efConstruction = params["efConstruction"]  # type: ignore[attr-defined]
            graph = index
        return cls(dim, params, vectors, graph)

    def __len__(self) -> int:
        return len(self._base) + self._tail_rows

    @property
    def base_rows(self) -> int:
        return len(self._base)

    def add(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        needed = self._tail_rows + len(vectors)
        if needed > len(self._tail):
            grown = np.empty((max(needed, 2 * len(self._tail), 64), self.dim), dtype=np.float32)
            grown[: self._tail_rows] = self._tail[: self._tail_rows]
            self._tail = grown
        self._tail[self._tail_rows : needed] = vectors
        self._tail_rows = needed
        if self._graph is not None:
            self._graph.add(vectors)
        self._subsets.clear()

    def _tail_view(self) -> np.ndarray:
        return self._tail[: self._tail_rows]

    def vector(self, row: int) -> np.ndarray:
        """A copy of one row's vector."""
        split = len(self._base)
        return np.array(self._base[row] if row < split else self._tail[row - split], dtype=np.float32)

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """A contiguous copy of the vectors of ``rows``."""
        split = len(self._base)
        if not self._tail_rows:
            return np.ascontiguousarray(self._base[rows])
        if not split:
            return np.ascontiguousarray(self._tail[rows])
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        in_base = rows < split
        out[in_base] = self._base[rows[in_base]]
        out[~in_base] = self._tail[rows[~in_base] - split]
        return out

    def cosines(self, query: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        """The exact cosine of ``query`` with each row in ``rows`` (every row when None)."""
        if rows is None:
            rows = np.arange(len(self), dtype=np.int64)
        cosines: np.ndarray = self.gather(rows) @ query
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
            subset = self._subsets.get(rows, self.gather) if len(rows) > SUBSET_MIN_ROWS else None
            if subset is not None:
                with _threads(_query_threads(len(queries))):
                    scores, local = knn(queries, subset, k)
                return scores, np.where(local >= 0, rows[np.maximum(local, 0)], -1)
            if len(rows) <= GATHER_MAX:
                return self._search_gathered(queries, k, rows)
        exact = self._graph is None or (rows is not None and len(rows) <= EXACT_MAX)
        with _threads(_query_threads(len(queries))):
            if exact:
                return self._scan(queries, k, rows)
            selectivity = 1.0 if rows is None else len(rows) / total
            params: Any = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            params.efSearch = min(EF_SEARCH_MAX, max(k, math.ceil(self.params["efSearch"] / selectivity)))
            keep: Any = None
            if rows is not None:
                allowed = np.zeros(total, dtype=bool)
                allowed[rows] = True
                params.sel, keep = _bitmap(allowed)
            scores, labels = self._graph.search(queries, k, params=params)
            del keep
            return scores, labels

    def _scan(self, queries: np.ndarray, k: int, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Exact search over the base and the tail in place, with a bitmap of ``rows``."""
        split = len(self._base)
        allowed = None
        if rows is not None:
            allowed = np.zeros(len(self), dtype=bool)
            allowed[rows] = True
        parts = []
        for vectors, offset in ((self._base, 0), (self._tail_view(), split)):
            if not len(vectors):
                continue
            selector, keep = (None, None) if allowed is None else _bitmap(allowed[offset : offset + len(vectors)])
            scores, labels = knn(queries, vectors, k, selector)
            del keep
            parts.append((scores, np.where(labels >= 0, labels + offset, -1) if offset else labels))
        if not parts:
            return knn(queries, self._base, k)
        return _merge(parts, k)

    def _search_gathered(
        self, queries: np.ndarray, k: int, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        take = min(k, len(rows))
        scores = np.empty((len(queries), k), dtype=np.float32)
        labels = np.empty((len(queries), k), dtype=np.int64)
        if take < k:
            scores[:, take:] = -np.inf
            labels[:, take:] = -1
        if not take:
            return scores, labels
        if len(queries) == 1:  # the common case, without the batched helpers' overhead
            sims1 = self.gather(rows) @ queries[0]
            top1 = np.argpartition(-sims1, take - 1)[:take] if take < len(rows) else np.arange(len(rows))
            best = top1[np.argsort(-sims1[top1], kind="stable")]
            scores[0, :take] = sims1[best]
            labels[0, :take] = rows[best]
            return scores, labels
        sims = queries @ self.gather(rows).T
        top = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        top_scores = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        scores[:, :take] = np.take_along_axis(top_scores, order, axis=1)
        labels[:, :take] = rows[np.take_along_axis(top, order, axis=1)]
        return scores, labels

    def graph_for(self, keep: np.ndarray, params: dict[str, Any], vectors: np.ndarray) -> Any:
        """The HNSW graph of rows ``keep`` (renumbered 0..len-1, their vectors ``vectors``) under
        ``params``: this one when it would come out the same (only ``efSearch`` changed, no row
        dropped or moved), since rebuilding a graph is costly; otherwise a new one."""
        same = self._graph is not None and all(params.get(k) == self.params.get(k) for k in ("M", "efConstruction"))
        if same and len(keep) == len(self) and bool(np.all(keep == np.arange(len(keep)))):
            return self._graph
        return build_graph(self.dim, params, vectors)


def new_graph(dim: int, params: dict[str, Any]) -> Any:
    graph = faiss.IndexHNSWFlat(dim, params["M"], faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = params["efConstruction"]
    return graph


def build_graph(dim: int, params: dict[str, Any], vectors: np.ndarray) -> Any:
    graph = new_graph(dim, params)
    if len(vectors):
        graph.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return graph


def graph_bytes(graph: Any) -> np.ndarray:
    data: np.ndarray = faiss.serialize_index(graph)
    return data


def load_graph(data: bytes | np.ndarray, vectors: np.ndarray, params: dict[str, Any]) -> Any | None:
    """The HNSW graph in ``data`` (structure already checked), or None when it cannot serve
    ``vectors``: it fails to load, or the vectors it holds are not exactly those rows. The
    graph is derived data: the caller rebuilds it from the vectors."""
    try:
        graph = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    except RuntimeError:
        return None
    if not isinstance(graph, faiss.IndexHNSW) or graph.ntotal != len(vectors) or graph.d != vectors.shape[1]:
        return None
    storage: Any = faiss.downcast_index(graph.storage)
    if len(vectors):
        held = faiss.rev_swig_ptr(storage.get_xb(), len(vectors) * vectors.shape[1])
        if not np.array_equal(np.asarray(held).reshape(vectors.shape), vectors):
            return None
    graph.hnsw.efConstruction = params["efConstruction"]  # the MANIFEST's parameters rule
    return graph


def check_unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows of ``vectors`` that are not finite unit vectors (NaN fails too). The squared norms
    are summed in float32, in chunks: exact enough for the 2e-4 tolerance, and ten times
    faster than float64 over a million rows."""
    bad = []
    for start in range(0, len(vectors), 1 << 16):
        chunk = vectors[start : start + (1 << 16)]
        norms = np.einsum("ij,ij->i", chunk, chunk)
        bad.append(np.flatnonzero(~(np.abs(norms - 1.0) <= 2e-4)) + start)
    return np.concatenate(bad) if bad else np.empty(0, dtype=np.int64)


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
