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
  offset = value - level, and z = (how far offset lies beyond the range the source's gap had at
  this hour on past days) / max(its scale at this hour, floor, 1.4826·MAD of the cohort's current
  changes). Where an hour has too little history the range is the single all-hours usual offset
  (`profile.daily_figures`). The last term keeps a cohort-wide reshuffle (every board's gap
  moving at once) from alerting.
- Floors come from `SweepOptions.scale_floor` (≥ the sensor's resolution), so z is finite and a
  fleet of identical values (MAD = 0) scores 0, not ±inf.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fleetscan.fleet.baseline import BaselineView, cohort_members
from fleetscan.fleet.options import SweepOptions
from fleetscan.fleet.peers import Cohorts, invalid_readings, judge_peers
from fleetscan.fleet.profile import TREND_MIN_PAIRS
from fleetscan.fleet.reduce import WindowAggregates
from fleetscan.fleet.robust import MAD_TO_SIGMA, Bools, Floats, Ints, grouped_median, nan_median
from fleetscan.fleet.status import CODE, Status
from fleetscan.sensors import profile_for

# Noise below half the sensor's noise floor is never "noisy", however quiet the peers: with a few
# quantised readings a peer median noise can be tiny, and a ratio to it means little.
NOISY_MIN_FLOOR_SHARE = 0.5
# A peer whose own scale at this hour is this many times its cohort's typical one is no reference.
STEADY_SIGMA_FACTOR = 3.0
# Stale after this many times a board's usual longest silence (see `BaselineView.silence_ms`).
SILENCE_FACTOR = 1.5
# Boards (itself included) that must leave their usual gaps in one sweep, by about the same change,
# before they count as one group change without learned links (`_group_change`).
MIN_GROUP = 4
# ...or this many, where two of the others' change a learned neighbour shares (history vouches).
VOUCHED_GROUP = 3
# ...and whose shares of that change already made in the sweeps before differ by at most this.
ONSET_SHARE = 0.2
# Rows compared at once in `_group_change` (memory: this × the boards that moved).
GROUP_BLOCK = 1024


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
    usual_silence_ms: Floats  # what `stale_after_ms` allows 1.5× of (NaN: none known)
    cohort_silence: Bools  # that silence is the cohort's (a board's first day), not its own
    noise_ratio: Floats
    peer_noise: Floats
    peer_range: Floats
    code_step: float  # the step the window's readings are reported on (`peers.reporting_step`)
    simulated: Bools
    has_baseline: Bools
    usual_low: Floats  # past days' range of the gap at this hour (NaN without a baseline)
    usual_high: Floats
    level: Ints  # `profile.Level` of the figures
    days: Ints  # past days behind them
    buckets: Ints  # completed buckets learned so far
    first_day: Bools  # under `first_day_span_ms` of history: no tighter than its peers' spread
    shared_change: Floats  # the change its usual neighbours share, where that explains it
    moved_with: Bools  # far from the fleet only together with its usual neighbours
    group: Ints  # (rows, K) the boards of its cohort that left their gaps with it now, -1 = none
    trend: Floats  # units/day where the gap trended through the whole history, else NaN
    steady: Floats  # units the gap moved through a short history, every quarter alike, else NaN
    warming: Bools  # off its peers within the warm-up (not flagged for it; may be for another)
    room_moved: Floats  # with tags: its cohort's change against the fleet, where that explains it
    # the change of the boards that left their usual gaps with it in this sweep (`_group_change`),
    # wherever such a group was found, also where its range at this hour holds the change
    group_change: Floats
    # a flagged board judged without the change its usual neighbours (or this sweep's group)
    # shared, because that is nearer its range: that change, else NaN (the reason names it)
    taken_out: Floats


def score_metric(
    agg: WindowAggregates,
    base: BaselineView,
    *,
    now_ms: int,
    options: SweepOptions,
    neighbours: Ints | None = None,
    recent: Floats | None = None,
) -> MetricScores:
    """Score every source of `agg` against its peers (and its baseline, where there is one).

    `neighbours` (rows × K indexes into `agg`, -1 = none) are the boards each source usually
    moves with (`discover`): a change its neighbours share is taken out before it is judged.
    `recent` (`MetricBaseline.recent`) is where each board's gap was in the sweeps just before:
    boards that left their usual gaps by about the same change, and had moved about as far
    before, are one group change even without such links (`_group_change`).
    """
    prof = profile_for(agg.metric)
    floor = options.scale_floor(agg.metric, prof)
    snapshot_floor = options.scale_floor(agg.metric, prof, snapshot=True)
    has_value = agg.count >= options.min_readings
    invalid, simulated = invalid_readings(agg, prof, options)

    window_interval = np.where(agg.count >= 3, agg.interval_ms, np.nan)
    interval = np.where(np.isfinite(window_interval), window_interval, base.interval_ms)
    last = np.maximum(agg.last_ts, base.last_ts)
    known = last >= 0
    age = np.where(known, now_ms - last, np.nan).astype(np.float64)
    stale_after = np.fmax(options.stale_factor * interval, float(options.stale_floor_ms))
    groups = Cohorts(agg.cohorts)
    # A board that often goes quiet for minutes (bursty radio loss) is stale only beyond its
    # own usual longest silence; before it has a day of history (its longest so far says little),
    # beyond its cohort's too.
    first_day = base.history_ms < options.first_day_span_ms
    heard = np.isfinite(base.silence_ms)
    cohort_silence = groups.loo_median(groups.pack(base.silence_ms, heard))
    usual_silence = np.where(first_day, np.fmax(base.silence_ms, cohort_silence), base.silence_ms)
    stale_after = np.fmax(stale_after, SILENCE_FACTOR * usual_silence)
    with np.errstate(invalid="ignore"):
        silent = known & (age > stale_after) & ~invalid
    collective = _collective(agg, silent, known, age, stale_after, last, options.outage_fraction)
    peer = has_value & ~invalid & ~silent

    # Pass 1: how the peers' windows look (for stuck and noisy).
    judged = judge_peers(agg, groups, prof, options, invalid=invalid, silent=silent)
    stuck, peer_range = judged.stuck, judged.peer_range
    peer_noise = groups.loo_median(groups.pack(agg.noise, peer))
    resolution = max(prof.resolution, 1e-12)
    noise_ratio = agg.noise / np.fmax(peer_noise, resolution)
    with np.errstate(invalid="ignore"):
        noisy_ratio = (
            (agg.count >= options.min_noise_readings)
            & (noise_ratio >= options.noisy_ratio)
            & (agg.noise >= NOISY_MIN_FLOOR_SHARE * prof.noise_floor)
        )

    # Pass 2: the level each source's peers imply. A frozen value is no reference.
    peer = judged.trusted
    values = groups.pack(agg.median, peer)
    peer_median = groups.loo_median(values)
    snapshot_sigma = MAD_TO_SIGMA * groups.loo_mad(values, peer_median)
    peers = groups.loo_count(peer)
    # With baselines, peers are compared after taking out their own usual offsets, so the level
    # does not move when a board joins, leaves or breaks (a median of 4 is not a median of 5).
    own_base = (base.buckets >= options.min_baseline_buckets) & np.isfinite(base.offset)
    reference = _steady_references(groups, peer & own_base, base.offset_sigma, floor, options)
    # Only what lies beyond the range past days had at this hour counts (a cloudy day is not
    # drift for a board in the sun); without enough days the range is the usual offset alone.
    low = np.fmin(base.low, base.offset)
    high = np.fmax(base.high, base.offset)
    usual = agg.median - base.offset  # the level each peer implies at its usual gap
    level, has_base, cross_sigma = _baseline_level(usual, base, groups, reference, options)
    snapshot_scale = np.fmax(snapshot_sigma, snapshot_floor)
    own_sigma = np.fmax(base.offset_sigma, floor)  # the board's own figures at this hour
    drift_scale = np.fmax(own_sigma, cross_sigma)
    # A board seen for less than a day may have a daily habit its history has not shown yet:
    # its drift must also stand out of the spread of its cohort, or of the boards it usually
    # moves with where it has enough of them (a whole fleet's rooms differ far more).
    near = _neighbour_spread(neighbours, np.where(peer, agg.median, np.nan), options.min_peers)
    first_day_scale = np.fmax(np.where(np.isfinite(near), near, snapshot_sigma), snapshot_floor)
    own_scale = drift_scale  # how far a board left its own figures: what neighbours share
    drift_scale = np.where(first_day, np.fmax(drift_scale, first_day_scale), drift_scale)
    # Pass 2: a peer implies any level its range at this hour allows (a board in the sun on a
    # clear day is as much a reference as on a dull one), so it takes the one nearest the
    # cohort's median; a peer off its range even so (a failing board) is left out wherever at least
    # `min_peers` others remain, or at least half of them.
    # Each peer is judged against the median of the whole cohort (itself included): with five
    # boards, two in the sun cannot move it, while a leave-one-out median of four they can.
    anchor = np.where(has_base, grouped_median(groups.pack(usual, reference), groups.codes), level)
    with np.errstate(invalid="ignore"):
        implied = np.clip(anchor, agg.median - high, agg.median - low)
        implied = np.where(np.isfinite(implied), implied, usual)
        own_gap = agg.median - anchor
        off_range = np.abs(own_gap - np.clip(own_gap, low, high)) / drift_scale
        calm = reference & ~(has_base & (off_range > options.threshold))
    all_refs, _, _ = _baseline_level(implied, base, groups, reference, options)
    calm_refs, enough_calm, _ = _baseline_level(implied, base, groups, calm, options)
    # Calm peers that are not outnumbered by the others outvote them even when fewer than
    # `min_peers` (two plain boards against two in the sun on the first clear day).
    calm_count = groups.loo_count(calm)
    enough_calm |= (calm_count >= 2) & (2 * calm_count >= groups.loo_count(reference))
    # The first pass's spread is kept: a cohort-wide reshuffle still widens the scale.
    level = np.where(has_base, np.where(enough_calm, calm_refs, all_refs), level)
    level = np.where(has_base, level, peer_median)
    offset = agg.median - level
    scale = np.where(has_base, drift_scale, snapshot_scale)
    beyond = np.where(has_base, offset - np.clip(offset, low, high), offset)
    z_fleet = beyond / scale
    # A change shared with neighbours is one each of them made beyond its own figures, flagged
    # or not (on a first day the scale that flags is wider than the board's own).
    shared_scale = np.where(has_base, own_scale, snapshot_scale)
    with np.errstate(invalid="ignore"):
        unusual = has_base & peer & (np.abs(beyond / shared_scale) > options.threshold)
    change = offset - base.offset
    moved = np.where(unusual, change, np.nan)
    shared = _shared_change(neighbours, moved, change)
    # Without links from history, a group that leaves its usual gaps in this sweep by about the
    # same change is one change too (a room whose HVAC changes before discovery links it).
    # Before a baseline a board's offset is its change: boards that stand apart from the cohort
    # together, by about the same offset, are a room at another level (or one that just moved),
    # not each a fault, whenever that began.
    group_change = np.where(has_base, change, offset)
    before = np.zeros((len(change), 1))
    if recent is not None:  # the newest bucket's NaN: nothing made before; earlier ones: unknown
        before = np.where(has_base[:, None], recent - base.offset[:, None], 0.0)
        before[:, -1] = np.nan_to_num(before[:, -1])
    # (no `recent`, no groups: tagged cohorts, or a caller that does not look for them)
    # A group's members are every board that left its usual gap that far, also those whose range
    # at this hour happens to hold the change (a board that did the same on a past day).
    # Each judged by its own figures alone: the spread of the cohort's current changes, which a
    # group moving now widens itself, does not decide who moved with it.
    member_scale = np.where(has_base, own_sigma, snapshot_scale)
    with np.errstate(invalid="ignore"):
        left = peer & (np.abs(group_change) > options.threshold * member_scale)
    vouched = _linked_pairs(neighbours, moved, shared_scale, options.threshold)
    group_shared, group = _group_change(
        groups.codes,
        np.where(left, group_change, np.nan),
        before,
        shared_scale,
        options.threshold,
        enabled=recent is not None,
        vouched=vouched,
    )
    with np.errstate(invalid="ignore"):
        nearer = np.isfinite(group_shared) & (
            ~has_base | (np.abs(change - group_shared) < np.abs(change - shared))
        )
    shared = np.where(nearer, group_shared, shared)
    alone = offset - shared  # the gap without the change its usual neighbours share
    alone_pre = offset - np.where(nearer, group_shared, 0.0)
    z_alone = np.where(has_base, alone - np.clip(alone, low, high), alone_pre) / scale
    # Neighbours may explain a change, never create one: a board that stayed put while they
    # moved is judged against the fleet as usual.
    with np.errstate(invalid="ignore"):
        by_alone = np.abs(z_alone) < np.abs(z_fleet)
    z = np.where(by_alone, z_alone, z_fleet)
    # Until a board has `warm_up_ms` of history its daily habits are unknown (the sun may not have
    # reached its window yet): its gap to its peers is shown but alerts only as a drift under way.
    warming = base.history_ms < options.warm_up_span_ms
    # A gap that rose (or fell) day after day through the whole history is no normal to learn;
    # nor is one that moved one way through every quarter of a history too short for that, as
    # far as boards of its cohort stand apart (its own spread so far is the drift's own doing).
    daily = base.trend_pairs >= TREND_MIN_PAIRS
    z_trend = np.where(
        daily, base.trend / np.fmax(base.trend_sigma, floor), base.steady / first_day_scale
    )
    with np.errstate(invalid="ignore"):
        far = np.abs(z) > options.threshold
        judged_far = far & ~warming
        moved_with = (has_base | nearer) & (np.abs(z_fleet) > options.threshold) & ~far
        trending = has_base & ~judged_far & (np.abs(z_trend) > options.threshold)
    z = np.where(trending, z_trend, z)
    with np.errstate(invalid="ignore"):
        taken_out = np.where(has_base & far & (shared != 0) & by_alone, shared, np.nan)
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
        judged_far & has_base,
        trending,
        judged_far,
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
        usual_silence_ms=usual_silence,
        cohort_silence=first_day
        & np.isfinite(cohort_silence)
        & ~(base.silence_ms >= cohort_silence),
        noise_ratio=noise_ratio,
        peer_noise=peer_noise,
        peer_range=peer_range,
        code_step=judged.step,
        simulated=simulated,
        has_baseline=has_base,
        usual_low=np.where(has_base, low, np.nan),
        usual_high=np.where(has_base, high, np.nan),
        level=base.level,
        days=base.days,
        buckets=base.buckets,
        first_day=first_day,
        shared_change=np.where(moved_with, shared, np.nan),
        moved_with=moved_with,
        group=np.where(moved_with[:, None], group, -1),
        trend=np.where(trending & daily, base.trend, np.nan),
        steady=np.where(trending & ~daily, base.steady, np.nan),
        warming=warming & far,
        room_moved=np.full(len(z), np.nan),
        group_change=group_shared,
        taken_out=taken_out,
    )


