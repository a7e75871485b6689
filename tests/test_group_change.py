"""Without tags and without history linking them, boards that leave their usual gaps in the same
sweep by about the same change are one group change (a cohort event), not N drifting boards; a
board whose own change differs from the group's by more than its scale still drifts."""

from __future__ import annotations

import numpy as np

from fleetscan.fleet import SeriesBatch, Status, SweepOptions, learn_baseline, score_window
from fleetscan.fleet.baseline import MetricBaseline
from fleetscan.fleet.score import MIN_GROUP
from fleetscan.fleet.sweep import FleetResult
from fleetscan.sweeps.step import cohort_events

START = 1_781_222_400_000  # 2026-06-12 00:00 UTC
HOUR = 3_600_000
MIN = 60_000
# Boards judged by their own figures from the start (no first-day floor): what is tested here is
# how a group's change is told from a board's own, whatever day it is.
OPTS = SweepOptions(min_peers=3, first_day_ms=0)
BOARDS = 16


def fleet(
    hours: int,
    shifts: dict[int, float],
    late: dict[int, float] | None = None,
    twins: tuple[int, ...] = (),
) -> SeriesBatch:
    """16 boards, each with its own calibration offset and noise (nothing links any two of
    them but the `twins`, which wander together), one reading a minute; in the last 30 minutes
    board i moves by `shifts[i]`, in the last 8 minutes by `late[i]`."""
    rng = np.random.default_rng(8)
    ts = START + np.arange(hours * 60) * MIN
    recent = ts >= ts[-1] - 30 * MIN
    latest = ts >= ts[-1] - 8 * MIN
    shared = np.repeat(rng.normal(0, 0.3, hours), 60)
    src, when, val = [], [], []
    for i in range(BOARDS):
        wander = np.repeat(rng.normal(0, 0.1, hours), 60)  # its own, hour by hour
        wander = wander + (shared if i in twins else 0.0)
        v = 21 + rng.normal(0, 0.5) + wander + rng.normal(0, 0.05, len(ts))
        v = v + np.where(recent, shifts.get(i, 0.0), 0.0)
        v = v + np.where(latest, (late or {}).get(i, 0.0), 0.0)
        src.append(np.full(len(ts), i))
        when.append(ts)
        val.append(np.round(v, 2))
    s, t, v = np.concatenate(src), np.concatenate(when), np.concatenate(val)
    order = np.argsort(t, kind="stable")
    ids = [f"b{i:02d}" for i in range(BOARDS)]
    return SeriesBatch.from_arrays("temperature", ids, s[order], t[order], v[order])


def sweep(shifts: dict[int, float]) -> tuple[dict[str, FleetResult], MetricBaseline, int]:
    batch = fleet(9, shifts)  # 8 h of history: too few hours for discovery to link any boards
    now = int(batch.ts_ms.max()) + 1
    base = learn_baseline(batch.until(now - 40 * MIN), now_ms=now - 40 * MIN, options=OPTS)
    window = {"temperature": batch.between(now - OPTS.window_ms, now)}
    results, _ = score_window(window, {"temperature": base}, now_ms=now, options=OPTS)
    return {r.source_id: r for r in results}, base, now


def drifts(r: FleetResult) -> bool:
    return r.status in (Status.DRIFTING, Status.ANOMALOUS)


def flagged(r: dict[str, FleetResult]) -> list[str]:
    return sorted(s for s, x in r.items() if x.status.flagged)


def test_a_group_that_moves_together_for_the_first_time_is_one_cohort_event() -> None:
    group = {i: 2.5 for i in range(5)}
    r, base, now = sweep(group)
    links = base.neighbours([f"b{i:02d}" for i in range(BOARDS)], now_ms=now)
    assert (links[:5] == -1).all()  # history links none of them: the group is found in the sweep
    assert flagged(r) == []
    assert {r[f"b{i:02d}"].cohort for i in group} == {"~b00"}
    (event,) = cohort_events(list(r.values()), [])
    assert event.members == tuple(f"b{i:02d}" for i in range(5))
    assert 2.2 < event.change < 2.8


def test_fewer_boards_than_a_group_moving_together_still_drift() -> None:
    r, _, _ = sweep({i: 2.5 for i in range(MIN_GROUP - 1)})
    assert flagged(r) == [f"b{i:02d}" for i in range(MIN_GROUP - 1)]
    assert all(x.status is Status.DRIFTING for x in r.values() if x.status.flagged)


