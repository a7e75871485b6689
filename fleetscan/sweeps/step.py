"""One sweep of a cron series, as a pure function: `step_lifecycle(state, window, now_ms, options)`.

Both `fleetscan fleet` (state in SQLite, rows from Plexus) and `fleetscan replay` (state in
memory, rows from stored history) call this one function, so a replay gives exactly what the
live sweeps gave. It:

1. brings each metric's baseline up to date: learned from the history rows on the first sweep,
   filled in where sweeps were missed, else the stored one (see `plan`);
2. scores the window (`fleet.score_window`), which also folds the window into the baseline;
3. finds storms (a large share of the fleet or a cohort flagged at once): their series open no
   alert (an open one is held, a streak restarts), so one finding replaces N alerts; and cohort
   events (boards found to move together, no tags, that left the fleet together: each is normal
   next to the others), one finding naming the boards and their shared change;
4. advances every series' alert lifecycle (`lifecycle.step`): an alert opens after
   `consecutive` flagged sweeps, resolves after `recovery_ms` of normal ones, then cools down;
   a sweep that cannot judge a series (outage, no_data, insufficient_peers, a storm) holds it;
5. returns the verdicts, the new state and (`outcome.emissions()`) the points to post:
   `<metric>.fleet_z` is the open alert's score, 0.0 otherwise (storms included), and
   `<metric>.fleet_dev` the raw deviation from the peers, `<metric>.fleet_status` the kind of
   alert open (`fleetscan.events`).

Severity: an open alert is CRITICAL when its fleet_z reaches `critical`, else WARNING; a storm or
a cohort event is a WARNING (the commands map it onto exit codes: `commands.sweep_cli.exit_code`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any

from fleetscan.events import status_points
from fleetscan.fleet.baseline import MetricBaseline, learn_baseline
from fleetscan.fleet.batch import SeriesBatch
from fleetscan.fleet.emit import series_points
from fleetscan.fleet.options import SweepOptions
from fleetscan.fleet.reduce import WindowAggregates
from fleetscan.fleet.score import ONSET_SHARE
from fleetscan.fleet.status import Status
from fleetscan.fleet.sweep import FleetResult, Said, score_window
from fleetscan.lifecycle import LifecycleOptions, SeriesState, Storm, Transition, step, storms
from fleetscan.points import Point
from fleetscan.sensors import profile_for
from fleetscan.sweeps.plan import (
    FetchPlan,
    HistoryKind,
    fill_baseline,
    history_kind,
    plan_fetch,
    split_batch,
)
from fleetscan.timeutil import iso_z

Key = tuple[str, str]  # (source_id, metric)
VALUE_STATUSES = frozenset({Status.DRIFTING, Status.ANOMALOUS})  # what a group's change explains
StormKey = tuple[str, str | None]  # (metric, cohort or None for the whole fleet)
CohortTrack = tuple[int, tuple[str, ...], float]  # a cohort event's last sweep, boards, change

IDLE = SeriesState()
DISCOVERED = "~"  # the label prefix of cohorts found from the data (`fleet.discover.labels`)
HELD_STATUSES = frozenset({Status.OUTAGE, Status.NO_DATA, Status.INSUFFICIENT_PEERS})
"""Statuses that say nothing about the series itself: its lifecycle is held, not stepped."""
PEERLESS_CAUSES = frozenset({Status.STALE.value, Status.INVALID.value})
"""Flags judged without peers: `insufficient_peers` rules them out (fresh, valid readings came),
so for a series flagged for one of them it is a normal sweep, not a held one."""


class Severity(IntEnum):
    """How bad a series' open alert (or a whole sweep) is, in rising order: OK, no alert open."""

    OK = 0
    WARNING = 1
    CRITICAL = 2


