"""The embedded stores users would pick instead, each at its recommended settings.

Each one stores the zone and the group of every skill in its own metadata
columns and expresses the zone filter in its own filter language. HNSW systems
get the same graph parameters as skillstore's HNSW (``K_HNSW``); the others
search exactly. Packages are imported lazily: a missing one skips the system
with a message (install them with the ``bench`` extra).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import Dataset
from benchmarks.systems.base import K_HNSW, System, disk_bytes, group_of, load_array, save_arrays

BATCH = 5000


class Chroma(System):
    """Chroma's embedded ``PersistentClient``, HNSW tuned like skillstore's (M, ef); ``where`` filter."""

    name = "chroma"
    exact = False

    def imports(self) -> None:
        import chromadb  # noqa: F401

    def build(self, data: Dataset, workdir: Path) -> None:
        import chromadb

        client = chromadb.PersistentClient(path=str(workdir / "chroma"))
        collection = client.create_collection(
            "skills",
            embedding_function=None,
            metadata={
                "hnsw:space": "ip",
                "hnsw:M": K_HNSW["M"],
                "hnsw:construction_ef": K_HNSW["efConstruction"],
                "hnsw:search_ef": K_HNSW["efSearch"],
            },
        )
        for start in range(0, data.n, BATCH):
            stop = min(data.n, start + BATCH)
            collection.add(
                ids=[str(i) for i in range(start, stop)],
                embeddings=data.vectors[start:stop],
                metadatas=[{"zone": int(data.zones[i]), "group": group_of(i)} for i in range(start, stop)],
            )

    def open(self, workdir: Path, *, read_only: bool = True) -> None:
        import chromadb

        self.path = workdir / "chroma"
        self.collection = chromadb.PersistentClient(path=str(self.path)).get_collection("skills")

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        where = None if zone is None else {"zone": zone}
        result = self.collection.query(query_embeddings=[q], n_results=k, where=where)
        return [int(i) for i in result["ids"][0]]

    def disk_bytes(self) -> int | None:
        return disk_bytes(self.path)


class MilvusLite(System):
    """Milvus Lite (pymilvus with a local ``.db`` file), default index, ``filter`` expression.

    pymilvus serves the file from a gRPC server in a thread of this process, which holds a
    lock on it until released: ``_release`` stops it, so that another process can open the file.
    Its HNSW search (``ef`` as skillstore's) filters the graph's candidates afterwards, so
    recall falls under selective filters (at 2,000 skills and a 1 % filter: 0.40, 0.91 with ef = 512).
    """

    name = "milvus lite"
    exact = False
    max_n = 100_000  # a query already takes seconds at 10^5 skills here
    BATCH = 10_000

    def imports(self) -> None:
        import pymilvus  # noqa: F401

    def build(self, data: Dataset, workdir: Path) -> None:
        from pymilvus import MilvusClient

        (workdir / "milvus").mkdir(parents=True, exist_ok=True)
        client = MilvusClient(str(workdir / "milvus" / "skills.db"))
        client.create_collection("skills", dimension=data.dim, metric_type="IP", auto_id=False)
        for start in range(0, data.n, self.BATCH):
            stop = min(data.n, start + self.BATCH)
            client.insert(
                "skills",
                [
                    {"id": i, "vector": data.vectors[i].tolist(), "zone": int(data.zones[i]), "group": group_of(i)}
                    for i in range(start, stop)
                ],
            )
        client.close()
        self._release(workdir / "milvus" / "skills.db")

    @staticmethod
    def _release(db: Path) -> None:
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(str(db))

    def open(self, workdir: Path, *, read_only: bool = True) -> None:
        from pymilvus import MilvusClient

        self.path = workdir / "milvus"
        self.client = MilvusClient(str(self.path / "skills.db"))
        self.client.load_collection("skills")

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        expr = "" if zone is None else f"zone == {zone}"
        hits = self.client.search(
            "skills", data=[q.tolist()], limit=k, filter=expr, search_params={"params": {"ef": K_HNSW["efSearch"]}}
        )
        return [int(h["id"]) for h in hits[0]]

    def disk_bytes(self) -> int | None:
        return disk_bytes(self.path)

    def close(self) -> None:
        if hasattr(self, "client"):
            self.client.close()
            del self.client
            self._release(self.path / "skills.db")


class LanceDB(System):
    """LanceDB (embedded), SQL ``where`` prefilter over a bitmap scalar index on the zone.

    LanceDB's guidance is to search without a vector index up to about 10^5 rows
    (exact, fast enough); larger tables get an ``IVF_HNSW_SQ`` index with skillstore's M and ef.
    """

    name = "lancedb"
    VECTOR_INDEX_FROM = 200_000

    def imports(self) -> None:
        import lancedb  # noqa: F401
        import pyarrow  # noqa: F401

    def build(self, data: Dataset, workdir: Path) -> None:
        import lancedb
        import pyarrow as pa
        from lancedb.index import Bitmap, IvfHnswSq

        rows = np.arange(data.n)
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(data.vectors.reshape(-1)), data.dim)
        table = pa.table(
            {"row": rows, "zone": data.zones, "group": rows % 100, "vector": vectors},
        )
        db = lancedb.connect(str(workdir / "lancedb"))
        created = db.create_table("skills", data=table)
        created.create_index("zone", config=Bitmap())
        if data.n >= self.VECTOR_INDEX_FROM:
            created.create_index(
                "vector", config=IvfHnswSq(distance_type="dot", m=K_HNSW["M"], ef_construction=K_HNSW["efConstruction"])
            )

    def open(self, workdir: Path, *, read_only: bool = True) -> None:
        import lancedb

        self.path = workdir / "lancedb"
        self.table = lancedb.connect(str(self.path)).open_table("skills")
        self.indexed = any(ix.index_type.startswith("IVF") for ix in self.table.list_indices())
        self.exact = not self.indexed

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        search: Any = self.table.search(q, vector_column_name="vector").distance_type("dot")
        if self.indexed:
            search = search.ef(K_HNSW["efSearch"])
        if zone is not None:
            search = search.where(f"zone = {zone}", prefilter=True)
        result = search.limit(k).select(["row", "_distance"]).to_arrow()
        return [int(x) for x in result.column("row").to_pylist()]

    def disk_bytes(self) -> int | None:
        return disk_bytes(self.path)


class QdrantLocal(System):
    """Qdrant's local mode (``QdrantClient(path=...)``): the pure-Python engine, exact; payload filter.

    Qdrant calls local mode a tool for development and small collections and warns above
    20,000 points; it keeps every point in memory and its file as pickled rows in SQLite
    (storing 10^5 points took over 7 minutes here), so larger libraries are skipped.
    """

    name = "qdrant local"
    max_n = 20_000

    def imports(self) -> None:
        import qdrant_client  # noqa: F401

    def build(self, data: Dataset, workdir: Path) -> None:
        from qdrant_client import QdrantClient, models

        client = QdrantClient(path=str(workdir / "qdrant"))
        client.create_collection(
            "skills", vectors_config=models.VectorParams(size=data.dim, distance=models.Distance.DOT)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the large-collection warning: measured anyway, and said above
            for start in range(0, data.n, BATCH):
                stop = min(data.n, start + BATCH)
                client.upsert(
                    "skills",
                    points=models.Batch(
                        ids=list(range(start, stop)),
                        vectors=data.vectors[start:stop].tolist(),
                        payloads=[{"zone": int(data.zones[i]), "group": group_of(i)} for i in range(start, stop)],
                    ),
                )
        client.close()

    def open(self, workdir: Path, *, read_only: bool = True) -> None:
        from qdrant_client import QdrantClient, models

        self.models = models
        self.path = workdir / "qdrant"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.client = QdrantClient(path=str(self.path))

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        models = self.models
        where = (
            None
            if zone is None
            else models.Filter(must=[models.FieldCondition(key="zone", match=models.MatchValue(value=zone))])
        )
        hits = self.client.query_points("skills", query=q.tolist(), limit=k, query_filter=where).points
        return [int(h.id) for h in hits]

    def disk_bytes(self) -> int | None:
        return disk_bytes(self.path)

    def close(self) -> None:
        if hasattr(self, "client"):
            self.client.close()
            del self.client


class USearch(System):
    """usearch HNSW (skillstore's M and ef), its saved file opened as a memory-mapped view.

    Its Python binding has no filter predicate, so a filtered query asks for more
    neighbours (doubling from 4k) until k of them are in the zone, then falls back to
    an exact search over the whole index.
    """

    name = "usearch"
    exact = False

    def imports(self) -> None:
        import usearch.index  # noqa: F401

    def build(self, data: Dataset, workdir: Path) -> None:
        from usearch.index import Index

        index = Index(
            ndim=data.dim,
            metric="ip",
            connectivity=K_HNSW["M"],
            expansion_add=K_HNSW["efConstruction"],
            expansion_search=K_HNSW["efSearch"],
        )
        index.add(np.arange(data.n), data.vectors)
        index.save(str(workdir / "usearch.index"))
        save_arrays(workdir, zones=data.zones)

    def open(self, workdir: Path, *, read_only: bool = True) -> None:
        from usearch.index import Index

        self.workdir = workdir
        index = Index.restore(str(workdir / "usearch.index"), view=True)
        if index is None:
            raise FileNotFoundError(workdir / "usearch.index")
        index.expansion_search = K_HNSW["efSearch"]
        self.index = index
        self.zones = load_array(workdir, "zones")

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        size = len(self.index)
        if zone is None:
            return [int(x) for x in self.index.search(q, k, threads=1).keys]
        count = 4 * k
        while True:
            exact = count >= size
            keys = self.index.search(q, min(count, size), threads=1, exact=exact).keys
            kept = [int(x) for x in keys if self.zones[x] == zone]
            if len(kept) >= k or exact:
                return kept[:k]
            count *= 2

    def disk_bytes(self) -> int | None:
        return disk_bytes(self.workdir)

    def close(self) -> None:
        if hasattr(self, "index"):
            del self.index


class SqliteVec(System):
    """sqlite-vec's ``vec0`` table (exact scan) with the zone as a metadata column in the KNN ``WHERE``.

    Loaded into SQLite through apsw: this Python's ``sqlite3`` cannot load extensions.
    """

    name = "sqlite-vec"

    def imports(self) -> None:
        import apsw  # noqa: F401
        import sqlite_vec  # noqa: F401

    def _connect(self, path: Path) -> Any:
        import apsw
        import sqlite_vec

        db = apsw.Connection(str(path))
        db.enable_load_extension(True)
        db.load_extension(sqlite_vec.loadable_path())
        db.enable_load_extension(False)
        return db

    def build(self, data: Dataset, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        db = self._connect(workdir / "skills.sqlite")
        db.execute(
            f"create virtual table skills using vec0(skill_row integer primary key, "
            f"embedding float[{data.dim}] distance_metric=cosine, zone integer, grp integer)"
        )
        for start in range(0, data.n, BATCH):
            stop = min(data.n, start + BATCH)
            with db:
                db.executemany(
                    "insert into skills(skill_row, embedding, zone, grp) values (?, ?, ?, ?)",
                    [(i, data.vectors[i].tobytes(), int(data.zones[i]), group_of(i)) for i in range(start, stop)],
                )
        db.close()

    def open(self, workdir: Path, *, read_only: bool = True) -> None:
        self.path = workdir / "skills.sqlite"
        self.db = self._connect(self.path)

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        blob = q.astype(np.float32).tobytes()
        if zone is None:
            rows = self.db.execute(
                "select skill_row from skills where embedding match ? and k = ? order by distance", (blob, k)
            )
        else:
            rows = self.db.execute(
                "select skill_row from skills where embedding match ? and k = ? and zone = ? order by distance",
                (blob, k, zone),
            )
        return [int(r[0]) for r in rows]

    def disk_bytes(self) -> int | None:
        return self.path.stat().st_size

    def close(self) -> None:
        if hasattr(self, "db"):
            self.db.close()
            del self.db
