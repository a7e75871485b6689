"""`fleetscan device`: the tutorial's streaming loop, generalised to many streams and methods.

One `Stream` per (source, metric) holds a detector, the N-in-a-row guard and the last timestamp seen.
Alerts are events: a `Sample` says `event = "opened"` on the reading where an alert opens (with a
new `alert_id`, `source/metric@opening time`) and `"resolved"` on the one where it closes. The
alert is the tutorial's guard for the single methods, or the detector's own (`auto`).
`DeviceRunner.process()` pushes readings through the streams in time order, skipping those at or
before a stream's last timestamp (the tutorial's `ts <= last_ts` rule), and returns one `Sample` per
processed reading. The runner has no clock, network or output of its own: the command module polls,
prints and emits.

`BatchRunner` is the same runner for `--method auto` with every stream of a poll scored together
(`detectors/batch.py`, one row of arrays per stream): the same `Sample`s, at a fraction of the
cost. A stream with several new readings in one poll is stepped in rounds, its k-th reading in
round k.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fleetscan.detectors.base import Detector, Score, StreakGuard
from fleetscan.detectors.batch import CHECKS, EVENTS, AutoBatch, Scores
from fleetscan.detectors.options import DetectorOptions
from fleetscan.points import Point
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


class Runner(Protocol):
    """What the `device` command drives: `DeviceRunner` or `BatchRunner`."""

    def __len__(self) -> int: ...

    def last_seen(self) -> list[int | None]: ...

    def process(self, readings: Iterable[Reading]) -> list[Sample]: ...

    def idle(self, now_ms: int, seen: set[tuple[str, str]]) -> list[Sample]: ...


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

    def __len__(self) -> int:
        return len(self.streams)

    def last_seen(self) -> list[int | None]:
        """Each stream's last timestamp (None before its first reading)."""
        return [stream.last_ts for stream in self.streams.values()]

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


class _MetricStreams:
    """The streams of one metric in a `BatchRunner`: one `AutoBatch` row each, plus the runner's
    own per-stream state (`Stream`'s last timestamp, streak and open alert id) as arrays."""

    def __init__(self, metric: str, options: DetectorOptions) -> None:
        self.metric = metric
        self.engine = AutoBatch(options)
        self.sources: list[str] = []
        self.order: list[int] = []  # each row's position among all the runner's streams
        self.last_ts = np.zeros(0, np.int64)
        self.seen = np.zeros(0, np.bool_)
        self.streak = np.zeros(0, np.int64)
        self.alert_ids: dict[int, str] = {}

    def add(self, source_id: str, order: int) -> int:
        row = self.engine.add(1)
        self.sources.append(source_id)
        self.order.append(order)
        if row >= len(self.last_ts):
            size = self.engine.capacity
            grow = size - len(self.last_ts)
            self.last_ts = np.concatenate([self.last_ts, np.zeros(grow, np.int64)])
            self.seen = np.concatenate([self.seen, np.zeros(grow, np.bool_)])
            self.streak = np.concatenate([self.streak, np.zeros(grow, np.int64)])
        return row

    def samples(
        self, rows: np.ndarray, ts: np.ndarray, values: list[float | None], scores: Scores
    ) -> list[Sample]:
        """`Stream._sample` for each row (distinct rows, one reading or idle check each)."""
        streak = np.where(scores.anomalous, self.streak[rows] + 1, 0)
        self.streak[rows] = streak
        out = []
        check, event = scores.check.tolist(), scores.event.tolist()
        alert = scores.alert.tolist()
        columns = zip(
            rows.tolist(),
            ts.tolist(),
            values,
            scores.z.tolist(),
            scores.score.tolist(),
            scores.anomalous.tolist(),
            scores.posted.tolist(),
            streak.tolist(),
            strict=True,
        )
        reasons, alert_ids, sources, metric = (
            scores.reasons,
            self.alert_ids,
            self.sources,
            self.metric,
        )
        for k, (row, t, value, z, score, anomalous, posted, n) in enumerate(columns):
            anomaly = alert[k]
            reason = reasons.get(k, "") if reasons else ""
            verdict = Score(
                z, score, anomalous, CHECKS[check[k]], reason, anomaly, EVENTS[event[k]], posted
            )
            said, alert_id = "", ""
            if anomaly or alert_ids:  # `Stream._sample`'s alert id and event
                alert_id = alert_ids.get(row, "")
                if anomaly and not alert_id:
                    said, alert_id = "opened", f"{sources[row]}/{metric}@{iso_z(t)}"
                    alert_ids[row] = alert_id
                elif not anomaly and alert_id:
                    said = "resolved"
                    del alert_ids[row]
            out.append(
                Sample(sources[row], metric, t, value, verdict, n, anomaly, posted, said, alert_id)
            )
        return out


