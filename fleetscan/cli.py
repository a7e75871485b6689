"""The `fleetscan` command line: a thin typer shell over the library (commands in fleetscan/commands).

Commands are imported only when they run: `fleetscan fleet --input FILE` loads neither httpx
nor the sandbox, the simulator or the device detectors, and `fleetscan --help` lists the
commands from the summaries below without importing any of them.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

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
    "sandbox": (
        "fleetscan.commands.sandbox",
        "Run a local Plexus stand-in (telemetry, monitors, ingest, alerts) until Ctrl+C.",
    ),
    "monitor": ("fleetscan.commands.monitor", "Create, list and delete Plexus threshold monitors."),
}


class LazyCommands(TyperGroup):
    """A command group that imports a command's module only when that command is asked for."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module_name, summary = spec
        if self._listing:  # the top-level help only needs the summary
            return TyperCommand(name=cmd_name, help=summary)
        holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        importlib.import_module(module_name).register(holder)
        built = typer.main.get_command(holder)
        if isinstance(built, TyperGroup):
            built = built.commands[cmd_name]
        built.name = cmd_name
        return built

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="fleetscan",
    cls=LazyCommands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _fleetscan() -> None:
    """Explainable anomaly detection for IoT sensor fleets on Plexus."""


def main() -> None:
    """Entry point for the `fleetscan` script and `python -m fleetscan`."""
    app()
