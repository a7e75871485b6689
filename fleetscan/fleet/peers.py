"""Who may serve as a peer: the one rule shared by a sweep's window and the baseline's history.

A source's level is judged against the leave-one-out median of its cohort's *trusted* members. A
member is trusted when it has a value and that value comes from a working sensor: no NaN,
impossible or mis-dated readings, not the C SDK's simulated "no sensor" values, not frozen while
the rest of its cohort moves. The window scorer (`score.score_metric`) and the baseline learner
(`baseline.learn_baseline`, bucket by bucket) both use `judge_peers`, so a usual gap is learned
against the very peers it will later be compared with: a board that sends junk in the history
cannot shift its neighbours' learned gaps and then vanish from the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
from fleetscan.sensors import MetricProfile

# A frozen board's peers must have moved by at least this many codes of the reporting step.
STUCK_PEER_CODES = 2
# `reporting_step`: windows that must have moved, the largest step tried (in resolutions), how
# near a whole number of steps (in steps) a range must be, and the share of moving windows whose
# ranges must be (one odd board, a different sensor, does not hide the fleet's step).
STEP_MIN_WINDOWS, STEP_MAX_CODES, STEP_TOLERANCE, STEP_SHARE = 8, 20, 0.05, 0.9
SIMULATED_GRID_SHARE = 0.95  # share of readings on the 0.1 grid (healthy sensors: about 10 %)
SIMULATED_MAX_LAG1 = 0.5  # i.i.d. values have no autocorrelation; healthy ones are near 1
SIMULATED_MIN_SPREAD = 0.4  # the values cover at least this share of the simulated range


class Cohorts:
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


@dataclass(frozen=True, eq=False)
class PeerJudgement:
    """Per source of a window: frozen or not, and whether its cohort may use it as a reference."""

    stuck: Bools  # frozen while its cohort moves
    peer_range: Floats  # leave-one-out median of the other candidates' ranges
    step: float  # the step the sensors report on (`reporting_step`)
    trusted: Bools  # usable as a peer: has a value, valid, not silent, not stuck


def invalid_readings(
    agg: WindowAggregates, prof: MetricProfile, options: SweepOptions
) -> tuple[Bools, Bools]:
    """(invalid, simulated): NaN, impossible or mis-dated readings, or the C SDK's fake values."""
    simulated = looks_simulated(agg, prof, options)
    invalid: Bools = (agg.nan + agg.invalid + agg.future + agg.past > 0) | simulated
    return invalid, simulated


def judge_peers(
    agg: WindowAggregates,
    groups: Cohorts,
    prof: MetricProfile,
    options: SweepOptions,
    *,
    invalid: Bools,
    silent: Bools,
) -> PeerJudgement:
    """Judge every source of `agg` as a possible peer of the others in its cohort."""
    candidate = (agg.count >= options.min_readings) & ~invalid & ~silent
    ranges = agg.vmax - agg.vmin
    peer_range = groups.loo_median(groups.pack(ranges, candidate))
    resolution = max(prof.resolution, 1e-12)
    # Peers whose windows moved by a single code of the sensors' reporting step moved by a
    # rounding flip, not by anything a frozen board would miss: they must move `STUCK_PEER_CODES`.
    step = reporting_step(ranges[candidate], resolution)
    with np.errstate(invalid="ignore"):
        moving = (peer_range > options.stuck_peer_factor * resolution) & (
            peer_range >= (STUCK_PEER_CODES - 0.25) * step  # whole codes, with float slack
        )
        stuck = (agg.count >= options.stuck_min_readings) & (ranges <= 0.5 * resolution) & moving
    return PeerJudgement(stuck=stuck, peer_range=peer_range, step=step, trusted=candidate & ~stuck)


def reporting_step(ranges: Floats, resolution: float) -> float:
    """The step the sensors report on, as this window shows it: the largest multiple of the
    resolution (up to `STEP_MAX_CODES` of them) that the ranges of `STEP_SHARE` of the moving
    windows are a whole number of, where at least `STEP_MIN_WINDOWS` windows moved at all; else
    the resolution.

    >>> reporting_step(np.array([0.0, 0.08, 0.04, 0.12, 0.04, 0.16, 0.08, 0.04, 0.2, np.nan]), 0.01)
    0.04
    >>> reporting_step(np.array([0.91, 0.88, 0.93, 0.9, 0.87, 0.9, 0.92, 0.94]), 0.01)  # fine, far
    0.01
    >>> odd = np.array([0.04, 0.08, 0.12, 0.04, 0.08, 0.16, 0.04, 0.08, 0.04, 0.12, 0.06])
    >>> reporting_step(odd, 0.01)  # one board of eleven on another step
    0.04
    >>> reporting_step(np.array([0.0, 0.04]), 0.01)  # too few moved to tell
    0.01
    """
    with np.errstate(invalid="ignore"):
        moved = ranges[ranges > 0.5 * resolution] / resolution  # in units of the resolution
    if len(moved) < STEP_MIN_WINDOWS:
        return resolution
    # The smallest range is normally a whole number of steps itself: only its divisors are tried
    # (an odd board holding the smallest range leaves the resolution, today's rule).
    smallest = int(round(float(moved.min())))
    for k in (k for k in range(min(STEP_MAX_CODES, smallest), 1, -1) if smallest % k == 0):
        codes = moved / k
        whole = np.abs(codes - np.round(codes)) < STEP_TOLERANCE
        if float(whole.mean()) >= STEP_SHARE:
            return k * resolution
    return resolution


def looks_simulated(agg: WindowAggregates, prof: MetricProfile, options: SweepOptions) -> Bools:
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
