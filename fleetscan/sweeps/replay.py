"""`fleetscan replay`'s engine: the cron sweep over stored history, as if cron had run every N min.

The history is turned into arrays once (`History`: per metric, rows sorted by time). Each
simulated sweep asks `plan.plan_fetch` what a live sweep would fetch at that moment, takes exactly
those rows with `searchsorted` (no copy of the whole history per step), and runs the same
`step_lifecycle` a live sweep runs, keeping the state in memory. Nothing is posted. `Summary` collects
which series would have alerted, when and for how long, and the storms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from fleetscan.fleet.batch import SeriesBatch, cohort_label
from fleetscan.fleet.robust import Floats, Ints
from fleetscan.health import SensorReport, apply_health
from fleetscan.sweeps.plan import FetchPlan
from fleetscan.sweeps.step import LifecycleStep, StepOptions, SweepState, plan_sweep, step_lifecycle
from fleetscan.telemetry import Reading


@dataclass(frozen=True, eq=False)
class MetricHistory:
    """One metric's rows sorted by time; `label[i]` indexes `labels` (-1: no group-by tags)."""

    metric: str
    source_ids: tuple[str, ...]
    labels: tuple[str, ...]
    ts_ms: Ints
    value: Floats
    source: Ints
    label: Ints

    @classmethod
    def in_time_order(
        cls,
        metric: str,
        source_ids: tuple[str, ...],
        labels: tuple[str, ...],
        ts_ms: Ints,
        value: Sequence[float] | Floats,
        source: Sequence[int] | Ints,
        label: Sequence[int] | Ints,
        keep: Ints | None = None,
    ) -> MetricHistory:
        """Columns as collected (the rows `keep` selects, all by default), stably sorted by time."""
        rows = np.arange(len(ts_ms)) if keep is None else keep
        order = rows[np.argsort(ts_ms[rows], kind="stable")]
        return cls(
            metric,
            source_ids,
            labels,
            ts_ms[order],
            np.array(value, np.float64)[order],
            np.array(source, np.int64)[order],
            np.array(label, np.int64)[order],
        )

    def latest_reports(self, from_ms: int, to_ms: int) -> dict[str, SensorReport]:
        """Each source's newest row in `[from_ms, to_ms]` as a `health.SensorReport` (non-zero
        is ok): what `health.latest_reports` gives a live sweep fetching `sensor.ok` there."""
        a = int(np.searchsorted(self.ts_ms, from_ms, "left"))
        b = int(np.searchsorted(self.ts_ms, to_ms, "right"))
        newest_first = self.source[a:b][::-1]
        sources, at = np.unique(newest_first, return_index=True)
        rows = b - 1 - at
        return {
            self.source_ids[int(s)]: SensorReport(int(self.ts_ms[r]), bool(self.value[r] != 0))
            for s, r in zip(sources.tolist(), rows.tolist(), strict=True)
        }

    def batch(self, ranges: Sequence[tuple[int, int]]) -> SeriesBatch:
        """The rows in the inclusive `ranges` (ascending, not overlapping) as a fresh batch.

        Like a batch built from a live fetch: only the sources with rows, in first-seen order,
        each labelled with the cohort of its newest row that carries the group-by tags.
        """
        ts = self.ts_ms
        bounds = [
            (int(np.searchsorted(ts, lo, "left")), int(np.searchsorted(ts, hi, "right")))
            for lo, hi in ranges
        ]
        if len(bounds) == 1:
            a, b = bounds[0]
            pick: slice | Ints = slice(a, b)
        else:
            pick = np.concatenate(
                [np.arange(a, b) for a, b in bounds if b > a] or [np.zeros(0, np.int64)]
            )
        source = self.source[pick]
        first_rows = np.unique(source, return_index=True)[1]
        order = np.sort(first_rows)
        ids = source[order]
        remap = np.full(len(self.source_ids), -1, np.int64)
        remap[ids] = np.arange(len(ids))
        local = remap[source]
        label = self.label[pick]
        cohorts = [""] * len(ids)
        tagged = np.flatnonzero(label >= 0)
        if len(tagged):
            newest_first = tagged[::-1]
            which, at = np.unique(local[newest_first], return_index=True)
            for s, row in zip(which.tolist(), newest_first[at].tolist(), strict=True):
                cohorts[s] = self.labels[int(label[row])]
        return SeriesBatch(
            self.metric,
            tuple(self.source_ids[i] for i in ids.tolist()),
            tuple(cohorts),
            local,
            ts[pick],
            self.value[pick],
            np.zeros(len(ids), np.int64),
        )


