"""Every command explains itself: help text, PATH first, and an example that runs the command."""

from __future__ import annotations

import click
import pytest
from cli_helpers import ok

from skillstore.cli import main

COMMANDS = sorted(main.commands)


def test_the_issue_lists_every_command() -> None:
    assert set(COMMANDS) >= {
        "init",
        "info",
        "list",
        "show",
        "search",
        "stats",
        "plot",
        "export",
        "import",
        "delete",
        "record",
        "checkpoint",
        "verify",
    }


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_help_with_an_example(name: str) -> None:
    command = main.commands[name]
    assert command.help and command.help.strip(), f"{name} has no help text"
    assert command.get_short_help_str().strip()
    assert "Example:" in command.help, f"{name}'s help has no example"
    example = command.help.split("Example:", 1)[1]
    assert f"skillstore {name} " in example, f"{name}'s example does not run {name}"
    for parameter in command.params:
        if isinstance(parameter, click.Option) and not parameter.hidden:
            assert parameter.help, f"{name} {parameter.opts[0]} has no help text"


@pytest.mark.parametrize("name", COMMANDS)
def test_path_comes_first(name: str) -> None:
    arguments = [p for p in main.commands[name].params if isinstance(p, click.Argument)]
    assert arguments and arguments[0].name == "path"


@pytest.mark.parametrize("name", COMMANDS)
def test_help_runs(name: str) -> None:
    out = ok(name, "--help").stdout
    assert out.startswith(f"Usage: main {name} [OPTIONS] PATH") or out.startswith(f"Usage: skillstore {name}")
    assert "Example:" in out


def test_group_help_lists_commands() -> None:
    out = ok("--help").stdout
    for name in COMMANDS:
        assert name in out
    assert "Example:" in out