@dataclass(frozen=True, kw_only=True)
class StepOptions:
    """Everything that decides a sweep: scoring, lifecycle, baselines, severity."""

    sweep: SweepOptions = field(default_factory=SweepOptions)
    lifecycle: LifecycleOptions = field(default_factory=LifecycleOptions)
    use_baseline: bool = True  # learn and keep per-source baselines (`--baseline 0`: snapshots)
    sample_ms: int = 120_000  # history is fetched as this much at the end of every bucket
    baseline_rollups: bool = False  # learn baselines from /v1/fleet/metrics, not raw samples
    critical: float = 6.0  # an open alert whose fleet_z reaches this is CRITICAL

    def __post_init__(self) -> None:
        if self.sample_ms <= 0 or not self.critical > 0:
            raise ValueError("sample_ms and critical must be > 0")


@dataclass(frozen=True)
class SweepState:
    """What survives between sweeps, as one value (`fleetscan.state` stores it in SQLite).

    `series` holds only series whose lifecycle is not idle; `last_seen` the newest reading of
    every series seen within the baseline span; `storms` the active storms and since when;
    `cohort_tracks` the active cohort events' last sweep, boards and change (`_continued`).
    """

    last_sweep_ms: int | None = None
    swept_ms: Mapping[str, int] = field(default_factory=dict)
    baselines: Mapping[str, MetricBaseline] = field(default_factory=dict)
    series: Mapping[Key, SeriesState] = field(default_factory=dict)
    last_seen: Mapping[Key, int] = field(default_factory=dict)
    storms: Mapping[StormKey, int] = field(default_factory=dict)
    cohort_tracks: Mapping[StormKey, CohortTrack] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SeriesVerdict:
    """One series after one sweep: the scorer's result and what the lifecycle made of it.

    `flagged` (`result.flagged`, `result.score`) is the scorer's, this sweep alone; `alerting`
    and `fleet_z` are the lifecycle's (an alert is open, and the score it posts). `held` names
    why the lifecycle did not move ("" if it did).
    """

    result: FleetResult
    state: SeriesState
    event: Transition | None
    held: str
    storm: Storm | None
    critical: float

    @property
    def flagged(self) -> bool:
        return self.result.flagged

    @property
    def alerting(self) -> bool:
        return self.state.alerting

    @property
    def fleet_z(self) -> float:
        return self.state.fleet_z

    @property
    def severity(self) -> Severity:
        if not self.state.alerting:
            return Severity.OK
        return Severity.CRITICAL if self.state.fleet_z >= self.critical else Severity.WARNING

    def to_record(self) -> dict[str, Any]:
        """One `--format jsonl` line: the scorer's fields (`flagged` this sweep) plus the
        lifecycle's (`alerting`, and `score`: the fleet_z it posts)."""
        record = self.result.to_record()
        record["alerting"] = self.alerting
        record["score"] = self.fleet_z
        record["streak"] = self.state.streak
        record["event"] = self.event.kind if self.event else None
        opened = self.event.opened_ms if self.event else self.state.opened_ms
        record["opened_at"] = iso_z(opened) if opened is not None else None
        record["held"] = self.held or None
        record["storm"] = self.storm.where if self.storm else None
        record["finding"] = self.storm.kind if self.storm else None  # storm or cohort event
        record["severity"] = self.severity.name.lower()
        return record


@dataclass(frozen=True)
class StormFinding:
    """A storm or cohort event seen in this sweep (`storm` set) or one that ended in it (`storm`
    None)."""

    metric: str
    cohort: str | None
    since_ms: int
    storm: Storm | None
    at_ms: int

    @property
    def started(self) -> bool:
        return self.storm is not None and self.since_ms == self.at_ms

    @property
    def where(self) -> str:
        return Storm(self.metric, self.cohort, 0, 0).where

    @property
    def kind(self) -> str:
        """`storm` or `cohort event` (of a discovered cohort: its label starts with `~`)."""
        if self.storm is not None:
            return self.storm.kind
        return "cohort event" if (self.cohort or "").startswith(DISCOVERED) else "storm"


