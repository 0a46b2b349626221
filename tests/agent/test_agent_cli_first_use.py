"""skillstore-agent where a new user trips: bad options fail before anything is created,
help texts say what an option takes, and summaries never show a rate of nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import agent.plots
from agent.cli import main
from agent.training import print_summary
from skillstore import MemoryBackend, Skill, SkillStore


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_a_size_the_fixed_layout_cannot_use_creates_no_store(tmp_path: Path) -> None:
    store = tmp_path / "rnd"
    result = invoke("train", "--store", str(store), "--size", "3", "--episodes", "1")
    assert result.exit_code == 1 and "at least 5x5" in result.output
    assert not store.exists()
    # the same size works for a layout drawn at random
    assert invoke("train", "--size", "3", "--layout", "random", "--episodes", "1").exit_code == 0


def test_compare_refuses_a_bad_size_before_running_any_layout(tmp_path: Path) -> None:
    result = invoke("compare", "--seeds", "1", "--episodes", "1", "--layouts", "random,fixed", "--size", "3",
                    "--workdir", str(tmp_path / "work"))
    assert result.exit_code == 1 and "at least 5x5" in result.output
    assert not (tmp_path / "work").exists()


def test_a_plot_in_a_missing_directory_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "x.png"
    for command in (["train", "--episodes", "1"], ["compare", "--seeds", "1", "--episodes", "1"]):
        result = invoke(*command, "--plot", str(target))
        assert result.exit_code == 2 and "does not exist" in result.output
        assert not (tmp_path / "missing").exists()


def test_every_option_has_help_and_size_says_what_it_takes() -> None:
    for name, command in main.commands.items():
        missing = [p.name for p in command.params if isinstance(p, click.Option) and not p.help]
        assert missing == [], f"{name}: options without help: {missing}"
        text = " ".join(invoke(name, "--help").output.split())
        assert "5 or more for the fixed layout" in text


def test_the_summary_says_when_no_skill_was_tried() -> None:
    lines: list[str] = []
    backend = MemoryBackend(4)
    backend.add(Skill("a", ["x"], [1.0, 0.0, 0.0, 0.0]))
    print_summary(backend, {"steps": [], "successes": []}, echo=lines.append)
    assert "Average success rate: no skill tried yet" in lines
    backend.record_outcome(next(iter(backend)).id or "", True)  # type: ignore[arg-type]
    lines.clear()
    print_summary(backend, {"steps": [], "successes": []}, echo=lines.append)
    assert "Average success rate: 100.00% (over the skills tried)" in lines


def test_the_plot_title_says_a_run_started_with_stored_skills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    titles: list[str | None] = []
    real = agent.plots.visualize_training

    def spy(stats: Any, path: Any, **options: Any) -> Path:
        titles.append(options.get("title"))
        return real(stats, path, **options)

    monkeypatch.setattr(agent.plots, "visualize_training", spy)
    store, plot = tmp_path / "skills", tmp_path / "train.png"
    sizes = []
    for _ in range(2):
        result = invoke("train", "--store", str(store), "--episodes", "3", "--seed", "3", "--plot", str(plot))
        assert result.exit_code == 0
        with SkillStore.open(store, read_only=True) as opened:
            sizes.append(len(opened))
    assert titles[0] is not None and "stored skills" not in titles[0]
    assert titles[1] is not None and f"started with {sizes[0]} stored skills" in titles[1]


def test_every_column_of_the_compare_table_names_the_episodes_it_covers() -> None:
    import numpy as np

    from agent.experiments import LayoutReport, format_table

    # solved in every late episode, in half of the early ones: the tail and the whole run differ
    memory_success = np.array([[False, True, False, True, True, True]] * 2)
    report = LayoutReport(
        layout="random", episodes=6, window=2,
        memory_steps=np.full((2, 6), 20), baseline_steps=np.full((2, 6), 300),
        memory_success=memory_success, baseline_success=np.zeros((2, 6), dtype=bool),
        optimal_steps=np.full((2, 6), 12), skills=np.array([5, 7]),
    )
    header, _, row = format_table([report]).splitlines()
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    cells = dict(zip(columns, (cell.strip() for cell in row.strip("|").split("|")), strict=True))
    assert cells["solved ep 5–6, memory"] == "100%" and cells["solved ep 1–6, memory"] == "67%"
    assert cells["steps ep 5–6, memory"].startswith("20") and cells["skills after ep 6"].startswith("6")
    for column in columns[2:]:
        assert "ep " in column, f"{column!r} does not say which episodes it covers"
