"""With tags, a board off its usual gap to its room is also judged against the whole fleet
(`MetricBaseline.fleet_view`): when most of its room moved and it did not, the room moved, not
the board; a board that leaves its room on its own still drifts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from room_fleets import MIN, rooms_fleet

from fleetscan.fleet import SeriesBatch, Status, SweepOptions, learn_baseline, score_window
from fleetscan.fleet.baseline import MetricBaseline
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
