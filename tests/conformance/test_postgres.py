"""What only the PostgreSQL backend has: URLs, a registry of libraries, connections that fail,
an approximate index that must not leak into filtered searches, and value encodings."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import numpy as np
import psycopg
import pytest
from conformance_helpers import assert_ranking, library_url, random_skills, random_state, reference_scores

from skillstore import (
    BackendConnectionError,
    DimensionMismatchError,
    InvalidInputError,
    MemoryBackend,
    ReadOnlyStoreError,
    Skill,
    SkillStore,
    SkillStoreError,
    StoreNotFoundError,
)
from skillstore.backends.postgres import PostgresBackend

DIM = 8
ROOT = Path(__file__).resolve().parents[2]


def test_a_url_opens_a_postgres_library(pg_library: Callable[[], str]) -> None:
    url = pg_library()
    with pytest.raises(StoreNotFoundError):
        SkillStore.open(url, create=False)
    with pytest.raises(StoreNotFoundError):
        SkillStore.open(url, dim=DIM, read_only=True)  # a read-only open never creates
    with pytest.raises(InvalidInputError):
        SkillStore.open(url)  # no dim to create it with
    with SkillStore.open(url, dim=DIM) as backend:
        assert isinstance(backend, PostgresBackend)
        skill_id = backend.add(Skill("a", ["x"], np.ones(DIM)))
    with SkillStore.open(url) as reopened:  # dim comes from the registry
        assert reopened.dim == DIM and reopened.get(skill_id).actions == ["x"]
    with pytest.raises(DimensionMismatchError):
        SkillStore.open(url, dim=DIM + 1)


def test_libraries_in_one_database_are_independent(pg_library: Callable[[], str]) -> None:
    with PostgresBackend(pg_library(), DIM) as one, PostgresBackend(pg_library(), 3) as two:
        one.add(Skill("a", [], np.ones(DIM)))
        assert len(one) == 1 and len(two) == 0 and two.dim == 3
    with pytest.raises(InvalidInputError):
        PostgresBackend(pg_library(), DIM, library="Bad-Name")


def test_writes_are_visible_to_other_connections_at_once(pg_library: Callable[[], str]) -> None:
    url = pg_library()
    with PostgresBackend(url, DIM) as writer, PostgresBackend(url) as reader:
        skill_id = writer.add(Skill("a", [], np.ones(DIM)))
        writer.record_outcome(skill_id, True)
        assert reader.get(skill_id).stats.attempts == 1
        reader.refresh()  # nothing to do, but present like SkillStore's
        writer.delete(skill_id)
        assert skill_id not in reader


def test_read_only_refuses_writes(pg_library: Callable[[], str]) -> None:
    url = pg_library()
    with PostgresBackend(url, DIM) as writer:
        skill_id = writer.add(Skill("a", [], np.ones(DIM)))
    with SkillStore.open(url, read_only=True) as reader:
        assert reader.get(skill_id).name == "a"
        assert reader.search(np.ones(DIM), 1)[0].skill.id == skill_id
        for write in (
            lambda: reader.add(Skill("b", [], np.ones(DIM))),
            lambda: reader.record_outcome(skill_id, True),
            lambda: reader.update(skill_id, name="c"),
            lambda: reader.delete(skill_id),
        ):
            with pytest.raises(ReadOnlyStoreError):
                write()
        assert len(reader) == 1


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    url = f"postgresql://postgres@/postgres?host={quote(str(tmp_path / 'nowhere'), safe='')}"
    with pytest.raises(BackendConnectionError, match="cannot connect"):
        SkillStore.open(url, dim=DIM)
    assert issubclass(BackendConnectionError, SkillStoreError)


def test_a_dropped_connection_raises_then_reconnects(pg_url: str, pg_library: Callable[[], str]) -> None:
    with PostgresBackend(pg_library(), DIM) as backend:
        skill_id = backend.add(Skill("a", [], np.ones(DIM)))
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'skillstore' AND pid <> pg_backend_pid()"
            )
        with pytest.raises(BackendConnectionError, match="lost the connection"):
            backend.record_outcome(skill_id, True)
        assert backend.record_outcome(skill_id, True).attempts in (1, 2)  # reconnected
        assert backend.get(skill_id).name == "a"


def test_a_dropped_library_is_not_found(pg_library: Callable[[], str]) -> None:
    url = pg_library()
    backend = PostgresBackend(url, DIM)
    other = PostgresBackend(url)
    backend.drop()
    with pytest.raises(StoreNotFoundError):
        len(other)
    other.close()
    with pytest.raises(SkillStoreError, match="closed"):
        len(backend)
    with pytest.raises(StoreNotFoundError):
        PostgresBackend(url, create=False)


def test_filtered_search_stays_exact_when_the_planner_is_pushed_to_hnsw(pg_library: Callable[[], str]) -> None:
    """With seq scans disabled and ef_search=1, an HNSW scan would return at most a row or two."""
    url = pg_library()
    with PostgresBackend(url, DIM) as backend:
        rng = np.random.default_rng(21)
        backend.add_many(random_skills(rng, 600, DIM))
        backend.checkpoint()  # ANALYZE: the planner knows the table's size
    tempting = url + "&options=" + quote("-c enable_seqscan=off -c hnsw.ef_search=1")
    with PostgresBackend(tempting) as backend:
        skills = list(backend)
        for _ in range(15):
            query, state = rng.normal(size=DIM), random_state(rng)
            for rank in ("similarity", "blend"):
                got = backend.search(query, 10, state=state, rank=rank)
                assert_ranking(got, reference_scores(skills, query, state=state, rank=rank), 10)
            got = backend.search(query, 10, where={"task": "key"})
            assert_ranking(got, reference_scores(skills, query, where={"task": "key"}), 10)


def test_large_unfiltered_searches_use_hnsw_with_high_recall(pg_library: Callable[[], str]) -> None:
    with PostgresBackend(pg_library(), DIM, exact_limit=100) as backend:
        rng = np.random.default_rng(22)
        backend.add_many([Skill(f"s{i}", [], v) for i, v in enumerate(rng.normal(size=(800, DIM)))])
        backend.checkpoint()
        assert backend.stats()["index"] == "hnsw"
        skills = list(backend)
        hits = 0
        for _ in range(20):
            query = rng.normal(size=DIM)
            got = {m.skill.id for m in backend.search(query, 10)}
            hits += len(got & {row[0] for row in reference_scores(skills, query)[:10]})
        assert hits / 200 >= 0.9
        # a filter still means an exact scan
        backend.update(str(skills[0].id), metadata={"only": 1})
        assert [m.skill.id for m in backend.search(rng.normal(size=DIM), 3, where={"only": 1})] == [skills[0].id]


def test_values_sql_stores_and_compares_like_python(pg_library: Callable[[], str]) -> None:
    """Values JSON cannot hold: NUL characters, bytes, inf, long lists (stored as digests)."""
    memory = MemoryBackend(DIM)
    with PostgresBackend(pg_library(), DIM) as backend:
        route = list(range(300))
        cases = [
            ({"name": "a\x00b"}, {"name": "a\x00b"}, {"name": "a"}),
            ({"blob": b"\x00\x01"}, {"blob": b"\x00\x01"}, {"blob": "\x00\x01"}),
            ({"limit": math.inf}, {"limit": float("inf")}, {"limit": -math.inf}),
            ({"route": route}, {"route": tuple(route)}, {"route": route[:-1]}),
            ({"big": 2**63 - 1}, {"big": 2**63 - 1}, {"big": float(2**63)}),
            ({"x": 0.1}, {"x": 0.1}, {"x": float(np.float32(0.1))}),
        ]
        for preconditions, matching, other in cases:
            for store in (memory, backend):
                skill_id = store.add(Skill("s", [], np.ones(DIM), preconditions=preconditions,
                                           metadata=dict(preconditions)))
                assert store.get(skill_id).metadata == preconditions
                found = {m.skill.id for m in store.search(np.ones(DIM), 50, state=matching)}
                assert skill_id in found
                assert skill_id not in {m.skill.id for m in store.search(np.ones(DIM), 50, state=other)}
                assert skill_id in {m.skill.id for m in store.search(np.ones(DIM), 50, where=matching)}
                store.delete(skill_id)


def test_nan_never_matches(pg_library: Callable[[], str]) -> None:
    """The one documented difference: NaN matches nothing in SQL, even the very same NaN object
    inside a list, where Python's identity shortcut would let it match."""
    nan = math.nan
    memory = MemoryBackend(DIM)
    with PostgresBackend(pg_library(), DIM) as backend:
        for store in (memory, backend):
            store.add(Skill("top", [], np.ones(DIM), preconditions={"x": nan}))
            assert store.search(np.ones(DIM), 5, state={"x": nan}) == []
        memory.add(Skill("listed", [], np.ones(DIM), preconditions={"y": [nan]}))
        backend.add(Skill("listed", [], np.ones(DIM), preconditions={"y": [nan]}))
        assert len(memory.search(np.ones(DIM), 5, state={"y": [nan]})) == 1
        assert backend.search(np.ones(DIM), 5, state={"y": [nan]}) == []


