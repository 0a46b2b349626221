"""Plots: PNG files on the Agg canvas, and matplotlib only loaded when plotting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from agent_helpers import ROOT, run_python

from agent import GridWorld, ProceduralMemoryAgent
from agent.embedding import DEFAULT_DIM
from agent.experiments import LayoutReport
from agent.plots import moving_mean, plot_comparison, visualize_training
from skillstore import MemoryBackend

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_importing_agent_does_not_load_matplotlib_or_pyplot() -> None:
    code = ("import sys, agent, agent.cli, agent.plots; "
            "print('matplotlib' in sys.modules, 'matplotlib.pyplot' in sys.modules)")
    completed = run_python("-c", code, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("with_baseline", [False, True])
def test_visualize_training_saves_a_png(tmp_path: Path, with_baseline: bool) -> None:
    stats = ProceduralMemoryAgent(GridWorld(), MemoryBackend(DEFAULT_DIM), seed=3).train(4)
    baseline = ProceduralMemoryAgent(GridWorld(), None, seed=3).train(4) if with_baseline else None
    path = visualize_training(stats, tmp_path / "nested" / "plot.png", baseline=baseline,
                              title="test run")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_plot_comparison_saves_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    report = LayoutReport(
        layout="fixed", episodes=6, window=3,
        memory_steps=rng.integers(10, 30, size=(3, 6)),
        baseline_steps=rng.integers(100, 500, size=(3, 6)),
        memory_success=np.ones((3, 6), dtype=bool),
        baseline_success=rng.random((3, 6)) > 0.5,
        optimal_steps=np.full((3, 6), 10),
        skills=np.array([3, 3, 3]),
    )
    path = plot_comparison([report, report], tmp_path / "compare.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_moving_mean_uses_a_trailing_window() -> None:
    assert moving_mean([0, 1, 1, 1], window=2).tolist() == [0.0, 0.5, 1.0, 1.0]
    assert moving_mean([]).tolist() == []
