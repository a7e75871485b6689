"""Turn the model into samples: timestamps, transport losses, sensor noise, quantisation, faults.

Sample `k` of a board is nominally taken at `start_ms + phase_ms + k·cadence_ms`, then jittered by
±`jitter_ms`. It is *present* (reaches Plexus) unless it falls outside the window, is lost in
transit (`loss_rate`), falls in a gateway gap of its site, or a `dropout` fault silenced it.
Values are `truth + calibration offset + noise`, then additive faults (drift, step, slide, noisy,
spikes), then quantisation to the reported resolution, then replacing faults (stuck, random, nan).
Every fault acts on samples whose (jittered) timestamp is at or after its onset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleetscan.simulate.faults import HUMIDITY_SLIDE_MS, SPIKE_BURSTS_PER_S, Fault
from fleetscan.simulate.model import (
    D_FAULT,
    D_LOSS,
    D_NOISE,
    D_TIMING,
    METRIC_CODE,
    NOISE_SIGMA,
    QUANTUM,
    Board,
    FleetSpec,
    Floats,
    Ints,
    build_layout,
    chunked,
    in_gaps,
    true_values,
)
from fleetscan.timeutil import DAY_MS

Bools = npt.NDArray[np.bool_]

# The C SDK's "no BME280 found" fallback (docs/plexus-contract.md §7.2): base + random(lo, hi) / 10,
# Arduino's random(lo, hi) excluding hi.
RANDOM_FALLBACK = {
    "temperature": (22.0, -20, 20),
    "humidity": (55.0, -50, 50),
    "pressure": (1013.0, -10, 10),
}


def c_float(values: Floats) -> Floats:
    """Round-trip through a C `float` printed with `%.10g`, as the C SDK sends readings.

    >>> c_float(np.array([22.4, 1013.25, float("nan")])).tolist()
    [22.39999962, 1013.25, nan]
    """
    f32 = values.astype(np.float32).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        magnitude = np.floor(np.log10(np.abs(f32)))
        scale = 10.0 ** np.where(np.isfinite(magnitude), 9 - magnitude, 0)
        rounded = np.rint(f32 * scale) / scale
    result: Floats = np.where(np.isfinite(rounded) & (f32 != 0), rounded, f32)
    return result


def quantize(values: Floats, quantum: float) -> Floats:
    """Round to the reporting step; dividing by an integer keeps the shortest decimal repr."""
    steps = round(1 / quantum)
    result: Floats = np.rint(values * steps) / steps
    return result


def quantize_step(values: Floats, step: float) -> Floats:
    """Round to an arbitrary step (e.g. a sensor's 0.04 °C code), printed to 4 decimals.

    >>> quantize_step(np.array([21.013, 21.05]), 0.04).tolist()
    [21.0, 21.04]
    """
    result: Floats = np.round(np.rint(values / step) * step, 4)
    return result


@dataclass(frozen=True)
class Block:
    """Samples `k0 .. k0+len(ts)-1` of one board: timestamps, values and presence per metric."""

    k0: int
    ts: Ints
    values: dict[str, Floats]
    present: dict[str, Bools]


class Sampler:
    """Generates any window of any board's samples, identically however the windows are cut."""

    def __init__(self, spec: FleetSpec) -> None:
        self.spec = spec
        self.layout = build_layout(spec)
        self.boards = {b.name: b for b in self.layout.boards}
        self.faults: dict[str, list[tuple[int, Fault, int]]] = {}
        for i, fault in enumerate(spec.faults):
            self.faults.setdefault(fault.board, []).append(
                (i, fault, fault.onset_at(spec.start_ms))
            )
        self._stuck: dict[tuple[int, str], float] = {}

    def index_at(self, board: Board, t_ms: int) -> int:
        """The first sample index whose nominal time is at or after `t_ms` (0 .. samples)."""
        cadence = self.spec.cadence_ms
        k = -(-(t_ms - self.spec.start_ms - board.phase_ms) // cadence)
        return int(min(max(k, 0), board.samples))

    def timestamps(self, board: Board, k0: int, k1: int) -> Ints:
        spec = self.spec
        nominal = (
            spec.start_ms + board.phase_ms + np.arange(k0, k1, dtype=np.int64) * spec.cadence_ms
        )
        j = spec.jitter_ms
        jitter = chunked(
            (spec.seed, D_TIMING, board.index),
            k0,
            k1,
            lambda g, n: g.integers(-j, j + 1, size=n).astype(np.float64),
        )
        result: Ints = nominal + jitter.astype(np.int64)
        return result

    def block(self, board: Board, k0: int, k1: int, metrics: tuple[str, ...]) -> Block:
        """Samples `k0..k1-1` (clamped to the board's range) for `metrics`."""
        spec = self.spec
        k0, k1 = max(k0, 0), min(k1, board.samples)
        k1 = max(k1, k0)
        ts = self.timestamps(board, k0, k1)
        lost = chunked((spec.seed, D_LOSS, board.index), k0, k1, lambda g, n: g.random(n))
        site = self.layout.sites[self.layout.rooms[board.room].site]
        world = self.layout.world
        rate = spec.loss_rate if world is None else world.loss_rate(board.index, ts, spec.loss_rate)
        base = (ts >= spec.start_ms) & (ts < spec.end_ms) & ~(lost < rate)
        base &= ~in_gaps(site.gaps, ts)
        values = self._values(board, k0, k1, ts, metrics, replace=True)
        present = {}
        for metric in metrics:
            mask = base
            for _, fault, onset in self.faults.get(board.name, ()):
                if fault.kind == "dropout" and metric in fault.metrics:
                    mask = mask & (ts < onset)
            present[metric] = mask
        return Block(k0, ts, values, present)

    def _values(
        self, board: Board, k0: int, k1: int, ts: Ints, metrics: tuple[str, ...], *, replace: bool
    ) -> dict[str, Floats]:
        spec = self.spec
        truth = true_values(self.layout, board, ts, metrics)
        out = {}
        for metric in metrics:
            code = METRIC_CODE[metric]
            noise = chunked(
                (spec.seed, D_NOISE, board.index, code), k0, k1, lambda g, n: g.standard_normal(n)
            )
            v = truth[metric] + board.offset[metric] + NOISE_SIGMA[metric] * noise
            mine = [f for f in self.faults.get(board.name, ()) if metric in f[1].metrics]
            for index, fault, onset in mine:
                v += self._additive(fault, index, metric, k0, k1, ts, onset)
            world = self.layout.world
            coarse = world.real.quantum.get(metric) if world is not None else None
            v = quantize(v, QUANTUM[metric]) if coarse is None else quantize_step(v, coarse)
            if metric == "humidity":
                v = np.clip(v, 0.0, 100.0)  # the BME280 compensation clamps to 0..100 %
            if replace:
                for index, fault, onset in mine:
                    self._replace(board, fault, index, metric, k0, k1, ts, onset, v)
                if spec.float32:
                    v = c_float(v)
            out[metric] = v
        return out

    def _additive(
        self, fault: Fault, index: int, metric: str, k0: int, k1: int, ts: Ints, onset: int
    ) -> Floats:
        after = ts >= onset
        elapsed = np.maximum(ts - onset, 0).astype(np.float64)
        size = fault.size
        zero = np.zeros(ts.shape, dtype=np.float64)
        if fault.kind == "drift":
            drift: Floats = size * elapsed / DAY_MS
            return drift
        if fault.kind == "step":
            return np.where(after, size, 0.0)
        if fault.kind == "humidity_slide":
            slide: Floats = -size * np.minimum(elapsed / HUMIDITY_SLIDE_MS, 1.0)
            return slide
        key = (self.spec.seed, D_FAULT, index)
        if fault.kind == "noisy":
            extra = NOISE_SIGMA[metric] * math.sqrt(size * size - 1)
            noise = chunked((*key, METRIC_CODE[metric]), k0, k1, lambda g, n: g.standard_normal(n))
            return np.where(after, extra * noise, 0.0)
        if fault.kind == "spikes":
            p = min(0.5, self.spec.cadence_s * SPIKE_BURSTS_PER_S)
            return np.where(after, size * chunked(key, k0, k1, lambda g, n: _spikes(g, n, p)), 0.0)
        return zero

    def _replace(
        self,
        board: Board,
        fault: Fault,
        index: int,
        metric: str,
        k0: int,
        k1: int,
        ts: Ints,
        onset: int,
        v: Floats,
    ) -> None:
        after = ts >= onset
        if fault.kind == "stuck":
            v[after] = self._stuck_value(board, index, metric, onset)
        elif fault.kind == "random":
            base, lo, hi = RANDOM_FALLBACK[metric]
            draws = chunked(
                (self.spec.seed, D_FAULT, index, METRIC_CODE[metric]),
                k0,
                k1,
                lambda g, n: g.integers(lo, hi, size=n).astype(np.float64),
            )
            v[after] = c_float(base + draws / 10.0)[after]
        elif fault.kind == "nan":
            hit = chunked((self.spec.seed, D_FAULT, index), k0, k1, lambda g, n: g.random(n))
            v[after & (hit < fault.size)] = np.nan

    def _stuck_value(self, board: Board, index: int, metric: str, onset: int) -> float:
        """The reading (before any replacing fault) of the first sample at or after the onset."""
        key = (index, metric)
        if key not in self._stuck:
            k = self.index_at(board, onset)
            lo, hi = max(k - 1, 0), min(k + 2, board.samples)
            ts = self.timestamps(board, lo, hi)
            first = lo + int(np.argmax(ts >= onset)) if bool(np.any(ts >= onset)) else hi - 1
            first = max(first, 0)
            one = self.timestamps(board, first, first + 1)
            value = self._values(board, first, first + 1, one, (metric,), replace=False)[metric]
            self._stuck[key] = float(value[0]) if len(value) else math.nan
        return self._stuck[key]


def _spikes(g: np.random.Generator, n: int, p: float) -> Floats:
    """Per-sample spike multipliers for one chunk: bursts of 1-4 samples at ±0.8-1.2."""
    starts = np.flatnonzero(g.random(n) < p)
    lengths = g.integers(1, 5, size=starts.size)
    heights = g.uniform(0.8, 1.2, size=starts.size) * np.where(g.random(starts.size) < 0.5, -1, 1)
    out = np.zeros(n, dtype=np.float64)
    for step in range(4):
        idx = starts + step
        ok = (step < lengths) & (idx < n)
        out[idx[ok]] = heights[ok]
    return out
