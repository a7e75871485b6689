"""Offline evaluation of the `fleetscan device` methods: every method against the tutorial, one run.

    python scripts/eval_device.py            # ~5 minutes on 2 cores: simulator (3 seeds) + NAB
    python scripts/eval_device.py --quick    # 1 seed, about a minute

Each stream is replayed exactly as `fleetscan device` runs it: readings in time order through
`make_detector(method, DetectorOptions(metric=...))` with default options, NaN readings skipped, the
tutorial's 3-in-a-row guard (`StreakGuard(3)`), and, for the methods that watch silence (`auto`,
`dropout`), `idle(now)` polls once a second between readings. An **alert** is the moment the guard
starts firing (its onset); a long alert counts once.

**(a) Simulator fault catalogue** (`fleetscan.simulate`, ESP32 + BME280 boards, 1 % packet loss,
±50 ms jitter). One fault per board from its onset to the end of the run, plus healthy boards; HVAC
setpoint events and gateway outages are switched off here so that every alert can be attributed.
Two cadences: 2 s for two days (onset at 30 h) and 5 min for seven days (onset at day 3); the
onset comes after the first day because `twoscale` learns everything during its first day.
- *delay*: first alert on the faulted board and metric at or after the onset, minus the onset
  (median over seeds; `n/N` = seeds in which it was caught, `miss` = never);
- *FA/day*: alerts per stream-day on the healthy boards (all three metrics).
A third table replays a healthy fleet with HVAC setpoint steps (±1.5-3 °C for 40-90 min, about one
per room per day) and gateway outages switched on: a per-device detector cannot tell an HVAC step
from a fault (the fleet comparison can), so those alerts are counted separately.

**(b) A real labelled series, scored NAB-style.** `scripts/data/nab_ambient_temperature_system_
failure.txt`: NAB's hourly office temperature with its two labelled anomaly windows (see
`scripts/data/README.md` for source, licence and transcription). Readings only (no idle polls: NAB
detectors see rows), metric name `ambient_temperature` (no sensor profile), default options.
Scoring follows NAB's sweeper with the *standard* profile (A_TP = 1, A_FP = 0.11, A_FN = 1):
- rows are indexed; the first 750 rows (NAB's probationary period, min(15 % of rows, 750)) are not
  scored;
- the first alert inside a window earns `σ(p) / σ(-1)` with `σ(p) = 2/(1 + e^(5p)) - 1` and `p =
  -(right - i + 1) / width` (-1 at the window's start, 0 at its end): earlier is worth more; later
  alerts in the same window count for nothing;
- an alert outside every window costs `0.11 · σ(d)` where `d` is its distance past the previous
  window in window widths (`σ(d)` is negative, and -1 beyond 3 widths or before any window);
- a window without an alert costs 1;
- the NAB score is `100 · (raw - null) / (perfect - null)` with `null = -1 · windows` (no alerts)
  and `perfect = +1 · windows`. 0 is the do-nothing detector, 100 perfect, negative worse than
  silence. Unlike NAB's leaderboard, no threshold is tuned per detector: every method runs with
  `--threshold 3` and the 3-in-a-row guard, and alerts are counted at their onset, not per row.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from fleetscan.detectors import METHODS, DetectorOptions, StreakGuard, make_detector
from fleetscan.simulate import Fault, FleetSpec, SimulatedFleet

DATA = Path(__file__).resolve().parent / "data"
NAB_SERIES = DATA / "nab_ambient_temperature_system_failure.txt"
NAB_WINDOWS = DATA / "nab_ambient_temperature_system_failure.windows.json"
START_MS = 1_781_222_400_000  # 2026-06-12 00:00 UTC: any fixed start will do
POLL_MS = 1000
CONSECUTIVE = 3
IDLE_METHODS = frozenset({"auto", "dropout"})
ORDER = ("tutorial", "auto", "robust", "twoscale", "stuck", "dropout", "plausibility")

# (label, kind, size, metric evaluated): the fault catalogue, sizes in the metric's units.
CATALOGUE: tuple[tuple[str, str, float, str], ...] = (
    ("drift 5°C/d", "drift", 5.0, "temperature"),
    ("step 2°C", "step", 2.0, "temperature"),
    ("stuck", "stuck", 0.0, "temperature"),
    ("dropout", "dropout", 0.0, "temperature"),
    ("noisy ×10", "noisy", 10.0, "temperature"),
    ("spikes 5°C", "spikes", 5.0, "temperature"),
    ("RH slide 12", "humidity_slide", 12.0, "humidity"),
    ("no sensor", "random", 0.0, "temperature"),
    ("all NaN", "nan", 1.0, "temperature"),
)
HEALTHY_BOARDS = 2
METRICS = ("temperature", "humidity", "pressure")


@dataclass(frozen=True)
class Alert:
    ts_ms: int
    check: str


def replay(
    method: str,
    metric: str,
    ts: Sequence[int],
    values: Sequence[float],
    *,
    end_ms: int,
    polls: bool = True,
) -> list[Alert]:
    """Alert onsets of one stream replayed through `method` as the device runner would."""
    detector = make_detector(method, DetectorOptions(metric=metric))
    guard = StreakGuard(CONSECUTIVE)
    watch_silence = polls and method in IDLE_METHODS
    alerts: list[Alert] = []
    last: int | None = None

    def push(score_anomalous: bool, at: int, check: str) -> None:
        was = guard.firing
        guard.push(score_anomalous)
        if guard.firing and not was:
            alerts.append(Alert(at, check))

    def idle_until(limit: int) -> None:
        if last is None or not watch_silence:
            return
        now = last + POLL_MS
        while now < limit:
            score = detector.idle(now)
            if score is not None:
                push(score.anomalous, now, score.check)
                if guard.firing:
                    return  # the alert stays on until a reading arrives
            now += POLL_MS

    for t, v in zip(ts, values, strict=True):
        if not math.isfinite(v):
            continue
        idle_until(t)
        score = detector.update(t, v)
        push(score.anomalous, t, score.check)
        last = t
    idle_until(end_ms)
    return alerts


# ---- (a) the simulator -------------------------------------------------------------------------


@dataclass(frozen=True)
class SimConfig:
    name: str
    cadence_s: float
    duration_s: float
    onset_s: float


SIM_CONFIGS = (
    SimConfig("2 s cadence, 2 days, onset at 30 h", 2.0, 2 * 86_400.0, 30 * 3600.0),
    SimConfig("5 min cadence, 7 days, onset at day 3", 300.0, 7 * 86_400.0, 3 * 86_400.0),
)


def fault_fleet(config: SimConfig, seed: int) -> tuple[SimulatedFleet, list[tuple[str, str, str]]]:
    """A fleet with one catalogue fault per board; returns it and (board, label, metric) rows."""
    boards = len(CATALOGUE) + HEALTHY_BOARDS
    names = [f"esp32-bme280-{i:02d}" for i in range(1, boards + 1)]
    faults = tuple(
        Fault(board=names[i], kind=kind, size=size, onset_offset_ms=int(config.onset_s * 1000))
        for i, (_, kind, size, _) in enumerate(CATALOGUE)
    )
    spec = FleetSpec(
        boards=boards,
        seed=seed,
        start_ms=START_MS,
        duration_s=config.duration_s,
        cadence_s=config.cadence_s,
        faults=faults,
        hvac_events_per_day=0.0,
        gateway_gaps_per_day=0.0,
    )
    rows = [(names[i], label, metric) for i, (label, _, _, metric) in enumerate(CATALOGUE)]
    return SimulatedFleet(spec), rows


def evaluate_faults(config: SimConfig, seeds: int) -> dict[str, dict[str, object]]:
    """Per method: per fault label the list of delays (None = missed), and healthy FA/day."""
    results: dict[str, dict[str, object]] = {
        m: {"delays": {label: [] for label, *_ in CATALOGUE}, "fa": 0, "days": 0.0} for m in ORDER
    }
    for seed in range(seeds):
        fleet, rows = fault_fleet(config, seed)
        onset = START_MS + int(config.onset_s * 1000)
        end = fleet.end_ms
        for board, label, metric in rows:
            ts, values = fleet.series(board, metric)
            t_list, v_list = ts.tolist(), values.tolist()
            for method in ORDER:
                alerts = replay(method, metric, t_list, v_list, end_ms=end)
                after = [a.ts_ms - onset for a in alerts if a.ts_ms >= onset]
                delays = results[method]["delays"]
                assert isinstance(delays, dict)
                delays[label].append(after[0] if after else None)
        for board in fleet.boards[len(CATALOGUE) :]:
            for metric in METRICS:
                ts, values = fleet.series(board, metric)
                t_list, v_list = ts.tolist(), values.tolist()
                for method in ORDER:
                    alerts = replay(method, metric, t_list, v_list, end_ms=end)
                    results[method]["fa"] = int(str(results[method]["fa"])) + len(alerts)
                    days = float(str(results[method]["days"]))
                    results[method]["days"] = days + config.duration_s / 86_400.0
    return results


def fmt_delay(ms: float) -> str:
    s = ms / 1000
    if s < 120:
        return f"{s:.0f}s"
    if s < 7200:
        return f"{s / 60:.0f}m"
    return f"{s / 3600:.1f}h"


def fault_table(config: SimConfig, results: dict[str, dict[str, object]], seeds: int) -> str:
    labels = [label for label, *_ in CATALOGUE]
    head = "| method | " + " | ".join(labels) + " | FA/day |"
    lines = [
        f"**{config.name}** (delay to first alert, median of {seeds} seed(s); caught/seeds)",
        "",
        head,
        "|" + "---|" * (len(labels) + 2),
    ]
    for method in ORDER:
        delays = results[method]["delays"]
        assert isinstance(delays, dict)
        cells = []
        for label in labels:
            found = [d for d in delays[label] if d is not None]
            if not found:
                cells.append("miss")
            else:
                cells.append(f"{fmt_delay(statistics.median(found))} {len(found)}/{seeds}")
        days = float(str(results[method]["days"]))
        fa = int(str(results[method]["fa"])) / days if days else 0.0
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {fa:.2f} |")
    return "\n".join(lines)


def evaluate_events(seed: int = 0) -> str:
    """A healthy fleet with HVAC events and gateway outages: where do the alerts fall?"""
    spec = FleetSpec(boards=10, seed=seed, start_ms=START_MS, duration_s=86_400.0, cadence_s=2.0)
    fleet = SimulatedFleet(spec)
    hvac = fleet.hvac_events()
    gaps = fleet.gateway_gaps()
    counts = {m: {"hvac": 0, "gateway": 0, "other": 0} for m in ORDER}
    for board in fleet.boards:
        spans = [
            (int(str(e["start_ms"])), int(str(e["end_ms"])) + 1_800_000)
            for e in hvac
            if board in e["boards"]
        ]  # type: ignore[operator]
        outages = [(int(str(g["start_ms"])), int(str(g["end_ms"])) + 600_000) for g in gaps]
        for metric in METRICS:
            ts, values = fleet.series(board, metric)
            t_list, v_list = ts.tolist(), values.tolist()
            for method in ORDER:
                for alert in replay(method, metric, t_list, v_list, end_ms=fleet.end_ms):
                    if any(a <= alert.ts_ms <= b for a, b in spans):
                        counts[method]["hvac"] += 1
                    elif any(a <= alert.ts_ms <= b for a, b in outages):
                        counts[method]["gateway"] += 1
                    else:
                        counts[method]["other"] += 1
    streams = len(fleet.boards) * len(METRICS)
    lines = [
        f"**Healthy fleet with normal events** (10 boards × 3 metrics, 1 day, 2 s; "
        f"{len(hvac)} HVAC setpoint events, {len(gaps)} gateway outage(s)); alerts per stream-day",
        "",
        "| method | during HVAC events | during gateway outages | other (false alarms) |",
        "|---|---|---|---|",
    ]
    for method in ORDER:
        c = counts[method]
        lines.append(
            f"| {method} | {c['hvac'] / streams:.2f} | {c['gateway'] / streams:.2f} | "
            f"{c['other'] / streams:.2f} |"
        )
    return "\n".join(lines)


# ---- (b) NAB -----------------------------------------------------------------------------------

A_TP, A_FP, A_FN = 1.0, 0.11, 1.0
PROBATION_PERCENT = 0.15


def load_nab() -> tuple[list[int], list[float], list[tuple[int, int]]]:
    ts: list[int] = []
    values: list[float] = []
    for line in NAB_SERIES.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        head, *cells = line.split()
        start = datetime.strptime(head, "%Y-%m-%dT%H").replace(tzinfo=UTC)
        for i, cell in enumerate(cells):
            ts.append(int((start + timedelta(hours=i)).timestamp() * 1000))
            values.append(float(cell))
    labels = json.loads(NAB_WINDOWS.read_text(encoding="utf-8"))
    windows = []
    for a, b in labels["windows"]:
        lo = datetime.strptime(a, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        hi = datetime.strptime(b, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        windows.append((int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)))
    return ts, values, windows


def scaled_sigmoid(position: float) -> float:
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


@dataclass(frozen=True)
class NabResult:
    score: float
    detected: int
    false_positives: int
    first_hours: list[float | None]


def nab_score(ts: list[int], alerts: list[Alert], windows: list[tuple[int, int]]) -> NabResult:
    """NAB standard-profile score of alert onsets (see the module docstring)."""
    n = len(ts)
    probation = min(math.floor(PROBATION_PERCENT * n), int(PROBATION_PERCENT * 5000))
    spans = [(bisect_left(ts, a), bisect_right(ts, b) - 1) for a, b in windows]
    max_tp = scaled_sigmoid(-1.0)
    raw = 0.0
    hit: list[float | None] = [None] * len(spans)
    fps = 0
    for alert in alerts:
        i = bisect_left(ts, alert.ts_ms)
        if i < probation:
            continue
        inside = next((k for k, (lo, hi) in enumerate(spans) if lo <= i <= hi), None)
        if inside is not None:
            if hit[inside] is None:
                lo, hi = spans[inside]
                width = hi - lo + 1
                raw += A_TP * scaled_sigmoid(-(hi - i + 1) / width) / max_tp
                hit[inside] = (ts[i] - ts[lo]) / 3_600_000
            continue
        fps += 1
        before = [(lo, hi) for lo, hi in spans if hi < i]
        if not before:
            raw += A_FP * -1.0
        else:
            lo, hi = before[-1]
            raw += A_FP * scaled_sigmoid(abs(hi - i) / (hi - lo))
    raw -= A_FN * sum(1 for h in hit if h is None)
    null, perfect = -A_FN * len(spans), A_TP * len(spans)
    score = 100.0 * (raw - null) / (perfect - null)
    return NabResult(score, sum(1 for h in hit if h is not None), fps, hit)


def nab_table() -> str:
    ts, values, windows = load_nab()
    lines = [
        f"**NAB realKnownCause/ambient_temperature_system_failure** ({len(ts)} hourly readings, "
        f"{len(windows)} labelled windows; NAB standard profile, 0 = no detections, 100 = perfect)",
        "",
        "| method | NAB score | windows caught | false alarms | first alert (hours into each window) |",
        "|---|---|---|---|---|",
    ]
    for method in ORDER:
        alerts = replay(method, "ambient_temperature", ts, values, end_ms=ts[-1], polls=False)
        result = nab_score(ts, alerts, windows)
        firsts = ", ".join("—" if h is None else f"{h:.0f}" for h in result.first_hours)
        lines.append(
            f"| {method} | {result.score:.1f} | {result.detected}/{len(windows)} | "
            f"{result.false_positives} | {firsts} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="simulator seeds per cadence")
    parser.add_argument("--quick", action="store_true", help="one seed (about a minute)")
    parser.add_argument("--skip-sim", action="store_true", help="only the NAB part")
    parser.add_argument("--skip-nab", action="store_true", help="only the simulator part")
    args = parser.parse_args(argv)
    seeds = 1 if args.quick else max(1, args.seeds)
    assert set(ORDER) == set(METHODS)
    started = time.perf_counter()
    sections = []
    if not args.skip_sim:
        for config in SIM_CONFIGS:
            sections.append(fault_table(config, evaluate_faults(config, seeds), seeds))
        sections.append(evaluate_events())
    if not args.skip_nab:
        sections.append(nab_table())
    print("\n\n".join(sections))
    print(
        f"\n_(scripts/eval_device.py, {time.perf_counter() - started:.0f} s; numpy "
        f"{np.__version__})_",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
