"""`fleetscan device`: the tutorial's streaming loop, generalised to many streams and methods.

One `Stream` per (source, metric) holds a detector, the N-in-a-row guard and the last timestamp seen.
Alerts are events: a `Sample` says `event = "opened"` on the reading where an alert opens (with a
new `alert_id`, `source/metric@opening time`) and `"resolved"` on the one where it closes. The
alert is the tutorial's guard for the single methods, or the detector's own (`auto`).
`DeviceRunner.process()` pushes readings through the streams in time order, skipping those at or
before a stream's last timestamp (the tutorial's `ts <= last_ts` rule), and returns one `Sample` per
processed reading. The runner has no clock, network or output of its own: the command module polls,
prints and emits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fleetscan.detectors.base import Detector, Score, StreakGuard
from fleetscan.emitter import Point
from fleetscan.telemetry import Reading
from fleetscan.timeutil import iso_z


@dataclass(frozen=True, slots=True)
class Sample:
    """One processed reading (or, with `value is None`, one idle check that found silence)."""

    source_id: str
    metric: str
    ts_ms: int
    value: float | None
    score: Score
    streak: int
    anomaly: bool
    emitted: float
    event: str = ""
    alert_id: str = ""

    def line(self, *, prefix: bool) -> str:
        """The tutorial's line: `[ANOMALY] t= 25.78 z=+5.04 streak=3`, plus the reason if any."""
        tag = "ANOMALY" if self.anomaly else "normal "
        shown = f"{self.value:6.2f}" if self.value is not None else "   ---"
        text = f"[{tag}] t={shown} z={self.score.z:+5.2f} streak={self.streak}"
        if prefix:
            text = f"{self.source_id} {self.metric} {text}"
        if (self.score.anomalous or self.event) and self.score.reason:
            text += f"  ({self.score.check}: {self.score.reason})"
        if self.event:
            text += f"  [alert {self.event}]"
        return text

    def record(self) -> dict[str, object]:
        """The `--format jsonl` row."""
        return {
            "source_id": self.source_id,
            "metric": self.metric,
            "timestamp": iso_z(self.ts_ms),
            "value": self.value,
            "z": self.score.z,
            "score": self.score.score,
            "streak": self.streak,
            "anomaly": self.anomaly,
            "emitted": self.emitted,
            "check": self.score.check,
            "reason": self.score.reason,
            "event": self.event,
            "alert_id": self.alert_id,
        }

    def point(self) -> Point:
        """The `<metric>.zscore` point to post, stamped with the reading's own time."""
        return Point(self.source_id, f"{self.metric}.zscore", self.emitted, self.ts_ms)


class Stream:
    """One (source, metric): its detector, its streak guard and the last timestamp it took."""

    def __init__(self, source_id: str, metric: str, detector: Detector, consecutive: int) -> None:
        self.source_id = source_id
        self.metric = metric
        self.detector = detector
        self.guard = StreakGuard(consecutive)
        self.last_ts: int | None = None
        self.alert_id = ""  # the open alert's id ("" when none is open)

    def _sample(self, ts_ms: int, value: float | None, score: Score) -> Sample:
        streak = self.guard.push(score.anomalous)
        if score.alert is None:  # the tutorial's guard: N anomalous samples in a row
            anomaly, emitted = self.guard.firing, self.guard.emitted(score.score)
        else:  # the detector runs its own alert life (auto)
            anomaly, emitted = score.alert, score.posted
        event = ""
        if anomaly and not self.alert_id:
            event, self.alert_id = "opened", f"{self.source_id}/{self.metric}@{iso_z(ts_ms)}"
        elif not anomaly and self.alert_id:
            event = "resolved"
        alert_id = self.alert_id
        if not anomaly:
            self.alert_id = ""
        return Sample(
            self.source_id,
            self.metric,
            ts_ms,
            value,
            score,
            streak,
            anomaly,
            emitted,
            event,
            alert_id,
        )

    def update(self, reading: Reading) -> Sample | None:
        if self.last_ts is not None and reading.ts_ms <= self.last_ts:
            return None
        self.last_ts = reading.ts_ms
        return self._sample(
            reading.ts_ms, reading.value, self.detector.update(reading.ts_ms, reading.value)
        )

    def idle(self, now_ms: int) -> Sample | None:
        score = self.detector.idle(now_ms)
        return None if score is None else self._sample(now_ms, None, score)


DetectorFactory = Callable[[str, str], Detector]


class DeviceRunner:
    """All streams of one `fleetscan device` process."""

    def __init__(self, make_detector: DetectorFactory, *, consecutive: int = 3) -> None:
        self._make = make_detector
        self.consecutive = consecutive
        self.streams: dict[tuple[str, str], Stream] = {}

    def stream(self, source_id: str, metric: str) -> Stream:
        key = (source_id, metric)
        found = self.streams.get(key)
        if found is None:
            found = Stream(source_id, metric, self._make(source_id, metric), self.consecutive)
            self.streams[key] = found
        return found

    def process(self, readings: Iterable[Reading]) -> list[Sample]:
        """Score readings (stable-sorted by time), skipping what each stream has already seen."""
        samples = []
        for reading in sorted(readings, key=lambda r: r.ts_ms):
            sample = self.stream(reading.source_id, reading.metric).update(reading)
            if sample is not None:
                samples.append(sample)
        return samples

    def idle(self, now_ms: int, seen: set[tuple[str, str]]) -> list[Sample]:
        """Ask the streams that got nothing this poll whether their silence is itself a finding."""
        samples = []
        for key, stream in self.streams.items():
            if key not in seen:
                sample = stream.idle(now_ms)
                if sample is not None:
                    samples.append(sample)
        return samples
