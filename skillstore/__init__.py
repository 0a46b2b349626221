"""skillstore: a persistent procedural memory for agents.

Skills (action sequences with preconditions and an embedding) are kept in a
crash-safe store, found by cosine similarity among the skills whose
preconditions hold in a state, and ranked by similarity, success, or both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skillstore.backends import is_url
from skillstore.backends.memory import MemoryBackend
from skillstore.embedders import Embedder, LexicalEmbedder, embedder_from_identity, embedder_from_spec
from skillstore.embedders import check_identity as check_embedder_identity
from skillstore.errors import (
    BackendConnectionError,
    CounterOverflowError,
    DimensionMismatchError,
    EmbedderMismatchError,
    FormatVersionError,
    InvalidEmbeddingError,
    InvalidInputError,
    InvalidSkillError,
    ReadOnlyStoreError,
    SkillNotFoundError,
    SkillStoreError,
    StoreCorruptError,
    StoreIOError,
    StoreLockedError,
    StoreNotFoundError,
    StoreReplacedError,
    VersionNotFoundError,
)
from skillstore.model import Match, Skill, SkillStats, SkillVersion, StatusChange, VersionStats
from skillstore.peek import StoreInfo, peek, read_info
from skillstore.protocol import SkillBackend
from skillstore.ranking import BLEND_WEIGHT, RANK_MODES, WILSON_Z
from skillstore.records import STATUSES, VERSION_LIMIT
from skillstore.repair import RepairReport, repair_store
from skillstore.reports import VerifyReport
from skillstore.restoring import (
    MAX_ID_LENGTH,
    check_restorable,
    check_skill_id,
    check_timestamp,
    merge_restored,
    stats_from_map,
)
from skillstore.sentence import SentenceTransformerEmbedder
from skillstore.store import SkillStore
from skillstore.validation import MAX_DEPTH

if TYPE_CHECKING:
    from skillstore.backends.postgres import PostgresBackend as PostgresBackend

__version__ = "0.1.0"

__all__ = [
    "BLEND_WEIGHT",
    "MAX_DEPTH",
    "MAX_ID_LENGTH",
    "RANK_MODES",
    "STATUSES",
    "VERSION_LIMIT",
    "WILSON_Z",
    "BackendConnectionError",
    "CounterOverflowError",
    "DimensionMismatchError",
    "Embedder",
    "EmbedderMismatchError",
    "FormatVersionError",
    "InvalidEmbeddingError",
    "InvalidInputError",
    "InvalidSkillError",
    "LexicalEmbedder",
    "Match",
    "MemoryBackend",
    "ReadOnlyStoreError",
    "RepairReport",
    "Skill",
    "SkillBackend",
    "SkillNotFoundError",
    "SkillStats",
    "SentenceTransformerEmbedder",
    "SkillStore",
    "SkillStoreError",
    "SkillVersion",
    "StatusChange",
    "StoreCorruptError",
    "StoreIOError",
    "StoreInfo",
    "StoreLockedError",
    "StoreNotFoundError",
    "StoreReplacedError",
    "VerifyReport",
    "VersionNotFoundError",
    "VersionStats",
    "__version__",
    "check_embedder_identity",
    "check_restorable",
    "check_skill_id",
    "check_timestamp",
    "is_url",
    "merge_restored",
    "embedder_from_identity",
    "embedder_from_spec",
    "peek",
    "read_info",
    "repair_store",
    "stats_from_map",
]


# Public names that load optional drivers (psycopg, pgvector) on first use, so that
# ``import skillstore`` needs neither; left out of __all__ so ``import *`` never loads them.
OPTIONAL_EXPORTS = ("PostgresBackend",)


def __getattr__(name: str) -> Any:
    if name == "PostgresBackend":
        from skillstore.backends.postgres import PostgresBackend

        return PostgresBackend
    raise AttributeError(f"module 'skillstore' has no attribute {name!r}")

