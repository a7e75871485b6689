"""Measure fleetscan against simpler detectors on a simulated fleet with one fault of each kind.

    python scripts/eval_fleet.py                 # 50 boards, 7 days, 10 s cadence, sweeps every 5 min
    python scripts/eval_fleet.py --days 2 --cadence 30

Methods, all fed the same simulated readings (NaN readings reach only the methods that can see
them: a Plexus threshold and the tutorial never do, since Plexus drops them):

- fixed: a Plexus threshold monitor per metric (temperature 15-30 °C, humidity 20-80 %,
  pressure 950-1050 hPa), evaluated on every reading, alerting while a reading is outside;
- tutorial: the tutorial's per-device rolling z-score (15 samples, |z| > 3, 3 in a row), per reading;
- snapshot: every sweep, each board's latest reading against the whole fleet's median and MAD;
- fleetscan: what `fleetscan replay` (cron running `fleetscan fleet`) would show, with the
  commands' defaults: the same `step_lifecycle`, baselines learnt from the history there is (none at
  first: the first hours are snapshot-only) and folded forward, the alert lifecycle (3 flagged
  sweeps open an alert, 15 min of normal ones resolve it), storms and cohort events (each one
  finding); a series counts as alerting while its alert is open. Cohorts by site/room tags, or
  none (the whole fleet, cohorts discovered from the data).

Detection delay: from the fault's onset (or the start, for a fault already under way) to the first
alert on that board and one of the fault's metrics. False alarms: alert episodes (a series going
from quiet to alerting) on boards while they have no fault, per 100 board-days, and the number of
alerting sweeps on healthy (board, metric) series, broken down (after the warm-up) by board kind,
status and hour of day; storms and cohort events are listed. Prints a markdown table per scenario
and per cohort rule:

- scenarios: `plain` (today's simulator) and `real` (`simulate.realism`: sunny windows, radiators,
  weekday heating, groups of neighbours moving together without tags, heavy bursty loss, coarse
  readings, plus a drift that begins at night and one already under way when history starts);
- cohorts: by site/room tags, and without tags (the whole fleet is one cohort).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from fleetscan.commands.sweep_cli import DEFAULT_SWEEP
from fleetscan.detectors.base import StreakGuard
from fleetscan.detectors.tutorial import TutorialDetector
from fleetscan.fleet import SeriesBatch
from fleetscan.fleet.robust import MAD_TO_SIGMA
from fleetscan.simulate import Fault, FleetSpec, SimulatedFleet
from fleetscan.simulate.batches import fleet_batches
from fleetscan.simulate.realism import RealWorld, SharedEvent
from fleetscan.sweeps.replay import History, MetricHistory, replay
from fleetscan.sweeps.step import StepOptions
from fleetscan.timeutil import HOUR_MS, parse_duration_ms

METRICS = ("temperature", "humidity", "pressure")
START_MS = 1_781_222_400_000  # 2026-06-12 00:00:00 UTC
FIXED_BOUNDS = {"temperature": (15.0, 30.0), "humidity": (20.0, 80.0), "pressure": (950.0, 1050.0)}
# (kind, size, onset in hours from the start): one fault per room, after a day of learning.
FAULTS = (
    ("drift", 2.0, 30.5),  # °C per day: slow enough that nothing is out of range for days
    ("step", 1.5, 41.2),  # °C
    ("stuck", 0.0, 52.7),
    ("dropout", 0.0, 64.1),
    ("noisy", 6.0, 75.4),  # × the board's noise σ
    ("spikes", 2.5, 86.9),  # °C, bursts of 1-4 samples about every 10 min
    ("humidity_slide", 12.0, 98.3),  # points lost over 6 h
    ("random", 0.0, 109.8),  # the C SDK's values when the BME280 is missing
    ("nan", 0.2, 121.2),  # share of readings that are NaN
)
# The real-world scenario adds two faults of the kind a real fleet shows.
REAL_FAULTS = (  # (column, kind, size, onset in hours)
    ("night drift", "drift", 12.0, 46.0),  # 0.5 °C/h from 22:00 on the second evening
    ("drift under way", "drift", 5.0, -6.0),  # °C per day, begun 6 h before the history starts
)
WARMUP_H = 48.0  # time-of-day figures need two past days: false alarms after it are shown apart

Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]


@dataclass
class Timeline:
    """When one method was alerting on one (board, metric): sorted times and states."""

    ts: Ints
    alerting: Bools


Timelines = dict[tuple[str, str], Timeline]


def build_fleet(
    boards: int, days: float, cadence_s: float, seed: int, *, real: bool = False
) -> SimulatedFleet:
    names = [f"esp32-bme280-{i:02d}" for i in range(1, boards + 1)]
    kinds = [(kind, size, hours) for kind, size, hours in FAULTS]
    if real:
        kinds += [(kind, size, hours) for _, kind, size, hours in REAL_FAULTS]
    step = max(1, boards // len(kinds))
    faults = tuple(
        Fault(
            board=names[min(k * step + 2, boards - 1)],
            kind=kind,
            size=size,
            onset_ms=START_MS + int(hours * HOUR_MS),
        )
        for k, (kind, size, hours) in enumerate(kinds)
        if hours * HOUR_MS < days * 24 * HOUR_MS
    )
    spec = FleetSpec(
        boards=boards,
        seed=seed,
        start_ms=START_MS,
        duration_s=days * 86_400,
        cadence_s=cadence_s,
        faults=faults,
        loss_rate=0.3 if real else 0.01,
        real=real_world(names, days) if real else None,
    )
    return SimulatedFleet(spec)


def real_world(names: Sequence[str], days: float) -> RealWorld:
    """Real-fleet habits, plus two shared events: a corner in the sun on the first Saturday
    (2026-06-13, 10:00-14:00) and a 2 °C HVAC change over ten boards (two rooms) on day 3."""
    corner = tuple(names[len(names) // 2 - 2 : len(names) // 2 + 2])
    room = tuple(names[-12:-2])
    events = [
        SharedEvent(
            boards=corner, start_offset_ms=34 * HOUR_MS, duration_ms=4 * HOUR_MS, delta_c=4
        ),
        SharedEvent(boards=room, start_offset_ms=58 * HOUR_MS, duration_ms=2 * HOUR_MS, delta_c=2),
    ]
    return RealWorld(
        sun_share=0.2,
        radiator_share=0.1,
        heating_c=1.5,
        group_events_per_day=0.5,
        shared_events=tuple(e for e in events if e.start_offset_ms < days * 24 * HOUR_MS),
        loss_bursts_per_day=6.0,
        quantum={"temperature": 0.04, "humidity": 0.1},
    )


def fault_label(fault: Fault, start_ms: int) -> str:
    """The table column of a fault: its kind, or one of `REAL_FAULTS`' names."""
    hours = (fault.onset_at(start_ms) - start_ms) / HOUR_MS
    for label, kind, size, at in REAL_FAULTS:
        if abs(at - hours) < 1e-9 and (kind, size) == (fault.kind, fault.size):
            return label
    return fault.kind


