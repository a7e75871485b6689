"""`fleetscan device`: score each new reading of one or more streams and post `<metric>.zscore`."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from fleetscan.client import PlexusClient
from fleetscan.commands.common import (
    ExitCode,
    OutputFormat,
    code_for,
    emit_json,
    fail,
    note,
    stop_on_signals,
)
from fleetscan.config import ApiKeyOption, EndpointOption, GatewayOption, resolve
from fleetscan.detectors import METHODS, DetectorOptions, make_detector
from fleetscan.detectors.options import parse_span, parse_window
from fleetscan.device import BatchRunner, DeviceRunner, Runner, Sample
from fleetscan.device_metrics import DeviceMetrics
from fleetscan.emitter import Emitter, Point
from fleetscan.errors import FleetscanError, InputError, UsageError
from fleetscan.inputs import read_rows
from fleetscan.timeutil import EPOCH_MS_CUTOFF, now_ms, parse_duration_ms

MAX_BACKOFF_S = 30.0
MAX_PENDING = 100_000  # points kept in memory while the gateway is down (newest kept)
CLOCK_TOLERANCE_MS = 86_400_000  # readings stamped further ahead of now are a clock fault


def device(
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="Source id to watch; repeat for several. Needed (with --metric) unless "
            "--input, where the default is every source in the file.",
        ),
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            help="Metric to watch; repeat for several. Needed unless --input (default: all).",
        ),
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            help=f"Detector: {', '.join(METHODS)}. `tutorial` is the tutorial's exact z-score."
        ),
    ] = "auto",
    window: Annotated[
        str | None,
        typer.Option(
            help="Window: a sample count (15samples; a bare 15 also counts samples) or a "
            "duration with its unit (30s, 10m). Default: the method's own."
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            help="Long baseline for level/drift checks: a duration with its unit (6h, 7d)."
        ),
    ] = None,
    threshold: Annotated[
        float,
        typer.Option(
            help="Score above which a sample is anomalous: robust σ for the single "
            "methods; for auto, surprise (3 = rarer than 1 in 1,000 readings of this stream).",
        ),
    ] = 3.0,
    consecutive: Annotated[
        int, typer.Option(min=1, help="Anomalous samples in a row before posting.")
    ] = 3,
    relearn: Annotated[
        str | None,
        typer.Option(
            help="auto: accept a changed level as the new normal once it has lasted this long, "
            "a duration with its unit (default 1h, at least 12 readings)."
        ),
    ] = None,
    min_scale: Annotated[
        float | None, typer.Option(help="Floor for the scale (metric units); default per sensor.")
    ] = None,
    poll: Annotated[float, typer.Option(min=0.05, help="Seconds between polls.")] = 1.0,
    lookback: Annotated[str, typer.Option(help="History read on the first poll, e.g. 5m.")] = "5m",
    once: Annotated[bool, typer.Option("--once", help="Poll once and exit.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Post nothing.")] = False,
    input_file: Annotated[
        Path | None,
        typer.Option("--input", help="Score a CSV or JSON-lines file instead (offline)."),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="text or jsonl.")
    ] = OutputFormat.text,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="Serve Prometheus /metrics on this port while polling (samples, anomalies, "
            "last score, poll errors per stream).",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address /metrics listens on.")
    ] = "127.0.0.1",
    endpoint: EndpointOption = "",
    gateway_url: GatewayOption = "",
    api_key: ApiKeyOption = "",
) -> None:
    """Score each new reading of a stream and post `<metric>.zscore` after N anomalies in a row."""
    try:
        options = DetectorOptions(
            threshold=threshold,
            window=parse_window(window) if window is not None else None,
            baseline=parse_span(baseline, "baseline") if baseline is not None else None,
            min_scale=min_scale,
            consecutive=consecutive,
            relearn=parse_span(relearn, "relearn") if relearn is not None else None,
        )
        make_detector(method, options)  # fail fast on a bad method or window
        per_sample = DeviceRunner(
            lambda _src, m: make_detector(method, _with_metric(options, m)),
            consecutive=consecutive,
        )
        if input_file is not None:  # one long history per stream: nothing to score side by side
            _run_offline(per_sample, input_file, source or [], metric or [], output)
            return
        # polling: every stream of a poll scored together (auto), else one detector per stream
        runner: Runner = (
            BatchRunner(lambda m: _with_metric(options, m)) if method == "auto" else per_sample
        )
        if not source or not metric:
            fail(
                "give at least one --source and one --metric (or --input FILE)", code=ExitCode.USAGE
            )
        settings = resolve(endpoint, gateway_url, api_key)
        key = settings.require_key()
        client = PlexusClient(endpoint=settings.endpoint, api_key=key)
        emitter = Emitter(api_key=key, gateway_url=settings.gateway_url, dry_run=dry_run)
        exported = DeviceMetrics()
        if metrics_port is not None:
            exported.serve(metrics_port, metrics_host)
    except (InputError, UsageError, ValueError) as exc:
        fail(str(exc), code=ExitCode.USAGE)
    except FleetscanError as exc:
        fail(str(exc), code=code_for(exc, ExitCode.UNKNOWN))
    with client, emitter, exported, stop_on_signals() as stop:
        _poll_loop(
            runner,
            client,
            emitter,
            stop,
            sources=source,
            metrics=metric,
            poll_s=poll,
            lookback_ms=parse_duration_ms(lookback),
            once=once,
            output=output,
            exported=exported,
        )


def _with_metric(options: DetectorOptions, metric: str) -> DetectorOptions:
    return replace(options, metric=metric)


def _show(samples: Sequence[Sample], output: OutputFormat, prefix: bool) -> None:
    for sample in samples:
        if output is OutputFormat.jsonl:
            emit_json(sample.record())
        else:
            typer.echo(sample.line(prefix=prefix))


def _run_offline(
    runner: Runner, path: Path, sources: list[str], metrics: list[str], output: OutputFormat
) -> None:
    default_source = sources[0] if len(sources) == 1 else "input"
    default_metric = metrics[0] if len(metrics) == 1 else "value"
    try:
        parsed = read_rows(path, default_source=default_source, default_metric=default_metric)
    except InputError as exc:  # a file that can't be read watched nothing: UNKNOWN, as fleet/replay
        fail(str(exc), code=ExitCode.UNKNOWN)
    if not parsed.readings:
        fail(
            f"no row of {path} could be read ({parsed.skipped_summary() or 'no rows'})",
            code=ExitCode.UNKNOWN,
        )
    wanted = [
        r
        for r in parsed.readings
        if (not sources or r.source_id in sources) and (not metrics or r.metric in metrics)
    ]
    latest = now_ms() + CLOCK_TOLERANCE_MS
    readings = [r for r in wanted if EPOCH_MS_CUTOFF <= r.ts_ms <= latest]
    early = sum(r.ts_ms < EPOCH_MS_CUTOFF for r in wanted)
    if len(readings) < len(wanted):
        late = len(wanted) - len(readings) - early
        note(
            f"{path}: not scored: {early} readings stamped before 2001 (clock not set?), "
            f"{late} stamped in the future (device clock?)"
        )
    samples = runner.process(readings)
    _show(samples, output, prefix=len(runner) > 1)
    anomalies = sum(s.anomaly for s in samples)
    summary = f"{path}: {len(samples)} samples in {len(runner)} streams, {anomalies} anomalous"
    skipped = parsed.skipped_summary()
    note(f"{summary}; {skipped}" if skipped else summary)


def _poll_loop(
    runner: Runner,
    client: PlexusClient,
    emitter: Emitter,
    stop: threading.Event,
    *,
    sources: list[str],
    metrics: list[str],
    poll_s: float,
    lookback_ms: int,
    once: bool,
    output: OutputFormat,
    exported: DeviceMetrics,
) -> None:
    """Poll, score, print, post until `stop`; a failing API or gateway logs one line, backs off."""
    pending: list[Point] = []
    backoff_s = poll_s
    post_error, post_backoff_s, post_after = "", 0.0, 0.0
    prefix = len(sources) * len(metrics) > 1
    empty_said = False
    while not stop.is_set():
        now = now_ms()
        seen_ts = [ts for ts in runner.last_seen() if ts is not None]
        since = min(seen_ts) if len(seen_ts) == len(sources) * len(metrics) else now - lookback_ms
        try:
            parsed = client.fetch(
                metrics=metrics, sources=sources, from_ms=min(since, now - 1), to_ms=now
            )
        except FleetscanError as exc:
            exported.poll_errors.inc()
            if once:
                fail(f"poll failed: {exc}", code=ExitCode.UNKNOWN)
            note(f"poll failed: {exc}; retrying in {backoff_s:.0f}s")
            stop.wait(backoff_s)
            backoff_s = min(backoff_s * 2, MAX_BACKOFF_S)
            continue
        backoff_s = poll_s
        if parsed.skipped:
            note(parsed.skipped_summary())
        if not parsed.readings and not empty_said and not len(runner):
            note(
                f"no readings yet for {', '.join(sources)} / {', '.join(metrics)} "
                "(an empty answer can also mean Plexus timed out)"
            )
            empty_said = True
        samples = runner.process(parsed.readings)
        seen = {(s.source_id, s.metric) for s in samples}
        samples += runner.idle(now, seen)
        _show(samples, output, prefix)
        pending += [s.point() for s in samples]
        if pending and (once or time.monotonic() >= post_after):
            result = emitter.send(pending)
            pending = result.undelivered[-MAX_PENDING:]
            if result.refusal:
                note(result.refusal)
            if result.undelivered:
                if not post_error:  # said once per outage, not every poll
                    note(f"{result.error}; keeping points, retrying with backoff")
                post_error = result.error
                post_backoff_s = min(max(post_backoff_s * 2, poll_s), MAX_BACKOFF_S)
                post_after = time.monotonic() + post_backoff_s
            elif post_error:
                note(f"posting again: {result.delivered} points delivered")
                post_error, post_backoff_s = "", 0.0
        exported.observe(samples, pending=len(pending))
        if once:
            break
        stop.wait(poll_s)
    if pending and not once:
        result = emitter.send(pending)
        pending, post_error = result.undelivered, result.error or post_error
    if pending:
        fail(
            f"{len(pending)} points not delivered (device keeps no outbox, so they are lost): "
            f"{post_error}",
            code=ExitCode.UNKNOWN,
        )


def register(app: typer.Typer) -> None:
    app.command()(device)
