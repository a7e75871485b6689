"""`fleetscan replay`: run the cron sweep over stored history, as if cron had run every N minutes.

Exactly the logic of `fleetscan fleet` with state (the same `step_lifecycle`: baselines learned
once and folded forward, guards, recovery, cooldown, storms), over rows from a file (`--input`)
or pulled from Plexus (`--from/--to` without `--input`), with the state kept in memory and
nothing posted. It answers "what would cron have told me last week with these settings?".
Exit codes: 0 it ran, 3 Plexus or the input could not be read, 64 usage.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from fleetscan.commands.common import ExitCode, OutputFormat, code_for, fail, note
from fleetscan.commands.configuration import adjustments
from fleetscan.commands.progress import track
from fleetscan.commands.sweep_cli import (
    DEFAULT_SWEEP,
    ClickHouseOption,
    DatabaseOption,
    MetricsOption,
    OrgOption,
    SweepArgs,
    clickhouse_password,
    replay_grid,
    sweep_options,
)
from fleetscan.config import ApiKeyOption, EndpointOption, resolve
from fleetscan.errors import FleetscanError, InputError
from fleetscan.health import SENSOR_OK
from fleetscan.jsonl import write_record
from fleetscan.sweeps import render as sweep_render
from fleetscan.sweeps.coverage import ReplayCoverage, sweep_blind_spot
from fleetscan.sweeps.replay import History, Summary, replay, sweep_times
from fleetscan.sweeps.replay_input import load_history
from fleetscan.sweeps.step import LifecycleStep, StepOptions, SweepState
from fleetscan.timeutil import iso_z, now_ms

MAX_SWEEPS = 200_000  # ~2 years at 5 minutes; a longer grid is a mistake (or a bad timestamp)
WARN_SWEEPS = 20_000  # beyond this, say how many and show progress on stderr
LATEST_AHEAD_MS = 86_400_000  # file rows stamped more than a day ahead of now are skipped


@sweep_options()
def replay_command(
    ctx: typer.Context,
    metric: MetricsOption,
    every: Annotated[
        str, typer.Option("--every", help="How often the simulated cron sweeps (e.g. 5m).")
    ] = "5m",
    input_file: Annotated[
        Path | None,
        typer.Option("--input", help="Plexus rows from a JSON-lines or CSV file."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="First sweep time. Default with --input: the oldest reading + --window, on "
            "the --every grid. Needed without --input (then rows are pulled from Plexus).",
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to", help="Last sweep at or before this time (default: newest reading, or now)."
        ),
    ] = None,
    sweep: SweepArgs = DEFAULT_SWEEP,
    output: Annotated[
        OutputFormat,
        typer.Option("--format", help="text (a summary) or jsonl (every series, every sweep)."),
    ] = OutputFormat.text,
    plot_dir: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write one PNG per alert into this directory: the board against its peers, "
            "the alert shaded, the reason as caption (needs the plot extra).",
        ),
    ] = None,
    state_path: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help="Apply the silences stored in this sweep state (`fleetscan silence add`), "
            "each over its own span; read-only, never written or locked.",
        ),
    ] = None,
    clickhouse: ClickHouseOption = None,
    database: DatabaseOption = "plexus",
    org: OrgOption = None,
    endpoint: EndpointOption = "",
    api_key: ApiKeyOption = "",
) -> None:
    """Replay cron sweeps over stored history (same logic as `fleet` with state; posts nothing).

    Prints which sources would have alerted, when and for how long, and the storms. With
    --format jsonl, one line per series per sweep (at, source_id, metric, status, z, alerting,
    reason, ...) and the summary on stderr.
    """
    try:
        options = sweep.step_options()
        every_ms, from_ms, to_ms = replay_grid(every, start, end)
        if input_file is None and from_ms is None:
            raise InputError("give --input FILE, or --from (and --to) to pull rows from Plexus")
        if clickhouse is not None and (input_file is not None or from_ms is None):
            raise InputError("--clickhouse replays need --from (and --to), not --input")
        if clickhouse is not None:
            from fleetscan.clickhouse import check_url

            check_url(clickhouse)
    except (FleetscanError, ValueError) as exc:
        fail(str(exc), code=ExitCode.USAGE)
    try:
        from fleetscan.silence_store import read_only  # sqlite3 only when asked

        stored = read_only(state_path) if state_path is not None else []
    except FleetscanError as exc:
        fail(str(exc), code=code_for(exc, ExitCode.UNKNOWN))
    adjust = partial(adjustments(ctx).apply, options=options, stored=stored)
    if clickhouse is not None:
        assert from_ms is not None
        last = to_ms if to_ms is not None else now_ms()
        _pushed_down(clickhouse, database, org, metric, sweep_times(from_ms, last, every_ms),
                     options, output, every_ms, adjust)  # fmt: skip
        return
    try:
        if input_file is not None:
            history = history_from_file(input_file, [*metric, SENSOR_OK], options)
            span = history.span()
            if from_ms is None:
                oldest = span[0] if span else now_ms()
                from_ms = -(-(oldest + options.sweep.window_ms) // every_ms) * every_ms
            if to_ms is None:
                to_ms = span[1] if span else from_ms
        else:
            assert from_ms is not None
            to_ms = to_ms if to_ms is not None else now_ms()
            history = history_from_plexus(metric, options, from_ms, to_ms, endpoint, api_key)
    except FleetscanError as exc:
        fail(str(exc), code=code_for(exc, ExitCode.UNKNOWN))
    health = None
    if SENSOR_OK not in metric:  # the firmware's health rows: applied, not replayed as a metric
        history, health = history.split(SENSOR_OK)
    count = max(0, (to_ms - from_ms) // every_ms + 1)
    if count > MAX_SWEEPS:
        fail(
            f"{count:,} sweeps from {iso_z(from_ms)} to {iso_z(to_ms)} every {every}: more than "
            f"{MAX_SWEEPS:,}; narrow it with --from/--to or a longer --every",
            code=ExitCode.USAGE,
        )
    if count > WARN_SWEEPS:
        note(f"replaying {count:,} sweeps ({iso_z(from_ms)} to {iso_z(to_ms)}): this takes a while")
    started = time.monotonic()
    summary = Summary()
    step = max(1, count // 10)
    # A bar on a terminal; off one (cron, pipes) a line every tenth of a very long replay.
    quiet_progress = sys.stderr.isatty()
    times = track(sweep_times(from_ms, to_ms, every_ms), label="replaying sweeps")
    coverage = ReplayCoverage()
    outcomes = replay(history, times, options, adjust=adjust, health=health)
    for done, outcome in enumerate(outcomes, 1):
        if count > WARN_SWEEPS and not quiet_progress and done % step == 0 and done < count:
            note(f"replayed {done:,} of {count:,} sweeps ({iso_z(outcome.now_ms)})")
        _count(outcome, summary, coverage, metric, options, output)
    _conclude(summary, coverage, metric, every_ms=every_ms, started=started, output=output)
    if plot_dir is not None:
        from fleetscan.commands.pictures import write_episode_charts

        write_episode_charts(plot_dir, history, summary, options=options)


def _pushed_down(
    url: str,
    database: str,
    org: str | None,
    metrics: list[str],
    times: list[int],
    options: StepOptions,
    output: OutputFormat,
    every_ms: int,
    adjust: Callable[[SweepState, LifecycleStep], LifecycleStep],
) -> None:
    """The replay with every sweep reduced inside ClickHouse (`clickhouse.clickhouse_replay`),
    the config file's thresholds and silences and the `--state` silences applied after each
    step, as over `--input` or Plexus."""
    from fleetscan.clickhouse import Connection, Target, clickhouse_replay

    started = time.monotonic()
    summary = Summary()
    coverage = ReplayCoverage()
    try:
        with Connection(url, password=clickhouse_password()) as conn:
            target = Target(database=database, org=org)
            for outcome in clickhouse_replay(conn, target, metrics, times, options, adjust):
                _count(outcome, summary, coverage, metrics, options, output)
    except FleetscanError as exc:
        fail(str(exc), code=ExitCode.UNKNOWN)
    _conclude(summary, coverage, metrics, every_ms=every_ms, started=started, output=output)


def _count(
    outcome: LifecycleStep,
    summary: Summary,
    coverage: ReplayCoverage,
    metrics: Sequence[str],
    options: StepOptions,
    output: OutputFormat,
) -> None:
    """Add one replayed sweep to the summary and the coverage; with jsonl, print its series."""
    summary.add(outcome)
    coverage.add(sweep_blind_spot(outcome, metrics, options))
    if output is OutputFormat.jsonl:
        for v in sweep_render.ordered(outcome.verdicts):
            write_record(v.to_record())


def _conclude(
    summary: Summary,
    coverage: ReplayCoverage,
    metrics: Sequence[str],
    *,
    every_ms: int,
    started: float,
    output: OutputFormat,
) -> None:
    """Print the replay's summary (on stderr with jsonl); exit 3 when it watched nothing."""
    lines = sweep_render.replay_summary(
        summary, every_ms=every_ms, elapsed_s=time.monotonic() - started
    )
    for line in lines:
        typer.echo(line, err=output is OutputFormat.jsonl)
    if not summary.series:  # exit 0 must mean something was watched
        fail(
            f"nothing was replayed: no {', '.join(metrics)} rows in the sweeps' windows",
            ExitCode.UNKNOWN,
        )
    _refuse_blind(coverage)


