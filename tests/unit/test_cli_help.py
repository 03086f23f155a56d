"""Every command's --help shows the defaults its options name (Rich would swallow an unescaped `[default: …]`)."""

from __future__ import annotations

import re

import click
import pytest
import typer
from typer.testing import CliRunner

from chatbot.cli import app


def commands(group: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = [(path, group)]
    for name, command in getattr(group, "commands", {}).items():
        found += commands(command, (*path, name))
    return found


def named_defaults() -> list[tuple[str, str]]:
    """(command path, `[default: …]`) for every option help that names its default."""
    cases = []
    for path, command in commands(typer.main.get_command(app)):
        for option in command.params:
            for default in re.findall(r"\[default: [^\]]+\]", getattr(option, "help", None) or ""):
                cases.append((" ".join(path), default))
    return cases


CASES = named_defaults()


def test_options_name_their_defaults():
    assert ("train", "[default: 3]") in CASES
    assert ("eval answers", "[default: the active one, else the newest]") in CASES


@pytest.mark.parametrize("path, default", CASES)
def test_help_shows_the_named_default(path, default):
    result = CliRunner().invoke(app, [*path.split(), "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert default in result.output
