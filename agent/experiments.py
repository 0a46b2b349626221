"""Measuring what memory is worth: memory against no memory over seeds, and after a restart.

For every setting (a GridWorld layout kind, or a MiniGrid DoorKey size) and seed, a
no-memory agent and an agent with a fresh persistent ``SkillStore`` play the same
sequence of layouts (the env's generator is only used at reset). Then a *new process*
opens each seed's store and plays a few more episodes: the restart figures show what
the stored skills are worth to a process that learned nothing itself. That child is this module run as a script
(``python -m agent.experiments``), fed JSON on stdin, answering JSON on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.agent import ProceduralMemoryAgent
from agent.embedding import DEFAULT_DIM
from agent.gridworld import GridWorld
from agent.minigrid_adapter import MiniGridDoorKey, is_minigrid_id
from agent.optimal import optimal_steps
from skillstore import SkillBackend

RESTART_SEED_OFFSET = 10_000  # the restarted process plays episodes training never saw


GRIDWORLD = "GridWorld"
MINIGRID_SCOUT = 0.1  # share of phases explored whole while learning DoorKey (see ProceduralMemoryAgent)


@dataclass(frozen=True)
class Setting:
    """Everything that defines the task, so a child process can rebuild it.

    ``env`` is ``"GridWorld"`` (with ``layout``, ``size``, ``pool_size``) or a
    ``MiniGrid-DoorKey-NxN-v0`` id. ``explore`` and ``scout`` default to what suits
    the world: random exploration and no scouting on GridWorld, novelty exploration
    and ``MINIGRID_SCOUT`` on MiniGrid.
    """

    layout: str = "fixed"
    size: int = 5
    max_steps: int | None = None
    pool_size: int = 5
    explore: str | None = None
    env: str = GRIDWORLD
    scout: float | None = None

    @property
    def minigrid(self) -> bool:
        return is_minigrid_id(self.env)

    @property
    def label(self) -> str:
        """How tables and plots name this setting."""
        return self.env.removeprefix("MiniGrid-").removesuffix("-v0") if self.minigrid else self.layout

    @property
    def exploration(self) -> str:
        return self.explore if self.explore is not None else ("novelty" if self.minigrid else "random")

    @property
    def scouting(self) -> float:
        return self.scout if self.scout is not None else (MINIGRID_SCOUT if self.minigrid else 0.0)

    def make_env(self, seed: int) -> GridWorld | MiniGridDoorKey:
        """The env for ``seed``; a pool layout uses the seed for its pool too."""
        if self.minigrid:
            return MiniGridDoorKey(self.env, max_steps=self.max_steps)
        return GridWorld(self.size, layout=self.layout, max_steps=self.max_steps,
                         pool_size=self.pool_size, pool_seed=seed)

    def make_agent(self, seed: int, backend: SkillBackend | None, *,
                   agent_seed: int | None = None) -> ProceduralMemoryAgent:
        """An agent on this setting's env for ``seed`` (its own generator from ``agent_seed``)."""
        return ProceduralMemoryAgent(self.make_env(seed), backend, explore=self.exploration,
                                     seed=seed if agent_seed is None else agent_seed,
                                     scout=self.scouting)

    def optimal_steps(self, seed: int, episodes: int, *, first_seed: int | None = None) -> list[int]:
        """The shortest solution of each episode's layout, replaying the env's resets.

        ``first_seed`` is the seed of the first reset when it differs from ``seed`` (the
        pool's seed), as in a restarted process.
        """
        env = self.make_env(seed)
        start = seed if first_seed is None else first_seed
        lengths = []
        for episode in range(episodes):
            env.reset(seed=start if episode == 0 else None)
            lengths.append(optimal_steps(env))
        return lengths


@dataclass
class LayoutReport:
    """Per-seed, per-episode figures of one layout; rows are seeds."""

    layout: str
    episodes: int
    window: int
    memory_steps: np.ndarray
    baseline_steps: np.ndarray
    memory_success: np.ndarray
    baseline_success: np.ndarray
    optimal_steps: np.ndarray
    skills: np.ndarray  # library size at the end of each seed's run
    restart_steps: np.ndarray | None = None
    restart_success: np.ndarray | None = None

    @property
    def seeds(self) -> int:
        return int(self.memory_steps.shape[0])

    def tail(self, values: np.ndarray) -> np.ndarray:
        """Per-seed mean over the last ``window`` episodes."""
        return np.asarray(values[:, -self.window:].mean(axis=1), dtype=np.float64)

    def summary(self) -> dict[str, Any]:
        """Headline figures: means over seeds (and their standard deviation)."""
        first = self.episodes - min(self.window, self.episodes) + 1
        figures: dict[str, Any] = {
            "layout": self.layout,
            "seeds": self.seeds,
            "episodes": self.episodes,
            "tail_episodes": [first, self.episodes],
            "memory_tail_steps": float(self.tail(self.memory_steps).mean()),
            "memory_tail_steps_std": float(self.tail(self.memory_steps).std()),
            "baseline_tail_steps": float(self.tail(self.baseline_steps).mean()),
            "baseline_tail_steps_std": float(self.tail(self.baseline_steps).std()),
            "optimal_tail_steps": float(self.tail(self.optimal_steps).mean()),
            "memory_success": float(self.memory_success.mean()),
            "baseline_success": float(self.baseline_success.mean()),
            "memory_tail_success": float(self.tail(self.memory_success).mean()),
            "baseline_tail_success": float(self.tail(self.baseline_success).mean()),
            "skills": float(self.skills.mean()),
        }
        if self.restart_steps is not None and self.restart_success is not None:
            figures["restart_episodes"] = int(self.restart_steps.shape[1])
            figures["restart_steps"] = float(self.restart_steps.mean())
            figures["restart_steps_std"] = float(self.restart_steps.mean(axis=1).std())
            figures["restart_success"] = float(self.restart_success.mean())
        return figures


