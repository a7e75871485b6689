"""The per-device methods on hand-made series: what each must catch, and the quiet it must keep."""

from __future__ import annotations

import math
import random

import pytest

from fleetscan.detectors import (
    METHODS,
    AutoDetector,
    DetectorOptions,
    DropoutDetector,
    PlausibilityDetector,
    RobustDetector,
    Score,
    StreakGuard,
    StuckDetector,
    TutorialDetector,
    TwoScaleDetector,
    make_detector,
)
from fleetscan.detectors._stream import WARMUP_SAMPLES, check_score
from fleetscan.detectors.base import Detector

START = 1_781_222_400_000
TEMP = DetectorOptions(metric="temperature")


def quiet(
    n: int,
    *,
    cadence_ms: int = 2000,
    level: float = 22.0,
    sigma: float = 0.05,
    seed: int = 0,
    quantum: float = 0.01,
    start: int = START,
    jitter_ms: int = 0,
    loss: float = 0.0,
    diurnal: float = 0.0,
) -> tuple[list[int], list[float]]:
    """A healthy quantised series: level + optional daily swing + Gaussian noise, rounded."""
    rng = random.Random(seed)
    ts, values = [], []
    for k in range(n):
        if loss and rng.random() < loss:
            continue
        t = start + k * cadence_ms + (rng.randint(-jitter_ms, jitter_ms) if jitter_ms else 0)
        swing = diurnal * math.sin(2 * math.pi * (t - start) / 86_400_000)
        value = level + swing + rng.gauss(0.0, sigma)
        ts.append(t)
        values.append(round(value / quantum) * quantum)
    return ts, values


def run(det: Detector, ts: list[int], values: list[float]) -> list[Score]:
    return [det.update(t, v) for t, v in zip(ts, values, strict=True)]


def first_alert(scores: list[Score], consecutive: int = 3) -> int | None:
    """Index of the reading at which the N-in-a-row guard first fires."""
    guard = StreakGuard(consecutive)
    for i, score in enumerate(scores):
        guard.push(score.anomalous)
        if guard.firing:
            return i
    return None


def alerts(scores: list[Score], consecutive: int = 3) -> int:
    guard, count = StreakGuard(consecutive), 0
    for score in scores:
        was = guard.firing
        guard.push(score.anomalous)
        count += guard.firing and not was
    return count


# ---- the registry -------------------------------------------------------------------------------


def test_methods_and_names() -> None:
    assert METHODS == ("auto", "tutorial", "robust", "twoscale", "stuck", "dropout", "plausibility")
    for method in METHODS:
        assert make_detector(method, TEMP).name == method


def test_unknown_method_names_the_valid_ones() -> None:
    with pytest.raises(ValueError) as info:
        make_detector("zscore", TEMP)
    for method in METHODS:
        assert method in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 0.0},
        {"threshold": float("nan")},
        {"window": "soon"},
        {"window": "0"},
        {"baseline": "15"},
        {"min_scale": -1.0},
        {"cadence_s": 0.0},
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DetectorOptions(**kwargs)  # type: ignore[arg-type]


def test_tutorial_window_counts_samples() -> None:
    assert isinstance(make_detector("tutorial", TEMP), TutorialDetector)
    assert make_detector("tutorial", DetectorOptions(window="20")).window == 20  # type: ignore[attr-defined]
    converted = make_detector("tutorial", DetectorOptions(window="30s", cadence_s=2.0))
    assert converted.window == 15  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="counts samples"):
        make_detector("tutorial", DetectorOptions(window="30s"))


def test_registry_tutorial_is_the_tutorial() -> None:
    ts, values = quiet(300, sigma=0.3, seed=3)
    values[150:155] = [v + 4 for v in values[150:155]]
    ours = run(make_detector("tutorial", DetectorOptions()), ts, values)
    reference = run(TutorialDetector(window=15), ts, values)
    assert ours == reference


# ---- the tutorial's blind spots, and who covers them --------------------------------------------


def step_series(size: float = 5.0) -> tuple[list[int], list[float], int]:
    ts, values = quiet(1200, seed=1)
    onset = 900
    values[onset:] = [v + size for v in values[onset:]]
    return ts, values, onset


def test_tutorial_provably_misses_a_step() -> None:
    ts, values, _ = step_series()
    scores = run(TutorialDetector(window=15), ts, values)
    # the newest value is inside its own 15-sample window: |z| <= sqrt(14)
    assert max(s.score for s in scores) <= math.sqrt(14) + 1e-9
    assert first_alert(scores) is None


@pytest.mark.parametrize("method", ["auto", "robust", "twoscale"])
def test_a_step_is_caught(method: str) -> None:
    ts, values, onset = step_series()
    scores = run(make_detector(method, TEMP), ts, values)
    hit = first_alert(scores)
    assert hit is not None and onset <= hit <= onset + 12
    assert scores[hit].reason and scores[hit].check in ("outlier", "level")


