"""A board coming back from a change its group shared is not a fresh fault while its own change
keeps the group's sign and is no larger (`sweeps.step._returning`); a drift growing past it, a
step the other way, or a sweep read normal on its own end that."""

from __future__ import annotations

import math
from dataclasses import replace

from fleetscan.fleet.status import Status
from fleetscan.fleet.sweep import FleetResult, Said
from fleetscan.lifecycle import SeriesState
from fleetscan.sweeps.step import _returning

BASE = FleetResult(
    source_id="b26",
    metric="temperature",
    at_ms=0,
    cohort="room",
    status=Status.OK,
    score=0.0,
    value=20.0,
    count=30,
    age_ms=0.0,
    fleet_median=20.0,
    fleet_scale=0.1,
    z=0.0,
    offset=0.0,
    baseline_offset=0.0,
    peers=4,
    explain=Said(""),
)


def result(change: float, *, flagged: bool, shared: float = math.nan) -> FleetResult:
    status = Status.DRIFTING if flagged else Status.OK
    return replace(BASE, status=status, offset=change, shared_change=shared)


def test_a_board_explained_by_its_group_then_ramping_back_with_it_is_returning() -> None:
    explained = _returning(None, result(-1.65, flagged=False, shared=-1.72))
    assert explained == -1.72
    assert _returning(explained, result(-0.59, flagged=True)) == -1.72  # lagging on its way back
    assert _returning(explained, result(-1.80, flagged=True)) == -1.72  # still where it took it


def test_a_change_past_the_shared_one_or_the_other_way_is_judged_as_usual() -> None:
    assert _returning(-1.72, result(-2.4, flagged=True)) is None  # grew past it: its own
    assert _returning(-1.72, result(+0.8, flagged=True)) is None  # the other way
    assert _returning(None, result(-0.6, flagged=True)) is None  # nothing shared before


def test_spikes_or_a_frozen_sensor_right_after_a_shared_change_are_flags_of_their_own() -> None:
    for status in (Status.NOISY, Status.STUCK, Status.STALE):
        flagged = replace(result(-1.70, flagged=True), status=status)
        assert _returning(-1.72, flagged) is None, status


def test_a_sweep_read_normal_on_its_own_ends_it() -> None:
    assert _returning(-1.72, result(-0.05, flagged=False)) is None


def test_the_state_keeps_it() -> None:
    state = SeriesState(streak=1, returning=-1.72)
    assert SeriesState.from_dict(state.to_dict()) == state
    assert SeriesState.from_dict({"streak": 0}).returning is None  # older states load
