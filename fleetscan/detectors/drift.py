"""The `drift` check of `auto`: the level has stayed off its baseline longer than it ever did.

The `level` check's calibration learns the stream's own tail, so a drift that grows slowly is
learnt as "this stream's tail" before it is rare enough to alert. This check does not measure how
far the level is but how long it has been away, against the stream's own completed excursions,
which are learnt only once they are over (an ongoing excursion never teaches its own limit):

- an **excursion** starts when the level z (`twoscale`: recent median against the slow baseline)
  leaves ±`LEAVE_SIGMAS`, and ends when it comes back within `RETURN_SIGMAS` or changes side;
- it is unusual once it has lasted longer than

      limit = max(MIN_LIMIT_MS, FACTOR × the longest completed excursion of this stream)

  and while the level is still moving away: |z| at least `MOVING_SIGMAS` beyond its time-weighted
  mean over the excursion (a drift grows; a held offset, or a skewed series whose median sits off
  its mean, does not: the `level` check already judged how far those are);
- score when it fires (`check_score`): threshold · (1 + log2(duration / limit)), as `stuck` does.

A stream whose level wanders for hours now and then raises its own limit. An excursion that was
reported counts as completed when its alert is over (the new normal, or back to normal), so each
further alert on the same stream needs an excursion twice as long. The first day (while `twoscale`
learns everything) is not judged. O(1), a few numbers.
"""

from __future__ import annotations

from fleetscan.detectors._stream import check_score
from fleetscan.detectors.base import Score
from fleetscan.timeutil import human_duration

LEAVE_SIGMAS = 2.0  # an excursion starts when |z| exceeds this (twoscale's own gate)
RETURN_SIGMAS = 1.0  # and ends when |z| is back within this, or on the other side
MIN_LIMIT_MS = 3 * 3_600_000  # never unusual before three hours off the baseline
FACTOR = 2.0  # unusual once twice as long as the longest completed excursion
MOVING_SIGMAS = 0.5  # and only while the level is this much farther out than its excursion mean


class DriftCheck:
    """How long the level has been on one side of its baseline, against the stream's history.

    >>> check = DriftCheck(threshold=3.0)
    >>> check.observe(0, 2.5).anomalous, check.observe(3_600_000, 3.0).anomalous
    (False, False)
    >>> check.observe(4 * 3_600_000, 6.0).anomalous  # four hours off and moving: past the 3 h limit
    True
    >>> _ = check.observe(5 * 3_600_000, 0.0); check.limit_ms() == 2 * 5 * 3_600_000
    True
    """

    def __init__(self, *, threshold: float) -> None:
        self.threshold = threshold
        self.longest_ms = 0.0
        self.start_ms: int | None = None
        self.side = 0.0
        self._last_ms = 0
        self._area = 0.0  # ∫|z| dt over the excursion so far (σ·ms)

    def limit_ms(self) -> float:
        return max(float(MIN_LIMIT_MS), FACTOR * self.longest_ms)

    def observe(self, ts_ms: int, z: float) -> Score:
        """Follow the level's z; score how long it has been away from the baseline."""
        if self.start_ms is not None and (abs(z) < RETURN_SIGMAS or z * self.side < 0):
            self.longest_ms = max(self.longest_ms, float(ts_ms - self.start_ms))
            self.start_ms = None
        if self.start_ms is None:
            if abs(z) <= LEAVE_SIGMAS:
                return Score(z, 0.0, False)
            self.start_ms, self.side = ts_ms, 1.0 if z > 0 else -1.0
            self._last_ms, self._area = ts_ms, 0.0
        self._area += abs(z) * (ts_ms - self._last_ms)
        self._last_ms = ts_ms
        away = ts_ms - self.start_ms
        limit = self.limit_ms()
        if away <= limit or abs(z) < self._area / away + MOVING_SIGMAS:
            return Score(z, 0.0, False)
        score = check_score(self.threshold, away / limit)
        side = "above" if self.side > 0 else "below"
        reason = (
            f"the level has been more than {LEAVE_SIGMAS:g}σ {side} its baseline for "
            f"{human_duration(away)} (now {abs(z):.1f}σ; this stream's limit {human_duration(limit)})"
        )
        return Score(z, score, True, "drift", reason)

    def reported(self, ts_ms: int) -> None:
        """The drift opened an alert: it now counts as this stream's longest excursion."""
        if self.start_ms is not None:
            self.longest_ms = max(self.longest_ms, float(ts_ms - self.start_ms))
