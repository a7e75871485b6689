"""`--method plausibility`: readings the sensor model cannot physically produce.

`sensors.implausible_reason` knows the BME280 ranges (−40…85 °C, 0…100 %RH with exactly 0 impossible,
300…1100 hPa). Unknown metrics are never implausible. A reading outside the range scores
`check_score(threshold, 2)` = 2 × threshold (z carries the side), any other reading scores 0.
Stateless: O(1), no memory.
"""

from __future__ import annotations

import math

from fleetscan.detectors._stream import check_score
from fleetscan.detectors.base import Score
from fleetscan.detectors.options import DetectorOptions
from fleetscan.sensors import implausible_reason

IMPLAUSIBLE_RATIO = 2.0


class PlausibilityDetector:
    """Flags readings outside what the metric's sensor model can report.

    >>> det = PlausibilityDetector(DetectorOptions(metric="humidity"))
    >>> det.update(0, 45.0).anomalous, det.update(1, 0.0).score
    (False, 6.0)
    """

    name = "plausibility"

    def __init__(self, options: DetectorOptions) -> None:
        self.threshold = options.threshold
        self.metric = options.metric or ""
        self.profile = options.profile

    def update(self, ts_ms: int, value: float) -> Score:
        if not math.isfinite(value):
            return Score(0.0, 0.0, False)
        reason = implausible_reason(self.metric, value)
        if not reason:
            return Score(0.0, 0.0, False)
        score = check_score(self.threshold, IMPLAUSIBLE_RATIO)
        z = -score if value <= self.profile.low else score
        return Score(z, score, True, "plausibility", reason)

    def idle(self, now_ms: int) -> Score | None:
        return None
