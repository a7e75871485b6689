"""`fleetscan plot` and `fleetscan report`: a picture of a board against its peers, and one HTML
page a person opens (findings, a chart per finding, the fleet at a glance).

Both replay the cron sweep over the window (the same engine as `fleetscan replay`, posting
nothing) so the alert spans they show are the ones cron would have raised with these options.
Rows come from `--input FILE` or from Plexus. Exit codes: 0 written, 3 Plexus, the input or the
output could not be read or written, 64 usage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from fleetscan.commands.common import ExitCode, fail, note
from fleetscan.commands.configuration import adjustments
from fleetscan.commands.progress import track
from fleetscan.commands.replay import history_from_file, history_from_plexus
from fleetscan.commands.sweep_cli import (
    DEFAULT_SWEEP,
    MetricsOption,
    SweepArgs,
    replay_grid,
    sweep_options,
)
from fleetscan.config import ApiKeyOption, EndpointOption
from fleetscan.errors import FleetscanError, InputError
from fleetscan.overrides import Adjustments
from fleetscan.pictures import ReplayedWindow, baseline_span, board_chart, chart_name, replay_window
from fleetscan.report import render as render_report
from fleetscan.sweeps.replay import History, Summary
from fleetscan.sweeps.step import StepOptions
from fleetscan.timeutil import now_ms

DEFAULT_SPAN_MS = 24 * 3_600_000
# The sweep options `plot` and `report` take (the others stay at their defaults).
REPLAYED = (
    "window", "baseline", "warm_up", "group_by", "min_peers", "threshold", "consecutive",
    "recovery", "cooldown",
)  # fmt: skip

FromOption = Annotated[
    str | None,
    typer.Option("--from", help="Start of the window (default: 24 h before --to)."),
]
ToOption = Annotated[
    str | None,
    typer.Option("--to", help="End of the window (default: the newest reading, or now)."),
]
InputOption = Annotated[
    Path | None,
    typer.Option("--input", help="Plexus rows from a JSON-lines or CSV file (else: Plexus)."),
]
EveryOption = Annotated[
    str, typer.Option("--every", help="How often the replayed cron sweeps (alert spans).")
]


@dataclass(frozen=True)
class Where:
    """Where `plot` and `report` read their window from, as their options give it."""

    start: str | None
    end: str | None
    input_file: Path | None
    every: str
    endpoint: str
    api_key: str


def load_window(
    metrics: list[str], where: Where, *, sweep: SweepArgs, adjusted: Adjustments
) -> ReplayedWindow:
    """Rows for the window (file or Plexus), replayed every `--every` with `sweep`'s options; a
    bad option exits 64 with one line, any other trouble 3."""
    input_file = where.input_file
    try:
        options = sweep.step_options()
        every_ms, from_ms, to_ms = replay_grid(where.every, where.start, where.end)
    except (FleetscanError, ValueError) as exc:
        fail(str(exc), code=ExitCode.USAGE)
    try:
        if input_file is not None:
            history = history_from_file(input_file, metrics, options)
            span = history.span()
            if span is None:
                raise InputError(f"{input_file} holds no {', '.join(metrics)} readings")
            to_ms = to_ms if to_ms is not None else span[1]
            if from_ms is None:
                from_ms = max(span[0] + options.sweep.window_ms, to_ms - DEFAULT_SPAN_MS)
        else:
            to_ms = to_ms if to_ms is not None else now_ms()
            from_ms = from_ms if from_ms is not None else to_ms - DEFAULT_SPAN_MS
            history = history_from_plexus(
                metrics, options, from_ms, to_ms, where.endpoint, where.api_key
            )
        if from_ms >= to_ms:
            raise InputError("--from must be before --to")
        return replay_window(
            history,
            from_ms=from_ms,
            to_ms=to_ms,
            every_ms=every_ms,
            options=options,
            progress=lambda times: track(times, label="replaying sweeps"),
            adjustments=adjusted,
        )
    except FleetscanError as exc:
        fail(str(exc), code=ExitCode.UNKNOWN)


def write_bytes(path: Path, data: bytes) -> None:
    """Write atomically (temp file + rename); a failure exits 3 with one line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}", code=ExitCode.UNKNOWN)


