"""Values typed on the command line, such as ``has_key=true`` or ``agent_pos=[2,2]``.

``parse_value`` turns the text after ``=`` into a Python value by these rules,
tried in order:

==========================  =====================================================
text                        value
==========================  =====================================================
``true`` / ``false``        bool (any letter case)
``null`` / ``none``         None (any letter case)
``42``, ``-7``, ``+3``      int (decimal digits, optional sign)
``0.5``, ``-1e3``, ``.5``   float (a decimal point or an exponent makes a float)
``[2,2]`` or ``(2, 2)``     tuple; items follow these same rules (bare items are
                            trimmed), nesting allowed up to ``MAX_DEPTH`` levels,
                            ``[]`` is the empty tuple, ``[5]`` and ``(5,)`` are 1-tuples
``"3"`` or ``'true'``       str, quotes removed (quote to keep digits or
                            ``true`` a string); ``\\"`` and ``\\\\`` escape
anything else               str, exactly as typed (``room_3``, ``inf``, ``nan``)
==========================  =====================================================

Sequences become tuples because preconditions compare lists and tuples as
tuples (positions). An integer of more digits than Python converts (4300) is an
error, as is nesting deeper than ``MAX_DEPTH``. ``format_value`` writes a value back in this syntax, and
``parse_value(format_value(v)) == v`` for every bool, int, finite float, str,
None and tuple of these.
"""

from __future__ import annotations

import json
import re
from typing import Any

from skillstore import MAX_DEPTH

_INT = re.compile(r"[+-]?\d+\Z")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?\Z")
_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None, "none": None}
_OPEN = {"[": "]", "(": ")"}
_BARE_STR = re.compile(r"[^\s\"'\[\](),=]+\Z")  # a str that reads back as itself


class ValueSyntaxError(ValueError):
    """Raised when typed text cannot be read (an unclosed bracket or quote, a missing ``=``)."""


def parse_value(text: str) -> Any:
    """The value ``text`` stands for (see the module docstring for the rules)."""
    parser = _Parser(text)
    value = parser.value(top=True)
    parser.skip_space()
    parser.expect_end()
    return value


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"key=value"`` as ``(key, parse_value(value))``; the key is taken verbatim."""
    key, sep, raw = text.partition("=")
    if not sep:
        raise ValueSyntaxError(f"expected key=value, got {text!r}")
    if not key.strip():
        raise ValueSyntaxError(f"the key is empty in {text!r}")
    return key.strip(), parse_value(raw)


def parse_assignments(texts: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Several ``key=value`` texts as one dict; a repeated key keeps its last value."""
    return dict(parse_assignment(text) for text in texts)


_CONDITION = re.compile(
    r"\s*(?P<field>[^\s=!<>]+)\s*"
    r"(?P<op>==|!=|>=|<=|=|>|<|(?<=\s)not\s+in(?=\s)|(?<=\s)in(?=\s)|(?<=\s)not\s+exists\s*\Z|(?<=\s)exists\s*\Z)"
    r"(?P<value>.*)\Z",
    re.DOTALL,
)
_OPERATORS = {"==": None, "=": None, "!=": "$ne", ">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte",
              "in": "$in", "not in": "$nin"}


def parse_condition(text: str) -> dict[str, Any]:
    """One ``--where`` condition as a filter expression (``skillstore.query``).

    Either a JSON object (``{"room": {"$in": [3, 4]}}``), or ``FIELD OP VALUE``: OP one of
    ``=`` (or ``==``), ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``in``, ``not in``, or
    ``FIELD exists`` / ``FIELD not exists``. FIELD is a metadata key, or ``skill.NAME`` for
    the skill's own fields (``skill.attempts``, ``skill.success_rate``, ``skill.name``...).
    VALUE follows ``parse_value``: ``room in [3,4]``, ``owner = ops``, ``skill.attempts >= 3``.
    """
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            expression = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueSyntaxError(f"not a JSON object: {exc.msg} at column {exc.colno} in {text!r}") from None
        if not isinstance(expression, dict):
            raise ValueSyntaxError(f"expected a JSON object, got {text!r}")
        return expression
    match = _CONDITION.match(text)
    if match is None:
        raise ValueSyntaxError(f"expected FIELD OP VALUE (e.g. room in [3,4]) or a JSON object, got {text!r}")
    field, op = match["field"], " ".join(match["op"].split())
    if op.endswith("exists"):
        spec: Any = {"$exists": op == "exists"}
    else:
        value = parse_value(match["value"].strip())
        operator = _OPERATORS[op]
        if operator in ("$in", "$nin") and not isinstance(value, tuple):
            raise ValueSyntaxError(f"{op} needs a list, like [3,4], in {text!r}")
        spec = value if operator is None else {operator: list(value) if isinstance(value, tuple) else value}
    if field.startswith("skill."):
        return {"$skill": {field[len("skill.") :]: spec}}
    return {field: spec}


