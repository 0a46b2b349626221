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
    """Steps and success per episode, mean over seeds with a min-max band, one column per layout."""
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
        axes[0, column].set_title(f"{report.layout} layout: steps per episode ({report.seeds} seeds)")
        axes[0, column].set_ylabel("steps (mean, band = min..max)")
        axes[1, column].set_title(f"{report.layout} layout: success rate ({SMOOTHING}-ep window)")
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
