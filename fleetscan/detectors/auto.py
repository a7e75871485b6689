"""`--method auto` (the default): every check on one stream, one explanation per alert.

Each reading goes through, in order of precedence:

| check          | catches                                   | score when it fires            |
|----------------|-------------------------------------------|--------------------------------|
| `plausibility` | readings the sensor model cannot produce  | 2 × threshold                  |
| `stuck`        | a value frozen longer than the sensor ever holds still | threshold·(1+log2(run/limit)) |
| `level`        | steps and drifts against the long baseline (`twoscale`) | robust σ          |
| `outlier`      | spikes and bursts against the recent window (`robust`)  | robust σ          |
| `dropout`      | silence, from `idle()` between readings    | threshold·(1+log2(silence/limit)) |

The returned `Score` is the firing check with the highest precedence, except that a check that is
already firing keeps the floor while it stays anomalous, so one alert tells one story (a step is
first an `outlier`, and stays one, rather than flipping to `level` halfway). Implausible readings are
kept out of the statistical baselines. With nothing firing, the larger of the `level` and `outlier`
scores is returned for display. `--window` sets the `outlier` window; `--baseline` the `level`
baseline. Cost and memory are the sum of the parts: bounded.
"""

from __future__ import annotations

import math
from dataclasses import replace

from fleetscan.detectors.base import Score
from fleetscan.detectors.dropout import DropoutDetector
from fleetscan.detectors.options import DetectorOptions
from fleetscan.detectors.plausibility import PlausibilityDetector
from fleetscan.detectors.robust import RobustDetector
from fleetscan.detectors.stuck import StuckDetector
from fleetscan.detectors.twoscale import TwoScaleDetector


class AutoDetector:
    """The production preset: plausibility, stuck, level, outlier and dropout checks together.

    >>> det = AutoDetector(DetectorOptions(metric="humidity"))
    >>> det.update(0, 45.0).anomalous, det.update(2000, 0.0).check
    (False, 'plausibility')
    """

    name = "auto"

    def __init__(self, options: DetectorOptions) -> None:
        self.plausibility = PlausibilityDetector(options)
        self.stuck = StuckDetector(options)
        self.level = TwoScaleDetector(replace(options, window=None))
        self.outlier = RobustDetector(options)
        self.dropout = DropoutDetector(options)
        self._firing = ""

    def update(self, ts_ms: int, value: float) -> Score:
        if not math.isfinite(value):
            return Score(0.0, 0.0, False)
        self.dropout.update(ts_ms, value)
        scores = [self.plausibility.update(ts_ms, value), self.stuck.update(ts_ms, value)]
        if not scores[0].anomalous:
            scores += [self.level.update(ts_ms, value), self.outlier.update(ts_ms, value)]
        firing = [s for s in scores if s.anomalous]
        if not firing:
            self._firing = ""
            return max(scores[2:] or scores, key=lambda s: s.score)
        chosen = next((s for s in firing if s.check == self._firing), firing[0])
        self._firing = chosen.check
        return chosen

    def idle(self, now_ms: int) -> Score | None:
        return self.dropout.idle(now_ms)
