"""Benchmarks of the fleet scoring core (`score_window`) and of replaying history through it.

- `fleet_core`: readings/s of one sweep over N sources × 300 readings (one metric, default
  options, no baseline yet), against a pandas groupby median/MAD and a plain Python loop doing
  the same median/MAD work (per-source median and MAD, fleet median and MAD of the medians, z).
  fleetscan computes more per source (15 window statistics, leave-one-out peers, reasons), so
  the baselines are a floor, not a like-for-like port. Peak memory comes from tracemalloc
  (NumPy reports its buffers to it), measured in a separate untimed run.
- `replay`: a simulated fleet's history swept every 5 minutes over 10-minute windows with the
  baseline carried from sweep to sweep (what `scripts/eval_fleet.py` and a replay command do):
  readings of history covered per second, against the tutorial's per-device z-score.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from bench_common import (
    NOW_MS,
    WINDOW_MS,
    Floats,
    Ints,
    Row,
    Target,
    fleet_batch,
    measure,
    size_label,
)

from fleetscan.fleet import Baseline, SeriesBatch, SweepOptions, score_window
from fleetscan.fleet.baseline import MetricBaseline
from fleetscan.fleet.reduce import reduce_window
from fleetscan.fleet.robust import MAD_TO_SIGMA
from fleetscan.fleet.score import score_metric
from fleetscan.simulate import FleetSpec, SimulatedFleet
from fleetscan.simulate.batches import fleet_batches

ROOT = Path(__file__).resolve().parent.parent
CORE_TARGET = Target(20e6, True, "≥ 20 M/s at 10k")
REPLAY_TARGET = Target(1e6, True, "≥ 1 M/s")


def fleet_core(sizes: tuple[int, ...], repeats: int, *, pure_max: int) -> list[Row]:
    """Section 1: one `score_window` per size, next to pandas and a plain loop."""
    return [_core_row(n, repeats, pure_python=n <= pure_max) for n in sizes]


def _core_row(n: int, repeats: int, *, pure_python: bool) -> Row:
    options = SweepOptions()
    batch = fleet_batch(n)
    readings = len(batch)
    window = {"temperature": batch}
    sweep = measure(lambda: score_window(window, {}, now_ms=NOW_MS, options=options), repeats)
    core = measure(lambda: _reduce_and_score(batch, options), repeats)
    peak = _peak_mib(lambda: score_window(window, {}, now_ms=NOW_MS, options=options))
    source, ts, value = batch.source, batch.ts_ms, batch.value
    pandas = measure(lambda: _pandas(source, ts, value), repeats)
    baselines = [("pandas", readings / pandas.median_s)]
    if pure_python:
        lists = (source.tolist(), ts.tolist(), value.tolist())
        loop = measure(lambda: _pure_python(*lists), max(1, min(repeats, 3)))
        baselines.append(("Python loop", readings / loop.median_s))
    return Row(
        "1 fleet core",
        f"{size_label(n)} sources × 300",
        readings / sweep.median_s,
        "readings/s",
        sweep,
        tuple(baselines),
        CORE_TARGET if n == 10_000 else None,
        f"reduce+score alone {readings / core.median_s / 1e6:.3g} M/s; peak {peak:.0f} MiB",
        {"readings": float(readings), "peak_mib": peak, "core_s": core.median_s},
    )


def _reduce_and_score(batch: SeriesBatch, options: SweepOptions) -> None:
    agg = reduce_window(batch, now_ms=NOW_MS, window_ms=options.window_ms)
    view = MetricBaseline.empty(batch.metric).view(agg.source_ids, now_ms=NOW_MS)
    score_metric(agg, view, now_ms=NOW_MS, options=options)


def _peak_mib(run: Any) -> float:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return float(peak) / 2**20


def _pandas(source: Ints, ts: Ints, value: Floats) -> Floats:
    """Per-source median and MAD with a pandas groupby, then the fleet's median/MAD z."""
    pd: Any = importlib.import_module("pandas")  # the `bench` extra; only baselines use it

    frame = pd.DataFrame({"source": source, "ts": ts, "value": value})
    frame = frame[(frame["ts"] > NOW_MS - WINDOW_MS) & (frame["ts"] <= NOW_MS)]
    grouped = frame.groupby("source", sort=False)["value"]
    median = grouped.median()
    deviation = (frame["value"] - frame["source"].map(median)).abs()
    mad = deviation.groupby(frame["source"], sort=False).median()
    medians = median.to_numpy()
    centre = float(np.median(medians))
    scale = max(MAD_TO_SIGMA * float(np.median(np.abs(medians - centre))), 1e-9)
    z: Floats = (medians - centre) / scale
    assert len(mad) == len(z)
    return z


def _pure_python(source: list[int], ts: list[int], value: list[float]) -> list[float]:
    """The same median/MAD work as `_pandas`, as a straightforward loop over Python lists."""
    lo, hi = NOW_MS - WINDOW_MS, NOW_MS
    groups: dict[int, list[float]] = {}
    for s, t, v in zip(source, ts, value, strict=True):
        if lo < t <= hi:
            found = groups.get(s)
            if found is None:
                groups[s] = found = []
            found.append(v)
    medians = {s: statistics.median(vs) for s, vs in groups.items()}
    mads = {s: statistics.median([abs(v - medians[s]) for v in vs]) for s, vs in groups.items()}
    assert len(mads) == len(medians)
    centre = statistics.median(medians.values())
    spread = MAD_TO_SIGMA * statistics.median(abs(m - centre) for m in medians.values())
    return [(m - centre) / max(spread, 1e-9) for m in medians.values()]


