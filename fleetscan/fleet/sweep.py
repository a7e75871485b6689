"""One fleet sweep: `score_window(window, baseline, now_ms=, options=) -> (results, baseline)`.

The sweep is a pure function. For every metric it reduces raw readings to one row per source (or
takes rows the telemetry store already reduced), adds the sources only the baseline knows (so a
board that fell silent is still reported), scores every source against its cohort and its own
learned offset, explains each verdict in one line, and folds this window's offsets into a new
baseline for the next sweep. Time comes in as `now_ms`; state comes in and goes out as values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, NamedTuple, TypeVar

import numpy as np

from fleetscan.fleet import discover
from fleetscan.fleet.baseline import (
    LONG_OFF_MS,
    Baseline,
    MetricBaseline,
    fold_window,
    own_silences,
)
from fleetscan.fleet.batch import SeriesBatch
from fleetscan.fleet.options import SweepOptions
from fleetscan.fleet.peers import Cohorts
from fleetscan.fleet.profile import LEVEL_TEXT, STEADY_MIN_BUCKETS, Level
from fleetscan.fleet.reduce import SIMULATED_RANGE, WindowAggregates, reduce_window
from fleetscan.fleet.score import SILENCE_FACTOR, MetricScores, score_metric, with_fleet
from fleetscan.fleet.status import CODE, CODES, Status
from fleetscan.sensors import profile_for
from fleetscan.timeutil import HOUR_MS, human_duration, iso_z

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FleetResult:
    """The verdict on one (source, metric) in one sweep, with everything needed to explain it.

    `value` is the window median and `fleet_median` the median of its peers (leave-one-out, within
    its cohort); `z` is in robust σ and `fleet_scale` the scale it was divided by (metric units).
    `offset` is the value minus the level its peers imply: `fleet_median` for a snapshot, or with
    a baseline the median of the peers' values less their own usual offsets; with a baseline `z`
    scores the change of `offset` from `baseline_offset`. Everything here is this sweep's alone:
    `flagged` says its status flags the series, and `score` is what `<metric>.fleet_z` would carry
    if that opened an alert (0.0 when not flagged); whether an alert is open is the lifecycle's
    (`sweeps.step.SeriesVerdict.alerting`). Missing numbers are NaN (`None` in `to_record`);
    `age_ms` is the time since the source's newest reading. The one-line `reason` is written
    when it is read (`explain`), so a sweep of 10,000 boards formats only the reasons it shows.
    """

    source_id: str
    metric: str
    at_ms: int
    cohort: str
    status: Status
    score: float
    value: float
    count: int
    age_ms: float
    fleet_median: float
    fleet_scale: float
    z: float
    offset: float
    baseline_offset: float
    peers: int
    explain: Callable[[], str] = field(compare=False, repr=False)
    shared_change: float = math.nan  # the change it shared with its usual neighbours, if any
    withheld: bool = False  # off its peers, but within its warm-up: shown, not flagged

    @property
    def reason(self) -> str:
        """Why this status, in one line, in the metric's units."""
        return self.explain()

    def with_reason(self, text: str) -> FleetResult:
        """The same result explained by `text` (an override, a silence, a sensor report)."""
        return replace(self, explain=Said(text))

    @property
    def flagged(self) -> bool:
        """This sweep's status flags the series (before any lifecycle guard)."""
        return self.status.flagged

    def to_record(self) -> dict[str, Any]:
        """The scorer's fields of one `--format jsonl` line, as JSON-able values (the lifecycle's
        are added by `sweeps.step.SeriesVerdict.to_record`)."""
        return {
            "source_id": self.source_id,
            "metric": self.metric,
            "at": iso_z(self.at_ms),
            "value": _num(self.value),
            "fleet_median": _num(self.fleet_median),
            "fleet_scale": _num(self.fleet_scale),
            "z": _num(self.z),
            "status": self.status.value,
            "flagged": self.flagged,
            "reason": self.reason,
            "offset": _num(self.offset),
            "baseline_offset": _num(self.baseline_offset),
            "peers": self.peers,
            "count": self.count,
            "age_s": _num(self.age_ms / 1000.0),
            "cohort": self.cohort,
            "shared_change": _num(self.shared_change),
            "withheld": self.withheld,
        }


