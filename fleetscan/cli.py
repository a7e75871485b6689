"""The `fleetscan` command line: a thin typer shell over the library (commands in fleetscan/commands).

Commands are imported only when they run: `fleetscan fleet --input FILE` loads neither httpx
nor the sandbox, the simulator or the device detectors, and `fleetscan --help` lists the
commands from the summaries below without importing any of them.

Exit codes every command shares (`commands.common.ExitCode`, the monitoring-plugin convention;
`commands.sweep_cli.exit_code` says what 0-2 mean in a sweep):

- 3 (UNKNOWN): anything unexpected, with one line on stderr. `--debug` (or FLEETSCAN_DEBUG=1)
  prints the traceback too (redacted). Python's own exit code for a crash is 1, which monitoring
  reads as WARNING: a bug must never look like "an alert is open".
- 64 (EX_USAGE): every command-line usage error (click's would exit 2, which reads as CRITICAL).
"""

from __future__ import annotations

import importlib
import os
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from fleetscan.commands.common import ExitCode
from fleetscan.errors import redact

# name: (module, the one-line summary `fleetscan --help` shows)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "fleetscan.commands.demo",
        "Run fleetscan end to end on a simulated 50-board fleet: no account, no network.",
    ),
    "device": (
        "fleetscan.commands.device",
        "Score each new reading of a stream and post `<metric>.zscore` after N anomalies in a row.",
    ),
    "fleet": (
        "fleetscan.commands.fleet",
        "Compare every source of each metric with its peers and post <metric>.fleet_z.",
    ),
    "replay": (
        "fleetscan.commands.replay",
        "Replay cron sweeps over stored history (same logic as `fleet` with state; posts nothing).",
    ),
    "plot": (
        "fleetscan.commands.pictures",
        "Draw a board's readings against its peers' median and robust band, alerts shaded.",
    ),
    "report": (
        "fleetscan.commands.pictures",
        "Write one self-contained HTML page: the findings, a chart per finding, the fleet at a "
        "glance.",
    ),
    "monitor": ("fleetscan.commands.monitor", "Create, list and delete Plexus threshold monitors."),
    "silence": (
        "fleetscan.commands.silence",
        "Silence boards under maintenance: scored and shown, never paged.",
    ),
    "sandbox": (
        "fleetscan.commands.sandbox",
        "Run a local Plexus stand-in (telemetry, monitors, ingest, alerts) until Ctrl+C.",
    ),
    "config": ("fleetscan.commands.configuration", "Check a fleetscan.toml."),
}

# Click's exception types, found through typer's public BadParameter (typer vendors click in newer
# releases and depends on it in older ones).
_CLICK_EXCEPTION: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)
_USAGE_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)
_DEBUG = "fleetscan.debug"


class FleetscanGroup(TyperGroup):
    """The root group. A command's module is imported only when that command is asked for;
    usage errors exit 64 and unexpected exceptions exit 3, in every command; flags show no
    `<bool>` type in `--help` (typer 0.29 prints one after every flag)."""

    _listing = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._built: dict[str, Any] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module_name, summary = spec
        if self._listing:  # the top-level help only needs the summary
            return TyperCommand(name=cmd_name, help=summary)
        if cmd_name not in self._built:
            holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
            importlib.import_module(module_name).register(holder)
            built = typer.main.get_command(holder)
            if isinstance(built, TyperGroup):
                built = built.commands[cmd_name]
            built.name = cmd_name
            _hide_flag_types(built)
            self._built[cmd_name] = built
        return self._built[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def main(self, *args: Any, **kwargs: Any) -> Any:
        _hide_flag_types(self)
        return super().main(*args, **kwargs)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except _USAGE_ERROR as exc:
            exc.exit_code = ExitCode.USAGE  # type: ignore[attr-defined]
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _USAGE_ERROR as exc:
            exc.exit_code = ExitCode.USAGE  # type: ignore[attr-defined]
            raise
        except (_CLICK_EXCEPTION, typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # a bug, or an input nobody foresaw: UNKNOWN, one line
            debug = ctx.meta.get(_DEBUG) or _env_debug()
            if debug:
                typer.echo(redact(traceback.format_exc()).rstrip(), err=True)
            hint = "" if debug else " (run with --debug for the traceback)"
            what = redact(str(exc)).splitlines()[0][:300] if str(exc) else ""
            typer.echo(
                f"fleetscan: error: unexpected {type(exc).__name__}"
                f"{': ' + what if what else ''}{hint}",
                err=True,
            )
            raise typer.Exit(code=ExitCode.UNKNOWN) from None


def _hide_flag_types(command: Any) -> None:
    help_option = command.get_help_option(typer.Context(command))  # made once, then cached
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _hide_flag_types(sub)


def _env_debug() -> bool:
    return os.environ.get("FLEETSCAN_DEBUG", "").strip().lower() in ("1", "true", "yes")


app = typer.Typer(
    name="fleetscan",
    cls=FleetscanGroup,
    no_args_is_help=True,
    add_completion=True,  # `fleetscan --install-completion` (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="FLEETSCAN_DEBUG",
            show_envvar=True,
            help="On an unexpected error, print the traceback (the API key redacted).",
        ),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="FLEETSCAN_CONFIG",
            show_envvar=True,
            help="fleetscan.toml with the options of your sweeps (flags and environment win).",
        ),
    ] = None,
) -> None:
    """Explainable anomaly detection for IoT sensor fleets on Plexus."""
    ctx.meta[_DEBUG] = debug
    # plexus-python's stderr banners name plexus.company hosts whatever gateway is configured, and
    # repeat what fleetscan says itself in one line.
    os.environ.setdefault("PLEXUS_QUIET", "1")
    ctx.obj = None
    if config is not None:
        from fleetscan.commands.configuration import load_config

        load_config(ctx, config)


def main() -> None:
    """Entry point for the `fleetscan` script and `python -m fleetscan`."""
    app()
