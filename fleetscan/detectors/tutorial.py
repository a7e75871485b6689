"""The tutorial's rolling z-score, reproduced exactly, at O(1) per sample.

The tutorial (plexus-zscore-tutorial.txt) keeps `deque(maxlen=15)`, appends the new value, and scores
it against the whole window, the new value included:

    mean = sum(values) / n;  var = sum((v - mean) ** 2) / n   (population variance)
    n < 5 → 0.0;  std < 0.01 → 0.0;  z = (values[-1] - mean) / std

We keep shifted running sums S1 = Σ(x − K) and S2 = Σ(x − K)² (K is a recent value, so there is no
catastrophic cancellation even for pressure in hPa) and rebuild them every `window` samples, so the cost
does not grow with the window and rounding error cannot accumulate. The running result agrees with the
tutorial's two-pass formula to ~1e-12; where that difference could matter, because z sits within 1e-7 of
the threshold, of a printed 2-decimal rounding edge, or std of the 0.01 guard, we recompute the
tutorial's formula itself, so every decision and every printed digit is the tutorial's.
"""

from __future__ import annotations

import math
from collections import deque

from fleetscan.detectors.base import Score

MIN_SAMPLES = 5
MIN_STD = 0.01
_EDGE = 1e-7  # relative closeness to a decision edge that triggers the exact recomputation


def tutorial_zscore(values: list[float]) -> float:
    """The tutorial's `zscore()`, verbatim in behaviour (used for edge cases and as documentation).

    >>> tutorial_zscore([22.4, 22.4, 22.5, 22.4, 22.4, 25.0])
    2.2344...
    """
    if len(values) < MIN_SAMPLES:
        return 0.0
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / len(values)
    std = math.sqrt(var)
    if std < MIN_STD:
        return 0.0
    return (values[-1] - mean) / std


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= _EDGE * max(1.0, abs(b))


class TutorialDetector:
    """`--method tutorial`: the tutorial's detector, sample for sample."""

    name = "tutorial"

    def __init__(self, *, window: int = 15, threshold: float = 3.0) -> None:
        if window < 1:
            raise ValueError("window must be at least 1 sample")
        self.window = window
        self.threshold = threshold
        self._values: deque[float] = deque(maxlen=window)
        self._shift = 0.0
        self._s1 = 0.0
        self._s2 = 0.0
        self._since_rebuild = 0

    def _rebuild(self) -> None:
        self._shift = self._values[-1]
        self._s1 = math.fsum(v - self._shift for v in self._values)
        self._s2 = math.fsum((v - self._shift) ** 2 for v in self._values)
        self._since_rebuild = 0

    def _running_z(self) -> tuple[float, float]:
        n = len(self._values)
        mean_shifted = self._s1 / n
        var = max(self._s2 / n - mean_shifted * mean_shifted, 0.0)
        std = math.sqrt(var)
        z = (self._values[-1] - self._shift - mean_shifted) / std if std > 0 else 0.0
        return z, std

    def zscore(self, value: float) -> float:
        """Append `value` to the window and return its z exactly as the tutorial would."""
        if not self._values:
            self._shift = value  # centre the sums on the data from the first sample on
        if len(self._values) == self.window:
            old = self._values[0]
            self._s1 -= old - self._shift
            self._s2 -= (old - self._shift) ** 2
        self._values.append(value)
        self._s1 += value - self._shift
        self._s2 += (value - self._shift) ** 2
        self._since_rebuild += 1
        if self._since_rebuild >= self.window:
            self._rebuild()
        if len(self._values) < MIN_SAMPLES:
            return 0.0
        z, std = self._running_z()
        cents = abs(z) * 100.0
        if (
            _near(std, MIN_STD)
            or _near(abs(z), self.threshold)
            or _near(cents - math.floor(cents), 0.5)
            or cents < 1.0  # the sign of a z that prints as ±0.00
        ):
            return tutorial_zscore(list(self._values))
        if std < MIN_STD:
            return 0.0
        return z

    def update(self, ts_ms: int, value: float) -> Score:
        z = self.zscore(value)
        score = abs(z)
        # No `reason`: the tutorial's line already shows z, and its output must stay exactly its own.
        return Score(z, score, score > self.threshold, "zscore" if score > self.threshold else "")

    def idle(self, now_ms: int) -> Score | None:
        return None