def _open_store(path: Path, *, dim: int | None) -> Any:
    from skillstore import SkillStore  # public API only; imported here to keep startup light

    return SkillStore.open(path, dim=dim)


def compare_layout(
    setting: Setting,
    seeds: Sequence[int],
    episodes: int,
    workdir: Path,
    *,
    window: int = 10,
    restart_episodes: int = 5,
    advance: Callable[[int], None] = lambda n: None,
) -> LayoutReport:
    """Memory against no memory on ``setting`` for every seed; stores go under ``workdir``."""
    runs: dict[str, list[Any]] = {key: [] for key in
                                  ("memory_steps", "baseline_steps", "memory_success",
                                   "baseline_success", "optimal", "skills")}
    stores = []
    for seed in seeds:
        baseline = setting.make_agent(seed, None).train(episodes)
        advance(episodes)
        path = workdir / f"{setting.label}-seed{seed}"
        with _open_store(path, dim=DEFAULT_DIM) as store:
            memory = setting.make_agent(seed, store).train(episodes)
            runs["skills"].append(len(store))
        advance(episodes)
        stores.append({"store": str(path), "seed": seed})
        runs["memory_steps"].append(memory["steps"])
        runs["baseline_steps"].append(baseline["steps"])
        runs["memory_success"].append(memory["successes"])
        runs["baseline_success"].append(baseline["successes"])
        runs["optimal"].append(setting.optimal_steps(seed, episodes))
    report = LayoutReport(
        layout=setting.label,
        episodes=episodes,
        window=min(window, episodes),
        memory_steps=np.array(runs["memory_steps"]),
        baseline_steps=np.array(runs["baseline_steps"]),
        memory_success=np.array(runs["memory_success"], dtype=bool),
        baseline_success=np.array(runs["baseline_success"], dtype=bool),
        optimal_steps=np.array(runs["optimal"]),
        skills=np.array(runs["skills"]),
    )
    if restart_episodes > 0:
        restarted = run_in_new_process(setting, stores, restart_episodes)
        report.restart_steps = np.array(restarted["steps"])
        report.restart_success = np.array(restarted["successes"], dtype=bool)
    return report


def run_in_new_process(setting: Setting, stores: list[dict[str, Any]], episodes: int) -> dict[str, Any]:
    """Play ``episodes`` episodes on each store in a fresh Python process; returns its stats."""
    request = {"setting": asdict(setting), "stores": stores, "episodes": episodes}
    # Make the child find this very package even when it is not installed.
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-m", "agent.experiments"],
        input=json.dumps(request), capture_output=True, text=True, env=env, check=False,
    )
    if completed.returncode != 0:
        detail = completed.stderr.strip().splitlines()[-1:] or ["no output"]
        raise ChildProcessError(f"the restarted process failed: {detail[0]}")
    return json.loads(completed.stdout)  # type: ignore[no-any-return]


def replay_stores(request: dict[str, Any]) -> dict[str, Any]:
    """The child's work: reopen each store and keep training from what it holds."""
    setting = Setting(**request["setting"])
    result: dict[str, list[Any]] = {"steps": [], "successes": [], "skills_at_start": []}
    for run in request["stores"]:
        seed = int(run["seed"])
        with _open_store(Path(run["store"]), dim=None) as store:
            result["skills_at_start"].append(len(store))
            # same pool as in training, layouts training never drew
            stats = setting.make_agent(seed, store, agent_seed=seed + RESTART_SEED_OFFSET).train(
                request["episodes"])
        result["steps"].append(stats["steps"])
        result["successes"].append(stats["successes"])
    return result


def _cell(mean: float, std: float | None = None, digits: int = 1) -> str:
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_table(reports: Sequence[LayoutReport]) -> str:
    """A Markdown table of the headline figures, one row per layout."""
    if not reports:
        return ""
    first = reports[0].summary()
    lo, hi = first["tail_episodes"]
    restart = "restart_steps" in first
    last = first["episodes"]
    # every column names the episodes it covers: the tail (lo-hi) or the whole run (1-last)
    header = [
        "layout", "seeds × episodes", f"steps ep {lo}–{hi}, memory", f"steps ep {lo}–{hi}, no memory",
        f"optimal ep {lo}–{hi}", f"solved ep {lo}–{hi}, memory", f"solved ep {lo}–{hi}, no memory",
        f"solved ep 1–{last}, memory", f"solved ep 1–{last}, no memory",
    ]
    if restart:
        header.append(f"new process: steps ep 1–{first['restart_episodes']}")
    header.append(f"skills after ep {last}")
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for report in reports:
        s = report.summary()
        cells = [
            s["layout"], f"{s['seeds']} × {s['episodes']}",
            _cell(s["memory_tail_steps"], s["memory_tail_steps_std"]),
            _cell(s["baseline_tail_steps"], s["baseline_tail_steps_std"]),
            _cell(s["optimal_tail_steps"]),
            f"{s['memory_tail_success']:.0%}", f"{s['baseline_tail_success']:.0%}",
            f"{s['memory_success']:.0%}", f"{s['baseline_success']:.0%}",
        ]
        if restart:
            cells.append(_cell(s["restart_steps"], s["restart_steps_std"])
                         if "restart_steps" in s else "n/a")
        cells.append(_cell(s["skills"]))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    """Entry of the restarted process: JSON request on stdin, JSON stats on stdout."""
    print(json.dumps(replay_stores(json.load(sys.stdin))))


if __name__ == "__main__":
    main()
