"""skillstore-agent: train, evaluate and compare the procedural-memory agent on GridWorld and
on MiniGrid's DoorKey.

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

from agent.agent import trained_frames
from agent.embedding import DEFAULT_DIM
from agent.experiments import GRIDWORLD, LayoutReport, Setting, compare_layout, format_table
from agent.exploration import EXPLORE_MODES
from agent.gridworld import LAYOUTS
from agent.minigrid_adapter import DOORKEY_IDS
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


SIZE_HELP = "GridWorld's side length: 3 or more, 5 or more for the fixed layout."
ENVS = (GRIDWORLD, *DOORKEY_IDS)
ENV_HELP = ("GridWorld (shaped by --layout and --size) or a MiniGrid DoorKey id (needs the minigrid "
            "extra; its size is in the id).")
EXPLORE_HELP = ("What to do where no skill applies. random: primitive random actions; novelty: what this "
                "episode has not tried yet; greedy: GridWorld's reference heuristic "
                "[default: random on GridWorld, novelty on MiniGrid].")
SCOUT_HELP = ("While learning, the probability of exploring a whole phase instead of using skills, to find "
              "routes shorter than the stored ones [default: 0 on GridWorld, 0.1 on MiniGrid].")
EPISODES_HELP = "Number of episodes to play."


def _plot_path(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    # checked before any training, and never by creating directories the user did not ask for
    if value is not None and not value.parent.is_dir():
        raise click.BadParameter(f"directory {str(value.parent)!r} does not exist", ctx=ctx, param=param)
    return value


def task_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Options that define the task and the exploration, shared by every command."""
    decorators = [
        click.option("--env", "env_id", type=click.Choice(ENVS), default=GRIDWORLD, show_default=True,
                     help=ENV_HELP),
        click.option("--layout", type=click.Choice(LAYOUTS), default="fixed", show_default=True,
                     help="fixed: the reference layout; random: a new layout every episode; "
                          "pool: one of --pool-size layouts every episode."),
        click.option("--pool-size", type=click.IntRange(min=1), default=5, show_default=True,
                     help="Number of layouts in the pool (with --layout pool)."),
        click.option("--size", type=click.IntRange(min=3), default=5, show_default=True,
                     help=SIZE_HELP),
        click.option("--max-steps", type=click.IntRange(min=1), default=None,
                     help="Step cap per episode [default: 20 per cell (500 on 5x5) on GridWorld, "
                          "MiniGrid's 10 per cell on DoorKey]."),
        click.option("--explore", type=click.Choice(EXPLORE_MODES), default=None, help=EXPLORE_HELP),
        click.option("--scout", type=click.FloatRange(0.0, 1.0), default=None, help=SCOUT_HELP),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


@click.group(cls=AgentGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Train the agent on a skill store (GridWorld or MiniGrid DoorKey) and measure what its memory is worth.

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


def _setting(env_id: str, layout: str, pool_size: int, size: int, max_steps: int | None,
             explore: str | None, scout: float | None) -> Setting:
    return Setting(layout=layout, size=size, max_steps=max_steps, pool_size=pool_size,
                   explore=explore, env=env_id, scout=scout)


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
@click.option("--lines/--progress", default=None,
              help="One line per episode, or a progress bar [default: lines up to 100 episodes].")
@click.option("--json", "as_json", is_flag=True,
              help="Print the per-episode statistics as JSON instead of text.")
def train(store: str | None, episodes: int, env_id: str, layout: str, pool_size: int, size: int,
          max_steps: int | None, explore: str | None, scout: float | None, seed: int, no_memory: bool,
          baseline: bool, plot: Path | None, lines: bool | None, as_json: bool) -> None:
    """Train the agent; with --store, skills persist and a second run starts from them.

    \b
    Example:
      skillstore-agent train --store demo-store --episodes 50 --explore random --plot train.png
      skillstore-agent train --store demo-store --episodes 5      # starts with those skills
      skillstore-agent train --env MiniGrid-DoorKey-8x8-v0 --store doorkey --episodes 1000
    """
    if no_memory and store is not None:
        raise click.UsageError("--no-memory and --store exclude each other")
    setting = _setting(env_id, layout, pool_size, size, max_steps, explore, scout)
    setting.make_env(seed)  # a bad --size, --layout or a missing extra fails here, before a store is created
    echo = (lambda _line: None) if as_json else click.echo
    with open_backend(store, dim=DEFAULT_DIM) as backend:
        stored_at_start = len(backend)
        task = setting.label if setting.minigrid else f"{layout} layout"
        if not as_json:
            # a library in PostgreSQL names itself by its URL with the password masked
            where = f"store {getattr(backend, 'url', store)}" if store is not None else "an in-memory library"
            click.echo(f"=== Procedural Memory Agent: {task}, {setting.exploration} exploration ===")
            if not no_memory:
                click.echo(f"Using {where} holding {stored_at_start} skills.")
        agent = setting.make_agent(seed, None if no_memory else backend)
        if not no_memory:  # frames keep counting across runs on one store
            agent.frames = trained_frames(backend, agent.world.family)
        # --lines / --progress pick one of the two; JSON output shows a bar only on long runs
        bar = None if as_json or lines is None else not lines
        stats = run_training(agent, episodes, echo=echo, lines=False if as_json else lines,
                             progress=bar)
        reference = None
        if baseline:
            reference = setting.make_agent(seed, None).train(episodes)
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

            title = f"{task}, {setting.exploration} exploration, seed {seed}"
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
@click.option("--json", "as_json", is_flag=True,
              help="Print the figures as JSON: mean_steps, success_rate, mean_optimal_steps, episodes, "
                   "frames, skills and the per-episode lists.")
def evaluate(store: str, episodes: int, env_id: str, layout: str, pool_size: int, size: int,
             max_steps: int | None, explore: str | None, scout: float | None, seed: int,
             as_json: bool) -> None:
    """Reuse a store's skills without learning: nothing is written to the store.

    The optimum of each layout is found by a breadth-first search for the report only;
    the agent never sees it. "frames" are the training steps the library records
    (stamped on its skills when learned), null when it records none.

    \b
    Example:
      skillstore-agent eval --store demo-store --episodes 10
      skillstore-agent eval --env MiniGrid-DoorKey-8x8-v0 --store doorkey --episodes 100 --seed 7 --json
    """
    setting = _setting(env_id, layout, pool_size, size, max_steps, explore, scout)
    setting.make_env(seed)
    with open_backend(store, dim=DEFAULT_DIM, read_only=True) as backend:
        agent = setting.make_agent(seed, backend)
        stats = run_training(agent, episodes, learn=False,
                             echo=(lambda _line: None) if as_json else click.echo,
                             lines=False if as_json else None, progress=None)
        frames = trained_frames(backend, agent.world.family)
        skills = len(backend)
    optimal = setting.optimal_steps(seed, episodes)
    report = {
        "env": setting.env if setting.minigrid else f"GridWorld {layout} {size}x{size}",
        "episodes": episodes,
        "seed": seed,
        "mean_steps": sum(stats["steps"]) / episodes,
        "success_rate": sum(stats["successes"]) / episodes,
        "mean_optimal_steps": sum(optimal) / episodes,
        "mean_reward": sum(stats["rewards"]) / episodes,
        "frames": frames or None,
        "skills": skills,
        "skill_uses": stats["skill_uses"][-1],
        "skill_failures": stats["skill_failures"][-1],
        "retrieval_ms": sum(stats["retrieval_ms"]) / episodes,
        "steps": stats["steps"],
        "optimal_steps": optimal,
        "successes": stats["successes"],
    }
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(f"Solved {sum(stats['successes'])}/{episodes} episodes with {skills} stored skills; "
               f"mean steps {report['mean_steps']:.1f} (optimal {report['mean_optimal_steps']:.1f}), "
               f"{report['skill_uses']} skill uses, {report['skill_failures']} failed.")


@main.command()
@click.option("--seeds", type=click.IntRange(min=1), default=10, show_default=True,
              help="Number of seeds (0, 1, ... N-1) per layout.")
@click.option("--episodes", type=click.IntRange(min=1), default=50, show_default=True,
              help="Episodes per seed and run.")
@click.option("--envs", default=GRIDWORLD, show_default=True,
              help="Comma-separated environments: GridWorld (one column per --layouts entry) and/or "
                   f"MiniGrid DoorKey ids ({', '.join(DOORKEY_IDS)}).")
@click.option("--layouts", default="fixed", show_default=True,
              help="Comma-separated GridWorld layouts to measure, e.g. fixed,pool,random.")
@click.option("--pool-size", type=click.IntRange(min=1), default=5, show_default=True,
              help="Number of layouts in the pool layout.")
@click.option("--size", type=click.IntRange(min=3), default=5, show_default=True, help=SIZE_HELP)
@click.option("--max-steps", type=click.IntRange(min=1), default=None,
              help="Step cap per episode [default: 20 per cell, 500 on 5x5].")
@click.option("--explore", type=click.Choice(EXPLORE_MODES), default=None, help=EXPLORE_HELP)
@click.option("--scout", type=click.FloatRange(0.0, 1.0), default=None, help=SCOUT_HELP)
@click.option("--window", type=click.IntRange(min=1), default=10, show_default=True,
              help="Final episodes averaged in the table.")
@click.option("--restart-episodes", type=click.IntRange(min=0), default=5, show_default=True,
              help="Episodes a new process plays on each trained store (0 skips the restart).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, callback=_plot_path,
              help="Save mean and min-max band per episode as this PNG.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the trained stores here [default: a temporary directory, removed].")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def compare(seeds: int, episodes: int, envs: str, layouts: str, pool_size: int, size: int,
            max_steps: int | None, explore: str | None, scout: float | None, window: int,
            restart_episodes: int, plot: Path | None, workdir: Path | None, as_json: bool) -> None:
    """Memory against the no-memory baseline over several seeds: a table and a plot.

    Each seed trains a fresh persistent store; then a new process reopens every
    store and plays --restart-episodes more episodes.

    \b
    Example:
      skillstore-agent compare --seeds 10 --episodes 50 --layouts fixed,pool,random \\
          --plot compare.png
      skillstore-agent compare --envs MiniGrid-DoorKey-5x5-v0 --seeds 3 --episodes 300
    """
    names = [name.strip() for name in layouts.split(",") if name.strip()]
    unknown = [name for name in names if name not in LAYOUTS]
    if not names or unknown:
        raise click.BadParameter(f"choose among {', '.join(LAYOUTS)}", param_hint="--layouts")
    env_ids = [name.strip() for name in envs.split(",") if name.strip()]
    if not env_ids or any(name not in ENVS for name in env_ids):
        raise click.BadParameter(f"choose among {', '.join(ENVS)}", param_hint="--envs")
    settings = [_setting(env_id, name, pool_size, size, max_steps, explore, scout)
                for env_id in env_ids for name in (names if env_id == GRIDWORLD else ["random"])]
    for setting in settings:  # a bad --size or a missing extra fails now, not after the first runs
        setting.make_env(0)
    with _workdir(workdir) as directory:
        reports: list[LayoutReport] = []
        with progress_bar(2 * seeds * episodes * len(settings), "Comparing", enabled=True) as advance:
            for setting in settings:
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
