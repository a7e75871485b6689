"""`auto` as events: one alert per event, a calibrated score, the new normal, flat-by-nature series."""

from __future__ import annotations

import math
import random

from test_detectors import START, TEMP, quiet, run

from fleetscan.detectors import AutoDetector, DetectorOptions, StuckDetector, make_detector
from fleetscan.detectors.calibration import MAX_SURPRISE, TailCalibrator
from fleetscan.detectors.daily import DailyRange
from fleetscan.detectors.drift import DriftCheck
from fleetscan.detectors.events import AlertEvents
from fleetscan.device import DeviceRunner
from fleetscan.telemetry import Reading

MINUTE = 60_000
GENERIC = DetectorOptions(metric="value")


def events(scores: list) -> list[tuple[int, str, str]]:
    return [(i, s.event, s.reason) for i, s in enumerate(scores) if s.event]


def test_a_lasting_step_is_one_alert_then_the_new_normal() -> None:
    ts, values = quiet(2 * 1440, cadence_ms=MINUTE, seed=21)  # two days at 1 min
    onset = 1440 + 600
    values[onset:] = [v + 3.0 for v in values[onset:]]
    scores = run(AutoDetector(TEMP), ts, values)
    found = events(scores)
    assert [e for _, e, _ in found] == ["opened", "resolved"], found
    (opened, _, _), (resolved, _, reason) = found
    assert onset <= opened <= onset + 5
    assert 60 <= resolved - opened <= 62  # --relearn 1h at one reading a minute
    assert abs(float(reason.split()[2].rstrip("°C")) - 25.0) < 0.1, reason
    assert reason.startswith("new level ") and reason.endswith("accepted after 1h")
    assert not any(s.alert for s in scores[resolved:])  # 25 °C is normal now


def test_relearn_is_an_option_and_never_fewer_than_twelve_readings() -> None:
    ts, values = quiet(3 * 288, cadence_ms=5 * MINUTE, seed=22)  # three days at 5 min
    onset = 2 * 288
    values[onset:] = [v - 4.0 for v in values[onset:]]
    for relearn, readings in (("10m", 12), ("2h", 24)):
        det = AutoDetector(DetectorOptions(metric="temperature", relearn=relearn))
        found = events(run(det, ts, values))
        assert len(found) == 2 and "new level" in found[1][2]
        assert found[1][0] - found[0][0] == readings


def test_a_spike_rare_enough_opens_at_once_and_the_score_marks_the_onset() -> None:
    ts, values = quiet(900, seed=23)
    values[800] += 8.0
    scores = run(AutoDetector(TEMP), ts, values)
    assert scores[800].event == "opened" and scores[800].alert
    assert scores[800].score == max(s.score for s in scores)
    assert scores[800].posted > TEMP.threshold
    held = [s for s in scores[801:] if s.alert]
    assert held and all(s.score == 0.0 and s.posted > TEMP.threshold for s in held)
    assert [e for _, e, _ in events(scores)] == ["opened", "resolved"]


def test_an_alert_soon_after_others_scores_less_and_opens_all_the_same() -> None:
    hour = 60 * MINUTE
    ev = AlertEvents(threshold=3.0, consecutive=3)

    def spike(ts_ms: int) -> float:  # one reading rare enough to open, then calm until resolved
        step = ev.step(ts_ms, 9.5)
        assert step.event == "opened"
        assert [ev.step(ts_ms + (k + 1) * MINUTE, 0.1).event for k in range(6)][-1] == "resolved"
        return step.evidence

    first, second, third = spike(0), spike(hour), spike(2 * hour)
    assert first == 9.5  # the first alert of a quiet stream keeps its evidence
    # each earlier alert, weighted exp(-age / 1 day), takes threshold × log10(1 + n) off
    assert math.isclose(second, 9.5 - 3.0 * math.log10(1.0 + math.exp(-1 / 24)), rel_tol=1e-12)
    assert third < second < first
    assert ev.step(2 * hour + 10 * MINUTE, 2.0).evidence < 2.0  # a calm reading: less, never < 0
    assert ev.step(2 * hour + 11 * MINUTE, 0.0).evidence == 0.0
    assert 9.4 < spike(10 * 24 * hour) < 9.5  # ten quiet days later: news again


