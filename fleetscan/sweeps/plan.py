"""What a sweep needs to fetch, and how the history it fetched joins the stored baseline.

A sweep at `now` always needs its window, `[now - window + 1, now]` (live sweeps on the wall
clock look further ahead, for device clocks gone wrong). Before the window, per metric:

| kind    | when                                                   | history fetched                  |
|---------|--------------------------------------------------------|----------------------------------|
| `learn` | the state has no baseline for the metric yet, or its   | a sample slice at the end of     |
|         | last sweep is older than the baseline span             | every bucket of `--baseline`     |
| `gap`   | the last sweep is older than the window: sweeps missed | the same slices, cut to what is  |
|         |                                                        | new since the last sweep         |
| `fold`  | the window covers everything since the last sweep      | nothing                          |
| `none`  | baselines are off (`--baseline 0`)                     | nothing                          |

So a sweep fetches what is new since the last one plus what its window needs, never the whole
baseline period again: the baseline lives in the state and is folded forward. The same plan
drives the live fetch and the selection `fleetscan replay` makes from stored history, which is
why replay and live sweeps see the same rows. Pure: no clock, network or disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from fleetscan.fleet.baseline import MetricBaseline
from fleetscan.fleet.batch import SeriesBatch
from fleetscan.fleet.options import SweepOptions
from fleetscan.timeutil import DAY_MS, EPOCH_MS_CUTOFF

Range = tuple[int, int]  # inclusive epoch-ms bounds, as Plexus's from/to
FUTURE_LOOKAHEAD_MS = 3650 * DAY_MS  # how far ahead of now a wall-clock window looks for bad clocks


class HistoryKind(StrEnum):
    LEARN = "learn"
    GAP = "gap"
    FOLD = "fold"
    NONE = "none"


@dataclass(frozen=True)
class FetchPlan:
    """The rows one sweep needs: `history[metric]` ranges, then the window from `window_from_ms`."""

    now_ms: int
    window_from_ms: int
    kinds: Mapping[str, HistoryKind]
    history: Mapping[str, tuple[Range, ...]]

    def history_groups(self) -> list[tuple[tuple[Range, ...], list[str]]]:
        """Metrics that need the same history ranges, so each range is fetched once for all."""
        groups: dict[tuple[Range, ...], list[str]] = {}
        for metric, ranges in self.history.items():
            if ranges:
                groups.setdefault(ranges, []).append(metric)
        return list(groups.items())


def history_kind(
    swept_ms: int | None,
    has_baseline: bool,
    *,
    now_ms: int,
    options: SweepOptions,
    use_baseline: bool,
) -> HistoryKind:
    """Which history a metric needs, given when it was last swept and whether it has a baseline.

    >>> opts = SweepOptions(window_ms=600_000, baseline_span_ms=86_400_000)
    >>> [history_kind(s, b, now_ms=10_000_000, options=opts, use_baseline=True).value
    ...  for s, b in [(None, False), (9_700_000, True), (9_000_000, True), (9_000_000, False)]]
    ['learn', 'fold', 'gap', 'learn']
    """
    if not use_baseline:
        return HistoryKind.NONE
    if swept_ms is None or not has_baseline or now_ms - swept_ms >= options.baseline_span_ms:
        return HistoryKind.LEARN
    if swept_ms < now_ms - options.window_ms:
        return HistoryKind.GAP
    return HistoryKind.FOLD


def plan_fetch(
    swept_ms: Mapping[str, int],
    baselines: Mapping[str, MetricBaseline],
    metrics: Sequence[str],
    *,
    now_ms: int,
    options: SweepOptions,
    use_baseline: bool,
    sample_ms: int,
) -> FetchPlan:
    """The history ranges (per metric) and the window a sweep at `now_ms` needs."""
    kinds: dict[str, HistoryKind] = {}
    history: dict[str, tuple[Range, ...]] = {}
    slices: list[tuple[int, int]] | None = None
    for metric in dict.fromkeys(metrics):
        last = swept_ms.get(metric)
        kind = history_kind(
            last, metric in baselines, now_ms=now_ms, options=options, use_baseline=use_baseline
        )
        kinds[metric] = kind
        if kind in (HistoryKind.LEARN, HistoryKind.GAP):
            if slices is None:
                slices = baseline_slices(now_ms=now_ms, options=options, sample_ms=sample_ms)
            if kind is HistoryKind.LEARN or last is None:
                history[metric] = tuple(slices)
            else:
                history[metric] = _clip(slices, last + 1, now_ms - options.window_ms)
        else:
            history[metric] = ()
    return FetchPlan(now_ms, now_ms - options.window_ms + 1, kinds, history)


def _clip(ranges: Sequence[Range], low: int, high: int) -> tuple[Range, ...]:
    """`ranges` cut to `[low, high]`, empty ones dropped.

    >>> _clip([(0, 9), (20, 29), (40, 49)], 25, 44)
    ((25, 29), (40, 44))
    """
    out = []
    for a, b in ranges:
        lo, hi = max(a, low), min(b, high)
        if lo <= hi:
            out.append((lo, hi))
    return tuple(out)


def split_batch(batch: SeriesBatch, boundary_ms: int) -> tuple[SeriesBatch, SeriesBatch]:
    """`(history, window)`: rows stamped at or before `boundary_ms`, and the rest.

    Each part keeps only its own sources, in the batch's order, with the batch's cohort labels;
    rows counted as dropped (NaN/null values from the window fetch) belong to the window, and so
    do rows stamped before 2001 (a board whose clock was never set: the C SDK without NTP stamps
    1970), so the sweep reports them as invalid instead of learning from them.
    """
    old = batch.ts_ms <= boundary_ms
    if boundary_ms >= EPOCH_MS_CUTOFF:  # a sweep in real time (tests may use toy times)
        old &= batch.ts_ms >= EPOCH_MS_CUTOFF
    return _part(batch, old, with_dropped=False), _part(batch, ~old, with_dropped=True)


def _part(batch: SeriesBatch, rows: np.ndarray, *, with_dropped: bool) -> SeriesBatch:
    n = len(batch.source_ids)
    present = np.zeros(n, bool)
    present[batch.source[rows]] = True
    if with_dropped:
        present |= batch.dropped > 0
    keep = np.flatnonzero(present)
    if len(keep) == n:
        part = batch.select(rows)
        return part if with_dropped else _without_dropped(part)
    remap = np.full(n, -1, np.int64)
    remap[keep] = np.arange(len(keep))
    return SeriesBatch(
        batch.metric,
        tuple(batch.source_ids[i] for i in keep),
        tuple(batch.cohorts[i] for i in keep),
        remap[batch.source[rows]],
        batch.ts_ms[rows],
        batch.value[rows],
        batch.dropped[keep] if with_dropped else np.zeros(len(keep), np.int64),
    )


def _without_dropped(batch: SeriesBatch) -> SeriesBatch:
    if not batch.dropped.any():
        return batch
    return SeriesBatch(
        batch.metric,
        batch.source_ids,
        batch.cohorts,
        batch.source,
        batch.ts_ms,
        batch.value,
        np.zeros(len(batch.source_ids), np.int64),
    )


def fill_baseline(base: MetricBaseline, learned: MetricBaseline) -> MetricBaseline:
    """`base` with the (source, bucket) offsets it lacks taken from `learned`.

    What the state already holds wins: buckets folded from sweeps are never replaced, only the
    buckets of missed sweeps are filled in. New sources join with the cohort they were learned in.
    """
    if len(learned) == 0:
        return base
    if base.bucket_ms != learned.bucket_ms:
        return learned  # the bucket length changed: the stored offsets no longer line up
    index = {s: i for i, s in enumerate(base.source_ids)}
    ids, cohorts = list(base.source_ids), list(base.cohorts)
    rows = np.empty(len(learned), np.int64)
    for k, source_id in enumerate(learned.source_ids):
        row = index.get(source_id)
        if row is None:
            row = index[source_id] = len(ids)
            ids.append(source_id)
            cohorts.append(learned.cohorts[k])
        rows[k] = row
    starts = np.union1d(base.bucket_start, learned.bucket_start).astype(np.int64)
    offset = np.full((len(ids), len(starts)), np.nan)
    weight = np.zeros((len(ids), len(starts)))
    old_cols = np.searchsorted(starts, base.bucket_start)
    offset[: len(base), old_cols] = base.offset
    weight[: len(base), old_cols] = base.weight
    new_cols = np.searchsorted(starts, learned.bucket_start)
    block = offset[np.ix_(rows, new_cols)]
    fill = ~np.isfinite(block) & np.isfinite(learned.offset)
    block[fill] = learned.offset[fill]
    wblock = weight[np.ix_(rows, new_cols)]
    wblock[fill] = learned.weight[fill]
    offset[np.ix_(rows, new_cols)] = block
    weight[np.ix_(rows, new_cols)] = wblock
    silence = np.full((len(ids), len(starts)), np.nan)
    silence[: len(base), old_cols] = base.silences()
    sblock = silence[np.ix_(rows, new_cols)]
    silence[np.ix_(rows, new_cols)] = np.where(np.isfinite(sblock), sblock, learned.silences())
    level = np.full((len(ids), len(starts)), np.nan)
    level[: len(base), old_cols] = base.levels()
    lblock = level[np.ix_(rows, new_cols)]
    lblock[fill] = learned.levels()[fill]
    level[np.ix_(rows, new_cols)] = lblock
    old_off, old_off_w = base.off_usuals()  # windows off the usual gap come only from sweeps
    off = np.full((len(ids), len(starts)), np.nan)
    off_w = np.zeros((len(ids), len(starts)))
    off[: len(base), old_cols] = old_off
    off_w[: len(base), old_cols] = old_off_w
    off_level = np.full((len(ids), len(starts)), np.nan)
    off_level[: len(base), old_cols] = base.off_levels()
    last_ts = np.pad(base.last_ts, (0, len(ids) - len(base)), constant_values=-1)
    np.maximum.at(last_ts, rows, learned.last_ts)
    interval = np.pad(base.interval_ms, (0, len(ids) - len(base)), constant_values=np.nan)
    missing = ~np.isfinite(interval[rows])
    interval[rows[missing]] = learned.interval_ms[missing]
    return MetricBaseline(
        metric=base.metric,
        bucket_ms=base.bucket_ms,
        source_ids=tuple(ids),
        cohorts=tuple(cohorts),
        bucket_start=starts,
        offset=offset,
        weight=weight,
        last_ts=last_ts,
        interval_ms=interval,
        silence=silence,
        off_usual=off if off_w.any() else None,
        off_usual_weight=off_w if off_w.any() else None,
        level=level if np.isfinite(level).any() else None,
        off_level=off_level if np.isfinite(off_level).any() else None,
    )


def baseline_slices(*, now_ms: int, options: SweepOptions, sample_ms: int) -> list[tuple[int, int]]:
    """Inclusive `(from_ms, to_ms)` ranges to fetch: the last `sample_ms` of every bucket.

    The baseline needs offsets per hour over days, not every reading: a short sample slice at the
    end of each bucket compares sources at the same moments just as well and keeps a 7-day
    baseline to a few hundred thousand rows.

    The last range ends where the window starts, so a source that went quiet just before the
    window is still known (and reported stale) even though its bucket is not complete.

    >>> from fleetscan.fleet.options import SweepOptions
    >>> opts = SweepOptions(window_ms=600_000, baseline_span_ms=3 * 3_600_000)
    >>> baseline_slices(now_ms=4 * 3_600_000 + 900_000, options=opts, sample_ms=120_000)
    [(7080000, 7199999), (10680000, 10799999), (14280000, 14399999), (14580001, 14700000)]
    """
    bucket = options.bucket_ms
    start = now_ms - options.baseline_span_ms
    end = now_ms - options.window_ms
    if end <= start:
        return []
    if sample_ms >= bucket:
        return [(start, end)]
    slices = []
    for bucket_start in range(start // bucket * bucket, end + 1, bucket):
        upper = min(bucket_start + bucket - 1, end)
        lower = max(upper - sample_ms + 1, start, bucket_start)
        if lower <= upper:
            slices.append((lower, upper))
    return slices
