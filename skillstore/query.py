"""Filter expressions: the one language ``where`` speaks on every backend.

An expression is a mapping. A plain key names a metadata key; its value is either a
plain value (equality, as ``where`` has always meant) or an *operator object*:

- ``$eq``, ``$ne``: equal, not equal;
- ``$gt``, ``$gte``, ``$lt``, ``$lte``: ordering;
- ``$in``, ``$nin``: equal to one of a list, to none of it;
- ``$exists``: ``True`` when the key is present, ``False`` when it is absent;
- ``$not``: negates an operator object (``{"room": {"$not": {"$gt": 3}}}``).

Several operators on one key, and several keys in one mapping, are ANDed. Keys that start
with ``$`` are the logical and structural operators, at any level:

- ``$and``, ``$or``: a non-empty list of expressions; ``$not``: one expression;
- ``$skill``: conditions on the skill's own fields (see ``SKILL_FIELDS``): statistics
  (attempts, successes, failures, observations, success_rate, total_reward), timestamps
  (created_at, updated_at, last_used_at: seconds since the epoch), name, version and status
  (a filter naming ``status`` decides alone which statuses a search keeps). Because the
  key starts with ``$`` it can never be a metadata key.
- ``$metadata``: conditions on metadata keys spelled out, for a metadata key that itself
  starts with ``$``.

Rules (MongoDB's for missing keys, the precondition rule for equality):

- Equality is the precondition rule: ``True == 1 == 1.0``, lists equal tuples,
  ``"1" != 1``; a value of a kind no skill holds (a set) equals nothing.
- Ordering compares numbers with numbers (bools count as 0 and 1) and strings with
  strings (by code point); across types, or against NaN, it is false: no error, no coercion.
- A skill without the key fails equality, ordering, ``$in`` and ``$exists: true``; it
  passes ``$ne``, ``$nin`` and ``$exists: false``. ``last_used_at`` is missing for a
  skill never used.

A malformed expression raises :class:`InvalidInputError` naming the offending part.
:func:`parse` turns an expression into a small tree; :func:`matches` is the reference
evaluation of that tree on one record (what :class:`MemoryBackend` uses); the stores
evaluate the same tree their own way (NumPy masks over columns, SQL).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from skillstore.errors import InvalidInputError
from skillstore.preconditions import freeze
from skillstore.validation import query_value, shown

COMPARISONS = ("$gt", "$gte", "$lt", "$lte")
FIELD_OPERATORS = ("$eq", "$ne", *COMPARISONS, "$in", "$nin", "$exists", "$not")
MISSING: Any = object()  # what a missing key reads as


def _success_rate(stats: Mapping[str, Any]) -> float:
    return stats["successes"] / stats["attempts"] if stats["attempts"] else 0.0


# The skill's own fields a filter can name under "$skill", and how a record gives each.
SKILL_FIELDS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "attempts": lambda r: r["stats"]["attempts"],
    "successes": lambda r: r["stats"]["successes"],
    "failures": lambda r: r["stats"]["failures"],
    "observations": lambda r: r["stats"]["observations"],
    "success_rate": lambda r: _success_rate(r["stats"]),
    "total_reward": lambda r: r["stats"]["total_reward"],
    "created_at": lambda r: r["created_at"],
    "updated_at": lambda r: r["updated_at"],
    "last_used_at": lambda r: MISSING if r["stats"]["last_used_at"] is None else r["stats"]["last_used_at"],
    "name": lambda r: r["name"],
    "version": lambda r: r["version"],
    "status": lambda r: r["status"],
}


@dataclass(frozen=True)
class Field:
    """What a condition reads: a metadata key, or one of the skill's own fields."""

    kind: str  # "metadata" or "skill"
    name: str

    def __str__(self) -> str:
        return f"$skill.{self.name}" if self.kind == "skill" else repr(self.name)


