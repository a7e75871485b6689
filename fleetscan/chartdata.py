"""What the pictures show, as arrays: a board against its peers, and every board's gap to them.

Pure numpy over a replay's `MetricHistory` (no clock, disk or plotting library), so the plots,
the HTML report and their tests read the same numbers:

- `board_view`: the board's readings, and per time bucket its peers' median and robust band
  (median ± threshold · max(1.4826 · MAD, the sensor's noise floor)), peers being the other
  boards of its cohort. Each board counts once per bucket (its bucket mean), so a chatty board
  does not outvote the others.
- `gap_map`: for every board and bucket, (board − median of the other boards of its cohort) in
  robust σ: the fleet at a glance, one row per board.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from fleetscan.fleet.robust import MAD_TO_SIGMA, Floats, Ints
from fleetscan.sensors import profile_for
from fleetscan.sweeps.replay import MetricHistory

MIN_BUCKET_MS = 60_000
TARGET_BUCKETS = 240  # about one bucket per 4 pixels of a report-sized chart


@dataclass(frozen=True, eq=False)
class BoardView:
    """One board against its peers over `[from_ms, to_ms]` (bucket columns are aligned)."""

    source_id: str
    metric: str
    cohort: str
    peers: int
    ts_ms: Ints  # the board's own readings
    value: Floats
    bucket_ms: Ints  # bucket centres
    peer_median: Floats
    band_low: Floats
    band_high: Floats
    usual_gap: float = float("nan")  # the board's median gap to its peers before `from_ms`


@dataclass(frozen=True, eq=False)
class GapMap:
    """Every board's gap to its peers, in robust σ, per bucket: `gap[board, bucket]`."""

    metric: str
    source_ids: tuple[str, ...]
    bucket_ms: Ints
    gap: Floats


def bucket_width_ms(from_ms: int, to_ms: int) -> int:
    """A bucket width giving about `TARGET_BUCKETS` buckets, at least a minute.

    >>> bucket_width_ms(0, 24 * 3_600_000) // 60_000, bucket_width_ms(0, 60_000)
    (6, 60000)
    """
    return max(MIN_BUCKET_MS, -(-(to_ms - from_ms) // TARGET_BUCKETS))


def _cohorts(history: MetricHistory) -> dict[int, int]:
    """Each source's cohort label (the label of its newest labelled row; -1 when none)."""
    label = history.label
    tagged = np.flatnonzero(label >= 0)[::-1]
    which, first = np.unique(history.source[tagged], return_index=True)
    return {int(s): int(label[tagged[i]]) for s, i in zip(which, first, strict=True)}


def _bucket_means(
    history: MetricHistory, from_ms: int, to_ms: int, width_ms: int
) -> tuple[Ints, Floats]:
    """(bucket centres, means[source, bucket]) for the rows in `[from_ms, to_ms]` (NaN: none)."""
    n_buckets = max(1, -(-(to_ms - from_ms + 1) // width_ms))
    lo = int(np.searchsorted(history.ts_ms, from_ms, "left"))
    hi = int(np.searchsorted(history.ts_ms, to_ms, "right"))
    ts, value, source = history.ts_ms[lo:hi], history.value[lo:hi], history.source[lo:hi]
    keep = np.isfinite(value)
    ts, value, source = ts[keep], value[keep], source[keep]
    cell = source * n_buckets + (ts - from_ms) // width_ms
    size = len(history.source_ids) * n_buckets
    sums = np.bincount(cell, weights=value, minlength=size)
    counts = np.bincount(cell, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (sums / counts).reshape(len(history.source_ids), n_buckets)
    centres = from_ms + np.arange(n_buckets, dtype=np.int64) * width_ms + width_ms // 2
    return centres, means


def _median_and_sigma(rows: Floats, floor: float) -> tuple[Floats, Floats]:
    """Per column: the median of `rows` and max(1.4826 · MAD, floor) (NaN where all are NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: NaN, on purpose
        median = np.nanmedian(rows, axis=0)
        mad = np.nanmedian(np.abs(rows - median), axis=0)
    return median, np.fmax(MAD_TO_SIGMA * mad, floor)


def board_view(
    history: MetricHistory,
    source_id: str,
    *,
    from_ms: int,
    to_ms: int,
    threshold: float = 3.0,
    baseline_ms: int = 0,
) -> BoardView:
    """`source_id` against the other boards of its cohort; raises KeyError for an unknown board.

    With `baseline_ms`, `usual_gap` is the board's median gap to its peers' median over that
    much history before `from_ms` (its own usual offset, as the drift check learns it)."""
    if source_id not in history.source_ids:
        raise KeyError(source_id)
    board = history.source_ids.index(source_id)
    cohorts = _cohorts(history)
    cohort = cohorts.get(board, -1)
    peers = [
        s for s in range(len(history.source_ids)) if s != board and cohorts.get(s, -1) == cohort
    ]
    centres, means = _bucket_means(history, from_ms, to_ms, bucket_width_ms(from_ms, to_ms))
    floor = profile_for(history.metric).noise_floor
    median, sigma = _median_and_sigma(means[peers], floor)
    lo = int(np.searchsorted(history.ts_ms, from_ms, "left"))
    hi = int(np.searchsorted(history.ts_ms, to_ms, "right"))
    own = history.source[lo:hi] == board
    usual = float("nan")
    if baseline_ms > 0:
        start = from_ms - baseline_ms
        _, before = _bucket_means(history, start, from_ms - 1, bucket_width_ms(start, from_ms))
        level, _ = _median_and_sigma(before[peers], floor)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no history: NaN, on purpose
            usual = float(np.nanmedian(before[board] - level))
    return BoardView(
        source_id=source_id,
        metric=history.metric,
        cohort=history.labels[cohort] if cohort >= 0 else "",
        peers=len(peers),
        ts_ms=history.ts_ms[lo:hi][own],
        value=history.value[lo:hi][own],
        bucket_ms=centres,
        peer_median=median,
        band_low=median - threshold * sigma,
        band_high=median + threshold * sigma,
        usual_gap=usual,
    )


def gap_map(history: MetricHistory, *, from_ms: int, to_ms: int) -> GapMap:
    """Every board's gap to the median of the other boards of its cohort, in robust σ."""
    centres, means = _bucket_means(history, from_ms, to_ms, bucket_width_ms(from_ms, to_ms))
    cohorts = _cohorts(history)
    floor = profile_for(history.metric).noise_floor
    gap = np.full(means.shape, np.nan)
    n = len(history.source_ids)
    for board in range(n):
        cohort = cohorts.get(board, -1)
        peers = [s for s in range(n) if s != board and cohorts.get(s, -1) == cohort]
        if peers:
            median, sigma = _median_and_sigma(means[peers], floor)
            gap[board] = (means[board] - median) / sigma
    order = sorted(range(n), key=lambda s: history.source_ids[s])
    return GapMap(history.metric, tuple(history.source_ids[s] for s in order), centres, gap[order])
