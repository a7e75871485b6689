"""`fleetscan fleet`: compare every source of a metric with its peers, explain, and post fleet_z.

Made to run unattended every few minutes (cron, a systemd timer). Between runs it keeps a state
file (`--state`): baselines, alert lifecycles, the last sweep, undelivered points. Each run
fetches only what is new, alerts after `--consecutive` flagged sweeps, resolves after
`--recovery`, and posts `<metric>.fleet_z` following that lifecycle, so one Plexus monitor with
`max: 3.0` opens and resolves once per alert. `--no-state` (or `--input FILE`) is the one-off
sweep: the first flagged sweep alerts.

Output: text mode is quiet unless something changed (an alert opened or resolved, a storm
began or ended) or went wrong; `-v` prints the whole table. One-off sweeps always print the table.
`--format jsonl` prints every series, every run. Exit codes: `common.ExitCode` (0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN, 64 usage).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import platformdirs
import typer

from fleetscan.commands.common import ExitCode, OutputFormat, code_for, fail, note
from fleetscan.commands.configuration import adjustments
from fleetscan.commands.sweep_cli import (
    DEFAULT_SWEEP,
    ClickHouseOption,
    DatabaseOption,
    MetricsOption,
    OrgOption,
    SweepArgs,
    clickhouse_password,
    exit_code,
    sweep_clock,
    sweep_options,
)
from fleetscan.commands.tables import echo_table
from fleetscan.config import ApiKeyOption, EndpointOption, GatewayOption, resolve
from fleetscan.errors import FleetscanError, InputError
from fleetscan.jsonl import write_record
from fleetscan.overrides import Adjustments
from fleetscan.sweeps import render
from fleetscan.sweeps.coverage import sweep_blind_spot
from fleetscan.sweeps.offline import offline_sweep
from fleetscan.sweeps.prom import registry, write_prom
from fleetscan.sweeps.step import LifecycleStep, StepOptions
from fleetscan.timeutil import now_ms, parse_timestamp_ms

if TYPE_CHECKING:  # the live path's modules load only when it runs (not for --input)
    from fleetscan.sweeps.live import SweepReport


class BaselineSource(StrEnum):
    raw = "raw"
    rollups = "rollups"


def default_state_path() -> Path:
    """Where the state lives unless `--state` says otherwise (the user's state directory)."""
    return platformdirs.user_state_path("fleetscan") / "state.db"


@sweep_options()
def fleet(
    ctx: typer.Context,
    metric: MetricsOption,
    sweep: SweepArgs = DEFAULT_SWEEP,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            envvar="FLEETSCAN_STATE",
            show_envvar=True,
            help=f"SQLite file keeping what sweeps share (default: {default_state_path()}).",
        ),
    ] = None,
    no_state: Annotated[
        bool,
        typer.Option(
            "--no-state",
            help="One-off sweep without state: the first flagged sweep alerts, and the "
            "baseline is learned from --baseline history every time.",
        ),
    ] = False,
    lock_wait: Annotated[
        float,
        typer.Option(
            "--lock-wait", min=0.0, help="Seconds to wait for a sweep holding --state, then exit 3."
        ),
    ] = 5.0,
    prom_file: Annotated[
        Path | None,
        typer.Option(
            "--prom-file",
            help="Write Prometheus metrics here, atomically (node_exporter textfile collector).",
        ),
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="One-off sweep over Plexus rows from a JSON-lines or CSV file (nothing posted; "
            "for cron-like sweeps over a file use `fleetscan replay`).",
        ),
    ] = None,
    baseline_from: Annotated[
        BaselineSource,
        typer.Option(
            "--baseline-from",
            help="Learn baselines from raw samples of each bucket (`raw`, /api/v1/telemetry) "
            "or from Plexus's rollups (`rollups`, one /v1/fleet/metrics call per metric on "
            "--api-url): for big fleets.",
        ),
    ] = BaselineSource.raw,
    api_url: Annotated[
        str,
        typer.Option(
            "--api-url",
            envvar="PLEXUS_API_URL",
            help="Plexus's read API (/v1/fleet/metrics), for --baseline-from rollups.",
        ),
    ] = "https://api.plexus.company",
    clickhouse: ClickHouseOption = None,
    database: DatabaseOption = "plexus",
    org: OrgOption = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Sweep as of this time instead of now. With --input: only rows up to it "
            "(default: the newest reading). Live: rows stamped after it are not fetched.",
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="text or jsonl (every series, every run).")
    ] = OutputFormat.text,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Text: print the whole table every run.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Post nothing; write no state and no --prom-file.")
    ] = False,
    outbox: Annotated[
        Path | None,
        typer.Option(
            help="With --no-state: file keeping points the gateway did not take; sent first "
            "next run. (With state, the state keeps them.)"
        ),
    ] = None,
    endpoint: EndpointOption = "",
    gateway_url: GatewayOption = "",
    api_key: ApiKeyOption = "",
) -> None:
    """Compare every source of each metric with its peers and post <metric>.fleet_z.

    Statuses: ok, anomalous, drifting, stuck, noisy, invalid, stale (flagged); outage, no_data,
    insufficient_peers (not flagged). A source alerts after --consecutive flagged sweeps and
    resolves after --recovery of normal ones; fleet_z carries the open alert's score (|z|, or
    at least threshold + 1 for the non-z statuses), else 0, so a Plexus monitor with max 3.0 on
    <metric>.fleet_z opens and resolves with it. Exit: 0 ok, 1 warning, 2 critical, 3 unknown
    (Plexus, key or state trouble, or a sweep that watched nothing: over half the series
    without peers or data, or a --metric with no rows), 64 usage.

    Warm-up: until a source has --warm-up of history (24 h, or all of a shorter --baseline) its
    gap to its peers is shown but does not flag, since a daily habit cannot be told from a fault
    before a day has shown it; only a drift under way does (its gap moving the same way through
    every quarter of 12+ h of history, beyond the scatter about a straight line and 3× the
    cohort's spread). Stuck, stale, noisy and invalid flag from the first sweep. After it (or
    with --warm-up 0): snapshots only (anomalous beyond 3 σ with the BME280's unit-to-unit
    floor) until 6 hourly buckets (6 h); until 24 h the drift scale is no tighter than the
    peers' spread; drift is judged against the same hour (±1 h) on at least 2 past days of
    the same kind (weekday/weekend), else of any kind, else ±3 h, else all hours (widened by a
    clear habit seen within an hour of it on the one past day there is, or on the one past day
    of the same kind, up to 6× as far; all hours again after
    12 h off the usual gap in every window); a gap moving day after day over 24+ hourly pairs
    is drifting. Without
    --group-by, boards that usually move together (hour-to-hour gap changes correlated ≥ 0.4 and
    beyond chance over 8+ shared hours, fleets of up to 500) are found and a change they share
    is one cohort event. Stale after 5 intervals, a minute and 1.5× the source's usual longest
    silence (its longest gap on a typical day; before 24 h of history, at least its cohort's).
    """
    one_off = no_state or input_file is not None or clickhouse is not None
    try:
        options = sweep.step_options(immediate=one_off)
        at_ms = parse_timestamp_ms(at) if at is not None else None
        options = replace(options, baseline_rollups=baseline_from is BaselineSource.rollups)
        if clickhouse is not None:
            from fleetscan.clickhouse import check_url

            check_url(clickhouse)
        if outbox is not None and not no_state:
            raise InputError("--outbox is for --no-state sweeps: with state, the state keeps them")
        given = ctx.get_parameter_source("state")  # typer's own click: compared by name
        if one_off and given is not None and given.name == "COMMANDLINE":
            raise InputError(  # FLEETSCAN_STATE in the environment is simply not used
                "--state is not read by --no-state, --input or --clickhouse sweeps: each is one "
                "sweep on its own; use `fleetscan replay` to run sweeps over a file with state"
            )
    except (FleetscanError, ValueError) as exc:
        fail(str(exc), code=ExitCode.USAGE)
    if input_file is not None or clickhouse is not None:
        try:
            if clickhouse is not None:
                outcome = _pushed_down(clickhouse, database, org, metric, at_ms, options)
            else:
                offline = offline_sweep(
                    input_file or Path(), metric, at_ms=at_ms, wall_ms=now_ms(), options=options
                )
                if offline.skipped:
                    note(offline.skipped)
                outcome = offline.outcome
            code = exit_code(outcome.severity())
            if prom_file is not None:
                exported = registry(outcome, duration_s=0.0, outbox_points=0, exit_code=code)
                write_prom(prom_file, exported)
        except FleetscanError as exc:
            fail(str(exc), code=ExitCode.UNKNOWN)
        _show(outcome, output, verbose=True, one_off=True)
        _refuse_blind(outcome, metric, options)
        raise typer.Exit(code)
    report, late = _live(
        metric,
        adjustments(ctx),
        options,
        at_ms=at_ms,
        state_path=None if no_state else (state or default_state_path()),
        lock_wait_s=lock_wait,
        outbox=outbox,
        dry_run=dry_run,
        prom_file=prom_file,
        endpoint=endpoint,
        gateway_url=gateway_url,
        api_url=api_url,
        api_key=api_key,
    )
    if report.skipped:
        note(report.skipped)
    _show(report.outcome, output, verbose=verbose, one_off=no_state)
    if verbose and output is OutputFormat.text and any(v.alerting for v in report.outcome.verdicts):
        _charts(report, options)
    code = exit_code(report.outcome.severity(), undelivered=bool(report.undelivered or late))
    kept = outbox if not any(outbox is not None and str(outbox) in m for m in late) else None
    for line in render.delivery_lines(
        report, verbose=verbose or no_state, outbox=kept, no_state=no_state
    ):
        note(line)
    for message in late:  # after the sweep's own lines: the transitions are never lost
        note(f"error: {message}")
    _refuse_blind(report.outcome, metric, options)
    raise typer.Exit(code)