def test_runner_reports_one_event_with_an_id_and_posts_the_tutorial_convention() -> None:
    ts, values = quiet(2 * 1440, cadence_ms=MINUTE, seed=24)
    values[2000:] = [v + 3.0 for v in values[2000:]]
    runner = DeviceRunner(lambda _s, m: make_detector("auto", TEMP))
    samples = runner.process(
        Reading("esp32-01", "temperature", t, v) for t, v in zip(ts, values, strict=True)
    )
    opened = [s for s in samples if s.event == "opened"]
    resolved = [s for s in samples if s.event == "resolved"]
    assert len(opened) == len(resolved) == 1
    assert opened[0].alert_id == resolved[0].alert_id
    assert opened[0].alert_id.startswith("esp32-01/temperature@")
    record = opened[0].record()
    assert record["event"] == "opened" and record["alert_id"] == opened[0].alert_id
    posted = [s.emitted for s in samples]
    # <metric>.zscore: above the monitor's max while the alert is open, 0.0 otherwise: one breach
    breaches = sum(1 for a, b in zip(posted, posted[1:], strict=False) if a <= 3.0 < b)
    assert breaches == 1
    assert all((s.emitted > 3.0) == s.anomaly for s in samples)
    assert "[alert opened]" in opened[0].line(prefix=False)


def test_the_score_means_the_same_on_every_scale() -> None:
    rng = random.Random(25)
    base = [rng.gauss(0.0, 1.0) for _ in range(2000)]
    base[1500] += 15.0
    ts = [START + 5 * MINUTE * i for i in range(len(base))]
    options = DetectorOptions(metric="rpm")
    small = run(AutoDetector(options), ts, [20.0 + 0.01 * v for v in base])
    large = run(AutoDetector(options), ts, [1e6 + 1e3 * v for v in base])
    for a, b in zip(small, large, strict=True):
        assert math.isclose(a.score, b.score, rel_tol=1e-6, abs_tol=1e-6)
    assert all(0.0 <= s.score <= 3 * MAX_SURPRISE for s in small)
    assert small[1500].event == "opened"


def test_calibration_follows_the_stream_and_stays_bounded() -> None:
    gaussian, bursty = TailCalibrator(), TailCalibrator()
    rng = random.Random(26)
    for _ in range(5000):
        gaussian.learn(rng.gauss(0.0, 1.0), 300_000)
        bursty.learn(rng.expovariate(0.3), 300_000)  # |z| of 10 is common here
    assert gaussian.surprise(6.0) > 2 * bursty.surprise(6.0)
    assert gaussian.surprise(1e9) == MAX_SURPRISE
    assert 2.0 < gaussian.surprise(3.0) < 3.2  # close to a normal's 2.57