def with_fleet(
    room: MetricScores, fleet: MetricScores, cohorts: tuple[str, ...], options: SweepOptions
) -> MetricScores:
    """`room` (scores within tagged cohorts) with the drifting boards the whole fleet explains
    cleared (`fleet`: the same window scored against the whole fleet, `baseline.fleet_view`).

    A board off its usual gap to its room is not at fault when it is in line with the fleet and
    either its room-mates moved against the fleet the other way, further than it did (the
    room moved, the board stayed), or it moved with the boards it usually moves with in the
    fleet or with a group that left its gaps to the fleet with it in this sweep (neighbours
    across a room boundary). Its own fault shows against both, so it still drifts.
    """
    groups = Cohorts(cohorts)
    drifting = room.status == CODE[Status.DRIFTING]
    fleet_ok = (fleet.status == CODE[Status.OK]) & fleet.has_baseline
    fleet_change = fleet.offset - fleet.usual_offset  # against the fleet, from its usual gap
    judged = fleet.has_baseline & np.isfinite(fleet_change)
    room_change = groups.loo_median(groups.pack(fleet_change, judged))  # its room-mates'
    own_change = room.offset - room.usual_offset  # against its room
    # Its room-mates moved the other way against the fleet, noticeably (beyond the room's own
    # limit) and further than the board did; or the neighbours it usually moves with (fleet-wide)
    # shared its change against the fleet, as precisely as its room judges it.
    limit = options.threshold * room.scale
    with np.errstate(invalid="ignore"):
        stayed = (
            (np.sign(room_change) == -np.sign(own_change))
            & (np.abs(room_change) > limit)
            & (np.abs(room_change) > np.abs(fleet_change))
        )
        moved = fleet.moved_with & (np.abs(fleet_change - fleet.shared_change) <= limit)
        # or a group that left its gaps to the fleet with it in this sweep shares its change,
        # even where the fleet view's range at this hour holds it (what it did on a past day),
        # one shared change as `_group_change` has it (the room's limit plus a fifth)
        moved |= _one_change(fleet_change, fleet.group_change, limit)  # NaN: no group
    cleared = drifting & fleet_ok & (stayed | moved)
    if not cleared.any():
        return room
    return replace(
        room,
        status=np.where(cleared, CODE[Status.OK], room.status).astype(np.int64),
        z=np.where(cleared, fleet.z, room.z),
        shared_change=np.where(
            cleared & moved,
            np.where(np.isfinite(fleet.shared_change), fleet.shared_change, fleet.group_change),
            room.shared_change,
        ),
        moved_with=room.moved_with | (cleared & moved),
        room_moved=np.where(cleared & ~moved, room_change, room.room_moved),
        taken_out=np.where(cleared, np.nan, room.taken_out),
    )


