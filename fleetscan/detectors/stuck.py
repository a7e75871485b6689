"""`--method stuck`: a reading that stops changing for far longer than this sensor ever held still.

A *run* is a stretch of consecutive readings within half a resolution step of the run's first
reading (sensors.py: 0.01 for the BME280; a relative 1e-6 for unknown metrics). Flat is only
suspicious for a series that normally moves, so the limit is learnt per stream from its own runs:

    limit = max(10, 3 × the longest completed run this stream has ever had)    (readings)

and there is no limit at all until the stream has completed 20 runs: a constant series, a square
wave holding each level for hours, or a counter that sits at zero most of the time has shown it is
flat by nature, and is never stuck (a board frozen from its first reading is the fleet check's
`stuck`, against its moving peers). A run reported as stuck is learnt once it is over (the
stream moved again by itself), like an alert's onset joining the calibration: a stream whose
flat stretches recur and grow needs each next one three times longer before it alerts again.
Counting readings rather than seconds keeps the rule the same from 1 s to 5 min cadences and does
not confuse an outage (see `dropout`) with a freeze.

Score when it fires (`check_score`): threshold · (1 + log2(run / limit)), always above the
threshold and growing by one threshold per doubling of the run. Cost: O(1) per reading; memory is
two counters.
"""

from __future__ import annotations

import math

from fleetscan.detectors._stream import Cadence, check_score
from fleetscan.detectors.base import Score
from fleetscan.detectors.options import DetectorOptions
from fleetscan.timeutil import human_duration

RUNS_NEEDED = 20
MIN_LIMIT = 10
RUN_FACTOR = 3.0
RELATIVE_TOLERANCE = 1e-6


class StuckDetector:
    """Flags a value that has not changed for longer than the stream's normal runs allow.

    >>> det = StuckDetector(DetectorOptions(metric="temperature", threshold=3.0))
    >>> for i in range(200): _ = det.update(i * 2000, 22.0 + 0.05 * (i % 4))
    >>> det.limit()
    10
    >>> flat = StuckDetector(DetectorOptions(metric="temperature"))
    >>> any(flat.update(i * 2000, 45.0).anomalous for i in range(5000))  # flat by nature
    False
    >>> scores = [det.update((200 + i) * 2000, 22.33) for i in range(12)]
    >>> [s.anomalous for s in scores[8:]], scores[-1].check
    ([False, False, True, True], 'stuck')
    """

    name = "stuck"

    def __init__(self, options: DetectorOptions) -> None:
        self.threshold = options.threshold
        self.unit = options.profile.unit
        self.half_step = options.profile.resolution / 2.0
        self.cadence = Cadence(expected_s=options.cadence_s)
        self._completed = 0  # runs completed and learnt
        self._longest = 0  # the longest of them
        self._ref: float | None = None
        self._run = 0
        self._run_start_ts = 0
        self._reported = False

    def limit(self) -> int | None:
        """Readings a value may repeat before it counts as stuck (None: this stream never moved)."""
        if self._completed < RUNS_NEEDED:
            return None
        return max(MIN_LIMIT, math.ceil(RUN_FACTOR * self._longest))

    def _same(self, value: float, ref: float) -> bool:
        tolerance = max(self.half_step, RELATIVE_TOLERANCE * max(1.0, abs(ref)))
        return abs(value - ref) <= tolerance

    def _close_run(self) -> None:
        if self._run > 0:
            self._completed += 1
            self._longest = max(self._longest, self._run)

    def update(self, ts_ms: int, value: float) -> Score:
        if not math.isfinite(value):
            return Score(0.0, 0.0, False)
        self.cadence.observe(ts_ms)
        if self._ref is not None and self._same(value, self._ref):
            self._run += 1
        else:
            self._close_run()
            self._ref, self._run, self._run_start_ts, self._reported = value, 1, ts_ms, False
        limit = self.limit()
        if limit is None or self._run <= limit or self.cadence.warming:
            return Score(0.0, 0.0, False)
        self._reported = True
        score = check_score(self.threshold, self._run / limit)
        held = human_duration(max(ts_ms - self._run_start_ts, 0))
        reason = (
            f"{self._ref:.2f}{self.unit} unchanged for {self._run} readings ({held}); "
            f"this sensor normally repeats a value at most {self._longest} times "
            f"(limit {limit})"
        )
        return Score(score, score, True, "stuck", reason)

    def idle(self, now_ms: int) -> Score | None:
        return None
