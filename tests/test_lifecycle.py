"""Alert lifecycle across sweeps on constructed sequences: open, hold, recover, cooldown, storm."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fleetscan.lifecycle import LifecycleOptions, SeriesState, Transition, step, storms

MIN = 60_000
OPTS = LifecycleOptions(consecutive=3, recovery_ms=15 * MIN, cooldown_ms=30 * MIN)


def run(
    flags: list[bool], every_ms: int = 5 * MIN, opts: LifecycleOptions = OPTS
) -> list[tuple[bool, str | None]]:
    state = SeriesState()
    out = []
    for i, flag in enumerate(flags):
        state, transition = step(state, flag, i * every_ms, opts, score=5.0 if flag else 0.0)
        out.append((state.alerting, transition.kind if transition else None))
    return out


def test_opens_only_after_consecutive_flagged_sweeps() -> None:
    assert run([True, True, False, True, True, True]) == [
        (False, None),
        (False, None),
        (False, None),
        (False, None),
        (False, None),
        (True, "opened"),
    ]


def test_holds_through_a_short_recovery_and_resolves_after_the_recovery_period() -> None:
    # open at sweep 2; normal at 3,4 (10 min < 15), flagged again at 5 (still the same alert),
    # then normal from 6: resolves at the first normal sweep >= 15 min after 6, i.e. sweep 9.
    flags = [True] * 3 + [False, False, True] + [False] * 5
    out = run(flags)
    assert [k for _, k in out] == [None, None, "opened"] + [None] * 6 + ["resolved", None]
    assert [a for a, _ in out][:9] == [False, False] + [True] * 7


def test_fleet_z_stays_up_while_recovering_and_drops_at_resolution() -> None:
    state = SeriesState()
    zs = []
    for i, (flag, score) in enumerate([(True, 4.0), (True, 9.0), (True, 7.5)] + [(False, 0)] * 4):
        state, _ = step(state, flag, i * 5 * MIN, OPTS, score=score)
        zs.append(state.fleet_z)
    # pending (0), opened with the latest score, held at it while recovering, 0 once resolved
    assert zs == [0.0, 0.0, 7.5, 7.5, 7.5, 7.5, 0.0]


def test_cooldown_blocks_a_quick_reopen_then_allows_it() -> None:
    state = SeriesState()
    t = 0
    for flag in [True] * 3 + [False] * 4:
        state, _ = step(state, flag, t, OPTS, score=5.0)
        t += 5 * MIN
    assert not state.alerting and state.cooldown_until_ms is not None
    cooldown_until = state.cooldown_until_ms
    reopened: list[Transition] = []
    for _ in range(12):  # flagged every sweep; the cooldown lasts 30 min
        state, transition = step(state, True, t, OPTS, score=5.0)
        if transition:
            reopened.append(transition)
        t += 5 * MIN
    assert len(reopened) == 1
    assert reopened[0].kind == "opened" and reopened[0].at_ms >= cooldown_until


def test_an_idle_series_staying_idle_is_the_same_object() -> None:
    state = SeriesState()
    assert step(state, False, 0, OPTS) == (state, None)
    assert step(state, False, 0, OPTS)[0] is state


def test_immediate_is_the_one_off_guard() -> None:
    opts = LifecycleOptions.immediate()
    assert run([True, False, True, True, False], opts=opts) == [
        (True, "opened"),
        (False, "resolved"),
        (True, "opened"),
        (True, None),
        (False, "resolved"),
    ]


def test_state_round_trips_through_json_dict() -> None:
    state = SeriesState(
        streak=4,
        alerting=True,
        opened_ms=10,
        recovering_since_ms=20,
        cooldown_until_ms=None,
        score=7.25,
    )
    assert SeriesState.from_dict(state.to_dict()) == state
    assert SeriesState.from_dict({}) == SeriesState()
    assert SeriesState.from_dict({"score": "x", "streak": None}) == SeriesState()


@pytest.mark.parametrize(
    "kwargs",
    [{"consecutive": 0}, {"recovery_ms": -1}, {"storm_fraction": 0.0}, {"storm_min_sources": 0}],
)
def test_bad_options_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LifecycleOptions(**kwargs)  # type: ignore[arg-type]


def test_storm_is_one_finding_per_cohort() -> None:
    flags = [("room-a", "temperature", True)] * 6 + [("room-a", "temperature", False)] * 2
    flags += [("room-b", "temperature", True)] + [("room-b", "temperature", False)] * 7
    found = storms(flags, OPTS)
    assert [(s.cohort, s.flagged, s.total) for s in found] == [("room-a", 6, 8)]
    assert "6 of 8 sources in cohort room-a" in found[0].reason
    assert found[0].covers("temperature", "room-a") and not found[0].covers("temperature", "b")


def test_a_fleet_wide_storm_is_one_finding_not_one_per_cohort() -> None:
    flags = [(room, "humidity", True) for room in ("a", "b", "c") for _ in range(3)]
    flags += [("a", "humidity", False)] * 2 + [("d", "humidity", False)] * 3
    found = storms(flags, OPTS)
    assert [(s.cohort, s.flagged, s.total) for s in found] == [(None, 9, 14)]
    assert found[0].where == "the fleet" and found[0].covers("humidity", "d")


def test_few_flags_are_not_a_storm() -> None:
    assert storms([("", "t", True)] * 4 + [("", "t", False)], OPTS) == []
    assert storms([("", "t", True)] * 5 + [("", "t", False)] * 6, OPTS) == []


def test_the_cause_of_a_series_flags_is_kept_and_older_states_load_without_it() -> None:
    state = SeriesState(streak=3, alerting=True, opened_ms=5, score=4.0, cause="stale")
    assert SeriesState.from_dict(state.to_dict()) == state
    written_before = {k: v for k, v in state.to_dict().items() if k != "cause"}
    assert SeriesState.from_dict(written_before) == replace(state, cause=None)
