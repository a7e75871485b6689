"""The simulator's real-fleet habits (`FleetSpec(real=RealWorld(...))`): off by default, seeded,
identical however a series is cut, and each habit shaped as the module docstring says."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import fleetscan.simulate.generate
from fleetscan.errors import InputError
from fleetscan.simulate import Fault, FleetSpec, SimulatedFleet
from fleetscan.simulate.realism import RealWorld, SharedEvent, heating_profile, is_weekend

START = 1781222400000  # 2026-06-12 00:00:00 UTC, a Friday
HOUR = 3_600_000
DAY = 24 * HOUR


def spec(real: RealWorld | None, **changes: object) -> FleetSpec:
    options: dict[str, object] = {
        "boards": 10,
        "seed": 5,
        "start_ms": START,
        "duration_s": 3 * 86_400,
        "cadence_s": 60.0,
        "real": real,
    }
    options.update(changes)
    return FleetSpec(**options)  # type: ignore[arg-type]


def hourly(fleet: SimulatedFleet, board: str, day: int) -> list[float]:
    ts, values = fleet.series(board, "temperature")
    hour = (ts - START) // HOUR - 24 * day
    return [float(np.median(values[hour == h])) for h in range(24)]


def test_all_habits_off_is_todays_simulator() -> None:
    plain = SimulatedFleet(spec(None)).series("esp32-bme280-03", "temperature")
    off = SimulatedFleet(spec(RealWorld())).series("esp32-bme280-03", "temperature")
    assert np.array_equal(plain[0], off[0]) and np.array_equal(plain[1], off[1])


def test_a_sunny_board_warms_in_its_own_window_and_humidity_mirrors_it() -> None:
    fleet = SimulatedFleet(spec(RealWorld(sun_share=1.0, sun_peak_c=(8.0, 8.0))))
    plain = SimulatedFleet(spec(None))
    habits = fleet.layout.world.habits[0] if fleet.layout.world else None
    assert habits is not None and habits.sun_peak_c == 8.0
    board = fleet.boards[0]
    clear = fleet.layout.world.clearness[0] if fleet.layout.world else np.zeros(0)
    day = int(np.argmax(clear[:3]))
    gap = np.subtract(hourly(fleet, board, day), hourly(plain, board, day))
    peak_hour = int(habits.sun_start_h + habits.sun_hours / 2)
    assert gap[peak_hour] > 4.0 * clear[day]
    assert abs(gap[3]) < 0.05  # nights are untouched
    _, rh = fleet.series(board, "humidity")
    _, rh_plain = plain.series(board, "humidity")
    assert np.min(rh - rh_plain) < -5.0  # warmer air, lower relative humidity


def test_heating_hits_every_board_on_weekdays_only() -> None:
    days = np.array([START // DAY, START // DAY + 1])  # Friday, Saturday
    assert is_weekend(days).tolist() == [False, True]
    on = heating_profile(days, np.array([12.0, 12.0]))
    assert on[0] > 0.99 and on[1] == 0.0
    fleet = SimulatedFleet(spec(RealWorld(heating_c=2.0)))
    plain = SimulatedFleet(spec(None))
    for board in fleet.boards:
        friday_noon = hourly(fleet, board, 0)[12] - hourly(plain, board, 0)[12]
        saturday_noon = hourly(fleet, board, 1)[12] - hourly(plain, board, 1)[12]
        assert friday_noon == pytest.approx(2.0, abs=0.05)
        assert saturday_noon == pytest.approx(0.0, abs=0.05)


def test_a_shared_event_moves_its_boards_together_and_is_in_the_ground_truth() -> None:
    boards = ("esp32-bme280-04", "esp32-bme280-05", "esp32-bme280-06")
    event = SharedEvent(boards=boards, start_offset_ms=30 * HOUR, duration_ms=2 * HOUR, delta_c=3.0)
    fleet = SimulatedFleet(spec(RealWorld(shared_events=(event,))))
    plain = SimulatedFleet(spec(None))
    for board in fleet.boards:
        moved = hourly(fleet, board, 1)[7] - hourly(plain, board, 1)[7]
        assert moved == pytest.approx(3.0 if board in boards else 0.0, abs=0.1)
    (truth,) = fleet.shared_events()
    assert truth["boards"] == list(boards) and truth["delta_c"] == 3.0
    with pytest.raises(InputError, match="unknown"):
        spec(
            RealWorld(
                shared_events=(
                    SharedEvent(boards=("nope",), start_offset_ms=0, duration_ms=1, delta_c=1.0),
                )
            )
        )


def test_bursty_loss_and_coarse_codes() -> None:
    real = RealWorld(loss_bursts_per_day=20.0, loss_burst_rate=1.0, quantum={"temperature": 0.04})
    fleet = SimulatedFleet(spec(real, cadence_s=10.0))
    ts, values = fleet.series("esp32-bme280-01", "temperature")
    steps = np.round(values / 0.04, 6)
    assert np.array_equal(steps, np.round(steps))
    spells = fleet.layout.world.bursts[0] if fleet.layout.world else np.zeros((0, 2))
    assert len(spells) > 20
    inside = (ts[:, None] >= spells[:, 0]) & (ts[:, None] < spells[:, 1])
    assert not inside.any()  # every sample in a spell was lost
    gaps = np.diff(ts)
    assert gaps.max() >= 2 * 60_000


def test_realism_is_seeded_and_windows_match_the_whole() -> None:
    real = RealWorld(sun_share=0.5, radiator_share=0.3, heating_c=1.0, loss_bursts_per_day=5.0)
    a = SimulatedFleet(spec(real)).series("esp32-bme280-02", "humidity")
    b = SimulatedFleet(spec(real))
    whole = b.series("esp32-bme280-02", "humidity")
    assert np.array_equal(a[1], whole[1])
    lo, hi = START + 20 * HOUR, START + 30 * HOUR
    part = b.series("esp32-bme280-02", "humidity", start_ms=lo, end_ms=hi)
    keep = (whole[0] >= lo) & (whole[0] < hi)
    assert np.array_equal(part[0], whole[0][keep]) and np.array_equal(part[1], whole[1][keep])


def test_a_drift_may_already_be_under_way_when_the_window_opens() -> None:
    fault = Fault(board="esp32-bme280-01", kind="drift", size=5.0, onset_ms=START - 6 * HOUR)
    fleet = SimulatedFleet(spec(None, faults=(fault,)))
    plain = SimulatedFleet(spec(None))
    first = fleet.series("esp32-bme280-01", "temperature")[1][0]
    assert first - plain.series("esp32-bme280-01", "temperature")[1][0] == pytest.approx(
        5.0 / 4, abs=0.02
    )
    with pytest.raises(InputError, match="outside"):
        spec(None, faults=(Fault(board="esp32-bme280-01", kind="step", size=1, onset_ms=1),))


def test_doctests() -> None:
    assert doctest.testmod(fleetscan.simulate.generate).failed == 0
