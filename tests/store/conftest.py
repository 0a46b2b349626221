"""Fixtures for the store tests: each test that takes ``backend`` runs against both
SkillStore and MemoryBackend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from skillstore import MemoryBackend, SkillBackend, SkillStore

BackendFactory = Callable[..., SkillBackend]


@pytest.fixture(params=["store", "memory"])
def make_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackendFactory]:
    """Builds a fresh empty backend of the parametrised kind: ``make_backend(dim, **options)``."""
    opened: list[SkillBackend] = []

    def make(dim: int = 4, **options: Any) -> SkillBackend:
        backend: SkillBackend
        if request.param == "store":
            backend = SkillStore.open(tmp_path / f"store{len(opened)}", dim=dim, **options)
        else:
            backend = MemoryBackend(dim, **options)
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        backend.close()


@pytest.fixture
def backend(make_backend: BackendFactory) -> SkillBackend:
    return make_backend(4)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SkillStore]:
    with SkillStore.open(tmp_path / "skills", dim=4) as opened:
        yield opened
