"""The situation embedding: deterministic in every process, and cosine means "nearby situation"."""

from __future__ import annotations

import json

import numpy as np
import pytest
from agent_helpers import run_python

from agent import Situation, StateEmbedder
from agent.embedding import DEFAULT_DIM
from agent.worlds import egocentric

SITUATION = Situation(has_key=True, door_open=True, cell="empty", target=(3, -2), passage=(1, 0))

SCRIPT = """
import json
from agent import Situation, StateEmbedder
situation = Situation(True, True, "empty", (3, -2), (1, 0))
print(json.dumps([StateEmbedder(reach).embed(situation).tobytes().hex() for reach in (3, 7)]))
"""


def at(target: tuple[int, int], **fields: object) -> Situation:
    values: dict[str, object] = {"has_key": False, "door_open": False, "cell": "empty", "target": target}
    values.update(fields)
    return Situation(**values)  # type: ignore[arg-type]


def cosine(a: Situation, b: Situation) -> float:
    embedder = StateEmbedder()
    return float(embedder.embed(a) @ embedder.embed(b))


def test_embeddings_are_identical_in_every_process_whatever_the_hash_seed() -> None:
    outputs = [run_python("-c", SCRIPT, hash_seed=seed) for seed in ("1", "4242")]
    for completed in outputs:
        assert completed.returncode == 0, completed.stderr
    first, second = (json.loads(c.stdout) for c in outputs)
    assert first == second == [StateEmbedder(reach).embed(SITUATION).tobytes().hex() for reach in (3, 7)]


def test_vectors_are_unit_float32_of_the_documented_size() -> None:
    for reach in (1, 3, 7):
        embedder = StateEmbedder(reach)
        vector = embedder.embed(SITUATION)
        assert embedder.dim == 4 + 2 * (2 * reach + 1) ** 2
        assert vector.shape == (embedder.dim,) and vector.dtype == np.float32
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-6)
    assert StateEmbedder().dim == DEFAULT_DIM == 454


def test_cosine_falls_with_the_distance_between_offsets() -> None:
    origin = at((2, 1))
    same, one, diagonal, two = (cosine(origin, at(t)) for t in [(2, 1), (3, 1), (3, 2), (4, 1)])
    assert same == pytest.approx(1.0, abs=1e-6)
    assert 1 > one > diagonal > two > 0
    assert one == pytest.approx(0.68, abs=0.01) and two == pytest.approx(0.24, abs=0.01)
    # raw offsets (1, 0) and (3, 0) point the same way; here they are two cells apart, not alike
    assert cosine(at((1, 0)), at((3, 0))) < 0.3
    assert cosine(at((1, 0)), at((-1, 0))) < 0.3
    assert cosine(at((1, 0)), at((4, 0))) < 0.1


def test_the_open_door_counts_in_the_goal_phase() -> None:
    goal = at((3, 3), has_key=True, door_open=True, passage=(1, 0))
    assert cosine(goal, at((3, 3), has_key=True, door_open=True, passage=(1, 1))) < 0.9
    assert cosine(goal, at((3, 3), has_key=True, door_open=True, passage=(1, 0))) == pytest.approx(1.0)


def test_offsets_beyond_the_reach_are_clipped_for_the_embedding_only() -> None:
    far, farther = at((9, 0)), at((12, 0))
    assert far.key() != farther.key()
    assert cosine(far, farther) == pytest.approx(1.0, abs=1e-6)


def test_egocentric_offsets_turn_with_the_heading() -> None:
    # a target two cells east: ahead when facing east, to the left when facing south
    assert egocentric(2, 0, 0) == (2, 0)
    assert egocentric(2, 0, 1) == (0, -2)
    assert egocentric(2, 0, 2) == (-2, 0)
    assert egocentric(2, 0, 3) == (0, 2)


def test_situation_keys_and_preconditions_name_the_phase_not_the_place() -> None:
    assert SITUATION.key() == "11|empty|3,-2|1,0"
    assert SITUATION.preconditions() == {"has_key": True, "door_open": True, "cell": "empty"}
    assert at((0, 1)).key() == "00|empty|0,1|-"


@pytest.mark.parametrize("reach", [0, -1, 2.0, True])
def test_bad_reach_is_rejected(reach: object) -> None:
    with pytest.raises(ValueError, match="reach"):
        StateEmbedder(reach)  # type: ignore[arg-type]
