"""What the agent perceives: its situation relative to the objects that matter, not where it stands.

A ``Situation`` holds the phase of the task (key held, door open), what the agent's
next action acts on (the cell in front in MiniGrid, the cell under the agent in
GridWorld), the offset of the current target (the key, then the door, then the goal)
and, once the door is open in a world whose walls block, the offset of the door: the
passage the route to the goal must take. Offsets are in the agent's own frame
(forward, right) when it has a heading, and (x, y) otherwise.

Two layouts in which the agent sees the same situation need the same actions, so a
skill recorded in one applies in the other: that is what makes skills transfer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Offset = tuple[int, int]

# what the next action acts on; anything else is reported as "other"
CELLS = ("empty", "wall", "key", "door", "goal", "other")


@dataclass(frozen=True)
class Situation:
    """The agent's situation; ``key()`` names it exactly, ``preconditions()`` gives its phase."""

    has_key: bool
    door_open: bool
    cell: str
    target: Offset
    passage: Offset | None = None

    def key(self) -> str:
        """A short exact name, identical for identical situations in any layout."""
        passage = "-" if self.passage is None else f"{self.passage[0]},{self.passage[1]}"
        return (f"{int(self.has_key)}{int(self.door_open)}|{self.cell}|"
                f"{self.target[0]},{self.target[1]}|{passage}")

    def preconditions(self) -> dict[str, Any]:
        """What must hold for a skill recorded here to apply: the phase and the cell acted on."""
        return {"has_key": self.has_key, "door_open": self.door_open, "cell": self.cell}

    def describe(self) -> str:
        text = f"target at {self.target[0]:+d},{self.target[1]:+d}, {self.cell} ahead"
        if self.passage is not None:
            text += f", door at {self.passage[0]:+d},{self.passage[1]:+d}"
        return text
