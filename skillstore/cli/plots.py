"""``skillstore plot``: four views of a skill library in one image.

matplotlib is imported here, and this module only when the command runs, so
``import skillstore.cli`` stays fast. The figure is drawn with the Agg canvas
directly (no pyplot), which needs no display and leaves global state alone.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from skillstore import Skill

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TOP = 15  # bars shown in the per-skill and per-signature charts


def signature(skill: Skill) -> str:
    """The set of keys a skill's preconditions name: skills are grouped by it when searching."""
    keys = sorted(skill.preconditions or {})
    return ", ".join(keys) if keys else "(none)"


def plot_library(skills: Sequence[Skill], out: Path, *, title: str, image_format: str = "png") -> None:
    """Draw the success-rate histogram, uses per skill, library growth and skills per
    precondition signature into ``out``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 9), layout="constrained")
    FigureCanvasAgg(figure)
    rates_ax, uses_ax, growth_ax, signature_ax = figure.subplots(2, 2).flat
    figure.suptitle(f"{title}: {len(skills)} skills")

    tried = [s.stats.success_rate for s in skills if s.stats.attempts]
    rates_ax.hist(tried, bins=10, range=(0.0, 1.0), color="tab:green", edgecolor="white")
    rates_ax.set(
        title=f"Success rate ({len(skills) - len(tried)} skills never used)",
        xlabel="success rate",
        ylabel="skills",
        xlim=(0.0, 1.0),
    )

    by_use = sorted(skills, key=lambda s: (-s.stats.attempts, s.name))[:TOP]
    _barh(uses_ax, [_short(s.name) for s in by_use], [s.stats.attempts for s in by_use], "tab:blue")
    uses_ax.set(title=f"Uses per skill (top {min(TOP, len(skills))})", xlabel="attempts")

    created = sorted(s.created_at for s in skills if s.created_at is not None)
    if created:
        times = [datetime.fromtimestamp(t, tz=UTC) for t in created]
        growth_ax.step(times, range(1, len(times) + 1), where="post", color="tab:purple")
        growth_ax.plot(times[-1:], [len(times)], "o", color="tab:purple")
        if len(set(created)) == 1:  # one instant: give the axis a width of its own
            growth_ax.set_xlim(times[0] - timedelta(minutes=1), times[0] + timedelta(minutes=1))
        growth_ax.tick_params(axis="x", labelrotation=30)  # dates are wide; only this axis has them
    growth_ax.set(title="Library growth", xlabel="created (UTC)", ylabel="skills")

    counts = Counter(signature(s) for s in skills).most_common(TOP)
    _barh(signature_ax, [_short(label) for label, _ in counts], [n for _, n in counts], "tab:orange")
    signature_ax.set(title="Skills per precondition signature", xlabel="skills")

    with warnings.catch_warnings():
        # names in scripts the default font lacks are drawn as boxes; one warning per glyph is noise
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(out, format=image_format, dpi=100)


def _barh(ax: Axes, labels: list[str], values: list[int], color: str) -> None:
    if not labels:
        ax.text(0.5, 0.5, "no skills", ha="center", va="center", transform=ax.transAxes)
        return
    positions = list(range(len(labels)))
    ax.barh(positions, values, color=color)
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()  # the largest first


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
