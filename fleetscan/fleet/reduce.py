"""Per-source reduction: one small row of window statistics per source, from raw readings.

This is the step that, for large fleets, runs inside the telemetry store (one grouped ClickHouse
query); everything after it (`score.py`, `sweep.py`) sees only `WindowAggregates`, never raw rows.

Columns, all over the window `(now - window, now + clock_tolerance]`:

| column      | meaning                                                                       |
|-------------|-------------------------------------------------------------------------------|
| count       | valid readings (finite and physically possible)                               |
| nan         | non-finite readings, plus rows dropped upstream as NaN/null (`dropped`)        |
| invalid     | finite readings outside the sensor's range (humidity 0 or > 100, ...)          |
| future      | rows stamped after `now + clock_tolerance` (a device clock fault)              |
| past        | rows stamped before 2001-09-09 (epoch ms < 1e12): impossible after the gateway |
| median      | median of the valid readings: the source's representative value              |
| vmin, vmax  | smallest and largest valid reading                                             |
| last_ts     | newest row of any kind in the window (ms; -1 when none): liveness              |
| interval_ms | mean spacing of the window's rows (NaN below 2 rows)                           |
| noise       | σ of the reading-to-reading noise: 1.4826·median|Δ²x|/√6 (second differences, so |
|             | a trend or an HVAC ramp does not count as noise; robust to rare spikes)        |
| lag1        | lag-1 autocorrelation (healthy sensors ≈ 1, i.i.d. random values ≈ 0), and   |
| grid        | share of readings on the 0.1 grid (after float32 artefacts); both only where  |
|             | the window lies inside `SIMULATED_RANGE`, else NaN                             |
| spikes      | readings beyond max(6·noise, 3·noise floor) from both readings 5 places away  |
| gap_ms      | longest silence between two consecutive valid readings (NaN below 2 readings)  |
| gap_end_ts  | when that silence ended (-1 when none): tells a shared outage from a dead board|
| first_ts    | oldest valid reading (-1 when none): with the reading before the window, the   |
|             | silence a board ended as the window began                                     |

Implementation: the valid rows are sorted once by (source, time) and laid out as a padded
sources × readings matrix (NaN padding), in chunks of similar-sized sources so one chatty source
does not inflate the padding of all the others; every statistic is then a row-wise array operation.
Chunks are kept small (`CELL_BUDGET`) so each one's temporaries stay in the CPU cache: with 32 MiB
chunks the same work ran 1.6× slower, bound by memory bandwidth (scripts/bench.py, section 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from fleetscan.fleet.batch import SeriesBatch
from fleetscan.fleet.robust import MAD_TO_SIGMA, Bools, Floats, Ints, sorted_median
from fleetscan.sensors import GENERIC, MetricProfile, profile_for
from fleetscan.timeutil import EPOCH_MS_CUTOFF

# What the C SDK example sends when no BME280 answers (docs/plexus-contract.md §7.2): i.i.d. uniform values
# on a 0.1 grid within these ranges. Lag-1 autocorrelation and the grid share are computed only
# for sources whose window lies inside the range (elsewhere they are NaN: they cannot be fakes).
SIMULATED_RANGE = {
    "temperature": (20.0, 23.9),
    "humidity": (50.0, 59.9),
    "pressure": (1012.0, 1013.9),
}
GRID_STEP = 0.1  # the C SDK's simulated values are multiples of 0.1
GRID_TOL = 2e-4  # float32 keeps ~7 digits: 1013.9 arrives as 1013.90002441
SPIKE_K = 6.0  # a spike sits this many noise σ from its neighbourhood...
SPIKE_FLOOR = 3.0  # ...and at least this many sensor noise floors
SPIKE_LAG = 5  # compare with readings 5 places away: bursts of up to 4 samples stand out
CELL_BUDGET = 1 << 16  # padded cells per chunk: 512 KiB of float64, so a chunk stays in cache


@dataclass(frozen=True, eq=False)
class WindowAggregates:
    """One row per source of window statistics for one metric (see the module docstring)."""

    metric: str
    source_ids: tuple[str, ...]
    cohorts: tuple[str, ...]
    count: Ints
    nan: Ints
    invalid: Ints
    future: Ints
    past: Ints
    median: Floats
    vmin: Floats
    vmax: Floats
    last_ts: Ints
    interval_ms: Floats
    noise: Floats
    lag1: Floats
    grid: Floats
    spikes: Ints
    gap_ms: Floats
    gap_end_ts: Ints
    first_ts: Ints

    def __len__(self) -> int:
        return len(self.source_ids)

    @classmethod
    def empty(
        cls,
        metric: str,
        source_ids: tuple[str, ...] = (),
        cohorts: tuple[str, ...] = (),
    ) -> WindowAggregates:
        """Rows with no readings at all, e.g. for sources only the baseline knows."""
        n = len(source_ids)
        ints, nans = np.zeros(n, np.int64), np.full(n, np.nan)
        return cls(
            metric,
            source_ids,
            cohorts or ("",) * n,
            ints,
            ints.copy(),
            ints.copy(),
            ints.copy(),
            ints.copy(),
            nans,
            nans.copy(),
            nans.copy(),
            np.full(n, -1, np.int64),
            nans.copy(),
            nans.copy(),
            nans.copy(),
            nans.copy(),
            ints.copy(),
            nans.copy(),
            np.full(n, -1, np.int64),
            np.full(n, -1, np.int64),
        )

    def concat(self, other: WindowAggregates) -> WindowAggregates:
        """These rows followed by `other`'s (same metric)."""
        columns: dict[str, Any] = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "metric":
                continue
            columns[f.name] = a + b if isinstance(a, tuple) else np.concatenate([a, b])
        return replace(self, **columns)


