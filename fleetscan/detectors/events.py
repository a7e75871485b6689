"""Alerts as events: one alert opens at the onset, holds while the condition lasts, resolves once.

`AlertEvents` turns each reading's calibrated surprise (`calibration.py`: −log10 of a tail
probability, the same units on every stream) into an alert's life:

- **evidence**: the surprise summed over the current run of unusual readings (surprise ≥
  threshold). An alert **opens** when it reaches `consecutive × threshold`: three unusual readings
  in a row, as the tutorial's guard asks, or one reading rare enough for three (a spike).
- **hold, with hysteresis**: once open, a reading still counts against normal down to
  `HOLD_FRACTION × threshold`; the alert **resolves** after `RECOVERY_FACTOR × consecutive`
  readings in a row below that. So one event that wavers around the threshold is one alert.
- `resolve(reason)` closes it early: the detector accepted a new normal.

The evidence is also the `score` the runner prints and NAB scores: it climbs over the run, peaks at
the reading where the alert opens, and is 0 while the alert holds (the alert already said it), so
a high score marks an onset rather than every reading of a long event.

**An alert is less news on a stream that has just had some.** The reported score is the evidence
less `threshold × log10(1 + n)`, n the alerts this stream opened, each counted with weight
exp(−age / 1 day): the first alert of a quiet stream keeps its whole evidence, the fourth of a
day on a stream that alerts every few hours about `threshold × 0.6` less. Only the score moves:
when an alert opens, holds and resolves does not change, nor the posted `<metric>.zscore`. So one
`--threshold` on `score` ranks a fleet's onsets by how unusual an alert is for each stream, not
only how unusual the reading. O(1), a few numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HOLD_FRACTION = 2.0 / 3.0  # while open, readings this far up count as the condition lasting
RECOVERY_FACTOR = 2  # calm readings in a row (× consecutive) before an alert resolves
REPEAT_TAU_MS = 86_400_000.0  # an earlier alert's weight in the repeat discount decays over a day


@dataclass(frozen=True, slots=True)
class Step:
    """What one reading did to the alert: whether it is open, the event, the evidence to report."""

    open: bool
    event: str  # "opened", "resolved" or ""
    evidence: float


class AlertEvents:
    """One stream's alert life, driven by calibrated surprise.

    >>> ev = AlertEvents(threshold=3.0, consecutive=3)
    >>> [ev.step(t, s).event for t, s in enumerate([0.5, 3.5, 3.2, 3.1, 2.5, 0.1])]
    ['', '', '', 'opened', '', '']
    >>> ev.step(6, 9.5).evidence, [ev.step(7 + t, 0.2).event for t in range(6)][-1]
    (0.0, 'resolved')
    >>> AlertEvents(threshold=3.0, consecutive=3).step(0, 9.5).event  # one spike rare enough for 3
    'opened'
    """

    def __init__(self, *, threshold: float, consecutive: int) -> None:
        self.threshold = threshold
        self.consecutive = consecutive
        self.recovery = RECOVERY_FACTOR * consecutive
        self.open = False
        self.opened_ts = 0
        self.readings_open = 0
        self.peak = 0.0
        self._evidence = 0.0
        self._calm = 0
        self.recent = 0.0  # alerts opened, decayed to `opened_ts` (the last one counts 1)

    def reported(self, ts_ms: int, evidence: float) -> float:
        """The evidence less the repeat discount: `threshold × log10(1 + recent alerts)`."""
        if self.recent == 0.0 or evidence <= 0.0:
            return evidence
        n = self.recent * math.exp(-max(ts_ms - self.opened_ts, 0) / REPEAT_TAU_MS)
        return max(evidence - self.threshold * math.log10(1.0 + n), 0.0)

    def step(self, ts_ms: int, surprise: float) -> Step:
        """Take one reading's surprise (the strongest check's)."""
        if self.open:
            self.readings_open += 1
            self.peak = max(self.peak, surprise)
            self._calm = 0 if surprise >= HOLD_FRACTION * self.threshold else self._calm + 1
            if self._calm >= self.recovery:
                self.open = False
                return Step(False, "resolved", 0.0)
            return Step(True, "", 0.0)
        if surprise < self.threshold:
            self._evidence = 0.0
            return Step(False, "", self.reported(ts_ms, surprise))
        self._evidence += surprise
        if self._evidence < self.consecutive * self.threshold:
            return Step(False, "", self.reported(ts_ms, self._evidence))
        evidence, self._evidence = self.reported(ts_ms, self._evidence), 0.0
        decay = math.exp(-max(ts_ms - self.opened_ts, 0) / REPEAT_TAU_MS)
        self.recent = self.recent * decay + 1.0
        self.open, self.opened_ts, self.readings_open = True, ts_ms, 0
        self.peak, self._calm = surprise, 0
        return Step(True, "opened", evidence)

    @property
    def unusual_run(self) -> bool:
        """Whether readings are piling up evidence toward an alert right now."""
        return self._evidence > 0.0

    def resolve(self) -> Step:
        """Close the open alert now (the detector accepted a new normal)."""
        self.open = False
        self._calm = 0
        return Step(False, "resolved", 0.0)

    def posted(self) -> float:
        """`<metric>.zscore` while open (the peak surprise, above any `max: threshold` monitor)."""
        return max(self.peak, self.threshold + 1.0) if self.open else 0.0
