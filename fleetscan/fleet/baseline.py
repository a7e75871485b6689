"""Learned baselines: each source's usual offset from its cohort, as an explicit value.

The whole fleet moves together (day and night, weather, HVAC per room), so what is stable about a
board is not its level but its *gap to its peers*. A `MetricBaseline` keeps, per source and per
time bucket (hourly by default, over 7 days), that gap: the source's median minus the
leave-one-out median of its cohort. A window is judged against the same hour of past days
(`profile.daily_figures`: the usual gap at this hour, the range past days covered, a scale
pooled over neighbouring hours), falling back visibly to all-hours figures (the median over
completed buckets and 1.4826 × their MAD) where an hour has too little history.

Baselines are plain values, never hidden state: `score_window` takes one in and hands a new one back.
They come from history (`learn_baseline` over raw readings, e.g. `--baseline 7d` from the API or an
input file, or `learn_from_buckets` over per-bucket reductions a store computed) or from previous sweeps (`fold_window`, which averages each sweep's window offset into
the current bucket). `to_dict`/`from_dict` give a JSON-able form for durable sweep state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleetscan.fleet import discover
from fleetscan.fleet.batch import SeriesBatch
from fleetscan.fleet.options import SweepOptions
from fleetscan.fleet.peers import Cohorts, invalid_readings, judge_peers
from fleetscan.fleet.profile import (
    STEADY_MIN_BUCKETS,
    TREND_MIN_PAIRS,
    Level,
    all_hours,
    daily_figures,
    daily_trend,
    steady_change,
)
from fleetscan.fleet.reduce import WindowAggregates, reduce_window
from fleetscan.fleet.robust import (
    Bools,
    Floats,
    Ints,
    grouped_loo_median,
    nan_median,
)
from fleetscan.sensors import profile_for
from fleetscan.timeutil import DAY_MS, EPOCH_MS_CUTOFF, HOUR_MS


@dataclass(frozen=True, eq=False)
class BaselineView:
    """A baseline looked up for a list of sources, aligned with it (NaN / -1 / 0 when unknown)."""

    offset: Floats  # usual offset from the cohort at this hour (or at any hour, see `level`)
    offset_sigma: Floats  # its robust scale (pooled over neighbouring hours)
    low: Floats  # the lowest and highest gap past days had at this hour (= offset at any hour)
    high: Floats
    level: Ints  # `profile.Level` codes: where the figures come from
    days: Ints  # past days behind them
    buckets: Ints  # completed buckets with an offset
    history_ms: Ints  # from the start of the first of them to now (0 when none)
    trend: Floats  # day-to-day change of the gap at the same hour (units/day), see profile
    trend_sigma: Floats
    trend_pairs: Ints
    steady: Floats  # the gap's move through a history too short for `trend`, see profile
    silence_ms: Floats  # its usual longest silence: its longest own gap on a typical day
    last_ts: Ints  # newest reading ever seen
    interval_ms: Floats  # usual spacing of readings
    cohorts: tuple[str, ...]  # the cohort the offsets were learned in ("" when unknown)


# Buckets `MetricBaseline.recent` looks back over: an onset up to this many buckets old is told.
RECENT_POINTS = 6
# A board off its usual gap in every window of this long (no habit lasts half a day: the sun
# sets) is judged against its all-hours figures: a step or a drift that began in an hour still
# learning must not become, a day later, what that hour's range allows.
LONG_OFF_MS = 12 * HOUR_MS


@dataclass(frozen=True, eq=False)
class MetricBaseline:
    """Per-source offset history for one metric (rows: sources, columns: buckets)."""

    metric: str
    bucket_ms: int
    source_ids: tuple[str, ...]
    cohorts: tuple[str, ...]
    bucket_start: Ints  # (B,) ascending epoch ms
    offset: Floats  # (S, B) mean offset in the bucket, NaN when none
    weight: Floats  # (S, B) how many windows (or 1 for a learned bucket) make that mean
    last_ts: Ints  # (S,) newest reading seen, -1 when unknown
    interval_ms: Floats  # (S,) typical spacing of readings, NaN when unknown
    silence: Floats | None = None  # (S, B) longest silence seen in the bucket (ms), NaN if none
    # (S, B) mean offset of the windows left out of `offset` because they were off the usual gap
    # (drifting/anomalous), and how many: what the board did, for `neighbours` only.
    off_usual: Floats | None = None
    off_usual_weight: Floats | None = None
    # (S, B) mean level of its cohort (the leave-one-out median its gap was measured from) over
    # the same windows as `offset`: with tags, `fleet_view` turns gaps to the room into gaps to
    # the whole fleet.
    level: Floats | None = None
    # (S, B) mean level of its cohort over the `off_usual` windows: the fleet view sees them too.
    off_level: Floats | None = None

    def silences(self) -> Floats:
        """`silence`, or all NaN for a baseline (or stored state) that has none."""
        if self.silence is None:
            return np.full(self.offset.shape, np.nan)
        return self.silence

    def off_usuals(self) -> tuple[Floats, Floats]:
        """`(off_usual, off_usual_weight)`, or NaN / 0 for a baseline that has none."""
        if self.off_usual is None or self.off_usual_weight is None:
            return np.full(self.offset.shape, np.nan), np.zeros(self.offset.shape)
        return self.off_usual, self.off_usual_weight

    def levels(self) -> Floats:
        """`level`, or all NaN for a baseline (or stored state) that has none."""
        if self.level is None:
            return np.full(self.offset.shape, np.nan)
        return self.level

    def off_levels(self) -> Floats:
        """`off_level`, or all NaN for a baseline (or stored state) that has none."""
        if self.off_level is None:
            return np.full(self.offset.shape, np.nan)
        return self.off_level

    def fleet_view(self) -> MetricBaseline | None:
        """The same history as gaps to the whole fleet rather than to each board's cohort
        (cohort level + gap, less the leave-one-out median of every other board in the bucket),
        all in one cohort; None without tags (one cohort) or without stored levels."""
        if self.level is None or len(set(self.cohorts)) < 2:
            return None
        raw = self.offset + self.level  # NaN where either is unknown
        n_sources, n_buckets = raw.shape
        codes = np.repeat(np.arange(n_buckets, dtype=np.int64), n_sources)
        centre = grouped_loo_median(raw.T.reshape(-1), codes).reshape(n_buckets, n_sources).T
        # Windows off the usual gap to its room (a board that moved with the room next door)
        # are gaps to the fleet too, measured from the same centre: `recent` and `neighbours`
        # see what the board did.
        off, off_w = self.off_usuals()
        off_fleet = off + self.off_levels() - centre
        off_w = np.where(np.isfinite(off_fleet), off_w, 0.0)
        return MetricBaseline(
            metric=self.metric,
            bucket_ms=self.bucket_ms,
            source_ids=self.source_ids,
            cohorts=("",) * n_sources,
            bucket_start=self.bucket_start,
            offset=raw - centre,
            weight=np.where(np.isfinite(raw), self.weight, 0.0),
            last_ts=self.last_ts,
            interval_ms=self.interval_ms,
            silence=self.silence,
            off_usual=off_fleet if off_w.any() else None,
            off_usual_weight=off_w if off_w.any() else None,
        )

    def moves(self) -> Floats:
        """(S, B) the mean gap of every judged window in each bucket, usual or not: what the
        board did, from which `neighbours` finds who moves with whom. A board that read as
        drifting while its room's HVAC moved it must still learn that it moved with the room."""
        off, off_w = self.off_usuals()
        if not off_w.any():
            return self.offset
        w = np.where(np.isfinite(self.offset), self.weight, 0.0)
        total = w + off_w
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (np.nan_to_num(self.offset) * w + np.nan_to_num(off) * off_w) / total
        out: Floats = np.where(total > 0, mean, np.nan)
        return out

    @classmethod
    def empty(cls, metric: str, bucket_ms: int = 3_600_000) -> MetricBaseline:
        return cls(
            metric,
            bucket_ms,
            (),
            (),
            np.zeros(0, np.int64),
            np.zeros((0, 0)),
            np.zeros((0, 0)),
            np.zeros(0, np.int64),
            np.zeros(0),
        )

    def __len__(self) -> int:
        return len(self.source_ids)

    def view(
        self, source_ids: Sequence[str], *, now_ms: int, options: SweepOptions | None = None
    ) -> BaselineView:
        """The baseline of `source_ids` for a window ending at `now_ms`: only buckets that ended
        by then count, judged at the window's hour of day (see `profile.daily_figures`)."""
        opts = options if options is not None else SweepOptions()
        index = {s: i for i, s in enumerate(self.source_ids)}
        rows = np.array([index.get(s, -1) for s in source_ids], dtype=np.int64)
        known = rows >= 0
        safe = np.where(known, rows, 0)
        done = self.bucket_start + self.bucket_ms <= now_ms
        history = self.offset[:, done]
        learned = np.isfinite(history)
        buckets = learned.sum(axis=1)
        # How long it has been known: a lossy hour learns nothing, but it is history all the same.
        first = self.bucket_start[done][np.argmax(learned, axis=1)] if history.shape[1] else 0
        history_ms = np.where(buckets > 0, now_ms - first, 0).astype(np.int64)
        if opts.daily_profile and history.shape[1]:
            daily = daily_figures(
                history,
                self.bucket_start[done],
                bucket_ms=self.bucket_ms,
                at_ms=now_ms - opts.window_ms // 2,
                hours=opts.daily_hours,
                scale_hours=opts.daily_scale_hours,
                min_days=opts.daily_min_days,
                threshold=opts.threshold,
                floor=opts.scale_floor(self.metric),
            )
            usual, sigma = daily.usual, daily.sigma
            low, high, level, days = daily.low, daily.high, daily.level, daily.days
        else:
            usual, sigma = all_hours(history)
            low, high, days = usual, usual, np.zeros(len(usual), np.int64)
            level = np.where(buckets > 0, int(Level.ALL_HOURS), int(Level.NONE))

        # Off its usual gap for the last LONG_OFF_MS straight: every completed bucket since holds
        # windows judged off it and none learned.
        off_w = self.off_usuals()[1][:, done]
        off_only = ((off_w > 0) & ~np.isfinite(history))[:, ::-1]
        run = np.zeros(len(off_only), np.int64)
        if off_only.shape[1]:  # the trailing run: buckets before the newest not off only
            run = np.where(off_only.all(axis=1), off_only.shape[1], np.argmin(off_only, axis=1))
        long_off = (run * self.bucket_ms >= LONG_OFF_MS) & (buckets > 0)
        if long_off.any():
            centre, spread = all_hours(history[long_off])
            usual, low, high, sigma = (np.array(a, np.float64) for a in (usual, low, high, sigma))
            usual[long_off] = low[long_off] = high[long_off] = centre
            sigma[long_off] = spread
            level = np.where(long_off, int(Level.LONG_OFF), level)

        trend = daily_trend(history, self.bucket_start[done])
        # Too short a history for day-to-day pairs: did the gap move one way through all of it?
        steady = np.full(len(history), np.nan)
        young = (trend.pairs < TREND_MIN_PAIRS) & (buckets >= STEADY_MIN_BUCKETS)
        if young.any():
            steady[young] = steady_change(history[young], threshold=opts.threshold)
        silence = (
            typical_daily_max(self.silences()[:, done], self.bucket_start[done])
            if self.silence is not None
            else np.full(len(self), np.nan)
        )

        def pick(column: Floats | Ints, missing: float) -> Floats:
            if len(self) == 0:
                return np.full(len(rows), missing)
            out: Floats = np.where(known, column[safe], missing)
            return out

        return BaselineView(
            offset=pick(usual, np.nan),
            offset_sigma=pick(sigma, np.nan),
            low=pick(low, np.nan),
            high=pick(high, np.nan),
            level=pick(level, int(Level.NONE)).astype(np.int64),
            days=pick(days, 0).astype(np.int64),
            buckets=pick(buckets, 0).astype(np.int64),
            history_ms=pick(history_ms, 0).astype(np.int64),
            trend=pick(trend.per_day, np.nan),
            trend_sigma=pick(trend.sigma, np.nan),
            trend_pairs=pick(trend.pairs, 0).astype(np.int64),
            steady=pick(steady, np.nan),
            silence_ms=pick(silence, np.nan),
            last_ts=pick(self.last_ts, -1).astype(np.int64),
            interval_ms=pick(self.interval_ms, np.nan),
            cohorts=tuple(self.cohorts[r] if r >= 0 else "" for r in rows),
        )

    def neighbours(self, source_ids: Sequence[str], *, now_ms: int) -> Ints:
        """(len(source_ids), K) indexes into `source_ids` of the boards each one usually moves
        with (`discover.neighbours` over completed buckets), -1 where none."""
        done = self.bucket_start + self.bucket_ms <= now_ms
        if int(done.sum()) < discover.MIN_SHARED_BUCKETS:  # too little history: no neighbours
            return np.full((len(source_ids), discover.NEIGHBOURS), -1, np.int64)
        links = discover.neighbours(
            self.moves()[:, done], self.bucket_start[done], bucket_ms=self.bucket_ms
        )
        position = {s: i for i, s in enumerate(source_ids)}
        to_window = np.array([position.get(s, -1) for s in self.source_ids] + [-1], np.int64)
        index = {s: i for i, s in enumerate(self.source_ids)}
        rows = np.array([index.get(s, -1) for s in source_ids], dtype=np.int64)
        out = np.full((len(source_ids), links.shape[1]), -1, np.int64)
        known = rows >= 0
        out[known] = to_window[links[rows[known]]]
        return out

    def recent(self, source_ids: Sequence[str], *, now_ms: int) -> Floats:
        """(len(source_ids), RECENT_POINTS) where each board was in the sweeps just before
        `now_ms`: the mean gap of the windows judged (`moves`) in the newest bucket that has some
        (the one holding `now_ms`, else the one before) in the last column, and in the buckets
        before that one in the columns before; NaN where a bucket has none. Boards whose gaps
        leave their usual figures together now, but did not before, did not start together;
        and a change complete in the newest bucket still shows its onset in the earlier ones.
        """
        points = RECENT_POINTS
        if not len(self.bucket_start):
            return np.full((len(source_ids), points), np.nan)
        moves = self.moves()
        current = now_ms // self.bucket_ms * self.bucket_ms
        index = {s: i for i, s in enumerate(self.source_ids)}
        rows = np.array([index.get(s, -1) for s in source_ids], dtype=np.int64)
        known = rows >= 0
        means = np.full((len(source_ids), points + 1), np.nan)  # oldest first, current last
        for k in range(points + 1):
            column = np.flatnonzero(self.bucket_start == current - (points - k) * self.bucket_ms)
            if len(column):
                means[known, k] = moves[rows[known], column[0]]
        has_current = np.isfinite(means[:, -1])[:, None]
        out: Floats = np.where(has_current, means[:, 1:], means[:, :-1])
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (NaN becomes None); `from_dict` reads it back."""
        sources = []
        silence = self.silences()
        off, off_w = self.off_usuals()
        for i, source_id in enumerate(self.source_ids):
            filled = np.flatnonzero(
                np.isfinite(self.offset[i]) | np.isfinite(silence[i]) | (off_w[i] > 0)
            )
            level, off_level = self.levels()[i], self.off_levels()[i]
            sources.append(
                {
                    "source_id": source_id,
                    "cohort": self.cohorts[i],
                    "last_ts": int(self.last_ts[i]),
                    "interval_ms": _none_if_nan(float(self.interval_ms[i])),
                    "buckets": [
                        [
                            int(self.bucket_start[j]),
                            _none_if_nan(float(self.offset[i, j])),
                            float(self.weight[i, j]),
                            _none_if_nan(float(silence[i, j])),
                        ]
                        + (
                            [_none_if_nan(float(level[j]))]
                            if np.isfinite(level[j]) or off_w[i, j] > 0
                            else []
                        )
                        + ([float(off[i, j]), float(off_w[i, j])] if off_w[i, j] > 0 else [])
                        + (
                            [float(off_level[j])]
                            if off_w[i, j] > 0 and np.isfinite(off_level[j])
                            else []
                        )
                        for j in filled
                    ],
                }
            )
        return {"metric": self.metric, "bucket_ms": self.bucket_ms, "sources": sources}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricBaseline:
        sources = list(data.get("sources", []))
        starts = sorted({int(b[0]) for s in sources for b in s.get("buckets", [])})
        column = {start: j for j, start in enumerate(starts)}
        offset = np.full((len(sources), len(starts)), np.nan)
        weight = np.zeros((len(sources), len(starts)))
        silence = np.full((len(sources), len(starts)), np.nan)
        off = np.full((len(sources), len(starts)), np.nan)
        off_w = np.zeros((len(sources), len(starts)))
        level = np.full((len(sources), len(starts)), np.nan)
        off_level = np.full((len(sources), len(starts)), np.nan)
        for i, s in enumerate(sources):
            # Schema 1 stored [start, offset, weight]; later ones add the bucket's longest
            # silence, and an offset may be null where only a silence was seen; then the
            # cohort's level (null if unknown), and for a bucket with windows off the usual gap
            # their mean and count, and the cohort's mean level over them.
            for start, value, w, *rest in s.get("buckets", []):
                j = column[int(start)]
                offset[i, j] = np.nan if value is None else float(value)
                weight[i, j] = float(w)
                if rest and rest[0] is not None:
                    silence[i, j] = float(rest[0])
                if len(rest) >= 2 and rest[1] is not None:
                    level[i, j] = float(rest[1])
                if len(rest) >= 4 and rest[2] is not None and float(rest[3]) > 0:
                    off[i, j], off_w[i, j] = float(rest[2]), float(rest[3])
                    if len(rest) >= 5 and rest[4] is not None:
                        off_level[i, j] = float(rest[4])
        interval = [s.get("interval_ms") for s in sources]
        return cls(
            metric=str(data["metric"]),
            bucket_ms=int(data["bucket_ms"]),
            source_ids=tuple(str(s["source_id"]) for s in sources),
            cohorts=tuple(str(s.get("cohort", "")) for s in sources),
            bucket_start=np.array(starts, dtype=np.int64),
            offset=offset,
            weight=weight,
            last_ts=np.array([int(s.get("last_ts", -1)) for s in sources], dtype=np.int64),
            interval_ms=np.array([np.nan if v is None else float(v) for v in interval]),
            silence=silence,
            off_usual=off if off_w.any() else None,
            off_usual_weight=off_w if off_w.any() else None,
            level=level if np.isfinite(level).any() else None,
            off_level=off_level if np.isfinite(off_level).any() else None,
        )


Baseline = Mapping[str, MetricBaseline]
"""A whole sweep's baseline: one `MetricBaseline` per metric name."""