def _baseline_level(
    implied: Floats, base: BaselineView, groups: Cohorts, reference: Bools, options: SweepOptions
) -> tuple[Floats, Bools, Floats]:
    """The level each source's `reference` peers imply (the leave-one-out median of `implied`,
    each peer's value less its gap), whether enough peers were there to use it, and the spread
    of the peers' current changes (a cohort-wide reshuffle widens it)."""
    adjusted = groups.pack(implied, reference)
    centre = groups.loo_median(adjusted)
    enough = (base.buckets >= options.min_baseline_buckets) & np.isfinite(base.offset)
    enough &= groups.loo_count(reference) >= options.min_peers
    return centre, enough, groups.sigma(adjusted - centre)


def _of_neighbours(neighbours: Ints, values: Floats) -> Floats:
    """(rows, K) `values` of each row's neighbours, NaN where there is none (-1)."""
    out: Floats = np.where(neighbours >= 0, values[np.maximum(neighbours, 0)], np.nan)
    return out


def _neighbour_spread(neighbours: Ints | None, values: Floats, at_least: int) -> Floats:
    """σ (1.4826 × MAD) of the `values` of each row's neighbours, NaN where fewer than
    `at_least` of them have one.

    >>> _neighbour_spread(np.array([[1, 2, 3], [0, -1, -1]]), np.array([0.0, 1.0, 2.0, 4.0]), 3)
    array([1.4826,    nan])
    """
    if neighbours is None or neighbours.shape[1] == 0:
        return np.full(len(values), np.nan)
    theirs = _of_neighbours(neighbours, values)
    enough = np.isfinite(theirs).sum(axis=1) >= at_least
    centre = nan_median(np.where(enough[:, None], theirs, np.nan))
    spread = MAD_TO_SIGMA * nan_median(np.abs(theirs - centre[:, None]))
    out: Floats = np.where(enough, spread, np.nan)
    return out