def sweep_times(fleet: SimulatedFleet, every_ms: int, window_ms: int) -> list[int]:
    return list(range(fleet.start_ms + window_ms, fleet.end_ms, every_ms))


@dataclass
class Finding:
    """One storm or cohort event as the lifecycle reported it: where, when, which boards."""

    kind: str  # "storm" or "cohort event"
    metric: str
    where: str
    since_ms: int
    until_ms: int
    members: set[str]


@dataclass
class FleetscanRun:
    """What `fleetscan replay` would have shown: per-series timelines (the lifecycle's alerting),
    the status and hour behind every alerting sweep, and the storms and cohort events."""

    timelines: Timelines
    statuses: dict[tuple[str, str], list[str]]
    findings: list[Finding]
    elapsed_s: float


def history_of(batches: dict[str, SeriesBatch]) -> History:
    """The simulated readings as the replay's stored history (rows already in time order)."""
    metrics = {}
    for metric, b in batches.items():
        labels = tuple(dict.fromkeys(c for c in b.cohorts if c))
        code = {c: i for i, c in enumerate(labels)}
        of_source = np.array([code.get(c, -1) for c in b.cohorts], dtype=np.int64)
        metrics[metric] = MetricHistory(
            metric, b.source_ids, labels, b.ts_ms, b.value, b.source, of_source[b.source]
        )
    return History(metrics)


