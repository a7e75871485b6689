"""Cohorts found without tags: boards that usually move together are compared with each other
first, so a room moving together is one cohort event, and a board leaving its room still alerts."""

from __future__ import annotations

import doctest
import re

import numpy as np
import pytest
from room_fleets import MIN, PER_ROOM, rooms_fleet

import fleetscan.fleet.discover
from fleetscan.fleet import SeriesBatch, Status, SweepOptions, learn_baseline, score_window
from fleetscan.fleet.baseline import MetricBaseline
from fleetscan.fleet.sweep import FleetResult

HOUR = 3_600_000
OPTS = SweepOptions(min_peers=3)


def fleet(hours: int, *, room_shift: float = 0.0, board_shift: float = 0.0) -> SeriesBatch:
    """The 15 boards of `rooms_fleet`, untagged; in the last 30 minutes room 0 moves by
    `room_shift` and board b12 (room 2) by `board_shift`."""
    shifts = dict.fromkeys(range(PER_ROOM), room_shift) | {12: board_shift}
    return rooms_fleet(hours, shifts, tagged=False)


def sweep(batch: SeriesBatch) -> dict[str, FleetResult]:
    now = int(batch.ts_ms.max()) + 1
    base = learn_baseline(batch.until(now - 40 * MIN), now_ms=now - 40 * MIN, options=OPTS)
    window = {"temperature": batch.between(now - OPTS.window_ms, now)}
    results, _ = score_window(window, {"temperature": base}, now_ms=now, options=OPTS)
    return {r.source_id: r for r in results}


def test_a_room_moving_together_is_one_cohort_event_not_five_alerts() -> None:
    r = sweep(fleet(60, room_shift=2.5))
    room = [f"b{i:02d}" for i in range(PER_ROOM)]
    assert [s for s, x in r.items() if x.status.flagged] == []
    assert {r[s].cohort for s in room} == {"~b00"}  # one discovered cohort, named
    assert all("a cohort event" in r[s].reason for s in room)
    assert r["b07"].cohort == "" and "cohort event" not in r["b07"].reason
    without = sweep_without_discovery(fleet(60, room_shift=2.5))
    assert sorted(s for s, x in without.items() if x.status is Status.DRIFTING) == room


def test_a_board_leaving_its_room_still_drifts() -> None:
    r = sweep(fleet(60, board_shift=2.5))
    assert [s for s, x in r.items() if x.status.flagged] == ["b12"]
    assert r["b12"].status is Status.DRIFTING


def sweep_without_discovery(batch: SeriesBatch) -> dict[str, FleetResult]:
    global OPTS
    saved, OPTS = OPTS, SweepOptions(min_peers=3, discover_cohorts=False)
    try:
        return sweep(batch)
    finally:
        OPTS = saved


def test_doctests() -> None:
    assert doctest.testmod(fleetscan.fleet.discover).failed == 0


def test_a_board_in_the_sun_is_still_linked_to_its_room() -> None:
    """A room whose HVAC moves it by 1 °C a few times a week, one of its boards by a window (sun
    08:00 to 12:00, up to 8 °C on clear days, nothing on dull ones): that board's own swings
    must not hide the room it moves with (its sunny hours are left out for it)."""
    rng = np.random.default_rng(0)
    hours = 7 * 24
    t = np.arange(hours, dtype=np.int64) * HOUR
    hvac = np.zeros(hours)
    for start in rng.choice(np.arange(20, hours - 4), 7, replace=False):
        hvac[start : start + 3] += rng.choice([-1.0, 1.0])
    clear = np.repeat(rng.uniform(0.3, 1, 7) * (rng.random(7) < 0.6), 24) * 8.0
    hour = t // HOUR % 24
    sun = np.where((hour >= 8) & (hour < 12), clear * np.sin(np.pi * (hour - 7.5) / 4), 0.0)
    room = [hvac + rng.normal(0, 0.05, hours) for _ in range(4)]
    others = [rng.normal(0, 0.05, hours) + np.repeat(rng.normal(0, 0.5, 28), 6) for _ in range(6)]
    gaps = np.vstack([*room[:3], room[3] + sun, *others])
    links = fleetscan.fleet.discover.neighbours(gaps, t, bucket_ms=HOUR)
    assert set(links[3].tolist()) - {-1} == {0, 1, 2}
    assert all(set(links[i].tolist()) - {-1} <= {0, 1, 2, 3} for i in range(3))


