"""Every command has help, names its environment variables, and `python -m fleetscan` works."""

from __future__ import annotations

import subprocess
import sys

import pytest
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
NEEDS_PLEXUS = ["device", "fleet", "replay", "monitor create", "monitor list", "monitor delete"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(app, [*command.split(), "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout and len(result.stdout) > 200


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
