"""skillstore-agent: train, evaluate and compare the GridWorld procedural-memory agent.

Library errors become one ``Error: ...`` line and exit status 1, in one place
(:class:`AgentGroup`), never a traceback.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from agent.agent import ProceduralMemoryAgent
from agent.embedding import DEFAULT_DIM
from agent.experiments import LayoutReport, Setting, compare_layout, format_table
from agent.exploration import EXPLORE_MODES
from agent.gridworld import LAYOUTS
from agent.training import print_skills, print_summary, progress_bar, run_training
from skillstore import MemoryBackend, SkillBackend, SkillStoreError


class AgentGroup(click.Group):
    """Turns library and OS errors into a one-line message and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        # click.exceptions.Exit (used by --help) is a RuntimeError: never catch that here
        except (SkillStoreError, ValueError, OSError) as exc:
            raise click.ClickException(str(exc) or type(exc).__name__) from None


SIZE_HELP = "Grid side length: 3 or more, 5 or more for the fixed layout."
EPISODES_HELP = "Number of episodes to play."


def _plot_path(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    # checked before any training, and never by creating directories the user did not ask for
    if value is not None and not value.parent.is_dir():
        raise click.BadParameter(f"directory {str(value.parent)!r} does not exist", ctx=ctx, param=param)
    return value


def task_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Options that define the task and the exploration, shared by every command."""
    decorators = [
        click.option("--layout", type=click.Choice(LAYOUTS), default="fixed", show_default=True,
                     help="fixed: the reference layout; random: a new layout every episode; "
                          "pool: one of --pool-size layouts every episode."),
        click.option("--pool-size", type=click.IntRange(min=1), default=5, show_default=True,
                     help="Number of layouts in the pool (with --layout pool)."),
        click.option("--size", type=click.IntRange(min=3), default=5, show_default=True,
                     help=SIZE_HELP),
        click.option("--max-steps", type=click.IntRange(min=1), default=None,
                     help="Step cap per episode [default: 20 per cell, 500 on 5x5]."),
        click.option("--explore", type=click.Choice(EXPLORE_MODES), default="random",
                     show_default=True,
                     help="random: primitive random actions; greedy: the reference heuristic."),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


@click.group(cls=AgentGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Train the GridWorld agent on a skill store and measure what its memory is worth.

    \b
    Example:
      skillstore-agent train --store demo-store --episodes 30 --plot training.png
    """


@contextmanager
def open_backend(store: str | None, *, dim: int, read_only: bool = False) -> Iterator[SkillBackend]:
    """The persistent store at ``store`` (a directory or a ``postgresql://`` URL), or an
    in-memory library when none is given."""
    if store is None:
        yield MemoryBackend(dim)
        return
    from skillstore import SkillStore

    # eval opens read-only: it takes no lock and cannot write by accident
    opened = SkillStore.open(store, read_only=True) if read_only else SkillStore.open(store, dim=dim)
    with opened as backend:
        yield backend


def _setting(layout: str, pool_size: int, size: int, max_steps: int | None, explore: str) -> Setting:
    return Setting(layout=layout, size=size, max_steps=max_steps, pool_size=pool_size,
                   explore=explore)


@main.command()
@click.option("--store", type=click.Path(file_okay=False), default=None,  # a str: Path would mangle a URL
              help="Skill store directory or postgresql:// URL (created if missing). Without it, "
                   "skills live in memory and are lost at exit.")
@click.option("--episodes", type=click.IntRange(min=1), default=50, show_default=True, help=EPISODES_HELP)
@task_options
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the layouts and the exploration.")
@click.option("--no-memory", is_flag=True, help="Run the baseline: no skills are stored or used.")
@click.option("--baseline", is_flag=True,
              help="Also run the no-memory baseline with the same seed and draw it on the plot.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, callback=_plot_path,
              help="Save the training plot as this PNG.")
@click.option("--dim", type=click.IntRange(min=8), default=DEFAULT_DIM, show_default=True,
              help="Embedding dimension of a new store.")
@click.option("--lines/--progress", default=None,
              help="One line per episode, or a progress bar [default: lines up to 100 episodes].")
@click.option("--json", "as_json", is_flag=True,
              help="Print the per-episode statistics as JSON instead of text.")
def train(store: str | None, episodes: int, layout: str, pool_size: int, size: int,
          max_steps: int | None, explore: str, seed: int, no_memory: bool, baseline: bool,
          plot: Path | None, dim: int, lines: bool | None, as_json: bool) -> None:
    """Train the agent; with --store, skills persist and a second run starts from them.

    \b
    Example:
      skillstore-agent train --store demo-store --episodes 50 --explore random --plot train.png
      skillstore-agent train --store demo-store --episodes 5      # starts with those skills
    """
    if no_memory and store is not None:
        raise click.UsageError("--no-memory and --store exclude each other")
    setting = _setting(layout, pool_size, size, max_steps, explore)
    env = setting.make_env(seed)  # a bad --size or --layout fails here, before a store is created
    echo = (lambda _line: None) if as_json else click.echo
    with open_backend(store, dim=dim) as backend:
        stored_at_start = len(backend)
        if not as_json:
            # a library in PostgreSQL names itself by its URL with the password masked
            where = f"store {getattr(backend, 'url', store)}" if store is not None else "an in-memory library"
            click.echo(f"=== Procedural Memory Agent: {layout} layout, {explore} exploration ===")
            if not no_memory:
                click.echo(f"Using {where} holding {stored_at_start} skills.")
        agent = ProceduralMemoryAgent(env, None if no_memory else backend,
                                      explore=explore, seed=seed)
        # --lines / --progress pick one of the two; JSON output shows a bar only on long runs
        bar = None if as_json or lines is None else not lines
        stats = run_training(agent, episodes, echo=echo, lines=False if as_json else lines,
                             progress=bar)
        reference = None
        if baseline:
            reference = ProceduralMemoryAgent(setting.make_env(seed), None, explore=explore,
                                              seed=seed).train(episodes)
        if as_json:
            click.echo(json.dumps({"stats": stats, "baseline": reference}))
        else:
            if not no_memory:
                print_skills(backend)
            print_summary(None if no_memory else backend, stats)
            if reference is not None:
                tail = reference["steps"][-10:]
                click.echo(f"No-memory baseline: {sum(reference['successes'])}/{episodes} solved, "
                           f"mean steps in the last {len(tail)} episodes {sum(tail) / len(tail):.1f}")
        if plot is not None:
            from agent.plots import visualize_training

            title = f"{layout} layout, {explore} exploration, seed {seed}"
            if stored_at_start and not no_memory:  # a rerun on a store starts with what it learned before
                title += f", started with {stored_at_start} stored skills"
            saved = visualize_training(stats, plot, baseline=reference, title=title)
            if not as_json:
                click.echo(f"Plot saved to {saved}")


@main.command(name="eval")
@click.option("--store", type=click.Path(file_okay=False), required=True,
              help="An existing skill store (directory or postgresql:// URL); it is opened read-only.")
@click.option("--episodes", type=click.IntRange(min=1), default=10, show_default=True, help=EPISODES_HELP)
@task_options
@click.option("--seed", type=int, default=1, show_default=True, help="Seeds the layouts and the exploration.")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def evaluate(store: str, episodes: int, layout: str, pool_size: int, size: int,
             max_steps: int | None, explore: str, seed: int, as_json: bool) -> None:
    """Reuse a store's skills without learning: nothing is written to the store.

    \b
    Example:
      skillstore-agent eval --store demo-store --episodes 10
    """
    setting = _setting(layout, pool_size, size, max_steps, explore)
    env = setting.make_env(seed)
    with open_backend(store, dim=DEFAULT_DIM, read_only=True) as backend:
        agent = ProceduralMemoryAgent(env, backend, explore=explore, seed=seed)
        stats = run_training(agent, episodes, learn=False,
                             echo=(lambda _line: None) if as_json else click.echo,
                             lines=False if as_json else None, progress=None)
        if as_json:
            click.echo(json.dumps(stats))
            return
        solved = sum(stats["successes"])
        click.echo(f"Solved {solved}/{episodes} episodes with {len(backend)} stored skills; "
                   f"mean steps {sum(stats['steps']) / episodes:.1f}, "
                   f"{stats['skill_uses'][-1]} skill uses, {stats['skill_failures'][-1]} failed.")


@main.command()
@click.option("--seeds", type=click.IntRange(min=1), default=10, show_default=True,
              help="Number of seeds (0, 1, ... N-1) per layout.")
@click.option("--episodes", type=click.IntRange(min=1), default=50, show_default=True,
              help="Episodes per seed and run.")
@click.option("--layouts", default="fixed", show_default=True,
              help="Comma-separated layouts to measure, e.g. fixed,pool,random.")
@click.option("--pool-size", type=click.IntRange(min=1), default=5, show_default=True,
              help="Number of layouts in the pool layout.")
@click.option("--size", type=click.IntRange(min=3), default=5, show_default=True, help=SIZE_HELP)
@click.option("--max-steps", type=click.IntRange(min=1), default=None,
              help="Step cap per episode [default: 20 per cell, 500 on 5x5].")
@click.option("--explore", type=click.Choice(EXPLORE_MODES), default="random", show_default=True,
              help="random: primitive random actions; greedy: the reference heuristic.")
@click.option("--window", type=click.IntRange(min=1), default=10, show_default=True,
              help="Final episodes averaged in the table.")
@click.option("--restart-episodes", type=click.IntRange(min=0), default=5, show_default=True,
              help="Episodes a new process plays on each trained store (0 skips the restart).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, callback=_plot_path,
              help="Save mean and min-max band per episode as this PNG.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the trained stores here [default: a temporary directory, removed].")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def compare(seeds: int, episodes: int, layouts: str, pool_size: int, size: int,
            max_steps: int | None, explore: str, window: int, restart_episodes: int,
            plot: Path | None, workdir: Path | None, as_json: bool) -> None:
    """Memory against the no-memory baseline over several seeds: a table and a plot.

    Each seed trains a fresh persistent store; then a new process reopens every
    store and plays --restart-episodes more episodes.

    \b
    Example:
      skillstore-agent compare --seeds 10 --episodes 50 --layouts fixed,pool,random \\
          --plot compare.png
    """
    names = [name.strip() for name in layouts.split(",") if name.strip()]
    unknown = [name for name in names if name not in LAYOUTS]
    if not names or unknown:
        raise click.BadParameter(f"choose among {', '.join(LAYOUTS)}", param_hint="--layouts")
    for name in names:  # a bad --size fails now, not after the first layouts have run
        _setting(name, pool_size, size, max_steps, explore).make_env(0)
    with _workdir(workdir) as directory:
        reports: list[LayoutReport] = []
        with progress_bar(2 * seeds * episodes * len(names), "Comparing", enabled=True) as advance:
            for name in names:
                setting = _setting(name, pool_size, size, max_steps, explore)
                reports.append(compare_layout(setting, range(seeds), episodes, directory,
                                              window=window, restart_episodes=restart_episodes,
                                              advance=advance))
    if as_json:
        click.echo(json.dumps([report.summary() for report in reports], indent=2))
    else:
        click.echo(format_table(reports))
    if plot is not None:
        from agent.plots import plot_comparison

        saved = plot_comparison(reports, plot)
        if not as_json:
            click.echo(f"Plot saved to {saved}")


@contextmanager
def _workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        if any(path.iterdir()):
            raise click.UsageError(f"--workdir {path} is not empty")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="skillstore-compare-") as directory:
        yield Path(directory)
