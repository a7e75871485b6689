"""With tags, a board off its usual gap to its room is also judged against the whole fleet
(`MetricBaseline.fleet_view`): when most of its room moved and it did not, the room moved, not
the board; a board that leaves its room on its own still drifts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from room_fleets import MIN, rooms_fleet

from fleetscan.fleet import SeriesBatch, Status, SweepOptions, learn_baseline, score_window
from fleetscan.fleet.baseline import MetricBaseline, fold_window
from fleetscan.fleet.sweep import FleetResult

HOUR = 3_600_000
OPTS = SweepOptions(min_peers=3, group_by=("room",))


def fleet(hours: int, movers: frozenset[int], shift: float) -> SeriesBatch:
    """The 15 tagged boards of `rooms_fleet`; in the last 30 minutes `movers` move by `shift`."""
    return rooms_fleet(hours, dict.fromkeys(movers, shift), tagged=True)


def learned(batch: SeriesBatch) -> tuple[int, MetricBaseline]:
    now = int(batch.ts_ms.max()) + 1
    return now, learn_baseline(batch.until(now - 40 * MIN), now_ms=now - 40 * MIN, options=OPTS)


def sweep(batch: SeriesBatch, base: MetricBaseline, now: int) -> dict[str, FleetResult]:
    window = {"temperature": batch.between(now - OPTS.window_ms, now)}
    results, _ = score_window(window, {"temperature": base}, now_ms=now, options=OPTS)
    return {r.source_id: r for r in results}


def test_a_board_whose_room_moved_without_it_is_not_drifting() -> None:
    batch = fleet(60, frozenset({1, 2, 3, 4}), 2.5)  # four of room 0's five boards warm
    now, base = learned(batch)
    r = sweep(batch, base, now)
    assert [s for s, x in r.items() if x.status.flagged] == []
    assert r["b00"].status is Status.OK
    assert "in line with the rest of the fleet" in r["b00"].reason
    assert "room-0" in r["b00"].reason and "+2." in r["b00"].reason
    # Without the cohort levels (a state written before them) there is no fleet view: the same
    # sweep finds b00 drifting against its room, as before.
    blind = replace(base, level=None)
    assert blind.fleet_view() is None
    assert sweep(batch, blind, now)["b00"].status is Status.DRIFTING


def test_a_board_leaving_its_room_alone_still_drifts_with_tags() -> None:
    batch = fleet(60, frozenset({12}), 2.5)
    now, base = learned(batch)
    r = sweep(batch, base, now)
    assert [s for s, x in r.items() if x.status.flagged] == ["b12"]
    assert r["b12"].status is Status.DRIFTING


def test_a_whole_room_moving_is_no_fault_of_its_boards() -> None:
    batch = fleet(60, frozenset(range(5)), 2.5)
    now, base = learned(batch)
    assert [s for s, x in sweep(batch, base, now).items() if x.status.flagged] == []


def test_cohort_levels_are_stored_and_old_states_load_without_them() -> None:
    batch = fleet(30, frozenset(), 0.0)
    _, base = learned(batch)
    again = MetricBaseline.from_dict(base.to_dict())
    kept = np.searchsorted(base.bucket_start, again.bucket_start)
    np.testing.assert_allclose(again.levels(), base.levels()[:, kept])
    view = base.fleet_view()
    assert view is not None and set(view.cohorts) == {""}
    # Rooms sit 1 °C apart, so a board's gap to the whole fleet is about its room's distance
    # from the middle room.
    assert np.nanmedian(view.offset[0]) < -0.5 < 0.5 < np.nanmedian(view.offset[10])
    old = base.to_dict()
    for source in old["sources"]:
        source["buckets"] = [b[:4] for b in source["buckets"]]
    older = MetricBaseline.from_dict(old)
    assert older.level is None and older.fleet_view() is None


def swept(batch: SeriesBatch) -> tuple[dict[str, FleetResult], MetricBaseline]:
    """Sweeps every 5 minutes from 40 minutes before the end, the baseline folded forward (so
    the windows judged off the usual gap are in it, as in a cron run), and the last results."""
    now, base = learned(batch)
    state = {"temperature": base}
    for at in range(now - 35 * MIN, now + 1, 5 * MIN):
        window = {"temperature": batch.between(at - OPTS.window_ms, at)}
        results, state = score_window(window, state, now_ms=at, options=OPTS)
    return {r.source_id: r for r in results}, state["temperature"]


def test_a_board_moving_with_the_room_next_door_is_part_of_that_change() -> None:
    """Room 1 (b05..b09) warms by 4 °C, and so does b04 of room 0, by the door: against its own
    room b04 left its gap, against the fleet it moved with five boards at the same time (the
    fleet, whose rooms wander apart, judges to about ±0.7 °C here: 4 °C is beyond it)."""
    r, _ = swept(fleet(60, frozenset(range(4, 10)), 4.0))
    assert [s for s, x in r.items() if x.status.flagged] == []
    assert r["b04"].status is Status.OK


def test_windows_off_the_gap_to_the_room_are_kept_with_their_room_level() -> None:
    """A window judged off its usual gap to its room keeps the room's level too, in the state as
    well, so the fleet view sees what the board did against the fleet then."""
    now, base = learned(fleet(30, frozenset(), 0.0))
    ids = base.source_ids
    i = ids.index("b04")
    offsets = np.zeros(len(ids))
    offsets[i] = 4.0  # b04 4 °C over its room, whose level is 21.5 °C
    folded = fold_window(
        base,
        source_ids=ids,
        cohorts=base.cohorts,
        offsets=offsets,
        learn=np.arange(len(ids)) != i,
        last_ts=np.full(len(ids), now),
        interval_ms=np.full(len(ids), float(MIN)),
        now_ms=now,
        options=OPTS,
        off_usual=np.arange(len(ids)) == i,
        levels=np.full(len(ids), 21.5),
    )
    off, off_w = folded.off_usuals()
    assert off[i, -1] == 4.0 and off_w[i, -1] == 1.0 and folded.off_levels()[i, -1] == 21.5
    assert np.isnan(folded.off_levels()[i - 1, -1])  # a usual window's level is `level`'s
    again = MetricBaseline.from_dict(folded.to_dict())
    assert again.off_levels()[again.source_ids.index("b04"), -1] == 21.5
    view = folded.fleet_view()
    assert view is not None
    fleet_off, fleet_w = view.off_usuals()
    # Its gap to the fleet then: the room's level and its gap, less the others' middle (the
    # middle room, whose boards sit near 22 °C: 21.5 + 4 - 22 is about 3.5).
    assert fleet_w[i, -1] == 1.0 and 3.0 < fleet_off[i, -1] < 4.0
    # A state written before the room level was kept: the fleet view has no such windows.
    old = folded.to_dict()
    for source in old["sources"]:
        source["buckets"] = [b[:7] for b in source["buckets"]]
    older = MetricBaseline.from_dict(old)
    assert older.off_level is None and older.off_usuals()[1][i, -1] == 1.0
    older_view = older.fleet_view()
    assert older_view is not None and older_view.off_usual is None


def test_a_board_by_the_door_moving_less_than_the_next_room_is_part_of_its_change() -> None:
    """One cause moves a board by the door less: b04 warms 3.3 °C while room 1 warms 4 °C."""
    batch = rooms_fleet(60, dict.fromkeys(range(5, 10), 4.0) | {4: 3.3}, tagged=True)
    r, _ = swept(batch)
    assert [s for s, x in r.items() if x.status.flagged] == []
    assert "moved together" in r["b04"].reason


def test_a_board_moving_alone_by_the_next_rooms_change_still_drifts() -> None:
    """b04 warms with room 1 but by twice as much: no group shares that change."""
    batch = rooms_fleet(60, dict.fromkeys(range(5, 10), 4.0) | {4: 8.0}, tagged=True)
    r, _ = swept(batch)
    assert [s for s, x in r.items() if x.status.flagged] == ["b04"]