def parse_where(texts: tuple[str, ...] | list[str]) -> dict[str, Any] | None:
    """Several ``--where`` conditions, all of which must hold (None when there are none)."""
    conditions = [parse_condition(text) for text in texts]
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def format_value(value: Any) -> str:
    """``value`` in the command-line syntax, so that ``parse_value`` reads it back."""
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # shortest exact spelling; "inf" and "nan" read back as strings
    if isinstance(value, tuple | list):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, str):
        if _BARE_STR.match(value) and parse_value(value) == value:
            return value
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    return repr(value)


class _Parser:
    """A small recursive-descent reader over one typed value."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def error(self, message: str) -> ValueSyntaxError:
        shown = repr(self.text) if len(self.text) <= 80 else repr(self.text[:77]) + "..."
        return ValueSyntaxError(f"{message} in {shown} at position {self.pos}")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def expect_end(self) -> None:
        if self.pos != len(self.text):
            raise self.error("unexpected text after the value")

    def value(self, *, top: bool = False) -> Any:
        if not top:
            self.skip_space()
        char = self.text[self.pos] if self.pos < len(self.text) else ""
        if char in _OPEN:
            return self.sequence(_OPEN[char])
        if char in ("'", '"'):
            return self.quoted(char)
        return self.atom(top)

    def sequence(self, closer: str) -> tuple[Any, ...]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"more than {MAX_DEPTH} nested brackets")
        try:
            return self._items(closer)
        finally:
            self.depth -= 1

    def _items(self, closer: str) -> tuple[Any, ...]:
        self.pos += 1  # the opening bracket
        items: list[Any] = []
        self.skip_space()
        if self.pos < len(self.text) and self.text[self.pos] == closer:
            self.pos += 1
            return ()
        while True:
            items.append(self.value())
            self.skip_space()
            if self.pos >= len(self.text):
                raise self.error(f"missing {closer!r}")
            char = self.text[self.pos]
            self.pos += 1
            if char == closer:
                return tuple(items)
            if char != ",":
                raise self.error(f"expected ',' or {closer!r}")
            self.skip_space()
            if self.pos < len(self.text) and self.text[self.pos] == closer:  # a trailing comma: (3,)
                self.pos += 1
                return tuple(items)

    def quoted(self, quote: str) -> str:
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\" and self.pos < len(self.text):
                out.append(self.text[self.pos])
                self.pos += 1
            elif char == quote:
                return "".join(out)
            else:
                out.append(char)
        raise self.error(f"missing closing {quote}")

    def atom(self, top: bool) -> Any:
        if top:
            # the whole text is one atom: keep it exactly, spaces and brackets included
            raw, self.pos = self.text, len(self.text)
            return self._atom(raw)
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",)]":
            if self.text[self.pos] in "([\"'":
                raise self.error("unexpected bracket or quote")
            self.pos += 1
        raw = self.text[start : self.pos].strip()
        if not raw:
            raise self.error("empty item")
        return self._atom(raw)

    def _atom(self, raw: str) -> Any:
        lowered = raw.lower()
        if lowered in _WORDS:
            return _WORDS[lowered]
        if _INT.match(raw):
            try:
                return int(raw)
            except ValueError:  # more digits than Python converts
                raise self.error(f"an integer of {len(raw)} characters is too long") from None
        if _FLOAT.match(raw):
            return float(raw)
        return raw


def shown(value: Any) -> str:
    """A repr for messages, cut short; a value whose repr fails (an int of 5000 digits)
    is named by its type."""
    try:
        text = repr(value)
    except Exception:  # RecursionError, or ValueError past the digit limit of int conversions
        text = f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."
