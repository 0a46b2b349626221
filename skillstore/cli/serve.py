"""``skillstore mcp``: serve a library to agents over the Model Context Protocol (stdio).

The server itself is :mod:`skillstore.mcp`; it needs the ``mcp`` SDK (the ``skillstore[mcp]``
extra), imported only when this command runs so the rest of the command line never needs it.
"""

from __future__ import annotations

from typing import Any

import click

from skillstore import SkillStoreError
from skillstore.cli.commands import Location, path_argument

SDK_MODULES = ("mcp", "mcp_types", "pydantic")


def _load_serve() -> Any:
    try:
        from skillstore.mcp import serve
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in SDK_MODULES:
            raise SkillStoreError(f"the MCP server needs the mcp SDK: pip install 'skillstore[mcp]' ({exc})") from None
        raise
    return serve


@click.command(name="mcp")
@path_argument
@click.option("--read-only", is_flag=True, help="Serve only the reading tools, and open the library read-only.")
@click.option(
    "--embedder", metavar="SPEC", default=None,
    help="The embedder of a library the server creates (PATH holds none yet): lexical, lexical:dim=128, "
    "sentence-transformers:model=NAME [default: lexical]. An existing library is opened with the embedder it "
    "recorded; naming another is an error.",
)
@click.option(
    "--dedup-threshold", type=click.FloatRange(-1.0, 1.0), default=None,
    help="Merge an added skill into an existing one with equal preconditions whose cosine is at least this.",
)
@click.option(
    # 5.0 is skillstore.mcp.LOCK_TIMEOUT, not imported here: that module needs the SDK
    "--lock-timeout", type=click.FloatRange(min=0.0), default=5.0, show_default=True, metavar="SECONDS",
    help="How long a write waits for another process's write before the tool answers 'library busy' "
    "(directories only).",
)
def mcp_command(
    path: Location, read_only: bool, embedder: str | None, dedup_threshold: float | None, lock_timeout: float
) -> None:
    """Serve the library at PATH to an agent as MCP tools over stdin and stdout: search_skills,
    get_skill, skill_history, library_stats, and (unless --read-only) add_skill,
    record_outcome, update_skill, rollback_skill, deprecate_skill.

    Several servers and commands may use one library at once. A PATH with no library yet gets
    one, embedded by --embedder.

    \b
    An MCP client's configuration that starts it:
        {"mcpServers": {"skills": {"command": "skillstore", "args": ["mcp", "/path/to/library"]}}}

    \b
    Example:
        skillstore mcp ./skills
        skillstore mcp ./skills --read-only
        skillstore mcp ./new-library --embedder lexical:dim=128
    """
    serve = _load_serve()
    serve(path, read_only=read_only, embedder=embedder, dedup_threshold=dedup_threshold, lock_timeout=lock_timeout)