def write_episode_charts(
    directory: Path, history: History, summary: Summary, *, options: StepOptions
) -> None:
    """`replay --plot DIR`: one PNG per alert of the replay, over the whole replayed span."""
    if summary.first_ms is None or summary.last_ms is None:
        return
    threshold = options.sweep.threshold
    found = ReplayedWindow(
        history, summary.first_ms, summary.last_ms, summary, baseline_ms=baseline_span(options)
    )
    try:
        for episode in summary.episodes:
            png = board_chart(
                found, episode.source_id, episode.metric, threshold=threshold, spans=[episode]
            )
            write_bytes(directory / chart_name(episode), png)
    except FleetscanError as exc:
        fail(str(exc), code=ExitCode.UNKNOWN)
    count = len(summary.episodes)
    note(f"wrote {count} chart{'s' if count != 1 else ''} into {directory}")


@sweep_options(REPLAYED)
def plot(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--source", help="The board to draw.")],
    metric: Annotated[str, typer.Option("--metric", help="The metric to draw.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file to write.")],
    start: FromOption = None,
    end: ToOption = None,
    input_file: InputOption = None,
    every: EveryOption = "5m",
    sweep: SweepArgs = DEFAULT_SWEEP,
    endpoint: EndpointOption = "",
    api_key: ApiKeyOption = "",
) -> None:
    """Draw a board's readings against its peers' median and robust band, alerts shaded.

    The alert spans are those the cron sweep (replayed every --every with these options) would
    have raised; the reason is the caption. Needs the plot extra: pip install 'fleetscan[plot]'.
    """
    where = Where(start, end, input_file, every, endpoint, api_key)
    found = load_window([metric], where, sweep=sweep, adjusted=adjustments(ctx))
    try:
        png = board_chart(found, source, metric, threshold=sweep.threshold)
    except FleetscanError as exc:
        fail(str(exc), code=ExitCode.UNKNOWN)
    write_bytes(output, png)
    alerts = len(found.episodes(source, metric))
    note(f"wrote {output}: {source} {metric}, {alerts} alert{'s' if alerts != 1 else ''}")


@sweep_options(REPLAYED)
def report(
    ctx: typer.Context,
    metric: MetricsOption,
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")],
    start: FromOption = None,
    end: ToOption = None,
    input_file: InputOption = None,
    title: Annotated[str, typer.Option("--title", help="The page's title.")] = "fleetscan report",
    every: EveryOption = "5m",
    sweep: SweepArgs = DEFAULT_SWEEP,
    endpoint: EndpointOption = "",
    api_key: ApiKeyOption = "",
) -> None:
    """Write one self-contained HTML page: the findings, a chart per finding, the fleet at a glance.

    Findings are the alerts the cron sweep (replayed every --every) would have raised in the
    window. The page loads nothing from the network. Needs the plot extra.
    """
    where = Where(start, end, input_file, every, endpoint, api_key)
    found = load_window(list(metric), where, sweep=sweep, adjusted=adjustments(ctx))
    described = (
        f"--every {every} --window {sweep.window} --baseline {sweep.baseline} "
        f"--threshold {sweep.threshold:g} --consecutive {sweep.consecutive} "
        f"--recovery {sweep.recovery}" + "".join(f" --group-by {g}" for g in sweep.group_by or ())
    )
    try:
        page = render_report(
            found, metrics=list(metric), threshold=sweep.threshold, title=title, options=described
        )
    except FleetscanError as exc:
        fail(str(exc), code=ExitCode.UNKNOWN)
    write_bytes(output, page.encode("utf-8"))
    count = len(found.summary.episodes)
    note(f"wrote {output}: {count} finding{'s' if count != 1 else ''}")


def register(app: typer.Typer) -> None:
    app.command("plot")(plot)
    app.command("report")(report)