@dataclass(frozen=True, slots=True)
class Said:
    """A reason already written out: `FleetResult.explain` for text that is not computed."""

    text: str

    def __call__(self) -> str:
        return self.text


class WindowScores(NamedTuple):
    """What `score_window` returns: unpack as `results, baseline = score_window(...)`."""

    results: tuple[FleetResult, ...]
    baseline: dict[str, MetricBaseline]


def score_window(
    window: Mapping[str, SeriesBatch | WindowAggregates],
    baseline: Baseline,
    *,
    now_ms: int,
    options: SweepOptions,
) -> WindowScores:
    """Score every source of every metric in `window` as of `now_ms`; return the new baseline.

    `window` maps metric names to raw readings (`SeriesBatch`, reduced here over
    `options.window_ms`) or to rows already reduced elsewhere (`WindowAggregates`). `baseline`
    may be empty (`{}`); metrics it holds that `window` lacks are carried over unchanged.
    """
    results: list[FleetResult] = []
    new_baseline = dict(baseline)
    for metric, data in window.items():
        agg = (
            data
            if isinstance(data, WindowAggregates)
            else reduce_window(
                data,
                now_ms=now_ms,
                window_ms=options.window_ms,
                clock_tolerance_ms=options.clock_tolerance_ms,
            )
        )
        learned = baseline.get(metric) or MetricBaseline.empty(metric, options.bucket_ms)
        agg = _with_known_sources(agg, learned, now_ms=now_ms, options=options)
        view = learned.view(agg.source_ids, now_ms=now_ms, options=options)
        if options.group_by:  # a window whose rows all lost their tags keeps the learned cohort
            cohorts = tuple(c or b for c, b in zip(agg.cohorts, view.cohorts, strict=True))
            agg = replace(agg, cohorts=cohorts)
        links = (
            learned.neighbours(agg.source_ids, now_ms=now_ms) if options.discover_cohorts else None
        )
        # Groups moving together in this sweep are looked for where no tag defines the cohorts
        # (without tags, and in the fleet view below): a tagged room that moves is its level.
        found_here = links is not None and not options.group_by
        recent = learned.recent(agg.source_ids, now_ms=now_ms) if found_here else None
        scores = score_metric(
            agg, view, now_ms=now_ms, options=options, neighbours=links, recent=recent
        )
        drifting = bool((scores.status == CODE[Status.DRIFTING]).any())
        fleet_base = learned.fleet_view() if options.group_by and drifting else None
        if fleet_base is not None:  # with tags, what the whole fleet says of a drifting board
            whole = replace(agg, cohorts=("",) * len(agg))
            fleet_scores = score_metric(
                whole,
                fleet_base.view(agg.source_ids, now_ms=now_ms, options=options),
                now_ms=now_ms,
                options=options,
                neighbours=fleet_base.neighbours(agg.source_ids, now_ms=now_ms)
                if options.discover_cohorts
                else None,
                recent=fleet_base.recent(agg.source_ids, now_ms=now_ms),
            )
            scores = with_fleet(scores, fleet_scores, agg.cohorts, options)
        shown = agg
        if links is not None and not options.group_by:  # tags, when given, name the cohorts
            together = np.hstack([links, scores.group])  # learned links, and this sweep's groups
            found = discover.labels(together, agg.source_ids, scores.moved_with)
            shown = replace(
                agg, cohorts=tuple(f or c for f, c in zip(found, agg.cohorts, strict=True))
            )
        results.extend(_results(shown, scores, now_ms=now_ms, options=options))
        new_baseline[metric] = fold_window(
            learned,
            source_ids=agg.source_ids,
            cohorts=agg.cohorts,
            offsets=scores.offset,
            learn=_learnable(scores, options),
            last_ts=agg.last_ts,
            interval_ms=np.where(agg.count >= 3, agg.interval_ms, np.nan),
            now_ms=now_ms,
            options=options,
            silence_ms=_silences(agg, view.last_ts, view.interval_ms, options),
            off_usual=(scores.status == CODE[Status.DRIFTING])
            | (scores.status == CODE[Status.ANOMALOUS]),
            levels=agg.median - scores.offset,
        )
    return WindowScores(tuple(results), new_baseline)


