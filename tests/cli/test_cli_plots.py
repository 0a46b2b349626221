"""skillstore plot draws what a reader expects: readable dates, whole-number counts, axes that
make sense on an empty library, and precondition signatures shown whole."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from skillstore import Skill, SkillStats
from skillstore.cli.plots import draw_library, plot_library

DAY = 86400.0
START = 1_780_000_000.0  # 2026-05-28 UTC


def skill(name: str, created: float, attempts: int = 0, successes: int = 0, **conditions: object) -> Skill:
    stats = SkillStats(attempts=attempts, successes=successes, failures=attempts - successes)
    return Skill(name, ["a"], [1.0, 0.0], preconditions=dict(conditions) or None, stats=stats, id=name,
                 created_at=created, updated_at=created)


def tick_labels(axis: object) -> list[str]:
    axis.figure.canvas.draw()  # type: ignore[attr-defined]
    return [label.get_text() for label in axis.get_ticklabels() if label.get_text()]  # type: ignore[attr-defined]


def test_counts_have_whole_number_ticks_and_start_at_zero() -> None:
    skills = [skill("a", START, 2, 1), skill("b", START + 30, 1, 1)]
    rates, uses, growth, signatures = draw_library(skills, title="t").axes
    for axis in (rates.yaxis, uses.xaxis, growth.yaxis, signatures.xaxis):
        labels = tick_labels(axis)
        assert labels and all(re.fullmatch(r"−?\d+", text) for text in labels), labels
    assert rates.get_ylim()[0] == 0 and growth.get_ylim()[0] == 0


# whole seconds, hours:minutes, a month and day, a month, a year: never fractions of a second
READABLE = re.compile(r"\d\d|\d\d:\d\d|[A-Z][a-z]{2}(-\d\d)?|\d{4}")


@pytest.mark.parametrize("span", [13.285, 3 * DAY, 400 * DAY])
def test_growth_dates_read_as_dates(span: float) -> None:
    skills = [skill(f"s{i}", START + span * i / 4) for i in range(5)]
    growth = draw_library(skills, title="t").axes[2]
    labels = tick_labels(growth.xaxis)
    assert labels and all(READABLE.fullmatch(text) for text in labels), labels
    offset = growth.xaxis.get_major_formatter().get_offset()
    assert re.search(r"\d{4}", offset) or any(re.fullmatch(r"\d{4}", text) for text in labels)  # a year is stated


def test_an_empty_library_draws_sensible_axes(tmp_path: Path) -> None:
    rates, uses, growth, signatures = draw_library([], title="empty").axes
    assert rates.get_ylim()[0] == 0 and rates.get_ylim()[1] >= 1
    notes = {text.get_text() for ax in (rates, uses, growth, signatures) for text in ax.texts}
    assert notes == {"no skill tried yet", "no skills"}
    assert any(t.get_text() == "no skills" for t in growth.texts)
    plot_library([], tmp_path / "empty.png", title="empty")
    assert (tmp_path / "empty.png").stat().st_size > 0


def test_long_signatures_are_shown_whole() -> None:
    conditions = {f"precondition_key_{i}": i for i in range(6)}
    figure = draw_library([skill("long", START, **conditions)], title="t")
    signatures = figure.axes[3]
    label = tick_labels(signatures.yaxis)[0]
    assert "…" not in label and label.replace("\n", " ").replace(",  ", ", ") == ", ".join(sorted(conditions))
    assert max(len(line) for line in label.splitlines()) <= 30
