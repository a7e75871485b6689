"""`fleetscan silence add|list|remove`: boards under maintenance, kept in the sweep state.

A silenced series is still scored and shown by `fleetscan fleet`, but never alerts: fleet_z is
0, fleet_status is -4, no event is posted, the exit code ignores it (see `fleetscan.silences`).
Silences expire by themselves; `--from` schedules one ahead (a maintenance window).
Exit codes: 0 done, 1 nothing matched (`remove`), 3 the state could not be read or written,
64 usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleetscan import silence_store
from fleetscan.commands.common import ExitCode, fail, note
from fleetscan.commands.fleet import default_state_path
from fleetscan.errors import FleetscanError, InputError
from fleetscan.silences import Silence
from fleetscan.state import open_state
from fleetscan.timeutil import iso_z, now_ms, parse_duration_ms, parse_timestamp_ms

silence_app = typer.Typer(
    help="Silence boards under maintenance: scored and shown, never paged.", no_args_is_help=True
)

StateOption = Annotated[
    Path | None,
    typer.Option(
        "--state",
        envvar="FLEETSCAN_STATE",
        show_envvar=True,
        help="The sweep state the silences live in (the one `fleetscan fleet` uses).",
    ),
]
AtOption = Annotated[
    str | None,
    typer.Option("--at", help="Judge expiry as of this time instead of now."),
]


def _time(text: str | None, option: str) -> int:
    if text is None:
        return now_ms()
    try:
        return parse_timestamp_ms(text)
    except (FleetscanError, ValueError) as exc:
        fail(f"{option}: {exc}", code=ExitCode.USAGE)


@silence_app.command("add")
def add(
    source: Annotated[str, typer.Option("--source", help="The board to silence.")],
    duration: Annotated[str, typer.Option("--for", help="How long, e.g. 4h or 2d.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (shown with every verdict).")],
    metric: Annotated[
        str | None, typer.Option("--metric", help="Only this metric (default: all of them).")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Start later (a maintenance window); default now.")
    ] = None,
    state: StateOption = None,
) -> None:
    """Silence a board (or one metric of it) for a while."""
    began = _time(start, "--from")
    try:
        length = parse_duration_ms(duration)
        silence = Silence(
            source_id=source,
            metric=metric,
            start_ms=began,
            until_ms=began + length,
            reason=reason.strip(),
        )
        if not silence.reason:
            raise InputError("--reason must say why")
    except (FleetscanError, ValueError) as exc:
        fail(str(exc), code=ExitCode.USAGE)
    path = state or default_state_path()
    try:
        with open_state(path) as store:
            ident = silence_store.add(
                store.connection, silence, now_ms=now_ms(), last_sweep_ms=store.last_sweep_ms()
            )
    except FleetscanError as exc:
        fail(str(exc), code=ExitCode.UNKNOWN)
    typer.echo(f"silence {ident}: {silence.what} {silence.describe(began)}")


@silence_app.command("list")
def list_(
    state: StateOption = None,
    at: AtOption = None,
    every: Annotated[bool, typer.Option("--all", help="Include expired silences.")] = False,
) -> None:
    """List the silences (active and scheduled; --all: expired ones too)."""
    when = _time(at, "--at")
    path = state or default_state_path()
    try:
        with open_state(path) as store:
            found = silence_store.stored(store.connection)
    except FleetscanError as exc:
        fail(str(exc), code=ExitCode.UNKNOWN)
    shown = [s for s in found if every or s.until_ms is None or s.until_ms > when]
    for s in shown:
        status = "active" if s.active(when) else ("scheduled" if when < s.start_ms else "expired")
        until = iso_z(s.until_ms) if s.until_ms is not None else "-"
        typer.echo(
            f"{s.id}  {s.source_id}  {s.metric or '*'}  {iso_z(s.start_ms)}  {until}  "
            f"{status}  {s.reason}"
        )
    note(f"{len(shown)} silence{'s' if len(shown) != 1 else ''}")


@silence_app.command("remove")
def remove(
    ids: Annotated[list[int], typer.Argument(help="Silence ids (from `silence list`).")],
    state: StateOption = None,
) -> None:
    """Remove silences by id: their boards page again from the next sweep."""
    path = state or default_state_path()
    try:
        with open_state(path) as store:
            removed = silence_store.remove(store.connection, ids)
    except FleetscanError as exc:
        fail(str(exc), code=ExitCode.UNKNOWN)
    typer.echo(f"removed {removed} silence{'s' if removed != 1 else ''}")
    if removed < len(set(ids)):
        raise typer.Exit(ExitCode.WARNING)


def register(app: typer.Typer) -> None:
    app.add_typer(silence_app, name="silence")