def test_a_board_flagged_while_it_moved_still_learns_that_it_moved() -> None:
    """The window of a board judged off its usual gap stays out of its usual figures, but what it
    did is kept for discovery (`off_usual`, read by `moves()`): otherwise a board that reads as
    drifting whenever its room's HVAC moves it could never learn it moves with that room."""
    batch = fleet(60, board_shift=2.5)
    now = int(batch.ts_ms.max()) + 1
    base = learn_baseline(batch.until(now - 40 * MIN), now_ms=now - 40 * MIN, options=OPTS)
    window = {"temperature": batch.between(now - OPTS.window_ms, now)}
    results, folded = score_window(window, {"temperature": base}, now_ms=now, options=OPTS)
    after = folded["temperature"]
    row, col = (
        after.source_ids.index("b12"),
        int(np.searchsorted(after.bucket_start, now // HOUR * HOUR)),
    )
    drifting = next(r for r in results if r.source_id == "b12")
    assert drifting.status is Status.DRIFTING
    before = (
        base.source_ids.index("b12"),
        int(np.searchsorted(base.bucket_start, now // HOUR * HOUR)),
    )
    assert after.weight[row, col] == base.weight[before]  # not learned as its usual gap...
    off, off_weight = after.off_usuals()
    assert off[row, col] == pytest.approx(drifting.offset) and off_weight[row, col] == 1
    assert after.moves()[row, col] != after.offset[row, col]  # ...but seen to move
    calm = after.source_ids.index("b07")
    assert after.moves()[calm, col] == after.offset[calm, col]
    again = MetricBaseline.from_dict(after.to_dict())
    kept = np.searchsorted(after.bucket_start, again.bucket_start)  # empty buckets are not stored
    np.testing.assert_array_equal(again.moves(), after.moves()[:, kept])
    old_format = after.to_dict()  # a state written before `off_usual`: four fields a bucket
    for source in old_format["sources"]:
        source["buckets"] = [b[:4] for b in source["buckets"]]
    older = MetricBaseline.from_dict(old_format)
    assert older.off_usual is None
    np.testing.assert_array_equal(older.moves(), older.offset)


def test_a_board_that_moved_less_than_its_room_says_so() -> None:
    """Room 0 warms by 8 °C together but b01 by 4.5: off the fleet and off its room both ways,
    it drifts, judged by the nearer of the two (its change against the boards it moves with),
    and the reason names that change so the z's sign reads true."""
    shifts = dict.fromkeys(range(PER_ROOM), 8.0) | {1: 4.5}
    r = sweep(rooms_fleet(60, shifts, tagged=False))
    b01 = r["b01"]
    assert b01.status is Status.DRIFTING and b01.z < -3, b01.reason
    said = re.search(
        r"; ([-+]\d+\.\d+) °C against the boards it moves with, which moved "
        r"([-+]\d+\.\d+) °C",
        b01.reason,
    )
    assert said is not None, b01.reason
    against, moved = float(said[1]), float(said[2])
    assert -4.0 < against < -3.0 and 7.0 < moved < 8.5, b01.reason  # 4.5 - 8, the room's 8
    others = [s for s, x in r.items() if x.status.flagged]
    assert others == ["b01"], others
    plain = sweep(fleet(60, board_shift=2.5))["b12"]
    assert plain.status is Status.DRIFTING and "against the boards" not in plain.reason
