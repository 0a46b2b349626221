"""The documented rules for values typed on the command line, and tagged JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillstore.cli.tagged_json import TaggedJSONError, decode, encode
from skillstore.cli.values import (
    ValueSyntaxError,
    format_value,
    parse_assignment,
    parse_assignments,
    parse_value,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("null", None),
        ("None", None),
        ("3", 3),
        ("-7", -7),
        ("+2", 2),
        ("007", 7),
        ("0.5", 0.5),
        ("-1e3", -1000.0),
        (".5", 0.5),
        ("2.", 2.0),
        ("[2,2]", (2, 2)),
        ("(2, 2)", (2, 2)),
        ("[]", ()),
        ("()", ()),
        ("[5]", (5,)),
        ("(5,)", (5,)),
        ("[1, 2, ]", (1, 2)),
        ("[[1, 2], (3,)]", ((1, 2), (3,))),
        ("[a, b c, true, 1.5]", ("a", "b c", True, 1.5)),
        ("[\"x, y\", 'z']", ("x, y", "z")),
        ('"3"', "3"),
        ("'true'", "true"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("room_3", "room_3"),
        ("hello world", "hello world"),
        ("inf", "inf"),
        ("nan", "nan"),
        ("1_000", "1_000"),
        ("", ""),
        ("鍵", "鍵"),
        ("a=b", "a=b"),
    ],
)
def test_parse_rules(text: str, value: Any) -> None:
    parsed = parse_value(text)
    assert parsed == value
    assert type(parsed) is type(value)


@pytest.mark.parametrize("text", ["[1,2", "(1,", '"abc', "[1,,]", "[,]", "[1] x", "[a(b)]", "[1 [2]]"])
def test_parse_errors(text: str) -> None:
    with pytest.raises(ValueSyntaxError):
        parse_value(text)


def test_assignments() -> None:
    assert parse_assignment("agent_pos=[2,2]") == ("agent_pos", (2, 2))
    assert parse_assignment("expr=a=b") == ("expr", "a=b")
    assert parse_assignment(" key =1") == ("key", 1)
    assert parse_assignments(["a=1", "b=true", "a=2"]) == {"a": 2, "b": True}
    for bad in ("novalue", "=3", " =3"):
        with pytest.raises(ValueSyntaxError):
            parse_assignment(bad)


scalars = st.one_of(
    st.booleans(),
    st.none(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
typed_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4).map(tuple), max_leaves=12)


@settings(max_examples=3 * settings.default.max_examples)  # the profile decides randomness and scale
@given(typed_values)
def test_format_then_parse_gives_the_value_back(value: Any) -> None:
    parsed = parse_value(format_value(value))
    assert parsed == value
    assert repr(parsed) == repr(value)  # same types all the way down (1 is not 1.0 or True)


# -- tagged JSON -------------------------------------------------------------------------

msgpack_values = st.recursive(
    st.one_of(
        st.booleans(),
        st.none(),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(allow_nan=False),
        st.text(),
        st.binary(max_size=16),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
        st.dictionaries(st.one_of(st.integers(), st.binary(max_size=4)), inner, max_size=3),
    ),
    max_leaves=16,
)


@settings(max_examples=3 * settings.default.max_examples)  # the profile decides randomness and scale
@given(msgpack_values)
def test_tagged_json_round_trip(value: Any) -> None:
    text = json.dumps(encode(value), allow_nan=False)
    assert repr(decode(json.loads(text))) == repr(value)


def test_user_data_cannot_pass_for_a_tag() -> None:
    tricky = {"$bytes": "AAAA"}
    assert decode(json.loads(json.dumps(encode(tricky)))) == tricky
    assert encode(tricky) == {"$map": [["$bytes", "AAAA"]]}
    assert encode({"$a": 1, "b": 2}) == {"$a": 1, "b": 2}  # two keys: never a tag


def test_special_floats() -> None:
    assert decode(encode(math.inf)) == math.inf
    assert decode(encode(-math.inf)) == -math.inf
    assert math.isnan(decode(encode(math.nan)))


@pytest.mark.parametrize(
    "value",
    [
        {"$bytes": "***"},
        {"$bytes": 3},
        {"$tuple": 3},
        {"$map": [[1]]},
        {"$map": [[[1], 2]]},
        {"$float": "big"},
        {"$what": 1},
    ],
)
def test_malformed_tags(value: Any) -> None:
    with pytest.raises(TaggedJSONError):
        decode(value)
