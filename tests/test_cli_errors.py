"""Exit codes shared by every command: unexpected errors are UNKNOWN (3) in one line (`--debug`
for the traceback), usage errors are 64 everywhere, help is honest, plexus-python stays quiet."""

from __future__ import annotations

from pathlib import Path

import pytest
from standin import Reply, StandIn
from sweep_helpers import SCORING, SWEEP_TIMES, env_for, readings
from test_cli_help import COMMANDS
from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.sandbox import Sandbox
from fleetscan.sweeps import offline as offline_sweep
from fleetscan.timeutil import iso_z

KEY = "plx_" + "d" * 32


def run(args: list[str], env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args, env=env, terminal_width=200)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def a_bug(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """`fleet --input` hitting an exception nobody handles (the message holds a key)."""

    def broken(path: Path, **_options: object) -> None:
        raise KeyError(f"internal {KEY} slot")

    monkeypatch.setattr(offline_sweep, "read_columns", broken)  # where `fleet --input` reads
    rows = tmp_path / "rows.jsonl"
    rows.write_text("{}\n")
    return ["fleet", "--metric", "temperature", "--input", str(rows)]


def test_an_unexpected_exception_exits_3_with_one_line(a_bug: list[str]) -> None:
    code, out, err = run(a_bug, {"FLEETSCAN_DEBUG": None})
    assert code == 3
    assert err.count("\n") == 1 and "unexpected KeyError" in err and "--debug" in err
    assert "Traceback" not in err and KEY not in err and out == ""


@pytest.mark.parametrize("how", ["option", "environment"])
def test_debug_shows_the_traceback_redacted(a_bug: list[str], how: str) -> None:
    args = ["--debug", *a_bug] if how == "option" else a_bug
    code, _, err = run(args, {"FLEETSCAN_DEBUG": "1" if how == "environment" else None})
    assert code == 3
    assert "Traceback (most recent call last)" in err and "def broken" not in err
    assert "in broken" in err and KEY not in err


@pytest.mark.parametrize(
    "args",
    [
        ["nosuch"],
        ["fleet", "--bogus"],
        ["fleet", "--metric", "t", "--no-state", "--endpoint", "ftp://x"],
        ["fleet", "--metric", "t", "--window", "0", "--no-state"],
        ["replay", "--metric", "t", "--from", "2026-06-01T00:00:00Z", "--endpoint", "nope"],
        ["device", "--once"],
        ["device", "--source", "a", "--metric", "t", "--once", "--endpoint", "nope"],
        ["device", "--threshold", "x"],
        ["monitor", "create", "--metric", "t", "--max", "3"],
        ["monitor", "list", "--endpoint", "nope"],
        ["monitor", "nosuch"],
        ["sandbox", "--port", "x"],
        ["demo", "--bogus"],
    ],
)
def test_usage_errors_exit_64_in_every_command(args: list[str]) -> None:
    code, _, err = run(args, {"PLEXUS_API_KEY": KEY})
    assert code == 64, err


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_no_bool_type_after_flags(command: str) -> None:
    code, out, _ = run([*command.split(), "--help"])
    assert code == 0 and "<bool>" not in out


def test_monitor_delete_help_says_delete() -> None:
    _, out, _ = run(["monitor", "delete", "--help"])
    assert "deletes their monitors" in " ".join(out.split())


def test_device_help_says_source_and_metric_are_needed() -> None:
    _, out, _ = run(["device", "--help"])
    assert " ".join(out.split()).count("Needed") >= 2


def test_plexus_python_banners_do_not_leak(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.insert(readings())
    with StandIn(lambda _: Reply(401, b'{"error":"invalid API key"}')) as gateway:
        env: dict[str, str | None] = {
            **env_for(sandbox, tmp_path, gateway_url=gateway.url),
            "PLEXUS_QUIET": None,
        }
        at = iso_z(SWEEP_TIMES[0])
        args = ["fleet", *SCORING, "--no-state", "--baseline", "0", "--at", at]
        code, _, err = run(args, env)
    assert len(gateway.requests) == 1  # it did post, and was refused
    assert "[plexus]" not in err and "app.plexus.company" not in err
    assert code == 3 and "refused the key" in err
