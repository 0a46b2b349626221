"""Result types shared by every backend, kept below them all so that none imports another."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class VerifyReport:
    """The outcome of ``verify()`` on any backend: ``ok`` is False when any problem was found."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems
