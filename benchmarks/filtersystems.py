"""The systems of the filter and text benchmark, each speaking its own filter language.

Each adapter stores a :class:`~benchmarks.filterdata.FilterLibrary` (vectors, ``tier``,
``room``, descriptions), translates a filter tree into its native filter once per filter
(outside the timed call, as an application would build it once), and answers one query at
a time with row numbers, best first. ``levels`` are search settings from cheapest to most
thorough; the runner moves up them until recall@10 reaches the target. Text and hybrid
search raise :class:`NotOffered` (with the reason) where the system has none locally.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.filterdata import FilterLibrary, Tree, mask
from benchmarks.systems.base import K_HNSW
from skillstore import Skill, SkillStore

BATCH = 5000


class NotOffered(Exception):
    """The system offers no such search here (the message says why)."""


class FilterSystem:
    name = "system"
    exact = True
    max_n: int | None = None  # larger libraries are skipped (the adapter says why)
    levels: list[dict[str, int]] = [{}]

    def build(self, library: FilterLibrary, workdir: Path) -> None:
        raise NotImplementedError

    def native(self, tree: Tree) -> Any:
        raise NotImplementedError

    def search(self, q: np.ndarray, k: int, where: Any) -> list[int]:
        raise NotImplementedError

    def set_level(self, level: dict[str, int]) -> None:
        pass

    def text(self, query: str, k: int) -> list[int]:
        raise NotOffered("no text search")

    def hybrid(self, q: np.ndarray, query: str, k: int) -> list[int]:
        raise NotOffered("no hybrid search")

    def close(self) -> None:
        pass


def mongo_filter(tree: Tree) -> dict[str, Any]:
    """The MongoDB-style expression skillstore and Chroma both read."""
    op = tree[0]
    if op in ("and", "or"):
        return {f"${op}": [mongo_filter(t) for t in tree[1]]}
    value = list(tree[2]) if op == "in" else tree[2]
    return {tree[1]: {f"${op}": value}}


def sql_filter(tree: Tree) -> str:
    """LanceDB's SQL ``where`` clause."""
    op = tree[0]
    if op in ("and", "or"):
        return "(" + f" {op.upper()} ".join(sql_filter(t) for t in tree[1]) + ")"
    if op == "in":
        return f"{tree[1]} IN ({', '.join(str(v) for v in tree[2])})"
    return f"{tree[1]} {'<' if op == 'lt' else '>='} {tree[2]}"


def qdrant_filter(tree: Tree, models: Any) -> Any:
    """Qdrant's ``Filter``: ``must`` for and, ``should`` for or, ``Range`` and ``MatchAny`` conditions."""

    def part(node: Tree) -> Any:
        op = node[0]
        if op in ("and", "or"):
            children = [part(t) for t in node[1]]
            return models.Filter(must=children) if op == "and" else models.Filter(should=children)
        if op == "in":
            return models.FieldCondition(key=node[1], match=models.MatchAny(any=list(node[2])))
        bound = {"lt": node[2]} if op == "lt" else {"gte": node[2]}
        return models.FieldCondition(key=node[1], range=models.Range(**bound))

    top = part(tree)
    return top if isinstance(top, models.Filter) else models.Filter(must=[top])


class NumpyExact(FilterSystem):
    """Brute force: the filter as a NumPy mask, one product over the kept rows (the floor)."""

    name = "numpy"

    def build(self, library: FilterLibrary, workdir: Path) -> None:
        self.library = library

    def native(self, tree: Tree) -> Any:
        return tree

    def search(self, q: np.ndarray, k: int, where: Any) -> list[int]:
        rows = np.flatnonzero(mask(where, self.library))
        sims = self.library.vectors[rows] @ q
        take = min(k, len(rows))
        best = np.argpartition(-sims, take - 1)[:take] if take < len(rows) else np.arange(len(rows))
        return [int(r) for r in rows[best[np.argsort(-sims[best])]]]


