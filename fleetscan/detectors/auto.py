"""`--method auto` (the default): every check on one stream, one calibrated score, one alert per event.

Each reading goes through these checks:

| check          | catches                                   | surprise (−log10 p) when it fires  |
|----------------|-------------------------------------------|------------------------------------|
| `plausibility` | readings the sensor model cannot produce  | 2 × threshold                      |
| `stuck`        | flat far longer than this stream ever was while it moved | threshold·(1+log2(run/limit)) |
| `level`        | steps and drifts against the long baseline (`twoscale`) | calibrated (below)  |
| `drift`        | the level still moving away from the baseline, longer than this stream's completed excursions (`drift.py`) | threshold·(1+log2(away/limit)) |
| `outlier`      | spikes and bursts against the recent window (`robust`)  | calibrated (below)  |
| `dropout`      | silence, from `idle()` between readings    | threshold·(1+log2(silence/limit))  |

**One score everywhere.** The `level` and `outlier` robust z go through a `TailCalibrator` each
(`calibration.py`): how rare such a z has been *for this stream*, as −log10 of a tail probability.
So `--threshold 3` means "rarer than 1 reading in 1,000 for this stream" on a quiet thermometer
and on a bursty counter alike; the rule checks map onto the same scale. The reading's surprise is
its strongest check's; the reason names that check, in the sensor's own units.

**What the stream does every day is not news** (`daily.py`): a `level` or `outlier` reading
that this stream has held at this time of day (this half-hour or the next one either side) on each
of the last 3 days is not unusual, and does not teach that check's calibration either: a square
day/night wave steps twice a day and, after three days, alerts on neither step, while a day
unlike the recent ones still alerts.

**Alerts as events** (`events.py`): an alert opens when the surprise summed over a run of unusual
readings reaches `consecutive × threshold`, holds with hysteresis and resolves once. `score` is that
evidence: highest at the onset, 0 while the alert holds.

**No learning inside an alert.** While an alert is open, nothing is learnt: not the baseline, not
the window, not the calibration (the unusual readings of a run that did not open an alert are
learnt once the run ends). **The new normal**: a `level` or `outlier` alert still open after
`relearn` (default 1h, at least 12 readings) is accepted: the baseline moves to the recent level,
the window restarts from the readings since the alert opened, and the alert resolves with a reason
("new level 24.10°C accepted after 1h"); a `drift` alert too. Stuck, implausible and silent are
faults, never a new normal.

Implausible readings are kept out of the statistical checks. Cost and memory: the sum of the parts
plus the ≤ 64 readings since an alert opened, bounded.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import replace

from fleetscan.detectors.base import Score
from fleetscan.detectors.calibration import TailCalibrator
from fleetscan.detectors.daily import DailyRange
from fleetscan.detectors.drift import DriftCheck
from fleetscan.detectors.dropout import DropoutDetector
from fleetscan.detectors.events import AlertEvents, Step
from fleetscan.detectors.options import DetectorOptions
from fleetscan.detectors.plausibility import PlausibilityDetector
from fleetscan.detectors.robust import RobustDetector
from fleetscan.detectors.stuck import StuckDetector
from fleetscan.detectors.twoscale import (
    GATE_SIGMAS,
    SLOW_WHILE_ANOMALOUS,
    TwoScaleDetector,
)
from fleetscan.timeutil import human_duration

RELEARN_MIN_READINGS = 12  # a new normal is never accepted on fewer readings than this
RECENT_CAP = 64  # readings kept since an alert opened, to restart the window from
RELEARNABLE = ("level", "drift", "outlier")  # the checks whose alerts can become a new normal


class AutoDetector:
    """The production preset: plausibility, stuck, level, outlier and dropout checks together.

    >>> det = AutoDetector(DetectorOptions(metric="humidity"))
    >>> det.update(0, 45.0).anomalous, det.update(2000, 0.0).check
    (False, 'plausibility')
    """

    name = "auto"

    def __init__(self, options: DetectorOptions) -> None:
        self.threshold = options.threshold
        self.unit = options.profile.unit
        self.plausibility = PlausibilityDetector(options)
        self.stuck = StuckDetector(options)
        self.level = TwoScaleDetector(replace(options, window=None))
        self.outlier = RobustDetector(options)
        self.dropout = DropoutDetector(options)
        self.drift = DriftCheck(threshold=options.threshold)
        self.daily = DailyRange(floor=options.scale_floor())
        self.calibration = {check: TailCalibrator() for check in ("level", "outlier")}
        self.events = AlertEvents(threshold=options.threshold, consecutive=options.consecutive)
        self.relearn_ms = options.relearn_ms()
        self._pending: list[tuple[str, float, int]] = []  # (check, z, dt) of an unusual run
        self._learnt_ts: int | None = None
        self._onset: list[tuple[str, float, int]] = []  # the residuals that opened the alert
        self._recent: deque[tuple[int, float]] = deque(maxlen=RECENT_CAP)
        self._story: Score | None = None  # the reading that opened the alert

    def update(self, ts_ms: int, value: float) -> Score:
        if not math.isfinite(value):
            return Score(0.0, 0.0, False, alert=self.events.open, posted=self.events.posted())
        self.dropout.update(ts_ms, value)
        plausibility = self.plausibility.update(ts_ms, value)
        stuck = self.stuck.update(ts_ms, value)
        checks = [plausibility, stuck]
        residuals: list[tuple[str, float]] = []
        if not plausibility.anomalous:
            level = self.level.assess(ts_ms, value)
            outlier = self.outlier.assess(ts_ms, value)
            if self.level.ready:
                residuals.append(("level", level.z))
            if self.outlier.ready:
                residuals.append(("outlier", outlier.z))
            calibrated = [self._calibrated(check, z, value) for check, z in residuals]
            if any(s.anomalous for s in calibrated) and self.daily.explains(ts_ms, value):
                # held at this time of day on every recent day: not news, nor this check's tail
                residuals = [
                    r for r, s in zip(residuals, calibrated, strict=True) if not s.anomalous
                ]
                calibrated = [Score(s.z, 0.0, False) if s.anomalous else s for s in calibrated]
            checks += calibrated
            self.daily.learn(ts_ms, value)
            if self.level.ready and not self.level.young(ts_ms):
                checks.append(self.drift.observe(ts_ms, level.z))
        chosen = max(checks, key=lambda s: s.score)
        was_open = self.events.open
        step = self.events.step(ts_ms, chosen.score)
        if step.event == "resolved" and self._story is not None and self._story.check == "drift":
            self.drift.reported(ts_ms)  # this excursion now counts: the next alert needs one longer
        self._learn(ts_ms, value, residuals, step, was_open, plausibility.anomalous)
        if step.open and self._relearn_due(ts_ms):
            return self._accept(ts_ms, chosen)
        return self._verdict(chosen, step)

    def _calibrated(self, check: str, z: float, value: float) -> Score:
        """The check's robust z as calibrated surprise, with its reason if it is unusual."""
        surprise = self.calibration[check].surprise(z)
        if surprise < self.threshold:
            return Score(z, surprise, False, check)
        if check == "level":
            reason = self.level.explain(z)
        else:
            reason = self.outlier.explain(value, z)
        reason += f"; rarer than 1 in {10.0**surprise:,.0f} readings for this stream"
        return Score(z, surprise, True, check, reason)

    def _learn(
        self,
        ts_ms: int,
        value: float,
        residuals: list[tuple[str, float]],
        step: Step,
        was_open: bool,
        implausible: bool,
    ) -> None:
        """Teach the models this reading unless it belongs to an alert."""
        if step.event == "opened":  # the run became an alert: none of it is normal
            dt = 0 if self._learnt_ts is None else ts_ms - self._learnt_ts
            self._onset = self._pending + [(check, z, dt) for check, z in residuals]
            self._pending = []
        elif step.event == "resolved":
            # A stream that has such events every few hours must learn that they happen: its
            # calibration (never its baselines) counts each event's onset once it is over.
            for check, z, step_ms in self._onset:
                self.calibration[check].learn(z, step_ms)
            self._onset = []
        if step.open or was_open:
            self._recent.append((ts_ms, value))
            return
        self._recent.clear()
        if implausible:
            return
        level_z = next((z for check, z in residuals if check == "level"), 0.0)
        # twoscale's own drift gate
        gated = abs(level_z) > GATE_SIGMAS and not self.level.young(ts_ms)
        self.level.learn(value, rate=SLOW_WHILE_ANOMALOUS if gated else 1.0)
        self.outlier.learn(ts_ms, value)
        dt = 0 if self._learnt_ts is None else ts_ms - self._learnt_ts
        self._learnt_ts = ts_ms
        self._pending += [(check, z, dt) for check, z in residuals]
        if self.events.unusual_run:
            return  # learnt once the run ends without an alert
        for check, z, step_ms in self._pending:
            self.calibration[check].learn(z, step_ms)
        self._pending.clear()

    def _relearn_due(self, ts_ms: int) -> bool:
        story = self._story
        return (
            story is not None
            and story.check in RELEARNABLE
            and ts_ms - self.events.opened_ts >= self.relearn_ms
            and self.events.readings_open >= RELEARN_MIN_READINGS
        )

    def _accept(self, ts_ms: int, chosen: Score) -> Score:
        """The changed level has lasted `relearn`: make it the baseline and resolve the alert."""
        level = self.level.accept()
        self.outlier.restart(self._recent)
        self._recent.clear()
        held = human_duration(ts_ms - self.events.opened_ts)
        self.events.resolve()
        self._story = None
        reason = f"new level {level:.2f}{self.unit} accepted after {held}"
        return Score(chosen.z, 0.0, False, "relearn", reason, alert=False, event="resolved")

    def _verdict(self, chosen: Score, step: Step) -> Score:
        if step.event == "opened":
            self._story = chosen
        story = self._story if step.open or step.event == "resolved" else None
        if step.event == "resolved":
            self._story = None
        check = story.check if story is not None else chosen.check
        reason = story.reason if story is not None and step.event == "opened" else chosen.reason
        if step.event == "resolved":
            reason = f"back to normal after {self.events.readings_open} readings"
        return Score(
            chosen.z,
            step.evidence,
            chosen.anomalous,
            check if (chosen.anomalous or story is not None) else "",
            reason,
            alert=step.open,
            event=step.event,
            posted=self.events.posted(),
        )

    def idle(self, now_ms: int) -> Score | None:
        silent = self.dropout.idle(now_ms)
        if silent is None:
            return None
        step = self.events.step(now_ms, silent.score)
        if step.event == "opened":
            self._story = silent
        return Score(
            silent.z,
            step.evidence,
            True,
            "dropout",
            silent.reason,
            alert=step.open,
            event=step.event,
            posted=self.events.posted(),
        )