def _shared_change(neighbours: Ints | None, delta: Floats, own: Floats) -> Floats:
    """The change of each source's neighbour that moved unusually far itself and most nearly as
    the source did (`own`), 0 where none did: one neighbour that moved the same way is enough,
    and one that failed on its own way (a drifting board) does not hide the others.

    >>> _shared_change(np.array([[1, 2], [0, -1], [0, -1]]), np.array([np.nan, 2.0, 9.0]),
    ...                np.array([1.9, 2.0, 9.0])).tolist()
    [2.0, 0.0, 0.0]
    """
    if neighbours is None or neighbours.shape[1] == 0:
        return np.zeros(len(delta))
    theirs = _of_neighbours(neighbours, delta)
    distance = np.where(np.isfinite(theirs), np.abs(theirs - own[:, None]), np.inf)
    nearest = np.take_along_axis(theirs, np.argmin(distance, axis=1)[:, None], axis=1)[:, 0]
    out: Floats = np.where(np.isfinite(nearest), nearest, 0.0)
    return out


def _group_change(
    codes: Ints,
    moved: Floats,
    before: Floats,
    scale: Floats,
    threshold: float,
    *,
    enabled: bool = True,
    vouched: Bools | None = None,
) -> tuple[Floats, Ints]:
    """For each row that moved (`moved` finite: its change from its usual gap, where it left it
    by more than the judgement's limit), the median change of the other rows of its cohort that
    moved the same way by about as much (`_one_change`) and began at the same time (`_same_onset`),
    where at least `MIN_GROUP` - 1 did and the row's own onset can be told; NaN elsewhere. Also
    those rows, (rows, K) padded with -1.

    `before` is each row's change at one or more earlier points, (rows,) or (rows, P) oldest
    first, NaN where unknown (`MetricBaseline.recent` less the usual gap); divided by the row's
    change, it is the share made by then. A board that steps by the size of a room's HVAC change
    a quarter of an hour after it did not begin with it, and a change complete at every point
    has no onset that can be told, so it joins no group.

    `MIN_GROUP` is 4: learned links vouch for a pair, but here only numbers do. Two or three
    faults of one size and sign at once in a cohort happen (two boards in the sun on one clear
    morning, one failing sensor batch), four boards stepping together is a shared cause; and a
    group that small is still smaller than a room. Three are enough (`VOUCHED_GROUP`) where two
    of them are `vouched` (`_linked_pairs`: learned neighbours that moved by one change, so
    history already vouches for their cause): a third board moving as they do, when they do, is
    part of the change learned links found.

    >>> moved = np.array([2.0, 2.1, 1.9, 2.05, 4.0, np.nan, -2.0])
    >>> codes, scale = np.zeros(7, np.int64), np.full(7, 0.125)
    >>> change, rows = _group_change(codes, moved, np.zeros(7), scale, 4.0)  # within 0.5
    >>> change.round(2).tolist()
    [2.05, 2.0, 2.05, 2.0, nan, nan, nan]
    >>> rows[0].tolist()
    [1, 2, 3]
    >>> late = np.array([2.0, 2.1, 1.9, 0.0, 0.0, 0.0, 0.0])  # the fourth moved just now
    >>> _group_change(codes, moved, late, scale, 4.0)[0].round(2).tolist()
    [nan, nan, nan, nan, nan, nan, nan]
    """
    n = len(moved)
    out = np.full(n, np.nan)
    idx = np.flatnonzero(np.isfinite(moved))
    sure = np.zeros(n, np.bool_) if vouched is None else vouched & np.isfinite(moved)
    if not enabled or len(idx) < (VOUCHED_GROUP if sure.sum() >= 2 else MIN_GROUP):
        return out, np.full((n, 0), -1, np.int64)
    c, sigma = moved[idx], scale[idx]
    code, sign = codes[idx], np.sign(c)
    with np.errstate(invalid="ignore", divide="ignore"):  # the shares of its change made before
        done = np.clip(before.reshape(n, -1)[idx] / c[:, None], 0.0, 1.0)
    onset = _onsets(done)
    found: list[Ints] = []
    # Row blocks of the pairwise comparison, so memory stays block × moved however many boards
    # move in one sweep (a fleet-wide event moves them all).
    sure_idx = sure[idx]
    for lo in range(0, len(idx), GROUP_BLOCK):
        b = slice(lo, lo + GROUP_BLOCK)
        with np.errstate(invalid="ignore"):
            near = (
                (code[b, None] == code[None, :])
                & (sign[b, None] == sign[None, :])
                & _one_change(c[b, None], c[None, :], threshold * np.fmin(sigma[b, None], sigma))
                & _same_onset(done[b], onset[b], done, onset)
                & (onset[b, None] >= 0)  # its onset can be told
            )
        near[np.arange(near.shape[0]), np.arange(lo, lo + near.shape[0])] = False  # not itself
        for k, mates in enumerate(near):
            ks = np.flatnonzero(mates)
            sure_here = int(sure_idx[ks].sum()) + int(sure_idx[lo + k])
            if len(ks) >= MIN_GROUP - 1 or (len(ks) >= VOUCHED_GROUP - 1 and sure_here >= 2):
                out[idx[lo + k]] = float(np.median(c[ks]))
                found.append(idx[ks])
            else:
                found.append(idx[:0])
    width = max((len(f) for f in found), default=0)
    rows = np.full((n, width), -1, np.int64)
    for i, f in zip(idx.tolist(), found, strict=True):
        rows[i, : len(f)] = f
    return out, rows


