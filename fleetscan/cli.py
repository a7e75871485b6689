"""The `fleetscan` command line: a thin typer shell over the library (commands in fleetscan/commands)."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="fleetscan",
    help="Explainable anomaly detection for IoT sensor fleets on Plexus.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES = ("device", "fleet", "sandbox", "demo", "monitor", "replay")

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"fleetscan.commands.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"fleetscan.commands.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    """Entry point for the `fleetscan` script and `python -m fleetscan`."""
    app()
