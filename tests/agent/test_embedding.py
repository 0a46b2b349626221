"""The embedder: deterministic in every process, configurable, and meaningful."""

from __future__ import annotations

import json

import numpy as np
import pytest
from agent_helpers import run_python

from agent import StateEmbedder

STATE = {
    "agent_pos": (1, 3),
    "has_key": True,
    "door_open": False,
    "objects": {"key": (2, 2), "door": (3, 3), "box": (1, 3)},
}
ACTIONS = ["move_right", "move_right", "open_door"]

SCRIPT = """
import json
from agent import StateEmbedder
state = {"agent_pos": (1, 3), "has_key": True, "door_open": False,
         "objects": {"key": (2, 2), "door": (3, 3), "box": (1, 3)}}
actions = ["move_right", "move_right", "open_door"]
out = {}
for dim in (8, 16):
    embedder = StateEmbedder(dim)
    out[dim] = [embedder.embed(state).tobytes().hex(), embedder.embed(state, actions).tobytes().hex()]
print(json.dumps(out))
"""


def state_at(x: int, y: int, **flags: bool) -> dict:
    return {**STATE, "agent_pos": (x, y), "has_key": False, "door_open": False, **flags}


def test_identical_bits_in_processes_with_different_hash_seeds() -> None:
    outputs = [run_python("-c", SCRIPT, hash_seed=seed) for seed in ("1", "4242")]
    for completed in outputs:
        assert completed.returncode == 0, completed.stderr
    first, second = (json.loads(c.stdout) for c in outputs)
    assert first == second
    here = {str(dim): [StateEmbedder(dim).embed(STATE).tobytes().hex(),
                       StateEmbedder(dim).embed(STATE, ACTIONS).tobytes().hex()]
            for dim in (8, 16)}
    assert first == here


@pytest.mark.parametrize("dim", [8, 12, 64])
def test_dimension_is_configurable_and_vectors_are_unit_float32(dim: int) -> None:
    embedder = StateEmbedder(dim)
    for vector in (embedder.embed(STATE), embedder.embed(STATE, ACTIONS)):
        assert vector.shape == (dim,) and vector.dtype == np.float32
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-6)


def test_extra_dimensions_fingerprint_the_action_order() -> None:
    embedder = StateEmbedder(32)
    forward = embedder.embed(STATE, ["move_right", "move_up"])
    swapped = embedder.embed(STATE, ["move_up", "move_right"])
    assert not np.array_equal(forward, swapped)
    assert np.array_equal(forward[:8] != 0, swapped[:8] != 0)


@pytest.mark.parametrize("dim", [0, 7, 8.0, True])
def test_too_small_or_non_integer_dimension_is_rejected(dim: object) -> None:
    with pytest.raises(ValueError, match="dim"):
        StateEmbedder(dim)  # type: ignore[arg-type]


def test_nearby_situations_are_more_similar_than_distant_ones() -> None:
    embedder = StateEmbedder()
    origin = embedder.embed(state_at(1, 1))
    near = embedder.embed(state_at(1, 2))
    far = embedder.embed(state_at(4, 0))
    flag_changed = embedder.embed(state_at(1, 1, has_key=True))
    assert origin @ near > origin @ far
    assert origin @ near > origin @ flag_changed


def test_a_skill_heading_for_the_target_embeds_like_its_start_state() -> None:
    embedder = StateEmbedder()
    start = state_at(0, 0)  # target: the key at (2, 2)
    to_key = embedder.embed(start, ["move_up", "move_right", "move_up", "move_right", "pickup_key"])
    elsewhere = embedder.embed(start, ["move_up", "move_up", "move_up"])
    query = embedder.embed(start)
    assert float(query @ to_key) == pytest.approx(1.0, abs=1e-6)
    assert float(query @ elsewhere) < 0.99
