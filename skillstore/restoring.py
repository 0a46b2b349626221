"""The rules for skills that come back into a library from outside it (an export file).

``restore_many`` applies them itself, on every backend. A tool that reads many skills
from a file runs them first, so that it can name the record that breaks a rule before
anything is written, and uses :func:`merge_restored` for an import's "merge" policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skillstore.model import Skill, SkillStats
from skillstore.records import MAX_ID_LENGTH, check_id, check_stats, merged_for_restore, prepare_restore
from skillstore.validation import check_timestamp

__all__ = ["MAX_ID_LENGTH", "check_restorable", "check_skill_id", "check_timestamp", "merge_restored", "stats_from_map"]


def check_restorable(skill: Skill, dim: int) -> None:
    """Raise the error ``restore_many`` would raise for ``skill`` in a library of ``dim``:
    its fields, id, stats, timestamps and provenance are all checked."""
    prepare_restore(skill, dim, 0.0)


def check_skill_id(skill_id: Any) -> str:
    """``skill_id`` when a library can keep it as given: 1 to ``MAX_ID_LENGTH`` characters
    of valid Unicode without NUL; InvalidSkillError otherwise."""
    return check_id(skill_id)


def stats_from_map(stats: Mapping[str, Any]) -> SkillStats:
    """SkillStats from a map with exactly its six keys, checked as a restore checks them
    (counters in range, successes + failures = attempts, at least one observation)."""
    return SkillStats(**check_stats(stats))


def merge_restored(kept: Skill, incoming: Skill) -> Skill:
    """``kept`` with ``incoming``'s counters added, as an import's "merge" stores it;
    CounterOverflowError when a sum would pass a limit."""
    return merged_for_restore(kept, incoming)
