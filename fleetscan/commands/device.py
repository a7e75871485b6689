"""`fleetscan device`: score each new reading of one or more streams and post `<metric>.zscore`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from fleetscan import device_poll
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
from fleetscan.emitter import Emitter
from fleetscan.errors import FleetscanError, InputError, UsageError
from fleetscan.timeutil import parse_duration_ms

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
        prefix = len(source) * len(metric) > 1
        try:
            device_poll.poll(
                runner,
                client,
                emitter,
                stop,
                sources=source,
                metrics=metric,
                poll_s=poll,
                lookback_ms=parse_duration_ms(lookback),
                once=once,
                exported=exported,
                show=lambda samples: _show(samples, output, prefix),
                note=note,
            )
        except (device_poll.PollFailed, device_poll.Undelivered, device_poll.NothingScored) as exc:
            fail(str(exc), code=ExitCode.UNKNOWN)


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
    try:
        run = device_poll.score_file(runner, path, sources=sources, metrics=metrics, note=note)
    except (InputError, device_poll.NothingScored) as exc:  # watched nothing: UNKNOWN, as fleet
        fail(str(exc), code=ExitCode.UNKNOWN)
    _show(run.samples, output, prefix=len(runner) > 1)
    note(run.summary)


def register(app: typer.Typer) -> None:
    app.command()(device)