def typical_daily_max(rows: Floats, bucket_start: Ints) -> Floats:
    """Each row's longest value on a typical day: the median over days of each day's maximum
    (NaN for a row with none). A board's longest silence on most days is its worst radio hour,
    not a fault; one long outage is one day, not its habit. Days are the 24 h spans counted back
    from the newest bucket, so none is a day only begun; a row's oldest day with a value, usually
    cut by the start of its history, counts only while it is its only one.

    >>> t = np.arange(96, dtype=np.int64) * 3_600_000
    >>> gaps = np.full((1, 96), 20_000.0); gaps[0, [5, 30, 60, 90]] = [6e6, 6e5, 9e5, 9e6]
    >>> typical_daily_max(gaps, t).tolist()  # 10, 15 and 150 min at worst (the first day: cut)
    [900000.0]
    """
    if not rows.shape[1]:
        return np.full(len(rows), np.nan)
    back = (bucket_start[-1] - bucket_start) // DAY_MS  # buckets are in time order
    first = np.flatnonzero(np.r_[True, back[1:] != back[:-1]])
    daily = np.maximum.reduceat(np.where(np.isfinite(rows), rows, -np.inf), first, axis=1)
    seen = ~np.isneginf(daily)
    oldest = np.argmax(seen, axis=1)  # each row's first day with a value: cut by its start
    seen[np.arange(len(rows)), oldest] &= seen.sum(axis=1) == 1
    out: Floats = nan_median(np.where(seen, daily, np.nan))
    return out


