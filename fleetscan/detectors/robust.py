"""`--method robust`: the newest reading against the median and MAD of the window before it.

    z = (x − median(window)) / scale,   scale = max(1.4826 · MAD, floor, quantum)

The window EXCLUDES the reading being scored (it is added afterwards), so one value can never hide
itself the way the tutorial's can (its |z| is capped at √(n−1)). When more than half the window sits
on one value (quantised, quiet sensors, a counter that is mostly 0) MAD is 0 and the median of the
nonzero deviations (× 1.4826) stands in: the size of the moves the stream makes when it moves, so
a mostly-zero series' σ cannot collapse to a sliver of its bursts (the mean absolute deviation
did: a window of 29 zeros and one 0.01 gave σ 0.0004, and every burst scored thousands of σ); `floor` is `--min-scale` or the sensor's noise floor (sensors.py), `quantum` the smallest step
the stream has shown. If the scale is still only the generic 1e-9 floor (every reading identical, no
sensor profile) the score is 0 with `check = "degenerate_scale"`: never ±inf, never an alert.

Cost, honestly: the window keeps at most `CAP` = 512 raw points (a long time window is thinned to
one point per span/512), sorted, so the median is a lookup and insertion is a binary search plus a
memmove of ≤ 512 floats. The median is exact for every reading; the spread (MAD, O(n) in numpy) is
refreshed once the kept set has changed by n/16 points (every reading for windows under 16 points),
so it lags the window by at most 1/16 of it. That is a bounded constant per sample, not O(1) in the
window length, and memory never exceeds 512 points.
Default window: 10 minutes, but never fewer than 30 points, so a 5-minute cadence still has a
baseline (2.5 hours of it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fleetscan.detectors._stream import (
    Cadence,
    Quantum,
    SampleWindow,
)
from fleetscan.detectors.base import Score
from fleetscan.detectors.options import DetectorOptions
from fleetscan.fleet.robust import MAD_TO_SIGMA
from fleetscan.sensors import GENERIC

CAP = 512
MIN_POINTS = 30  # a time window never holds fewer points than this
MIN_SCORED = 10  # points needed before anything is scored
SPREAD_REFRESH = 16  # the spread is recomputed once 1/16 of the window has changed
DEFAULT_WINDOW = "10m"


class RobustDetector:
    """Rolling median/MAD z-score of each reading against the window before it.

    >>> det = RobustDetector(DetectorOptions(metric="temperature", window="20"))
    >>> for i in range(20): _ = det.update(i * 2000, 22.0 + 0.1 * (i % 3))
    >>> s = det.update(40_000, 23.5)
    >>> s.anomalous, s.check, round(s.z, 2)
    (True, 'outlier', 9.44)
    """

    name = "robust"

    def __init__(self, options: DetectorOptions) -> None:
        self.threshold = options.threshold
        self.unit = options.profile.unit
        self.window_spec = options.window_or(DEFAULT_WINDOW)
        self.floor = options.scale_floor()
        self.degenerate_floor = options.min_scale is None and options.profile is GENERIC
        self.window = SampleWindow(
            count=self.window_spec.samples,
            span_ms=self.window_spec.span_ms,
            min_points=MIN_POINTS,
            cap=CAP,
        )
        self.cadence = Cadence(expected_s=options.cadence_s)
        self.quantum = Quantum()
        self._spread_version = -(10**9)
        self._spread = 0.0

    def _stats(self) -> tuple[float, float]:
        """(median, data spread in σ units) of the window; the spread is refreshed every n/16."""
        med = self.window.median()
        if self.window.version - self._spread_version >= max(1, len(self.window) // SPREAD_REFRESH):
            dev = np.abs(np.asarray(self.window.values) - med)
            mad = float(np.median(dev))
            if mad > 0:
                self._spread = MAD_TO_SIGMA * mad
            else:  # most of the window sits on one value: the size of the moves it makes
                moves = dev[dev > 0]
                self._spread = MAD_TO_SIGMA * float(np.median(moves)) if len(moves) else 0.0
            self._spread_version = self.window.version
        return med, self._spread

    def scale(self) -> float:
        """The scale the next reading would be scored against."""
        _, spread = self._stats()
        return max(spread, self.floor, self.quantum.step)

    def update(self, ts_ms: int, value: float) -> Score:
        if not math.isfinite(value):
            return Score(0.0, 0.0, False)
        score = self.assess(ts_ms, value)
        self.learn(ts_ms, value)
        return score

    def assess(self, ts_ms: int, value: float) -> Score:
        """Score one reading against the window without learning it (`learn` does that)."""
        self.cadence.observe(ts_ms)
        return self._score(value)

    def learn(self, ts_ms: int, value: float) -> None:
        """Take one reading into the window (`auto` skips this while an alert is open)."""
        self.window.add(ts_ms, value)
        self.quantum.observe(value)

    def restart(self, recent: Sequence[tuple[int, float]]) -> None:
        """Forget the window and start again from `recent` readings: the new normal."""
        self.window = SampleWindow(
            count=self.window_spec.samples,
            span_ms=self.window_spec.span_ms,
            min_points=MIN_POINTS,
            cap=CAP,
        )
        self._spread_version = -(10**9)
        for ts_ms, value in recent:
            self.window.add(ts_ms, value)

    def _score(self, value: float) -> Score:
        if len(self.window) < MIN_SCORED:
            return Score(0.0, 0.0, False)
        med, spread = self._stats()
        scale = max(spread, self.floor, self.quantum.step)
        if self.degenerate_floor and scale <= self.floor:
            return Score(
                0.0, 0.0, False, "degenerate_scale", "every reading in the window is equal"
            )
        z = (value - med) / scale
        score = abs(z)
        if score <= self.threshold or self.cadence.warming:
            return Score(z, score, False)
        return Score(z, score, True, "outlier", self.explain(value, z))

    @property
    def ready(self) -> bool:
        """Whether the next reading gets a real score (enough points, no warm-up)."""
        return len(self.window) >= MIN_SCORED and not self.cadence.warming

    def explain(self, value: float, z: float) -> str:
        """The one-line reason for reading `value` at robust z `z`, in the sensor's units."""
        med, _ = self._stats()
        side = "above" if z > 0 else "below"
        return (
            f"{value:.2f}{self.unit} is {abs(z):.1f}σ {side} the median {med:.2f} of the last "
            f"{self.window_spec.describe()} (σ {self.scale():.3g})"
        )

    def idle(self, now_ms: int) -> Score | None:
        return None
