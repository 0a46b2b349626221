"""Fixtures for the backend conformance suite.

``make_backend`` is parametrised over MemoryBackend, SkillStore and PostgresBackend:
every test that takes it runs against all three. The PostgreSQL libraries come from
``pg_library`` (tests/conftest.py): a real server, one table per library, dropped
after each test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conformance_helpers import Backends

KINDS = ["memory", "skillstore", "postgres"]


@pytest.fixture(params=KINDS)
def make_backend(request: pytest.FixtureRequest, tmp_path: Path, pg_library: Callable[[], str]) -> Iterator[Backends]:
    """Builds fresh empty backends of the parametrised kind: ``make_backend(dim, **options)``."""
    backends = Backends(request.param, tmp_path, pg_library)
    yield backends
    for backend in backends.opened:
        backend.close()
