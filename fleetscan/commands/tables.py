"""The fleet table for people: on a terminal, rich's table that fits its width with statuses in
colour; anywhere else (cron, pipes, files) the plain aligned text of `sweeps.render.table`."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from fleetscan.fleet.status import Status
from fleetscan.sweeps import render
from fleetscan.sweeps.step import SeriesVerdict

WIDE_COLUMNS = 140  # below this many terminal columns, NARROW_DROPS are left out
NARROW_DROPS = frozenset({"SCALE", "OFFSET", "USUAL"})
REASON_MIN = 24

COLOURS = {
    Status.OK: "green",
    Status.ANOMALOUS: "bold red",
    Status.DRIFTING: "bold red",
    Status.STUCK: "bold magenta",
    Status.NOISY: "yellow",
    Status.INVALID: "bold red",
    Status.STALE: "bold yellow",
    Status.OUTAGE: "cyan",
    Status.NO_DATA: "dim",
    Status.INSUFFICIENT_PEERS: "dim",
}


def echo_table(verdicts: Sequence[SeriesVerdict]) -> None:
    """Print the table: rich on a terminal (fits its width, colour), plain text otherwise."""
    if not sys.stdout.isatty():
        typer.echo(render.table(verdicts))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    # On a narrow terminal the columns the reason already spells out go first.
    dropped = NARROW_DROPS if console.width < WIDE_COLUMNS else frozenset()
    table = Table(box=None, header_style="bold", pad_edge=False)
    numeric = {"VALUE", "MEDIAN", "SCALE", "Z", "OFFSET", "USUAL", "PEERS"}
    kept = [i for i, name in enumerate(render.COLUMNS) if name not in dropped]
    for i in kept:
        name = render.COLUMNS[i]
        table.add_column(
            name,
            justify="right" if name in numeric else "left",
            no_wrap=name != "REASON",
            overflow="fold" if name == "REASON" else "ellipsis",
            min_width=REASON_MIN if name == "REASON" else None,
        )
    plain = render.table(verdicts).splitlines()[1:]
    for r, line in zip((v.result for v in render.ordered(verdicts)), plain, strict=True):
        cells = line.split(None, len(render.COLUMNS) - 1)
        status = r.status.value
        styled = [f"[{COLOURS[r.status]}]{status}[/]" if c == status else c for c in cells]
        table.add_row(*_escape([styled[i] for i in kept], status))
    console.print(table)


def _escape(cells: list[str], status: str) -> list[str]:
    """Cells as rich markup: brackets in data are escaped, the coloured status is kept."""
    from rich.markup import escape

    return [c if c.endswith("[/]") and status in c else escape(c) for c in cells]
