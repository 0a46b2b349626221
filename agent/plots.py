"""PNG plots of training runs and comparisons.

matplotlib is imported inside the functions, and figures are drawn on the Agg
canvas without pyplot: nothing opens a window and importing ``agent`` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from agent.experiments import LayoutReport

SMOOTHING = 10  # episodes in the moving window of the success-rate panels


def moving_mean(values: Sequence[float], window: int = SMOOTHING) -> np.ndarray:
    """Mean of each episode and up to ``window - 1`` before it (same length as ``values``)."""
    data = np.asarray(values, dtype=np.float64)
    if not len(data):
        return data
    sums = np.cumsum(np.insert(data, 0, 0.0))
    ends = np.arange(1, len(data) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def _figure(rows: int, cols: int, width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, cols, squeeze=False)


def _integer_locator() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def visualize_training(
    stats: dict[str, list[Any]],
    path: str | Path = "skill_learning_stats.png",
    *,
    baseline: dict[str, list[Any]] | None = None,
    title: str | None = None,
) -> Path:
    """Save the reference's four panels plus success rate and skill step share; returns the path.

    With ``baseline`` (a no-memory run's stats), its rewards, steps and success rate
    are drawn beside the agent's.
    """
    figure, axes = _figure(2, 3, 15, 8)
    episodes = np.arange(1, len(stats["steps"]) + 1)
    panels = [
        (axes[0, 0], "rewards", "Episode Rewards", "reward"),
        (axes[0, 1], "steps", "Steps per Episode", "steps"),
        (axes[1, 0], "skills_learned", "Skills in Library", "skills"),
        (axes[1, 1], "skill_uses", "Cumulative Skill Uses", "uses"),
    ]
    for ax, key, heading, ylabel in panels:
        ax.plot(episodes, stats[key], label="memory", color="tab:blue")
        if baseline is not None and key in ("rewards", "steps"):
            ax.plot(np.arange(1, len(baseline[key]) + 1), baseline[key],
                    label="no memory", color="tab:gray", alpha=0.8)
        ax.set_title(heading)
        ax.set_ylabel(ylabel)
        if key in ("skills_learned", "skill_uses"):  # counts: start at zero, whole numbers
            ax.set_ylim(bottom=0, top=max(1, max(stats[key], default=0)) * 1.1)
            ax.yaxis.set_major_locator(_integer_locator())
    if stats.get("new_versions"):  # how the library's skills changed: cumulative, beside its size
        ax = axes[1, 0]
        for key, label, colour in (("new_versions", "new versions (shorter routes)", "tab:purple"),
                                   ("rollbacks", "rollbacks", "tab:red"), ("deprecations", "deprecated", "tab:brown")):
            ax.plot(episodes, stats[key], label=label, color=colour)
        top = max(max(stats[k], default=0) for k in ("skills_learned", "new_versions", "rollbacks", "deprecations"))
        ax.set_ylim(bottom=0, top=max(1, top) * 1.1)
        ax.set_title("Skills in Library, and Their Versions")
        ax.set_ylabel("skills / versions (cumulative)")
        ax.legend(fontsize="small")
    ax = axes[0, 2]
    ax.plot(episodes, moving_mean(stats["successes"]), label="memory", color="tab:blue")
    if baseline is not None:
        ax.plot(np.arange(1, len(baseline["successes"]) + 1), moving_mean(baseline["successes"]),
                label="no memory", color="tab:gray", alpha=0.8)
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(f"Success Rate ({SMOOTHING}-episode window)")
    ax.set_ylabel("share of episodes solved")
    ax = axes[1, 2]
    ax.plot(episodes, stats.get("skill_step_share", [0.0] * len(episodes)), color="tab:green")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("Share of Steps Inside Skills")
    ax.set_ylabel("share of the episode's steps")
    for ax in axes.flat:
        ax.set_xlabel("episode")
        ax.xaxis.set_major_locator(_integer_locator())
        if ax.get_legend_handles_labels()[0] and baseline is not None:
            ax.legend()
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def plot_comparison(reports: Sequence[LayoutReport], path: str | Path) -> Path:
    """Steps and success per episode, mean over seeds with a min-max band, one column per layout
    (or DoorKey size); the optimum of the same layouts is the dotted line. Steps are on a log
    scale: the no-memory walk takes tens of times the optimum."""
    figure, axes = _figure(2, len(reports), 5.5 * len(reports), 8)
    for column, report in enumerate(reports):
        episodes = np.arange(1, report.episodes + 1)
        runs = [("memory", report.memory_steps, report.memory_success, "tab:blue"),
                ("no memory", report.baseline_steps, report.baseline_success, "tab:gray")]
        for label, steps, success, color in runs:
            ax = axes[0, column]
            ax.plot(episodes, steps.mean(axis=0), color=color, label=label)
            ax.fill_between(episodes, steps.min(axis=0), steps.max(axis=0), color=color, alpha=0.2)
            ax = axes[1, column]
            rates = np.array([moving_mean(row) for row in success])
            ax.plot(episodes, rates.mean(axis=0), color=color, label=label)
            ax.fill_between(episodes, rates.min(axis=0), rates.max(axis=0), color=color, alpha=0.2)
        axes[0, column].plot(episodes, report.optimal_steps.mean(axis=0), color="black", linestyle=":",
                             linewidth=1, label="optimal (mean)")
        axes[0, column].set_yscale("log")
        name = report.layout if report.layout.startswith("DoorKey") else f"{report.layout} layout"
        axes[0, column].set_title(f"{name}: steps per episode ({report.seeds} seeds)")
        axes[0, column].set_ylabel("steps (mean, band = min..max; log scale)")
        axes[1, column].set_title(f"{name}: success rate ({SMOOTHING}-ep window)")
        axes[1, column].set_ylabel("share of episodes solved")
        axes[1, column].set_ylim(-0.05, 1.05)
        for ax in axes[:, column]:
            ax.set_xlabel("episode")
            ax.xaxis.set_major_locator(_integer_locator())
            ax.legend()
    return _save(figure, path)


def _save(figure: Any, path: str | Path) -> Path:
    target = Path(path)
    if target.parent != Path():
        target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=110)
    return target


# Published reference points on DoorKey, quoted for comparison only: (frames, mean episode return,
# label); a return of None is a run length without a published return (drawn as a vertical line).
PPO_REFERENCES: dict[int, list[tuple[float, float | None, str]]] = {
    5: [(100_000, 0.964, "PPO: 0.964 at 100k frames (RL Baselines3 Zoo)")],
    8: [(123_000, 0.91, "PPO + episodic novelty: 0.91 at 123k (DEIR)"),
        (800_000, None, "PPO: ~800k frames, raised max_steps (rl-starter-files #53)")],
}


def _frames_axis(ax: Any) -> None:
    """A log axis of frames labelled 1k, 10k, 100k, 1M."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda value, _: f"{value / 1e6:g}M" if value >= 1e6 else f"{value / 1e3:g}k"))


def _size_of(env: str) -> int:
    return int(env.split("-")[2].split("x")[0])


def plot_doorkey_curves(results: dict[str, Any], path: str | Path) -> Path:
    """Evaluation on fresh layouts against training frames, one column per DoorKey size.

    Top: MiniGrid's mean return (the figure PPO results quote), with the published
    reference points; bottom: steps over the optimum. Mean over seeds, band = min..max.
    """
    by_env: dict[str, list[dict[str, Any]]] = {}
    for run in results["runs"]:
        by_env.setdefault(run["env"], []).append(run)
    figure, axes = _figure(2, len(by_env), 5.2 * len(by_env), 8)
    for column, (env, runs) in enumerate(sorted(by_env.items(), key=lambda item: _size_of(item[0]))):
        size = _size_of(env)
        frames = np.array([[point["frames"] for point in run["curve"]] for run in runs], dtype=np.float64)
        x = frames.mean(axis=0)
        for row, (key, label) in enumerate([("mean_reward", "mean return on fresh layouts"),
                                            ("steps_over_optimal", "steps / optimal steps")]):
            values = np.array([[point[key] for point in run["curve"]] for run in runs], dtype=np.float64)
            ax = axes[row, column]
            ax.plot(x, values.mean(axis=0), marker="o", color="tab:blue",
                    label=f"skill memory ({len(runs)} seeds)")
            ax.fill_between(x, values.min(axis=0), values.max(axis=0), color="tab:blue", alpha=0.2)
            _frames_axis(ax)
            ax.set_xlabel("training frames (environment steps)")
            ax.set_ylabel(label)
        top, bottom = axes[0, column], axes[1, column]
        for baseline in results.get("baselines", []):
            if baseline["env"] == env:
                top.axhline(baseline["mean_reward"], color="tab:gray", linestyle="--",
                            label="no memory (same exploration)")
        references = PPO_REFERENCES.get(size, [])
        for frames_at, value, text in references:
            if value is None:
                top.axvline(frames_at, color="tab:orange", linestyle="-.", label=text)
            else:
                top.scatter([frames_at], [value], marker="*", s=140, zorder=3, label=text)
        top.set_ylim(0, 1.02)
        reach = max([float(x.max()), *(frames_at for frames_at, _, _ in references)])
        for ax in (top, bottom):
            ax.set_xlim(left=float(x.min()) / 1.5, right=reach * 1.5)
        top.set_title(f"DoorKey-{size}x{size}: return on fresh layouts")
        top.legend(fontsize=8, loc="lower right")
        bottom.axhline(1.0, color="black", linewidth=0.8, linestyle=":", label="optimal")
        bottom.axhline(1.3, color="tab:red", linewidth=0.8, linestyle="--", label="target 1.3x")
        bottom.set_ylim(bottom=0.9)
        bottom.set_title(f"DoorKey-{size}x{size}: steps against the optimum")
        bottom.legend(fontsize=8)
    return _save(figure, path)


def plot_library(results: dict[str, Any], path: str | Path) -> Path:
    """Library size against training frames per DoorKey size, and the backends side by side."""
    figure, axes = _figure(1, 2, 12, 4.5)
    ax = axes[0, 0]
    for run in results["runs"]:
        if run.get("library") is None or run["seed"] != 0:
            continue
        ax.plot(run["library"]["frames"], run["library"]["skills"],
                label=run["env"].removeprefix("MiniGrid-").removesuffix("-v0"))
    ax.set_xlabel("training frames (environment steps)")
    ax.set_ylabel("skills in the library")
    ax.set_title("Library size during training (seed 0)")
    ax.yaxis.set_major_locator(_integer_locator())
    ax.set_ylim(bottom=0)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    ax = axes[0, 1]
    backends = results.get("backends")
    if backends:
        names = list(backends["runs"])
        query = [backends["runs"][name]["retrieval_ms_median"] for name in names]
        step = [backends["runs"][name]["ms_per_step"] for name in names]
        where = np.arange(len(names))
        ax.bar(where - 0.2, query, width=0.4, label="median store query (ms)")
        ax.bar(where + 0.2, step, width=0.4, label="whole agent step, learning included (ms)")
        ax.set_xticks(where, names)
        ax.set_ylabel("milliseconds")
        env = backends["env"].removeprefix("MiniGrid-").removesuffix("-v0")
        ax.set_title(f"One {env} training run of {backends['episodes']} episodes per backend")
        ax.legend(fontsize=8)
    return _save(figure, path)
