"""`fleetscan monitor create|list|delete`: the tutorial's monitor curl, idempotent, for a whole fleet."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetscan.client import PlexusClient
from fleetscan.commands.common import EXIT_USAGE, OutputFormat, code_for, emit_json, fail, note
from fleetscan.config import ApiKeyOption, EndpointOption, resolve
from fleetscan.errors import FleetscanError
from fleetscan.monitors import Outcome, Threshold, create_all, delete_all, fleet_sources
from fleetscan.timeutil import now_ms, parse_duration_ms

monitor_app = typer.Typer(
    help="Create, list and delete Plexus threshold monitors.", no_args_is_help=True
)

SourceOption = Annotated[list[str] | None, typer.Option("--source", help="Source id; repeatable.")]
AllSourcesOption = Annotated[
    bool,
    typer.Option(
        "--all-sources",
        help="Every source that sent --metric within --window; the monitor goes on <metric>.fleet_z.",
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


def _client(endpoint: str, api_key: str) -> PlexusClient:
    settings = resolve(endpoint, "", api_key)
    return PlexusClient(endpoint=settings.endpoint, api_key=settings.require_key())


def _targets(
    client: PlexusClient, source: list[str] | None, all_sources: bool, metric: str, window: str
) -> tuple[list[str], str]:
    """(sources, monitored metric): `--all-sources` monitors `<metric>.fleet_z` fleet-wide."""
    if all_sources:
        now = now_ms()
        sources = fleet_sources(client, metric, from_ms=now - parse_duration_ms(window), to_ms=now)
        if not sources:
            fail(f"no source sent {metric!r} in the last {window}: nothing to monitor", code=1)
        target = metric if metric.endswith(".fleet_z") else f"{metric}.fleet_z"
        return sources, target
    if not source:
        fail("give --source (repeatable) or --all-sources", code=EXIT_USAGE)
    return source, metric


def _report(outcomes: list[Outcome], verb: str) -> None:
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        note(f"{o.source_id} {o.metric}: {o.detail}")
    typer.echo(f"{verb} {len(outcomes) - len(failed)} monitor(s), {len(failed)} failed")
    if failed:
        raise typer.Exit(code=1)


@monitor_app.command("create")
def create(
    metric: Annotated[
        str, typer.Option(help="Metric the monitor watches, e.g. temperature.zscore.")
    ],
    source: SourceOption = None,
    all_sources: AllSourcesOption = False,
    max_: Annotated[float | None, typer.Option("--max", help="Fire above this value.")] = None,
    min_: Annotated[float | None, typer.Option("--min", help="Fire below this value.")] = None,
    severity: Annotated[str, typer.Option(help="info, warning or critical.")] = "warning",
    message: Annotated[str | None, typer.Option(help="Alert message.")] = None,
    window: WindowOption = "1h",
    endpoint: EndpointOption = "",
    api_key: ApiKeyOption = "",
) -> None:
    """Create (or update: Plexus upserts by source and metric) threshold monitors."""
    try:
        threshold = Threshold(max=max_, min=min_, severity=severity, message=message)
        with _client(endpoint, api_key) as client:
            sources, target = _targets(client, source, all_sources, metric, window)
            outcomes = create_all(client, sources, target, threshold)
    except FleetscanError as exc:
        fail(str(exc), code=code_for(exc, 1))
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
        fail(str(exc), code=code_for(exc, 1))
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
    metric: Annotated[str, typer.Option(help="Metric of the monitors to delete.")],
    source: SourceOption = None,
    all_sources: DeleteAllSourcesOption = False,
    window: WindowOption = "1h",
    endpoint: EndpointOption = "",
    api_key: ApiKeyOption = "",
) -> None:
    """Delete threshold monitors (Plexus closes any alert they held open)."""
    try:
        with _client(endpoint, api_key) as client:
            sources, target = _targets(client, source, all_sources, metric, window)
            outcomes = delete_all(client, sources, target)
    except FleetscanError as exc:
        fail(str(exc), code=code_for(exc, 1))
    _report(outcomes, "deleted")


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")
