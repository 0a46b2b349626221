"""skillstore: a persistent procedural memory for agents.

Skills (action sequences with preconditions and an embedding) are kept in a
crash-safe store, found by cosine similarity among the skills whose
preconditions hold in a state, and ranked by similarity, success, or both.
"""

from skillstore.backend import MemoryBackend, SkillBackend
from skillstore.errors import (
    BackendConnectionError,
    CounterOverflowError,
    DimensionMismatchError,
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
)
from skillstore.info import StoreInfo, read_info
from skillstore.model import Match, Skill, SkillStats
from skillstore.ranking import BLEND_WEIGHT, RANK_MODES
from skillstore.repair import RepairReport, repair_store
from skillstore.store import SkillStore, VerifyReport

__version__ = "0.1.0"

__all__ = [
    "BLEND_WEIGHT",
    "RANK_MODES",
    "BackendConnectionError",
    "CounterOverflowError",
    "DimensionMismatchError",
    "FormatVersionError",
    "InvalidEmbeddingError",
    "InvalidInputError",
    "InvalidSkillError",
    "Match",
    "MemoryBackend",
    "ReadOnlyStoreError",
    "RepairReport",
    "Skill",
    "SkillBackend",
    "SkillNotFoundError",
    "SkillStats",
    "SkillStore",
    "SkillStoreError",
    "StoreCorruptError",
    "StoreIOError",
    "StoreInfo",
    "StoreLockedError",
    "StoreNotFoundError",
    "StoreReplacedError",
    "VerifyReport",
    "__version__",
    "read_info",
    "repair_store",
]
