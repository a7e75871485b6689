"""Alert lifecycle across sweeps on constructed sequences: open, hold, recover, cooldown, storm."""

from __future__ import annotations

from fleetscan.lifecycle import LifecycleOptions, SeriesState, Transition, step, storms

MIN = 60_000
OPTS = LifecycleOptions(consecutive=3, recovery_ms=15 * MIN, cooldown_ms=30 * MIN)


def run(flags: list[bool], every_ms: int = 5 * MIN) -> list[tuple[bool, str | None]]:
    state = SeriesState()
    out = []
    for i, flag in enumerate(flags):
        state, transition = step(state, flag, i * every_ms, OPTS)
        out.append((state.alerting, transition.kind if transition else None))
    return out


def test_opens_only_after_consecutive_anomalous_sweeps() -> None:
    assert run([True, True, False, True, True, True]) == [
        (False, None),
        (False, None),
        (False, None),
        (False, None),
        (False, None),
        (True, "opened"),
    ]


def test_holds_through_a_short_recovery_and_resolves_after_the_recovery_period() -> None:
    # open at sweep 2; normal at 3,4 (10 min < 15), anomalous again at 5 (still the same alert),
    # then normal from 6: resolves at the first normal sweep >= 15 min after 6, i.e. sweep 9.
    flags = [True] * 3 + [False, False, True] + [False] * 5
    out = run(flags)
    assert [k for _, k in out] == [None, None, "opened"] + [None] * 6 + ["resolved", None]
    assert [a for a, _ in out][:9] == [False, False] + [True] * 7


def test_cooldown_blocks_a_quick_reopen_then_allows_it() -> None:
    state = SeriesState()
    t = 0
    for flag in [True] * 3 + [False] * 4:
        state, _ = step(state, flag, t, OPTS)
        t += 5 * MIN
    assert not state.alerting and state.cooldown_until_ms is not None
    reopened: list[Transition] = []
    for _ in range(12):  # anomalous every sweep; the cooldown lasts 30 min
        state, transition = step(state, True, t, OPTS)
        if transition:
            reopened.append(transition)
        t += 5 * MIN
    assert len(reopened) == 1
    assert reopened[0].at_ms >= state.opened_ms  # type: ignore[operator]
    assert reopened[0].at_ms - (t - 12 * 5 * MIN) >= 25 * MIN


def test_state_round_trips_through_json_dict() -> None:
    state = SeriesState(
        streak=4,
        alerting=True,
        opened_ms=10,
        recovering_since_ms=20,
        cooldown_until_ms=None,
        last_seen_ms=30,
    )
    assert SeriesState.from_dict(state.to_dict()) == state
    assert SeriesState.from_dict({}) == SeriesState()


def test_storm_is_one_finding_per_cohort() -> None:
    flags = [("room-a", "temperature", True)] * 6 + [("room-a", "temperature", False)] * 2
    flags += [("room-b", "temperature", True)] + [("room-b", "temperature", False)] * 7
    found = storms(flags, OPTS)
    assert [(s.cohort, s.flagged, s.total) for s in found] == [("room-a", 6, 8)]
    assert "6 of 8 sources in cohort room-a" in found[0].reason


def test_few_flags_are_not_a_storm() -> None:
    assert storms([("", "t", True)] * 4 + [("", "t", False)], OPTS) == []