def _refuse_blind(coverage: ReplayCoverage) -> None:
    """Exit 3 with one line when most replayed sweeps watched nothing, as `fleet` does for one."""
    why = coverage.blind_spot()
    if why is not None:
        fail(why, code=ExitCode.UNKNOWN)


def history_from_file(path: Path, metrics: list[str], options: StepOptions) -> History:
    """The rows of `path` a replay (or `plot`/`report`) sweeps over; skipped rows are said."""
    latest = now_ms() + LATEST_AHEAD_MS
    history, skipped = load_history(
        path, metrics, group_by=options.sweep.group_by, latest_ms=latest
    )
    if skipped:
        note(f"{skipped} (no sweep counts them)")
    return history


def history_from_plexus(
    metrics: list[str],
    options: StepOptions,
    from_ms: int,
    to_ms: int,
    endpoint: str,
    api_key: str,
) -> History:
    """Pull what the replayed sweeps need from Plexus (`sweeps.live.fetch_history`)."""
    from fleetscan.client import PlexusClient
    from fleetscan.sweeps.live import fetch_history

    settings = resolve(endpoint, "", api_key)
    with PlexusClient(endpoint=settings.endpoint, api_key=settings.require_key()) as client:
        return fetch_history(client, metrics, options=options, from_ms=from_ms, to_ms=to_ms)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_command)