@dataclass(frozen=True, eq=False)
class History:
    """Stored rows of the metrics to replay, as arrays (see `MetricHistory`)."""

    metrics: dict[str, MetricHistory]

    @classmethod
    def from_readings(
        cls, readings: Iterable[Reading], metrics: Sequence[str], *, group_by: Sequence[str] = ()
    ) -> History:
        """Arrays from readings (in any order); rows of other metrics are ignored."""
        wanted = tuple(dict.fromkeys(metrics))
        group = tuple(group_by)
        columns: dict[str, tuple[list[int], list[float], list[int], list[int]]] = {
            m: ([], [], [], []) for m in wanted
        }
        sources: dict[str, int] = {}
        labels: dict[str, int] = {}
        for r in readings:
            cols = columns.get(r.metric)
            if cols is None:
                continue
            s = sources.get(r.source_id)
            if s is None:
                s = sources[r.source_id] = len(sources)
            lab = -1
            if group and not r.tags.keys().isdisjoint(group):
                text = cohort_label(r.tags, group)
                lab = labels.setdefault(text, len(labels))
            cols[0].append(r.ts_ms)
            cols[1].append(r.value)
            cols[2].append(s)
            cols[3].append(lab)
        source_ids, label_texts = tuple(sources), tuple(labels)
        return cls(
            {
                metric: MetricHistory.in_time_order(
                    metric, source_ids, label_texts, np.array(ts, np.int64), value, src, row_labels
                )
                for metric, (ts, value, src, row_labels) in columns.items()
            }
        )

    def split(self, metric: str) -> tuple[History, MetricHistory | None]:
        """This history without `metric`, and `metric`'s rows (None if it has none)."""
        rest = {m: h for m, h in self.metrics.items() if m != metric}
        found = self.metrics.get(metric)
        return History(rest), found if found is not None and len(found.ts_ms) else None

    def span(self) -> tuple[int, int] | None:
        """(oldest, newest) row time over all metrics, or None without rows."""
        firsts = [int(h.ts_ms[0]) for h in self.metrics.values() if len(h.ts_ms)]
        lasts = [int(h.ts_ms[-1]) for h in self.metrics.values() if len(h.ts_ms)]
        return (min(firsts), max(lasts)) if firsts else None

    def window(self, plan: FetchPlan) -> dict[str, SeriesBatch]:
        """What a live sweep following `plan` would have fetched (rows up to `plan.now_ms`)."""
        return {
            metric: history.batch(
                (*plan.history.get(metric, ()), (plan.window_from_ms, plan.now_ms))
            )
            for metric, history in self.metrics.items()
        }


def sweep_times(from_ms: int, to_ms: int, every_ms: int) -> list[int]:
    """`from, from + every, ...` up to `to` inclusive.

    >>> sweep_times(0, 10, 5), sweep_times(0, 9, 5)
    ([0, 5, 10], [0, 5])
    """
    if every_ms <= 0:
        raise ValueError("every_ms must be > 0")
    return list(range(from_ms, to_ms + 1, every_ms))


