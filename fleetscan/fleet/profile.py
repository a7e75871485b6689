"""A board's usual gap to its peers *at this time of day*: the daily profile behind drift checks.

Real boards have habits of their own: sun through a window a few hours a day (more on clear days,
less on cloudy ones), a radiator on weekdays. Their gap to the peers is small at night and large in
the daytime, so one usual gap with one σ per board turns every sunny morning into drift and lets
the daytime spread hide a night-time fault. `daily_figures` judges a window against what the board
did around the same hour on past days instead:

- the **usual gap** is the median of the board's hourly gaps within ±`hours` of the window's hour
  (UTC) on past days, of the same kind of day (weekday or weekend) when there are enough;
- the **range** is the lowest and highest of those gaps: a gap inside it is normal, however
  bimodal the history (sunny and cloudy days), and a z counts only what lies beyond it; where
  the board has a habit at this hour (`habit_range`) it reaches `HABIT_GAIN` times as far on the
  habit's side and back to the board's all-hours gap on the other (a dull day); a clear habit
  seen on one past day only reaches `ONE_DAY_GAIN` times as far (that day may have been dull);
- the **scale** is pooled over ±`scale_hours`: 1.4826 × the median absolute deviation of every
  gap from its own hour's median (one hour over a few days is far too few values for a spread),
  and at least half the range's width over the threshold (a board that varied by 7 °C between
  days at this hour may well vary a little more);
- where an hour has fewer than `min_days` past days, the figures widen smoothly to the same hours
  of any kind of day, then to ±`scale_hours`, and last to every hour (the median and σ of all
  buckets, no range): `level` says which was used, so a reason can say so.

Everything is vectorised over sources; the learner's buckets come in as an (S, B) matrix.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from fleetscan.fleet.robust import MAD_TO_SIGMA, Bools, Floats, Ints, nan_median
from fleetscan.timeutil import DAY_MS, HOUR_MS

PAST_DAYS_MIN_AGE_MS = 12 * HOUR_MS  # a bucket is "a past day at this hour" once this old
# A habit (sun on a window) seen on past days may be this many times as strong on another: a
# cloudy day lets through a fraction of a clear day's sun, and a few days may all be cloudy.
HABIT_GAIN = 3.0
# A habit seen on one past day only may be this many times as strong: that day's weather is not
# known, and an overcast day lets through about a sixth of a clear day's sun.
ONE_DAY_GAIN = 6.0


class Level(IntEnum):
    """Which history a source's figures come from, most specific first."""

    SAME_DAYS = 0  # this hour (± hours) on past days of the same kind (weekday / weekend)
    ANY_DAYS = 1  # this hour (± hours) on any past day
    NEAR_HOURS = 2  # ± scale_hours on any past day
    ALL_HOURS = 3  # every completed bucket: the median and σ, no range
    NONE = 4  # nothing learned
    LONG_OFF = 5  # all hours again: off its usual gap so long no hour's range may vouch for it


LEVEL_TEXT = {
    Level.SAME_DAYS: "at this hour",
    Level.ANY_DAYS: "at this hour",
    Level.NEAR_HOURS: "around this hour",
    Level.ALL_HOURS: "at any hour",
    Level.NONE: "",
    Level.LONG_OFF: "at any hour",
}


@dataclass(frozen=True, eq=False)
class DailyFigures:
    """Per source: the usual gap at this hour, the past days' range, the scale and where from."""

    usual: Floats
    low: Floats
    high: Floats
    sigma: Floats
    days: Ints  # past days behind the figures
    level: Ints  # `Level` codes


def is_weekend(day: Ints) -> Bools:
    """Saturday or Sunday for day numbers since 1970-01-01 (a Thursday).

    >>> is_weekend(np.array([20616, 20617, 20618])).tolist()  # 2026-06-12 (Fri), 13, 14
    [False, True, True]
    """
    out: Bools = (day + 3) % 7 >= 5
    return out


