"""`--method twoscale`: where the sensor sits now against where it sat for the last day or week.

Two time scales:

- the **level**: the median of the last `window` (default 30 seconds, never fewer than 5 readings),
  so a single glitch does not move it but a step or a burst does;
- the **baseline**: a time-decayed EWMA of the readings with time constant `baseline` (default 1d),
  and its scale σ, a time-decayed mean absolute deviation (× 1.2533) with a time constant of at
  least a day (environmental sensors follow a daily cycle, and σ must include it), each reading's
  deviation clipped at 4σ so that outliers do not inflate it.

    z = (level − baseline) / max(σ, floor, quantum)

Decay is per unit of time (α = 1 − exp(−Δt/τ)), so irregular cadences and packet loss weigh the same
hour the same; a gap longer than 10 cadences decays only as much as 10 cadences would (the baseline is
kept) and starts a 5-reading warm-up.

Learning is gated: once the stream has run for one scale time constant (a day by default), a reading
whose level is more than 2σ from the baseline teaches the baseline and σ only 2 % as fast as usual.
So a step is not absorbed within minutes, and a slow drift stops being followed once it is 2σ away
and is reported when it reaches the threshold: the smallest drift caught is about
`2σ / baseline` per unit of time (σ ≈ 0.65 °C for a simulated office: ≈ 1.3 °C/day). A sensor that
really was moved is re-learnt over days (τ / 0.02). During the first day everything is learnt at full
rate (a sensor that is odd from day one becomes its own baseline; `plausibility` and `stuck` still
apply), but steps are still scored.

Cost: O(1) for the baseline; the level's window holds at most 64 readings. Memory is bounded.
"""

from __future__ import annotations

import math

from fleetscan.detectors._stream import (
    MEAN_AD_TO_SIGMA,
    Cadence,
    Quantum,
    SampleWindow,
)
from fleetscan.detectors.base import Score
from fleetscan.detectors.options import DetectorOptions
from fleetscan.timeutil import DAY_MS, human_duration

DEFAULT_WINDOW = "30s"
DEFAULT_BASELINE = "1d"
LEVEL_CAP = 64
LEVEL_MIN_POINTS = 5
CLIP_SIGMAS = 4.0  # deviations beyond this many σ are clipped before they teach the scale
SLOW_WHILE_ANOMALOUS = 0.02  # learning-rate factor while the level is beyond the gate
GATE_SIGMAS = 2.0  # |z| above which the baseline and its scale learn only at the slow rate
# until the scale has seen one full time constant (a day by default) a stream learns everything
WARMUP_READINGS = 30  # readings before anything is scored


class _Ewma:
    """A time-decayed, bias-corrected exponentially weighted mean.

    >>> m = _Ewma(tau_ms=1000.0)
    >>> m.update(10.0, 0); m.update(20.0, 1000); round(m.mean, 6)
    20.0
    >>> m.update(10.0, 1000); round(m.mean, 3)
    12.689
    """

    def __init__(self, tau_ms: float) -> None:
        self.tau_ms = tau_ms
        self.mean = 0.0
        self.weight = 0.0

    def update(self, value: float, dt_ms: float, rate: float = 1.0) -> None:
        if self.weight == 0.0 and dt_ms <= 0:
            self.mean = value  # the first reading: nothing to decay against yet
            return
        alpha = rate * (1.0 - math.exp(-max(dt_ms, 0.0) / self.tau_ms))
        self.weight = self.weight * (1.0 - alpha) + alpha
        if self.weight > 0:
            self.mean += (alpha / self.weight) * (value - self.mean)


