"""``skillstore plot``: four views of a skill library in one image.

matplotlib is imported here, and this module only when the command runs, so
``import skillstore.cli`` stays fast. The figure is drawn with the Agg canvas
directly (no pyplot), which needs no display and leaves global state alone.
"""

from __future__ import annotations

import textwrap
import warnings
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from skillstore import Skill

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

TOP = 15  # bars shown in the per-skill and per-signature charts
LABEL_WIDTH = 30  # characters per line of a bar's label; longer signatures wrap, names are cut


def signature(skill: Skill) -> str:
    """The set of keys a skill's preconditions name: skills are grouped by it when searching."""
    keys = sorted(skill.preconditions or {})
    return ", ".join(keys) if keys else "(none)"


def plot_library(skills: Sequence[Skill], out: Path, *, title: str, image_format: str = "png") -> None:
    """Draw the success-rate histogram, uses per skill, library growth and skills per
    precondition signature into ``out``."""
    figure = draw_library(skills, title=title)
    with warnings.catch_warnings():
        # names in scripts the default font lacks are drawn as boxes; one warning per glyph is noise
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(out, format=image_format, dpi=100)


def draw_library(skills: Sequence[Skill], *, title: str) -> Figure:
    """The figure :func:`plot_library` saves."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 9), layout="constrained")
    FigureCanvasAgg(figure)
    rates_ax, uses_ax, growth_ax, signature_ax = figure.subplots(2, 2).flat
    figure.suptitle(f"{title}: {len(skills)} skills")

    tried = [s.stats.success_rate for s in skills if s.stats.attempts]
    counts, _, _ = rates_ax.hist(tried, bins=10, range=(0.0, 1.0), color="tab:green", edgecolor="white")
    rates_ax.set(
        title=f"Success rate ({len(skills) - len(tried)} skills never used)",
        xlabel="success rate",
        ylabel="skills",
        xlim=(0.0, 1.0),
        ylim=(0, max(1, int(max(counts, default=0))) * 1.1),  # a count axis starts at zero, even empty
    )
    if not tried:
        _note(rates_ax, "no skill tried yet")
    _whole_numbers(rates_ax.yaxis)

    by_use = sorted(skills, key=lambda s: (-s.stats.attempts, s.name))[:TOP]
    _barh(uses_ax, [_short(s.name) for s in by_use], [s.stats.attempts for s in by_use], "tab:blue")
    uses_ax.set(title=f"Uses per skill (top {min(TOP, len(skills))})", xlabel="attempts")

    _growth(growth_ax, sorted(s.created_at for s in skills if s.created_at is not None))

    by_signature = Counter(signature(s) for s in skills).most_common(TOP)
    _barh(signature_ax, [textwrap.fill(label, LABEL_WIDTH) for label, _ in by_signature],
          [n for _, n in by_signature], "tab:orange")
    signature_ax.set(title="Skills per precondition signature", xlabel="skills")
    return figure


def _growth(ax: Axes, created: list[float]) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    ax.set(title="Library growth", xlabel="created (UTC)", ylabel="skills")
    _whole_numbers(ax.yaxis)
    if not created:
        ax.set(xticks=[], ylim=(0, 1))
        _note(ax, "no skills")
        return
    times = [datetime.fromtimestamp(t, tz=UTC) for t in created]
    days = [_days(t) for t in times]
    ax.step(days, range(1, len(days) + 1), where="post", color="tab:purple")
    ax.plot(days[-1:], [len(days)], "o", color="tab:purple")
    if times[-1] - times[0] < timedelta(minutes=1):  # one instant or a burst: give the axis a width of its own
        ax.set_xlim(_days(times[0] - timedelta(minutes=1)), _days(times[-1] + timedelta(minutes=1)))
    ax.set_ylim(0, len(times) * 1.1)
    # dates as people read them: whole units on the ticks, the day and year once in the corner
    locator = AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, tz=UTC, show_offset=True))  # type: ignore[no-untyped-call]


def _days(moment: datetime) -> float:
    """``moment`` in the unit of matplotlib's date axes."""
    from matplotlib.dates import date2num

    return float(date2num(moment))  # type: ignore[no-untyped-call]


def _barh(ax: Axes, labels: list[str], values: list[int], color: str) -> None:
    _whole_numbers(ax.xaxis)
    if not labels:
        ax.set(yticks=[])
        _note(ax, "no skills")
        return
    positions = list(range(len(labels)))
    ax.barh(positions, values, color=color)
    ax.set_yticks(positions, labels)
    ax.set_xlim(0, max(1, max(values)) * 1.1)
    ax.invert_yaxis()  # the largest first


def _whole_numbers(axis: object) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))  # type: ignore[attr-defined]


def _note(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="gray")


def _short(text: str, limit: int = LABEL_WIDTH) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