def replay(
    history: History,
    times: Iterable[int],
    options: StepOptions,
    state: SweepState | None = None,
    adjust: Callable[[SweepState, LifecycleStep], LifecycleStep] | None = None,
    health: MetricHistory | None = None,
) -> Iterator[LifecycleStep]:
    """One `LifecycleStep` per sweep time, exactly as live sweeps at those times would give.

    `health` are the firmware's `sensor.ok` rows: applied like a live sweep does
    (`fleetscan.health`, the newest report in each sweep's window). `adjust(previous state,
    outcome)` is what the live sweep applies after that (the config file's thresholds and
    silences, the state's silences: `fleetscan.overrides`)."""
    current = state if state is not None else SweepState()
    metrics = list(history.metrics)
    for now_ms in times:
        plan = plan_sweep(current, metrics, now_ms, options)
        outcome = step_lifecycle(current, history.window(plan), now_ms, options)
        if health is not None:
            outcome = apply_health(outcome, health.latest_reports(plan.window_from_ms, now_ms))
        if adjust is not None:
            outcome = adjust(current, outcome)
        current = outcome.state
        yield outcome


@dataclass
class Episode:
    """One alert a series would have had: opened, resolved (None: still open), its peak."""

    source_id: str
    metric: str
    opened_ms: int
    status: str
    reason: str
    peak: float
    resolved_ms: int | None = None


@dataclass
class StormEpisode:
    """One storm or cohort event: when it began and ended (None: still going), sweeps in it,
    most flagged (a cohort event's reason is from its fullest sweep with the largest change)."""

    metric: str
    where: str
    since_ms: int
    sweeps: int = 0
    most_flagged: int = 0
    total: int = 0
    reason: str = ""
    ended_ms: int | None = None
    kind: str = "storm"  # or "cohort event"
    change: float = 0.0  # a cohort event's largest |shared change| among its fullest sweeps


@dataclass
class Summary:
    """What a replay found; feed it every outcome with `add`."""

    sweeps: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    series: set[tuple[str, str]] = field(default_factory=set)
    withheld: set[tuple[str, str]] = field(default_factory=set)  # off their peers in a warm-up
    episodes: list[Episode] = field(default_factory=list)
    storms: list[StormEpisode] = field(default_factory=list)
    _open: dict[tuple[str, str], Episode] = field(default_factory=dict)
    _storms: dict[tuple[str, str | None], StormEpisode] = field(default_factory=dict)

    def add(self, outcome: LifecycleStep) -> None:
        self.sweeps += 1
        if self.first_ms is None:
            self.first_ms = outcome.now_ms
        self.last_ms = outcome.now_ms
        for v in outcome.verdicts:
            key = (v.result.source_id, v.result.metric)
            self.series.add(key)
            if v.result.withheld:
                self.withheld.add(key)
            if v.event is not None and v.event.kind == "opened":
                episode = Episode(
                    key[0], key[1], v.event.at_ms, v.result.status.value, v.result.reason, 0.0
                )
                self.episodes.append(episode)
                self._open[key] = episode
            episode_now = self._open.get(key)
            if episode_now is None:
                continue
            if v.alerting:
                episode_now.peak = max(episode_now.peak, v.fleet_z)
            elif v.event is not None and v.event.kind == "resolved":
                episode_now.resolved_ms = v.event.at_ms
                del self._open[key]
        for finding in outcome.storms:
            skey = (finding.metric, finding.cohort)
            if finding.storm is None:
                ended = self._storms.pop(skey, None)
                if ended is not None:
                    ended.ended_ms = outcome.now_ms
                continue
            episode_s = self._storms.get(skey)
            if episode_s is None:
                episode_s = StormEpisode(
                    finding.metric, finding.where, finding.since_ms, kind=finding.kind
                )
                self._storms[skey] = episode_s
                self.storms.append(episode_s)
            episode_s.sweeps += 1
            change = abs(finding.storm.change) if finding.storm.members else 0.0
            if finding.storm.flagged > episode_s.most_flagged or (
                finding.storm.flagged == episode_s.most_flagged and change > episode_s.change
            ):  # the sweep with most sources in it (for a cohort event, then the largest change)
                episode_s.most_flagged = finding.storm.flagged
                episode_s.total = finding.storm.total
                episode_s.reason = finding.storm.reason
                episode_s.change = change