_Columns = tuple[list[int], list[int], list[int], list[float]]  # positions, rows, ts, values


class BatchRunner:
    """`DeviceRunner` for `--method auto`, every stream of a poll scored as arrays."""

    def __init__(self, options_for: Callable[[str], DetectorOptions]) -> None:
        self._options_for = options_for
        self.metrics: dict[str, _MetricStreams] = {}
        self.index: dict[tuple[str, str], tuple[_MetricStreams, int]] = {}

    def __len__(self) -> int:
        return len(self.index)

    def last_seen(self) -> list[int | None]:
        """Each stream's last timestamp (None before its first reading)."""
        return [
            int(group.last_ts[row]) if group.seen[row] else None
            for group, row in self.index.values()
        ]

    def _locate(self, source_id: str, metric: str) -> tuple[_MetricStreams, int]:
        key = (source_id, metric)
        found = self.index.get(key)
        if found is None:
            group = self.metrics.get(metric)
            if group is None:
                group = self.metrics[metric] = _MetricStreams(metric, self._options_for(metric))
            found = self.index[key] = (group, group.add(source_id, len(self.index)))
        return found

    def process(self, readings: Iterable[Reading]) -> list[Sample]:
        """Score readings (stable-sorted by time), skipping what each stream has already seen."""
        ordered = sorted(readings, key=lambda r: r.ts_ms)
        picked: dict[str, _Columns] = {}
        locate, index = self._locate, self.index
        current: _MetricStreams | None = None
        lists: _Columns = ([], [], [], [])
        for position, reading in enumerate(ordered):
            key = (reading.source_id, reading.metric)
            group, row = index.get(key) or locate(*key)
            if group is not current:
                current = group
                lists = picked.setdefault(group.metric, ([], [], [], []))
            lists[0].append(position)
            lists[1].append(row)
            lists[2].append(reading.ts_ms)
            lists[3].append(reading.value)
        out: list[Sample | None] = [None] * len(ordered)
        for metric, (positions, rows, ts, values) in picked.items():
            self._process(
                self.metrics[metric],
                np.array(positions),
                np.array(rows),
                np.array(ts, np.int64),
                np.array(values, np.float64),
                out,
            )
        return [sample for sample in out if sample is not None]

    def _process(
        self,
        group: _MetricStreams,
        positions: np.ndarray,
        rows: np.ndarray,
        ts: np.ndarray,
        values: np.ndarray,
        out: list[Sample | None],
    ) -> None:
        by_row = np.lexsort((positions, rows))  # each stream's readings, in time order
        positions, rows, ts, values = positions[by_row], rows[by_row], ts[by_row], values[by_row]
        starts = np.r_[True, rows[1:] != rows[:-1]]
        newer = np.r_[True, ts[1:] > ts[:-1]] | starts  # `ts <= last_ts` also skips repeats
        taken = newer & (~group.seen[rows] | (ts > group.last_ts[rows]))
        positions, rows, ts, values = positions[taken], rows[taken], ts[taken], values[taken]
        if not len(rows):
            return
        starts = np.r_[True, rows[1:] != rows[:-1]]
        first = np.maximum.accumulate(np.where(starts, np.arange(len(rows)), 0))
        rank = np.arange(len(rows)) - first  # the k-th new reading of its stream: round k
        for k in range(int(rank.max()) + 1):
            now = np.flatnonzero(rank == k) if k else np.flatnonzero(starts)
            scores = group.engine.step(rows[now], ts[now], values[now])
            samples = group.samples(rows[now], ts[now], values[now].tolist(), scores)
            for p, sample in zip(positions[now].tolist(), samples, strict=True):
                out[p] = sample
        last = np.r_[rows[1:] != rows[:-1], True]
        group.last_ts[rows[last]] = ts[last]
        group.seen[rows[last]] = True

    def idle(self, now_ms: int, seen: set[tuple[str, str]]) -> list[Sample]:
        """Ask the streams that got nothing this poll whether their silence is itself a finding."""
        quiet = {
            metric: np.ones(group.engine.size, np.bool_) for metric, group in self.metrics.items()
        }
        index = self.index
        for key in seen:
            hit = index.get(key)
            if hit is not None:
                quiet[hit[0].metric][hit[1]] = False
        found: list[tuple[int, Sample]] = []
        for metric, group in self.metrics.items():
            rows, scores = group.engine.idle(np.flatnonzero(quiet[metric]), now_ms)
            if not len(rows):
                continue
            stamps = np.full(len(rows), now_ms, np.int64)
            samples = group.samples(rows, stamps, [None] * len(rows), scores)
            found += [(group.order[row], s) for row, s in zip(rows.tolist(), samples, strict=True)]
        return [sample for _, sample in sorted(found, key=lambda pair: pair[0])]
