"""Time-of-day baselines: a board with a daily habit of its own is normal at its usual hours, and
the same gap at another hour (or a night-time drift) is caught, with a reason that says so."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import fleetscan.fleet.profile
from fleetscan.fleet import (
    MetricBaseline,
    SeriesBatch,
    Status,
    SweepOptions,
    learn_baseline,
    score_window,
)
from fleetscan.fleet.profile import DailyFigures, Level, daily_figures
from fleetscan.fleet.sweep import FleetResult
from fleetscan.timeutil import DAY_MS, HOUR_MS

MIDNIGHT = 1_781_222_400_000  # 2026-06-12 00:00 UTC, a Friday
MIN = 60_000
OPTS = SweepOptions(min_peers=3)


def fleet(
    days: float,
    *,
    sun: float = 6.0,
    night_drift_from: int | None = None,
    drift_per_day: float = 0.0,
    step_from: int | None = None,
    dull: float = 0.3,
    dull_first: bool = False,
) -> SeriesBatch:
    """8 boards a minute apart over `days`; b01 is in the sun 10:00-14:00 (`dull` times as strong
    every other day, as on cloudy days: the second day, or the first if `dull_first`); b02 optionally drifts 0.5 °C/h from `night_drift_from` (epoch ms),
    b04 steps by +1.5 °C at `step_from`."""
    rng = np.random.default_rng(3)
    ts = MIDNIGHT + np.arange(int(days * DAY_MS // MIN)) * MIN
    hour = (ts % DAY_MS) / HOUR_MS
    day = (ts - MIDNIGHT) // DAY_MS
    shared = 21 + 2 * np.sin(2 * np.pi * (hour - 9) / 24)
    source, stamps, values = [], [], []
    for i in range(8):
        v = shared + 0.1 * i + rng.normal(0, 0.02, len(ts))
        if i == 1:
            into = (hour - 10) / 4
            clear = np.where(day % 2 == int(dull_first), 1.0, dull)
            v = v + np.where((into > 0) & (into < 1), sun * clear * np.sin(np.pi * into) ** 2, 0)
        if i == 3:  # a drift under way before the history begins (0 by default)
            v = v + drift_per_day * (ts - MIDNIGHT + 6 * HOUR_MS) / DAY_MS
        if i == 4 and step_from is not None:  # a +1.5 °C step that stays
            v = v + np.where(ts >= step_from, 1.5, 0.0)
        if i == 2 and night_drift_from is not None:
            v = v + 0.5 * np.clip(ts - night_drift_from, 0, None) / HOUR_MS
        source.append(np.full(len(ts), i))
        stamps.append(ts)
        values.append(np.round(v, 2))
    src, when, val = np.concatenate(source), np.concatenate(stamps), np.concatenate(values)
    order = np.argsort(when, kind="stable")  # `between` slices a time-ordered batch
    ids = [f"b{i:02d}" for i in range(8)]
    return SeriesBatch.from_arrays("temperature", ids, src[order], when[order], val[order])


def at(batch: SeriesBatch, now: int, baseline: MetricBaseline) -> dict[str, FleetResult]:
    window = {"temperature": batch.between(now - OPTS.window_ms, now)}
    results, _ = score_window(window, {"temperature": baseline}, now_ms=now, options=OPTS)
    return {r.source_id: r for r in results}


def test_a_board_in_the_sun_every_day_is_normal_on_sunny_and_cloudy_days() -> None:
    history = fleet(6)
    for day, clear in ((4, "sunny"), (5, "cloudy")):
        now = MIDNIGHT + day * DAY_MS + 12 * HOUR_MS
        base = learn_baseline(history.until(now), now_ms=now, options=OPTS)
        r = at(history, now, base)
        assert r["b01"].status is Status.OK, (clear, r["b01"].reason)
        assert "at this hour" in r["b01"].reason and "at 11:00 UTC" in r["b01"].reason
    one_sigma = SweepOptions(min_peers=3, daily_profile=False)
    now = MIDNIGHT + 4 * DAY_MS + 12 * HOUR_MS
    base = learn_baseline(history.until(now), now_ms=now, options=one_sigma)
    window = {"temperature": history.between(now - OPTS.window_ms, now)}
    results, _ = score_window(window, {"temperature": base}, now_ms=now, options=one_sigma)
    flat = {r.source_id: r for r in results}
    assert flat["b01"].status is Status.DRIFTING  # one usual gap per board cannot hold the sun


def test_the_same_warm_gap_at_night_is_drift_and_a_night_drift_is_caught_within_the_hour() -> None:
    onset = MIDNIGHT + 4 * DAY_MS + 22 * HOUR_MS
    history = fleet(5.5, night_drift_from=onset)
    base = learn_baseline(history.until(onset), now_ms=onset, options=OPTS)
    first = None
    for minutes in range(10, 125, 5):
        now = onset + minutes * MIN
        r = at(history, now, base)["b02"]
        if r.status is Status.DRIFTING:
            first = minutes
            break
    assert first is not None and first <= 60, first
    assert "at 22:00 UTC" in r.reason and "at this hour, past 2 days" in r.reason
    assert r.z > 3


def test_an_hour_with_too_little_history_falls_back_visibly_to_all_hours() -> None:
    history = fleet(1.2)
    now = MIDNIGHT + DAY_MS + 4 * HOUR_MS
    base = learn_baseline(history.until(now), now_ms=now, options=OPTS)
    r = at(history, now, base)["b03"]
    assert r.status is Status.OK
    assert "at any hour" in r.reason and "time-of-day figures after 2 days of history" in r.reason


def test_a_habit_seen_on_one_past_day_is_not_drift_the_next_day_but_a_night_drift_is() -> None:
    """On its second day b01's sun (weaker: a cloudy day) is inside what it did at this hour
    the day before; the hour keeps its all-hours centre and σ, so b02 drifting from 22:00 that
    evening, an hour with nothing unusual the day before, is caught within the hour."""
    onset = MIDNIGHT + DAY_MS + 22 * HOUR_MS
    history = fleet(2.0, night_drift_from=onset)
    noon = MIDNIGHT + DAY_MS + 12 * HOUR_MS
    base = learn_baseline(history.until(noon), now_ms=noon, options=OPTS)
    sun = at(history, noon, base)["b01"]
    assert sun.status is Status.OK, sun.reason
    assert "at any hour, range" in sun.reason and "from 1 past day at this hour" in sun.reason
    assert sun.offset - sun.baseline_offset > 1.0  # it is off its all-hours gap, as the sun is
    base = learn_baseline(history.until(onset), now_ms=onset, options=OPTS)
    first = None
    for minutes in range(10, 125, 5):
        r = at(history, onset + minutes * MIN, base)["b02"]
        if r.status is Status.DRIFTING:
            first = minutes
            break
    assert first is not None and first <= 60, first


def test_early_on_the_reason_says_what_is_being_learned() -> None:
    history = fleet(0.2)
    now = MIDNIGHT + 3 * HOUR_MS
    base = learn_baseline(history.until(now), now_ms=now, options=OPTS)
    r = at(history, now, base)["b03"]
    assert (
        "learning: 3h of history, drift checks from 6h, against the cohort's spread until 24h"
        in r.reason
    )


def test_a_gap_trending_through_the_whole_history_is_a_finding_not_its_normal() -> None:
    history = fleet(2.5, drift_per_day=3.0)
    now = MIDNIGHT + 2 * DAY_MS + 10 * HOUR_MS
    base = learn_baseline(history.until(now), now_ms=now, options=OPTS)
    r = at(history, now, base)
    assert r["b03"].status is Status.DRIFTING, r["b03"].reason
    assert "a day, hour for hour, through its" in r["b03"].reason
    assert "a drift under way, not its normal" in r["b03"].reason
    assert "+3.0" in r["b03"].reason or "+2.9" in r["b03"].reason
    assert r["b01"].status is Status.OK  # in the sun every day: no trend
    steady = fleet(2.5)
    assert (
        at(steady, now, learn_baseline(steady.until(now), now_ms=now, options=OPTS))["b03"].status
        is Status.OK
    )


def hourly_figures(offsets: np.ndarray, starts: np.ndarray, at_ms: int) -> DailyFigures:
    """`daily_figures` of hourly buckets as a sweep asks for them (±1 h, scale over ±3 h)."""
    return daily_figures(
        offsets,
        starts,
        bucket_ms=HOUR_MS,
        at_ms=at_ms,
        hours=1,
        scale_hours=3,
        min_days=2,
        threshold=3.0,
    )


def test_daily_figures_pick_the_same_kind_of_day_first() -> None:
    starts = MIDNIGHT + np.arange(9 * 24, dtype=np.int64) * HOUR_MS  # Fri 12 .. Sat 20 June
    weekend = ((starts // DAY_MS) + 3) % 7 >= 5
    offsets = np.where(weekend, 0.0, 3.0)[None, :]  # a radiator on weekdays only
    sunday_noon = MIDNIGHT + 9 * DAY_MS + 12 * HOUR_MS  # 21 June
    f = hourly_figures(offsets, starts, sunday_noon)
    assert Level(int(f.level[0])) is Level.SAME_DAYS
    assert (f.usual[0], f.low[0], f.high[0]) == (0.0, 0.0, 0.0)
    assert f.days[0] == 3  # Sat 13, Sun 14, Sat 20


def test_a_weekday_habit_seen_on_the_one_past_weekday_widens_mondays_range() -> None:
    """History from Friday 12 June: a radiator warms board 0 by 2 °C from 08:00 to 18:00 on
    Friday and not at the weekend; board 1 never strays. On Monday at 16:00 the only past
    weekday is Friday, too few for same-kind figures, so the three days' range (0..2) holds,
    but Friday's clear habit there reaches `ONE_DAY_GAIN` times as far, as on a second day:
    a heating day warmer than Friday's is no drift. Board 1 keeps its narrow range."""
    starts = MIDNIGHT + np.arange(3 * 24, dtype=np.int64) * HOUR_MS  # Fri 12 .. Sun 14 June
    hour = (starts // HOUR_MS) % 24
    friday = starts < MIDNIGHT + DAY_MS
    rng = np.random.default_rng(2)
    radiator = np.where(friday & (hour >= 8) & (hour < 18), 2.0, 0.0)
    offsets = np.vstack([radiator, np.zeros(len(starts))]) + rng.normal(0, 0.05, (2, len(starts)))
    monday_4pm = MIDNIGHT + 3 * DAY_MS + 16 * HOUR_MS
    f = hourly_figures(offsets, starts, monday_4pm)
    assert Level(int(f.level[0])) is Level.ANY_DAYS
    assert f.high[0] > 6.0  # well beyond Friday's 2 °C, as a colder Monday's heating may go
    assert f.high[1] < 0.3


@pytest.mark.parametrize("module", [fleetscan.fleet.profile])
def test_doctests(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


def test_a_board_that_often_goes_quiet_for_minutes_is_stale_only_beyond_its_usual_silence() -> None:
    history = fleet(1.0)
    ts = history.ts_ms
    minute_of_hour = (ts % HOUR_MS) // MIN
    bursty = (history.source == 4) & (minute_of_hour >= 20) & (minute_of_hour < 26)  # 6 min
    quiet = (history.source == 5) & (ts >= ts.max() - 5 * MIN)  # b05 silent for the last 5 min
    b04_gap = (history.source == 4) & (ts >= ts.max() - 5 * MIN)  # b04 silent too
    keep = ~bursty & ~quiet & ~b04_gap
    batch = SeriesBatch.from_arrays(
        "temperature", history.source_ids, history.source[keep], ts[keep], history.value[keep]
    )
    now = int(ts.max()) + 1
    base = learn_baseline(batch.until(now - 20 * MIN), now_ms=now - 20 * MIN, options=OPTS)
    r = at(batch, now, base)
    assert r["b05"].status is Status.STALE, r["b05"].reason
    assert r["b04"].status is not Status.STALE, r["b04"].reason  # 5 min is usual for it
    usual = base.view(["b04", "b05"], now_ms=now).silence_ms
    assert 6 * MIN <= usual[0] <= 8 * MIN and usual[1] <= 2 * MIN  # its longest on a usual day


def test_a_gateway_gap_the_whole_fleet_shared_is_no_boards_habit_of_silence() -> None:
    history = fleet(1.0)
    ts = history.ts_ms
    gateway = (ts >= ts.min() + 6 * HOUR_MS + 20 * MIN) & (ts < ts.min() + 6 * HOUR_MS + 32 * MIN)
    quiet = (history.source == 5) & (ts >= ts.max() - 5 * MIN)  # b05 silent for the last 5 min
    keep = ~gateway & ~quiet
    batch = SeriesBatch.from_arrays(
        "temperature", history.source_ids, history.source[keep], ts[keep], history.value[keep]
    )
    now = int(ts.max()) + 1
    base = learn_baseline(batch.until(now - 20 * MIN), now_ms=now - 20 * MIN, options=OPTS)
    assert base.view(["b05"], now_ms=now).silence_ms[0] <= 2 * MIN  # not the 12-min gap
    r = at(batch, now, base)
    assert r["b05"].status is Status.STALE, r["b05"].reason


def small_room_with_sun(days: int) -> SeriesBatch:
    """5 boards a minute apart; b01 and b02 are in the sun 10:00-14:00, dull on every day but the
    last (a fifth of a clear day's sun), then clear: the first clear day after dull ones."""
    rng = np.random.default_rng(5)
    ts = MIDNIGHT + np.arange(days * DAY_MS // MIN) * MIN
    hour = (ts % DAY_MS) / HOUR_MS
    last = (ts - MIDNIGHT) // DAY_MS == days - 1
    into = (hour - 10) / 4
    sun = np.where((into > 0) & (into < 1), np.sin(np.pi * into) ** 2, 0.0)
    shared = 21 + 2 * np.sin(2 * np.pi * (hour - 9) / 24)
    source, stamps, values = [], [], []
    for i in range(5):
        v = shared + 0.1 * i + rng.normal(0, 0.02, len(ts))
        if i in (1, 2):
            v = v + (4.0 + i) * np.where(last, 1.0, 0.2) * sun
        source.append(np.full(len(ts), i))
        stamps.append(ts)
        values.append(np.round(v, 2))
    src, when, val = np.concatenate(source), np.concatenate(stamps), np.concatenate(values)
    order = np.argsort(when, kind="stable")
    ids = [f"b{i:02d}" for i in range(5)]
    return SeriesBatch.from_arrays("temperature", ids, src[order], when[order], val[order])


def test_the_first_clear_day_after_dull_ones_is_no_drift_and_does_not_pull_the_room() -> None:
    history = small_room_with_sun(4)
    now = MIDNIGHT + 3 * DAY_MS + 12 * HOUR_MS
    base = learn_baseline(history.until(now), now_ms=now, options=OPTS)
    r = at(history, now, base)
    for board in ("b01", "b02"):  # five times the sun of past days: well beyond their range
        assert r[board].offset > 3.0
    # Two peers in the sun must not pull their three plain room-mates off (a leave-one-out
    # median of four would): each peer is judged against the median of the whole room.
    for board in ("b00", "b03", "b04"):
        assert r[board].status is Status.OK, r[board].reason
        assert abs(r[board].offset - r[board].baseline_offset) < 0.3, r[board].reason


def test_a_step_in_an_hour_still_learning_is_not_that_hours_normal_a_day_later() -> None:
    """Sweeps every 10 min from no history. b04 steps +1.5 °C at 17:00 on day 2, an hour with
    one past day, whose flagged windows are learned (so a habit seen then gets an hour of its
    own); a day later that hour's range would hold the step, but the board has been off its
    usual gap in every window since the night, so it is judged against all hours and still
    drifts. b01's sun, off for a few hours only, keeps its hours' ranges."""
    step = MIDNIGHT + DAY_MS + 17 * HOUR_MS
    history = fleet(2.9, step_from=step)
    baseline: dict[str, MetricBaseline] = {}
    seen: dict[tuple[str, int], FleetResult] = {}
    for now in range(MIDNIGHT + HOUR_MS, MIDNIGHT + int(2.9 * DAY_MS), 10 * MIN):
        window = {"temperature": history.between(now - OPTS.window_ms, now)}
        results, baseline = score_window(window, baseline, now_ms=now, options=OPTS)
        for r in results:
            seen[(r.source_id, now)] = r
    noon = 12 * HOUR_MS
    assert seen[("b01", MIDNIGHT + noon)].flagged  # the first sunny noon: nothing known yet
    later = [seen[("b01", MIDNIGHT + d * DAY_MS + noon)].status for d in (1, 2)]
    assert later == [Status.OK, Status.OK], later
    after = [seen[("b04", step + d * DAY_MS + 30 * MIN)] for d in (0, 1)]
    assert [r.status for r in after] == [Status.DRIFTING, Status.DRIFTING], after[1].reason
    assert "off its usual gap in every window for 12 h+" in after[1].reason
    held = [
        seen[("b04", t)].status for t in range(step + 30 * MIN, step + DAY_MS + HOUR_MS, HOUR_MS)
    ]
    assert all(status is Status.DRIFTING for status in held), held


def test_a_clear_day_after_one_dull_day_is_no_drift_but_a_board_without_the_habit_is() -> None:
    """Day 1 dull (a fifth of the sun), day 2 clear: at noon on day 2, b01 sits 5× as far off
    as the one past day showed, within `ONE_DAY_GAIN`. b04, which has no habit there, stepping
    by +1.5 °C an hour before still drifts."""
    now = MIDNIGHT + DAY_MS + 12 * HOUR_MS + 30 * MIN
    history = fleet(1.6, dull=0.2, dull_first=True, step_from=now - 90 * MIN)
    base = learn_baseline(history.until(now), now_ms=now, options=OPTS)
    r = at(history, now, base)
    assert r["b01"].offset > 5.0, r["b01"].reason  # the sun of the day before: about 1.2 °C
    assert r["b01"].status is Status.OK, r["b01"].reason
    assert r["b04"].status is Status.DRIFTING, r["b04"].reason
