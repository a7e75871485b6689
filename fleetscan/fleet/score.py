"""Cross-source scoring: each source against its cohort's other sources, all columns at once.

Input is one metric's `WindowAggregates` (one row per source) and its `BaselineView`; output is a
`MetricScores` of aligned columns. Nothing here sees raw readings, a clock or the network.

- Peers are the cohort's other sources with a valid value (not invalid, silent or stuck). Medians
  and MADs are leave-one-out, so in a small fleet a source is never its own peer.
- Without a learned baseline (a snapshot): offset = value - peer median and
  z = offset / max(1.4826·peer MAD, snapshot floor). The snapshot floor is the sensor's
  unit-to-unit accuracy, since boards' own calibration offsets are not known yet.
- With one: the level is the leave-one-out median of the peers' values *less their own usual
  offsets* (so it does not jump when a board of a small cohort leaves or breaks),
  offset = value - level, and z = (offset - usual offset) / max(1.4826·MAD of the source's bucket
  offsets, floor, 1.4826·MAD of the cohort's current changes). The last term keeps a cohort-wide
  reshuffle (every board's gap moving at once) from alerting.
- Floors come from `SweepOptions.scale_floor` (≥ the sensor's resolution), so z is finite and a
  fleet of identical values (MAD = 0) scores 0, not ±inf.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetscan.fleet.baseline import BaselineView, cohort_members
from fleetscan.fleet.options import SweepOptions
from fleetscan.fleet.reduce import SIMULATED_RANGE, WindowAggregates
from fleetscan.fleet.robust import (
    MAD_TO_SIGMA,
    Bools,
    Floats,
    Ints,
    grouped_loo_mad,
    grouped_loo_median,
    grouped_median,
)
from fleetscan.fleet.status import CODE, Status
from fleetscan.sensors import MetricProfile, profile_for

SIMULATED_GRID_SHARE = 0.95  # share of readings on the 0.1 grid (healthy sensors: about 10 %)
SIMULATED_MAX_LAG1 = 0.5  # i.i.d. values have no autocorrelation; healthy ones are near 1
SIMULATED_MIN_SPREAD = 0.4  # the values cover at least this share of the simulated range
# Noise below half the sensor's noise floor is never "noisy", however quiet the peers: with a few
# quantised readings a peer median noise can be tiny, and a ratio to it means little.
NOISY_MIN_FLOOR_SHARE = 0.5


@dataclass(frozen=True, eq=False)
class MetricScores:
    """Aligned per-source columns for one metric (see `sweep.FleetResult` for their meaning)."""

    status: Ints  # codes into `status.CODES`
    z: Floats
    scale: Floats
    peer_median: Floats
    offset: Floats
    usual_offset: Floats
    usual_sigma: Floats
    peers: Ints
    age_ms: Floats
    stale_after_ms: Floats
    noise_ratio: Floats
    peer_noise: Floats
    peer_range: Floats
    simulated: Bools
    has_baseline: Bools


def score_metric(
    agg: WindowAggregates, base: BaselineView, *, now_ms: int, options: SweepOptions
) -> MetricScores:
    """Score every source of `agg` against its peers (and its baseline, where there is one)."""
    prof = profile_for(agg.metric)
    floor = options.scale_floor(agg.metric, prof)
    snapshot_floor = options.scale_floor(agg.metric, prof, snapshot=True)
    has_value = agg.count >= options.min_readings
    simulated = _simulated(agg, prof, options)
    invalid = (agg.nan + agg.invalid + agg.future + agg.past > 0) | simulated

    window_interval = np.where(agg.count >= 3, agg.interval_ms, np.nan)
    interval = np.where(np.isfinite(window_interval), window_interval, base.interval_ms)
    last = np.maximum(agg.last_ts, base.last_ts)
    known = last >= 0
    age = np.where(known, now_ms - last, np.nan).astype(np.float64)
    stale_after = np.fmax(options.stale_factor * interval, float(options.stale_floor_ms))
    with np.errstate(invalid="ignore"):
        silent = known & (age > stale_after) & ~invalid
    collective = _collective(agg, silent, known, age, stale_after, last, options.outage_fraction)
    peer = has_value & ~invalid & ~silent
    groups = _Cohorts(agg.cohorts)

    # Pass 1: how the peers' windows look (for stuck and noisy).
    peer_noise = groups.loo_median(groups.pack(agg.noise, peer))
    peer_range = groups.loo_median(groups.pack(agg.vmax - agg.vmin, peer))
    resolution = max(prof.resolution, 1e-12)
    noise_ratio = agg.noise / np.fmax(peer_noise, resolution)
    with np.errstate(invalid="ignore"):
        stuck = (
            (agg.count >= options.stuck_min_readings)
            & (agg.vmax - agg.vmin <= 0.5 * resolution)
            & (peer_range > options.stuck_peer_factor * resolution)
        )
        noisy_ratio = (
            (agg.count >= options.min_noise_readings)
            & (noise_ratio >= options.noisy_ratio)
            & (agg.noise >= NOISY_MIN_FLOOR_SHARE * prof.noise_floor)
        )

    # Pass 2: the level each source's peers imply. A frozen value is no reference.
    peer &= ~stuck
    values = groups.pack(agg.median, peer)
    peer_median = groups.loo_median(values)
    snapshot_sigma = MAD_TO_SIGMA * groups.loo_mad(values, peer_median)
    peers = groups.loo_count(peer)
    # With baselines, peers are compared after taking out their own usual offsets, so the level
    # does not move when a board joins, leaves or breaks (a median of 4 is not a median of 5).
    own_base = (base.buckets >= options.min_baseline_buckets) & np.isfinite(base.offset)
    adjusted = groups.pack(agg.median - base.offset, peer & own_base)
    base_centre = groups.loo_median(adjusted)
    has_base = own_base & (groups.loo_count(peer & own_base) >= options.min_peers)
    cross_sigma = groups.sigma(adjusted - base_centre)
    level = np.where(has_base, base_centre, peer_median)
    offset = agg.median - level
    delta = offset - base.offset
    drift_scale = np.fmax(np.fmax(base.offset_sigma, floor), cross_sigma)
    snapshot_scale = np.fmax(snapshot_sigma, snapshot_floor)
    scale = np.where(has_base, drift_scale, snapshot_scale)
    z = np.where(has_base, delta, offset) / scale
    with np.errstate(invalid="ignore"):
        far = np.abs(z) > options.threshold
    few_peers = peers < options.min_peers
    conditions = [
        invalid,
        silent & ~collective,
        silent,
        ~has_value,
        agg.spikes > 0,
        few_peers,
        stuck,
        noisy_ratio,
        far & has_base,
        far,
    ]
    choices = [
        Status.INVALID,
        Status.STALE,
        Status.OUTAGE,
        Status.NO_DATA,
        Status.NOISY,
        Status.INSUFFICIENT_PEERS,
        Status.STUCK,
        Status.NOISY,
        Status.DRIFTING,
        Status.ANOMALOUS,
    ]
    status = np.select(conditions, [CODE[c] for c in choices], default=CODE[Status.OK])
    return MetricScores(
        status=status.astype(np.int64),
        z=z,
        scale=scale,
        peer_median=peer_median,
        offset=offset,
        usual_offset=np.where(has_base, base.offset, np.nan),
        usual_sigma=np.where(has_base, base.offset_sigma, np.nan),
        peers=peers,
        age_ms=age,
        stale_after_ms=stale_after,
        noise_ratio=noise_ratio,
        peer_noise=peer_noise,
        peer_range=peer_range,
        simulated=simulated,
        has_baseline=has_base,
    )


class _Cohorts:
    """Each source's cohort as a code, so leave-one-out statistics of every cohort are one
    vectorised call over a flat column (`robust.grouped_loo_median`), however the sizes vary."""

    def __init__(self, labels: tuple[str, ...]) -> None:
        _, codes = np.unique(np.array(labels, dtype=object), return_inverse=True)
        self.codes: Ints = codes.astype(np.int64).reshape(-1)

    def pack(self, column: Floats, mask: Bools) -> Floats:
        """`column` where `mask` holds, NaN elsewhere (NaN entries are no peers)."""
        out: Floats = np.where(mask, column, np.nan)
        return out

    def loo_median(self, column: Floats) -> Floats:
        return grouped_loo_median(column, self.codes)

    def loo_mad(self, column: Floats, centres: Floats) -> Floats:
        return grouped_loo_mad(column, centres, self.codes)

    def loo_count(self, mask: Bools) -> Ints:
        """How many *other* members of each source's cohort satisfy `mask`."""
        inside = np.bincount(self.codes, weights=mask, minlength=1).astype(np.int64)
        out: Ints = inside[self.codes] - mask
        return out

    def sigma(self, residuals: Floats) -> Floats:
        """1.4826 × MAD of each cohort's finite residuals (NaN below 3), for each member."""
        enough = np.bincount(self.codes, weights=np.isfinite(residuals), minlength=1)
        middle = grouped_median(residuals, self.codes)
        sigma = MAD_TO_SIGMA * grouped_median(np.abs(residuals - middle), self.codes)
        out: Floats = np.where(enough[self.codes] >= 3, sigma, np.nan)
        return out


