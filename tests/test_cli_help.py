"""Every command has help, names its environment variables, and `python -m fleetscan` works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
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
    "plot",
    "report",
    "silence",
    "silence add",
    "silence list",
    "silence remove",
    "config",
    "config check",
]
NEEDS_PLEXUS = [
    "device",
    "fleet",
    "replay",
    "plot",
    "report",
    "monitor create",
    "monitor list",
    "monitor delete",
]
BOX = str.maketrans(dict.fromkeys("│╭╮╰╯─", " "))


def _click_command(command: str) -> Any:
    """The command object typer built for `command` (its help text and parameters)."""
    found: Any = typer.main.get_command(app)
    for word in command.split():
        found = found.get_command(None, word)  # the root group builds commands lazily
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


def test_shell_completion_completes_commands() -> None:
    env = {"_FLEETSCAN_COMPLETE": "complete_bash", "COMP_WORDS": "fleetscan silence a"}
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("fleetscan"))],  # the installed script
        capture_output=True,
        text=True,
        check=False,
        env={**env, "COMP_CWORD": "2", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0 and proc.stdout.split() == ["add"]


def test_the_top_level_summaries_are_the_commands_own() -> None:
    from fleetscan.cli import COMMANDS

    for name in COMMANDS:
        result = CliRunner().invoke(app, [name, "--help"], terminal_width=400)
        _, summary = COMMANDS[name]
        assert summary in " ".join(result.stdout.split()), name


LIGHT_PATH = """
import sys
from fleetscan.cli import main
sys.argv = ["fleetscan", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
heavy = ("httpx", "fleetscan.client", "fleetscan.state", "fleetscan.emitter", "fleetscan.sandbox",
         "fleetscan.simulate", "fleetscan.detectors", "fleetscan.commands.device", "sqlite3", "plexus")
loaded = sorted(m for m in sys.modules if m in heavy or m.split(".")[0] in heavy
                or any(m.startswith(h + ".") for h in heavy))
print("LOADED:" + " ".join(loaded), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args", [["--help"], ["fleet", "--input", "{path}", "--metric", "temperature"]]
)
def test_help_and_the_input_path_import_only_what_they_run(
    tmp_path: object, args: list[str]
) -> None:
    path = f"{tmp_path}/rows.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(
            '{"source_id": "b1", "metric": "temperature", "value": 21.0, '
            '"timestamp": "2026-06-12 10:00:00.000"}\n'
        )
    proc = subprocess.run(
        [sys.executable, "-c", LIGHT_PATH, *[a.format(path=path) for a in args]],
        capture_output=True,
        text=True,
        check=False,
    )
    marker = [line for line in proc.stderr.splitlines() if line.startswith("LOADED:")]
    assert marker == ["LOADED:"], proc.stderr
    assert proc.stdout  # the help, or the sweep's table