def run_fleetscan(history: History, times: Sequence[int], options: StepOptions) -> FleetscanRun:
    """The sweeps `fleetscan replay` (and cron running `fleetscan fleet`) would run: the same
    `step_lifecycle`, baselines learnt and folded forward, the alert lifecycle, storms and cohort
    events; a series counts as alerting while its alert is open, as a user would see it."""
    stamps: dict[tuple[str, str], list[int]] = {}
    states: dict[tuple[str, str], list[bool]] = {}
    statuses: dict[tuple[str, str], list[str]] = {}
    opened_as: dict[tuple[str, str], str] = {}
    findings: list[Finding] = []
    going: dict[tuple[str, str | None], Finding] = {}
    started = time.perf_counter()
    for outcome in replay(history, times, options):
        for v in outcome.verdicts:
            key = (v.result.source_id, v.result.metric)
            if v.event is not None and v.event.kind == "opened":
                opened_as[key] = v.result.status.value
            shown = v.result.status.value if v.flagged else opened_as.get(key, "?") + " (held)"
            stamps.setdefault(key, []).append(outcome.now_ms)
            states.setdefault(key, []).append(v.alerting)
            statuses.setdefault(key, []).append(shown if v.alerting else "")
        for f in outcome.storms:
            fkey = (f.metric, f.cohort)
            if f.storm is None:
                going.pop(fkey, None)
                continue
            found = going.get(fkey)
            if found is None:
                found = going[fkey] = Finding(
                    f.kind, f.metric, f.where, outcome.now_ms, outcome.now_ms, set()
                )
                findings.append(found)
            found.until_ms = outcome.now_ms
            found.members.update(f.storm.members)
    elapsed = time.perf_counter() - started
    timelines = {
        k: Timeline(np.asarray(stamps[k], dtype=np.int64), np.array(v, dtype=np.bool_))
        for k, v in states.items()
    }
    return FleetscanRun(timelines, statuses, findings, elapsed)


def run_snapshot(
    batches: dict[str, SeriesBatch], times: Sequence[int], window_ms: int, threshold: float = 3.0
) -> Timelines:
    out: Timelines = {}
    ts = np.asarray(times, dtype=np.int64)
    for metric, batch in batches.items():
        finite = np.isfinite(batch.value)
        src, bts, val = batch.source[finite], batch.ts_ms[finite], batch.value[finite]
        n = len(batch.source_ids)
        states = np.zeros((n, len(times)), dtype=np.bool_)
        for j, now in enumerate(times):
            lo, hi = np.searchsorted(bts, [now - window_ms, now], side="right")
            latest = np.full(n, np.nan)
            latest[src[lo:hi]] = val[lo:hi]  # rows are in time order: the last write wins
            median = np.nanmedian(latest)
            mad = MAD_TO_SIGMA * np.nanmedian(np.abs(latest - median))
            if mad > 0:
                states[:, j] = np.abs(latest - median) / mad > threshold
        for i, board in enumerate(batch.source_ids):
            out[(board, metric)] = Timeline(ts, states[i])
    return out


def run_per_reading(
    fleet: SimulatedFleet, decide: Callable[[str, Sequence[float]], list[bool]]
) -> Timelines:
    out: Timelines = {}
    for board in fleet.boards:
        for metric in METRICS:
            ts, values = fleet.series(board, metric)
            finite = np.isfinite(values)  # Plexus never stores NaN, so these methods never see it
            out[(board, metric)] = Timeline(
                np.asarray(ts[finite]), np.array(decide(metric, values[finite].tolist()))
            )
    return out


def fixed_threshold(metric: str, values: Sequence[float]) -> list[bool]:
    low, high = FIXED_BOUNDS[metric]
    return [v < low or v > high for v in values]


