"""The systems compared, behind one small interface (:class:`~benchmarks.systems.base.System`).

Each system stores a :class:`~benchmarks.data.Dataset` (vectors plus each
skill's zone precondition and a metadata value) and answers "top-k among the
skills of zone z". Peers are imported lazily: a system whose package is missing
is skipped and reported as such (install them with the ``bench`` extra).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from benchmarks.systems.base import K_HNSW, System, clean, disk_bytes
from benchmarks.systems.baselines import FaissFlat, NumpyBruteForce, ReferenceListScan
from benchmarks.systems.ours import PostgresSystem, SkillstoreSystem
from benchmarks.systems.peers import Chroma, LanceDB, MilvusLite, QdrantLocal, SqliteVec, USearch

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
    "lancedb": LanceDB,
    "qdrant-local": QdrantLocal,
    "usearch": USearch,
    "sqlite-vec": SqliteVec,
}

# system -> (modules it needs, the extra that installs them)
NEEDS: dict[str, tuple[tuple[str, ...], str]] = {
    "postgres": (("psycopg", "pgvector"), "postgres"),
    "chroma": (("chromadb",), "bench"),
    "milvus-lite": (("pymilvus", "milvus_lite"), "bench"),
    "lancedb": (("lancedb", "pyarrow"), "bench"),
    "qdrant-local": (("qdrant_client",), "bench"),
    "usearch": (("usearch",), "bench"),
    "sqlite-vec": (("sqlite_vec", "apsw"), "bench"),
}


def available(name: str) -> str | None:
    """None when the system can run here, else why not."""
    modules, extra = NEEDS.get(name, ((), ""))
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        return f"{', '.join(missing)} not installed (pip install -e '.[{extra}]')"
    return None


__all__ = ["K_HNSW", "NEEDS", "SYSTEMS", "SkillstoreSystem", "System", "available", "clean", "disk_bytes"]
