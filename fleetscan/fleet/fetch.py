"""The network edge of a fleet sweep: the window and the baseline history, through `PlexusClient`.

- The window is one fetch per sweep of every source of the wanted metrics (no `source` filter),
  paged backwards in time until complete, so one chatty source cannot crowd the others out of
  the org-wide `limit` (docs/plexus-contract.md §1.5, §8). Its upper bound is far in the future, so rows a
  device stamped with a broken clock (§7.5) show up and are reported as `invalid`.
- The baseline needs offsets per hour over days, not every reading: it fetches a short sample
  slice at the end of each bucket (`sample_ms`, 2 minutes by default), which compares sources at
  the same moments just as well and keeps a 7-day baseline to a few hundred thousand rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fleetscan.columns import RowColumns, batches
from fleetscan.fleet.baseline import MetricBaseline, learn_baseline
from fleetscan.fleet.batch import SeriesBatch
from fleetscan.fleet.options import DAY_MS, SweepOptions

if TYPE_CHECKING:  # `plan.py` needs `baseline_slices` without the network edge
    from fleetscan.client import PlexusClient

FUTURE_LOOKAHEAD_MS = 3650 * DAY_MS  # how far ahead of now the window fetch looks for bad clocks


def fetch_window(
    client: PlexusClient, metrics: Sequence[str], *, now_ms: int, options: SweepOptions
) -> tuple[dict[str, SeriesBatch], str]:
    """Every row of `metrics` in the window (and stamped in the future); batches and a skip note.

    Rows skipped as unreadable (NaN or null values) count as invalid readings of the window.
    """
    from fleetscan.pages import fetch_columns

    columns = fetch_columns(
        client,
        metrics=list(metrics),
        from_ms=now_ms - options.window_ms,
        to_ms=now_ms + FUTURE_LOOKAHEAD_MS,
        group_by=options.group_by,
    )
    return batches(columns, metrics, dropped=columns.skipped_by_series), columns.skipped_summary()


def baseline_slices(*, now_ms: int, options: SweepOptions, sample_ms: int) -> list[tuple[int, int]]:
    """Inclusive `(from_ms, to_ms)` ranges to fetch: the last `sample_ms` of every bucket.

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


def fetch_baseline(
    client: PlexusClient,
    metrics: Sequence[str],
    *,
    now_ms: int,
    options: SweepOptions,
    sample_ms: int = 120_000,
) -> dict[str, MetricBaseline]:
    """Learn each metric's baseline from sample slices of the history before the window."""
    from fleetscan.pages import fetch_columns

    slices = baseline_slices(now_ms=now_ms, options=options, sample_ms=sample_ms)
    columns = RowColumns.concat(
        fetch_columns(client, metrics=list(metrics), from_ms=a, to_ms=b, group_by=options.group_by)
        for a, b in slices
    )
    return {
        metric: learn_baseline(batch, now_ms=now_ms, options=options)
        for metric, batch in batches(columns, metrics).items()
    }
