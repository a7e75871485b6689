"""Properties of the streaming detectors: finite scores, shift invariance, bounded memory."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetscan.detectors import (
    METHODS,
    DetectorOptions,
    RobustDetector,
    StuckDetector,
    TwoScaleDetector,
    make_detector,
)
from fleetscan.detectors._stream import CADENCE_HISTORY
from fleetscan.detectors.robust import CAP
from fleetscan.detectors.twoscale import LEVEL_CAP

START = 1_781_222_400_000

values_st = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=120,
)
gaps_st = st.lists(st.integers(min_value=0, max_value=3_600_000), min_size=120, max_size=120)


def stamps(gaps: list[int], n: int) -> list[int]:
    out, t = [], START
    for gap in gaps[:n]:
        t += gap
        out.append(t)
    return out


@settings(max_examples=40, deadline=None)
@given(values=values_st, gaps=gaps_st, metric=st.sampled_from(["temperature", "humidity", "rpm"]))
def test_scores_are_always_finite(values: list[float], gaps: list[int], metric: str) -> None:
    ts = stamps(gaps, len(values))
    for method in METHODS:
        det = make_detector(method, DetectorOptions(metric=metric))
        for t, v in zip(ts, values, strict=True):
            score = det.update(t, v)
            assert math.isfinite(score.z) and math.isfinite(score.score), method
            assert score.score >= 0.0
            # auto's score is the onset-marked evidence: 0 while its alert holds
            assert not score.anomalous or score.score > 0.0 or score.alert
        idle = det.idle(ts[-1] + 10**9)
        assert idle is None or (math.isfinite(idle.score) and (idle.score > 0 or idle.alert))


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.integers(min_value=-50, max_value=50), min_size=20, max_size=80),
    shift=st.floats(min_value=-1000.0, max_value=1000.0, allow_nan=False),
)
def test_robust_scores_are_shift_invariant(steps: list[int], shift: float) -> None:
    values = [0.01 * s for s in steps]  # quantised readings
    ts = [START + 2000 * i for i in range(len(values))]
    options = DetectorOptions(metric="rpm", window="20", min_scale=0.05)
    plain, moved = RobustDetector(options), RobustDetector(options)
    for t, v in zip(ts, values, strict=True):
        a, b = plain.update(t, v), moved.update(t, v + shift)
        assert math.isclose(a.z, b.z, rel_tol=1e-6, abs_tol=1e-6 * (1 + abs(shift)) / 0.05)
        assert a.anomalous == b.anomalous or abs(abs(a.z) - 3.0) < 1e-3


def test_memory_stays_bounded_on_a_week_long_window() -> None:
    """100k readings at 1 s through a 7-day window keep a few hundred points, not 100k."""
    options = DetectorOptions(metric="temperature", window="7d", baseline="7d")
    robust, twoscale, stuck = (
        RobustDetector(options),
        TwoScaleDetector(options),
        StuckDetector(options),
    )
    short = RobustDetector(DetectorOptions(metric="temperature", window="10m"))  # 600 s > CAP
    for i in range(100_000):
        t = START + 1000 * i
        v = 22.0 + 0.01 * ((i * 7919) % 13) + (0.5 if i % 997 == 0 else 0.0)
        robust.update(t, v)
        short.update(t, v)
        if i % 4 == 0:  # a quarter of the readings is enough to fill the others' buffers
            twoscale.update(t, v)
            stuck.update(t, v)
    assert len(robust.window) <= CAP
    assert CAP // 2 < len(short.window) <= CAP
    assert len(robust.window.values) == len(robust.window._arrivals)
    assert len(twoscale.level) <= LEVEL_CAP
    for det in (robust, twoscale, stuck):
        assert len(det.cadence._gaps) <= CADENCE_HISTORY
