"""`fleetscan fleet`: compare every source of a metric with its peers, explain, and post fleet_z.

Exit codes: 0 the sweep ran (alerts are output, not errors); 1 Plexus or the gateway failed
(undelivered points are kept in `--outbox` when given); 2 bad options, input or configuration.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from fleetscan.client import PlexusClient
from fleetscan.commands.common import OutputFormat, emit_json, fail, note
from fleetscan.config import ApiKeyOption, EndpointOption, GatewayOption, resolve
from fleetscan.emitter import Emitter, Point
from fleetscan.errors import FleetscanError, InputError
from fleetscan.fleet import (
    BatchBuilder,
    FleetResult,
    Status,
    SweepOptions,
    fleet_points,
    learn_baseline,
    render,
    run_sweep,
)
from fleetscan.fleet.fetch import fetch_baseline, fetch_window
from fleetscan.inputs import read_rows
from fleetscan.timeutil import now_ms, parse_duration_ms, parse_timestamp_ms

NO_BASELINE = ("0", "off", "none", "no")
DEFAULT_SPAN_MS = SweepOptions().baseline_span_ms


def fleet(
    metric: Annotated[
        list[str], typer.Option("--metric", help="Metric to compare across sources; repeatable.")
    ],
    window: Annotated[
        str, typer.Option(help="Recent window each source is summarised over (median).")
    ] = "10m",
    baseline: Annotated[
        str,
        typer.Option(
            help="History to learn each source's usual offset from its peers "
            "(e.g. 7d); 0 to compare snapshots only."
        ),
    ] = "7d",
    baseline_sample: Annotated[
        str,
        typer.Option(help="Live runs fetch this much at the end of every baseline hour."),
    ] = "2m",
    group_by: Annotated[
        list[str] | None,
        typer.Option(
            "--group-by",
            help="Tag whose value defines cohorts (room, site); "
            "repeatable. Boards are compared only within a cohort.",
        ),
    ] = None,
    min_peers: Annotated[
        int, typer.Option(min=1, help="Peers needed to compare; fewer gives insufficient_peers.")
    ] = 5,
    min_scale: Annotated[
        list[str] | None,
        typer.Option(
            "--min-scale",
            help="Smallest scale z divides by, in metric units: 0.2 for all metrics or "
            "humidity=1.0. Default: with a baseline the BME280 noise floor (0.1 °C, 0.5 %RH, "
            "0.1 hPa); for snapshots its unit-to-unit accuracy (0.5, 1.5, 0.5).",
        ),
    ] = None,
    threshold: Annotated[float, typer.Option(help="|z| above which a source alerts.")] = 3.0,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="Plexus rows from a JSON-lines or CSV file (offline, nothing is posted).",
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="With --input: sweep as of this time, using only rows up to it "
            "(default: as of the newest reading)."
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="text (a table) or jsonl.")
    ] = OutputFormat.text,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Post nothing.")] = False,
    outbox: Annotated[
        Path | None,
        typer.Option(help="File keeping points the gateway did not take; sent first next run."),
    ] = None,
    endpoint: EndpointOption = "",
    gateway_url: GatewayOption = "",
    api_key: ApiKeyOption = "",
) -> None:
    """Compare every source of each metric with its peers and post <metric>.fleet_z.

    Statuses: ok, anomalous, drifting, stuck, noisy, invalid, stale (alerting); outage, no_data,
    insufficient_peers (not alerting). fleet_z is |z| for anomalous/drifting and at least
    threshold + 1 for the other alerting statuses, else 0, so a Plexus monitor with max 3.0 on
    <metric>.fleet_z fires for all of them.
    """
    use_baseline = baseline.strip().lower() not in NO_BASELINE
    try:
        options = SweepOptions(
            window_ms=parse_duration_ms(window),
            threshold=threshold,
            min_peers=min_peers,
            min_scale=_min_scales(min_scale or []),
            group_by=tuple(group_by or ()),
            baseline_span_ms=parse_duration_ms(baseline) if use_baseline else DEFAULT_SPAN_MS,
        )
        if at is not None and input_file is None:
            raise InputError("--at needs --input: live sweeps run as of now")
        if input_file is not None:
            results = _offline(input_file, metric, at, options, use_baseline)
            _show(results, output)
            return
        settings = resolve(endpoint, gateway_url, api_key)
        key = settings.require_key()
        sample_ms = parse_duration_ms(baseline_sample)
    except (FleetscanError, ValueError) as exc:
        fail(str(exc), code=2)
    try:
        now = now_ms()
        with PlexusClient(endpoint=settings.endpoint, api_key=key) as client:
            batches, skipped = fetch_window(client, metric, now_ms=now, options=options)
            learned = (
                fetch_baseline(client, metric, now_ms=now, options=options, sample_ms=sample_ms)
                if use_baseline
                else {}
            )
        results, _ = run_sweep(batches, learned, now_ms=now, options=options)
        if skipped:
            note(skipped)
        _show(results, output)
        _post(results, key, settings.gateway_url, dry_run=dry_run, outbox=outbox)
    except FleetscanError as exc:
        fail(str(exc), code=1)


def _offline(
    path: Path, metrics: Sequence[str], at: str | None, options: SweepOptions, use_baseline: bool
) -> tuple[FleetResult, ...]:
    """The same sweep over a file, as of `--at` with only the rows up to it.

    Without `--at` the sweep runs as of the newest reading not stamped in the future, and every
    row counts: rows stamped after it (a device clock fault) and rows `parse_rows` skipped (NaN or
    null values, whose times are lost) are reported as invalid.
    """
    parsed = read_rows(path)
    if at is not None:
        sweep_at = parse_timestamp_ms(at)
    else:
        wall = now_ms()
        sweep_at = max((r.ts_ms for r in parsed.readings if r.ts_ms <= wall), default=wall)
    builder = BatchBuilder(metrics, group_by=options.group_by)
    builder.add(r for r in parsed.readings if at is None or r.ts_ms <= sweep_at)
    if at is None:
        builder.add_dropped(parsed.skipped_by_series)
    elif parsed.skipped:
        note(f"{parsed.skipped_summary()} (their times are unknown, so --at does not count them)")
    batches = builder.build()
    learned = (
        {m: learn_baseline(b, now_ms=sweep_at, options=options) for m, b in batches.items()}
        if use_baseline
        else {}
    )
    results, _ = run_sweep(batches, learned, now_ms=sweep_at, options=options)
    if at is None and parsed.skipped:
        note(parsed.skipped_summary())
    return results


def _show(results: Sequence[FleetResult], output: OutputFormat) -> None:
    ordered = render.order(results)
    if output is OutputFormat.jsonl:
        for r in ordered:
            emit_json(r.to_record())
    elif results:
        typer.echo(render.table(ordered))
    note(render.summary(results))
    silent = sum(r.status is Status.OUTAGE for r in results)
    if silent:
        note(
            f"{silent} series silent together: a gateway or network outage, or Plexus answered "
            "an empty page (it does when ClickHouse times out); not reported as board alerts"
        )


def _post(
    results: Sequence[FleetResult],
    key: str,
    gateway_url: str,
    *,
    dry_run: bool,
    outbox: Path | None,
) -> None:
    """Post fleet_z/fleet_dev for every result, after anything left in the outbox."""
    pending = _load_outbox(outbox) if outbox is not None and not dry_run else []
    points = pending + fleet_points(results)
    with Emitter(api_key=key, gateway_url=gateway_url, dry_run=dry_run) as emitter:
        sent = emitter.send(points)
    if dry_run:
        note(f"dry run: {len(points)} points not posted")
        return
    if outbox is not None:
        _save_outbox(outbox, sent.undelivered)
    if sent.rejected:
        note(f"the gateway rejected {sent.rejected} points: {sent.error}")
    if sent.undelivered:
        kept = (
            f"kept in {outbox}" if outbox is not None else "lost: pass --outbox FILE to keep them"
        )
        fail(f"{len(sent.undelivered)} points not delivered ({kept}): {sent.error}", code=1)
    note(
        f"posted {sent.delivered} points" + (f" ({len(pending)} from {outbox})" if pending else "")
    )


def _load_outbox(path: Path) -> list[Point]:
    if not path.exists():
        return []
    points = []
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                points.append(
                    Point(
                        d["source_id"],
                        d["metric"],
                        float(d["value"]),
                        int(d["ts_ms"]),
                        d.get("tags") or {},
                    )
                )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read outbox {path}: {exc}") from None
    return points


def _save_outbox(path: Path, points: Sequence[Point]) -> None:
    lines = [
        json.dumps(
            {
                "source_id": p.source_id,
                "metric": p.metric,
                "value": p.value,
                "ts_ms": p.ts_ms,
                "tags": dict(p.tags),
            }
        )
        for p in points
    ]
    try:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise InputError(f"cannot write outbox {path}: {exc}") from None


def _min_scales(items: Sequence[str]) -> dict[str, float]:
    """`["0.2", "humidity=1"]` → `{"": 0.2, "humidity": 1.0}`."""
    scales: dict[str, float] = {}
    for item in items:
        name, _, number = item.rpartition("=")
        try:
            scales[name.strip()] = float(number)
        except ValueError:
            raise InputError(f"--min-scale {item!r}: use a number or METRIC=NUMBER") from None
    return scales


def register(app: typer.Typer) -> None:
    app.command("fleet")(fleet)
