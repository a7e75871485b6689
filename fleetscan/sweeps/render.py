"""Human output of sweeps and replays, with one aligner: the per-series table and its one-line
summary, what changed, what is open, what a replay found (`--format jsonl` uses
`SeriesVerdict.to_record`). Every line shows the lifecycle's verdict: a series is "alerting" when
its alert is open, ordered by the fleet_z it posts."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fleetscan.boards import board_findings
from fleetscan.fleet.status import Status
from fleetscan.silences import SILENCED
from fleetscan.sweeps.replay import Summary
from fleetscan.sweeps.step import LifecycleStep, SeriesVerdict, Severity
from fleetscan.timeutil import human_duration, iso_z

if TYPE_CHECKING:  # only its type: a live sweep's modules load only when one runs
    from fleetscan.sweeps.live import SweepReport

COLUMNS = (
    "SOURCE",
    "METRIC",
    "VALUE",
    "MEDIAN",
    "SCALE",
    "Z",
    "OFFSET",
    "USUAL",
    "PEERS",
    "STATUS",
    "REASON",
)
NUMERIC = frozenset(range(2, 9))  # VALUE..PEERS: right-aligned


def ordered(verdicts: Sequence[SeriesVerdict]) -> list[SeriesVerdict]:
    """Metric by metric (first-seen order), alerting first, then by fleet_z and source id."""
    rank = {m: i for i, m in enumerate(dict.fromkeys(v.result.metric for v in verdicts))}
    return sorted(
        verdicts,
        key=lambda v: (rank[v.result.metric], not v.alerting, -v.fleet_z, v.result.source_id),
    )


def align(rows: Sequence[Sequence[str]], *, right: Collection[int] = ()) -> list[str]:
    """Rows of cells, every column but the last padded to its widest cell (on the left for the
    columns in `right`, so numbers line up)."""
    if not rows:
        return []
    return _joined([list(c) for c in zip(*rows, strict=True)], right=right)


def _joined(columns: list[list[str]], *, right: Collection[int] = ()) -> list[str]:
    """`align`, given its cells column by column (how a big table is built: one pass per column
    pads it, instead of one call per cell)."""
    padded = []
    for i, cells in enumerate(columns[:-1]):
        width = max(map(len, cells))
        pad = str.rjust if i in right else str.ljust
        padded.append([pad(c, width) for c in cells])
    return ["  ".join(cells).rstrip() for cells in zip(*padded, columns[-1], strict=True)]


def table(verdicts: Sequence[SeriesVerdict]) -> str:
    """An aligned text table, one row per (source, metric), in `ordered` order."""
    results = [v.result for v in ordered(verdicts)]
    columns = [
        [r.source_id for r in results],
        [r.metric for r in results],
        _numbers([r.value for r in results]),
        _numbers([r.fleet_median for r in results]),
        _numbers([r.fleet_scale for r in results]),
        _numbers([r.z for r in results], signed=True, digits=1),
        _numbers([r.offset for r in results], signed=True),
        _numbers([r.baseline_offset for r in results], signed=True),
        [str(r.peers) for r in results],
        [r.status.value for r in results],
        [r.reason for r in results],
    ]
    for heading, cells in zip(COLUMNS, columns, strict=True):
        cells.insert(0, heading)
    return "\n".join(_joined(columns, right=NUMERIC))


def summary(verdicts: Sequence[SeriesVerdict]) -> str:
    """`150 series (50 sources × 3 metrics): 140 ok, 3 drifting ...; 9 alerting`."""
    results = [v.result for v in verdicts]
    sources = len({r.source_id for r in results})
    metrics = len({r.metric for r in results})
    counts = Counter(r.status for r in results)
    parts = ", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s])
    alerting = sum(v.alerting for v in verdicts)
    withheld = sum(r.withheld for r in results)
    return (
        f"{len(results)} series ({sources} sources × {metrics} metric"
        f"{'s' if metrics != 1 else ''}): {parts or 'nothing to score'}; {alerting} alerting"
        + (f"; {withheld} off their peers within the warm-up (--warm-up)" if withheld else "")
    )


def _numbers(xs: Sequence[float], *, signed: bool = False, digits: int = 2) -> list[str]:
    """Each of `xs` with `digits` decimals (and a sign, if `signed`); `-` for NaN and ±inf."""
    spec = f"{'+' if signed else ''}.{digits}f"
    return [format(x, spec) if math.isfinite(x) else "-" for x in xs]


def _alert(v: SeriesVerdict) -> str:
    return f"fleet_z {v.fleet_z:.1f} ({v.severity.name.lower()})"


def event_lines(outcome: LifecycleStep) -> list[str]:
    """One line per change: alerts opened and resolved, storms begun and over."""
    rows: list[list[str]] = []
    for v in outcome.events():
        r, event = v.result, v.event
        assert event is not None
        if event.kind == "opened":
            rows.append(["opened", r.metric, r.source_id, _alert(v), f"{r.status}: {r.reason}"])
        else:
            rows.append(
                [
                    "resolved",
                    r.metric,
                    r.source_id,
                    f"after {human_duration(event.at_ms - event.opened_ms)}",
                    f"opened {iso_z(event.opened_ms)}",
                ]
            )
    for f in outcome.storms:
        if f.storm is not None and f.started:
            rows.append(
                [f.kind, f.metric, f.where, f"{f.storm.flagged}/{f.storm.total}", f.storm.reason]
            )
        elif f.storm is None:
            rows.append(
                [
                    f"{f.kind} over",
                    f.metric,
                    f.where,
                    f"after {human_duration(outcome.now_ms - f.since_ms)}",
                    "",
                ]
            )
    return align(rows)


def open_lines(outcome: LifecycleStep) -> list[str]:
    """One line per open alert and ongoing storm (for `--verbose`)."""
    rows: list[list[str]] = []
    for v in sorted(outcome.verdicts, key=lambda v: (-v.severity, -v.fleet_z, v.result.source_id)):
        if not v.alerting:
            continue
        r = v.result
        since = v.state.opened_ms if v.state.opened_ms is not None else outcome.now_ms
        rows.append(
            [
                "open",
                r.metric,
                r.source_id,
                f"{_alert(v)} for {human_duration(outcome.now_ms - since)}",
                f"{r.status}: {r.reason}",
            ]
        )
    for f in outcome.storms:
        if f.storm is not None:
            rows.append(
                [
                    f.kind,
                    f.metric,
                    f.where,
                    f"for {human_duration(outcome.now_ms - f.since_ms)}",
                    f.storm.reason,
                ]
            )
    return align(rows)


def status_line(outcome: LifecycleStep) -> str:
    """`2 alerts open (1 critical), 1 storm` or `no alert open`."""
    open_alerts = [v for v in outcome.verdicts if v.alerting]
    critical = sum(v.severity is Severity.CRITICAL for v in open_alerts)
    storms = sum(f.storm is not None and f.kind == "storm" for f in outcome.storms)
    events = sum(f.storm is not None and f.kind == "cohort event" for f in outcome.storms)
    parts = [
        f"{len(open_alerts)} alert{'s' if len(open_alerts) != 1 else ''} open"
        + (f" ({critical} critical)" if critical else "")
        if open_alerts
        else "no alert open"
    ]
    if storms:
        parts.append(f"{storms} storm{'s' if storms != 1 else ''}")
    if events:
        parts.append(f"{events} cohort event{'s' if events != 1 else ''}")
    return ", ".join(parts)


def table_notes(outcome: LifecycleStep, *, one_off: bool) -> list[str]:
    """The stderr lines under a sweep's table: silenced series, whole-board findings, the summary
    (with the open alerts and storms, for cron sweeps), a shared silence, and for one-off sweeps
    the storms."""
    ordered = outcome.verdicts
    lines = silenced_lines(outcome) + [board.line for board in board_findings(outcome)]
    head = summary(ordered)
    lines.append(head if one_off else f"{head}; {status_line(outcome)}")
    silent = sum(v.result.status is Status.OUTAGE for v in ordered)
    if silent:
        lines.append(
            f"{silent} series silent together: a gateway or network outage, or Plexus "
            "answered an empty page (it does when ClickHouse times out); not board alerts"
        )
    if one_off:
        lines += [f"{f.kind}: {f.storm.reason}" for f in outcome.storms if f.storm is not None]
    return lines


def quiet_notes(outcome: LifecycleStep, *, changed: bool) -> list[str]:
    """The stderr lines of a quiet cron sweep: boards whose alerts opened now as one finding, and
    (when something `changed`) the open alerts and storms."""
    lines = [board.line for board in board_findings(outcome) if board.opened_now]
    return lines + [status_line(outcome)] if changed else lines


def silenced_lines(outcome: LifecycleStep) -> list[str]:
    """One line per silenced series of this sweep (they are scored and shown, not paged)."""
    return [
        f"silenced {v.result.source_id} {v.result.metric} ({v.result.status}): "
        + v.result.reason.split(";")[0].removeprefix("silenced ")
        for v in outcome.verdicts
        if v.held == SILENCED
    ]


def replay_summary(summary: Summary, *, every_ms: int, elapsed_s: float) -> list[str]:
    """Which series would have alerted, when and for how long; and the storms."""
    if summary.first_ms is None or summary.last_ms is None:
        return ["replay: no sweep time between --from and --to"]
    n_alerts = len(summary.episodes)
    n_storms = sum(s.kind == "storm" for s in summary.storms)
    n_events = len(summary.storms) - n_storms
    lines = [
        f"replayed {summary.sweeps} sweeps every {human_duration(every_ms)} from "
        f"{iso_z(summary.first_ms)} to {iso_z(summary.last_ms)} over {len(summary.series)} "
        f"series in {elapsed_s:.1f}s: {n_alerts} alert{'s' if n_alerts != 1 else ''}, "
        f"{n_storms} storm{'s' if n_storms != 1 else ''}"
        + (f", {n_events} cohort event{'s' if n_events != 1 else ''}" if n_events else "")
    ]
    if summary.withheld:
        n = len(summary.withheld)
        lines.append(
            f"{n} series {'were' if n != 1 else 'was'} off {'their' if n != 1 else 'its'} peers "
            "within the warm-up, before a day of history could tell a habit from a fault: shown, "
            "not alerted on (--warm-up 0 judges from the first sweep)"
        )
    if summary.episodes:
        lines.append("would have alerted:")
        rows = []
        for e in sorted(summary.episodes, key=lambda e: (e.opened_ms, e.metric, e.source_id)):
            span, lasted = _span(e.opened_ms, e.resolved_ms, summary.last_ms, "still open")
            rows.append(
                [
                    f"  {e.source_id}",
                    e.metric,
                    span,
                    f"({lasted})",
                    f"peak fleet_z {e.peak:.1f}",
                    f"{e.status}: {e.reason}",
                ]
            )
        lines.extend(align(rows))
    if summary.storms:
        lines.append("storms and cohort events (one finding each, not per-source alerts):")
        rows = []
        for s in summary.storms:
            span, lasted = _span(s.since_ms, s.ended_ms, summary.last_ms, "still going")
            rows.append(
                [
                    f"  {s.metric}",
                    s.where,
                    span,
                    f"({lasted}, {s.sweeps} sweeps)",
                    s.reason,
                ]
            )
        lines.extend(align(rows))
    return lines


def _span(start_ms: int, end_ms: int | None, last_ms: int, ongoing: str) -> tuple[str, str]:
    """`start → end` (or `ongoing` when it had not ended by the last sweep) and how long."""
    until = ongoing if end_ms is None else iso_z(end_ms)
    lasted = human_duration((last_ms if end_ms is None else end_ms) - start_ms)
    return f"{iso_z(start_ms)} → {until}", lasted


def delivery_lines(
    report: SweepReport, *, verbose: bool, outbox: Path | None, no_state: bool
) -> list[str]:
    """What a live sweep's delivery did, for stderr: a dry run, events or points not posted (and
    where they are kept), the outbox cut; with `verbose`, what was posted."""
    if report.dry_run:
        points = len(report.outcome.emissions())
        return [
            f"dry run: {points} points not posted" + ("" if no_state else ", state not written")
        ]
    lines = []
    if report.events_error:
        kept = (
            f"{report.events_kept} kept in the state, sent first next sweep"
            if report.events_kept
            else ""
        )
        lost = f"{report.events_lost} lost" if report.events_lost else ""
        which = "; ".join(x for x in (kept, lost) if x)
        lines.append(f"alert events (the reasons) not posted ({which}): {report.events_error}")
    if report.refusal:
        lines.append(report.refusal)
    elif report.rejected:
        lines.append(f"{report.rejected} points not posted: their values are not finite numbers")
    if report.dropped:
        lines.append(f"the outbox is full: dropped the {report.dropped} oldest undelivered points")
    if report.undelivered:
        if no_state:
            kept = f"kept in {outbox}" if outbox is not None else "lost: pass --outbox FILE"
        else:
            kept = "kept in the state, sent first next sweep"
        lines.append(f"{len(report.undelivered)} points not delivered ({kept}): {report.error}")
    elif verbose:
        earlier = f" ({report.from_outbox} from earlier sweeps)" if report.from_outbox else ""
        events = f" and {report.events} alert events" if report.events else ""
        lines.append(f"posted {report.posted} points{earlier}{events}")
    return lines