def _linked_pairs(neighbours: Ints | None, moved: Floats, scale: Floats, threshold: float) -> Bools:
    """Rows that, with a row that lists it or that it lists among its learned `neighbours`
    (moving together is mutual), both moved (`moved` finite) by one change (`_one_change`).

    >>> links = np.array([[2, -1], [-1, -1], [-1, -1], [-1, -1]])
    >>> _linked_pairs(links, np.array([2.0, 2.0, 2.1, 2.0]), np.full(4, 0.1), 3.0).tolist()
    [True, False, True, False]
    """
    out = np.zeros(len(moved), np.bool_)
    if neighbours is None or neighbours.shape[1] == 0:
        return out
    rows, cols = np.nonzero(neighbours >= 0)
    other = neighbours[rows, cols]
    limit = threshold * np.fmin(scale[rows], scale[other])
    pair = _one_change(moved[rows], moved[other], limit)  # False where either did not move
    out[rows[pair]] = True
    out[other[pair]] = True
    return out


def _one_change(a: Floats, b: Floats, limit: Floats) -> Bools:
    """Element by element (broadcast), `a` and `b` are one shared change: apart by at most
    `limit` (what the judgement tells apart) plus `ONSET_SHARE` of the smaller (one cause moves
    a board by the door less than one in the middle); False at NaN.

    >>> _one_change(np.array([2.95, 2.0, 1.0]), np.array([3.64, 4.0, np.nan]), np.full(3, 0.37))
    array([ True, False, False])
    """
    with np.errstate(invalid="ignore"):
        out: Bools = np.abs(a - b) <= limit + ONSET_SHARE * np.fmin(np.abs(a), np.abs(b))
    return out


