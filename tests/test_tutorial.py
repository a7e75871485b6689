"""`--method tutorial` against the tutorial's own code, kept here verbatim as the oracle."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tutorial_oracle import tutorial_lines

from fleetscan.detectors import StreakGuard, TutorialDetector
from fleetscan.device import DeviceRunner
from fleetscan.telemetry import Reading


def fleetscan_lines(rows: list[tuple[str, float]]) -> list[tuple[str, float, float]]:
    runner = DeviceRunner(lambda s, m: TutorialDetector(window=15, threshold=3.0), consecutive=3)
    readings = [Reading("esp32-bme280", "temperature", int(ts), v) for ts, v in rows]
    return [(s.line(prefix=False), s.score.z, s.emitted) for s in runner.process(readings)]


def assert_same(rows: list[tuple[str, float]]) -> None:
    want = tutorial_lines(rows)
    got = fleetscan_lines(rows)
    assert len(got) == len(want)
    for (g_line, g_z, g_emit), (w_line, w_z, w_emit) in zip(got, want, strict=True):
        assert g_line == w_line
        assert g_z == pytest.approx(w_z, rel=1e-9, abs=1e-9)
        assert (g_emit == 0.0) == (w_emit == 0.0)
        assert g_emit == pytest.approx(w_emit, rel=1e-9)


def ts(i: int) -> str:
    return f"{1781258400000 + 2000 * i:013d}"  # zero-padded so string order is time order


def test_guards_fewer_than_five_and_flat() -> None:
    rows = [(ts(i), 22.0) for i in range(8)] + [(ts(8), 22.004)]
    out = fleetscan_lines(rows)
    assert [z for _, z, _ in out] == [0.0] * 9  # < 5 samples, then std < 0.01
    assert_same(rows)


def test_streak_builds_then_resets() -> None:
    rows = [(ts(i), 22.0 + 0.05 * (i % 3)) for i in range(15)]
    rows += [(ts(15), 30.0), (ts(16), 22.05), (ts(17), 22.0)]
    assert_same(rows)
    assert max(len(line) for line, _, _ in fleetscan_lines(rows)) > 0


def test_duplicate_and_out_of_order_timestamps_are_skipped() -> None:
    rows = [(ts(i), 22.0 + 0.1 * (i % 4)) for i in range(20)]
    rows += [(ts(5), 99.0), (ts(19), 99.0)]  # at or before the last one seen
    out = fleetscan_lines(rows)
    assert len(out) == 20
    assert_same(rows)


def test_press_the_sensor_example() -> None:
    """The tutorial's own scenario: a quiet room, then a finger on the BME280."""
    rnd = random.Random(4)
    quiet = [22.4 + rnd.choice([-0.02, 0.0, 0.02, 0.05]) for _ in range(15)]
    warming = [23.18, 24.05, 24.92, 25.78, 26.43]
    rows = [(ts(i), v) for i, v in enumerate(quiet + warming)]
    assert_same(rows)
    zs = [z for _, z, _ in fleetscan_lines(rows)]
    assert max(abs(z) for z in zs) <= math.sqrt(14) + 1e-9  # the window-15 bound, see README


def test_tutorial_z_can_never_exceed_sqrt_window_minus_one() -> None:
    det = TutorialDetector()
    zs = [det.zscore(v) for v in [22.0] * 14 + [22.0 + 1e6]]
    assert zs[-1] == pytest.approx(math.sqrt(14))


def test_many_random_series_match_line_for_line() -> None:
    rnd = random.Random(11)
    for _ in range(40):
        base = rnd.choice([22.0, 55.0, 1013.25])
        rows = []
        for i in range(400):
            v = base + rnd.gauss(0, rnd.choice([0.3, 0.02, 0.005]))
            if rnd.random() < 0.05:
                v += rnd.choice([-5, 5])
            rows.append((ts(i), round(v, rnd.choice([1, 2]))))
        assert_same(rows)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(min_value=-50, max_value=1100, allow_nan=False), min_size=1, max_size=60))
def test_property_matches_the_oracle(values: list[float]) -> None:
    assert_same([(ts(i), v) for i, v in enumerate(values)])


def test_streak_guard_convention() -> None:
    guard = StreakGuard(consecutive=2)
    assert [guard.push(a) for a in (True, True, False, True)] == [1, 2, 0, 1]
    assert guard.emitted(4.2) == 0.0
    guard.push(True)
    assert guard.emitted(4.2) == 4.2