@dataclass(frozen=True)
class Condition:
    """One operator on one field. ``value``: a frozen value ($eq, $ne), a tuple of frozen
    values ($in, $nin), a bool ($exists), a number or a string (ordering); ``given`` the same
    before freezing (what a backend that compares canonical text needs)."""

    field: Field
    op: str
    value: Any
    given: Any = dataclass_field(default=None, compare=False)


@dataclass(frozen=True)
class All:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Any_:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


Node = Condition | All | Any_ | Not
EVERYTHING = All(())


def parse(where: Any) -> Node:
    """The tree of a ``where`` expression (None: everything); raises InvalidInputError."""
    if where is None:
        return EVERYTHING
    return _expression(where, "where")


def is_everything(node: Node) -> bool:
    return isinstance(node, All) and not node.parts


def _expression(raw: Any, path: str) -> Node:
    if not isinstance(raw, Mapping):
        raise InvalidInputError(f"{path} must be a mapping, got {shown(raw)}")
    parts: list[Node] = []
    for key, value in raw.items():
        if not isinstance(key, str):
            raise InvalidInputError(f"{path}: keys must be strings, got {shown(key)}")
        where = f"{path}[{key!r}]"
        if key in ("$and", "$or"):
            if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence) or not value:
                raise InvalidInputError(f"{where} must be a non-empty list of expressions")
            children = tuple(_expression(item, f"{where}[{i}]") for i, item in enumerate(value))
            parts.append(All(children) if key == "$and" else Any_(children))
        elif key == "$not":
            parts.append(Not(_expression(value, where)))
        elif key in ("$skill", "$metadata"):
            if not isinstance(value, Mapping):
                raise InvalidInputError(f"{where} must be a mapping of fields to conditions")
            for name, condition in value.items():
                if key == "$skill" and name not in SKILL_FIELDS:
                    known = ", ".join(sorted(SKILL_FIELDS))
                    raise InvalidInputError(f"{where}: unknown skill field {shown(name)}; the fields are {known}")
                if not isinstance(name, str):
                    raise InvalidInputError(f"{where}: keys must be strings, got {shown(name)}")
                parts.append(_field(Field(key[1:], name), condition, f"{where}[{name!r}]"))
        elif key.startswith("$"):
            raise InvalidInputError(f"{where}: unknown operator; at the top level: $and, $or, $not, $skill, $metadata")
        else:
            parts.append(_field(Field("metadata", key), value, where))
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def _is_operator_object(value: Any) -> bool:
    return isinstance(value, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in value)


def _field(field: Field, raw: Any, path: str) -> Node:
    if not _is_operator_object(raw):
        plain = query_value(raw, path)
        return Condition(field, "$eq", freeze(plain), plain)
    if not all(isinstance(k, str) and k.startswith("$") for k in raw):
        raise InvalidInputError(f"{path} mixes operators with plain keys: {sorted(map(str, raw))}")
    parts: list[Node] = []
    for op, operand in raw.items():
        where = f"{path}[{op!r}]"
        if op not in FIELD_OPERATORS:
            raise InvalidInputError(f"{where}: unknown operator; on a field: {', '.join(FIELD_OPERATORS)}")
        if op == "$not":
            if not _is_operator_object(operand):
                raise InvalidInputError(f"{where} must be an operator object, like {{'$gt': 3}}")
            parts.append(Not(_field(field, operand, where)))
        elif op in ("$eq", "$ne"):
            plain = query_value(operand, where)
            parts.append(Condition(field, op, freeze(plain), plain))
        elif op in ("$in", "$nin"):
            if isinstance(operand, str | bytes | Mapping) or not isinstance(operand, Sequence):
                raise InvalidInputError(f"{where} must be a list of values, got {shown(operand)}")
            plain = tuple(query_value(v, f"{where}[{i}]") for i, v in enumerate(operand))
            parts.append(Condition(field, op, tuple(freeze(v) for v in plain), plain))
        elif op == "$exists":
            if not isinstance(operand, bool):
                raise InvalidInputError(f"{where} must be true or false, got {shown(operand)}")
            parts.append(Condition(field, op, operand, operand))
        else:
            bound = _orderable(operand, where)
            parts.append(Condition(field, op, bound, bound))
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def _orderable(value: Any, where: str) -> float | str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float) and not (isinstance(value, float) and math.isnan(value)):
        return value
    raise InvalidInputError(f"{where} must be a number or a string, got {shown(value)}")


