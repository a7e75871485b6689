"""Every command has help, names its environment variables, and `python -m fleetscan` works."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from fleetscan.cli import app

COMMANDS = [
    "demo",
    "device",
    "fleet",
    "replay",
    "sandbox",
    "monitor",
    "monitor create",
    "monitor list",
    "monitor delete",
]
BOX = str.maketrans(dict.fromkeys("│╭╮╰╯─", " "))
NEEDS_PLEXUS = ["device", "fleet", "replay", "monitor create", "monitor list", "monitor delete"]


def _click_command(command: str) -> Any:
    """The command object typer built for `command` (its help text and parameters)."""
    found: Any = typer.main.get_command(app)
    for word in command.split():
        found = found.commands[word]
    return found


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    """The help names the command, says what it does and lists every one of its options."""
    result = CliRunner().invoke(app, [*command.split(), "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.translate(BOX).split())  # rich wraps and frames at any width
    assert f"Usage: fleetscan {command}" in text
    target = _click_command(command)
    summary = (target.help or "").strip().splitlines()
    assert summary and " ".join(summary[0].split()) in text, "a one-line description"
    for param in target.params:
        for opt in param.opts:
            if opt.startswith("-"):
                assert opt in text, f"{opt} is not in the help of {command}"


@pytest.mark.parametrize("command", NEEDS_PLEXUS)
def test_plexus_options_show_their_environment_variables(command: str) -> None:
    result = CliRunner().invoke(app, [*command.split(), "--help"], terminal_width=200)
    for variable in ("PLEXUS_ENDPOINT", "PLEXUS_API_KEY"):
        assert variable in result.stdout


def test_the_key_from_the_environment_is_never_shown_in_help() -> None:
    key = "plx_" + "s3cr3t" * 5 + "ab"
    result = CliRunner().invoke(
        app, ["fleet", "--help"], env={"PLEXUS_API_KEY": key}, terminal_width=200
    )
    assert key not in result.output


def test_python_dash_m_runs_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fleetscan", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and "fleet" in proc.stdout