class Skillstore(FilterSystem):
    """skillstore through its public API: ``where`` expressions; BM25 and hybrid via ``text=``."""

    def __init__(self, index: str) -> None:
        self.index_kind = index
        self.name = f"skillstore {index}"
        self.exact = index == "flat"
        self.levels = [{}] if self.exact else [{"efSearch": K_HNSW["efSearch"]}, {"efSearch": 512}]
        self.store: SkillStore | None = None

    def build(self, library: FilterLibrary, workdir: Path) -> None:
        path = workdir / "skillstore"
        ids: list[str] = []
        with SkillStore.open(path, dim=library.dim, index=self.index_kind, durability="flush") as store:
            if self.index_kind == "hnsw":
                store.configure_index(**K_HNSW)
            for start in range(0, library.n, BATCH):
                ids += store.add_many(
                    Skill(
                        library.name(i),
                        [i],
                        library.vectors[i],
                        description=library.descriptions[i],
                        metadata={"tier": int(library.tier[i]), "room": int(library.room[i])},
                    )
                    for i in range(start, min(library.n, start + BATCH))
                )
            store.checkpoint()
        (workdir / "skillstore-ids.json").write_text(json.dumps(ids))
        self.row = {skill_id: row for row, skill_id in enumerate(ids)}
        self.ids = ids
        opened = SkillStore.open(path, create=False)  # read-write: set_level reconfigures efSearch
        assert isinstance(opened, SkillStore)
        self.store = opened

    def native(self, tree: Tree) -> Any:
        return mongo_filter(tree)

    def set_level(self, level: dict[str, int]) -> None:
        if level and self.store is not None:
            self.store.configure_index(**level)

    def search(self, q: np.ndarray, k: int, where: Any) -> list[int]:
        assert self.store is not None
        return [self.row[m.id] for m in self.store.search(q, k, where=where)]

    def text(self, query: str, k: int) -> list[int]:
        assert self.store is not None
        return [self.row[m.id] for m in self.store.search(None, k, text=query)]

    def hybrid(self, q: np.ndarray, query: str, k: int) -> list[int]:
        assert self.store is not None
        return [self.row[m.id] for m in self.store.search(q, k, text=query)]

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


class Chroma(FilterSystem):
    """Chroma's embedded ``PersistentClient``: HNSW (skillstore's M and construction ef),
    ``where`` with ``$lt``/``$gte``/``$in``/``$and``/``$or``; ``ef_search`` is the level."""

    name = "chroma"
    exact = False
    levels = [{"ef_search": ef} for ef in (K_HNSW["efSearch"], 256, 512, 1024)]

    def build(self, library: FilterLibrary, workdir: Path) -> None:
        import chromadb

        client = chromadb.PersistentClient(path=str(workdir / "chroma"))
        self.collection = client.create_collection(
            "skills",
            embedding_function=None,
            configuration={
                "hnsw": {
                    "space": "ip",
                    "max_neighbors": K_HNSW["M"],
                    "ef_construction": K_HNSW["efConstruction"],
                    "ef_search": K_HNSW["efSearch"],
                }
            },
        )
        for start in range(0, library.n, BATCH):
            stop = min(library.n, start + BATCH)
            self.collection.add(
                ids=[str(i) for i in range(start, stop)],
                embeddings=library.vectors[start:stop],
                metadatas=[{"tier": int(library.tier[i]), "room": int(library.room[i])} for i in range(start, stop)],
            )

    def native(self, tree: Tree) -> Any:
        return mongo_filter(tree)

    def set_level(self, level: dict[str, int]) -> None:
        self.collection.modify(configuration={"hnsw": level})  # type: ignore[typeddict-item]

    def search(self, q: np.ndarray, k: int, where: Any) -> list[int]:
        result = self.collection.query(query_embeddings=[q], n_results=k, where=where, include=["distances"])
        return [int(i) for i in result["ids"][0]]

    def text(self, query: str, k: int) -> list[int]:
        raise NotOffered("no ranked full-text search in the local client (where_document only filters)")

    def hybrid(self, q: np.ndarray, query: str, k: int) -> list[int]:
        raise NotOffered("no ranked full-text search to fuse with")


