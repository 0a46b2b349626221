"""The canonical items behind SQL filters: equal text exactly when the applicability rule finds values equal."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from skillstore.backends import canonical, is_url
from skillstore.backends.pgschema import masked, split_url
from skillstore.preconditions import freeze

# A small domain, so that equal-but-different values (1, 1.0, True; lists and tuples) meet often.
scalars = st.sampled_from([0, 1, 2, -1, 0.0, -0.0, 1.0, 2.5, True, False, "1", "", "a\x00b", None,
                           b"1", b"", math.inf, -math.inf, 2**53, float(2**53), 2**63 - 1, float(2**63)])
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from(["a", "b", 1]), inner, max_size=2),
    ),
    max_leaves=6,
)


@given(values, values)
def test_items_are_equal_exactly_when_values_are(a: object, b: object) -> None:
    assert (canonical.item("k", a) == canonical.item("k", b)) == (freeze(a) == freeze(b))


@given(values)
def test_an_item_equals_itself_and_ignores_container_kind(value: object) -> None:
    assert canonical.item("k", value) == canonical.item("k", value)
    if isinstance(value, list):
        assert canonical.item("k", value) == canonical.item("k", tuple(value))


@given(st.dictionaries(st.sampled_from(["x", "y", "z"]), values, max_size=3),
       st.dictionaries(st.sampled_from(["x", "y", "z"]), values, max_size=3))
def test_signatures_group_equal_preconditions(a: dict[str, object], b: dict[str, object]) -> None:
    assert (canonical.signature(a) == canonical.signature(b)) == (freeze(a) == freeze(b))


def test_keys_and_values_that_cannot_collide() -> None:
    assert canonical.item("a", 1) != canonical.item("b", 1)
    assert canonical.item("a", "1") != canonical.item("a", 1)
    assert canonical.item("a", b"1") != canonical.item("a", "1")
    assert canonical.item("a", {"bytes": "31"}) != canonical.item("a", b"1")  # dicts are tagged too
    assert canonical.item("a", True) == canonical.item("a", np.int64(1)) == canonical.item("a", np.float32(1.0))
    assert canonical.item("a", np.array([1, 2])) == canonical.item("a", (1, 2))
    assert canonical.item("a", 0.1) != canonical.item("a", np.float32(0.1))  # different floats


def test_nan_and_unknown_types_match_nothing() -> None:
    assert canonical.item("a", math.nan) != canonical.item("a", math.nan)
    assert canonical.item("a", {1, 2}) != canonical.item("a", {1, 2})
    assert canonical.item("a", object()) != canonical.item("a", object())


def test_long_values_become_digests() -> None:
    long = list(range(500))
    item = canonical.item("route", long)
    assert item.startswith("#") and len(item) < canonical.MAX_ITEM_CHARS
    assert item == canonical.item("route", tuple(long)) != canonical.item("route", [*long[:-1], 0])
    assert canonical.item("route", [1, 2]).startswith("[")


def test_only_string_keys_make_items() -> None:
    assert canonical.items({"a": 1, 2: 3}) == [canonical.item("a", 1)]


def test_urls() -> None:
    assert is_url("postgresql://host/db") and is_url("postgres://h/d") and is_url("POSTGRESQL://h/d")
    assert not is_url("./skills") and not is_url("http://x") and not is_url(None)
    conninfo, library = split_url("postgres://u:pw@host:5432/db?sslmode=require&library=grid")
    assert library == "grid" and conninfo == "postgresql://u:pw@host:5432/db?sslmode=require"
    assert split_url("postgresql:///db") == ("postgresql:///db", None)
    assert masked("postgresql://u:secret@host/db?library=x") == "postgresql://u:***@host/db?library=x"
    assert masked("postgresql://u@host/db") == "postgresql://u@host/db"
