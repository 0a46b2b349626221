"""Cutting episodes into skills: segments, shortened routes, preconditions and names."""

from __future__ import annotations

import numpy as np
import pytest

from agent import StateEmbedder
from agent.gridworld import ACTIONS, GridWorld
from agent.skills import (
    Segment,
    Step,
    build_skill,
    shortest_route,
    split_at_events,
    subgoal_reached,
)


def play(actions: list[str], skill_id: str | None = None) -> list[Step]:
    """Play ``actions`` on the fixed layout and record the steps as the agent would."""
    env = GridWorld()
    env.reset(seed=0)
    steps = []
    for action in actions:
        before = env.get_state()
        _, reward, _, _, info = env.step(ACTIONS.index(action))
        steps.append(Step(before, action, reward, env.get_state(), info["event"], skill_id))
    return steps


R, L, U, D = "move_right", "move_left", "move_up", "move_down"
WANDERING_TO_KEY = [U, U, U, D, L, R, D, R, U, "open_door", R, L, "pickup_key"]


def test_split_at_events_cuts_after_each_event_and_drops_the_tail() -> None:
    segments = split_at_events(play([R, R, U, U, "pickup_key", R, U, "open_door", L, L]))
    assert [s.event for s in segments] == ["key", "door"]
    assert [len(s.steps) for s in segments] == [5, 3]


def test_shortest_route_removes_loops_and_wasted_actions() -> None:
    (segment,) = split_at_events(play(WANDERING_TO_KEY))
    route = shortest_route(segment)
    # the revisit of (0, 2), the bump into the wall and the failed open_door are gone
    assert route == [U, U, R, D, R, U, "pickup_key"]
    final = play(route)
    assert final[-1].event == "key"


def test_shortest_route_only_uses_observed_moves() -> None:
    # Up the left edge, then right along y=2: no shortcut was ever observed.
    (segment,) = split_at_events(play([U, U, R, R, "pickup_key"]))
    assert shortest_route(segment) == [U, U, R, R, "pickup_key"]


def test_a_plain_loop_is_erased() -> None:
    (segment,) = split_at_events(play([R, U, D, L, R, R, U, U, "pickup_key"]))
    assert shortest_route(segment) == [R, R, U, U, "pickup_key"]


@pytest.mark.parametrize(
    ("index", "name", "depends_on", "value"),
    [(0, "acquire_key", "key_pos", (2, 2)),
     (1, "open_door_sequence", "door_pos", (3, 3)),
     (2, "reach_goal", "goal_pos", (4, 4))],
)
def test_built_skills_have_reference_names_and_sufficient_preconditions(
    index: int, name: str, depends_on: str, value: tuple[int, int]
) -> None:
    segments = split_at_events(play([R, R, U, U, "pickup_key", R, U, "open_door", R, U]))
    segment = segments[index]
    skill = build_skill(segment, shortest_route(segment), StateEmbedder(), 5)
    start = segment.steps[0].state
    assert skill.name == name
    assert skill.preconditions == {
        "agent_pos": start["agent_pos"],
        "has_key": start["has_key"],
        "door_open": start["door_open"],
        depends_on: value,
    }
    assert skill.metadata is not None and skill.metadata["grid_size"] == 5
    assert np.linalg.norm(skill.embedding) == pytest.approx(1.0, abs=1e-6)


def test_segments_run_by_skills_alone_are_not_explored() -> None:
    assert not Segment("key", tuple(play([R, "pickup_key"], skill_id="abc"))).explored
    assert Segment("key", tuple(play([R, "pickup_key"]))).explored


def test_subgoal_reached() -> None:
    before = {"has_key": False, "door_open": False}
    after = {"has_key": True, "door_open": False}
    assert subgoal_reached("has_key", before, after, terminated=False)
    assert not subgoal_reached("door_open", before, after, terminated=False)
    assert subgoal_reached("at_goal", after, after, terminated=True)
    assert not subgoal_reached("at_goal", after, after, terminated=False)
    assert subgoal_reached(None, before, after, terminated=False)
    assert not subgoal_reached(None, before, before, terminated=False)
