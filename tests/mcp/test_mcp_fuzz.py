"""Random arguments to every tool, through the SDK's client in process: each call either
answers or is an anticipated, one-line tool error. None crashes (the SDK's bare "Error
executing tool NAME", which hides an exception no check caught), and the library stays sound."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.client import Client
from mcp_helpers import error_text, make_library, tools_for

from skillstore import SkillStore
from skillstore.mcp import READ_TOOLS, WRITE_TOOLS, LibraryTools, SkillServer

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=6), inner, max_size=3), max_leaves=8)
filter_keys = st.sampled_from(["room", "$skill", "$and", "$or", "$not", "$in", "$gte", "attempts", "$bogus"])
filters = st.recursive(
    st.dictionaries(filter_keys, scalars, max_size=2),
    lambda inner: st.dictionaries(filter_keys, inner | st.lists(inner, max_size=2) | scalars, max_size=2),
    max_leaves=6,
)


@st.composite
def calls(draw: st.DrawFn, ids: list[str]) -> tuple[str, dict[str, Any]]:
    """A tool and its arguments: mostly the tool's own argument names with values often of the
    right kinds, sometimes names it does not take."""
    tool = draw(st.sampled_from(READ_TOOLS + WRITE_TOOLS))
    parameters = list(inspect.signature(getattr(LibraryTools, tool)).parameters.values())[1:]
    required = [p.name for p in parameters if p.default is inspect.Parameter.empty]
    names = draw(st.lists(st.sampled_from([p.name for p in parameters]), unique=True, max_size=len(parameters))
                 if parameters else st.just([]))
    if draw(st.integers(0, 4)):  # mostly, every required argument is there
        names = list(dict.fromkeys(required + names))
    if not draw(st.integers(0, 4)):  # now and then, one the tool does not take
        names.append(draw(st.sampled_from(["extra", "filter", "embedding"])))
    values: dict[str, Any] = {}
    for name in names:
        plausible = {
            "id": st.sampled_from(ids) | st.text(max_size=8),
            "query": st.sampled_from(["door", "key room", "", "!!"]) | st.text(max_size=10),
            "name": st.text(min_size=1, max_size=10),
            "actions": st.lists(st.text(max_size=5), max_size=3),
            "description": st.text(max_size=20),
            "reason": st.text(min_size=1, max_size=10),
            "k": st.integers(-2, 60),
            "version": st.integers(-1, 5),
            "where": filters,
            "state": st.dictionaries(st.sampled_from(["has_key", "room"]), scalars, max_size=2),
            "preconditions": st.dictionaries(st.sampled_from(["has_key", "room"]), scalars, max_size=2),
            "success": st.booleans(),
            "reward": st.floats(allow_nan=False, width=64) | st.integers(-(10**16), 10**16),
            "status": st.sampled_from(["active", "candidate", "deprecated", "gone"]),
        }.get(name, json_values)
        values[name] = draw(st.one_of(plausible, plausible, plausible, json_values))
    return tool, values


def test_random_calls_answer_or_fail_cleanly(tmp_path_factory: Any) -> None:
    path = Path(tmp_path_factory.mktemp("fuzz")) / "library"
    ids = list(make_library(path).values())
    outcomes = {"answered": 0, "refused": 0}

    @settings(max_examples=settings.default.max_examples, suppress_health_check=[HealthCheck.too_slow])
    @given(made=st.lists(calls(ids), min_size=1, max_size=6))
    def run(made: list[tuple[str, dict[str, Any]]]) -> None:
        async def go() -> None:
            async with Client(server) as client:
                for name, args in made:
                    result = await client.call_tool(name, args)
                    outcomes["refused" if result.is_error else "answered"] += 1
                    if result.is_error:
                        message = error_text(result)
                        assert message != f"Error executing tool {name}", (name, args)  # a crash

        anyio.run(go)

    with tools_for(path) as tools:
        server = SkillServer(tools)
        run()
    assert outcomes["answered"] >= 25 and outcomes["refused"] >= 25, outcomes  # both kinds were tried
    with SkillStore.open(path, read_only=True) as store:
        assert store.verify().ok