@dataclass(frozen=True)
class LifecycleStep:
    """What `step_lifecycle` returns: verdicts, storms, the new state; `emissions()` the points."""

    now_ms: int
    verdicts: tuple[SeriesVerdict, ...]
    storms: tuple[StormFinding, ...]
    state: SweepState

    def emissions(self) -> list[Point]:
        """`<metric>.fleet_z` (following the lifecycle), `<metric>.fleet_dev` and
        `<metric>.fleet_status` (`fleetscan.events`) per series."""
        points = [p for v in self.verdicts for p in series_points(v.result, fleet_z=v.fleet_z)]
        return points + status_points(self.verdicts)

    def severity(self) -> Severity:
        """The worst open alert (CRITICAL/WARNING), a storm counting as a WARNING."""
        worst = max((v.severity for v in self.verdicts if v.alerting), default=Severity.OK)
        if any(s.storm is not None for s in self.storms):
            worst = max(worst, Severity.WARNING)
        return Severity(worst)

    def events(self) -> Iterator[SeriesVerdict]:
        return (v for v in self.verdicts if v.event is not None)


def plan_sweep(
    state: SweepState, metrics: Sequence[str], now_ms: int, options: StepOptions
) -> FetchPlan:
    """What a sweep at `now_ms` starting from `state` must fetch: `plan.plan_fetch` with the step's
    own options, the one place live sweeps and replay ask."""
    return plan_fetch(
        state.swept_ms,
        state.baselines,
        metrics,
        now_ms=now_ms,
        options=options.sweep,
        use_baseline=options.use_baseline,
        sample_ms=options.sample_ms,
    )


def step_lifecycle(
    state: SweepState,
    window: Mapping[str, SeriesBatch],
    now_ms: int,
    options: StepOptions,
    learned: Mapping[str, MetricBaseline] | None = None,
) -> LifecycleStep:
    """Run one sweep at `now_ms` over `window` (the rows `plan.plan_fetch` asked for, by metric).

    `learned` are baselines learnt elsewhere (from rollups: `sweeps.rollups`) for the metrics
    that must learn one, in place of learning from the window's history rows.

    `window` holds each metric's history rows (stamped at or before `now - window`) and its
    window rows; every metric swept must be a key, even with no rows. Deterministic: the same
    state, rows, time and options give the same outcome.
    """
    if state.last_sweep_ms is not None and now_ms <= state.last_sweep_ms:
        raise ValueError(
            f"sweep at {iso_z(now_ms)} is not after the last one ({iso_z(state.last_sweep_ms)})"
        )
    opts = options.sweep
    recent: dict[str, SeriesBatch] = {}
    baselines: dict[str, MetricBaseline] = {}
    for metric, batch in window.items():
        history, recent[metric] = split_batch(batch, now_ms - opts.window_ms)
        kind = history_kind(
            state.swept_ms.get(metric),
            metric in state.baselines,
            now_ms=now_ms,
            options=opts,
            use_baseline=options.use_baseline,
        )
        if kind is HistoryKind.LEARN and learned is not None and metric in learned:
            baselines[metric] = learned[metric]
        elif kind is HistoryKind.LEARN:
            baselines[metric] = learn_baseline(history, now_ms=now_ms, options=opts)
        elif kind is HistoryKind.GAP and len(history):
            filled = learn_baseline(history, now_ms=now_ms, options=opts)
            baselines[metric] = fill_baseline(state.baselines[metric], filled)
        elif kind is not HistoryKind.NONE:
            baselines[metric] = state.baselines[metric]
    return _scored(state, recent, baselines, now_ms, options)


def reduced_step(
    state: SweepState,
    window: Mapping[str, WindowAggregates],
    baselines: Mapping[str, MetricBaseline],
    now_ms: int,
    options: StepOptions,
) -> LifecycleStep:
    """`step_lifecycle` over windows already reduced and baselines already learnt elsewhere (inside
    ClickHouse: `fleetscan.clickhouse`); with an empty state, the same outcome as `step_lifecycle`
    over the rows those reductions were made from."""
    return _scored(state, window, baselines, now_ms, options)