def _with_known_sources(
    agg: WindowAggregates, learned: MetricBaseline, *, now_ms: int, options: SweepOptions
) -> WindowAggregates:
    """`agg` plus empty rows for sources the baseline saw within its span but the window lacks."""
    present = set(agg.source_ids)
    horizon = now_ms - options.baseline_span_ms
    extra = [
        i
        for i, s in enumerate(learned.source_ids)
        if s not in present and learned.last_ts[i] >= horizon
    ]
    if not extra:
        return agg
    missing = WindowAggregates.empty(
        agg.metric,
        tuple(learned.source_ids[i] for i in extra),
        tuple(learned.cohorts[i] for i in extra),
    )
    return agg.concat(missing)


def _silences(
    agg: WindowAggregates,
    seen_before: np.ndarray[Any, np.dtype[np.int64]],
    usual_interval: np.ndarray[Any, np.dtype[np.float64]],
    options: SweepOptions,
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The longest silence each source ended in this window: its longest gap inside it, or (when
    it reappears after a silence reaching back before the window) its first reading here minus
    the last one seen before, the whole silence rather than only the part before the window."""
    back = (agg.first_ts >= 0) & (seen_before >= 0) & (agg.first_ts > seen_before)
    ended = np.where(back, agg.first_ts - seen_before, np.nan).astype(np.float64)
    gaps = np.fmax(agg.gap_ms, ended)
    # A board back with one reading has no spacing of its own here: its usual one stands in.
    interval = np.where(np.isfinite(agg.interval_ms), agg.interval_ms, usual_interval)
    return own_silences(gaps, interval, Cohorts(agg.cohorts), options)


def _learnable(scores: MetricScores, options: SweepOptions) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Windows whose offsets may join the baseline: trustworthy values, not an alert in progress."""
    status = scores.status
    calm = (status == CODE[Status.OK]) | (status == CODE[Status.INSUFFICIENT_PEERS])
    flagged = (status == CODE[Status.DRIFTING]) | (status == CODE[Status.ANOMALOUS])
    # Until a source has a baseline, its snapshot outliers are learned too: a board that always
    # sits 3 °C above the rest must become normal, not stay anomalous forever. So are the hours
    # whose figures are still all-hours ones (too few past days at this hour): a board in the sun
    # every morning must get a morning of its own, as history from `--baseline` would give it.
    learning_hour = scores.level == int(Level.ALL_HOURS)
    warming = flagged & (~scores.has_baseline | learning_hour | options.learn_while_alerting)
    learn: np.ndarray[Any, np.dtype[np.bool_]] = (calm | warming) & np.isfinite(scores.offset)
    return learn


def _results(
    agg: WindowAggregates,
    scores: MetricScores,
    *,
    now_ms: int,
    options: SweepOptions,
) -> list[FleetResult]:
    # The loop reads plain Python lists (indexing NumPy scalars 10,000 times is slow); they go
    # when it ends. The reasons, written later if at all, read the NumPy columns one value at a
    # time: a sweep's results keep 8 bytes per column and source alive, not a list of floats.
    status_codes, z_values = scores.status.tolist(), scores.z.tolist()
    rows = zip(
        agg.median.tolist(),
        agg.count.tolist(),
        scores.age_ms.tolist(),
        scores.peer_median.tolist(),
        scores.scale.tolist(),
        scores.offset.tolist(),
        scores.usual_offset.tolist(),
        scores.peers.tolist(),
        scores.shared_change.tolist(),
        scores.warming.tolist(),
        strict=True,
    )
    explain = _Explainer(agg.metric, _Columns(agg, scores), options, now_ms=now_ms)
    floor_score = options.threshold + 1.0
    out = []
    for i, (source_id, code, z, row) in enumerate(
        zip(agg.source_ids, status_codes, z_values, rows, strict=True)
    ):
        median, count, age_ms, peer_median, scale, offset, usual_offset, peers, shared, held = row
        status = CODES[code]
        if not status.flagged:
            score = 0.0
        elif status.z_based:
            score = abs(z)
        else:
            score = max(abs(z) if math.isfinite(z) else 0.0, floor_score)
        out.append(
            FleetResult(
                source_id=source_id,
                metric=agg.metric,
                at_ms=now_ms,
                cohort=agg.cohorts[i],
                status=status,
                score=score,
                value=median,
                count=count,
                age_ms=age_ms,
                fleet_median=peer_median,
                fleet_scale=scale,
                z=z,
                offset=offset,
                baseline_offset=usual_offset,
                peers=peers,
                explain=_Reason(explain, i, status),
                shared_change=shared,
                withheld=held and status is Status.OK,  # the status after `with_fleet` clears
            )
        )
    return out


class _Column(Generic[T]):
    """A NumPy column read one Python scalar at a time (`column[i]`), without a list of them."""

    __slots__ = ("_item",)

    def __init__(self, values: np.ndarray[Any, Any]) -> None:
        self._item = values.item

    def __getitem__(self, i: int) -> T:
        value: T = self._item(i)
        return value


class _Columns:
    """The columns reasons need."""

    def __init__(self, agg: WindowAggregates, s: MetricScores) -> None:
        self.status: _Column[int] = _Column(s.status)
        self.z: _Column[float] = _Column(s.z)
        self.scale: _Column[float] = _Column(s.scale)
        self.peer_median: _Column[float] = _Column(s.peer_median)
        self.offset: _Column[float] = _Column(s.offset)
        self.usual_offset: _Column[float] = _Column(s.usual_offset)
        self.peers: _Column[int] = _Column(s.peers)
        self.age_ms: _Column[float] = _Column(s.age_ms)
        self.stale_after_ms: _Column[float] = _Column(s.stale_after_ms)
        self.usual_silence_ms: _Column[float] = _Column(s.usual_silence_ms)
        self.cohort_silence: _Column[bool] = _Column(s.cohort_silence)
        self.noise_ratio: _Column[float] = _Column(s.noise_ratio)
        self.peer_noise: _Column[float] = _Column(s.peer_noise)
        self.peer_range: _Column[float] = _Column(s.peer_range)
        self.code_step = s.code_step
        self.simulated: _Column[bool] = _Column(s.simulated)
        self.has_baseline: _Column[bool] = _Column(s.has_baseline)
        self.usual_low: _Column[float] = _Column(s.usual_low)
        self.usual_high: _Column[float] = _Column(s.usual_high)
        self.level: _Column[int] = _Column(s.level)
        self.days: _Column[int] = _Column(s.days)
        self.buckets: _Column[int] = _Column(s.buckets)
        self.first_day: _Column[bool] = _Column(s.first_day)
        self.shared_change: _Column[float] = _Column(s.shared_change)
        self.trend: _Column[float] = _Column(s.trend)
        self.steady: _Column[float] = _Column(s.steady)
        self.warming: _Column[bool] = _Column(s.warming)
        self.room_moved: _Column[float] = _Column(s.room_moved)
        self.taken_out: _Column[float] = _Column(s.taken_out)
        self.cohort: tuple[str, ...] = agg.cohorts
        self.median: _Column[float] = _Column(agg.median)
        self.count: _Column[int] = _Column(agg.count)
        self.nan: _Column[int] = _Column(agg.nan)
        self.invalid: _Column[int] = _Column(agg.invalid)
        self.future: _Column[int] = _Column(agg.future)
        self.past: _Column[int] = _Column(agg.past)
        self.noise: _Column[float] = _Column(agg.noise)
        self.spikes: _Column[int] = _Column(agg.spikes)
        self.grid: _Column[float] = _Column(agg.grid)
        self.lag1: _Column[float] = _Column(agg.lag1)


@dataclass(frozen=True, slots=True)
class _Reason:
    """`FleetResult.explain` of a scored source: its reason, written when read."""

    explainer: _Explainer
    i: int
    status: Status

    def __call__(self) -> str:
        return self.explainer(self.i, self.status)


class _Explainer:
    """One-line reasons, in the metric's units."""

    def __init__(
        self, metric: str, columns: _Columns, options: SweepOptions, *, now_ms: int
    ) -> None:
        self.c, self.options = columns, options
        self._first_day = human_duration(options.first_day_span_ms)  # see SweepOptions
        hour = (now_ms - options.window_ms // 2) // HOUR_MS % 24
        self.at = f"at {hour:02d}:00 UTC"
        self.prof = profile_for(metric)
        self.unit = f" {self.prof.unit}" if self.prof.unit else ""
        self._by_status = {
            Status.OK: self._ok,
            Status.ANOMALOUS: self._anomalous,
            Status.DRIFTING: self._drifting,
            Status.STUCK: self._stuck,
            Status.NOISY: self._noisy,
            Status.INVALID: self._invalid,
            Status.STALE: self._stale,
            Status.OUTAGE: self._outage,
            Status.NO_DATA: self._no_data,
            Status.INSUFFICIENT_PEERS: self._insufficient_peers,
        }

    def __call__(self, i: int, status: Status) -> str:
        return self._by_status[status](i)

    def _v(self, x: float, sign: bool = False) -> str:
        if not math.isfinite(x):
            return "n/a"
        if abs(x) >= 1e5:
            return f"{x:+.4g}" if sign else f"{x:.4g}"
        return f"{x:+.2f}" if sign else f"{x:.2f}"

    def _vs_peers(self, i: int) -> str:
        c = self.c
        return f"peer median {self._v(c.peer_median[i])}{self.unit}, {c.peers[i]} peers"

    def _usual(self, i: int) -> str:
        """`usually +0.02 ± 0.08 at this hour (past days -0.05..+0.10)`, or where it came from."""
        c = self.c
        level = Level(c.level[i])
        text = (
            f"usually {self._v(c.usual_offset[i], True)} ± {self._v(c.scale[i])} "
            f"{LEVEL_TEXT[level]}"
        )
        if c.first_day[i]:
            text += f" (no tighter than the cohort's spread before {self._first_day})"
        if level == Level.LONG_OFF:
            return f"{text}: off its usual gap in every window for {LONG_OFF_MS // HOUR_MS} h+"
        if level == Level.ALL_HOURS:
            need = _count(self.options.daily_min_days, "day")
            low, high = c.usual_low[i], c.usual_high[i]
            seen = ""
            if low < c.usual_offset[i] or high > c.usual_offset[i]:  # a past day at this hour
                seen = (
                    f", range {self._v(low, True)}..{self._v(high, True)} from "
                    f"{_count(c.days[i], 'past day')} at this hour"
                )
            return f"{text}{seen}, time-of-day figures after {need} of history"
        return (
            f"{text}, past {_count(c.days[i], 'day')} {self._v(c.usual_low[i], True)}.."
            f"{self._v(c.usual_high[i], True)}"
        )

    def _learning(self, i: int) -> str:
        """`learning: 5h of history, drift checks from 6h`, or, within a warm-up, `learning: 5h
        of history, learned as its habits; its gap is judged from 24h (a steady drift from 12h)`."""
        bucket_ms = self.options.bucket_ms
        have = human_duration(self.c.buckets[i] * bucket_ms)
        need_ms = self.options.min_baseline_buckets * bucket_ms
        warm_up_ms = self.options.warm_up_span_ms
        if warm_up_ms > need_ms:
            steady = human_duration(max(STEADY_MIN_BUCKETS * bucket_ms, need_ms))
            return (
                f"learning: {have} of history, learned as its habits; its gap is judged from "
                f"{human_duration(warm_up_ms)} (a steady drift from {steady})"
            )
        text = f"learning: {have} of history, drift checks from {human_duration(need_ms)}"
        if self.options.first_day_span_ms > need_ms:
            text += f", against the cohort's spread until {self._first_day}"
        return text

    def _ok(self, i: int) -> str:
        c = self.c
        if math.isfinite(c.shared_change[i]) and not c.has_baseline[i]:
            return (
                f"{self._v(c.offset[i], True)}{self.unit} off the peer median, together with "
                f"other boards ({c.cohort[i] or 'its neighbours'}, "
                f"{self._v(c.shared_change[i], True)}{self.unit} together): a room at another "
                f"level or moving as one, not this board (z={c.z[i]:+.1f} after it; "
                f"{self._learning(i)})"
            )
        if math.isfinite(c.shared_change[i]):
            return (
                f"gap {self._v(c.offset[i], True)}{self.unit} {self.at} moved together with other "
                f"boards ({c.cohort[i] or 'its neighbours'}, "
                f"{self._v(c.shared_change[i], True)}{self.unit} together): a cohort event, "
                f"not this board (z={c.z[i]:+.1f} after it)"
            )
        if math.isfinite(c.room_moved[i]):
            return (
                f"gap {self._v(c.offset[i], True)}{self.unit} to its cohort {self.at}, but in line "
                f"with the rest of the fleet (z={c.z[i]:+.1f}): its cohort "
                f"({c.cohort[i]}) moved {self._v(c.room_moved[i], True)}{self.unit} against the "
                "fleet, this board did not"
            )
        if c.warming[i]:
            off = self._off_usual(i) if c.has_baseline[i] else self._anomalous(i, learning=False)
            return (
                f"{off}: no alert yet, a daily habit cannot be told from a fault before a day "
                f"has shown it ({self._learning(i)})"
            )
        if c.has_baseline[i]:
            return self._off_usual(i)
        return (
            f"z={c.z[i]:+.1f} vs {self._vs_peers(i)}, scale {self._v(c.scale[i])}; "
            f"{self._learning(i)}"
        )

    def _anomalous(self, i: int, *, learning: bool = True) -> str:
        c = self.c
        side = "above" if c.z[i] > 0 else "below"
        text = (
            f"{self._v(c.median[i])}{self.unit} is {abs(c.z[i]):.1f}σ {side} the "
            f"{self._vs_peers(i)} (scale {self._v(c.scale[i])}"
        )
        return f"{text}; no baseline yet, {self._learning(i)})" if learning else f"{text})"

    def _drifting(self, i: int) -> str:
        c = self.c
        daily, steady = math.isfinite(c.trend[i]), math.isfinite(c.steady[i])
        if not (daily or steady):
            return self._off_usual(i)
        history = human_duration(c.buckets[i] * self.options.bucket_ms)
        how = (
            f"{self._v(c.trend[i], True)}{self.unit} a day, hour for hour, through its {history} "
            "of history"
            if daily
            else f"{self._v(c.steady[i], True)}{self.unit} through its {history} of history, the "
            "same way in every quarter of it"
        )
        return (
            f"gap to peers moved {how}: a drift under way, not its normal "
            f"(z={c.z[i]:+.1f}; {self._vs_peers(i)})"
        )

    def _off_usual(self, i: int) -> str:
        """The gap to peers now against its usual one (for a baseline-judged z)."""
        c = self.c
        shared = c.taken_out[i]
        beside = ""
        if math.isfinite(shared):  # z is its change against the boards it moves with
            against = c.offset[i] - c.usual_offset[i] - shared
            beside = (
                f"; {self._v(against, True)}{self.unit} against the boards it moves with, "
                f"which moved {self._v(shared, True)}{self.unit}"
            )
        return (
            f"gap {self._v(c.offset[i], True)}{self.unit} {self.at}, {self._usual(i)}{beside} "
            f"(z={c.z[i]:+.1f}; {self._vs_peers(i)})"
        )

    def _stuck(self, i: int) -> str:
        c = self.c
        return (
            f"flat at {self._v(c.median[i])}{self.unit} over {c.count[i]} readings while "
            f"peers move {self._v(c.peer_range[i])} ({self._step()})"
        )

    def _step(self) -> str:
        """The step a frozen board's peers moved in: the sensor's resolution, or the coarser
        code the fleet's readings come in (a one-code flip is no movement)."""
        step = self.c.code_step
        if step <= self.prof.resolution * (1 + 1e-9):
            return f"resolution {self.prof.resolution:g}"
        return f"readings in steps of {step:g}, resolution {self.prof.resolution:g}"

    def _noisy(self, i: int) -> str:
        c = self.c
        if c.spikes[i] > 0:
            return (
                f"{_count(c.spikes[i], 'spike reading')} in the window "
                f"(noise σ {self._v(c.noise[i])}{self.unit})"
            )
        return (
            f"noise σ {c.noise[i]:.3g}{self.unit} is {c.noise_ratio[i]:.1f}× the peers' "
            f"{c.peer_noise[i]:.3g}"
        )

    def _invalid(self, i: int) -> str:
        c, p = self.c, self.prof
        parts = []
        if c.nan[i]:
            parts.append(f"{_count(c.nan[i], 'NaN/null reading')}")
        if c.invalid[i]:
            bracket = "(" if p.exclusive_low else "["
            parts.append(
                f"{_count(c.invalid[i], 'reading')} outside the BME280 range "
                f"{bracket}{p.low:g}, {p.high:g}]"
            )
        if c.future[i]:
            parts.append(f"{_count(c.future[i], 'reading')} stamped in the future (device clock?)")
        if c.past[i]:
            parts.append(f"{_count(c.past[i], 'reading')} stamped before 2001 (clock not set?)")
        if c.simulated[i]:
            low, high = SIMULATED_RANGE[p.metric]
            parts.append(
                f"values look simulated: {c.grid[i]:.0%} on the 0.1 grid in {low:g}-{high:g}, "
                f"lag-1 autocorrelation {c.lag1[i]:+.2f} (BME280 missing?)"
            )
        return "; ".join(parts)

    def _stale(self, i: int) -> str:
        c = self.c
        limit = c.stale_after_ms[i]
        why = ""
        usual = c.usual_silence_ms[i]
        if math.isfinite(usual) and limit <= SILENCE_FACTOR * usual:  # its silences set the limit
            whose = "its cohort's" if c.cohort_silence[i] else "its"
            why = f": {SILENCE_FACTOR:g}× {whose} usual longest silence, {human_duration(usual)}"
        return f"no reading for {human_duration(c.age_ms[i])} (stale after {human_duration(limit)}{why})"

    def _outage(self, i: int) -> str:
        return (
            f"no reading for {human_duration(self.c.age_ms[i])}, like most of its cohort: "
            "a gateway, network or read outage?"
        )

    def _no_data(self, i: int) -> str:
        age = self.c.age_ms[i]
        since = f"; last {human_duration(age)} ago" if math.isfinite(age) else ""
        return f"no reading in the {human_duration(self.options.window_ms)} window{since}"

    def _insufficient_peers(self, i: int) -> str:
        return f"{_count(self.c.peers[i], 'peer')}, need {self.options.min_peers} to compare"


def _count(n: int, noun: str) -> str:
    """`1 peer`, `3 peers`.

    >>> _count(1, "peer"), _count(3, "spike reading")
    ('1 peer', '3 spike readings')
    """
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None