class LanceDB(FilterSystem):
    """LanceDB (embedded): exact vector search with a SQL ``where`` prefilter over BTree scalar
    indexes (its guidance: no vector index up to ~10^5 rows); native full-text index (BM25) on
    the name and description, tokenized like skillstore (lower-cased, no stemming, no stop
    words); hybrid search fused by its ``RRFReranker``."""

    name = "lancedb"

    def build(self, library: FilterLibrary, workdir: Path) -> None:
        import lancedb
        import pyarrow as pa
        from lancedb.index import FTS, BTree

        vectors = pa.FixedSizeListArray.from_arrays(pa.array(library.vectors.reshape(-1)), library.dim)
        text = [f"{library.name(i)} {library.descriptions[i]}" for i in range(library.n)]
        table = pa.table(
            {"row": np.arange(library.n), "tier": library.tier, "room": library.room, "text": text, "vector": vectors}
        )
        self.table = lancedb.connect(str(workdir / "lancedb")).create_table("skills", data=table)
        self.table.create_index("tier", config=BTree())
        self.table.create_index("room", config=BTree())
        self.table.create_index(
            "text",
            config=FTS(
                base_tokenizer="simple", lower_case=True, stem=False, remove_stop_words=False, ascii_folding=False
            ),
        )

    def native(self, tree: Tree) -> Any:
        return sql_filter(tree)

    def search(self, q: np.ndarray, k: int, where: Any) -> list[int]:
        search = self.table.search(q, vector_column_name="vector").distance_type("dot").where(where, prefilter=True)
        return [int(x) for x in search.limit(k).select(["row", "_distance"]).to_arrow().column("row").to_pylist()]

    def text(self, query: str, k: int) -> list[int]:
        result = self.table.search(query, query_type="fts").limit(k).select(["row", "_score"]).to_arrow()
        return [int(x) for x in result.column("row").to_pylist()]

    def hybrid(self, q: np.ndarray, query: str, k: int) -> list[int]:
        from lancedb.rerankers import RRFReranker

        search: Any = self.table.search(query_type="hybrid", vector_column_name="vector")
        search = search.vector(q).text(query).rerank(RRFReranker()).limit(k).select(["row"])
        return [int(x) for x in search.to_arrow().column("row").to_pylist()]


class QdrantLocal(FilterSystem):
    """Qdrant's local mode, the pure-Python engine (exact): ``Filter`` with ``must``/``should``,
    ``Range`` and ``MatchAny`` conditions. In memory (``QdrantClient(":memory:")``): the same
    search code as its on-disk local mode, whose store took 200 s for 10^4 points here.
    Qdrant warns above 20,000 points in local mode, and a filtered query over 10^4 took
    ~0.5 s here, so larger libraries are skipped."""

    name = "qdrant local"
    max_n = 20_000

    def build(self, library: FilterLibrary, workdir: Path) -> None:
        from qdrant_client import QdrantClient, models

        self.models = models
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the local mode's large-collection warning
            self.client = QdrantClient(":memory:")
            self.client.create_collection(
                "skills", vectors_config=models.VectorParams(size=library.dim, distance=models.Distance.DOT)
            )
            for start in range(0, library.n, BATCH):
                stop = min(library.n, start + BATCH)
                self.client.upsert(
                    "skills",
                    points=models.Batch(
                        ids=list(range(start, stop)),
                        vectors=library.vectors[start:stop].tolist(),
                        payloads=[
                            {"tier": int(library.tier[i]), "room": int(library.room[i])} for i in range(start, stop)
                        ],
                    ),
                )

    def native(self, tree: Tree) -> Any:
        return qdrant_filter(tree, self.models)

    def search(self, q: np.ndarray, k: int, where: Any) -> list[int]:
        hits = self.client.query_points("skills", query=q.tolist(), limit=k, query_filter=where).points
        return [int(p.id) for p in hits]

    def text(self, query: str, k: int) -> list[int]:
        raise NotOffered("no BM25 in local mode (MatchText only filters; sparse BM25 vectors need a model download)")

    def hybrid(self, q: np.ndarray, query: str, k: int) -> list[int]:
        raise NotOffered("no BM25 ranking in local mode to fuse with")

    def close(self) -> None:
        if hasattr(self, "client"):
            self.client.close()
            del self.client


# name -> (factory, modules it needs)
FILTER_SYSTEMS: dict[str, tuple[Callable[[], FilterSystem], tuple[str, ...]]] = {
    "numpy": (NumpyExact, ()),
    "skillstore-flat": (lambda: Skillstore("flat"), ()),
    "skillstore-hnsw": (lambda: Skillstore("hnsw"), ()),
    "chroma": (Chroma, ("chromadb",)),
    "lancedb": (LanceDB, ("lancedb", "pyarrow")),
    "qdrant-local": (QdrantLocal, ("qdrant_client",)),
}


def missing(name: str) -> str | None:
    """None when the system can run here, else which packages are missing."""
    absent = [m for m in FILTER_SYSTEMS[name][1] if importlib.util.find_spec(m) is None]
    return f"{', '.join(absent)} not installed (pip install -e '.[bench]')" if absent else None
