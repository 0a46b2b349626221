"""The data model: :class:`Skill`, :class:`SkillStats`, :class:`Match`, and a skill's
versions (:class:`SkillVersion`, :class:`VersionStats`, :class:`StatusChange`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class SkillStats:
    """How a skill has fared.

    ``attempts`` counts outcomes reported through ``record_outcome``; every attempt is
    either a success or a failure, so ``success_rate`` is a true frequency in [0, 1].
    ``observations`` counts how often the skill was learned: 1 when added, plus one for
    every duplicate merged into it.
    """

    attempts: int = 0
    successes: int = 0
    failures: int = 0
    observations: int = 1
    total_reward: float = 0.0
    last_used_at: float | None = None

    @property
    def success_rate(self) -> float:
        """``successes / attempts``, or 0.0 for a skill never attempted."""
        return self.successes / self.attempts if self.attempts else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "successes": self.successes,
            "failures": self.failures,
            "observations": self.observations,
            "total_reward": self.total_reward,
            "last_used_at": self.last_used_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SkillStats:
        return cls(
            attempts=int(data.get("attempts", 0)),
            successes=int(data.get("successes", 0)),
            failures=int(data.get("failures", 0)),
            observations=int(data.get("observations", 1)),
            total_reward=float(data.get("total_reward", 0.0)),
            last_used_at=data.get("last_used_at"),
        )


@dataclass(eq=False)
class Skill:
    """A reusable action sequence, where it applies, and an embedding to find it by.

    Build one with ``name``, ``actions`` and ``embedding`` (plus optional fields) and
    pass it to a store's ``add``. The store assigns ``id``, ``stats`` and the
    timestamps; skills read back from a store carry them. ``actions`` and ``metadata``
    hold any msgpack-serialisable value. Embeddings read back are L2-normalised float32.
    ``provenance`` lists the most recent duplicates merged into this skill.

    ``version`` is the number of the skill's current version (1 when added; every change
    of content makes a new one) and ``status`` its lifecycle status: ``"active"``,
    ``"candidate"`` or ``"deprecated"``. ``add`` keeps the status given (``"active"`` by
    default) and ignores ``version``. ``history`` is None on skills read from a store (ask
    the store's ``history(id)``); a skill given to ``restore_many`` may carry its versions
    there, as an export does, and they are restored with it.
    """

    name: str
    actions: Any
    embedding: Any
    preconditions: dict[str, Any] | None = None
    description: str = ""
    metadata: dict[str, Any] | None = None
    id: str | None = None
    stats: SkillStats = field(default_factory=SkillStats)
    created_at: float | None = None
    updated_at: float | None = None
    provenance: list[dict[str, Any]] = field(default_factory=list)
    version: int = 1
    status: str = "active"
    history: list[SkillVersion] | None = None

    def is_applicable(self, state: dict[str, Any]) -> bool:
        """True when every precondition equals the state's value for its key.

        Raises InvalidInputError for a state (or preconditions) the stores would refuse:
        not a mapping, or holding values of kinds no stored value can equal."""
        from skillstore.errors import InvalidInputError
        from skillstore.preconditions import applies
        from skillstore.validation import check_state, query_value

        checked = check_state(state)
        if checked is None:
            raise InvalidInputError("state must be a mapping, not NoneType")
        preconditions = {key: query_value(value, "a precondition") for key, value in (self.preconditions or {}).items()}
        return applies(preconditions, checked)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Skill):
            return NotImplemented
        return (
            self.name == other.name
            and self.actions == other.actions
            and np.array_equal(np.asarray(self.embedding), np.asarray(other.embedding))
            and (self.preconditions or {}) == (other.preconditions or {})
            and self.description == other.description
            and (self.metadata or {}) == (other.metadata or {})
            and self.id == other.id
            and self.stats == other.stats
            and self.created_at == other.created_at
            and self.updated_at == other.updated_at
            and self.provenance == other.provenance
            and self.version == other.version
            and self.status == other.status
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Skill(id={self.id!r}, name={self.name!r}, version={self.version}, status={self.status!r}, "
            f"attempts={self.stats.attempts}, success_rate={self.stats.success_rate:.2f})"
        )


@dataclass(frozen=True)
class VersionStats:
    """The outcomes counted while one version was the skill's current version."""

    attempts: int = 0
    successes: int = 0
    failures: int = 0
    total_reward: float = 0.0

    @property
    def success_rate(self) -> float:
        """``successes / attempts``, or 0.0 for a version never attempted."""
        return self.successes / self.attempts if self.attempts else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"attempts": self.attempts, "successes": self.successes, "failures": self.failures,
                "total_reward": self.total_reward}


@dataclass(frozen=True)
class StatusChange:
    """A change of a skill's status, recorded in the history of the version current at the time."""

    at: float
    status: str
    reason: str | None = None


@dataclass(eq=False)
class SkillVersion:
    """One version of a skill, as ``history(id)`` gives it.

    ``version`` is its number; ``created_at`` when it was made; ``reason`` why (as given
    to ``update`` or ``rollback``); ``changed`` the content fields that differ from the
    version before it; ``parent`` the version it was made from (None for the first one)
    and ``rollback_of`` the version a rollback copied (None otherwise). ``stats`` counts
    the outcomes recorded while it was current; ``events`` the status changes made while
    it was current. The other fields are its full content.
    """

    version: int
    created_at: float
    name: str
    actions: Any
    embedding: Any
    preconditions: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    changed: tuple[str, ...] = ()
    parent: int | None = None
    rollback_of: int | None = None
    stats: VersionStats = field(default_factory=VersionStats)
    events: tuple[StatusChange, ...] = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SkillVersion):
            return NotImplemented
        mine, theirs = vars(self).copy(), vars(other).copy()
        vector, other_vector = mine.pop("embedding"), theirs.pop("embedding")
        return mine == theirs and np.array_equal(np.asarray(vector), np.asarray(other_vector))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"SkillVersion(version={self.version}, reason={self.reason!r}, changed={self.changed!r}, "
                f"attempts={self.stats.attempts}, success_rate={self.stats.success_rate:.2f})")


class SkillSource(Protocol):
    """Where a store reads a result's skill from when it is first asked for."""

    def skill_id(self) -> str: ...

    def skill(self) -> Skill: ...


class Match:
    """One search result: the skill's ``id``, its ``score`` under the rank mode used, and the
    ``skill``, which a store may read only when it is first asked for (a copy of the skill as
    it was when the search ran: changing it never changes the store)."""

    __slots__ = ("_id", "_skill", "_source", "score")

    def __init__(self, skill: Skill | None = None, score: float = 0.0, *, source: SkillSource | None = None) -> None:
        if (skill is None) == (source is None):
            raise TypeError("a Match needs a skill or a source to read it from")
        self._skill = skill
        self._source = source
        self._id = None if skill is None else skill.id
        self.score = score

    @property
    def id(self) -> str:  # noqa: A003 - the name users read
        if self._id is None:
            assert self._source is not None
            self._id = self._source.skill_id()
        return self._id

    @property
    def skill(self) -> Skill:
        if self._skill is None:
            assert self._source is not None
            self._skill, self._source = self._source.skill(), None
        return self._skill

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Match):
            return NotImplemented
        return self.score == other.score and self.skill == other.skill

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Match(id={self.id!r}, score={self.score!r})"
