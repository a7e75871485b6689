"""`fleetscan monitor create|list|delete`: the tutorial's monitor curl, idempotent, for a whole fleet."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetscan.client import PlexusClient
from fleetscan.commands.common import ExitCode, OutputFormat, code_for, emit_json, fail, note
from fleetscan.config import ApiKeyOption, EndpointOption, resolve
from fleetscan.errors import FleetscanError
from fleetscan.monitors import (
    Outcome,
    Threshold,
    create_all,
    delete_all,
    fleet_sources,
    watched_series,
)
from fleetscan.timeutil import now_ms, parse_duration_ms

monitor_app = typer.Typer(
    help="Create, list and delete Plexus threshold monitors.", no_args_is_help=True
)

SourceOption = Annotated[list[str] | None, typer.Option("--source", help="Source id; repeatable.")]
AllSourcesOption = Annotated[
    bool,
    typer.Option("--all-sources", help="Every source that sent --metric within --window."),
]
WatchOption = Annotated[
    str | None,
    typer.Option(
        "--watch",
        help="Which series of --metric the monitors watch: fleet_z (default), fleet_status, "
        "zscore or raw; the same for --source and --all-sources. A --metric that already ends "
        "in .fleet_z/.fleet_status/.zscore is watched as it is.",
    ),
]
DeleteAllSourcesOption = Annotated[
    bool,
    typer.Option(
        "--all-sources",
        help="Every source that sent --metric within --window: deletes their monitors on "
        "<metric>.fleet_z.",
    ),
]
WindowOption = Annotated[str, typer.Option(help="How far back --all-sources looks for sources.")]
DEFAULT_MESSAGE = (
    "fleetscan: {metric} on this board is off its peers; the reason is in its fleetscan.alert event"
)


def _client(endpoint: str, api_key: str) -> PlexusClient:
    settings = resolve(endpoint, "", api_key)
    return PlexusClient(endpoint=settings.endpoint, api_key=settings.require_key())


def _sources(
    client: PlexusClient, source: list[str] | None, all_sources: bool, metric: str, window: str
) -> list[str]:
    """The sources to act on: `--source`s, or every source that sent `metric` in `--window`."""
    if all_sources:
        now = now_ms()
        sources = fleet_sources(client, metric, from_ms=now - parse_duration_ms(window), to_ms=now)
        if not sources:
            fail(
                f"no source sent {metric!r} in the last {window}: nothing to monitor",
                code=ExitCode.WARNING,
            )
        return sources
    if not source:
        fail("give --source (repeatable) or --all-sources", code=ExitCode.USAGE)
    return source


def _report(outcomes: list[Outcome], verb: str) -> None:
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        note(f"{o.source_id} {o.metric}: {o.detail}")
    typer.echo(f"{verb} {len(outcomes) - len(failed)} monitor(s), {len(failed)} failed")
    if failed:
        raise typer.Exit(code=ExitCode.WARNING)


@monitor_app.command("create")
def create(
    metric: Annotated[
        str, typer.Option(help="Sensor metric, e.g. temperature (the series: see --watch).")
    ],
    source: SourceOption = None,
    all_sources: AllSourcesOption = False,
    watch: WatchOption = None,
    max_: Annotated[float | None, typer.Option("--max", help="Fire above this value.")] = None,
    min_: Annotated[float | None, typer.Option("--min", help="Fire below this value.")] = None,
    severity: Annotated[str, typer.Option(help="info, warning or critical.")] = "warning",
    message: Annotated[
        str | None,
        typer.Option(help="The alert's message (default: says where fleetscan's reason is)."),
    ] = None,
    notification_target: Annotated[
        list[str] | None,
        typer.Option(
            "--notification-target",
            help="Plexus notification target id (UUID) to notify; repeatable (default: the "
            "org's default fan-out).",
        ),
    ] = None,
    window: WindowOption = "1h",
    endpoint: EndpointOption = "",
    api_key: ApiKeyOption = "",
) -> None:
    """Create (or update: Plexus upserts by source and metric) threshold monitors.

    Prints which series the monitors watch: by default <metric>.fleet_z, the score fleetscan
    fleet posts, for one --source as for --all-sources.
    """
    try:
        series, sensor_metric, meaning = watched_series(metric, watch)
        text = message if message is not None else DEFAULT_MESSAGE.format(metric=sensor_metric)
        threshold = Threshold(
            max=max_,
            min=min_,
            severity=severity,
            message=text,
            notification_targets=tuple(notification_target or ()),
        )
        with _client(endpoint, api_key) as client:
            sources = _sources(client, source, all_sources, sensor_metric, window)
            bounds = " and ".join(
                f"{side} {value:g}"
                for side, value in (("above", max_), ("below", min_))
                if value is not None
            )
            targets = f", notifying {len(threshold.notification_targets)} target(s)"
            typer.echo(
                f"watching {series} ({meaning}) on {len(sources)} source(s): fires {bounds} "
                f"({severity}){targets if threshold.notification_targets else ''}; "
                f"message: {text}"
            )
            outcomes = create_all(client, sources, series, threshold)
    except FleetscanError as exc:
        fail(str(exc), code=code_for(exc, ExitCode.WARNING))
    _report(outcomes, "created")


@monitor_app.command("list")
def list_(
    output: Annotated[
        OutputFormat, typer.Option("--format", help="text or jsonl.")
    ] = OutputFormat.text,
    endpoint: EndpointOption = "",
    api_key: ApiKeyOption = "",
) -> None:
    """List the org's monitors."""
    try:
        with _client(endpoint, api_key) as client:
            monitors = client.list_monitors()
    except FleetscanError as exc:
        fail(str(exc), code=code_for(exc, ExitCode.WARNING))
    for m in monitors:
        if output is OutputFormat.jsonl:
            emit_json(m)
            continue
        threshold = m.get("threshold") or {}
        bounds = " ".join(
            f"{k}={threshold[k]}" for k in ("min", "max") if threshold.get(k) is not None
        )
        typer.echo(
            f"{m.get('source_slug', m.get('source_id', '?'))}  {m.get('metric') or '(offline)'}  "
            f"{bounds or '-'}  {threshold.get('severity', '')}  {m.get('type', '')}"
        )
    if output is OutputFormat.text:
        note(f"{len(monitors)} monitor(s)")


@monitor_app.command("delete")
def delete(
    metric: Annotated[str, typer.Option(help="Sensor metric of the monitors (see --watch).")],
    source: SourceOption = None,
    all_sources: DeleteAllSourcesOption = False,
    watch: WatchOption = None,
    window: WindowOption = "1h",
    endpoint: EndpointOption = "",
    api_key: ApiKeyOption = "",
) -> None:
    """Delete threshold monitors (Plexus closes any alert they held open)."""
    try:
        series, sensor_metric, _meaning = watched_series(metric, watch)
        with _client(endpoint, api_key) as client:
            sources = _sources(client, source, all_sources, sensor_metric, window)
            outcomes = delete_all(client, sources, series)
    except FleetscanError as exc:
        fail(str(exc), code=code_for(exc, ExitCode.WARNING))
    _report(outcomes, f"deleted ({series})")


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")