def tutorial(metric: str, values: Sequence[float]) -> list[bool]:
    detector, guard = TutorialDetector(window=15, threshold=3.0), StreakGuard(consecutive=3)
    states = []
    for v in values:
        guard.push(detector.update(0, v).anomalous)
        states.append(guard.firing)
    return states


@dataclass(frozen=True)
class Score:
    delays: dict[str, float | None]  # minutes from onset (or the start) to the first alert
    false_rate: float  # alert episodes per 100 healthy board-days
    false_sweeps: int  # alerting sweeps (or readings) on healthy series
    false_boards: int  # healthy boards that alerted at least once
    late_false_sweeps: int  # false-alarm sweeps after the first `WARMUP_H` hours
    # share of the sweeps (readings) from the first alert to the end with an alert open on one of
    # the fault's metrics: an alert that closes while the board is still off is a miss too
    held: dict[str, float | None]


def score(fleet: SimulatedFleet, timelines: Timelines) -> Score:
    """How soon each fault was caught, and how often healthy boards alerted."""
    start = fleet.start_ms
    onset: dict[str, tuple[str, int, tuple[str, ...]]] = {
        f.board: (fault_label(f, start), max(f.onset_at(start), start), f.metrics)
        for f in fleet.spec.faults
    }
    delays: dict[str, float | None] = {label: None for label, *_ in onset.values()}
    false_alarms = false_sweeps = late = 0
    noisy_boards: set[str] = set()
    for (board, metric), tl in timelines.items():
        rising = tl.alerting & ~np.concatenate([[False], tl.alerting[:-1]])
        fault = onset.get(board)
        healthy_until = fault[1] if fault else fleet.end_ms
        healthy = tl.ts < healthy_until
        false_alarms += int((rising & healthy).sum())
        false_sweeps += int((tl.alerting & healthy).sum())
        late += int((tl.alerting & healthy & (tl.ts >= start + WARMUP_H * HOUR_MS)).sum())
        if (tl.alerting & healthy).any():
            noisy_boards.add(board)
        if fault and metric in fault[2]:
            hits = tl.ts[tl.alerting & (tl.ts >= fault[1])]
            if len(hits):
                delay = (int(hits[0]) - fault[1]) / 60_000
                best = delays.get(fault[0])
                delays[fault[0]] = delay if best is None else min(best, delay)
    board_days = sum(
        ((onset[b][1] if b in onset else fleet.end_ms) - start) / 86_400_000.0 for b in fleet.boards
    )
    rate = 100.0 * false_alarms / max(board_days, 1e-9)
    held = {
        label: _held(timelines, board, metrics, since + 60_000 * delay)
        for board, (label, since, metrics) in onset.items()
        if (delay := delays[label]) is not None
    }
    return Score(delays, rate, false_sweeps, len(noisy_boards), late, held)


def _held(timelines: Timelines, board: str, metrics: Sequence[str], from_ms: float) -> float:
    """The share of `board`'s sweeps from `from_ms` on with an alert open on any of `metrics`."""
    spans = [timelines[(board, m)] for m in metrics if (board, m) in timelines]
    ts = np.unique(np.concatenate([tl.ts for tl in spans]))
    open_ = np.zeros(len(ts), np.bool_)
    for tl in spans:
        open_[np.searchsorted(ts, tl.ts[tl.alerting])] = True
    after = ts >= from_ms
    return float(open_[after].mean()) if after.any() else 0.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=50)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--cadence", type=float, default=10.0, help="seconds between readings")
    parser.add_argument("--sweep", default="5m", help="time between sweeps")
    parser.add_argument("--window", default="10m")
    parser.add_argument("--min-peers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scenario", choices=("plain", "real", "both"), default="both")
    parser.add_argument(
        "--fleetscan-only", action="store_true", help="skip the simpler methods (faster)"
    )
    args = parser.parse_args(argv)
    scenarios = ("plain", "real") if args.scenario == "both" else (args.scenario,)
    for scenario in scenarios:
        evaluate(args, real=scenario == "real")
    return 0


