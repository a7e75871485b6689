"""The per-stream state of `_stream.py` as arrays, one row per stream, stepped for many rows at once.

`batch.py` scores every stream of a poll together. Its building blocks live here, each the exact
array form of one per-sample class, so that a row holds bit for bit what that class would hold:

| class here      | per-sample class (`_stream.py`, …)  | state per row                               |
|-----------------|-------------------------------------|---------------------------------------------|
| `CadenceRows`   | `Cadence`                           | last timestamp, warm-up left, ring of 64 gaps |
| `WindowRows`    | `SampleWindow`                      | arrivals (ring) and the same values sorted  |
| `ewma_update`   | `twoscale._Ewma.update`             | (mean, weight)                              |
| `tail_surprise`, `tail_learn` | `calibration.TailCalibrator` | weight, rate, beyond, excess           |

Every method takes `rows` (distinct row indices) and arrays aligned with it. Transcendental functions
go through `math` (`exp_of`, `log10_of`), never numpy's SIMD versions, which differ in the last bit:
the arrays must give the per-sample detector's numbers exactly, not nearly.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from fleetscan.detectors._stream import (
    CADENCE_HISTORY,
    GAP_FACTOR,
    MIN_GAPS,
    WARMUP_SAMPLES,
    window_geometry,
)
from fleetscan.detectors.calibration import (
    HORIZON_MS,
    MAX_EXCESS_STEP,
    MAX_STEP_MS,
    MAX_SURPRISE,
    MIN_EXCESS,
    PRIOR_EXCESS,
    PRIOR_MS,
    PRIOR_RATE,
    TAIL_FROM,
)

F = npt.NDArray[np.float64]
I = npt.NDArray[np.int64]  # noqa: E741
B = npt.NDArray[np.bool_]

NO_GAP = np.iinfo(np.int64).max  # an empty gap slot: sorts after every real gap
SURPRISE_CAP_TAIL = 10.0**-MAX_SURPRISE  # exactly TailCalibrator's cut-off


def grown(array: npt.NDArray[np.generic], capacity: int, fill: object) -> npt.NDArray[np.generic]:
    """`array` with its first axis extended to `capacity` rows of `fill`."""
    extra = np.full((capacity - array.shape[0], *array.shape[1:]), fill, dtype=array.dtype)
    return np.concatenate([array, extra])


class Rows:
    """Arrays with one row per stream, grown together (`fills` names each array and its empty value)."""

    fills: dict[str, object] = {}

    def grow(self, capacity: int) -> None:
        for name, fill in self.fills.items():
            setattr(self, name, grown(getattr(self, name), capacity, fill))


def exp_of(values: F) -> F:
    """`math.exp` of each value (few distinct values here: one call per distinct one)."""
    if len(values) <= 64:
        return np.array([math.exp(v) for v in values.tolist()], dtype=np.float64)
    unique, inverse = np.unique(values, return_inverse=True)
    return np.array([math.exp(v) for v in unique.tolist()], dtype=np.float64)[inverse]


def log10_of(values: F) -> F:
    return np.array([math.log10(v) for v in values.tolist()], dtype=np.float64)


def median_sorted(ordered: F, rows: I, n: I) -> F:
    """Row-wise `median_of_sorted` of `ordered[rows]`, left-aligned sorted rows of `n` values."""
    mid = n // 2
    upper = ordered[rows, mid]
    lower = ordered[rows, np.maximum(mid - 1, 0)]
    return np.where(n % 2 == 1, upper, 0.5 * (lower + upper))


class CadenceRows(Rows):
    """`Cadence` for many streams: the median of each row's last 64 gaps, and its warm-ups."""

    fills = {"last_ts": 0, "has_last": False, "warm": 0, "gaps": NO_GAP, "gap_n": 0, "gap_head": 0}

    def __init__(self, *, expected_s: float | None) -> None:
        self.expected_ms = expected_s * 1000.0 if expected_s else None
        self.last_ts: I = np.zeros(0, np.int64)
        self.has_last: B = np.zeros(0, np.bool_)
        self.warm: I = np.zeros(0, np.int64)
        self.gaps: I = np.zeros((0, CADENCE_HISTORY), np.int64)
        self.gap_n: I = np.zeros(0, np.int64)
        self.gap_head: I = np.zeros(0, np.int64)

    def stats(self, rows: I) -> tuple[F, F]:
        """(cadence_ms, longest_ms) per row, NaN where `Cadence` says None (fewer than 3 gaps)."""
        n = self.gap_n[rows]
        known = n >= MIN_GAPS
        if not known.any():
            nan = np.full(len(rows), np.nan)
            return (nan if self.expected_ms is None else np.full(len(rows), self.expected_ms)), nan
        ordered = np.sort(self.gaps[rows], axis=1)
        safe = np.maximum(n, 1)
        at = np.arange(len(rows))
        mid = safe // 2
        upper = ordered[at, mid].astype(np.float64)
        lower = ordered[at, np.maximum(mid - 1, 0)].astype(np.float64)
        median = np.where(safe % 2 == 1, upper, 0.5 * (lower + upper))  # ints: the sum is exact
        longest = ordered[at, safe - 1].astype(np.float64)
        longest = np.where(known, longest, np.nan)
        if self.expected_ms is not None:
            return np.full(len(rows), self.expected_ms), longest
        return np.where(known, median, np.nan), longest

    def observe(self, rows: I, ts: I, cadence_ms: F, learn: B | None = None) -> I:
        """`Cadence.observe` per row (`cadence_ms` from `stats` before this call); returns the gap."""
        warm = self.warm[rows]
        warm = np.where(warm > 0, warm - 1, warm)
        has, last = self.has_last[rows], self.last_ts[rows]
        self.last_ts[rows] = ts
        self.has_last[rows] = True
        gap = ts - last
        back = has & (gap < 0)
        limit = GAP_FACTOR * cadence_ms  # NaN while the cadence is unknown: never "over"
        with np.errstate(invalid="ignore"):
            over = has & ~back & (gap > limit)
        warm[back | over] = WARMUP_SAMPLES
        self.warm[rows] = warm
        dt = np.where(has & ~back, gap, 0)
        if over.any():
            dt[over] = limit[over].astype(np.int64)  # int(limit): truncation, as the class does
        learnt = has & ~back & ~over & (gap > 0)
        if learn is not None:
            learnt &= learn
        if learnt.any():
            self._learn(rows[learnt], gap[learnt])
        return dt

    def _learn(self, rows: I, gap: I) -> None:
        n, head = self.gap_n[rows], self.gap_head[rows]
        full = n >= CADENCE_HISTORY
        slot = np.where(full, head, (head + n) % CADENCE_HISTORY)
        self.gaps[rows, slot] = gap
        self.gap_head[rows] = np.where(full, (head + 1) % CADENCE_HISTORY, head)
        self.gap_n[rows] = np.minimum(n + 1, CADENCE_HISTORY)

    def warming(self, rows: I) -> B:
        return self.warm[rows] > 0


