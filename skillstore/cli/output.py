"""How the command line shows things: aligned tables by default, JSON or CSV on request.

Tables are for people (long cells shortened, timestamps as UTC dates); JSON and
CSV are for programs and keep every value exactly (tagged JSON, see
:mod:`skillstore.cli.tagged_json`; raw timestamps in seconds since the epoch).
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from skillstore import Skill
from skillstore.cli import tagged_json
from skillstore.cli.values import format_value

OUTPUTS = ("table", "json", "csv")
MAX_CELL_WIDTH = 48


def iso_time(timestamp: float | None) -> str:
    """A timestamp as a UTC date and time, or an empty string for None; a number no date
    can show (a store written before timestamps were bounded) is shown as it is."""
    if timestamp is None:
        return ""
    try:
        return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return repr(timestamp)


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_conditions(conditions: Mapping[str, Any] | None) -> str:
    """Preconditions or metadata as ``key=value`` pairs in the command-line syntax."""
    if not conditions:
        return ""
    return " ".join(f"{key}={format_value(value)}" for key, value in conditions.items())


def to_json(value: Any) -> str:
    return json.dumps(tagged_json.encode(value), ensure_ascii=False, allow_nan=False, indent=2)


def json_cell(value: Any) -> str:
    return json.dumps(tagged_json.encode(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


SUMMARY_COLUMNS = (
    "id",
    "name",
    "description",
    "actions",
    "preconditions",
    "metadata",
    "attempts",
    "successes",
    "failures",
    "success_rate",
    "observations",
    "total_reward",
    "last_used_at",
    "created_at",
    "updated_at",
)


def skill_summary(skill: Skill) -> dict[str, Any]:
    """A skill without its embedding: what ``list`` and ``search`` give as JSON or CSV."""
    stats = skill.stats
    return {
        "id": skill.id,
        "name": skill.name,
        "description": skill.description,
        "actions": skill.actions,
        "preconditions": skill.preconditions or {},
        "metadata": skill.metadata or {},
        "attempts": stats.attempts,
        "successes": stats.successes,
        "failures": stats.failures,
        "success_rate": stats.success_rate,
        "observations": stats.observations,
        "total_reward": stats.total_reward,
        "last_used_at": stats.last_used_at,
        "created_at": skill.created_at,
        "updated_at": skill.updated_at,
    }


def skill_row(skill: Skill) -> dict[str, Any]:
    """A skill as one line of a table."""
    stats = skill.stats
    return {
        "id": skill.id,
        "name": skill.name,
        "uses": stats.attempts,
        "success": f"{stats.success_rate:.2f}",
        "preconditions": format_conditions(skill.preconditions),
        "created": iso_time(skill.created_at),
    }


def emit_records(
    records: Sequence[Mapping[str, Any]],
    output: str,
    *,
    table_rows: Sequence[Mapping[str, Any]] | None = None,
    columns: Sequence[str] | None = None,
) -> None:
    """Write ``records`` as JSON (a list) or CSV (one row each, under a header of ``columns``
    even when there are none), or ``table_rows`` as a table."""
    if output == "json":
        click.echo(to_json(list(records)))
    elif output == "csv":
        click.echo(render_csv(records, columns), nl=False)
    elif not records:
        click.echo("no skills", err=True)  # for people; standard output stays empty for programs
    else:
        click.echo(render_table(table_rows if table_rows is not None else records), nl=False)


def emit_mapping(mapping: Mapping[str, Any], output: str) -> None:
    """Write one set of facts as JSON (an object), CSV (``key,value`` rows) or two columns."""
    if output == "json":
        click.echo(to_json(dict(mapping)))
    elif output == "csv":
        click.echo(render_csv([{"key": k, "value": v} for k, v in mapping.items()]), nl=False)
    else:
        width = max((display_width(k) for k in mapping), default=0)
        for key, value in mapping.items():
            click.echo(f"{pad(key, width)}  {table_cell(value, limit=None)}")


def render_csv(records: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """CSV under a header; without ``columns`` they are the first record's keys (no records, no header)."""
    if columns is None:
        if not records:
            return ""
        columns = list(records[0])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_csv_value(record.get(column)) for column in columns])
    return out.getvalue()


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json_cell(value)


UNCUT_COLUMNS = frozenset({"id", "preconditions"})  # cut, they would hide what a command needs typed


def render_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows as aligned columns under a header; an empty sequence renders as nothing.
    Long cells are cut, except ids and preconditions (the keys a state must give)."""
    if not rows:
        return ""
    columns = list(rows[0])
    cells = [
        [table_cell(row.get(column), limit=None if column in UNCUT_COLUMNS else MAX_CELL_WIDTH) for column in columns]
        for row in rows
    ]
    widths = [
        max(display_width(column), *(display_width(line[i]) for line in cells))
        for i, column in enumerate(columns)
    ]
    lines = ["  ".join(pad(column.upper(), w) for column, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(pad(c, w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    return "\n".join(lines) + "\n"


def table_cell(value: Any, limit: int | None = MAX_CELL_WIDTH) -> str:
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, str):
        text = value
    else:
        text = json_cell(value)
    # one line per row, whatever the value holds
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", " ")
    if limit is not None and display_width(text) > limit:
        text = text[:limit]
        while display_width(text) > limit - 1:
            text = text[:-1]
        text += "…"
    return text


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal (wide East Asian characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))
