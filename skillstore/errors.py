"""The exceptions skillstore raises. Every one derives from :class:`SkillStoreError`."""

from __future__ import annotations


class SkillStoreError(Exception):
    """Base class of every error raised by skillstore."""


class SkillNotFoundError(SkillStoreError, LookupError):
    """Raised when an id names no skill in the store."""

    def __init__(self, skill_id: str) -> None:
        super().__init__(f"no skill with id {_shown(skill_id)}")
        self.skill_id = skill_id


def _shown(value: object) -> str:
    """``repr(value)`` cut to a readable length; a value whose repr fails is named by its type."""
    try:
        text = repr(value)
    except Exception:  # e.g. an int with more digits than str() converts
        return f"a {type(value).__name__}"
    return text if len(text) <= 80 else text[:77] + "..."


class VersionNotFoundError(SkillStoreError, LookupError):
    """Raised when a skill has no version of the number asked for (never made, or dropped by the
    retention bound)."""


class InvalidInputError(SkillStoreError, ValueError):
    """Raised when an argument is malformed; the store is left unchanged."""


class CounterOverflowError(InvalidInputError):
    """Raised when a write would push a counter past ``MAX_COUNTER`` or a skill's ``total_reward``
    past ``MAX_TOTAL_REWARD`` (see :mod:`skillstore.validation`); nothing is written.

    An outcome, a merged duplicate or an import's "merge" is refused whole, so every number
    a store holds stays exact in an export and can be imported again.
    """


class DimensionMismatchError(InvalidInputError):
    """Raised when an embedding's length, or a reopened store's ``dim``, differs from the store's."""


class InvalidEmbeddingError(InvalidInputError):
    """Raised when an embedding has the wrong shape or dtype, holds NaN or inf, or is all zeros."""


class EmbedderMismatchError(InvalidInputError):
    """Raised when a library is opened with an embedder other than the one that embedded it."""


class InvalidSkillError(InvalidInputError):
    """Raised when a skill field has the wrong type or cannot be serialised with msgpack."""


class StoreNotFoundError(SkillStoreError, FileNotFoundError):
    """Raised when opening a store that does not exist with ``create=False`` or ``read_only=True``."""


class StoreCorruptError(SkillStoreError):
    """Raised when a store file fails its checksum or cannot be decoded; ``path`` names the file."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class FormatVersionError(SkillStoreError):
    """Raised when a store was written in a format version this release cannot read."""


class StoreLockedError(SkillStoreError):
    """Raised when the writer lock cannot be taken within the configured timeout."""


class StoreReplacedError(SkillStoreError):
    """Raised when a store's directory was moved, replaced or deleted while the store was open.

    Nothing is written after the change is seen; open the store again at its new place.
    """


class ReadOnlyStoreError(SkillStoreError):
    """Raised when writing to a store opened with ``read_only=True``."""


class BackendConnectionError(SkillStoreError, ConnectionError):
    """Raised when a server-backed library cannot be reached, or its connection drops during a call.

    A write interrupted this way may or may not have committed; the next call reconnects.
    """


class StoreIOError(SkillStoreError, OSError):
    """Raised when the operating system refuses a write (disk full, I/O error).

    The write is not acknowledged and the store stays at its last committed state.
    """