class WindowRows(Rows):
    """`SampleWindow` for many streams: arrivals in a ring, the kept values sorted (NaN-padded)."""

    fills = {"arr_ts": 0, "arr_v": 0.0, "head": 0, "n": 0, "ordered": np.nan, "version": 0}

    def __init__(
        self, *, count: int | None, span_ms: int | None, min_points: int, cap: int
    ) -> None:
        self.count = count
        self.span_ms = span_ms
        self.min_points = min_points
        self.cap, self.stride_ms = window_geometry(count=count, span_ms=span_ms, cap=cap)
        self.width = self.cap + 1  # a value is inserted before the oldest is dropped
        self.arr_ts: I = np.zeros((0, self.width), np.int64)
        self.arr_v: F = np.zeros((0, self.width), np.float64)
        self.head: I = np.zeros(0, np.int64)
        self.n: I = np.zeros(0, np.int64)
        self.ordered: F = np.zeros((0, self.width), np.float64)
        self.version: I = np.zeros(0, np.int64)

    def clear(self, row: int) -> None:
        """A fresh, empty window for `row` (`version` restarts at 0, as a new `SampleWindow`)."""
        self.head[row] = self.n[row] = self.version[row] = 0
        self.ordered[row] = np.nan

    def add(self, rows: I, ts: I, values: F) -> B:
        """`SampleWindow.add` per row; returns which rows kept their value."""
        n, head = self.n[rows], self.head[rows]
        some = n > 0
        newest = (head + n - 1) % self.width
        last = np.where(some, self.arr_ts[rows, newest], 0)
        back = some & (ts < last)
        if back.any():  # the clock went backwards: every kept sample keeps its age
            shift = (ts - last)[back]
            self.arr_ts[rows[back]] += shift[:, None]
            last = np.where(back, ts, last)
        keep = ~(some & ((ts - last) < self.stride_ms))
        rows, ts, values, n, head = rows[keep], ts[keep], values[keep], n[keep], head[keep]
        if len(rows) == 0:
            return keep
        slot = (head + n) % self.width
        self.arr_ts[rows, slot] = ts
        self.arr_v[rows, slot] = values
        self.ordered[rows, n] = values  # the first empty slot; sorted in below
        n = n + 1
        width = int(n.max())
        block = self.ordered[rows, :width]
        drop = np.zeros(len(rows), np.int64)
        going = np.arange(len(rows))
        while len(going):  # the oldest arrivals past the count or the span: usually one or none
            k = drop[going]
            first = (head[going] + k) % self.width
            left = n[going] - k
            if self.count is not None:
                over = left > self.count
            else:
                assert self.span_ms is not None
                horizon = ts[going] - self.span_ms
                old = self.arr_ts[rows[going], first] < horizon
                over = (left > self.cap) | ((left > self.min_points) & old)
            going, first = going[over], first[over]
            oldest = self.arr_v[rows[going], first]
            block[going, np.argmax(block[going] == oldest[:, None], axis=1)] = np.nan
            drop[going] += 1
        block.sort(axis=1)  # NaN (the dropped and empty slots) sort last
        self.ordered[rows, :width] = block
        self.head[rows] = (head + drop) % self.width
        self.n[rows] = n - drop
        self.version[rows] += 1
        return keep

    def median(self, rows: I) -> F:
        return median_sorted(self.ordered, rows, self.n[rows])

    def values(self, row: int) -> F:
        """The kept values of one row, sorted (what `SampleWindow.values` holds)."""
        return self.ordered[row, : self.n[row]]