def _scored(
    state: SweepState,
    window: Mapping[str, SeriesBatch | WindowAggregates],
    baselines: Mapping[str, MetricBaseline],
    now_ms: int,
    options: StepOptions,
) -> LifecycleStep:
    opts = options.sweep
    results, folded = score_window(window, baselines, now_ms=now_ms, options=opts)
    found = storms(((r.cohort, r.metric, r.flagged) for r in results), options.lifecycle)
    found += _moved_storms(results, found, options)
    grace = options.lifecycle.recovery_ms  # an event missing from a sweep or two goes on
    going = {
        k: t for k, t in state.cohort_tracks.items() if k[0] not in window or now_ms - t[0] <= grace
    }
    events = cohort_events(results, found, going)
    found += events
    tracks = going | {
        (e.metric, e.cohort): (now_ms, _boards_so_far(going, e), e.change) for e in events
    }
    verdicts, series, last_seen = _lifecycle(state, results, found, window, now_ms, options)
    kept_baselines = dict(state.baselines)
    if options.use_baseline:
        kept_baselines.update(folded)
    new_state = SweepState(
        last_sweep_ms=now_ms,
        swept_ms={**state.swept_ms, **dict.fromkeys(window, now_ms)},
        baselines=kept_baselines,
        series=series,
        last_seen=last_seen,
        storms=_storm_state(state.storms, found, tracks, window, now_ms),
        cohort_tracks=tracks,
    )
    findings = _storm_findings(state.storms, found, tracks, window, now_ms)
    return LifecycleStep(now_ms, verdicts, findings, new_state)


def _lifecycle(
    state: SweepState,
    results: tuple[FleetResult, ...],
    found: list[Storm],
    window: Mapping[str, object],
    now_ms: int,
    options: StepOptions,
) -> tuple[tuple[SeriesVerdict, ...], dict[Key, SeriesState], dict[Key, int]]:
    lopts, critical = options.lifecycle, options.critical
    fleet_storm = {s.metric: s for s in found if s.cohort is None}
    cohort_storm = {(s.metric, s.cohort): s for s in found if s.cohort is not None}
    cohort_event = {(s.metric, m): s for s in cohort_storm.values() for m in s.members}
    cohort_storm = {k: s for k, s in cohort_storm.items() if not s.members}
    old_series, series = state.series, dict(state.series)
    last_seen = dict(state.last_seen)
    verdicts: list[SeriesVerdict] = []
    seen_keys: set[Key] = set()
    for r in results:
        key = (r.source_id, r.metric)
        seen_keys.add(key)
        prev = old_series.get(key, IDLE)
        returning = _returning(prev.returning, r)
        flagged = r.flagged and returning is None  # coming back with its group: normal
        storm = (
            (fleet_storm.get(r.metric) or cohort_storm.get((r.metric, r.cohort)))
            if flagged
            else None
        )
        joined = cohort_event.get((r.metric, r.source_id))
        if storm is None and joined is not None:
            storm = joined  # one of a cohort event's boards: shown with it, its lifecycle steps
        event = None
        if storm is not None and not storm.members:  # an open alert holds, a streak restarts
            held = "storm"
            new = prev if prev.alerting or not prev.streak else replace(prev, streak=0)
        elif r.status in HELD_STATUSES and not (
            r.status is Status.INSUFFICIENT_PEERS and prev.cause in PEERLESS_CAUSES
        ):
            new, held = prev, r.status.value
        else:
            new, event = step(prev, flagged, now_ms, lopts, score=r.score)
            held = ""
            # what the flags are for: this sweep's, else the open alert's, else nothing
            cause = r.status.value if flagged else (prev.cause if new.alerting else None)
            if new.cause != cause:
                new = replace(new, cause=cause)
        if new.returning != returning:
            new = replace(new, returning=returning)
        if math.isfinite(r.age_ms):
            last_seen[key] = int(now_ms - r.age_ms)
        if new is IDLE or new == IDLE:
            series.pop(key, None)
        elif new is not prev:
            series[key] = new
        verdicts.append(SeriesVerdict(r, new, event, held, storm, critical))
    # Series the scorer no longer reports (forgotten after the baseline span, or, without
    # baselines, silent): an open alert recovers as if the series were normal.
    for key in [k for k in old_series if k[1] in window and k not in seen_keys]:
        prev = old_series[key]
        new, event = step(prev, False, now_ms, lopts)
        if new == IDLE or not (new.alerting or event is not None or new.streak):
            series.pop(key, None)
        else:
            series[key] = new
        if prev.alerting or event is not None:
            verdicts.append(
                SeriesVerdict(
                    _forgotten(key, now_ms, last_seen.get(key)), new, event, "", None, critical
                )
            )
    horizon = now_ms - options.sweep.baseline_span_ms
    for key in [
        k for k, t in last_seen.items() if k[1] in window and t < horizon and k not in seen_keys
    ]:
        del last_seen[key]
    return tuple(verdicts), series, last_seen


