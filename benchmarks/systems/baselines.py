"""The yardsticks: the reference design's list scan, NumPy brute force and raw FAISS.

None of them is a store; each keeps the dataset's arrays in ``.npy`` files, and
``open`` loads those and builds its in-memory structure, as a program using it
would on start-up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import Dataset
from benchmarks.systems.base import System, group_of, load_array, save_arrays


class ReferenceListScan(System):
    """The reference design's retrieval: a Python list of skills, scanned for every query."""

    name = "reference list scan"
    max_n = 100_000

    class _Skill:
        def __init__(self, row: int, preconditions: dict[str, Any], embedding: np.ndarray, group: int) -> None:
            self.row, self.preconditions, self.embedding = row, preconditions, embedding
            self.metadata = {"group": group}

        def is_applicable(self, state: dict[str, Any]) -> bool:
            return all(state.get(k) == v for k, v in self.preconditions.items())

    def build(self, data: Dataset, workdir: Path) -> None:
        save_arrays(workdir, vectors=data.vectors, zones=data.zones)

    def open(self, workdir: Path, *, read_only: bool = True) -> None:
        vectors, zones = load_array(workdir, "vectors"), load_array(workdir, "zones")
        self.skills = [
            self._Skill(i, {"zone": int(z)}, v, group_of(i))
            for i, (z, v) in enumerate(zip(zones, vectors, strict=True))
        ]

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        state = {} if zone is None else {"zone": zone}
        applicable = [s for s in self.skills if zone is None or s.is_applicable(state)]
        sims = [np.dot(q, s.embedding) / (np.linalg.norm(q) * np.linalg.norm(s.embedding) + 1e-8) for s in applicable]
        ranked = sorted(range(len(applicable)), key=lambda i: -sims[i])  # the reference sorted (sim, skill) pairs
        return [applicable[i].row for i in ranked[:k]]


class NumpyBruteForce(System):
    """Exact search with NumPy over the filtered rows (precomputed per zone)."""

    name = "numpy brute force"

    def build(self, data: Dataset, workdir: Path) -> None:
        save_arrays(workdir, vectors=data.vectors, zones=data.zones)

    def open(self, workdir: Path, *, read_only: bool = True) -> None:
        self.vectors, zones = load_array(workdir, "vectors"), load_array(workdir, "zones")
        self.rows = {int(z): np.flatnonzero(zones == z) for z in np.unique(zones)}

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        rows = None if zone is None else self.rows[zone]
        sims = (self.vectors if rows is None else self.vectors[rows]) @ q
        take = min(k, len(sims))
        top = np.argpartition(-sims, take - 1)[:take]
        top = top[np.argsort(-sims[top])]
        return (top if rows is None else rows[top]).tolist()  # type: ignore[no-any-return]


class FaissFlat(System):
    """Raw FAISS ``IndexFlatIP`` with a precomputed bitmap selector: the exact-search limit."""

    name = "faiss flat (raw)"

    def imports(self) -> None:
        import faiss  # noqa: F401

    def build(self, data: Dataset, workdir: Path) -> None:
        import faiss

        index = faiss.IndexFlatIP(data.dim)
        index.add(data.vectors)
        save_arrays(workdir, zones=data.zones, index=faiss.serialize_index(index))

    def open(self, workdir: Path, *, read_only: bool = True) -> None:
        import faiss

        self.faiss = faiss
        faiss.omp_set_num_threads(1)  # single queries: as fast as it gets on these machines
        self.index = faiss.deserialize_index(load_array(workdir, "index"))
        zones = load_array(workdir, "zones")
        self.params: dict[int, Any] = {}
        self._bitmaps = []  # the selectors point into these arrays
        for zone in np.unique(zones):
            allowed = np.packbits(zones == zone, bitorder="little")
            self._bitmaps.append(allowed)
            params = faiss.SearchParameters()
            params.sel = faiss.IDSelectorBitmap(len(zones), faiss.swig_ptr(allowed))
            self.params[int(zone)] = params

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        params = None if zone is None else self.params[zone]
        _, labels = self.index.search(q[None, :], k, params=params)
        return [int(x) for x in labels[0] if x >= 0]

    def close(self) -> None:
        if hasattr(self, "faiss"):
            self.faiss.omp_set_num_threads(os.cpu_count() or 1)
