"""One documented order on every backend: creation order.

``for skill in library`` (and so ``export`` and ``skillstore list``) gives skills in the
order they were first added. Changing a skill (``update``, even of its embedding, or an
outcome) never moves it; deleting one leaves the others' order alone; a new skill comes last.
"""

from __future__ import annotations

import numpy as np
from conformance_helpers import Backends, random_skills

from skillstore import Skill

DIM = 8


def ids_in_order(backend: object) -> list[str]:
    return [str(skill.id) for skill in backend]  # type: ignore[attr-defined]


def test_changes_never_move_a_skill_and_new_skills_come_last(make_backend: Backends) -> None:
    backend = make_backend(DIM)
    rng = np.random.default_rng(11)
    first = backend.add(Skill("first", ["a"], rng.normal(size=DIM)))
    batch = backend.add_many(random_skills(rng, 5, DIM))  # one commit, one timestamp: order still kept
    last = backend.add(Skill("last", ["z"], rng.normal(size=DIM)))
    created = [first, *batch, last]
    assert ids_in_order(backend) == created

    backend.update(batch[1], embedding=rng.normal(size=DIM))
    backend.update(first, name="renamed", preconditions={"room": 2}, metadata={"kind": "x"})
    backend.update(batch[3], embedding=rng.normal(size=DIM), description="moved?")
    backend.record_outcome(batch[0], True, reward=1.0)
    assert ids_in_order(backend) == created

    backend.delete(batch[2])
    created.remove(batch[2])
    newest = backend.add(Skill("newest", ["n"], rng.normal(size=DIM)))
    created.append(newest)
    assert ids_in_order(backend) == created

    if hasattr(backend, "checkpoint"):  # the snapshot is written in creation order
        backend.checkpoint()
        assert ids_in_order(backend) == created
    reopened = make_backend.reopen(backend)
    if reopened is not None:  # the order is a property of the library, not of one process
        assert ids_in_order(reopened) == created