def _onsets(done: Floats) -> Ints:
    """Per row of `done` (its shares of the change made at earlier points, oldest first, NaN
    where unknown), the last point where at most `ONSET_SHARE` of it was made: where the change
    began. -1 where none (complete at every point: its onset cannot be told)."""
    small = done <= ONSET_SHARE  # NaN compares False
    last = done.shape[1] - 1 - np.argmax(small[:, ::-1], axis=1)
    out: Ints = np.where(small.any(axis=1), last, -1)
    return out


def _same_onset(a: Floats, onset_a: Ints, b: Floats, onset_b: Ints) -> Bools:
    """(len(a), len(b)): each pair made about the same share of its change (within
    `ONSET_SHARE`, wherever both are known) at every point after the earlier of their onsets
    (`_onsets`): they began together. What a board did before then (another event hours
    earlier) has no say."""
    out: Bools = np.ones((len(a), len(b)), np.bool_)
    since = np.fmin(onset_a[:, None], onset_b[None, :])
    with np.errstate(invalid="ignore"):
        for p in range(a.shape[1]):  # a point at a time: memory stays len(a) × len(b)
            apart = np.abs(a[:, p, None] - b[None, :, p]) > ONSET_SHARE  # NaN compares False
            out &= ~(apart & (since < p))
    return out


def _steady_references(
    groups: Cohorts, usable: Bools, sigma: Floats, floor: float, options: SweepOptions
) -> Bools:
    """The peers a level is built from: those whose own gap is steady at this hour.

    A board in the sun at noon is a poor reference at noon (its gap swings by degrees between
    sunny and cloudy days), so peers whose scale at this hour is over `STEADY_SIGMA_FACTOR` times
    their cohort's typical one are left out, as long as `min_peers` + 1 steady ones remain.
    """
    with np.errstate(invalid="ignore"):
        typical = groups.loo_median(groups.pack(sigma, usable))
        steady = usable & (sigma <= STEADY_SIGMA_FACTOR * np.fmax(typical, floor))
    members = groups.loo_count(steady) + steady
    out: Bools = np.where(members > options.min_peers, steady, usable)
    return out


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
