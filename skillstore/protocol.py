"""The ``SkillBackend`` protocol: what an agent or a tool needs from a skill library.

``MemoryBackend``, ``SkillStore`` and ``PostgresBackend`` all satisfy it; code that
depends on this protocol alone works with any of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from skillstore.embedders import Embedder
from skillstore.model import Match, Skill, SkillStats, SkillVersion


@runtime_checkable
class SkillBackend(Protocol):
    """What an agent needs from a skill store; ``MemoryBackend`` and ``SkillStore`` both satisfy it."""

    @property
    def dim(self) -> int: ...

    @property
    def embedder(self) -> Embedder | None: ...

    @property
    def embedder_identity(self) -> dict[str, Any] | None: ...

    def add(self, skill: Skill) -> str: ...

    def add_many(self, skills: Iterable[Skill]) -> list[str]: ...

    def get(self, skill_id: str, version: int | None = None) -> Skill: ...

    def update(
        self, skill_id: str, *, reason: str | None = None, status: str | None = None, **fields: Any
    ) -> Skill: ...

    def rollback(self, skill_id: str, version: int, *, reason: str | None = None) -> Skill: ...

    def history(self, skill_id: str) -> list[SkillVersion]: ...

    def skills(self, *, status: str | Sequence[str] | None = None) -> Iterator[Skill]: ...

    def delete(self, skill_id: str) -> None: ...

    def delete_many(self, skill_ids: Iterable[str] = (), *, where: Mapping[str, Any] | None = None) -> list[str]: ...

    def find(
        self,
        where: Mapping[str, Any] | None = None,
        *,
        state: Mapping[str, Any] | None = None,
        order_by: str | None = None,
        limit: int | None = None,
        status: str | Sequence[str] | None = None,
    ) -> list[Skill]: ...

    def restore_many(self, skills: Iterable[Skill], *, replace: bool = False) -> list[str]: ...

    def __len__(self) -> int: ...

    def __contains__(self, skill_id: object) -> bool: ...

    def __iter__(self) -> Iterator[Skill]: ...

    def search(
        self,
        embedding: Any,
        k: int = 5,
        *,
        state: Mapping[str, Any] | None = None,
        where: Mapping[str, Any] | None = None,
        rank: str = "similarity",
        min_score: float | None = None,
        status: str | Sequence[str] | None = None,
        text: str | None = None,
    ) -> list[Match]: ...

    def search_many(
        self,
        embeddings: Any,
        k: int = 5,
        *,
        state: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        where: Mapping[str, Any] | None = None,
        rank: str = "similarity",
        min_score: float | None = None,
        status: str | Sequence[str] | None = None,
    ) -> list[list[Match]]: ...

    def record_outcome(self, skill_id: str, success: bool, reward: float | None = None) -> SkillStats: ...

    def stats(self) -> dict[str, Any]: ...

    def close(self) -> None: ...