def ewma_update(
    mean: F, weight: F, value: F, dt: I, tau_ms: float, rate: F | float = 1.0
) -> tuple[F, F]:
    """`_Ewma.update` per row: the new (mean, weight)."""
    first = (weight == 0.0) & (dt <= 0)
    decay = exp_of(-np.maximum(dt, 0).astype(np.float64) / tau_ms)
    alpha = rate * (1.0 - decay)
    new_weight = weight * (1.0 - alpha) + alpha
    with np.errstate(divide="ignore", invalid="ignore"):
        moved = np.where(new_weight > 0, mean + (alpha / new_weight) * (value - mean), mean)
    return np.where(first, value, moved), np.where(first, weight, new_weight)


class TailRows(Rows):
    """`TailCalibrator` for many streams and `checks` checks each (the second index)."""

    fills = {
        "weight_ms": PRIOR_MS,
        "rate": PRIOR_RATE,
        "beyond_ms": PRIOR_MS * PRIOR_RATE,
        "excess": PRIOR_EXCESS,
    }

    def __init__(self, checks: int) -> None:
        self.weight_ms: F = np.zeros((0, checks))
        self.rate: F = np.zeros((0, checks))
        self.beyond_ms: F = np.zeros((0, checks))
        self.excess: F = np.zeros((0, checks))

    def surprise(self, rows: I, check: int, z: F) -> F:
        """`TailCalibrator.surprise(z)` per row."""
        x = np.abs(z)
        rate = self.rate[rows, check]
        tail = 1.0 - (1.0 - rate) * x / TAIL_FROM
        far = x > TAIL_FROM
        if far.any():
            excess = np.maximum(self.excess[rows[far], check], MIN_EXCESS)
            decay = np.array(
                [math.exp(v) for v in (-(x[far] - TAIL_FROM) / excess).tolist()], dtype=np.float64
            )
            tail[far] = rate[far] * decay
        capped = tail <= SURPRISE_CAP_TAIL
        surprise = np.full(len(rows), MAX_SURPRISE)
        if not capped.all():
            surprise[~capped] = np.minimum(-log10_of(tail[~capped]), MAX_SURPRISE)
        return surprise

    def learn(self, rows: I, check: I, z: F, dt_ms: I) -> None:
        """`TailCalibrator.learn(z, dt_ms)` per row, on each row's own check."""
        x = np.abs(z)
        dt = np.minimum(np.maximum(dt_ms, 0).astype(np.float64), MAX_STEP_MS)
        ok = np.isfinite(x) & (dt > 0.0)
        rows, check, x, dt = rows[ok], check[ok], x[ok], dt[ok]
        weight = np.minimum(self.weight_ms[rows, check] + dt, HORIZON_MS)
        self.weight_ms[rows, check] = weight
        beyond = x > TAIL_FROM
        rate = self.rate[rows, check]
        rate = rate + (beyond.astype(np.float64) - rate) * dt / weight
        self.rate[rows, check] = rate
        if beyond.any():
            rows, check, x, dt, rate = (
                rows[beyond],
                check[beyond],
                x[beyond],
                dt[beyond],
                rate[beyond],
            )
            held = np.minimum(
                self.beyond_ms[rows, check] + dt, HORIZON_MS * np.maximum(rate, PRIOR_RATE)
            )
            self.beyond_ms[rows, check] = held
            excess = self.excess[rows, check]
            step = np.minimum(x - TAIL_FROM, MAX_EXCESS_STEP * np.maximum(excess, MIN_EXCESS))
            self.excess[rows, check] = excess + (step - excess) * dt / held
