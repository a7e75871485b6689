"""`fleetscan demo`: the product end to end against an in-process sandbox (see fleetscan/demo.py)."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from fleetscan.commands.common import fail
from fleetscan.demo import run_demo
from fleetscan.errors import FleetscanError
from fleetscan.timeutil import now_ms, parse_timestamp_ms


def demo(
    boards: Annotated[int, typer.Option(min=10, max=500, help="Simulated boards.")] = 50,
    hours: Annotated[float, typer.Option(min=6.0, max=48.0, help="Hours of history.")] = 6.0,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Run the demo as of this moment (ISO 8601 or epoch ms; default: now). "
            "The simulated weather and days follow the clock, so this replays one exactly.",
        ),
    ] = None,
) -> None:
    """Run fleetscan end to end on a simulated 50-board fleet: no account, no network."""
    os.environ.setdefault("PLEXUS_QUIET", "1")  # plexus-python's status lines are not the demo
    logging.getLogger("plexus").setLevel(logging.CRITICAL)
    try:
        as_of = parse_timestamp_ms(at) if at is not None else now_ms()
        report = run_demo(boards=boards, hours=hours, now_ms=as_of, say=typer.echo)
    except FleetscanError as exc:
        fail(str(exc))
    if not report.caught:
        fail("the demo found none of the injected faults")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
