"""A handle opened before another one re-embedded the store to another dim: its writes of
vectors of the old dim are refused (DimensionMismatchError) and never reach the log, so the
store still opens, whole, with the new embedder's vectors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skillstore import DimensionMismatchError, LexicalEmbedder, Skill, SkillStore

NEW = LexicalEmbedder(dim=16)
OLD_DIM = 3


def old(i: int) -> list[float]:
    return [1.0, float(i), 0.0]


WRITES: dict[str, Callable[[SkillStore, list[str]], Any]] = {
    "add": lambda store, ids: store.add(Skill("late", ["a"], old(9))),
    "add with dedup": lambda store, ids: store.add_many([Skill("late", ["a"], old(1))]),
    "update": lambda store, ids: store.update(ids[0], embedding=old(7), reason="late"),
    "restore": lambda store, ids: store.restore_many([Skill("late", ["a"], old(5), id="restored")]),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_of_the_old_dim_after_a_reembed_elsewhere_is_refused(tmp_path: Path, write: str) -> None:
    path = tmp_path / "lib"
    with SkillStore.open(path, dim=OLD_DIM) as store:
        ids = store.add_many([Skill(f"skill {i}", ["step"], old(i), description="open the door") for i in range(3)])
    stale = SkillStore.open(path, dedup_threshold=0.99 if write == "add with dedup" else None)
    with SkillStore.open(path) as other:
        other.reembed(NEW)
    with pytest.raises(DimensionMismatchError, match=f"has dim {NEW.dim}"):
        WRITES[write](stale, ids)
    stale.close()
    with SkillStore.open(path, embedder=NEW) as store:
        skills = {s.id: s for s in store.skills()}
        assert sorted(skills) == sorted(ids)
        for skill in skills.values():
            np.testing.assert_allclose(skill.embedding, NEW.embed([f"{skill.name}\nopen the door\nstep"])[0],
                                       atol=1e-6)