def evaluate(args: argparse.Namespace, *, real: bool) -> None:
    """One scenario's table: every method, fleetscan with and without tags."""
    t0 = time.perf_counter()
    fleet = build_fleet(args.boards, args.days, args.cadence, args.seed, real=real)
    tagged = fleet_batches(fleet, METRICS, group_by=("site", "room"), time_order=True)
    untagged = fleet_batches(fleet, METRICS, time_order=True)
    readings = sum(len(b) for b in tagged.values())
    window_ms, every_ms = parse_duration_ms(args.window), parse_duration_ms(args.sweep)
    times = sweep_times(fleet, every_ms, window_ms)
    name = "real-world" if real else "plain"
    print(
        f"[{name}] simulated {args.boards} boards × {args.days:g} days at {args.cadence:g} s: "
        f"{readings:,} readings, {len(times)} sweeps ({time.perf_counter() - t0:.1f}s)",
        file=sys.stderr,
    )

    runs: dict[str, Timelines] = {}
    if not args.fleetscan_only:
        t0 = time.perf_counter()
        runs["fixed threshold"] = run_per_reading(fleet, fixed_threshold)
        runs["tutorial z-score"] = run_per_reading(fleet, tutorial)
        print(f"per-reading methods: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        runs["snapshot median/MAD"] = run_snapshot(tagged, times, window_ms)
    fleetscan: dict[str, FleetscanRun] = {}
    for label, batches, group_by in (
        ("tags", tagged, ["site", "room"]),
        ("no tags", untagged, []),
    ):
        cli = replace(
            DEFAULT_SWEEP, window=args.window, group_by=group_by, min_peers=args.min_peers
        )  # the fleet/replay commands' defaults, lifecycle included
        run = run_fleetscan(history_of(batches), times, cli.step_options())
        fleetscan[label] = run
        runs[f"fleetscan, {label}"] = run.timelines
        print(
            f"fleetscan ({label}): {run.elapsed_s:.1f}s for {len(times)} sweeps "
            f"({1000 * run.elapsed_s / len(times):.1f} ms per sweep of {args.boards} boards "
            "× 3 metrics, lifecycle included)",
            file=sys.stderr,
        )

    scores = {method: score(fleet, timelines) for method, timelines in runs.items()}
    kinds = list(next(iter(scores.values())).delays)
    header = [
        "method",
        *kinds,
        "false alarms / 100 board-days",
        "false-alarm sweeps",
        f"after {WARMUP_H:g} h",
        "healthy boards alerted",
        "storms",
        "cohort events",
    ]
    print(f"\n### {name} fleet\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for method, result in scores.items():
        cells = [_minutes(result.delays[k]) for k in kinds]
        print(
            f"| {method} | " + " | ".join(cells) + f" | {result.false_rate:.1f} | "
            f"{result.false_sweeps} | {result.late_false_sweeps} | {result.false_boards} | "
            + _findings(fleetscan, method)
            + " |"
        )
    print(
        f"\nDetection delay in minutes after onset (— = never detected). {args.boards} boards, "
        f"{args.days:g} days, one reading every {args.cadence:g} s, sweeps every {args.sweep} "
        f"over a {args.window} window, --min-peers {args.min_peers}; fleetscan groups by "
        "site/room (tags) or compares the whole fleet (no tags). False-alarm sweeps count "
        "alerting sweeps (readings, for the per-reading methods) on healthy series; fleetscan "
        "runs the fleet/replay commands' sweep (default guard: 3 flagged sweeps open an alert, "
        "15 min of normal ones resolve it) and a storm or a cohort event counts as one finding."
    )
    print(f"\n#### alert kept open: % of sweeps from the first alert to the end ({name})\n")
    print("| method | " + " | ".join(kinds) + " |")
    print("|" + "---|" * (len(kinds) + 1))
    for method, result in scores.items():
        cells = [_percent(result.held.get(k)) for k in kinds]
        print(f"| {method} | " + " | ".join(cells) + " |")
    print(
        "\nEvery fault lasts to the end of the run; an alert that resolves while the board is "
        "still off counts against it (spikes come in bursts, so a gap between them may resolve)."
    )
    for label, run in fleetscan.items():
        print(f"\n#### fleetscan, {label}: false-alarm sweeps after {WARMUP_H:g} h\n")
        print(breakdown(fleet, run))
        for f in run.findings:
            print(
                f"- {f.kind} in {f.metric}, {f.where}: {_hours(fleet, f.since_ms)}-"
                f"{_hours(fleet, f.until_ms)}"
                + (
                    f", {len(f.members)} boards ({', '.join(sorted(f.members))})"
                    if f.members
                    else ""
                )
            )
    if real:
        for event in fleet.shared_events():
            boards = event["boards"]
            assert isinstance(boards, list)
            print(
                f"shared event: {len(boards)} boards ({boards[0]} .. {boards[-1]}) "
                f"{event['delta_c']:+.1f} °C from {_hours(fleet, event['start_ms'])} "
                f"to {_hours(fleet, event['end_ms'])}"
            )


def board_kind(fleet: SimulatedFleet, board: str, at_ms: int) -> str:
    """What a healthy board is, for the false-alarm breakdown: moving with a group of neighbours
    (within an hour of a shared event), in the sun a few hours a day, over a radiator, or plain
    (every board of the real-world scenario is quantised and loses packets in bursts)."""
    world = fleet.layout.world
    if world is None:
        return "plain"
    i = fleet.boards.index(board)
    for members, start, end, _ in world.groups:
        if i in members and start - HOUR_MS <= at_ms <= end + HOUR_MS:
            return "moving together"
    habits = world.habits[i]
    if habits.sun_peak_c > 0:
        return "daily pattern (sun)"
    return "radiator" if habits.radiator_c > 0 else "plain (quantised, lossy)"


def breakdown(fleet: SimulatedFleet, run: FleetscanRun) -> str:
    """Alerting sweeps on healthy series after the warm-up, by board kind and by status (the
    status that opened the alert, "(held)" while it recovers), and by hour of day (UTC)."""
    faulty = {f.board: max(f.onset_at(fleet.start_ms), fleet.start_ms) for f in fleet.spec.faults}
    after = fleet.start_ms + WARMUP_H * HOUR_MS
    table: dict[str, dict[str, int]] = {}
    hours = [0] * 24
    for (board, metric), tl in run.timelines.items():
        shown = run.statuses[(board, metric)]
        for at, alerting, status in zip(tl.ts.tolist(), tl.alerting.tolist(), shown, strict=True):
            if not alerting or at < after or at >= faulty.get(board, fleet.end_ms):
                continue
            kind = board_kind(fleet, board, at)
            row = table.setdefault(kind, {})
            row[f"{metric} {status}"] = row.get(f"{metric} {status}", 0) + 1
            hours[at // HOUR_MS % 24] += 1
    if not table:
        return "none"
    lines = [
        f"- {kind}: {sum(row.values())} ("
        + ", ".join(f"{k} {n}" for k, n in sorted(row.items(), key=lambda kv: -kv[1]))
        + ")"
        for kind, row in sorted(table.items())
    ]
    lines.append("- by hour (UTC): " + ", ".join(f"{h:02d}h {n}" for h, n in enumerate(hours) if n))
    return "\n".join(lines)


def _findings(runs: dict[str, FleetscanRun], method: str) -> str:
    """The storms and cohort events cells of a fleetscan row (blank for the other methods)."""
    label = method.removeprefix("fleetscan, ")
    run = runs.get(label)
    if run is None:
        return " | "
    kinds = [f.kind for f in run.findings]
    return f"{kinds.count('storm')} | {kinds.count('cohort event')}"


def _hours(fleet: SimulatedFleet, at: object) -> str:
    assert isinstance(at, int)
    return f"h{(at - fleet.start_ms) / HOUR_MS:.1f}"


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.0f}"


def _minutes(delay: float | None) -> str:
    if delay is None:
        return "—"
    return f"{delay:.0f}" if delay >= 10 else f"{delay:.1f}"


if __name__ == "__main__":
    raise SystemExit(main())
