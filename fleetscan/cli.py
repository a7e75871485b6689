"""The `fleetscan` command line: a thin typer shell over the library (commands in fleetscan/commands)."""

from __future__ import annotations

import typer

from fleetscan.commands import (
    configuration,
    demo,
    device,
    fleet,
    monitor,
    pictures,
    replay,
    sandbox,
    silence,
)

app = typer.Typer(
    name="fleetscan",
    help="Explainable anomaly detection for IoT sensor fleets on Plexus.",
    no_args_is_help=True,
    add_completion=True,  # `fleetscan --install-completion` (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
)

for _command in (demo, device, fleet, replay, pictures, monitor, silence, sandbox, configuration):
    _command.register(app)


def main() -> None:
    """Entry point for the `fleetscan` script and `python -m fleetscan`."""
    app()