def test_a_burst_of_ten_spikes() -> None:
    ts, values = quiet(900, seed=2)
    values[800:810] = [v + 5.0 for v in values[800:810]]
    assert first_alert(run(TutorialDetector(window=15), ts, values)) is None
    for method in ("robust", "auto"):
        hit = first_alert(run(make_detector(method, TEMP), ts, values))
        assert hit is not None and 800 <= hit <= 803


def test_a_slow_ramp_is_caught_by_the_long_baseline() -> None:
    ts, values = quiet(3 * 1800, seed=4)  # 3 h at 2 s
    onset = 1800  # after 1 h, rise 1 °C per hour
    values[onset:] = [v + (i / 1800) for i, v in enumerate(values[onset:])]
    assert first_alert(run(TutorialDetector(window=15), ts, values)) is None
    for method in ("twoscale", "auto"):
        hit = first_alert(run(make_detector(method, TEMP), ts, values))
        assert hit is not None and onset < hit < onset + 1800  # within the first hour


def test_the_baseline_is_not_absorbed_by_a_step() -> None:
    """After its first day, a step stays anomalous for hours, not minutes."""
    ts, values = quiet(int(1.5 * 86_400 / 60), cadence_ms=60_000, sigma=0.05, seed=5)
    onset = len(values) - 240  # the last 4 hours are 3 °C higher
    values[onset:] = [v + 3.0 for v in values[onset:]]
    scores = run(TwoScaleDetector(TEMP), ts, values)
    assert all(s.anomalous for s in scores[onset + 30 :])


def test_a_frozen_sensor_is_stuck_not_zero() -> None:
    ts, values = quiet(600, seed=6)
    frozen = values[400]
    values[400:] = [frozen] * 200
    tutorial = run(TutorialDetector(window=15), ts, values)
    assert tutorial[-1].z == 0.0 and first_alert(tutorial) is None
    for det in (StuckDetector(TEMP), AutoDetector(TEMP)):
        scores = run(det, ts, values)
        hit = first_alert(scores)
        assert hit is not None and 400 < hit < 480
        assert scores[hit].check == "stuck"
        assert scores[hit].score > TEMP.threshold


def test_quantised_repeats_are_learnt_not_flagged() -> None:
    """A coarse sensor repeats values for a while; `stuck` learns how long is normal."""
    rng = random.Random(7)
    ts, values, value = [], [], 20.0
    for k in range(3000):
        if rng.random() < 0.15:
            value += rng.choice((-0.5, 0.5))
        ts.append(START + k * 60_000)
        values.append(value)
    det = StuckDetector(DetectorOptions(metric="rpm"))
    assert alerts(run(det, ts, values)) == 0
    assert det.limit() > 20


def test_a_mostly_zero_window_is_scaled_by_the_size_of_its_moves() -> None:
    """MAD is 0 when most of the window is 0; σ is then how far the stream goes when it moves."""
    det = RobustDetector(DetectorOptions(metric="rpm", window="30"))
    moves = {5: 0.2, 12: 0.4, 20: 0.3, 27: 0.5}  # four bursts among 26 zeros
    for k in range(30):
        det.update(START + k * 60_000, moves.get(k, 0.0))
    assert math.isclose(det.scale(), 1.4826 * 0.35, rel_tol=1e-9)  # median move 0.35
    burst = det.update(START + 30 * 60_000, 2.5)
    # 4.8σ; the mean |deviation| (1.4 / 30 × 1.2533) made it 43σ, and a sparser window thousands
    assert burst.anomalous and 4.5 < burst.z < 5.0
    flat = RobustDetector(DetectorOptions(metric="value", window="30"))
    for k in range(30):
        flat.update(START + k * 60_000, 0.0)
    assert flat.update(START + 30 * 60_000, 1.0).check == "degenerate_scale"  # no move: no scale


# ---- silence, gaps and warm-ups -----------------------------------------------------------------


def test_dropout_fires_only_after_its_own_cadence() -> None:
    det = DropoutDetector(TEMP)
    ts, values = quiet(100, cadence_ms=10_000)
    run(det, ts, values)
    last = ts[-1]
    assert det.idle(last + 40_000) is None  # within 5 × 10 s
    late = det.idle(last + 120_000)
    assert late is not None and late.anomalous and late.check == "dropout"
    assert late.score > TEMP.threshold and "no reading" in late.reason
    assert not det.update(last + 130_000, 22.0).anomalous
    assert det.limit_ms() == 50_000.0  # the outage itself was not learnt


def test_dropout_respects_a_lossy_rhythm() -> None:
    det = DropoutDetector(TEMP)
    ts, values = quiet(2000, cadence_ms=2000, loss=0.5, seed=8)
    run(det, ts, values)
    limit = det.limit_ms()
    assert limit is not None and limit >= 30_000
    assert det.idle(ts[-1] + int(limit) - 1) is None


