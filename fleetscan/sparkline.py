"""A one-line terminal chart of each alerting board's gap to its peers over the sweep's window.

`fleet -v` prints, under its table, one line per open alert:

    gap  esp32-bme280-03 temperature  ▁▁▁▁▁▁▂▂▃▅▆▇████████  -0.4…+7.1σ over 30m

the board's gap to the median of the other boards of its cohort, in robust σ, per time bucket
(`chartdata.gap_map`, the report's fleet-at-a-glance numbers), on a scale from the row's lowest
value to its highest that always holds 0, so a board steadily off its peers draws high blocks. Unicode blocks on a UTF-8 terminal, `_.-=+*#@` otherwise; a blank is a
bucket without readings. Pure: numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from fleetscan.chartdata import gap_map
from fleetscan.fleet.batch import SeriesBatch
from fleetscan.sweeps.replay import MetricHistory
from fleetscan.sweeps.step import LifecycleStep
from fleetscan.timeutil import human_duration

BLOCKS = "▁▂▃▄▅▆▇█"
ASCII_LEVELS = "_.-=+*#@"
WIDTH = 24


def sparkline(values: Sequence[float], *, width: int = WIDTH, unicode: bool = True) -> str:
    """`values` as at most `width` characters on a scale from min(0, lowest) to max(0, highest)
    (bucket means when longer).

    >>> sparkline([0, 1, 2, 3, 4, 5, 6, 7])
    '▁▂▃▄▅▆▇█'
    >>> sparkline([0.0, float("nan"), 7.0], unicode=False), sparkline([5.0, 6.0], unicode=False)
    ('_ @', '#@')
    >>> sparkline([-4.0, 0.0, 4.0], unicode=False), sparkline([0.0, 0.0], unicode=False)
    ('_+@', '__')
    >>> len(sparkline(list(range(100)), width=10))
    10
    """
    levels = BLOCKS if unicode else ASCII_LEVELS
    if not len(values):
        return ""
    row = np.asarray(values, np.float64)
    cells = [_mean(chunk) for chunk in np.array_split(row, min(width, len(row)))]
    finite = [c for c in cells if math.isfinite(c)]
    if not finite:
        return " " * len(cells)
    lo = min(0.0, *finite)  # the scale always holds 0 (no gap): a steady gap draws high, not noise
    span = max(0.0, *finite) - lo
    top = len(levels) - 1
    return "".join(
        " " if not math.isfinite(c) else levels[round((c - lo) / span * top) if span else 0]
        for c in cells
    )


def _mean(chunk: np.ndarray[tuple[int], np.dtype[np.float64]]) -> float:
    finite = chunk[np.isfinite(chunk)]
    return float(finite.mean()) if len(finite) else math.nan


def history_of(batch: SeriesBatch) -> MetricHistory:
    """A sweep's fetched rows of one metric as a `MetricHistory` (rows labelled by cohort)."""
    labels = tuple(sorted({c for c in batch.cohorts if c}))
    by_source = np.array([labels.index(c) if c else -1 for c in batch.cohorts], np.int64)
    label = by_source[batch.source] if len(batch.source) else np.zeros(0, np.int64)
    return MetricHistory.in_time_order(
        batch.metric, batch.source_ids, labels, batch.ts_ms, batch.value, batch.source, label
    )


def gap_lines(
    outcome: LifecycleStep,
    window: Mapping[str, SeriesBatch],
    *,
    window_ms: int,
    unicode: bool = True,
) -> list[str]:
    """One chart line per alerting series (sorted by metric, source), from the sweep's rows."""
    alerting = sorted((v.result.metric, v.result.source_id) for v in outcome.verdicts if v.alerting)
    lines, maps = [], {}
    from_ms = outcome.now_ms - window_ms
    for metric, source_id in alerting:
        if metric not in window:
            continue
        if metric not in maps:
            maps[metric] = gap_map(
                history_of(window[metric]), from_ms=from_ms, to_ms=outcome.now_ms
            )
        found = maps[metric]
        if source_id not in found.source_ids:
            continue
        row = found.gap[found.source_ids.index(source_id)]
        finite = row[np.isfinite(row)]
        if not len(finite):
            continue
        dots = "…" if unicode else ".."
        sigma = "σ" if unicode else " sigma"
        span = f"{finite.min():+.1f}{dots}{finite.max():+.1f}{sigma}"
        chart = sparkline(row.tolist(), unicode=unicode)
        lines.append(f"gap  {source_id} {metric}  {chart}  {span} over {human_duration(window_ms)}")
    return lines