# -- replay ------------------------------------------------------------------------------------

REPLAY_METRICS = ("temperature", "humidity", "pressure")
SWEEP_EVERY_MS = 300_000


def replay(boards: int, hours: float, repeats: int) -> list[Row]:
    """Sweeps every 5 minutes over a simulated fleet's history (all three metrics, 0.5 Hz)."""
    fleet = SimulatedFleet(
        FleetSpec(
            boards=boards,
            seed=7,
            start_ms=NOW_MS - int(hours * 3_600_000),
            duration_s=hours * 3600,
            cadence_s=2.0,
        )
    )
    group_by = ("site", "room")
    batches = fleet_batches(fleet, REPLAY_METRICS, group_by=group_by, time_order=True)
    options = SweepOptions(window_ms=WINDOW_MS, group_by=group_by, min_peers=3)
    times = list(range(fleet.start_ms + WINDOW_MS, fleet.end_ms + 1, SWEEP_EVERY_MS))
    engine = _replay_engine(batches, times, options)
    if engine is not None:
        run, readings, how = engine
    else:
        run, readings = _core_replay(batches, times, options)
        how = "fleet core score_window loop (no replay engine found)"
    timing = measure(run, repeats, warmup=False)
    oracle_rate = _oracle_rate(fleet, repeats)
    return [
        Row(
            "5 replay",
            f"{boards} boards × 3 metrics × {hours:g} h, 0.5 Hz",
            readings / timing.median_s,
            "samples/s",
            timing,
            (("tutorial z-score", oracle_rate),),
            REPLAY_TARGET,
            f"{len(times)} sweeps every 5 min, {1000 * timing.median_s / len(times):.1f} ms "
            f"each; {how}",
            {"readings": float(readings), "sweeps": float(len(times))},
        )
    ]


Replayer = tuple[Callable[[], None], int, str]


def _replay_engine(
    batches: dict[str, SeriesBatch], times: list[int], options: SweepOptions
) -> Replayer | None:
    """`fleetscan replay`'s engine (fleetscan.sweeps.replay) over the history, if it exists.

    The history is handed over as arrays, as `History.from_readings` would build it, so the
    figure is the replay itself; reading a file first costs what section 2 measures per row.
    """
    try:
        sweeps_replay = importlib.import_module("fleetscan.sweeps.replay")
        step = importlib.import_module("fleetscan.sweeps.step")
    except ImportError:
        return None
    history: dict[str, Any] = {}
    for metric, b in batches.items():
        labels = tuple(dict.fromkeys(b.cohorts))
        label_of = np.array([labels.index(c) for c in b.cohorts], np.int64)
        keep = np.isfinite(b.value)  # Plexus never stores NaN readings
        history[metric] = sweeps_replay.MetricHistory(
            metric,
            b.source_ids,
            labels,
            b.ts_ms[keep],
            b.value[keep],
            b.source[keep],
            label_of[b.source[keep]],
        )
    stored = sweeps_replay.History(history)
    step_options = step.StepOptions(sweep=options)
    readings = sum(len(h.ts_ms) for h in history.values())

    def run() -> None:
        for _ in sweeps_replay.replay(stored, times, step_options):
            pass

    return run, readings, "fleetscan replay's engine (sweeps.replay), lifecycle included"


def _core_replay(
    batches: dict[str, SeriesBatch], times: list[int], options: SweepOptions
) -> tuple[Callable[[], None], int]:
    def run() -> None:
        baseline: Baseline = {}
        for now in times:
            window = {m: b.between(now - WINDOW_MS, now) for m, b in batches.items()}
            _, baseline = score_window(window, baseline, now_ms=now, options=options)

    return run, sum(int(np.isfinite(b.value).sum()) for b in batches.values())


def _oracle_rate(fleet: SimulatedFleet, repeats: int) -> float:
    """The tutorial's loop (tests/tutorial_oracle.py) over a few boards' streams: samples/s."""
    oracle = tutorial_oracle()
    streams = []
    for board in fleet.boards[:5]:
        for metric in REPLAY_METRICS:
            ts, values = fleet.series(board, metric)
            finite = np.isfinite(values)  # Plexus never stores NaN, so the tutorial never sees it
            streams.append(list(zip(ts[finite].tolist(), values[finite].tolist(), strict=True)))
    samples = sum(len(s) for s in streams)
    timing = measure(lambda: [oracle.tutorial_lines(s) for s in streams], repeats, warmup=False)
    return samples / timing.median_s


_ORACLE: ModuleType | None = None


def tutorial_oracle() -> ModuleType:
    """tests/tutorial_oracle.py: the tutorial's detector code, verbatim."""
    global _ORACLE
    if _ORACLE is None:
        path = ROOT / "tests" / "tutorial_oracle.py"
        spec = importlib.util.spec_from_file_location("tutorial_oracle", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["tutorial_oracle"] = module
        spec.loader.exec_module(module)
        _ORACLE = module
    return _ORACLE
