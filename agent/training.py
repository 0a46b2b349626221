"""Console output of training: reference-style episode lines, a progress bar, summaries."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from agent.agent import EpisodeResult, ProceduralMemoryAgent
from skillstore import Skill, SkillBackend

LONG_RUN = 100  # episodes; longer runs show a progress bar instead of one line per episode
SKILLS_SHOWN = 20

Echo = Callable[[str], None]


def episode_line(number: int, result: EpisodeResult, skills: int) -> str:
    """The reference's per-episode line."""
    return (
        f"Episode {number}: Reward={result.reward:.1f}, Steps={result.steps}, "
        f"Skills={skills}, Success={result.success}"
    )


@contextmanager
def progress_bar(total: int, label: str, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(n)``; draws a bar on stderr when ``enabled`` and stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():  # no stray labels in logs and pipes
        yield lambda n: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


def run_training(
    agent: ProceduralMemoryAgent,
    episodes: int,
    *,
    use_skills: bool = True,
    learn: bool = True,
    echo: Echo = click.echo,
    lines: bool | None = None,
    progress: bool | None = None,
) -> dict[str, list[Any]]:
    """``agent.train`` with output: one line per episode and/or a progress bar on stderr.

    ``None`` means "decide by length": lines for runs up to ``LONG_RUN`` episodes,
    a progress bar for longer ones.
    """
    long_run = episodes > LONG_RUN
    show_lines = not long_run if lines is None else lines
    show_bar = long_run if progress is None else progress
    label = "memory" if use_skills and agent.backend is not None else "no memory"
    with progress_bar(episodes, f"Training ({label})", enabled=show_bar) as advance:

        def report(number: int, result: EpisodeResult) -> None:
            if show_lines:
                skills = len(agent.backend) if agent.backend is not None else 0
                echo(episode_line(number, result, skills))
            advance(1)

        return agent.train(episodes, use_skills, learn=learn, on_episode=report)


def _skill_line(skill: Skill) -> str:
    stats = skill.stats
    return (
        f"{skill.name}: version {skill.version}, {len(skill.actions)} actions, used {stats.attempts} times, "
        f"{stats.successes} successes ({stats.success_rate:.0%}), {skill.description}"
    )


def print_skills(backend: SkillBackend, echo: Echo = click.echo, limit: int = SKILLS_SHOWN) -> None:
    """The acquired skills, most used first."""
    skills = sorted(backend, key=lambda s: (-s.stats.attempts, s.name, str(s.id)))
    echo("=== Acquired Skills ===")
    if not skills:
        echo("(none yet)")
    for skill in skills[:limit]:
        echo(_skill_line(skill))
    if len(skills) > limit:
        echo(f"... and {len(skills) - limit} more")


def print_summary(
    backend: SkillBackend | None, stats: dict[str, list[Any]], echo: Echo = click.echo
) -> None:
    """Library figures (success rates are true frequencies) and how this run went."""
    if backend is not None:
        library = backend.stats()
        echo("=== Skill Library Summary ===")
        echo(f"Total skills: {library['total_skills']}")
        echo(f"Total skill uses: {library['total_uses']}")
        if library["total_uses"]:  # the average is over the skills tried at least once
            echo(f"Average success rate: {library['avg_success_rate']:.2%} (over the skills tried)")
        else:
            echo("Average success rate: no skill tried yet")
    episodes = len(stats["steps"])
    if episodes:
        tail = stats["steps"][-10:]
        echo(f"Episodes solved: {sum(stats['successes'])}/{episodes}")
        echo(f"Mean steps, last {len(tail)} episodes: {sum(tail) / len(tail):.1f}")
        if stats.get("frames"):
            echo(f"Frames (environment steps) so far: {stats['frames'][-1]}")
        if stats.get("new_versions"):
            echo(f"Versions: {stats['new_versions'][-1]} new (shorter routes), {stats['rollbacks'][-1]} rolled back, "
                 f"{stats['deprecations'][-1]} skills deprecated")
