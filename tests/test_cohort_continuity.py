"""A cohort event lasts as long as the change its boards share, under one name: which of a room's
boards moved varies from sweep to sweep (lossy, quantised readings), and so would the group's
`~<first board>` name; a group that shares boards with an event still going, or one missing
from a sweep or two, is that event (`sweeps.step._continued`), kept in the state file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_helpers import invoke

from fleetscan.simulate import FleetSpec, SimulatedFleet
from fleetscan.simulate.realism import RealWorld, SharedEvent
from fleetscan.state import open_state
from fleetscan.sweeps.step import SweepState
from fleetscan.timeutil import iso_z

START = 1_781_222_400_000  # 2026-06-12 00:00 UTC
HOUR = 3_600_000
ONSET = 86 * HOUR  # 2026-06-15 14:00 UTC: two hours of +2 °C over two rooms of five boards
SPEC = {
    "boards": 30,
    "seed": 7,
    "start_ms": START,
    "duration_s": 4 * 86_400,
    "cadence_s": 30.0,
    "loss_rate": 0.3,
}
ROOM = tuple(SimulatedFleet(FleetSpec(**SPEC)).boards[10:20])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    hvac = SharedEvent(boards=ROOM, start_offset_ms=ONSET, duration_ms=2 * HOUR, delta_c=2.0)
    world = RealWorld(
        shared_events=(hvac,),
        loss_bursts_per_day=6.0,
        quantum={"temperature": 0.04, "humidity": 0.1},
    )
    fleet = SimulatedFleet(FleetSpec(**SPEC, real=world))  # type: ignore[arg-type]
    path = tmp_path_factory.mktemp("hvac") / "history.jsonl"
    fleet.write_jsonl(path, metrics=["temperature"])
    return path


def test_a_room_warming_for_two_hours_is_one_cohort_event(history: Path) -> None:
    window = ["--from", iso_z(START + ONSET - HOUR), "--to", iso_z(START + ONSET + 4 * HOUR)]
    code, out, err = invoke(["replay", "--input", str(history), "--metric", "temperature", *window])
    assert code == 0, err
    (event,) = [line for line in out.splitlines() if "usually move together" in line]  # one
    named = event.split("together (")[1].split(")")[0].split(", ")
    assert len(named) >= 8 and set(named) <= set(ROOM), event  # the room, and nobody else
    assert "(1h" in event, event  # it lasted as long as the change did, not a sweep or two
    alerts = [line for line in out.splitlines() if line.strip().startswith(ROOM)]
    assert all("stale:" in line for line in alerts), out  # none alerted on its warming


def test_a_cohort_event_going_on_is_kept_in_the_state_file(tmp_path: Path) -> None:
    state = SweepState(
        last_sweep_ms=START,
        storms={("temperature", "~b03"): START - HOUR, ("humidity", None): START},
        cohort_tracks={("temperature", "~b03"): (START, ("b04", "b05"), 1.5)},
    )
    with open_state(tmp_path / "state.db") as store:
        store.commit(state, [])
    with open_state(tmp_path / "state.db") as store:
        got = store.load()
    assert got.storms == state.storms and got.cohort_tracks == state.cohort_tracks
