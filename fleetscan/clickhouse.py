"""The fleet sweep pushed down into ClickHouse, Plexus's own store (`plexus.telemetry`, docs/plexus-contract.md §6).

Two grouped queries per metric, so only small rows travel, never raw readings:

- `window_aggregates`: one row per source with every column of `reduce.WindowAggregates`
  (counts, median, range, spacing, second-difference noise, lag-1 autocorrelation, grid share,
  spikes, longest gap), computed with the same formulas as `reduce.py` over the source's window
  readings sorted by time (`groupArray` + array functions, all inside ClickHouse);
- `bucket_baseline`: the same columns per (source, baseline bucket), over the same rows the HTTP
  path samples (the last `sample_ms` of each bucket, `fetch.baseline_slices`), handed to the one
  baseline learner (`baseline.learn_from_buckets`), which judges each bucket as a window.

The queries run on a `Connection` (`clickhouse_connection.py`: `chdb:PATH` or an http(s)
server, the password never printed). The SQL reads one table and groups by source, so it runs unchanged
on Plexus's Distributed `telemetry_dist` across a cluster, which is read whenever the database
has it (`Target.resolved`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from fleetscan.clickhouse_connection import Connection, check_url
from fleetscan.errors import InputError
from fleetscan.fleet.baseline import MetricBaseline, bucket_window, learn_from_buckets
from fleetscan.fleet.options import SweepOptions
from fleetscan.fleet.reduce import (
    GRID_STEP,
    GRID_TOL,
    SIMULATED_RANGE,
    SPIKE_FLOOR,
    SPIKE_K,
    SPIKE_LAG,
    WindowAggregates,
)
from fleetscan.fleet.robust import MAD_TO_SIGMA, Ints
from fleetscan.health import SENSOR_OK, SensorReport, apply_health
from fleetscan.sensors import GENERIC, MetricProfile, profile_for
from fleetscan.sweeps.plan import HistoryKind, baseline_slices, fill_baseline
from fleetscan.sweeps.step import (
    LifecycleStep,
    StepOptions,
    SweepState,
    plan_sweep,
    reduced_step,
)
from fleetscan.timeutil import EPOCH_MS_CUTOFF

__all__ = ["Connection", "Target", "check_url", "clickhouse_replay", "clickhouse_sweep"]

TS = "toUnixTimestamp64Milli(timestamp)"


LOCAL_TABLE = "telemetry"  # Plexus's ReplicatedMergeTree: on a cluster, one shard's rows
DISTRIBUTED_TABLE = "telemetry_dist"  # its Distributed wrapper, which Plexus's readers query


@dataclass(frozen=True)
class Target:
    """Where the telemetry table is, and whose rows to read; `table=""` picks one (`resolved`)."""

    database: str = "plexus"
    table: str = ""
    org: str | None = None

    def resolved(self, conn: Connection) -> Target:
        """This target with its table named: `telemetry_dist` where the database has one (a
        cluster, where the local table holds only one shard's rows), else `telemetry`."""
        if self.table:
            return self
        found = conn.columns(
            f"SELECT name FROM system.tables WHERE database = {quote(_identifier(self.database))} "
            f"AND name IN ({quote(DISTRIBUTED_TABLE)}, {quote(LOCAL_TABLE)})"
        )
        names = set(found[0].tolist()) if found else set()
        if not names:
            raise InputError(
                f"no table {self.database}.{LOCAL_TABLE} at --clickhouse {conn.url}: point it at "
                "Plexus's ClickHouse, and --database at the database holding its telemetry"
            )
        return replace(self, table=DISTRIBUTED_TABLE if DISTRIBUTED_TABLE in names else LOCAL_TABLE)


def quote(text: str) -> str:
    """A ClickHouse string literal.

    >>> quote("it's")
    "'it\\\\'s'"
    """
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise InputError(f"not a ClickHouse identifier: {name!r}")
    return name


def _where(target: Target, metric: str, lo_ms: int, hi_ms: int) -> str:
    org = f"org_id = {quote(target.org)} AND " if target.org else ""
    return (
        f"{org}metric = {quote(metric)} AND timestamp >= fromUnixTimestamp64Milli({lo_ms}) "
        f"AND timestamp <= fromUnixTimestamp64Milli({hi_ms})"
    )


def _table(target: Target) -> str:
    return f"{_identifier(target.database)}.{_identifier(target.table or LOCAL_TABLE)}"


def _label(group_by: Sequence[str]) -> tuple[str, str]:
    """SQL for a row's cohort label and for "the row carries a group-by tag"."""
    if not group_by:
        return "''", "0"
    keys = ", ".join(quote(k) for k in group_by)
    label = "arrayStringConcat([" + ", ".join(f"tags[{quote(k)}]" for k in group_by) + "], '/')"
    return label, f"hasAny(mapKeys(tags), [{keys}])"


def _possible(prof: MetricProfile) -> str:
    if prof is GENERIC:
        return "isFinite(value)"
    low = f"value > {prof.low!r}" if prof.exclusive_low else f"value >= {prof.low!r}"
    return f"({low} AND value <= {prof.high!r})"


def _median(arr: str, n: str) -> str:
    """Median of a sorted 1-based array of `n` values, the average of the middle two (NaN: none)."""
    return f"if({n} > 0, ({arr}[intDiv({n} - 1, 2) + 1] + {arr}[intDiv({n}, 2) + 1]) / 2, nan)"


def _aggregates_sql(
    prof: MetricProfile,
    metric: str,
    *,
    rows: str,
    keys: str,
    in_window: str,
    tolerance: int,
    label: str,
    tagged: str,
    extra: Sequence[tuple[str, str]] = (),
) -> str:
    """SQL for every `WindowAggregates` column per group of `keys` over the rows of `rows`,
    with the formulas of `reduce.py`; `in_window` says which rows belong to the window.
    `extra` are more (name, aggregate) columns per group, returned after those."""
    valid = f"({in_window} AND {_possible(prof)})"
    bounds = SIMULATED_RANGE.get(metric) if prof is not GENERIC else None
    sim = (
        f"(n >= 3 AND vmin >= {bounds[0] - GRID_TOL!r} AND vmax <= {bounds[1] + GRID_TOL!r})"
        if bounds
        else "0"
    )
    floor = SPIKE_FLOOR * prof.noise_floor
    lag = SPIKE_LAG
    return f"""
SELECT
  {keys}, cohort, n, nan_n, invalid_n, future_n, past_n, median, vmin, vmax, last_ts,
  if(n >= 2, (t[n] - t[1]) / (n - 1), nan) AS interval_ms,
  noise,
  if({sim}, if(den > 0, num / den, nan), nan) AS lag1,
  if({sim}, arrayCount(x -> abs(x / {GRID_STEP!r} - roundBankers(x / {GRID_STEP!r}))
                            * {GRID_STEP!r} < {GRID_TOL!r}, v) / n, nan) AS grid,
  if(n > {2 * lag} AND vmax - vmin > thr,
     arrayCount((x, before, after) -> greatest(least(x - before, x - after),
                                               -greatest(x - before, x - after)) > thr,
                arraySlice(v, {lag + 1}, m), arraySlice(v, 1, m), arraySlice(v, {2 * lag + 1}, m)),
     0) AS spikes,
  if(n >= 2, toFloat64(gap), nan) AS gap_ms,
  if(n >= 2, t[arrayFirstIndex(x -> x = gap, steps) + 1], -1) AS gap_end_ts,
  if(n >= 1, t[1], -1) AS first_ts
  {"".join(f", {name}" for name, _ in extra)}
FROM (
  SELECT *,
    pts.2 AS v,
    pts.1 AS t,
    arraySort(v) AS sv,
    {_median("sv", "n")} AS median,
    if(n > 0, sv[1], nan) AS vmin,
    if(n > 0, sv[n], nan) AS vmax,
    greatest(n - 2, 0) AS n2,
    arraySort(arrayMap((a, b, c) -> abs((c - 2 * b) + a),
                       arraySlice(v, 1, n2), arraySlice(v, 2, n2), arraySlice(v, 3, n2))) AS d2,
    if(n >= 3, {MAD_TO_SIGMA!r} * {_median("d2", "(n - 2)")} / {math.sqrt(6.0)!r}, nan) AS noise,
    if(isNaN(noise), {floor!r}, greatest({SPIKE_K!r} * noise, {floor!r})) AS thr,
    arrayMap(x -> x - median, v) AS c,
    arraySum(arrayMap((a, b) -> b * a, arrayPopBack(c), arrayPopFront(c))) AS num,
    greatest(n - {2 * lag}, 0) AS m,  -- readings with {lag} on each side: spike candidates
    arraySum(arrayMap(x -> x * x, c)) AS den,
    arrayPopFront(arrayDifference(t)) AS steps,
    arrayMax(arrayPushBack(steps, toInt64(-1))) AS gap
  FROM (
    SELECT
      {keys},
      argMaxIf({label}, ts, {tagged}) AS cohort,
      arraySort(groupArrayIf((ts, value), {valid})) AS pts,  -- by time (then value)
      toInt64(length(pts)) AS n,
      countIf({in_window} AND NOT isFinite(value)) AS nan_n,
      countIf({in_window} AND isFinite(value) AND NOT {_possible(prof)}) AS invalid_n,
      countIf(ts > {tolerance}) AS future_n,
      countIf(ts < {int(EPOCH_MS_CUTOFF)}) AS past_n,
      if(countIf({in_window}) > 0, maxIf(ts, {in_window}), -1) AS last_ts
      {"".join(f", {sql} AS {name}" for name, sql in extra)}
    FROM ({rows})
    GROUP BY {keys}
  )
)
ORDER BY {keys}
"""


def _to_aggregates(
    metric: str, source_ids: Sequence[str], cohorts: Sequence[str], cols: Sequence[Any]
) -> WindowAggregates:
    """The columns of `_aggregates_sql` (after its keys) as a `WindowAggregates`."""
    (n, nan_n, invalid_n, future_n, past_n, median, vmin, vmax, last_ts) = cols[:9]
    interval, noise, lag1, grid, spikes, gap, gap_end, first = cols[9:]

    def ints(c: Any) -> Any:
        return np.asarray(c, np.int64)

    def floats(c: Any) -> Any:  # a server's nullable columns may hold None: NaN here
        return (
            np.asarray(c, np.float64)
            if c.dtype != object
            else np.array([np.nan if x is None else x for x in c], np.float64)
        )

    return WindowAggregates(
        metric=metric,
        source_ids=tuple(source_ids),
        cohorts=tuple(cohorts),
        count=ints(n),
        nan=ints(nan_n),
        invalid=ints(invalid_n),
        future=ints(future_n),
        past=ints(past_n),
        median=floats(median),
        vmin=floats(vmin),
        vmax=floats(vmax),
        last_ts=ints(last_ts),
        interval_ms=floats(interval),
        noise=floats(noise),
        lag1=floats(lag1),
        grid=floats(grid),
        spikes=ints(spikes),
        gap_ms=floats(gap),
        gap_end_ts=ints(gap_end),
        first_ts=ints(first),
    )


def window_aggregates(
    conn: Connection,
    target: Target,
    metric: str,
    *,
    now_ms: int,
    upper_ms: int,
    options: SweepOptions,
) -> WindowAggregates:
    """One `WindowAggregates` row per source with rows in `(now - window, upper]`."""
    origin = now_ms - options.window_ms
    tolerance = now_ms + options.clock_tolerance_ms
    label, tagged = _label(options.group_by)
    sql = _aggregates_sql(
        profile_for(metric),
        metric,
        rows=f"SELECT *, {TS} AS ts FROM {_table(target)} "
        f"WHERE {_where(target, metric, origin + 1, upper_ms)}",
        keys="source_id",
        in_window=f"(ts > {origin} AND ts <= {tolerance} AND ts >= {int(EPOCH_MS_CUTOFF)})",
        tolerance=tolerance,
        label=label,
        tagged=tagged,
    )
    cols = conn.columns(sql)
    if not cols:
        return WindowAggregates.empty(metric)
    return _to_aggregates(metric, cols[0], cols[1], cols[2:])


def bucket_baseline(
    conn: Connection,
    target: Target,
    metric: str,
    *,
    now_ms: int,
    options: SweepOptions,
    sample_ms: int,
    slices: Sequence[tuple[int, int]] | None = None,
) -> MetricBaseline:
    """The baseline `learn_baseline` learns, with each bucket reduced inside ClickHouse: over the
    rows the HTTP path fetches for it (`slices`, inclusive ranges, at most one per bucket; by
    default `fetch.baseline_slices`), one `WindowAggregates` row per (source, bucket), handed to
    the one learner, `baseline.learn_from_buckets`."""
    start, _, first, n_buckets = bucket_window(now_ms=now_ms, options=options)
    bucket_ms = options.bucket_ms
    if slices is None:
        slices = baseline_slices(now_ms=now_ms, options=options, sample_ms=sample_ms)
    label, tagged = _label(options.group_by)

    def learn(
        ids: Sequence[str], cohorts: Sequence[str], last_ts: Any, reductions: Any
    ) -> MetricBaseline:
        return learn_from_buckets(
            metric,
            tuple(ids),
            tuple(cohorts),
            reductions,
            last_ts=np.asarray(last_ts, np.int64),
            first_bucket_ms=int(first * bucket_ms),
            n_buckets=n_buckets,
            options=options,
        )

    if not slices:
        return learn((), (), np.zeros(0, np.int64), [])
    first_slice = slices[0][0] // bucket_ms
    span = slices[-1][1] // bucket_ms - first_slice + 1
    lower, upper = [1] * span, [0] * span  # buckets without a slice take no rows
    for lo, hi in slices:
        lower[lo // bucket_ms - first_slice], upper[lo // bucket_ms - first_slice] = lo, hi
    index = f"toUInt32(intDiv(ts, {bucket_ms}) - {first_slice} + 1)"
    # Each slice lies in its own bucket: the row's bucket picks its slice's bounds.
    in_slice = f"(ts >= arrayElement({lower}, {index}) AND ts <= arrayElement({upper}, {index}))"
    rows = (
        f"SELECT *, {TS} AS ts, toInt64(intDiv(ts, {bucket_ms}) - {first}) AS b "
        f"FROM {_table(target)} WHERE {_where(target, metric, slices[0][0], slices[-1][1])}"
    )
    # What the learner needs per source (its cohort, its newest reading from `start` on) comes
    # from per-cell columns of the same query: the newest of its cells.
    kept, kept_tagged = f"ts >= {start}", f"ts >= {start} AND {tagged}"
    cells_sql = _aggregates_sql(
        profile_for(metric),
        metric,
        rows=f"SELECT * FROM ({rows}) WHERE {in_slice}",
        keys="b, source_id",
        in_window="1",
        tolerance=2**62,
        label=label,
        tagged=tagged,
        extra=(
            ("kept_n", f"countIf({kept})"),
            ("kept_ts", f"maxIf(ts, {kept})"),
            ("tagged_n", f"countIf({kept_tagged})"),
            ("tagged_ts", f"maxIf(ts, {kept_tagged})"),
            ("tagged_cohort", f"argMaxIf({label}, ts, {kept_tagged})"),
        ),
    )
    cols = conn.columns(cells_sql)
    if not cols:
        return learn((), (), np.zeros(0, np.int64), [])
    buckets, cell_sources = np.asarray(cols[0], np.int64), cols[1]
    kept_n, kept_ts, tagged_n, tagged_ts, tagged_cohort = cols[-5:]
    ids, cohorts, last_ts = _sources(
        cell_sources, kept_n, kept_ts, tagged_n, tagged_ts, tagged_cohort
    )
    if not ids:
        return learn((), (), np.zeros(0, np.int64), [])
    where = {s: i for i, s in enumerate(ids)}
    # One conversion of every row (ordered by bucket, then source), sliced per bucket.
    flat = _to_aggregates(metric, cell_sources, [""] * len(buckets), cols[3:-5])
    slot = np.array([where.get(s, -1) for s in cell_sources], np.int64)
    reductions = []
    bounds = np.flatnonzero(np.diff(buckets)) + 1
    for lo, hi in zip([0, *bounds], [*bounds, len(buckets)], strict=True):
        j = int(buckets[lo])
        if 0 <= j < n_buckets:
            aligned = _aligned(flat, slot, lo, hi, ids, cohorts)
            reductions.append((int((first + j) * bucket_ms), aligned))
    return learn(ids, cohorts, last_ts, reductions)


def _sources(
    cell_sources: Any, kept_n: Any, kept_ts: Any, tagged_n: Any, tagged_ts: Any, cohort: Any
) -> tuple[tuple[str, ...], tuple[str, ...], Ints]:
    """Per source with readings from the baseline's start on (sorted, as `ORDER BY source_id`):
    its cohort (that of its newest tagged reading) and its newest reading's time, from the
    per-cell columns."""
    has = np.asarray(kept_n) > 0
    names = np.asarray(cell_sources, object)[has].tolist()
    ids = sorted(set(names))  # hashed, then only the distinct ids compared: not np.unique's sort
    where = {s: i for i, s in enumerate(ids)}
    code = np.fromiter(map(where.__getitem__, names), np.int64, len(names))
    last = np.full(len(ids), -1, np.int64)
    np.maximum.at(last, code, np.asarray(kept_ts, np.int64)[has])
    tagged = np.asarray(tagged_n)[has] > 0
    who, when = code[tagged], np.asarray(tagged_ts, np.int64)[has][tagged]
    labels = np.asarray(cohort, object)[has][tagged]
    order = np.lexsort((when, who))  # by source, then time: each source's last is its newest
    newest = order[np.r_[who[order][1:] != who[order][:-1], True]] if len(order) else order
    cohorts = [""] * len(ids)
    for k in newest.tolist():
        cohorts[int(who[k])] = str(labels[k])
    return tuple(str(s) for s in ids), tuple(cohorts), last


def _aligned(
    flat: WindowAggregates,
    slot: Any,
    lo: int,
    hi: int,
    ids: Sequence[str],
    cohorts: Sequence[str],
) -> WindowAggregates:
    """Rows `lo:hi` of `flat` spread over all of `ids` (`slot[i]`: row i's place in `ids`);
    sources without rows in that bucket get empty rows."""
    full = WindowAggregates.empty(flat.metric, tuple(ids), tuple(cohorts))
    rows = slot[lo:hi]
    values = {}
    for f in fields(WindowAggregates):
        if f.name in ("metric", "source_ids", "cohorts"):
            continue
        column = getattr(full, f.name).copy()
        column[rows] = getattr(flat, f.name)[lo:hi]
        values[f.name] = column
    return WindowAggregates(
        metric=flat.metric, source_ids=tuple(ids), cohorts=tuple(cohorts), **values
    )


def sensor_reports(
    conn: Connection, target: Target, *, from_ms: int, to_ms: int
) -> dict[str, SensorReport]:
    """Each board's newest `sensor.ok` in `[from_ms, to_ms]` (non-zero is ok), as a live sweep
    reads it over its window (`health.latest_reports`): one row per board comes back."""
    cols = conn.columns(
        f"SELECT source_id, toInt64(max(ts)), toUInt8(argMax(value, ts) != 0) "
        f"FROM (SELECT source_id, value, {TS} AS ts FROM {_table(target)} "
        f"WHERE {_where(target, SENSOR_OK, from_ms, to_ms)}) GROUP BY source_id"
    )
    if not cols:
        return {}
    return {
        str(s): SensorReport(int(t), bool(ok))
        for s, t, ok in zip(cols[0].tolist(), cols[1].tolist(), cols[2].tolist(), strict=True)
    }


def clickhouse_sweep(
    conn: Connection,
    target: Target,
    metrics: Sequence[str],
    *,
    now_ms: int,
    upper_ms: int,
    options: StepOptions,
) -> LifecycleStep:
    """A one-off sweep at `now_ms` (as `fleet --no-state` runs it), reduced inside ClickHouse;
    boards reporting `sensor.ok = 0` in the window are "sensor missing" (`fleetscan.health`)
    unless `sensor.ok` is itself swept."""
    opts = options.sweep
    target = target.resolved(conn)
    windows = {}
    baselines = {}
    for metric in dict.fromkeys(metrics):
        windows[metric] = window_aggregates(
            conn, target, metric, now_ms=now_ms, upper_ms=upper_ms, options=opts
        )
        if options.use_baseline:
            baselines[metric] = bucket_baseline(
                conn, target, metric, now_ms=now_ms, options=opts, sample_ms=options.sample_ms
            )
    outcome = reduced_step(SweepState(), windows, baselines, now_ms, options)
    if SENSOR_OK in metrics:
        return outcome
    window_from = plan_sweep(SweepState(), metrics, now_ms, options).window_from_ms
    return apply_health(outcome, sensor_reports(conn, target, from_ms=window_from, to_ms=upper_ms))


def clickhouse_replay(
    conn: Connection,
    target: Target,
    metrics: Sequence[str],
    times: Sequence[int],
    options: StepOptions,
    adjust: Callable[[SweepState, LifecycleStep], LifecycleStep] | None = None,
) -> Iterator[LifecycleStep]:
    """`sweeps.replay.replay` with every sweep reduced inside ClickHouse: one outcome per time.

    Each sweep reads the boards' `sensor.ok` over its window (unless it is itself replayed) and
    then applies `adjust(previous state, outcome)`, as `replay` does (the config file's
    thresholds and silences, the state's silences: `fleetscan.overrides`)."""
    state = SweepState()
    target = target.resolved(conn)
    opts = options.sweep
    for now_ms in times:
        plan = plan_sweep(state, metrics, now_ms, options)
        windows = {}
        baselines = {}
        for metric in dict.fromkeys(metrics):
            windows[metric] = window_aggregates(
                conn, target, metric, now_ms=now_ms, upper_ms=now_ms, options=opts
            )
            kind = plan.kinds.get(metric)
            ranges = plan.history.get(metric, ())
            if kind in (HistoryKind.LEARN, HistoryKind.GAP):
                learned = bucket_baseline(
                    conn, target, metric, now_ms=now_ms, options=opts,
                    sample_ms=options.sample_ms, slices=ranges,
                )  # fmt: skip
                if kind is HistoryKind.LEARN:
                    baselines[metric] = learned
                elif len(learned):
                    baselines[metric] = fill_baseline(state.baselines[metric], learned)
                else:
                    baselines[metric] = state.baselines[metric]
            elif kind is HistoryKind.FOLD:
                baselines[metric] = state.baselines[metric]
        outcome = reduced_step(state, windows, baselines, now_ms, options)
        if SENSOR_OK not in metrics:
            reports = sensor_reports(conn, target, from_ms=plan.window_from_ms, to_ms=now_ms)
            outcome = apply_health(outcome, reports)
        if adjust is not None:
            outcome = adjust(state, outcome)
        state = outcome.state
        yield outcome