def reduce_window(
    batch: SeriesBatch,
    *,
    now_ms: int,
    window_ms: int,
    clock_tolerance_ms: int = 300_000,
    profile: MetricProfile | None = None,
) -> WindowAggregates:
    """Reduce a batch to one `WindowAggregates` row per source of the batch.

    Rows older than the window (and not impossibly old) are ignored: they are history, which
    baselines learn from. `profile` defaults to the BME280 profile of the metric name.
    """
    prof = profile if profile is not None else profile_for(batch.metric)
    n_sources = len(batch.source_ids)
    ts, value, src = batch.ts_ms, batch.value, batch.source
    with np.errstate(invalid="ignore"):
        valid = (
            (ts > now_ms - window_ms)
            & (ts <= now_ms + clock_tolerance_ms)
            & (ts >= EPOCH_MS_CUTOFF)
            & possible(value, prof)
        )
    all_valid = bool(valid.all())
    if not all_valid:
        src, ts, value = src[valid], ts[valid], value[valid]
    stats = _grouped_stats(src, ts, value, n_sources, now_ms - window_ms, prof)
    src, ts, value = batch.source, batch.ts_ms, batch.value
    last_ts = np.where(stats.count > 0, stats.last_rel + (now_ms - window_ms), -1).astype(np.int64)
    zeros = np.zeros(n_sources, np.int64)
    tallies = {"nan": zeros, "invalid": zeros, "future": zeros, "past": zeros}
    if not all_valid:  # the rare rows that are not plain valid readings, tallied on their own
        bad = ~valid
        b_src, b_ts, b_value = src[bad], ts[bad], value[bad]
        future = b_ts > now_ms + clock_tolerance_ms
        past = b_ts < EPOCH_MS_CUTOFF
        in_window = (b_ts > now_ms - window_ms) & ~future & ~past
        finite = np.isfinite(b_value)

        def tally(rows: Bools) -> Ints:
            return np.bincount(b_src[rows], minlength=n_sources).astype(np.int64)

        tallies = {
            "nan": tally(in_window & ~finite),
            "invalid": tally(in_window & finite),
            "future": tally(future),
            "past": tally(past),
        }
        np.maximum.at(last_ts, b_src[in_window], b_ts[in_window])
    return WindowAggregates(
        metric=batch.metric,
        source_ids=batch.source_ids,
        cohorts=batch.cohorts,
        count=stats.count,
        nan=tallies["nan"] + batch.dropped,
        invalid=tallies["invalid"],
        future=tallies["future"],
        past=tallies["past"],
        median=stats.median,
        vmin=stats.vmin,
        vmax=stats.vmax,
        last_ts=last_ts,
        interval_ms=stats.interval_ms,
        noise=stats.noise,
        lag1=stats.lag1,
        grid=stats.grid,
        spikes=stats.spikes,
        gap_ms=stats.gap_ms,
        gap_end_ts=np.where(
            np.isfinite(stats.gap_end), stats.gap_end + (now_ms - window_ms), -1
        ).astype(np.int64),
        first_ts=np.where(stats.count > 0, stats.first_rel + (now_ms - window_ms), -1).astype(
            np.int64
        ),
    )


def possible(value: Floats, prof: MetricProfile) -> Bools:
    """Finite readings the sensor can physically report."""
    if prof is GENERIC:
        out: Bools = np.isfinite(value)
        return out
    with np.errstate(invalid="ignore"):
        low_ok = value > prof.low if prof.exclusive_low else value >= prof.low
        ok: Bools = low_ok & (value <= prof.high)
    return ok