def own_silences(
    gap_ms: Floats, interval_ms: Floats, groups: Cohorts, options: SweepOptions
) -> Floats:
    """Each source's longest gap, NaN where the other members of its cohort, or the fleet, were
    mostly silent that long too (stale by their median gap): a gateway outage is the gateway's,
    not a habit of each board behind it.

    >>> opts = SweepOptions()
    >>> gaps = np.array([600_000.0, 610_000.0, 590_000.0, 20_000.0])
    >>> own_silences(gaps, np.full(4, 10_000.0), Cohorts(("a", "a", "a", "b")), opts).tolist()
    [nan, nan, nan, 20000.0]
    """
    known = np.isfinite(gap_ms)
    limit = np.fmax(options.stale_factor * interval_ms, float(options.stale_floor_ms))  # NaN: floor
    theirs = groups.loo_median(groups.pack(gap_ms, known))
    with np.errstate(invalid="ignore"):
        shared = theirs > limit
        if known.sum() > 1:
            shared |= float(np.median(gap_ms[known])) > limit
        shared &= gap_ms > limit  # a short gap is its own whoever else was silent
    out: Floats = np.where(shared, np.nan, gap_ms)
    return out


def _none_if_nan(number: float) -> float | None:
    return None if math.isnan(number) else number


def learn_baseline(batch: SeriesBatch, *, now_ms: int, options: SweepOptions) -> MetricBaseline:
    """Learn offsets from raw history: readings in `[now - span, now - window]`, per bucket.

    Each bucket is reduced exactly as a sweep's window is (`reduce_window`) and handed to
    `learn_from_buckets` (`fleetscan.clickhouse` does the same reductions in SQL). The readings may
    be a sample of each bucket (e.g. its last two minutes), since offsets compare sources at the
    same moments.
    """
    bucket_ms = options.bucket_ms
    prof = profile_for(batch.metric)
    ts = batch.ts_ms
    start, end, first_bucket, n_buckets = bucket_window(now_ms=now_ms, options=options)
    seen = (ts >= start) & (ts <= now_ms + options.clock_tolerance_ms) & (ts >= EPOCH_MS_CUTOFF)
    n_sources = len(batch.source_ids)
    last_ts = np.full(n_sources, -1, np.int64)
    np.maximum.at(last_ts, batch.source[seen], ts[seen])
    rows = np.flatnonzero(seen & (ts <= end))
    bucket = ts[rows] // bucket_ms - first_bucket
    order = rows[np.argsort(bucket, kind="stable")]
    bounds = np.searchsorted(np.sort(bucket), np.arange(n_buckets + 1))
    no_drops = np.zeros(n_sources, np.int64)
    reductions: list[tuple[int, WindowAggregates]] = []
    for j in range(n_buckets):
        take = order[bounds[j] : bounds[j + 1]]
        if len(take) == 0:
            continue
        cell = SeriesBatch(
            batch.metric,
            batch.source_ids,
            batch.cohorts,
            batch.source[take],
            ts[take],
            batch.value[take],
            no_drops,
        )
        bucket_start = int((first_bucket + j) * bucket_ms)
        agg = reduce_window(
            cell, now_ms=bucket_start + bucket_ms - 1, window_ms=bucket_ms, profile=prof
        )
        reductions.append((bucket_start, agg))
    return learn_from_buckets(
        batch.metric,
        batch.source_ids,
        batch.cohorts,
        reductions,
        last_ts=last_ts,
        first_bucket_ms=int(first_bucket * bucket_ms),
        n_buckets=n_buckets,
        options=options,
    )