def test_threads_share_one_handle(pg_library: Callable[[], str]) -> None:
    with PostgresBackend(pg_library(), DIM) as backend:
        skill_id = backend.add(Skill("a", [], np.ones(DIM)))

        def work() -> None:
            for i in range(50):
                backend.record_outcome(skill_id, i % 2 == 0)
                backend.search(np.ones(DIM), 3, state={})

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stats = backend.get(skill_id).stats
        assert (stats.attempts, stats.successes, stats.failures) == (200, 100, 100)


def test_stats_and_verify_describe_the_table(pg_url: str, pg_library: Callable[[], str]) -> None:
    with PostgresBackend(pg_library(), DIM) as backend:
        backend.add_many(random_skills(np.random.default_rng(23), 10, DIM))
        stats = backend.stats()
        assert stats["backend"] == "postgresql" and stats["library"] == backend.library
        assert stats["total_skills"] == 10 and stats["bytes_on_disk"] > 0 and stats["index"] == "hnsw"
        report = backend.verify()
        assert report.ok and report.facts["skills"] == 10
        with psycopg.connect(pg_url, autocommit=True) as admin:
            with pytest.raises(psycopg.errors.DataException):  # the schema pins the dimension
                admin.execute(f"UPDATE {backend.library} SET embedding = '[1,0,0]'")
            admin.execute(f"DROP INDEX {backend.library}_embedding_hnsw")
        report = backend.verify()
        assert report.ok and any("HNSW" in w for w in report.warnings)


def test_import_stays_light_without_the_driver() -> None:
    script = (
        "import sys\n"
        "sys.modules['psycopg'] = None\n"  # as if psycopg were not installed
        "import skillstore\n"
        "assert not [m for m, v in sys.modules.items() if v and m.startswith(('psycopg', 'pgvector'))]\n"
        "try:\n"
        "    skillstore.SkillStore.open('postgresql://localhost/db', dim=4)\n"
        "except skillstore.SkillStoreError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pip install 'skillstore[postgres]'" in done.stdout


def test_library_urls_compose(pg_url: str) -> None:
    assert library_url(pg_url, "x").endswith("library=x")