def _returning(before: float | None, r: FleetResult) -> float | None:
    """The change a group shared with this series that it is still coming back from: this
    sweep's shared change where one explains it; in a flagged sweep right after, the one before
    while the series' own change keeps its sign and is no larger (a room's change ramping out:
    a board whose window lags its neighbours' is not a fresh fault); None otherwise, and once a
    sweep reads it normal without a shared change. "No larger" allows `ONSET_SHARE` more (one
    cause moves boards by about, not exactly, one change): a board still where its group took
    it is part of that change in the sweeps where the group is not told. A drift from there
    grows past it, and a step the other way is judged as usual."""
    change = r.offset - r.baseline_offset
    if not r.flagged:  # explained by a shared change now, or back to normal
        shared = r.shared_change
        return shared if math.isfinite(shared) and shared != 0 else None
    if r.status not in VALUE_STATUSES:  # spikes, a frozen or silent sensor: no group's doing
        return None
    if (
        before is not None
        and change * before > 0
        and abs(change) <= abs(before) * (1 + ONSET_SHARE)
    ):
        return before
    return None


def _moved_storms(
    results: Sequence[FleetResult], found: Sequence[Storm], options: StepOptions
) -> list[Storm]:
    """Fleet-wide storms of a metric where the boards that left their usual gaps together
    (explained by a shared change, so not flagged) count as flagged: a storm's share of the
    fleet moving at once stays a storm, however many of its boards moved in step."""
    fleet_wide = {s.metric for s in found if s.cohort is None}
    flags = (
        ("", r.metric, r.flagged or math.isfinite(r.shared_change))
        for r in results
        if r.metric not in fleet_wide
    )
    return storms(flags, options.lifecycle)


def cohort_events(
    results: Sequence[FleetResult],
    found: Sequence[Storm],
    going: Mapping[StormKey, CohortTrack] | None = None,
) -> list[Storm]:
    """Boards of one discovered cohort (`~` label, no tags) that each read normal only because
    the boards they usually move with moved as well: one finding per group (at least two of
    them) with the median of their shared changes, unless a storm already covers them.

    A cohort event lasts as long as the change its boards share, under one name: which of a
    room's boards moved varies from sweep to sweep (lossy, quantised readings), and so would
    the group's `~<first board>` name, so a group that shares a board with an event still
    `going` (its boards so far, `SweepState.cohort_tracks`) is that event, and groups of one
    event are one finding."""
    fleet_wide = {s.metric for s in found if s.cohort is None}
    taken = {(s.metric, s.cohort) for s in found}
    groups: dict[tuple[str, str], list[FleetResult]] = {}
    for r in results:
        explained = math.isfinite(r.shared_change) and not r.flagged
        if r.cohort.startswith(DISCOVERED) and explained and r.metric not in fleet_wide:
            groups.setdefault((r.metric, r.cohort), []).append(r)
    out = []
    kept = [
        (metric, cohort, members)
        for (metric, cohort), members in sorted(groups.items())
        if len(members) >= 2 and (metric, cohort) not in taken
    ]
    for metric, cohort, members in _continued(_together(kept), going or {}):
        out.append(
            Storm(
                metric,
                cohort,
                len(members),
                len(members),
                members=tuple(sorted(m.source_id for m in members)),
                change=statistics.median(m.shared_change for m in members),
                unit=profile_for(metric).unit,
            )
        )
    return out


SAME_CHANGE_RATIO = 2.0  # groups whose shared changes agree within this factor are one event


