"""GridWorld: Gymnasium conformance, the reference dynamics, layouts and rendering."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from agent import ACTIONS, ENV_ID, GridWorld, register_env
from agent.gridworld import FIXED_LAYOUT, default_max_steps

UP, DOWN, LEFT, RIGHT, PICKUP, OPEN = range(6)
GREEDY_SOLUTION = [RIGHT, RIGHT, UP, UP, PICKUP, RIGHT, UP, OPEN, RIGHT, UP]


def rollout(env: GridWorld, seed: int, actions: list[int]) -> list[tuple]:
    obs, info = env.reset(seed=seed)
    trace: list[tuple] = [(obs.tolist(), info["layout"])]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((obs.tolist(), reward, terminated, truncated, info["event"]))
        if terminated or truncated:
            obs, info = env.reset()
            trace.append((obs.tolist(), info["layout"]))
    return trace


@pytest.mark.parametrize("layout", ["fixed", "random", "pool"])
def test_check_env_passes_without_warnings(layout: str) -> None:
    env = gym.make(ENV_ID, layout=layout)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.close()


def test_registration_is_idempotent_and_silent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register_env()
        register_env()
    assert gym.spec(ENV_ID).entry_point == "agent.gridworld:GridWorld"


def test_action_space_order_matches_the_reference() -> None:
    env = GridWorld()
    assert env.action_space == gym.spaces.Discrete(6)
    assert ACTIONS == ("move_up", "move_down", "move_left", "move_right", "pickup_key", "open_door")


@pytest.mark.parametrize("layout", ["fixed", "random", "pool"])
def test_two_envs_with_one_seed_roll_out_identically(layout: str) -> None:
    actions = np.random.default_rng(7).integers(0, 6, size=600).tolist()
    first = rollout(GridWorld(layout=layout, max_steps=40), 123, actions)
    second = rollout(GridWorld(layout=layout, max_steps=40), 123, actions)
    assert first == second


def test_random_layouts_change_between_episodes_and_seeds() -> None:
    env = GridWorld(layout="random")
    layouts = {tuple(sorted(env.reset(seed=s)[1]["layout"].items())) for s in range(20)}
    assert len(layouts) > 10
    env.reset(seed=1)
    following = {tuple(sorted(env.reset()[1]["layout"].items())) for _ in range(20)}
    assert len(following) > 10


def test_random_layout_keeps_objects_apart_and_off_start_and_goal() -> None:
    env = GridWorld(size=4, layout="random")
    env.reset(seed=0)
    for _ in range(200):
        objects = env.reset()[1]["layout"]
        cells = set(objects.values())
        assert len(cells) == 3
        assert (0, 0) not in cells and (3, 3) not in cells


def test_pool_draws_from_k_layouts_that_depend_only_on_the_pool_seed() -> None:
    env = GridWorld(layout="pool", pool_size=3, pool_seed=5)
    seen = set()
    env.reset(seed=0)
    for _ in range(100):
        seen.add(tuple(sorted(env.reset()[1]["layout"].items())))
    assert len(seen) == 3
    assert GridWorld(layout="pool", pool_size=3, pool_seed=5).pool == env.pool
    assert GridWorld(layout="pool", pool_size=3, pool_seed=6).pool != env.pool


def test_greedy_solution_scores_the_reference_figures() -> None:
    env = GridWorld()
    env.reset(seed=0)
    total, events = 0.0, []
    for number, action in enumerate(GREEDY_SOLUTION, start=1):
        _, reward, terminated, truncated, info = env.step(action)
        total += reward
        events.append(info["event"])
        assert terminated == (number == len(GREEDY_SOLUTION))
        assert not truncated
    assert total == pytest.approx(12.3)
    assert events == [None] * 4 + ["key", None, None, "door", None, "goal"]
    assert env.get_state()["at_goal"] is True
    assert FIXED_LAYOUT.optimal_steps(5) == len(GREEDY_SOLUTION)


def test_moves_follow_the_reference_axes_and_clamp_to_the_grid() -> None:
    env = GridWorld()
    env.reset(seed=0)
    env.step(UP)
    assert env.get_state()["agent_pos"] == (0, 1)
    env.step(DOWN)
    env.step(DOWN)
    env.step(LEFT)
    assert env.get_state()["agent_pos"] == (0, 0)
    for _ in range(9):
        env.step(RIGHT)
    assert env.get_state()["agent_pos"] == (4, 0)


def test_pickup_and_open_only_count_on_their_cell_and_once() -> None:
    env = GridWorld()
    env.reset(seed=0)
    assert env.step(PICKUP)[1] == pytest.approx(-0.1)  # not on the key
    for action in (RIGHT, RIGHT, RIGHT, UP, UP, UP, OPEN):  # at the door without the key
        _, reward, *_ = env.step(action)
    assert reward == pytest.approx(-0.1) and not env.get_state()["door_open"]
    for action in (LEFT, DOWN):
        env.step(action)
    assert env.step(PICKUP)[1] == 1.0
    assert env.step(PICKUP)[1] == pytest.approx(-0.1)  # already held
    env.step(RIGHT)
    env.step(UP)
    assert env.step(OPEN)[1] == 2.0
    assert env.step(OPEN)[1] == pytest.approx(-0.1)  # already open


def test_goal_without_the_open_door_does_not_terminate() -> None:
    env = GridWorld()
    env.reset(seed=0)
    for action in [RIGHT] * 4 + [UP] * 4:
        _, reward, terminated, _, _ = env.step(action)
    assert env.get_state()["at_goal"] is True
    assert not terminated and reward == pytest.approx(-0.1)


def test_max_steps_truncates() -> None:
    env = GridWorld(max_steps=3)
    env.reset(seed=0)
    flags = [env.step(LEFT)[3] for _ in range(3)]
    assert flags == [False, False, True]
    assert GridWorld().max_steps == default_max_steps(5) == 500


def test_get_state_is_the_reference_dict() -> None:
    env = GridWorld()
    env.reset(seed=0)
    assert env.get_state() == {
        "agent_pos": (0, 0),
        "has_key": False,
        "door_open": False,
        "at_goal": False,
        "objects": {"key": (2, 2), "door": (3, 3), "box": (1, 3)},
    }


def test_ansi_render_draws_the_grid_top_row_first() -> None:
    env = GridWorld(render_mode="ansi")
    env.reset(seed=0)
    env.step(UP)
    assert env.render() == (
        ". . . . G\n"
        ". B . D .\n"
        ". . K . .\n"
        "A . . . .\n"
        ". . . . .\n"
    )
    assert GridWorld().render() is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layout": "maze"}, "layout"),
        ({"size": 4}, "5x5"),
        ({"size": 2, "layout": "random"}, "size"),
        ({"max_steps": 0}, "max_steps"),
        ({"render_mode": "human"}, "render_mode"),
        ({"layout": "pool", "pool_size": 0}, "pool_size"),
    ],
)
def test_invalid_arguments_raise_value_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GridWorld(**kwargs)


def test_step_rejects_actions_outside_the_space() -> None:
    env = GridWorld()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(6)