# -- the reference evaluation ---------------------------------------------------------


def value_of(field: Field, record: Mapping[str, Any]) -> Any:
    if field.kind == "skill":
        return SKILL_FIELDS[field.name](record)
    return record["metadata"].get(field.name, MISSING)


def is_number(value: Any) -> bool:
    return isinstance(value, bool | int | float) and not (isinstance(value, float) and math.isnan(value))


def ordered(value: Any, op: str, bound: float | str) -> bool:
    """The ordering operator ``op`` between a stored value and the bound; false across types."""
    if isinstance(bound, str):
        if not isinstance(value, str):
            return False
    elif not is_number(value):
        return False
    if op == "$gt":
        return bool(value > bound)
    if op == "$gte":
        return bool(value >= bound)
    if op == "$lt":
        return bool(value < bound)
    return bool(value <= bound)


def matches(node: Node, record: Mapping[str, Any]) -> bool:
    """Whether ``record`` (a store record: metadata, stats, timestamps, name) matches ``node``."""
    if isinstance(node, All):
        return all(matches(part, record) for part in node.parts)
    if isinstance(node, Any_):
        return any(matches(part, record) for part in node.parts)
    if isinstance(node, Not):
        return not matches(node.part, record)
    value = value_of(node.field, record)
    present = value is not MISSING
    if node.op == "$exists":
        return present is bool(node.value)
    if node.op in ("$eq", "$ne"):
        equal = present and freeze(value) == node.value
        return equal if node.op == "$eq" else not equal
    if node.op in ("$in", "$nin"):
        found = present and any(freeze(value) == v for v in node.value)
        return found if node.op == "$in" else not found
    return present and ordered(value, node.op, node.value)


def mentions(node: Node, field: Field) -> bool:
    """Whether the expression reads ``field`` anywhere."""
    if isinstance(node, All | Any_):
        return any(mentions(part, field) for part in node.parts)
    if isinstance(node, Not):
        return mentions(node.part, field)
    return node.field == field


# -- listing: order and limit -----------------------------------------------------------


def check_order_by(order_by: Any) -> tuple[str | None, bool]:
    """(field, descending) of ``find``'s ``order_by``: None (creation order), or a field of
    ``SKILL_FIELDS``, with a leading ``-`` for descending."""
    if order_by is None:
        return None, False
    if not isinstance(order_by, str) or order_by.lstrip("-") not in SKILL_FIELDS or order_by.startswith("--"):
        known = ", ".join(sorted(SKILL_FIELDS))
        raise InvalidInputError(f"order_by must be a skill field ({known}) or one after '-', got {shown(order_by)}")
    return order_by.lstrip("-"), order_by.startswith("-")


def check_limit(limit: Any) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidInputError(f"limit must be a non-negative integer or None, got {shown(limit)}")
    return int(limit)


def sort_records(records: Sequence[Mapping[str, Any]], field: str | None, descending: bool) -> list[Mapping[str, Any]]:
    """``records`` (in creation order) ordered by ``field``: ties keep creation order, and a
    missing value (``last_used_at`` of a skill never used) comes last either way."""
    if field is None:
        return list(records)
    present = [r for r in records if value_of(Field("skill", field), r) is not MISSING]
    missing = [r for r in records if value_of(Field("skill", field), r) is MISSING]
    present.sort(key=lambda r: value_of(Field("skill", field), r), reverse=descending)
    return present + missing
