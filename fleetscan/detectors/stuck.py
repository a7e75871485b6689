"""`--method stuck`: a reading that stops changing for longer than this sensor ever holds still.

A *run* is a stretch of consecutive readings within half a resolution step of the run's first
reading (sensors.py: 0.01 for the BME280; a relative 1e-6 for unknown metrics). Quantised sensors
repeat a value for a few readings quite naturally, so the limit is learnt per stream:

    limit = max(10, 3 × the longest of the last 256 completed runs)    (readings)

Until 20 runs have completed the limit is 60 readings, so a sensor frozen from day one is still
reported. Runs that were reported as stuck are not learnt (one freeze does not excuse the next).
Counting readings rather than seconds keeps the rule the same from 1 s to 5 min cadences and does
not confuse an outage (see `dropout`) with a freeze.

Score when it fires (`check_score`): threshold · (1 + log2(run / limit)), always above the
threshold and growing by one threshold per doubling of the run. Cost: O(1) per reading, plus an
O(256) max when a run completes; memory is the 256 run lengths.
"""

from __future__ import annotations

import math
from collections import deque

from fleetscan.detectors._stream import Cadence, check_score
from fleetscan.detectors.base import Score
from fleetscan.detectors.options import DetectorOptions, describe_ms

RUN_HISTORY = 256
RUNS_NEEDED = 20
DEFAULT_LIMIT = 60
MIN_LIMIT = 10
RUN_FACTOR = 3.0
RELATIVE_TOLERANCE = 1e-6


class StuckDetector:
    """Flags a value that has not changed for longer than the stream's normal runs allow.

    >>> det = StuckDetector(DetectorOptions(metric="temperature", threshold=3.0))
    >>> for i in range(200): _ = det.update(i * 2000, 22.0 + 0.05 * (i % 4))
    >>> det.limit()
    10
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
        self.runs: deque[int] = deque(maxlen=RUN_HISTORY)
        self._longest = 0
        self._ref: float | None = None
        self._run = 0
        self._run_start_ts = 0
        self._reported = False

    def limit(self) -> int:
        """Readings a value may repeat before it counts as stuck."""
        if len(self.runs) < RUNS_NEEDED:
            return DEFAULT_LIMIT
        return max(MIN_LIMIT, math.ceil(RUN_FACTOR * self._longest))

    def _same(self, value: float, ref: float) -> bool:
        tolerance = max(self.half_step, RELATIVE_TOLERANCE * max(1.0, abs(ref)))
        return abs(value - ref) <= tolerance

    def _close_run(self) -> None:
        if self._run > 0 and not self._reported:
            self.runs.append(self._run)  # the deque drops the oldest run past RUN_HISTORY
            self._longest = max(self.runs)

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
        if self._run <= limit or self.cadence.warming:
            return Score(0.0, 0.0, False)
        self._reported = True
        score = check_score(self.threshold, self._run / limit)
        held = describe_ms(max(ts_ms - self._run_start_ts, 0))
        reason = (
            f"{self._ref:.2f}{self.unit} unchanged for {self._run} readings ({held}); "
            f"this sensor normally repeats a value at most {self._longest or '?'} times "
            f"(limit {limit})"
        )
        return Score(score, score, True, "stuck", reason)

    def idle(self, now_ms: int) -> Score | None:
        return None
