"""Filter expressions (``skillstore.query``) as SQL over a PostgreSQL library's columns.

Equality and ``$in`` compare canonical items (``canonical.item``), so that SQL equality is
Python's. Ordering reads the value from the readable ``metadata`` jsonb: numbers (and
booleans as 0 and 1) against a number, strings against a string in code-point order
(``COLLATE "C"`` compares UTF-8 bytes, which orders as code points do); across types it
is false. Every condition is made two-valued (``COALESCE(..., false)``) so that ``$not``
negates exactly, as in Python, never turning a missing value into a match by NULL logic.

Known differences: JSON keeps a float as its shortest decimal, so ordering a float against
an int beyond 2**53 (where the decimal and the binary value part) may differ from Python;
and PostgreSQL text cannot hold NUL, so the readable copies replace it (a filter comparing
strings that hold NUL may differ, and a bound holding NUL is refused with an error).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from psycopg import sql

from skillstore.backends import canonical
from skillstore.query import All, Any_, Condition, Node, Not, is_everything, is_number, ordered

_FIELD_SQL = {
    "attempts": "attempts", "successes": "successes", "failures": "failures", "observations": "observations",
    "total_reward": "total_reward", "created_at": "created_at", "updated_at": "updated_at",
    "last_used_at": "last_used_at", "version": "version",
    "success_rate": "(CASE WHEN attempts > 0 THEN successes::float8 / attempts ELSE 0 END)",
}
_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_TRUE, _FALSE = sql.SQL("true"), sql.SQL("false")


def filter_sql(node: Node) -> tuple[sql.Composable | None, list[Any]]:
    """A WHERE condition (None for everything) and its parameters."""
    if is_everything(node):
        return None, []
    params: list[Any] = []
    return _node(node, params), params


def _node(node: Node, params: list[Any]) -> sql.Composable:
    if isinstance(node, All | Any_):
        if not node.parts:
            return _TRUE if isinstance(node, All) else _FALSE
        joiner = sql.SQL(" AND ") if isinstance(node, All) else sql.SQL(" OR ")
        return sql.SQL("({})").format(joiner.join(_node(part, params) for part in node.parts))
    if isinstance(node, Not):
        return _negated(_node(node.part, params))
    condition = _metadata(node, params) if node.field.kind == "metadata" else _skill_field(node, params)
    return sql.SQL("COALESCE({}, false)").format(condition)


def _metadata(node: Condition, params: list[Any]) -> sql.Composable:
    key = node.field.name
    if node.op in ("$eq", "$ne"):
        params.append([canonical.item(key, node.given)])
        found = sql.SQL("(metadata_items @> %s::text[])")
    elif node.op in ("$in", "$nin"):
        params.append([canonical.item(key, value) for value in node.given])
        found = sql.SQL("(metadata_items && %s::text[])")
    elif node.op == "$exists":
        params.append(canonical.readable(key))
        found = sql.SQL("(metadata ? %s)")
    else:
        return _ordered_json(key, node, params)
    negate = node.op in ("$ne", "$nin") or (node.op == "$exists" and not node.value)
    return _negated(found) if negate else found


def _negated(found: sql.Composable) -> sql.Composable:
    """NOT of a condition made two-valued first: a missing (NULL) value passes $ne and $nin."""
    return sql.SQL("(NOT COALESCE({}, false))").format(found)


def _ordered_json(key: str, node: Condition, params: list[Any]) -> sql.Composable:
    value = sql.SQL("(metadata -> %s)")
    op = sql.SQL(_OPS[node.op])
    if isinstance(node.value, str):
        params.extend([canonical.readable(key), canonical.readable(key), node.value])
        text = sql.SQL("(metadata ->> %s) COLLATE \"C\" {op} %s COLLATE \"C\"").format(op=op)
        return sql.SQL("(jsonb_typeof({}) = 'string' AND {})").format(value, text)
    params.extend([canonical.readable(key)] * 3 + [_json_number(node.value)])
    number = sql.SQL(
        "(CASE jsonb_typeof({v}) WHEN 'number' THEN (metadata ->> %s)::numeric"
        " WHEN 'boolean' THEN (metadata ->> %s)::boolean::int::numeric END)"
    ).format(v=value)
    condition = sql.SQL("({} {} %s)").format(number, op)
    # JSON has no infinities (the readable copy tags them): an infinite value is found by its
    # canonical item, when the comparison holds for it
    for infinity in (math.inf, -math.inf):
        if ordered(infinity, node.op, node.value):
            params.append([canonical.item(key, infinity)])
            condition = sql.SQL("({} OR COALESCE(metadata_items @> %s::text[], false))").format(condition)
    return condition


def _skill_field(node: Condition, params: list[Any]) -> sql.Composable:
    name = node.field.name
    textual = name in ("name", "status")
    column = sql.SQL(name) if textual else sql.SQL(_FIELD_SQL[name])
    if node.op in ("$eq", "$ne", "$in", "$nin"):
        wanted = (node.given,) if node.op in ("$eq", "$ne") else node.given
        if textual:
            values: list[Any] = [canonical.readable(v) for v in wanted if isinstance(v, str)]
            found = sql.SQL("({} = ANY(%s::text[]))").format(column)
        elif name in _COUNTERS:
            values = [Decimal(int(v)) if isinstance(v, bool) else Decimal(v) for v in wanted if is_number(v)]
            found = sql.SQL("({}::numeric = ANY(%s::numeric[]))").format(column)
        else:  # float8 columns compare with exact float8 values; no float equals an int it cannot hold
            values = [float(v) for v in wanted if is_number(v) and _exact_float(v)]
            found = sql.SQL("({} = ANY(%s::float8[]))").format(column)
        params.append(values)
        negate = node.op in ("$ne", "$nin")
    elif node.op == "$exists":
        found = sql.SQL("({} IS NOT NULL)").format(column)
        negate = not node.value
    else:
        if textual != isinstance(node.value, str):
            return _FALSE  # a number is never ordered against a string
        op = sql.SQL(_OPS[node.op])
        if textual:
            params.append(node.value)
            return sql.SQL('({} COLLATE "C" {} %s COLLATE "C")').format(column, op)
        if name in _COUNTERS:
            params.append(Decimal(int(node.value)) if isinstance(node.value, bool) else Decimal(node.value))
            return sql.SQL("({}::numeric {} %s::numeric)").format(column, op)
        params.append(_float(node.value))
        return sql.SQL("({} {} %s::float8)").format(column, op)
    return _negated(found) if negate else found


_COUNTERS = frozenset({"attempts", "successes", "failures", "observations", "version"})


def _json_number(value: Any) -> Decimal:
    """A bound as JSON writes a stored number: a float as its shortest decimal (which orders
    floats as their binary values do), an int exactly, a bool as 0 or 1."""
    if isinstance(value, float):
        if math.isinf(value):
            return Decimal("Infinity") if value > 0 else Decimal("-Infinity")
        return Decimal(repr(value))
    return Decimal(int(value))


def _float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _exact_float(value: Any) -> bool:
    try:
        return isinstance(value, float) or float(value) == value
    except OverflowError:
        return False