@dataclass(frozen=True, eq=False)
class _Stats:
    count: Ints
    median: Floats
    vmin: Floats
    vmax: Floats
    interval_ms: Floats
    noise: Floats
    lag1: Floats
    grid: Floats
    spikes: Ints
    gap_ms: Floats
    gap_end: Floats  # relative to the window's start
    last_rel: Floats  # newest valid reading, relative to the window's start
    first_rel: Floats  # oldest valid reading, relative to the window's start


def _grouped_stats(
    src: Ints, ts: Ints, value: Floats, n_sources: int, origin_ms: int, prof: MetricProfile
) -> _Stats:
    """Row statistics per source for valid rows, sorted by (source, time) once."""
    rel = ts - origin_ms  # ≥ 0 and far below 2^42 for any sane window
    key = (src << 42) | np.clip(rel, 0, (1 << 42) - 1)
    if len(key) > 1 and not bool(np.all(key[1:] >= key[:-1])):
        order = np.argsort(key)
        src, rel, value = src[order], rel[order], value[order]
    counts = np.bincount(src, minlength=n_sources).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    out = {
        name: np.full(n_sources, np.nan)
        for name in (
            "median",
            "vmin",
            "vmax",
            "interval_ms",
            "noise",
            "lag1",
            "grid",
            "gap_ms",
            "gap_end",
            "last_rel",
            "first_rel",
        )
    }
    spikes = np.zeros(n_sources, np.int64)
    rel_ms = rel.astype(np.float64)
    for chunk in _chunks(counts):
        rows = _padded_stats(value, rel_ms, starts[chunk], counts[chunk], prof)
        for name, column in rows.items():
            if name == "spikes":
                spikes[chunk] = column
            else:
                out[name][chunk] = column
    return _Stats(count=counts, spikes=spikes, **out)


