"""Fixtures shared by the agent tests: the same scenarios on every skill backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_helpers import BackendFactory

from skillstore import MemoryBackend, SkillBackend, SkillStore


@pytest.fixture(params=["memory", "store"])
def make_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackendFactory]:
    """A factory of empty backends (8 dimensions unless told): MemoryBackend or a SkillStore on disk."""
    opened: list[SkillBackend] = []

    def factory(dim: int = 8) -> SkillBackend:
        if request.param == "memory":
            backend: SkillBackend = MemoryBackend(dim)
        else:
            backend = SkillStore.open(tmp_path / f"store{len(opened)}", dim=dim)
        opened.append(backend)
        return backend

    yield factory
    for backend in opened:
        backend.close()
