"""How the agent judges its skills' versions by their outcomes.

- A shorter route found for a stored skill becomes a new version of it, with the reason
  ("shorter route: 9 to 7 actions"); its outcomes are then counted for that version alone.
- **Rollback**: once the current version has been tried ``ROLLBACK_MIN_ATTEMPTS`` times, it
  is rolled back to its parent when it is *clearly* worse: the upper Wilson bound of its
  success rate (z = 1.96) lies below the lower Wilson bound of its parent's. An unlucky
  streak of a good version does not trigger it; a version that keeps failing where its
  parent succeeded does.
- **Deprecation**: a skill tried ``DEPRECATE_MIN_ATTEMPTS`` times whose success rate stays
  below ``DEPRECATE_BELOW`` is deprecated, so that search leaves it out.
"""

from __future__ import annotations

import math

from skillstore import SkillStats, SkillVersion

ROLLBACK_MIN_ATTEMPTS = 5
DEPRECATE_MIN_ATTEMPTS = 20
DEPRECATE_BELOW = 0.1
Z = 1.96


def wilson(successes: int, attempts: int) -> tuple[float, float]:
    """The Wilson score interval of a success rate (0 to 1 when there is no attempt)."""
    if not attempts:
        return 0.0, 1.0
    rate = successes / attempts
    centre = rate + Z * Z / (2 * attempts)
    spread = Z * math.sqrt(rate * (1 - rate) / attempts + Z * Z / (4 * attempts * attempts))
    scale = 1 + Z * Z / attempts
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


def rollback_target(versions: list[SkillVersion]) -> int | None:
    """The version to roll back to, when the current one is clearly worse than its parent."""
    current = versions[-1]
    parent = next((v for v in versions if v.version == current.parent), None)
    if parent is None or current.stats.attempts < ROLLBACK_MIN_ATTEMPTS:
        return None
    _, current_high = wilson(current.stats.successes, current.stats.attempts)
    parent_low, _ = wilson(parent.stats.successes, parent.stats.attempts)
    return parent.version if current_high < parent_low else None


def should_deprecate(stats: SkillStats) -> bool:
    return stats.attempts >= DEPRECATE_MIN_ATTEMPTS and stats.success_rate < DEPRECATE_BELOW