def test_a_board_moving_with_two_that_history_links_is_part_of_their_change() -> None:
    """Boards 0 and 1 wander together for 30 h (discovery links them); then 0, 1 and 2 move by
    +2.5 °C together: three boards, fewer than a group without links (`MIN_GROUP`), but the
    linked pair vouches for the cause, so board 2 is part of their change, not drifting."""
    batch = fleet(31, {0: 2.5, 1: 2.5, 2: 2.5}, twins=(0, 1))
    now = int(batch.ts_ms.max()) + 1
    start = now - 40 * MIN
    baseline = {"temperature": learn_baseline(batch.until(start), now_ms=start, options=OPTS)}
    links = baseline["temperature"].neighbours(["b00", "b01", "b02"], now_ms=start)
    assert 1 in links[0] and 0 in links[1] and (links[2] == -1).all()
    for at in range(start + 5 * MIN, now + 1, 5 * MIN):
        window = {"temperature": batch.between(at - OPTS.window_ms, at)}
        results, baseline = score_window(window, baseline, now_ms=at, options=OPTS)
        assert not any(drifts(r) for r in results), [r.reason for r in results if drifts(r)]
    last = {r.source_id: r for r in results}
    assert {last[f"b{i:02d}"].cohort for i in range(3)} == {"~b00"}
    alone = fleet(31, {2: 2.5}, twins=(0, 1))  # without the pair moving, board 2 drifts
    base = learn_baseline(alone.until(start), now_ms=start, options=OPTS)
    window = {"temperature": alone.between(now - OPTS.window_ms, now)}
    results, _ = score_window(window, {"temperature": base}, now_ms=now, options=OPTS)
    assert [r.source_id for r in results if drifts(r)] == ["b02"]


def test_a_faulty_board_inside_a_moving_group_still_drifts() -> None:
    shifts = {i: 2.5 for i in range(6)} | {2: 2.5 + 1.5}  # board 2 moves further: its own fault
    r, _, _ = sweep(shifts)
    assert flagged(r) == ["b02"]
    assert r["b02"].status is Status.DRIFTING
    assert {r[f"b{i:02d}"].cohort for i in (0, 1, 3, 4, 5)} == {"~b00"}


def test_a_board_moving_the_other_way_at_the_same_time_still_drifts() -> None:
    r, _, _ = sweep({i: 2.5 for i in range(5)} | {9: -2.5})
    assert flagged(r) == ["b09"]


def test_a_board_that_moves_by_the_groups_change_after_the_group_still_drifts() -> None:
    """The group left its gaps 30 minutes ago and was swept every 5 minutes since; board 9 steps
    by the same +2.5 °C 8 minutes before this sweep: same size and sign, not the same onset."""
    group = {i: 2.5 for i in range(5)}
    batch = fleet(9, group, {9: 2.5})
    now = int(batch.ts_ms.max()) + 1
    start = now - 40 * MIN
    baseline = {"temperature": learn_baseline(batch.until(start), now_ms=start, options=OPTS)}
    for at in range(start + 5 * MIN, now + 1, 5 * MIN):
        window = {"temperature": batch.between(at - OPTS.window_ms, at)}
        results, baseline = score_window(window, baseline, now_ms=at, options=OPTS)
        assert not any(drifts(r) for r in results if r.source_id != "b09")
    last = {r.source_id: r for r in results}
    assert [s for s, r in last.items() if drifts(r)] == ["b09"]
    assert {last[f"b{i:02d}"].cohort for i in group} == {"~b00"}


def test_a_fleet_wide_move_is_compared_in_blocks_with_the_same_answer() -> None:
    """More boards move than one block of the pairwise comparison holds (GROUP_BLOCK): every one
    is in the group, with the others' median change, and its mates are every other board."""
    from fleetscan.fleet.score import GROUP_BLOCK, _group_change

    n = 2 * GROUP_BLOCK + 100
    moved = 2.0 + np.linspace(-0.05, 0.05, n)
    change, rows = _group_change(np.zeros(n, np.int64), moved, np.zeros(n), np.full(n, 0.1), 3.0)
    assert np.isfinite(change).all()
    assert abs(change[0] - float(np.median(moved[1:]))) < 1e-12
    assert rows.shape == (n, n - 1)
    assert rows[n - 1].tolist() == list(range(n - 1))
    assert rows[GROUP_BLOCK].tolist() == [i for i in range(n) if i != GROUP_BLOCK]