def daily_figures(
    offsets: Floats,
    bucket_start: Ints,
    *,
    bucket_ms: int,
    at_ms: int,
    hours: int,
    scale_hours: int,
    min_days: int,
    threshold: float,
    floor: float = 0.0,
) -> DailyFigures:
    """The figures of every row of `offsets` (S × B, NaN = no gap learned) for a window at `at_ms`.

    >>> days = np.arange(3) * DAY_MS
    >>> starts = np.sort(np.concatenate([days + h * HOUR_MS for h in range(24)]))
    >>> hour = (starts // HOUR_MS) % 24
    >>> sunny = np.where((hour >= 9) & (hour <= 14), 8.0, 0.0) + 0.01 * (starts // DAY_MS)
    >>> f = daily_figures(sunny[None, :], starts, bucket_ms=HOUR_MS, at_ms=3 * DAY_MS + 12 * HOUR_MS,
    ...                   hours=1, scale_hours=3, min_days=2, threshold=3.0)
    >>> float(f.usual[0]), Level(int(f.level[0])).name
    (8.01, 'ANY_DAYS')
    >>> round(float(f.low[0]), 3), round(float(f.high[0]), 2)  # a habit: see `habit_range`
    (0.015, 24.03)

    On the second day an hour has one past day: all-hours figures, but a clear habit seen there
    or an hour either side widens the range (at 12:00, the sun of the day before; at 08:00, the
    sun that came at 09:00), while a plain hour keeps its point.

    >>> kw = dict(bucket_ms=HOUR_MS, hours=1, scale_hours=3, min_days=2, threshold=3.0)
    >>> for at in (DAY_MS + 12 * HOUR_MS, DAY_MS + 8 * HOUR_MS, DAY_MS + 3 * HOUR_MS):
    ...     g = daily_figures(sunny[None, :36], starts[:36], at_ms=at, **kw)
    ...     print(Level(int(g.level[0])).name, float(g.usual[0]), float(g.low[0]),
    ...           round(float(g.high[0]), 2))
    ALL_HOURS 0.005 0.005 47.98
    ALL_HOURS 0.005 0.0 47.98
    ALL_HOURS 0.005 0.005 0.01
    """
    n_sources = offsets.shape[0]
    middle = bucket_start + bucket_ms // 2
    hour_of = (middle % DAY_MS) // HOUR_MS
    day_of = middle // DAY_MS
    target_hour = (at_ms % DAY_MS) // HOUR_MS
    apart = np.abs(hour_of - target_hour)
    apart = np.minimum(apart, 24 - apart)
    same_kind = is_weekend(day_of) == bool(is_weekend(np.array([at_ms // DAY_MS]))[0])
    # "Past days" means past days: the last hours of today would let a slow drift teach itself.
    earlier_days = bucket_start + bucket_ms <= at_ms - PAST_DAYS_MIN_AGE_MS
    finite = np.isfinite(offsets)
    _, day_index = np.unique(day_of, return_inverse=True)
    one_hot = np.zeros((len(day_of), int(day_index.max()) + 1 if len(day_of) else 0))
    one_hot[np.arange(len(day_of)), day_index] = 1.0

    def days_in(columns: Bools) -> Ints:
        seen = (finite & columns[None, :]).astype(np.float64) @ one_hot
        out: Ints = (seen > 0).sum(axis=1).astype(np.int64)
        return out

    near = (apart <= hours) & earlier_days
    wide = (apart <= scale_hours) & earlier_days
    masks = (near & same_kind, near, wide)
    level = np.full(n_sources, int(Level.ALL_HOURS), np.int64)
    days = np.zeros(n_sources, np.int64)
    counts = {
        code: days_in(masks[code]) for code in (Level.SAME_DAYS, Level.ANY_DAYS, Level.NEAR_HOURS)
    }
    for code in (Level.NEAR_HOURS, Level.ANY_DAYS, Level.SAME_DAYS):  # most specific wins
        count = counts[code]
        enough = count >= min_days
        level = np.where(enough, int(code), level)
        days = np.where(enough, count, days)
    total = finite.any(axis=1)
    level = np.where(total, level, int(Level.NONE))

    usual = np.full(n_sources, np.nan)
    low, high, sigma = usual.copy(), usual.copy(), usual.copy()
    everything, spread_all = all_hours(offsets)
    rows = level == int(Level.ALL_HOURS)
    usual[rows], low[rows], high[rows], sigma[rows] = (
        everything[rows],
        everything[rows],
        everything[rows],
        spread_all[rows],
    )
    # An hour seen on too few past days keeps the all-hours figures, but a clear habit there
    # (its gap on those days more than `threshold` σ from its all-hours gap: sun on the window
    # yesterday morning) is no drift: its range reaches `ONE_DAY_GAIN` times as far.
    # The centre and σ stay the all-hours ones, and such windows are still learned whatever
    # their status, so one odd day cannot become a board's normal.
    seen_days = counts[Level.ANY_DAYS]  # past days seen within ±hours: `near`

    def one_day_habit(candidates: Bools, code: Level) -> tuple[Ints, Floats, Floats]:
        """The `candidates` rows with a clear habit in `masks[code]`, and its widened range."""
        columns = masks[code]
        seen = np.flatnonzero(candidates & (counts[code] > 0))
        chosen = offsets[np.ix_(seen, columns)]
        # The habit is the hour nearest this one that strayed farthest (the sun may rise an
        # hour earlier today than yesterday).
        far = np.where(np.isfinite(chosen), np.abs(chosen - everything[seen][:, None]), -1.0)
        once = (
            np.take_along_axis(chosen, np.argmax(far, axis=1)[:, None], axis=1)[:, 0]
            if len(seen)
            else np.zeros(0)
        )
        with np.errstate(invalid="ignore"):
            clear = np.abs(once - everything[seen]) > threshold * np.fmax(spread_all[seen], floor)
        seen, chosen, once = seen[clear], chosen[clear], once[clear]
        if not len(seen):
            return seen, np.zeros(0), np.zeros(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN
            once_low = np.fmin(everything[seen], np.nanmin(chosen, axis=1))
            once_high = np.fmax(everything[seen], np.nanmax(chosen, axis=1))
        wide_low, wide_high = habit_range(
            everything[seen], once, once_low, once_high, spread_all[seen], ONE_DAY_GAIN
        )
        return seen, wide_low, wide_high

    seen, wide_low, wide_high = one_day_habit(rows, Level.ANY_DAYS)
    low[seen], high[seen] = wide_low, wide_high
    all_days = days_in(np.ones(len(day_of), np.bool_))
    days = np.where(rows, all_days, days)
    days[seen] = seen_days[seen]
    for code in (Level.SAME_DAYS, Level.ANY_DAYS, Level.NEAR_HOURS):
        rows = level == int(code)
        if not rows.any():
            continue
        columns = masks[code]
        chosen = offsets[np.ix_(rows, columns)]
        usual[rows] = nan_median(chosen)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN
            low[rows] = np.nanmin(chosen, axis=1)
            high[rows] = np.nanmax(chosen, axis=1)
        pool = wide & same_kind if code == Level.SAME_DAYS else wide
        pooled = _pooled_sigma(offsets[rows][:, pool], hour_of[pool])
        width = (high[rows] - low[rows]) / (2.0 * threshold)
        sigma[rows] = np.fmax(pooled, width)
        # The board's gap over all hours of the same kind of day is where its habits start from.
        base = nan_median(offsets[rows][:, same_kind]) if code == Level.SAME_DAYS else None
        low[rows], high[rows] = habit_range(
            everything[rows] if base is None else base,
            usual[rows],
            low[rows],
            high[rows],
            sigma[rows],
        )
    # Too few past days of this kind (the first Monday after a weekend), where the usual gap of
    # all the days is no habit: a clear habit seen on the one day of this kind (a radiator
    # under weekday heating, seen on Friday only) widens the range as on a board's second day.
    with np.errstate(invalid="ignore"):
        no_habit = np.abs(usual - everything) <= sigma
    few_same = ((level == int(Level.ANY_DAYS)) | (level == int(Level.NEAR_HOURS))) & no_habit
    seen, wide_low, wide_high = one_day_habit(few_same, Level.SAME_DAYS)
    low[seen], high[seen] = np.fmin(low[seen], wide_low), np.fmax(high[seen], wide_high)
    return DailyFigures(usual, low, high, sigma, days.astype(np.int64), level)


def all_hours(offsets: Floats) -> tuple[Floats, Floats]:
    """Each row's all-hours figures: the median of its gaps and 1.4826 × their MAD.

    >>> [x.tolist() for x in all_hours(np.array([[0.0, 1.0, 2.0, 9.0]]))]
    [[1.5], [1.4826]]
    """
    centre = nan_median(offsets)
    with np.errstate(invalid="ignore"):
        spread: Floats = MAD_TO_SIGMA * nan_median(np.abs(offsets - centre[:, None]))
    return centre, spread


def habit_range(
    base: Floats, usual: Floats, low: Floats, high: Floats, sigma: Floats, gain: float = HABIT_GAIN
) -> tuple[Floats, Floats]:
    """The past days' range at this hour, widened where the board has a habit at this hour.

    A habit is a usual gap at this hour more than one σ away from the board's gap over all hours
    (`base`): sun on its window, a radiator. Its strength varies with the weather (a few clear or
    a few cloudy days make a poor sample), so on the habit's side the range reaches
    `HABIT_GAIN` times as far from `base` as past days went, and on the other side back to
    `base` (a dull day without it).

    >>> r = habit_range(*(np.array([v]) for v in (0.0, 1.5, 0.5, 3.0, 0.5)))
    >>> [float(x[0]) for x in r]  # warm at this hour: up to 3 × 3.0, down to no habit at all
    [0.0, 9.0]
    >>> [float(x[0]) for x in habit_range(*(np.array([v]) for v in (0.0, 0.1, -0.2, 0.3, 0.2)))]
    [-0.2, 0.3]
    """
    with np.errstate(invalid="ignore"):
        up = usual - base > sigma
        down = base - usual > sigma
    wide_high = np.where(up, np.fmax(high, base + gain * (high - base)), high)
    wide_low = np.where(down, np.fmin(low, base + gain * (low - base)), low)
    wide_low = np.where(up, np.fmin(wide_low, base), wide_low)
    wide_high = np.where(down, np.fmax(wide_high, base), wide_high)
    return wide_low, wide_high


def _pooled_sigma(offsets: Floats, hour_of: Ints) -> Floats:
    """1.4826 × the median of |gap − its own hour's median|, over every column given."""
    middle, count = hourly_medians(offsets, hour_of)
    residual = np.abs(offsets - middle[:, hour_of])
    # An hour seen once has no residual of its own: it must not read as a perfect fit.
    residual[count[:, hour_of] < 2] = np.nan
    out: Floats = MAD_TO_SIGMA * nan_median(residual)
    return out


def hourly_medians(offsets: Floats, hour_of: Ints) -> tuple[Floats, Ints]:
    """(S, 24) medians of each row's columns per hour of day, and how many finite values each
    had, in one vectorised median (columns of one hour are stacked as a day axis)."""
    n_sources, n_columns = offsets.shape
    order = np.argsort(hour_of, kind="stable")
    sorted_hours = hour_of[order]
    first = np.searchsorted(sorted_hours, sorted_hours)
    rank = np.empty(n_columns, np.int64)
    rank[order] = np.arange(n_columns) - first
    depth = int(rank.max()) + 1 if n_columns else 1
    cube = np.full((n_sources, 24, depth), np.nan)
    cube[:, hour_of, rank] = offsets
    medians = nan_median(cube.reshape(n_sources * 24, depth)).reshape(n_sources, 24)
    counts = np.isfinite(cube).sum(axis=2).astype(np.int64)
    return medians, counts


@dataclass(frozen=True, eq=False)
class DailyTrend:
    """Per source: how its gap changed from one day to the next at the same hour."""

    per_day: Floats  # median of (gap − the gap at the same hour a day earlier), units per day
    sigma: Floats  # 1.4826 × MAD of those day-to-day changes
    pairs: Ints  # (hour, day before) pairs behind them


def daily_trend(offsets: Floats, bucket_start: Ints) -> DailyTrend:
    """The day-to-day change of each row's gap, hour by hour: a board whose gap rose through the
    whole history (a drift already under way when learning began) shows it, while a board that is
    in the sun every day, or warm on weekdays only, does not (its changes cancel out).

    >>> starts = np.arange(72, dtype=np.int64) * HOUR_MS
    >>> hour = (starts // HOUR_MS) % 24
    >>> gaps = np.vstack([starts / DAY_MS * 5.0, np.where((hour > 9) & (hour < 15), 6.0, 0.0)])
    >>> t = daily_trend(gaps, starts)
    >>> t.per_day.round(2).tolist(), t.pairs.tolist()
    ([5.0, 0.0], [48, 48])
    """
    n_sources = offsets.shape[0]
    if offsets.shape[1] == 0:
        empty = np.full(n_sources, np.nan)
        return DailyTrend(empty, empty.copy(), np.zeros(n_sources, np.int64))
    earlier = np.searchsorted(bucket_start, bucket_start - DAY_MS)
    earlier = np.minimum(earlier, len(bucket_start) - 1)
    paired = bucket_start[earlier] == bucket_start - DAY_MS
    change = offsets[:, paired] - offsets[:, earlier[paired]]
    per_day = nan_median(change)
    sigma = MAD_TO_SIGMA * nan_median(np.abs(change - per_day[:, None]))
    pairs = np.isfinite(change).sum(axis=1).astype(np.int64)
    return DailyTrend(per_day, sigma, pairs)


# Hour-to-same-hour-a-day-earlier pairs (a day of history behind a day) before a trend counts.
TREND_MIN_PAIRS = 24
# A gap must have moved the same way through at least this much history before `steady_change`
# calls it a drift under way: a daily habit rises for a morning at most (the sun sets, a radiator
# steps once and holds), so no habit moves one way through half a day.
STEADY_MIN_BUCKETS = 12
STEADY_PARTS = 4


def steady_change(offsets: Floats, *, threshold: float) -> Floats:
    """Per row: how far its gap moved through its whole history, where it moved the same way in
    every quarter of it (else NaN), for a history too short for `daily_trend`.

    The history's learned buckets are split into four quarters in time order. The gap moved
    steadily when each quarter's median lies beyond the one before, on the same side, by more than
    `threshold` times the noise of such a step, where the noise is the scatter of the buckets about
    the straight line through the first and last quarters' medians (1.4826 × the MAD of the
    residuals). The change is the last quarter's median minus the first's. A steady drift follows
    that line closely, a passing bump or two aside; a board in the sun (flat all night, then up)
    or one whose radiator stepped on mid-history strays far from it and moves in one or two
    quarters only.

    >>> hours = np.arange(16, dtype=np.float64)
    >>> noise = np.tile([0.02, -0.02], 8)
    >>> drift = hours * 0.2 + noise  # 0.2 °C an hour, all along
    >>> sun = np.where(hours < 8, 0.0, (hours - 7) * 1.0) + noise  # flat all night, then up
    >>> short = np.r_[drift[:11], [np.nan] * 5]  # 11 learned buckets: too short to tell
    >>> steady_change(np.vstack([drift, sun, short]), threshold=3.0).round(2).tolist()
    [2.4, nan, nan]
    """
    n_rows, n_columns = offsets.shape
    out = np.full(n_rows, np.nan)
    if n_columns < STEADY_MIN_BUCKETS:
        return out
    valid = np.isfinite(offsets)
    count = valid.sum(axis=1)
    rank = np.cumsum(valid, axis=1) - 1
    part = (STEADY_PARTS * rank) // np.maximum(count, 1)[:, None]
    in_part = [valid & (part == k) for k in range(STEADY_PARTS)]
    medians = np.column_stack([nan_median(np.where(m, offsets, np.nan)) for m in in_part])
    centres = np.column_stack([nan_median(np.where(m, rank, np.nan)) for m in in_part])
    # The straight line through the first and last quarters, and the buckets' scatter about it.
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (medians[:, -1] - medians[:, 0]) / (centres[:, -1] - centres[:, 0])
    line = medians[:, :1] + slope[:, None] * (rank - centres[:, :1])
    residual = np.where(valid, offsets - line, np.nan)
    noise = MAD_TO_SIGMA * nan_median(np.abs(residual - nan_median(residual)[:, None]))
    # A quarter's median of m buckets has a spread of about 1.25 σ / √m; a step between two, √2 more.
    per_part = np.maximum(count // STEADY_PARTS, 1)
    step_noise = 1.25 * np.sqrt(2.0) * noise / np.sqrt(per_part)
    moves = np.diff(medians, axis=1)
    with np.errstate(invalid="ignore"):
        up = (moves > threshold * step_noise[:, None]).all(axis=1)
        down = (moves < -threshold * step_noise[:, None]).all(axis=1)
    steady = (count >= STEADY_MIN_BUCKETS) & (up | down)
    out[steady] = (medians[:, -1] - medians[:, 0])[steady]
    return out