def test_idle_returns_none_for_methods_that_do_not_watch_silence() -> None:
    ts, values = quiet(50)
    for method in ("tutorial", "robust", "twoscale", "stuck", "plausibility", "auto"):
        det = make_detector(method, TEMP)
        run(det, ts, values)
        assert det.idle(ts[-1] + 1000) is None  # a normal poll must not reset the streak


def test_warm_up_after_a_long_gap_keeps_the_baseline() -> None:
    ts, values = quiet(400, seed=9)
    det = RobustDetector(TEMP)
    run(det, ts, values)
    kept = len(det.window)
    later = ts[-1] + 3_600_000  # an hour of silence (a reboot)
    after = [det.update(later + i * 2000, 30.0) for i in range(WARMUP_SAMPLES + 3)]
    assert not any(s.anomalous for s in after[: WARMUP_SAMPLES - 1])
    assert after[-1].anomalous  # the baseline survived the gap
    assert kept >= 30


def test_clock_going_backwards_is_a_warm_up_not_a_crash() -> None:
    ts, values = quiet(200)
    for method in METHODS:
        det = make_detector(method, TEMP)
        run(det, ts, values)
        score = det.update(ts[0] - 10_000, values[0])
        assert math.isfinite(score.score) and not score.anomalous
    # and the stream goes on from the reset clock: a later step is still caught
    det = RobustDetector(TEMP)
    run(det, ts, values)
    version, reset = det.window.version, ts[0] - 86_400_000
    later = [det.update(reset + 2000 * i, 22.0 + (5.0 if i >= 20 else 0.0)) for i in range(30)]
    assert det.window.version >= version + 25  # new readings still enter the window
    assert first_alert(later) is not None


@pytest.mark.parametrize(
    ("cadence_ms", "n", "jitter_ms", "loss"),
    [(1000, 10_800, 0, 0.0), (300_000, 3 * 288, 0, 0.0), (2000, 5400, 400, 0.3)],
    ids=["1s", "300s", "irregular-lossy"],
)
def test_healthy_quantised_noise_raises_nothing(
    cadence_ms: int, n: int, jitter_ms: int, loss: float
) -> None:
    ts, values = quiet(
        n, cadence_ms=cadence_ms, sigma=0.05, jitter_ms=jitter_ms, loss=loss, diurnal=1.0, seed=10
    )
    for method in METHODS:
        assert alerts(run(make_detector(method, TEMP), ts, values)) == 0, method


# ---- plausibility, auto, NaN ---------------------------------------------------------------------


def test_plausibility_per_sensor_model() -> None:
    humidity = PlausibilityDetector(DetectorOptions(metric="env.humidity"))
    for value, bad in ((45.0, False), (0.0, True), (100.5, True), (100.0, False)):
        score = humidity.update(START, value)
        assert score.anomalous is bad
        if bad:
            assert score.score == check_score(3.0, 2.0) == 6.0
            assert "BME280" in score.reason
    assert PlausibilityDetector(TEMP).update(START, 90.0).anomalous
    assert not PlausibilityDetector(DetectorOptions(metric="rpm")).update(START, -1e9).anomalous


def test_auto_tells_one_story_per_alert() -> None:
    ts, values, onset = step_series()
    scores = run(AutoDetector(TEMP), ts, values)
    firing = [s for s in scores[onset:] if s.anomalous]
    assert firing and all(s.check and s.reason for s in firing)
    # a check keeps the floor while it stays anomalous: no flipping back and forth
    changes = sum(1 for a, b in zip(firing, firing[1:], strict=False) if a.check != b.check)
    assert changes <= 1


def test_auto_keeps_implausible_readings_out_of_its_baselines() -> None:
    det = AutoDetector(DetectorOptions(metric="humidity"))
    ts, values = quiet(300, level=45.0, sigma=0.3)
    run(det, ts, values)
    before = list(det.outlier.window.values)
    for i in range(5):
        assert det.update(ts[-1] + (i + 1) * 2000, 0.0).check == "plausibility"
    assert det.outlier.window.values == before


def test_nan_is_ignored_defensively() -> None:
    """The runner never passes NaN; the new methods shrug it off anyway (the tutorial stays exact)."""
    ts, values = quiet(300, seed=11)
    values[150] += 3.0
    for method in METHODS:
        if method == "tutorial":
            continue
        clean = run(make_detector(method, TEMP), ts, values)
        det = make_detector(method, TEMP)
        mixed = []
        for i, (t, v) in enumerate(zip(ts, values, strict=True)):
            if i % 50 == 25:
                nan_score = det.update(t - 1, float("nan"))
                assert not nan_score.anomalous and math.isfinite(nan_score.score)
            mixed.append(det.update(t, v))
        assert mixed == clean, method


def test_check_scores_sit_above_the_threshold() -> None:
    assert check_score(3.0, 1.0) == 3.0
    assert check_score(3.0, 1.001) > 3.0
    assert check_score(2.0, 4.0) == 6.0