class TwoScaleDetector:
    """Recent level (short median) against a slowly learnt long baseline, in robust σ.

    >>> det = TwoScaleDetector(DetectorOptions(metric="temperature", cadence_s=2.0))
    >>> for i in range(600): _ = det.update(i * 2000, 22.0 + 0.1 * (i % 3))
    >>> scores = [det.update((600 + i) * 2000, 24.0) for i in range(10)]
    >>> [s.anomalous for s in scores].index(True), scores[-1].check  # the 30 s median moves
    (7, 'level')
    """

    name = "twoscale"

    def __init__(self, options: DetectorOptions) -> None:
        self.threshold = options.threshold
        self.unit = options.profile.unit
        self.floor = options.scale_floor()
        level = options.window_or(DEFAULT_WINDOW)
        self.level_spec = level
        self.level = SampleWindow(
            count=level.samples, span_ms=level.span_ms, min_points=LEVEL_MIN_POINTS, cap=LEVEL_CAP
        )
        baseline_ms = options.baseline_window(DEFAULT_BASELINE).span_ms
        assert baseline_ms is not None
        self.baseline_ms = float(baseline_ms)
        self.baseline = _Ewma(self.baseline_ms)
        self.scale_ms = max(self.baseline_ms, DAY_MS)  # a daily cycle: the scale spans one
        self.spread = _Ewma(self.scale_ms)
        self.cadence = Cadence(expected_s=options.cadence_s)
        self.quantum = Quantum()
        self.readings = 0
        self.first_ts: int | None = None
        self._dt = 0
        self._sigma = self.floor

    def sigma(self) -> float:
        return max(MEAN_AD_TO_SIGMA * self.spread.mean, self.floor, self.quantum.step)

    def update(self, ts_ms: int, value: float) -> Score:
        if not math.isfinite(value):
            return Score(0.0, 0.0, False)
        score = self.assess(ts_ms, value)
        gated = abs(score.z) > GATE_SIGMAS and not self.young(ts_ms)
        self.learn(value, rate=SLOW_WHILE_ANOMALOUS if gated else 1.0)
        return score

    def assess(self, ts_ms: int, value: float) -> Score:
        """Move the recent level and score it against the baseline, without teaching the baseline."""
        self._dt = self.cadence.observe(ts_ms)
        if self.first_ts is None:
            self.first_ts = ts_ms
        self.level.add(ts_ms, value)
        self.readings += 1
        self._sigma = self.sigma()
        if self.readings <= WARMUP_READINGS:
            return Score(0.0, 0.0, False)
        level = self.level.median()
        z = (level - self.baseline.mean) / self._sigma
        if abs(z) > self.threshold and not self.cadence.warming:
            return Score(z, abs(z), True, "level", self._reason(level, z, self._sigma))
        return Score(z, abs(z), False)

    def young(self, ts_ms: int) -> bool:
        """Whether the stream has run for less than one scale time constant (everything is learnt)."""
        return self.first_ts is not None and ts_ms - self.first_ts < self.scale_ms

    @property
    def ready(self) -> bool:
        """Whether the last `assess` was a real score (past the warm-up, no gap warm-up)."""
        return self.readings > WARMUP_READINGS and not self.cadence.warming

    def learn(self, value: float, *, rate: float = 1.0) -> None:
        """Teach the baseline and its scale the reading last assessed (`rate` slows it down)."""
        self._learn(value, self._dt, self._sigma, rate=rate)
        self.quantum.observe(value)

    def accept(self) -> float:
        """Take the recent level as the new baseline (the new normal); returns that level."""
        level = self.level.median()
        self.baseline.mean = level
        return level

    def explain(self, z: float) -> str:
        """The one-line reason for the last assessed level at z `z`."""
        return self._reason(self.level.median(), z, self._sigma)

    def _learn(self, value: float, dt: int, sigma: float, *, rate: float) -> None:
        if self.readings == 1:  # no baseline to deviate from yet
            self.baseline.update(value, dt)
            return
        deviation = abs(value - self.baseline.mean)
        if self.readings > WARMUP_READINGS:
            deviation = min(deviation, CLIP_SIGMAS * sigma)
        self.spread.update(deviation, dt, rate)
        self.baseline.update(value, dt, rate)

    def _reason(self, level: float, z: float, sigma: float) -> str:
        side = "above" if z > 0 else "below"
        return (
            f"level {level:.2f}{self.unit} (median of the last {self.level_spec.describe()}) is "
            f"{abs(z):.1f}σ {side} the {human_duration(self.baseline_ms)} baseline "
            f"{self.baseline.mean:.2f} (σ {sigma:.3g})"
        )

    def idle(self, now_ms: int) -> Score | None:
        return None