def bucket_window(*, now_ms: int, options: SweepOptions) -> tuple[int, int, int, int]:
    """`(start_ms, end_ms, first_bucket, n_buckets)` of a baseline learnt at `now_ms`."""
    start = now_ms - options.baseline_span_ms
    end = now_ms - options.window_ms
    first_bucket = start // options.bucket_ms
    n_buckets = int(end // options.bucket_ms - first_bucket + 1) if end >= start else 0
    return start, end, first_bucket, n_buckets


def learn_from_buckets(
    metric: str,
    source_ids: tuple[str, ...],
    cohorts: tuple[str, ...],
    reductions: Sequence[tuple[int, WindowAggregates]],
    *,
    last_ts: Ints,
    first_bucket_ms: int,
    n_buckets: int,
    options: SweepOptions,
) -> MetricBaseline:
    """A baseline from per-(source, bucket) reductions: the one place gaps are learned.

    `reductions` pairs each bucket's start (epoch ms, a multiple of `options.bucket_ms`) with one
    `WindowAggregates` row per source of `source_ids` (in that order), however they were computed
    (`learn_baseline` reduces raw readings; a telemetry store may reduce in SQL). Each bucket is
    judged as a sweep's window is (`peers.judge_peers`): a source's offset is its median minus the
    leave-one-out median of the cohort's *trusted* members in that bucket, and a source that was
    not trustworthy there (impossible or NaN readings, the C SDK's simulated values, frozen while
    its cohort moved) learns nothing from it. So a usual gap is always learned against the peers a
    sweep will compare it with.
    """
    bucket_ms = options.bucket_ms
    prof = profile_for(metric)
    n_sources = len(source_ids)
    offsets = np.full((n_sources, n_buckets), np.nan)
    spacing = np.full((n_sources, n_buckets), np.nan)
    silence = np.full((n_sources, n_buckets), np.nan)
    gaps = np.full((n_sources, n_buckets), np.nan)
    levels = np.full((n_sources, n_buckets), np.nan)
    groups = Cohorts(cohorts)
    silent = np.zeros(n_sources, np.bool_)
    for bucket_start, agg in reductions:
        j = (bucket_start - first_bucket_ms) // bucket_ms
        if not 0 <= j < n_buckets:
            continue
        invalid, _ = invalid_readings(agg, prof, options)
        trusted = judge_peers(agg, groups, prof, options, invalid=invalid, silent=silent).trusted
        centre = groups.loo_median(groups.pack(agg.median, trusted))
        offsets[:, j] = np.where(trusted, agg.median - centre, np.nan)
        levels[:, j] = np.where(np.isfinite(offsets[:, j]), centre, np.nan)
        spacing[:, j] = np.where(agg.count >= 2, agg.interval_ms, np.nan)
        gaps[:, j] = agg.gap_ms
    interval = nan_median(spacing) if n_buckets else np.full(n_sources, np.nan)
    for j in range(n_buckets):  # a bucket without a spacing of its own uses the usual one
        step = np.where(np.isfinite(spacing[:, j]), spacing[:, j], interval)
        silence[:, j] = own_silences(gaps[:, j], step, groups, options)
    return MetricBaseline(
        metric=metric,
        bucket_ms=bucket_ms,
        source_ids=source_ids,
        cohorts=cohorts,
        bucket_start=first_bucket_ms + np.arange(n_buckets, dtype=np.int64) * bucket_ms,
        offset=offsets,
        weight=np.where(np.isfinite(offsets), 1.0, 0.0),
        last_ts=last_ts,
        interval_ms=interval,
        silence=silence,
        level=levels,
    )


def cohort_members(cohorts: Sequence[str]) -> dict[str, Ints]:
    """Row indexes per cohort label, labels in first-seen order."""
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(cohorts):
        groups.setdefault(label, []).append(i)
    return {label: np.array(rows, dtype=np.int64) for label, rows in groups.items()}


def fold_window(
    baseline: MetricBaseline,
    *,
    source_ids: Sequence[str],
    cohorts: Sequence[str],
    offsets: Floats,
    learn: Bools,
    last_ts: Ints,
    interval_ms: Floats,
    now_ms: int,
    options: SweepOptions,
    silence_ms: Floats | None = None,
    off_usual: Bools | None = None,
    levels: Floats | None = None,
) -> MetricBaseline:
    """A new baseline with one sweep folded in (the input is left untouched).

    Where `learn` is true and the offset finite, the window's offset joins the running mean of the
    bucket holding `now_ms`; where `off_usual` is true instead (a window judged off its usual
    gap), it joins the bucket's `off_usual` mean, which only `neighbours` reads. `levels` (the
    cohort level each offset was measured from) join `level` alongside the offsets. A source whose cohort changed starts its offset history afresh.
    Buckets older than the span are dropped, and so are sources not seen within it.
    """
    bucket_ms = baseline.bucket_ms
    index = {s: i for i, s in enumerate(baseline.source_ids)}
    ids, labels = list(baseline.source_ids), list(baseline.cohorts)
    rows = np.empty(len(source_ids), dtype=np.int64)
    moved: list[int] = []
    for k, (source_id, label) in enumerate(zip(source_ids, cohorts, strict=True)):
        row = index.get(source_id)
        if row is None:
            row = index[source_id] = len(ids)
            ids.append(source_id)
            labels.append(label)
        elif labels[row] != label:
            labels[row] = label
            moved.append(row)
        rows[k] = row
    grow = len(ids) - len(baseline)
    current = now_ms // bucket_ms * bucket_ms
    starts = baseline.bucket_start
    new_column = current not in set(starts.tolist())
    if new_column:
        starts = np.append(starts, current)
    offset = np.pad(baseline.offset, ((0, grow), (0, int(new_column))), constant_values=np.nan)
    weight = np.pad(baseline.weight, ((0, grow), (0, int(new_column))))
    silence = np.pad(baseline.silences(), ((0, grow), (0, int(new_column))), constant_values=np.nan)
    old_off, old_off_w = baseline.off_usuals()
    off = np.pad(old_off, ((0, grow), (0, int(new_column))), constant_values=np.nan)
    off_w = np.pad(old_off_w, ((0, grow), (0, int(new_column))))
    level = np.pad(baseline.levels(), ((0, grow), (0, int(new_column))), constant_values=np.nan)
    off_level = np.pad(
        baseline.off_levels(), ((0, grow), (0, int(new_column))), constant_values=np.nan
    )
    last_seen = np.pad(baseline.last_ts, (0, grow), constant_values=-1)
    interval = np.pad(baseline.interval_ms, (0, grow), constant_values=np.nan)
    if moved:
        offset[moved] = np.nan
        weight[moved] = 0.0
        off[moved] = np.nan
        off_w[moved] = 0.0
        level[moved] = np.nan
        off_level[moved] = np.nan
    order = np.argsort(starts, kind="stable")
    starts, offset, weight = starts[order], offset[:, order], weight[:, order]
    silence, off, off_w = silence[:, order], off[:, order], off_w[:, order]
    level, off_level = level[:, order], off_level[:, order]
    col = int(np.searchsorted(starts, current))
    take = learn & np.isfinite(offsets)
    r = rows[take]
    w = weight[r, col]
    old = np.where(w > 0, offset[r, col], 0.0)
    offset[r, col] = (old * w + offsets[take]) / (w + 1.0)
    weight[r, col] = w + 1.0
    if levels is not None:
        level[r, col] = _joined_mean(level[r, col], w, levels[take])
    if off_usual is not None:
        seen = off_usual & ~take & np.isfinite(offsets)
        r = rows[seen]
        w = off_w[r, col]
        old = np.where(w > 0, off[r, col], 0.0)
        off[r, col] = (old * w + offsets[seen]) / (w + 1.0)
        off_w[r, col] = w + 1.0
        if levels is not None:
            off_level[r, col] = _joined_mean(off_level[r, col], w, levels[seen])
    if silence_ms is not None:
        heard = np.isfinite(silence_ms)
        silence[rows[heard], col] = np.fmax(silence[rows[heard], col], silence_ms[heard])
    np.maximum.at(last_seen, rows, last_ts)
    fresh = np.isfinite(interval_ms)
    blended = np.where(
        np.isfinite(interval[rows[fresh]]),
        (1 - options.interval_alpha) * interval[rows[fresh]]
        + options.interval_alpha * interval_ms[fresh],
        interval_ms[fresh],
    )
    interval[rows[fresh]] = blended
    horizon = now_ms - options.baseline_span_ms
    keep_cols = starts + bucket_ms > horizon
    keep_rows = (last_seen >= horizon) | np.isfinite(offset[:, keep_cols]).any(axis=1)
    kept_off_w = off_w[keep_rows][:, keep_cols]
    return MetricBaseline(
        metric=baseline.metric,
        bucket_ms=bucket_ms,
        source_ids=tuple(s for s, k in zip(ids, keep_rows, strict=True) if k),
        cohorts=tuple(c for c, k in zip(labels, keep_rows, strict=True) if k),
        bucket_start=starts[keep_cols],
        offset=offset[keep_rows][:, keep_cols],
        weight=weight[keep_rows][:, keep_cols],
        silence=silence[keep_rows][:, keep_cols],
        last_ts=last_seen[keep_rows],
        interval_ms=interval[keep_rows],
        off_usual=off[keep_rows][:, keep_cols] if kept_off_w.any() else None,
        off_usual_weight=kept_off_w if kept_off_w.any() else None,
        level=level[keep_rows][:, keep_cols] if np.isfinite(level).any() else None,
        off_level=off_level[keep_rows][:, keep_cols] if np.isfinite(off_level).any() else None,
    )


def _joined_mean(mean: Floats, weight: Floats, value: Floats) -> Floats:
    """A running `mean` of `weight` windows with one more window's `value`; the value alone where
    the mean is unknown (NaN, or no windows yet).

    >>> _joined_mean(np.array([2.0, np.nan, 5.0]), np.array([3.0, 2.0, 0.0]), np.ones(3)).tolist()
    [1.75, 1.0, 1.0]
    """
    known = (weight > 0) & np.isfinite(mean)
    out: Floats = np.where(
        known, (np.where(known, mean, 0.0) * weight + value) / (weight + 1.0), value
    )
    return out