def _refuse_blind(outcome: LifecycleStep, metrics: Sequence[str], options: StepOptions) -> None:
    """Exit 3 with one line on stderr when the sweep could not watch the fleet (see coverage)."""
    why = sweep_blind_spot(outcome, metrics, options)
    if why is not None:
        fail(why, code=ExitCode.UNKNOWN)


def _live(
    metrics: Sequence[str],
    adjusted: Adjustments,
    options: StepOptions,
    *,
    at_ms: int | None,
    state_path: Path | None,
    lock_wait_s: float,
    outbox: Path | None,
    dry_run: bool,
    prom_file: Path | None,
    endpoint: str,
    gateway_url: str,
    api_key: str,
    api_url: str,
) -> tuple[SweepReport, list[str]]:
    """Fetch, step, post and commit (see `fleetscan.sweeps.live`), and what failed after the
    commit. Trouble before it exits 3 and leaves the state untouched: `--prom-file` and
    `--outbox` are checked writable first, so a sweep never commits transitions it cannot report."""
    from fleetscan.sweeps.live import run_live_sweep

    late: list[str] = []
    try:
        if prom_file is not None and not dry_run:
            _check_writable(prom_file, "--prom-file")
        if outbox is not None and state_path is None and not dry_run:
            _check_writable(outbox, "--outbox")
        now, upper = sweep_clock(at_ms)
        report, lost = run_live_sweep(
            metrics,
            settings=resolve(endpoint, gateway_url, api_key),
            api_url=api_url,
            options=options,
            adjustments=adjusted,
            now_ms=now,
            upper_ms=upper,
            state_path=state_path,
            lock_wait_s=lock_wait_s,
            outbox_file=outbox,
            dry_run=dry_run,
        )
        if lost:
            late.append(lost)
        if prom_file is not None and not dry_run:
            code = exit_code(report.outcome.severity(), undelivered=bool(report.undelivered))
            exported = registry(
                report.outcome,
                duration_s=report.duration_s,
                outbox_points=len(report.undelivered),
                exit_code=code,
            )
            try:
                write_prom(prom_file, exported)
            except FleetscanError as exc:
                late.append(str(exc))
    except FleetscanError as exc:
        fail(str(exc), code=code_for(exc, ExitCode.UNKNOWN))
    return report, late