def _together(
    groups: list[tuple[str, str, list[FleetResult]]],
) -> list[tuple[str, str, list[FleetResult]]]:
    """Groups of one metric whose shared changes have the same sign and agree within
    `SAME_CHANGE_RATIO` merged into one (named after the first): an HVAC change over three rooms
    in the same sweep is one event, not three."""
    out: list[tuple[str, str, list[FleetResult]]] = []
    for metric, cohort, members in sorted(
        groups, key=lambda g: (g[0], statistics.median(m.shared_change for m in g[2]))
    ):
        change = statistics.median(m.shared_change for m in members)
        if out and out[-1][0] == metric:
            last = statistics.median(m.shared_change for m in out[-1][2])
            if _same_change(last, change):
                out[-1] = (metric, min(out[-1][1], cohort), out[-1][2] + members)
                continue
        out.append((metric, cohort, members))
    return out


def _boards_so_far(going: Mapping[StormKey, CohortTrack], event: Storm) -> tuple[str, ...]:
    """The boards of a cohort event over its sweeps so far, this one's included."""
    before = going.get((event.metric, event.cohort))
    return tuple(sorted({*(before[1] if before else ()), *event.members}))


def _same_change(a: float, b: float) -> bool:
    """Two shared changes of the same sign that agree within `SAME_CHANGE_RATIO`."""
    return a * b > 0 and max(abs(a), abs(b)) <= SAME_CHANGE_RATIO * min(abs(a), abs(b))


def _continued(
    groups: list[tuple[str, str, list[FleetResult]]],
    going: Mapping[StormKey, CohortTrack],
) -> list[tuple[str, str, list[FleetResult]]]:
    """Each group named after the event still going that shares most boards with it, else one
    whose change it shares (`_together`'s rule, across sweeps), else its own name; groups of
    one name merged."""
    named: dict[tuple[str, str], list[FleetResult]] = {}
    for metric, cohort, members in groups:
        boards = {m.source_id for m in members}
        change = statistics.median(m.shared_change for m in members)
        shared, _, name = max(
            (
                (len(boards.intersection(b)), -abs(c - change), k[1] or "")
                for k, (_, b, c) in going.items()
                if k[0] == metric and (boards.intersection(b) or _same_change(c, change))
            ),
            default=(0, 0.0, cohort),
        )
        named.setdefault((metric, name), []).extend(members)
    return [(metric, cohort, members) for (metric, cohort), members in named.items()]


def _forgotten(key: Key, now_ms: int, last_seen_ms: int | None) -> FleetResult:
    nan = math.nan
    age = float(now_ms - last_seen_ms) if last_seen_ms is not None else nan
    return FleetResult(
        source_id=key[0],
        metric=key[1],
        at_ms=now_ms,
        cohort="",
        status=Status.NO_DATA,
        score=0.0,
        value=nan,
        count=0,
        age_ms=age,
        fleet_median=nan,
        fleet_scale=nan,
        z=nan,
        offset=nan,
        baseline_offset=nan,
        peers=0,
        explain=Said("no longer reported: silent for longer than the baseline remembers"),
    )


def _storm_state(
    active: Mapping[StormKey, int],
    found: list[Storm],
    tracks: Mapping[StormKey, CohortTrack],
    window: Mapping[str, object],
    now_ms: int,
) -> dict[StormKey, int]:
    """The active storms and since when: those found in this sweep, and cohort events `tracks`
    still holds open (missing from this sweep, within the grace)."""
    kept = {k: since for k, since in active.items() if k[0] not in window or k in tracks}
    for s in found:
        kept[(s.metric, s.cohort)] = active.get((s.metric, s.cohort), now_ms)
    return kept


def _storm_findings(
    active: Mapping[StormKey, int],
    found: list[Storm],
    tracks: Mapping[StormKey, CohortTrack],
    window: Mapping[str, object],
    now_ms: int,
) -> tuple[StormFinding, ...]:
    out = [
        StormFinding(s.metric, s.cohort, active.get((s.metric, s.cohort), now_ms), s, now_ms)
        for s in found
    ]
    current = {(s.metric, s.cohort) for s in found}
    for (metric, cohort), since in active.items():
        if metric in window and (metric, cohort) not in current.union(tracks):
            out.append(StormFinding(metric, cohort, since, None, now_ms))
    return tuple(out)