def _simulated(agg: WindowAggregates, prof: MetricProfile, options: SweepOptions) -> Bools:
    """The C SDK's "no sensor" values: i.i.d. uniform on the 0.1 grid within a fixed range."""
    bounds = SIMULATED_RANGE.get(prof.metric)
    if bounds is None:
        return np.zeros(len(agg), np.bool_)
    low, high = bounds
    with np.errstate(invalid="ignore"):
        fake: Bools = (
            (agg.count >= options.simulated_min_readings)
            & (agg.grid >= SIMULATED_GRID_SHARE)
            & (agg.vmin >= low - 1e-3)
            & (agg.vmax <= high + 1e-3)
            & (agg.vmax - agg.vmin >= SIMULATED_MIN_SPREAD * (high - low))
            & ~(agg.lag1 >= SIMULATED_MAX_LAG1)
        )
    return fake


def _collective(
    agg: WindowAggregates,
    silent: Bools,
    known: Bools,
    age: Floats,
    stale_after: Floats,
    last: Ints,
    share: float,
) -> Bools:
    """Silent sources whose silence most of their cohort (or the fleet) shared.

    A peer shared source x's silence if it is quiet now too (silent for over half its own limit)
    or if, since x's last reading, it had a gap of over half its own limit: so the boards that
    have not reported again right after a site-wide gateway gap are not blamed one by one.
    """
    together = np.zeros(len(silent), np.bool_)
    if not silent.any():
        return together
    half = stale_after / 2.0
    with np.errstate(invalid="ignore"):
        quiet = known & (age > half)
        gapped = known & ~quiet & (agg.gap_ms > half)

    def shared(rows: Ints) -> Bools:
        ends = np.sort(agg.gap_end_ts[rows][gapped[rows]])
        later_gaps = len(ends) - np.searchsorted(ends, last[rows], side="right")
        count = int(quiet[rows].sum()) + later_gaps
        total = int(known[rows].sum())
        out: Bools = silent[rows] & (count >= 2) & (count >= share * total)
        return out

    together |= shared(np.arange(len(silent)))
    for members in cohort_members(agg.cohorts).values():
        together[members] |= shared(members)
    return together
