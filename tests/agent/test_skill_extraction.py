"""Turning the agent's own steps into skills: segments, shortened routes, one skill per situation."""

from __future__ import annotations

import numpy as np
import pytest

from agent import StateEmbedder
from agent.gridworld import ACTIONS, GridWorld, Layout
from agent.skills import (
    Segment,
    Step,
    build_skills,
    event_of,
    routes_to_learn,
    shortest_route,
    shortest_routes,
    split_at_events,
)
from agent.worlds import GridWorldView


def play(actions: list[str], skill_id: str | None = None, layout: Layout | None = None,
         scouting: bool = False) -> list[Step]:
    """Play ``actions`` on GridWorld (the fixed layout unless told) as the agent would record them."""
    env = GridWorld()
    env.reset(seed=0)
    if layout is not None:
        env.current_layout = layout
    view = GridWorldView(env)
    steps = []
    for action in actions:
        before = view.observe()
        _, reward, terminated, _, _ = env.step(ACTIONS.index(action))
        after = view.observe()
        steps.append(Step(before, action, float(reward), after, event_of(before, after, terminated),
                          skill_id, replayed=skill_id is not None, scouting=scouting))
    return steps


R, L, U, D = "move_right", "move_left", "move_up", "move_down"
WANDERING_TO_KEY = [U, U, U, D, L, R, D, R, U, "open_door", R, L, "pickup_key"]


def test_split_at_events_cuts_after_each_phase_change_and_drops_the_tail() -> None:
    segments = split_at_events(play([R, R, U, U, "pickup_key", R, U, "open_door", L, L]))
    assert [s.event for s in segments] == ["key", "door"]
    assert [len(s.steps) for s in segments] == [5, 3]


def test_shortest_route_removes_loops_and_wasted_actions() -> None:
    (segment,) = split_at_events(play(WANDERING_TO_KEY))
    route = shortest_route(segment)
    # the revisit of (0, 2), the bump into the wall and the failed open_door are gone
    assert list(route.actions) == [U, U, R, D, R, U, "pickup_key"]
    assert len(route.situations) == len(route.effects) == 7
    assert route.effects[0] == "0,1,0,0,0" and route.effects[-1] == "0,0,0,1,0"
    assert play(list(route.actions))[-1].event == "key"


def test_shortest_route_only_uses_observed_moves() -> None:
    # Up the left edge, then right along y=2: no shortcut was ever observed.
    (segment,) = split_at_events(play([U, U, R, R, "pickup_key"]))
    assert list(shortest_route(segment).actions) == [U, U, R, R, "pickup_key"]


def test_every_step_of_a_route_becomes_a_skill_keyed_by_its_situation() -> None:
    segments = split_at_events(play([R, R, U, U, "pickup_key", R, U, "open_door", R, U]))
    embedder = StateEmbedder()
    skills = build_skills("key", shortest_route(segments[0]), embedder, "gridworld", frames=5)
    assert [len(s.actions) for s in skills] == [5, 4, 3, 2, 1]
    first, last = skills[0], skills[-1]
    assert first.name == "acquire_key"
    # where the agent stands is no precondition: only the phase and the cell acted on
    assert first.preconditions == {"has_key": False, "door_open": False, "cell": "empty"}
    assert last.preconditions == {"has_key": False, "door_open": False, "cell": "key"}
    assert first.metadata is not None
    assert first.metadata["situation"] == "00|empty|2,2|-"
    assert first.metadata["trace"][1] == skills[1].metadata["situation"]  # type: ignore[index]
    assert len(first.metadata["trace"]) == len(first.metadata["effects"]) == 5
    assert first.metadata["subgoal"] == "key" and first.metadata["frames"] == 5
    assert np.linalg.norm(first.embedding) == pytest.approx(1.0, abs=1e-6)


def test_the_same_relative_situation_in_another_layout_gives_the_same_skill_key() -> None:
    shifted = Layout(key=(3, 2), door=(4, 1), box=(0, 4))  # one step right, the key is where it was
    here = play([R], layout=shifted)[0].after.situation
    env = GridWorld()
    env.reset(seed=0)
    start = GridWorldView(env).observe().situation
    assert here.key() == start.key() == "00|empty|2,2|-"


def test_segments_run_by_replayed_skills_alone_teach_nothing_new() -> None:
    assert not Segment("key", tuple(play([R, "pickup_key"], skill_id="abc"))).explored
    assert Segment("key", tuple(play([R, "pickup_key"]))).explored


def test_event_of_names_progress_and_regressions() -> None:
    steps = play([R, R, U, U, "pickup_key"])
    assert [s.event for s in steps] == [None, None, None, None, "key"]
    before, after = steps[-1].before, steps[-1].after
    assert event_of(after, before, False) == "lost_key"
    assert event_of(before, before, True) == "goal"


def test_shortest_routes_start_from_every_pose_the_segment_visited() -> None:
    (segment,) = split_at_events(play(WANDERING_TO_KEY))
    routes = shortest_routes(segment)
    visited = {step.before.pose for step in segment.steps}
    assert set(routes) == visited
    assert list(routes[(0, 0)].actions) == [U, U, R, D, R, U, "pickup_key"]
    assert list(routes[(1, 2)].actions) == [D, R, U, "pickup_key"]  # observed moves only
    assert list(routes[(2, 2)].actions) == ["pickup_key"]
    for pose, route in routes.items():
        assert route.situations[0] == next(s.before for s in segment.steps if s.before.pose == pose).situation


def test_a_scouted_phase_teaches_from_every_pose_another_only_along_its_route() -> None:
    (wandered,) = split_at_events(play(WANDERING_TO_KEY))
    (scouted,) = split_at_events(play(WANDERING_TO_KEY, scouting=True))
    assert not wandered.scouted and scouted.scouted
    along = routes_to_learn(wandered)
    assert [len(route.actions) for route in along] == [7, 6, 5, 4, 3, 2, 1]
    everywhere = routes_to_learn(scouted)
    assert len(everywhere) == len({step.before.pose for step in scouted.steps}) > len(along) - 1
    assert {r.situations[0].key() for r in along} <= {r.situations[0].key() for r in everywhere}