def test_onset_is_told_from_where_each_change_began_over_several_points() -> None:
    """`before` at four hourly points (oldest first): five boards began their +2 °C together at
    the third point and completed it by the fourth, more than ONSET_SHARE from the start at
    every point after the onset, so the last point alone could not tell their onset."""
    from fleetscan.fleet.score import _group_change

    shares = np.array(
        [
            [0.0, 0.0, 0.6, 1.0],
            [0.0, 0.0, 0.65, 1.0],
            [0.0, 0.05, 0.55, 1.0],
            [0.9, 0.0, 0.6, 1.0],  # its own event three hours ago has no say
            [np.nan, 0.0, 0.6, 1.0],  # no windows then: no say either
            [0.0, 0.6, 1.0, 1.0],  # began an hour before them: not in their group
            [1.0, 1.0, 1.0, 1.0],  # complete at every point: its onset cannot be told
        ]
    )
    moved = np.full(len(shares), 2.0)
    change, rows = _group_change(
        np.zeros(len(moved), np.int64), moved, 2.0 * shares, np.full(len(moved), 0.1), 3.0
    )
    assert np.isfinite(change[:5]).all() and np.isnan(change[5:]).all()
    assert sorted(rows[0][rows[0] >= 0].tolist()) == [1, 2, 3, 4]


def swept_from_nothing(batch: SeriesBatch) -> dict[str, FleetResult]:
    """Sweeps every 5 min from the first reading, with no history before: the last results."""
    baseline: dict[str, MetricBaseline] = {}
    end = int(batch.ts_ms.max()) + 1
    results: list[FleetResult] = []
    for at in range(START + 15 * MIN, end + 1, 5 * MIN):
        window = {"temperature": batch.between(at - OPTS.window_ms, at)}
        results, baseline = score_window(window, baseline, now_ms=at, options=OPTS)
    return {r.source_id: r for r in results}


def test_before_a_baseline_boards_standing_apart_together_are_one_group_not_anomalous() -> None:
    """Two hours in (no baseline yet), five boards are 4 °C below the fleet together: a room at
    another level or moving as one, each of them ok with a reason that says so; one board alone
    4 °C below is anomalous."""
    group = swept_from_nothing(fleet(2, {i: -4.0 for i in range(5)}))
    for i in range(5):
        r = group[f"b{i:02d}"]
        assert not r.status.flagged, r.reason
        assert "together with other boards" in r.reason and "no baseline" not in r.reason
    alone = swept_from_nothing(fleet(2, {0: -4.0}))
    assert alone["b00"].status is Status.ANOMALOUS, alone["b00"].reason


def test_a_group_across_rooms_is_found_while_other_boards_widen_the_fleets_spread() -> None:
    """Tagged rooms of seven: all of room b and one board of rooms a and c warm by 1.5 °C
    together, while each board of room d changes on its own (sun on the windows, by 0.4-1.2 °C
    either way). Against its room, each lone mover drifts; the fleet view explains it as one
    group with room b. Who moved with the group is judged by each board's own figures, not by
    the spread of the fleet's current changes, which room d (and any group) widens."""
    rng = np.random.default_rng(3)
    ts = START + np.arange(9 * 60) * MIN
    recent = ts >= ts[-1] - 30 * MIN
    rooms = [r for r in "abcd" for _ in range(7)]
    moving = {0, *range(7, 14), 14}
    src, when, val = [], [], []
    for i in range(len(rooms)):
        wander = np.repeat(rng.normal(0, 0.05, 9), 60)
        v = 21 + rng.normal(0, 0.1) + wander + rng.normal(0, 0.03, len(ts))
        sun = rng.choice((-1.0, 1.0)) * rng.uniform(0.4, 1.2) if rooms[i] == "d" else 0.0
        v = v + np.where(recent, 1.5 if i in moving else sun, 0.0)
        src.append(np.full(len(ts), i))
        when.append(ts)
        val.append(np.round(v, 2))
    s, t, v = np.concatenate(src), np.concatenate(when), np.concatenate(val)
    order = np.argsort(t, kind="stable")
    ids = [f"b{i:02d}" for i in range(len(rooms))]
    batch = SeriesBatch.from_arrays("temperature", ids, s[order], t[order], v[order], cohorts=rooms)
    options = SweepOptions(min_peers=3, first_day_ms=0, group_by=("room",))
    now = int(batch.ts_ms.max()) + 1
    base = learn_baseline(batch.until(now - 40 * MIN), now_ms=now - 40 * MIN, options=options)
    window = {"temperature": batch.between(now - options.window_ms, now)}
    results, _ = score_window(window, {"temperature": base}, now_ms=now, options=options)
    r = {x.source_id: x for x in results}
    for lone in ("b00", "b14"):
        assert not r[lone].status.flagged, r[lone].reason
        assert "moved together with other boards" in r[lone].reason, r[lone].reason
    assert all(rooms[ids.index(s)] == "d" for s in flagged(r))  # room d's own changes
