"""Baselines from Plexus's rollups: `/v1/fleet/metrics`, one call per metric for the whole org.

Instead of sampling raw rows at the end of every hour bucket (169 requests for 7 days), each
(source, bucket) cell comes from the 1-hour (or 1-minute) rollup: its mean stands in for the
bucket median, its count is the count, and the bucket width over the count is the reading
spacing. The endpoint returns at most 10,000 buckets ordered by source, silently dropping the
sources that sort late, so a `truncated` answer is asked again as two half windows, down to
one bucket; a single bucket that is still truncated means more than 10,000 sources, which this
endpoint cannot cover (use `fleet --clickhouse`). Rollups carry no tags: cohorts come from the
caller (the window's labels). The last bucket is whole (a rollup cannot stop where the window
starts), so it may hold a few minutes more than the raw path would read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from fleetscan.errors import ProtocolError
from fleetscan.fleet.baseline import MetricBaseline, bucket_window, learn_from_buckets
from fleetscan.fleet.options import SweepOptions
from fleetscan.fleet.reduce import WindowAggregates

if TYPE_CHECKING:
    from fleetscan.client import PlexusClient

INTERVALS = {3_600_000: "1h", 60_000: "1m"}


def rollup_baseline(
    client: PlexusClient,
    metric: str,
    *,
    now_ms: int,
    options: SweepOptions,
    cohorts: Mapping[str, str] | None = None,
) -> tuple[MetricBaseline, int]:
    """The baseline learnt from rollups, and how many requests that took. A rollup bucket has a
    mean and a count, nothing to judge its trust by: every source with readings counts as a
    peer there (the raw and ClickHouse paths judge each bucket as a window)."""
    _, _, first, n_buckets = bucket_window(now_ms=now_ms, options=options)
    bucket_ms = options.bucket_ms
    step_ms = bucket_ms if bucket_ms in INTERVALS else 60_000
    if bucket_ms % step_ms:
        raise ProtocolError(f"baseline buckets of {bucket_ms} ms are not whole rollup buckets")
    per_source: dict[str, dict[int, tuple[float, int]]] = {}
    requests = 0

    def fetch(lo: int, hi: int) -> None:  # buckets [lo, hi) by bucket number
        nonlocal requests
        requests += 1
        body = client.fleet_metrics(
            metric=metric,
            from_ms=lo * bucket_ms,
            to_ms=hi * bucket_ms,
            interval=INTERVALS.get(step_ms, "1m"),
        )
        if body.get("truncated"):
            if hi - lo <= 1:
                raise ProtocolError(
                    f"/v1/fleet/metrics truncated one {bucket_ms // 60_000}-minute bucket of "
                    f"{metric}: more sources than it returns; use --clickhouse"
                )
            mid = (lo + hi) // 2
            fetch(lo, mid)
            fetch(mid, hi)
            return
        for source in body["sources"]:
            _add(per_source.setdefault(str(source["source_id"]), {}), source, bucket_ms)

    if n_buckets:
        fetch(first, first + n_buckets)
    ids = tuple(sorted(per_source))
    median = np.full((len(ids), n_buckets), np.nan)
    count = np.zeros((len(ids), n_buckets), np.int64)
    last_ts = np.full(len(ids), -1, np.int64)
    for i, source_id in enumerate(ids):
        for bucket, (mean, n) in per_source[source_id].items():
            j = bucket - first
            if 0 <= j < n_buckets and n > 0:
                median[i, j], count[i, j] = mean, n
                last_ts[i] = max(last_ts[i], bucket * bucket_ms)
    with np.errstate(divide="ignore", invalid="ignore"):
        spacing = np.where(count >= 2, bucket_ms / np.maximum(count, 1), np.nan)
    labels = tuple((cohorts or {}).get(s, "") for s in ids)
    reductions = []
    for j in range(n_buckets):
        if not (count[:, j] > 0).any():
            continue
        agg = WindowAggregates.empty(metric, ids, labels)
        agg = replace(agg, count=count[:, j], median=median[:, j], interval_ms=spacing[:, j])
        reductions.append((int((first + j) * bucket_ms), agg))
    learned = learn_from_buckets(
        metric,
        ids,
        labels,
        reductions,
        last_ts=last_ts,
        first_bucket_ms=int(first * bucket_ms),
        n_buckets=n_buckets,
        options=options,
    )
    return learned, requests


def _add(cells: dict[int, tuple[float, int]], source: Mapping[str, Any], bucket_ms: int) -> None:
    """Fold one source's rollup buckets (possibly 1-minute ones) into baseline buckets: means
    weighted by their counts."""
    for ts, avg, n in zip(source["timestamp_ms"], source["avg"], source["count"], strict=True):
        if avg is None or not n:
            continue
        bucket = int(ts) // bucket_ms
        mean, total = cells.get(bucket, (0.0, 0))
        cells[bucket] = ((mean * total + float(avg) * int(n)) / (total + int(n)), total + int(n))
