"""skillstore-agent: commands, persistence through --store, help texts and clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from agent_helpers import ROOT, run_python
from click.testing import CliRunner

from agent.cli import main
from skillstore import SkillStore

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_every_command_has_help_with_an_example() -> None:
    for name, command in [("skillstore-agent", main), *main.commands.items()]:
        assert command.help, f"{name} has no help text"
        assert "Example" in command.help, f"{name} has no example"
        result = invoke(*([] if command is main else [name]), "--help")
        assert result.exit_code == 0 and "Example" in result.output


def test_train_prints_reference_lines_and_a_second_run_starts_from_the_store(
    tmp_path: Path,
) -> None:
    store = tmp_path / "skills"
    first = invoke("train", "--store", str(store), "--episodes", "4", "--seed", "3")
    assert first.exit_code == 0
    assert "holding 0 skills" in first.output
    assert "Episode 1: Reward=" in first.output and ", Success=True" in first.output
    assert "=== Acquired Skills ===" in first.output
    assert "acquire_key:" in first.output and "Average success rate:" in first.output
    learned = int(first.output.split("Total skills: ")[1].split()[0])
    assert learned >= 10
    second = invoke("train", "--store", str(store), "--episodes", "2", "--seed", "4")
    assert f"holding {learned} skills" in second.output
    first_line = next(line for line in second.output.splitlines() if line.startswith("Episode 1:"))
    steps = int(first_line.split("Steps=")[1].split(",")[0])
    assert steps <= 20 and first_line.endswith("Success=True")


def test_greedy_train_matches_the_reference_figures() -> None:
    result = invoke("train", "--explore", "greedy", "--episodes", "2")
    assert "Episode 1: Reward=12.3, Steps=10, Skills=10, Success=True" in result.output
    assert "Episode 2: Reward=12.3, Steps=10, Skills=10, Success=True" in result.output


def test_train_json_and_plot_with_baseline(tmp_path: Path) -> None:
    plot = tmp_path / "train.png"
    result = invoke("train", "--episodes", "3", "--seed", "3", "--json", "--baseline",
                    "--plot", str(plot))
    payload = json.loads(result.stdout)
    assert len(payload["stats"]["steps"]) == 3 and len(payload["baseline"]["steps"]) == 3
    assert payload["baseline"]["skill_uses"] == [0, 0, 0]
    assert plot.read_bytes().startswith(PNG_MAGIC)


def test_long_runs_show_no_per_episode_lines() -> None:
    result = invoke("train", "--explore", "greedy", "--episodes", "101", "--layout", "fixed")
    assert result.exit_code == 0
    assert "Episode 1:" not in result.output
    assert "Episodes solved: 101/101" in result.output


def test_no_memory_runs_the_baseline() -> None:
    result = invoke("train", "--no-memory", "--explore", "greedy", "--episodes", "2")
    assert "Skills=0" in result.output and "Skill Library" not in result.output


def test_eval_reuses_without_writing(tmp_path: Path) -> None:
    store = tmp_path / "skills"
    invoke("train", "--store", str(store), "--episodes", "2", "--explore", "greedy")
    with SkillStore.open(store) as opened:
        before = {skill.id: skill.stats for skill in opened}
    result = invoke("eval", "--store", str(store), "--episodes", "3", "--json")
    stats = json.loads(result.stdout)
    assert stats["steps"] == [10, 10, 10] and stats["skill_uses"] == 9
    assert stats["mean_steps"] == stats["mean_optimal_steps"] == 10.0
    assert stats["success_rate"] == 1.0 and stats["episodes"] == 3
    assert stats["skills"] == 10
    assert stats["frames"] == 10  # the second training episode changed nothing in the library
    with SkillStore.open(store) as opened:
        assert {skill.id: skill.stats for skill in opened} == before


def test_compare_prints_a_table_and_saves_a_plot(tmp_path: Path) -> None:
    plot = tmp_path / "compare.png"
    result = invoke("compare", "--seeds", "2", "--episodes", "4", "--layouts", "fixed,pool",
                    "--window", "2", "--restart-episodes", "2", "--plot", str(plot))
    assert result.exit_code == 0
    lines = [line for line in result.output.splitlines() if line.startswith("|")]
    assert len(lines) == 4
    assert "steps ep 3–4, memory" in lines[0] and "new process: steps ep 1–2" in lines[0]
    assert lines[2].startswith("| fixed | 2 × 4 |") and lines[3].startswith("| pool | 2 × 4 |")
    assert plot.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "--store", "{tmp}/missing"], "no skill store"),
        (["compare", "--layouts", "fixed,maze"], "--layouts"),
        (["compare", "--envs", "GridWorld,Pong"], "--envs"),
        (["train", "--env", "MiniGrid-DoorKey-5x5-v0", "--explore", "greedy"], "greedy"),
        (["train", "--no-memory", "--store", "{tmp}/s"], "exclude"),
        (["train", "--size", "4"], "5x5"),
        (["compare", "--workdir", "{tmp}/full", "--seeds", "1", "--episodes", "1"], "not empty"),
    ],
)
def test_errors_are_one_line_and_a_non_zero_exit(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something").write_text("x")
    result = CliRunner().invoke(main, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_reopening_a_store_with_another_dimension_is_a_clean_error(tmp_path: Path) -> None:
    store = str(tmp_path / "wide")
    SkillStore.open(store, dim=12).close()
    result = CliRunner().invoke(main, ["train", "--store", store, "--episodes", "1"])
    assert result.exit_code == 1
    assert result.output.startswith("Error:") and "dim 12" in result.output
    assert result.output.count("\n") == 1


def test_python_dash_m_agent_runs_the_cli(tmp_path: Path) -> None:
    store = tmp_path / "skills"
    completed = run_python("-m", "agent", "train", "--store", str(store), "--episodes", "1",
                           "--explore", "greedy", cwd=ROOT)
    assert completed.returncode == 0, completed.stderr
    assert "Episode 1: Reward=12.3, Steps=10" in completed.stdout
    missing = run_python("-m", "agent", "eval", "--store", str(tmp_path / "nothing"), cwd=ROOT)
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and missing.stderr.startswith("Error:")


def test_doorkey_train_then_eval_reports_the_documented_json(tmp_path: Path) -> None:
    store = str(tmp_path / "doorkey")
    trained = invoke("train", "--env", "MiniGrid-DoorKey-5x5-v0", "--store", store, "--episodes", "60",
                     "--seed", "0", "--json")
    frames = json.loads(trained.stdout)["stats"]["frames"][-1]
    result = invoke("eval", "--env", "MiniGrid-DoorKey-5x5-v0", "--store", store, "--episodes", "20",
                    "--seed", "7", "--json")
    report = json.loads(result.stdout)
    for key in ("mean_steps", "success_rate", "mean_optimal_steps", "episodes", "frames", "skills"):
        assert key in report
    assert report["episodes"] == 20 and report["skills"] > 0
    assert 0 < report["frames"] <= frames
    assert report["mean_optimal_steps"] == sum(report["optimal_steps"]) / 20
    assert min(s - o for s, o in zip(report["steps"], report["optimal_steps"], strict=True)) >= 0
    text = invoke("eval", "--env", "MiniGrid-DoorKey-5x5-v0", "--store", store, "--episodes", "2")
    assert "optimal" in text.output


def test_compare_covers_gridworld_and_doorkey_in_one_table(tmp_path: Path) -> None:
    plot = tmp_path / "compare.png"
    result = invoke("compare", "--envs", "GridWorld,MiniGrid-DoorKey-5x5-v0", "--layouts", "random",
                    "--seeds", "1", "--episodes", "6", "--window", "3", "--restart-episodes", "1",
                    "--plot", str(plot))
    assert result.exit_code == 0
    rows = [line for line in result.output.splitlines() if line.startswith("|")]
    assert rows[2].startswith("| random | 1 × 6 |") and rows[3].startswith("| DoorKey-5x5 | 1 × 6 |")
    assert plot.read_bytes().startswith(PNG_MAGIC)