def _check_writable(path: Path, option: str) -> None:
    """`InputError` unless a file can be created beside `path` (and `path` is not a directory)."""
    directory = path.parent if str(path.parent) else Path(".")
    probe = directory / f".{path.name}.fleetscan-probe"
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "is a directory")
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise InputError(
            f"cannot write {option} {path} ({exc.strerror or exc}): nothing swept, state untouched"
        ) from None


def _pushed_down(
    url: str,
    database: str,
    org: str | None,
    metrics: Sequence[str],
    at_ms: int | None,
    options: StepOptions,
) -> LifecycleStep:
    """A one-off sweep reduced inside ClickHouse (see `fleetscan.clickhouse`)."""
    from fleetscan.clickhouse import Connection, Target, clickhouse_sweep

    now, upper = sweep_clock(at_ms)
    with Connection(url, password=clickhouse_password()) as conn:
        return clickhouse_sweep(
            conn, Target(database=database, org=org), metrics, now_ms=now, upper_ms=upper,
            options=options,
        )  # fmt: skip


def _charts(report: SweepReport, options: StepOptions) -> None:
    """`-v`: a one-line chart of each alerting board's gap over the window (`fleetscan.sparkline`)."""
    from fleetscan.sparkline import gap_lines

    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    for line in gap_lines(
        report.outcome,
        report.window,
        window_ms=options.sweep.window_ms,
        unicode=encoding in ("utf8", "utf16", "utf32"),
    ):
        typer.echo(line)


def _show(outcome: LifecycleStep, output: OutputFormat, *, verbose: bool, one_off: bool) -> None:
    ordered = render.ordered(outcome.verdicts)
    if output is OutputFormat.jsonl:
        for v in ordered:
            write_record(v.to_record())
        if verbose or one_off:
            note(render.summary(ordered))
        return
    if one_off or verbose:
        if ordered:
            echo_table(ordered)
        if not one_off:
            for line in render.open_lines(outcome):
                typer.echo(line)
        for line in render.table_notes(outcome, one_off=one_off):
            note(line)
        return
    lines = render.event_lines(outcome)
    for line in lines:
        typer.echo(line)
    for line in render.quiet_notes(outcome, changed=bool(lines)):
        note(line)


def register(app: typer.Typer) -> None:
    app.command("fleet")(fleet)