def _chunks(counts: Ints) -> list[Ints]:
    """Source indexes (with readings) split so each padded chunk stays within `CELL_BUDGET`.

    Sources go in ascending count order, so a chunk's widest row is its last one.
    """
    order = np.argsort(counts, kind="stable")
    order = order[counts[order] > 0]
    sizes = counts[order]
    chunks: list[Ints] = []
    begin = 0
    while begin < len(order):
        # Sizes ascend, so no more than CELL_BUDGET // sizes[begin] rows can fit: look no further.
        tail = sizes[begin : begin + max(1, CELL_BUDGET // int(sizes[begin]))]
        rows = np.arange(1, len(tail) + 1)
        take = max(1, int((rows * tail <= CELL_BUDGET).sum()))  # monotone: a prefix
        chunks.append(order[begin : begin + take])
        begin += take
    return chunks


def _padded_stats(
    value: Floats, rel_ms: Floats, starts: Ints, counts: Ints, prof: MetricProfile
) -> dict[str, Floats | Ints]:
    width = int(counts.max())
    cols = np.arange(width)
    present = cols[None, :] < counts[:, None]
    padding = ~present
    # One gather index for both columns; padded cells read some in-range row, then become NaN.
    idx = starts[:, None] + cols[None, :]
    np.minimum(idx, max(len(value) - 1, 0), out=idx)
    v = value.take(idx)
    v[padding] = np.nan
    t = rel_ms.take(idx)
    t[padding] = np.nan
    del idx
    last = (counts - 1)[:, None]

    ordered = np.sort(v, axis=1)
    median = sorted_median(ordered, counts)
    vmin = ordered[:, 0]
    vmax = np.take_along_axis(ordered, last, axis=1)[:, 0]
    last_rel = np.take_along_axis(t, last, axis=1)[:, 0]
    span = last_rel - t[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        interval = np.where(counts >= 2, span / (counts - 1), np.nan)
    if width >= 2:
        steps = np.diff(t, axis=1)
        # Padding (NaN) becomes -1: never the widest step of a row with 2+ readings.
        steps[~np.isfinite(steps)] = -1.0
        widest = np.argmax(steps, axis=1)[:, None]
        gap = np.where(counts >= 2, np.take_along_axis(steps, widest, axis=1)[:, 0], np.nan)
        gap_end = np.where(counts >= 2, np.take_along_axis(t, widest + 1, axis=1)[:, 0], np.nan)
    else:
        gap = gap_end = np.full(len(counts), np.nan)

    if width >= 3:
        d2 = np.multiply(v[:, 1:-1], 2.0)  # |x[i+2] - 2·x[i+1] + x[i]|, in place
        np.subtract(v[:, 2:], d2, out=d2)
        np.add(d2, v[:, :-2], out=d2)
        np.abs(d2, out=d2)
        d2.sort(axis=1)
        n_d2 = np.clip(counts - 2, 0, None)
        noise = MAD_TO_SIGMA * sorted_median(d2, n_d2) / math.sqrt(6.0)
    else:
        noise = np.full(len(counts), np.nan)

    lag1 = np.full(len(counts), np.nan)
    grid = np.full(len(counts), np.nan)
    bounds = SIMULATED_RANGE.get(prof.metric) if prof is not GENERIC else None
    if bounds is not None:  # only rows that could be the C SDK's fake values need these two
        low, high = bounds
        maybe = np.flatnonzero((counts >= 3) & (vmin >= low - GRID_TOL) & (vmax <= high + GRID_TOL))
        if len(maybe) == len(counts):  # the usual case: no copy of the matrix
            lag1, grid = _lag1_and_grid(v, padding, median, counts)
        elif len(maybe):
            lag1[maybe], grid[maybe] = _lag1_and_grid(
                v[maybe], padding[maybe], median[maybe], counts[maybe]
            )

    spike_floor = SPIKE_FLOOR * prof.noise_floor
    threshold = np.fmax(SPIKE_K * noise, spike_floor)
    spikes = np.zeros(len(counts), np.int64)
    suspects = np.flatnonzero((counts > 2 * SPIKE_LAG) & (vmax - vmin > threshold))
    if len(suspects) == len(counts):  # every row moved enough to hide a spike: no copy
        spikes = _count_spikes(v, counts, threshold)
    elif len(suspects):
        spikes[suspects] = _count_spikes(v[suspects], counts[suspects], threshold[suspects])
    return {
        "median": median,
        "vmin": vmin,
        "vmax": vmax,
        "interval_ms": interval,
        "noise": noise,
        "lag1": lag1,
        "grid": grid,
        "spikes": spikes,
        "gap_ms": gap,
        "gap_end": gap_end,
        "last_rel": last_rel,
        "first_rel": t[:, 0],
    }


def _lag1_and_grid(
    v: Floats, padding: Bools, median: Floats, counts: Ints
) -> tuple[Floats, Floats]:
    """Lag-1 autocorrelation around the median, and the share of readings on the 0.1 grid.

    `v` is NaN exactly where `padding` is true; `counts` are the readings per row.
    """
    centred = np.subtract(v, median[:, None])
    centred[padding] = 0.0
    product = np.multiply(centred[:, 1:], centred[:, :-1])
    num = product.sum(axis=1)
    np.multiply(centred, centred, out=centred)
    den = centred.sum(axis=1)
    del product, centred
    with np.errstate(invalid="ignore", divide="ignore"):
        lag1 = np.where(den > 0, num / den, np.nan)
    # |x/0.1 - round(x/0.1)|·0.1 < tol, in place; NaN padding compares false
    tenths = np.divide(v, GRID_STEP)
    off = np.rint(tenths)
    np.subtract(tenths, off, out=off)
    np.abs(off, out=off)
    np.multiply(off, GRID_STEP, out=off)
    with np.errstate(invalid="ignore"):
        on_grid = np.less(off, GRID_TOL)
    grid: Floats = np.count_nonzero(on_grid, axis=1) / counts
    return lag1, grid


def _count_spikes(v: Floats, counts: Ints, threshold: Floats) -> Ints:
    """Readings beyond `threshold` from *both* readings `SPIKE_LAG` places away, on the same side.

    A burst of up to `SPIKE_LAG - 1` samples sits between two readings outside it; a ramp, a step
    or an HVAC swing moves one of the two comparisons toward zero, so it never counts. Readings
    too close to either end of the window are not tested (the next sweep's window holds them).
    """
    lag = SPIKE_LAG
    if v.shape[1] <= 2 * lag:
        return np.zeros(len(counts), np.int64)
    mid = v[:, lag:-lag]
    # up = min(mid - left, mid - right); down = min(left - mid, right - mid), which is exactly
    # -max(mid - left, mid - right). np.minimum/maximum (not fmin/fmax) so a missing neighbour
    # (NaN padding) can never make a spike.
    before = np.subtract(mid, v[:, : -2 * lag])
    after = np.subtract(mid, v[:, 2 * lag :])
    up = np.minimum(before, after)
    down = np.maximum(before, after, out=before)
    np.negative(down, out=down)
    np.maximum(up, down, out=up)
    with np.errstate(invalid="ignore"):
        far = np.greater(up, threshold[:, None])
    result: Ints = np.count_nonzero(far, axis=1).astype(np.int64)
    return result
