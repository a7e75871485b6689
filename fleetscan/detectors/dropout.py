"""`--method dropout`: silence for several times the stream's own cadence, noticed while polling.

`update()` learns the cadence (median of the last 64 inter-arrival gaps, `Cadence`); `idle(now_ms)`,
called by the runner on polls that brought nothing new, reports a dropout once

    silence = now − last reading > limit = max(5 × cadence, 1.5 × longest recent gap, 30 s)

The longest-gap term lets a stream with heavy packet loss learn its own ragged rhythm; gaps that
were reported as dropouts are not learnt; the 30 s floor absorbs polling and ingestion delays at
1 s cadences. `idle` returns None (not a normal Score) while all is well, so the runner's streak for
the stream is not reset between readings. Score when it fires (`check_score`): threshold ·
(1 + log2(silence / limit)). Cost O(1) per call (a sorted list of ≤ 64 gaps); bounded memory.
"""

from __future__ import annotations

import math

from fleetscan.detectors._stream import Cadence, check_score
from fleetscan.detectors.base import Score
from fleetscan.detectors.options import DetectorOptions
from fleetscan.timeutil import human_duration

CADENCE_FACTOR = 5.0
LONGEST_FACTOR = 1.5
MIN_LIMIT_MS = 30_000


class DropoutDetector:
    """Reports a stream that has gone quiet for longer than its own rhythm allows.

    >>> det = DropoutDetector(DetectorOptions())
    >>> for i in range(20): _ = det.update(i * 10_000, 1.0)
    >>> det.limit_ms()
    50000.0
    >>> det.idle(190_000 + 40_000) is None, det.idle(190_000 + 100_000).check
    (True, 'dropout')
    """

    name = "dropout"

    def __init__(self, options: DetectorOptions) -> None:
        self.threshold = options.threshold
        self.cadence = Cadence(expected_s=options.cadence_s)

    def limit_ms(self) -> float | None:
        """How long the stream may stay quiet (None until its cadence is known)."""
        cadence = self.cadence.cadence_ms
        if cadence is None:
            return None
        longest = self.cadence.longest_ms or 0.0
        return max(CADENCE_FACTOR * cadence, LONGEST_FACTOR * longest, float(MIN_LIMIT_MS))

    def update(self, ts_ms: int, value: float) -> Score:
        if not math.isfinite(value):  # the runner skips NaN; a NaN is not a sign of life either
            return Score(0.0, 0.0, False)
        last, limit = self.cadence.last_ts, self.limit_ms()
        reported = last is not None and limit is not None and ts_ms - last > limit
        self.cadence.observe(ts_ms, learn=not reported)
        return Score(0.0, 0.0, False)

    def idle(self, now_ms: int) -> Score | None:
        last, limit = self.cadence.last_ts, self.limit_ms()
        if last is None or limit is None or now_ms - last <= limit:
            return None
        silence = now_ms - last
        score = check_score(self.threshold, silence / limit)
        cadence = self.cadence.cadence_ms or 0.0
        reason = (
            f"no reading for {human_duration(silence)}; this stream reports every "
            f"{human_duration(cadence)} (limit {human_duration(limit)})"
        )
        return Score(score, score, True, "dropout", reason)
