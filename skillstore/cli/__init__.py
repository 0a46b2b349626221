"""The ``skillstore`` command line: a thin face over the public API (``skillstore/__init__.py``).

- ``commands``: the click commands, and the one place library errors become messages;
- ``output``: tables, JSON and CSV; ``values``: the ``KEY=VALUE`` syntax;
- ``info``: the ``info`` command's facts; ``transfer``: export and import files
  (with ``tagged_json`` for values JSON cannot hold); ``plots``: ``skillstore plot``;
- ``serve``: ``skillstore mcp``, the MCP server (:mod:`skillstore.mcp`).

Nothing here reaches below the public API; ``tests/cli/test_cli_imports.py`` checks it.
"""

from skillstore.cli.commands import main
from skillstore.cli.serve import mcp_command

main.add_command(mcp_command)

__all__ = ["main"]
