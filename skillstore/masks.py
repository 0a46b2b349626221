"""Filter expressions (``skillstore.query``) evaluated as NumPy masks over a catalog's rows.

A metadata condition costs in the number of *distinct* values of its key (each value's
rows come from the metadata index), a skill-field condition one vectorised comparison of
a column; no condition loops over the skills in Python (``name`` conditions compare a
column of names, element by element, in NumPy). The result goes to the planner as an
allowed set of rows.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from skillstore.query import All, Any_, Condition, Node, Not, is_number, ordered

if TYPE_CHECKING:
    from skillstore.catalog import Catalog

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le,
}


def _exact(value: Any) -> bool:
    """Whether a float64 holds ``value`` exactly (every float does; a huge int may not)."""
    try:
        return isinstance(value, float) or float(value) == value
    except OverflowError:
        return False


def simple_equalities(node: Node) -> dict[str, Any] | None:
    """The metadata equalities of an expression made of nothing else (today's ``where``), or None."""
    parts = node.parts if isinstance(node, All) else (node,)
    found: dict[str, Any] = {}
    for part in parts:
        if not (isinstance(part, Condition) and part.op == "$eq" and part.field.kind == "metadata"):
            return None
        if part.field.name in found:
            return None
        found[part.field.name] = part.value
    return found


def mask(node: Node, catalog: Catalog) -> np.ndarray:
    """Rows of ``catalog`` (tombstones included: the caller keeps the live ones) matching ``node``."""
    rows = catalog.rows
    if isinstance(node, All):
        result = np.ones(rows, dtype=bool)
        for part in node.parts:
            result &= mask(part, catalog)
        return result
    if isinstance(node, Any_):
        result = np.zeros(rows, dtype=bool)
        for part in node.parts:
            result |= mask(part, catalog)
        return result
    if isinstance(node, Not):
        return ~mask(node.part, catalog)
    if node.field.kind == "metadata":
        return _metadata(node, catalog)
    return _skill_field(node, catalog)


def _metadata(node: Condition, catalog: Catalog) -> np.ndarray:
    result = np.zeros(catalog.rows, dtype=bool)
    key = node.field.name
    if node.op in ("$eq", "$ne"):
        result[catalog.metadata_rows(key, node.value)] = True
    elif node.op in ("$in", "$nin"):
        for value in node.value:
            result[catalog.metadata_rows(key, value)] = True
    elif node.op == "$exists":
        result[catalog.metadata_key_rows(key)] = True
    else:  # one test per distinct value of the key (vectorised for numbers), then its rows in one pass
        def keep(value: Any) -> bool:
            return ordered(value, node.op, node.value)

        if is_number(node.value) and _exact(node.value):
            result[catalog.metadata_rows_in_range(key, _COMPARE[node.op], float(node.value), keep)] = True
        else:
            result[catalog.metadata_rows_matching(key, keep)] = True
    if node.op in ("$ne", "$nin") or (node.op == "$exists" and not node.value):
        result = ~result
    return result


def _skill_field(node: Condition, catalog: Catalog) -> np.ndarray:
    values = catalog.field_values(node.field.name)
    if values.dtype == object:  # names: strings
        present = np.ones(len(values), dtype=bool)
        if node.op in ("$eq", "$ne", "$in", "$nin"):
            wanted = (node.value,) if node.op in ("$eq", "$ne") else node.value
            strings = [v for v in wanted if isinstance(v, str)]
            found = np.isin(values, np.array(strings, dtype=object)) if strings else np.zeros(len(values), bool)
        elif node.op == "$exists":
            found = present
        else:
            found = (np.array([ordered(v, node.op, node.value) for v in values], dtype=bool)
                     if isinstance(node.value, str) else np.zeros(len(values), dtype=bool))
    else:
        present = ~np.isnan(values)
        if node.op in ("$eq", "$ne", "$in", "$nin"):
            wanted = (node.value,) if node.op in ("$eq", "$ne") else node.value
            numbers = [float(v) for v in wanted if is_number(v) and _exact(v)]
            found = np.isin(values, np.array(numbers, dtype=np.float64)) if numbers else np.zeros(len(values), bool)
        elif node.op == "$exists":
            found = present
        elif isinstance(node.value, str):
            found = np.zeros(len(values), dtype=bool)  # a number is never ordered against a string
        elif not _exact(node.value):  # an int no float64 holds: compare exactly, one by one
            found = np.array([ordered(v, node.op, node.value) for v in values.tolist()], dtype=bool) & present
        else:
            found = _COMPARE[node.op](values, float(node.value)) & present
    if node.op in ("$ne", "$nin") or (node.op == "$exists" and not node.value):
        return ~found
    return found