def test_flat_by_nature_series_are_never_stuck() -> None:
    n = 4000
    ts = [START + 5 * MINUTE * i for i in range(n)]
    constant = [45.0] * n
    square = [20.0 if (i // 144) % 2 else 80.0 for i in range(n)]  # 12 h per level
    rng = random.Random(27)
    counter = [0.0 if rng.random() < 0.97 else float(rng.randint(1, 9)) for _ in range(n)]
    for values in (constant, square, counter):
        for det in (StuckDetector(DetectorOptions(metric="rpm")), AutoDetector(TEMP)):
            assert not any(s.check == "stuck" for s in run(det, ts, values))


def test_a_series_that_used_to_move_is_stuck_when_it_freezes() -> None:
    ts, values = quiet(1440, cadence_ms=MINUTE, seed=28)
    values[1000:] = [values[1000]] * 440
    scores = run(AutoDetector(TEMP), ts, values)
    opened = [(i, s.check) for i, s in enumerate(scores) if s.event == "opened"]
    assert opened and opened[0][1] == "stuck" and 1000 < opened[0][0] < 1060
    assert not any(s.event == "resolved" and "new level" in s.reason for s in scores)


def test_a_freeze_the_stream_recovered_from_sets_the_bar_for_the_next() -> None:
    ts, values = quiet(3000, cadence_ms=MINUTE, seed=29)
    for start in (1000, 2000):  # the same 60-reading freeze twice, the stream moving in between
        values[start : start + 60] = [values[start]] * 60
    det = StuckDetector(TEMP)
    stuck = [i for i, s in enumerate(run(det, ts, values)) if s.check == "stuck"]
    assert stuck and all(1000 < i < 1060 for i in stuck), stuck  # the second is not news
    assert (det.limit() or 0) >= 180  # three times the freeze it came back from


def test_a_slow_drift_is_caught_and_a_held_offset_is_not_a_drift() -> None:
    # Four days at 5 min with a daily swing, then 5 °C/day: the level check learns the growing
    # tail as this stream's, the drift check (how long away, against completed excursions) does not.
    day = 288
    ts, values = quiet(7 * day, cadence_ms=5 * MINUTE, sigma=0.1, diurnal=1.0, seed=31)
    onset = 4 * day
    drifted = values[:onset] + [v + 5.0 * (i / day) for i, v in enumerate(values[onset:])]
    scores = run(AutoDetector(TEMP), ts, drifted)
    opened = [i for i, s in enumerate(scores) if s.event == "opened"]
    assert not [i for i in opened if i < onset], "no alert before the drift"
    drift = [i for i in opened if scores[i].check == "drift"]
    assert drift and drift[0] - onset < day, opened  # within a day
    assert "more than 2σ above its baseline for" in scores[drift[0]].reason
    # the same stream with the level held off its baseline (no growth) never reports a drift
    held = values[:onset] + [v - 3.0 for v in values[onset:]]
    assert not [s for s in run(AutoDetector(TEMP), ts, held) if s.check == "drift" and s.event]


def test_the_drift_limit_is_learnt_from_completed_excursions_only() -> None:
    check = DriftCheck(threshold=3.0)
    hour = 60 * MINUTE
    assert not check.observe(0, 2.5).anomalous  # an excursion starts beyond 2σ
    assert not check.observe(2 * hour, 3.5).anomalous  # two hours: under the 3 h floor
    fired = check.observe(4 * hour, 6.0)  # four hours, still moving away
    assert fired.anomalous and fired.check == "drift" and fired.score > 3.0
    assert check.limit_ms() == 3 * hour  # an ongoing excursion never raises its own limit
    assert not check.observe(5 * hour, 2.0).anomalous  # still away, but not moving away any more
    check.observe(6 * hour, 0.5)  # back within 1σ: over, and learnt
    assert check.limit_ms() == 2 * 6 * hour
    check.observe(7 * hour, -2.5)
    assert not check.observe(12 * hour, -9.0).anomalous  # 5 h away is now ordinary here


def square_days(days: int, *, seed: int) -> tuple[list[int], list[float]]:
    """A day/night square wave at 5 min: 20 at night, 80 from 09:00 to 18:00, a little noise."""
    rng = random.Random(seed)
    ts = [START + k * 5 * MINUTE for k in range(days * 288)]
    values = [
        (80.0 if 9 * 60 <= (k % 288) * 5 < 18 * 60 else 20.0) + rng.gauss(0.0, 1.0)
        for k in range(days * 288)
    ]
    return ts, values


def test_a_daily_step_held_on_every_recent_day_is_not_news() -> None:
    ts, values = square_days(9, seed=31)
    opened = [
        i // 288
        for i, s in enumerate(run(AutoDetector(GENERIC), ts, values))
        if s.event == "opened"
    ]
    assert opened and min(opened) < 3, opened  # the first days: each step is a change
    # then it is what this stream does: two openings a day before, at most one in five days now
    # (a step reading beyond every recent day's range plus the narrowest day's width still counts)
    assert len([day for day in opened if day >= 4]) <= 1, opened


def test_a_day_unlike_the_recent_ones_still_alerts() -> None:
    ts, values = square_days(9, seed=32)
    day = 7 * 288
    values[day : day + 288] = [
        20.0 + 2.0 * (v - 20.0) for v in values[day : day + 288]
    ]  # 140 by day
    opened = [
        i for i, s in enumerate(run(AutoDetector(GENERIC), ts, values)) if s.event == "opened"
    ]
    assert [i for i in opened if day + 9 * 12 <= i <= day + 9 * 12 + 3], opened


def test_one_odd_day_explains_nothing() -> None:
    memory = DailyRange(floor=0.1)
    hour = 3_600_000

    def learn_day(d: int) -> None:
        for h in range(24):
            odd = d == 2 and h == 3
            memory.learn(
                START + (d * 24 + h) * hour, 35.0 if odd else 80.0 if 9 <= h < 18 else 20.0
            )

    for d in range(5):
        learn_day(d)
    three_am = START + (5 * 24 + 3) * hour
    assert memory.explains(START + (5 * 24 + 12) * hour, 80.0)
    assert not memory.explains(three_am, 35.0)  # seen at 03:00 once, on one day of three
    assert not memory.explains(three_am, 20.0)  # and that day did not hold 20 then
    learn_day(5)
    assert memory.explains(three_am + 24 * hour, 20.0)  # three days in a row again
