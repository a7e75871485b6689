"""The fleet core on constructed data: robust statistics, reduction, scoring, baselines, sweeps."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetscan.fleet import (
    BatchBuilder,
    MetricBaseline,
    SeriesBatch,
    Status,
    SweepOptions,
    WindowAggregates,
    fleet_points,
    learn_baseline,
    reduce_window,
    score_window,
)
from fleetscan.fleet.reduce import CELL_BUDGET, _chunks
from fleetscan.fleet.robust import (
    grouped_loo_mad,
    grouped_loo_median,
    loo_mad,
    loo_median,
    nan_median,
)
from fleetscan.fleet.sweep import FleetResult
from fleetscan.lifecycle import LifecycleOptions
from fleetscan.sweeps import render
from fleetscan.sweeps.step import StepOptions, SweepState, step_lifecycle
from fleetscan.telemetry import Reading

NOW = 1_781_258_400_000  # 2026-06-12 10:00:00 UTC
MIN = 60_000
HOUR = 3_600_000


def make_batch(
    series: Mapping[str, Sequence[float] | np.ndarray],
    *,
    metric: str = "temperature",
    cadence_ms: int = 2000,
    end_ms: int = NOW,
    cohorts: Mapping[str, str] | None = None,
) -> SeriesBatch:
    """Each source's values, evenly spaced, the last one at `end_ms`."""
    ids = list(series)
    src, ts, val = [], [], []
    for i, sid in enumerate(ids):
        values = np.asarray(series[sid], dtype=np.float64)
        n = len(values)
        src.append(np.full(n, i))
        ts.append(end_ms - cadence_ms * np.arange(n)[::-1])
        val.append(values)
    return SeriesBatch.from_arrays(
        metric,
        ids,
        np.concatenate(src),
        np.concatenate(ts),
        np.concatenate(val),
        cohorts=[(cohorts or {}).get(s, "") for s in ids],
    )


def healthy(
    n_sources: int, n: int = 300, *, level: float = 21.0, seed: int = 0, trend: float = 0.002
) -> dict[str, np.ndarray]:
    """Autocorrelated boards at 0.01 resolution that move together (a shared slow trend)."""
    rng = np.random.default_rng(seed)
    common = trend * np.arange(n)
    return {
        f"b{i:02d}": np.round(level + 0.05 * rng.normal() + common + rng.normal(0, 0.02, n), 2)
        for i in range(n_sources)
    }


def sweep(
    batch: SeriesBatch,
    *,
    baseline: Mapping[str, MetricBaseline] | None = None,
    now: int = NOW,
    **opts: Any,
) -> dict[str, FleetResult]:
    results, _ = score_window(
        {batch.metric: batch}, baseline or {}, now_ms=now, options=SweepOptions(**opts)
    )
    return {r.source_id: r for r in results}


# -- robust statistics ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(math.nan)), min_size=1, max_size=12))
def test_loo_median_matches_brute_force(values: list[float]) -> None:
    x = np.array(values)
    got = loo_median(x[:, None])[:, 0]
    for i in range(len(x)):
        others = [v for j, v in enumerate(values) if j != i and not math.isnan(v)]
        if math.isnan(values[i]):
            others = [v for v in values if not math.isnan(v)]
        want = float(np.median(others)) if others else math.nan
        assert got[i] == pytest.approx(want, nan_ok=True)


def _brute_loo_mad(values: np.ndarray, centres: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The n² definition: for each i, the median of |x_j - centre_i| over finite j != i in i's group."""
    out = np.full(len(values), np.nan)
    for i in range(len(values)):
        others = (codes == codes[i]) & np.isfinite(values) & (np.arange(len(values)) != i)
        if others.any() and np.isfinite(centres[i]):
            out[i] = float(np.median(np.abs(values[others] - centres[i])))
    return out


finite_or_nan = st.one_of(
    st.floats(-1e3, 1e3), st.integers(-3, 3).map(float), st.just(math.nan)
)  # small integers make ties, which the rank shifts must get right


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(finite_or_nan, st.integers(0, 2), st.floats(-2, 2)), min_size=1, max_size=14
    ),
    st.booleans(),
)
def test_loo_mad_matches_brute_force_exactly(
    entries: list[tuple[float, int, float]], shifted: bool
) -> None:
    values = np.array([v for v, _, _ in entries])
    codes = np.unique([c for _, c, _ in entries], return_inverse=True)[1].astype(np.int64)
    centres = grouped_loo_median(values, codes)
    if shifted:  # any centre, not only the leave-one-out median
        centres = centres + np.array([d for _, _, d in entries])
    got = grouped_loo_mad(values, centres, codes)
    np.testing.assert_array_equal(got, _brute_loo_mad(values, centres, codes))
    if len(set(codes.tolist())) == 1:
        np.testing.assert_array_equal(loo_mad(values, centres), got)


def test_loo_statistics_at_100k_sources_agree_with_the_definition() -> None:
    rng = np.random.default_rng(15)
    values = np.round(rng.normal(21.0, 0.8, 100_000), 1)  # quantised: many ties
    values[rng.random(100_000) < 0.01] = np.nan
    codes = rng.integers(0, 3, 100_000).astype(np.int64)  # three cohorts of ~33k
    centres = grouped_loo_median(values, codes)
    mad = grouped_loo_mad(values, centres, codes)
    # The definition, on a sample of entries, each against its whole cohort.
    for i in rng.choice(100_000, 40, replace=False).tolist():
        others = (codes == codes[i]) & np.isfinite(values)
        others[i] = False
        assert centres[i] == float(np.median(values[others]))
        assert mad[i] == float(np.median(np.abs(values[others] - centres[i])))
    assert np.isfinite(mad).all()


def test_a_sweep_over_100k_sources_in_uneven_cohorts_finds_the_one_stray_board() -> None:
    # One cohort of 90k boards and 2,500 cohorts of 4: a padded cohort matrix would be 2.3e8 cells.
    n, rng = 100_000, np.random.default_rng(16)
    readings = 20
    level = np.round(21.0 + rng.uniform(-0.4, 0.4, n), 2)  # all within 1.4 robust σ
    level[12_345] += 6.0
    src = np.repeat(np.arange(n), readings)
    ts = NOW - 2000 * np.tile(np.arange(readings)[::-1], n)
    value = np.round(level[src] + rng.normal(0, 0.05, n * readings), 2)
    ids = [f"b{i:06d}" for i in range(n)]
    cohorts = ["big" if i < 90_000 else f"room-{i // 4}" for i in range(n)]
    batch = SeriesBatch.from_arrays("temperature", ids, src, ts, value, cohorts=cohorts)
    results = sweep(batch)
    flagged = {sid for sid, r in results.items() if r.flagged}
    assert flagged == {"b012345"}
    assert results["b012345"].status == "anomalous"
    assert results["b099999"].peers == 3


def test_nan_median_of_empty_rows_is_nan_without_warnings() -> None:
    assert np.isnan(nan_median(np.full((2, 3), np.nan))).all()
    assert nan_median(np.zeros((2, 0))).shape == (2,)


# -- reduction -----------------------------------------------------------------------------------


def test_reduce_matches_per_source_numpy() -> None:
    rng = np.random.default_rng(3)
    series = {
        f"s{i}": np.round(19.6 + 0.3 * i + np.cumsum(rng.normal(0, 0.05, 40 + 7 * i)), 2)
        for i in range(6)  # s0 strays below the C SDK's fake range, the others stay inside
    }
    batch = make_batch(series)
    shuffled = rng.permutation(len(batch))  # the reduction must not depend on row order
    batch = SeriesBatch(
        batch.metric,
        batch.source_ids,
        batch.cohorts,
        batch.source[shuffled],
        batch.ts_ms[shuffled],
        batch.value[shuffled],
        batch.dropped,
    )
    agg = reduce_window(batch, now_ms=NOW, window_ms=10 * MIN)
    for i, sid in enumerate(agg.source_ids):
        v = series[sid][-300:]
        assert agg.count[i] == len(v)
        assert agg.median[i] == pytest.approx(np.median(v))
        assert (agg.vmin[i], agg.vmax[i]) == (v.min(), v.max())
        assert agg.last_ts[i] == NOW
        assert agg.interval_ms[i] == pytest.approx(2000)
        d2 = np.abs(np.diff(v, 2))
        assert agg.noise[i] == pytest.approx(1.4826 * np.median(d2) / math.sqrt(6))
        c = v - np.median(v)
        if 20.0 <= v.min() and v.max() <= 23.9:  # only a window that could be the C SDK's fakes
            assert agg.lag1[i] == pytest.approx((c[1:] * c[:-1]).sum() / (c * c).sum())
            assert agg.grid[i] == pytest.approx(np.mean(np.abs(v * 10 - np.rint(v * 10)) < 2e-3))
        else:
            assert np.isnan(agg.lag1[i]) and np.isnan(agg.grid[i])


def test_reduce_counts_impossible_rows_and_keeps_them_out_of_the_median() -> None:
    values = [50.0, 51.0, 0.0, 100.5, math.nan, 52.0]
    batch = make_batch({"h": values}, metric="humidity")
    future = SeriesBatch.from_arrays("humidity", ["h"], [0, 0], [NOW + 3 * HOUR, 10_000], [50, 50])
    both = SeriesBatch.from_arrays(
        "humidity",
        ["h"],
        np.concatenate([batch.source, future.source]),
        np.concatenate([batch.ts_ms, future.ts_ms]),
        np.concatenate([batch.value, future.value]),
        dropped=[2],
    )
    agg = reduce_window(both, now_ms=NOW, window_ms=10 * MIN)
    assert (agg.count[0], agg.invalid[0], agg.nan[0], agg.future[0], agg.past[0]) == (3, 2, 3, 1, 1)
    assert agg.median[0] == 51.0


def test_spikes_are_bursts_not_ramps_or_steps() -> None:
    ramp = np.round(np.linspace(20, 23, 120), 2)
    step = np.r_[np.full(60, 20.0), np.full(60, 21.5)]
    burst = np.full(120, 20.0)
    burst[50:53] = 22.0  # a three-sample burst
    agg = reduce_window(
        make_batch({"ramp": ramp, "step": step, "burst": burst}), now_ms=NOW, window_ms=10 * MIN
    )
    assert agg.spikes.tolist() == [0, 0, 3]


def test_chunks_bound_the_padding_when_one_source_is_chatty() -> None:
    counts = np.array([300] * 1000 + [CELL_BUDGET // 10] + [0, 5], dtype=np.int64)
    chunks = _chunks(counts)
    assert sorted(np.concatenate(chunks).tolist()) == [i for i in range(len(counts)) if counts[i]]
    for chunk in chunks:
        assert len(chunk) == 1 or len(chunk) * counts[chunk].max() <= CELL_BUDGET


# -- scoring -------------------------------------------------------------------------------------


def test_outlier_is_anomalous_and_the_rest_ok() -> None:
    series = healthy(8)
    series["b03"] = series["b03"] + 3.0
    r = sweep(make_batch(series))
    assert r["b03"].status is Status.ANOMALOUS and r["b03"].flagged
    assert r["b03"].z > 3 and r["b03"].score == pytest.approx(abs(r["b03"].z))
    assert "above the peer median" in r["b03"].reason
    assert all(x.status is Status.OK for k, x in r.items() if k != "b03")


def test_identical_values_score_zero_not_infinity() -> None:
    r = sweep(make_batch({f"b{i}": [21.5] * 100 for i in range(7)}))
    assert {x.status for x in r.values()} == {Status.OK}
    assert all(x.z == 0.0 and x.fleet_scale == 0.5 for x in r.values())


@pytest.mark.parametrize("n_sources", [1, 2, 4])
def test_small_fleets_are_insufficient_peers_not_alerts(n_sources: int) -> None:
    series = healthy(n_sources)
    series["b00"] = series["b00"] + 5.0
    r = sweep(make_batch(series))
    assert {x.status for x in r.values()} == {Status.INSUFFICIENT_PEERS}
    assert not any(x.flagged for x in r.values())
    assert all(x.peers == n_sources - 1 for x in r.values())


def test_two_sources_compare_with_each_other_when_allowed() -> None:
    series = healthy(2)
    series["b01"] = series["b01"] + 5.0
    r = sweep(make_batch(series), min_peers=1)
    assert r["b00"].fleet_median == pytest.approx(np.median(series["b01"][-300:]))
    assert r["b01"].status is Status.ANOMALOUS and r["b00"].status is Status.ANOMALOUS


def test_leave_one_out_finds_the_outlier_of_a_small_cohort() -> None:
    series = healthy(6)
    series["b05"] = series["b05"] + 2.0
    r = sweep(make_batch(series))
    assert r["b05"].status is Status.ANOMALOUS
    others = [float(np.median(series[f"b0{i}"])) for i in range(5)]
    assert r["b05"].fleet_median == pytest.approx(np.median(others))  # itself left out


def test_stuck_needs_moving_peers() -> None:
    series = healthy(8, trend=0.003)
    series["b02"] = np.full(300, 21.37)
    r = sweep(make_batch(series))
    assert r["b02"].status is Status.STUCK and r["b02"].score >= 4.0
    flat = {f"b{i}": np.full(300, 21.0 + 0.01 * i) for i in range(8)}  # nobody moves
    assert Status.STUCK not in {x.status for x in sweep(make_batch(flat)).values()}


def test_a_flip_of_one_coarse_code_is_no_movement_for_stuck() -> None:
    """Boards reporting on a 0.04 °C step, 7 readings a window (60 s, some lost): peers whose
    windows span one code moved by a rounding flip, so a board that sat inside one code is not
    stuck; once the peers span two codes or more, the same flat window is."""
    code = 0.04
    flips = {f"b{i}": 21.0 + code * np.array([0, 1, 0, 0, 1, 1, 0]) for i in range(9)}
    flips["b9"] = np.full(7, 21.0)
    quiet = sweep(make_batch(flips, cadence_ms=MIN))
    assert quiet["b9"].status is not Status.STUCK
    rises = ([0, 1, 1, 2, 2, 3, 3], [0, 0, 1, 1, 2, 2, 2], [1, 1, 2, 2, 3, 4, 4])
    warming = {f"b{i}": 21.0 + code * np.array(rises[i % 3]) for i in range(9)}
    warming["b9"] = np.full(7, 21.0)
    frozen = sweep(make_batch(warming, cadence_ms=MIN))["b9"]
    assert frozen.status is Status.STUCK
    assert "while peers move 0.12 (readings in steps of 0.04, resolution 0.01)" in frozen.reason
    # on the 0.01 step a one-code spread of 0.04 is four codes: still stuck, as before
    wander = ([0, 1, 4, 2, 3, 0, 1], [0, 1, 2, 3, 3, 2, 0], [2, 0, 1, 3, 1, 0, 3])
    fine = {f"b{i}": 21.0 + 0.01 * np.array(wander[i % 3]) for i in range(9)}
    fine["b9"] = np.full(7, 21.0)
    assert sweep(make_batch(fine, cadence_ms=MIN))["b9"].status is Status.STUCK


def test_noisy_sensor_and_its_ratio() -> None:
    series = healthy(8)
    rng = np.random.default_rng(9)
    series["b04"] = np.round(series["b04"] + rng.normal(0, 0.3, 300), 2)
    r = sweep(make_batch(series))
    assert r["b04"].status is Status.NOISY
    assert "× the peers'" in r["b04"].reason


def test_simulated_values_of_the_c_sdk_are_invalid() -> None:
    rng = np.random.default_rng(1)
    fake = 22.0 + rng.integers(-20, 20, 300) / 10.0
    fake32 = np.array([float(f"{np.float32(v):.10g}") for v in fake])  # 22.39999962 and friends
    series = healthy(8)
    series["b06"] = fake32
    r = sweep(make_batch(series))
    assert r["b06"].status is Status.INVALID and "simulated" in r["b06"].reason
    rounded = healthy(8)
    rounded["b06"] = np.round(rounded["b06"], 1)  # a healthy board reporting 0.1 steps
    assert sweep(make_batch(rounded))["b06"].status is Status.OK


def test_stale_source_alerts_with_its_own_cadence() -> None:
    series = healthy(8)
    batch = make_batch(series)
    stale_rows = (batch.source == 7) & (batch.ts_ms > NOW - 3 * MIN)
    r = sweep(batch.select(~stale_rows))
    assert r["b07"].status is Status.STALE and r["b07"].flagged
    assert "no reading for 3m" in r["b07"].reason


def test_all_sources_silent_is_an_outage_not_a_thousand_alerts() -> None:
    batch = make_batch(healthy(10), end_ms=NOW - 4 * MIN)
    r = sweep(batch)
    assert {x.status for x in r.values()} == {Status.OUTAGE}
    assert not any(x.flagged for x in r.values())


def test_stragglers_after_a_shared_gap_are_not_stale() -> None:
    series = healthy(10, n=200)
    batch = make_batch(series, cadence_ms=3000)
    gap = (batch.ts_ms > NOW - 5 * MIN) & (batch.ts_ms < NOW - 10_000)
    late = (batch.source >= 7) & (batch.ts_ms >= NOW - 10_000)  # 3 boards not back yet
    r = sweep(batch.select(~gap & ~late))
    assert {r[f"b0{i}"].status for i in (7, 8, 9)} == {Status.OUTAGE}
    assert not any(x.flagged for x in r.values())


def test_mixed_cadences() -> None:
    fast = make_batch(healthy(6, n=300), cadence_ms=2000)
    slow_series = {f"s{i}": v[::30] for i, v in enumerate(healthy(6, n=300, seed=5).values())}
    slow = make_batch(slow_series, cadence_ms=60_000, end_ms=NOW - 2 * MIN)  # 2 min ago: fine
    both = SeriesBatch.from_arrays(
        "temperature",
        fast.source_ids + slow.source_ids,
        np.concatenate([fast.source, slow.source + 6]),
        np.concatenate([fast.ts_ms, slow.ts_ms]),
        np.concatenate([fast.value, slow.value]),
    )
    r = sweep(both)
    assert {x.status for x in r.values()} == {Status.OK}
    late_fast = both.select(~((both.source == 0) & (both.ts_ms > NOW - 2 * MIN)))
    assert sweep(late_fast)["b00"].status is Status.STALE  # 2 min is long for a 2 s board


def test_invalid_readings_alert_even_without_peers() -> None:
    batch = make_batch({"h": [55.0, 0.0, 56.0]}, metric="humidity")
    r = sweep(batch)
    assert r["h"].status is Status.INVALID and "outside the BME280 range (0, 100]" in r["h"].reason


def test_group_by_compares_within_cohorts() -> None:
    warm = healthy(6, level=24.0, seed=1)
    cool = {k.replace("b", "c"): v for k, v in healthy(6, level=18.0, seed=2).items()}
    cohorts = {**{k: "lab" for k in warm}, **{k: "store" for k in cool}}
    batch = make_batch({**warm, **cool}, cohorts=cohorts)
    r = sweep(batch, group_by=("room",))
    assert {x.status for x in r.values()} == {Status.OK}
    assert r["b00"].fleet_median > 23.5 and r["c00"].fleet_median < 18.5


def test_tags_missing_on_some_rows_keep_the_board_in_its_room() -> None:
    builder = BatchBuilder(["temperature"], group_by=["room"])
    builder.add(
        [
            Reading("a", "temperature", NOW - 2000, 21.0, {"room": "lab"}),
            Reading("a", "temperature", NOW, 21.1, {}),
            Reading("b", "temperature", NOW, 21.1),
        ]
    )
    batch = builder.build()["temperature"]
    assert batch.cohorts == ("lab", "")


# -- baselines -----------------------------------------------------------------------------------


def history(
    n_sources: int,
    hours: int,
    offsets: Mapping[str, float],
    *,
    cadence_ms: int = 60_000,
    drift: Mapping[str, float] | None = None,
) -> SeriesBatch:
    """Boards following a shared day/night swing, each at its own fixed offset."""
    rng = np.random.default_rng(11)
    n = hours * HOUR // cadence_ms
    t = np.arange(n) * cadence_ms
    swing = 2.0 * np.sin(2 * np.pi * t / (24 * HOUR))
    series = {}
    for i in range(n_sources):
        sid = f"b{i:02d}"
        slope = (drift or {}).get(sid, 0.0) * np.clip(t - (n - 180) * cadence_ms, 0, None) / HOUR
        series[sid] = np.round(
            21 + swing + offsets.get(sid, 0.0) + slope + rng.normal(0, 0.02, n), 2
        )
    return make_batch(series, cadence_ms=cadence_ms)


def test_a_board_always_3_degrees_above_is_normal_and_its_gap_changing_is_not() -> None:
    opts = SweepOptions()
    steady = history(8, 24, {"b01": 3.0})
    base = {"temperature": learn_baseline(steady, now_ms=NOW, options=opts)}
    r = sweep(steady, baseline=base)
    assert r["b01"].status is Status.OK and r["b01"].baseline_offset == pytest.approx(3.0, abs=0.1)
    without = sweep(steady)
    assert without["b01"].status is Status.ANOMALOUS  # what a snapshot comparison would say

    sliding = history(8, 24, {"b01": 3.0}, drift={"b01": -0.5})  # -0.5 °C/h for the last 3 h
    r = sweep(sliding, baseline={"temperature": learn_baseline(sliding, now_ms=NOW, options=opts)})
    assert r["b01"].status is Status.DRIFTING and r["b01"].z < -3
    assert "usually +3.00" in r["b01"].reason and "at any hour" in r["b01"].reason
    assert {x.status for k, x in r.items() if k != "b01"} == {Status.OK}


def test_baseline_round_trips_through_json_form() -> None:
    opts = SweepOptions()
    base = learn_baseline(history(5, 12, {"b02": 1.0}), now_ms=NOW, options=opts)
    again = MetricBaseline.from_dict(base.to_dict())
    a, b = base.view(base.source_ids, now_ms=NOW), again.view(base.source_ids, now_ms=NOW)
    np.testing.assert_allclose(a.offset, b.offset)
    np.testing.assert_allclose(a.offset_sigma, b.offset_sigma)
    assert again.cohorts == base.cohorts and (again.last_ts == base.last_ts).all()


def test_sweeps_learn_a_baseline_and_hand_it_on() -> None:
    opts = SweepOptions(min_baseline_buckets=3)
    data = history(8, 10, {"b03": 2.0}, cadence_ms=30_000)
    baseline: dict[str, MetricBaseline] = {}
    statuses = []
    for hour in range(1, 11):
        now = NOW - (10 - hour) * HOUR
        results, baseline = score_window(
            {"temperature": data.until(now)}, baseline, now_ms=now, options=opts
        )
        statuses.append({r.source_id: r.status for r in results}["b03"])
    assert statuses[0] is Status.ANOMALOUS  # a cold start compares snapshots
    assert statuses[-1] is Status.OK  # once its usual +2 °C is learned it is normal
    assert baseline["temperature"].view(["b03"], now_ms=NOW).buckets[0] >= 3


def test_silent_sources_known_only_to_the_baseline_are_reported() -> None:
    opts = SweepOptions()
    data = history(8, 12, {})
    base = {"temperature": learn_baseline(data, now_ms=NOW - 20 * MIN, options=opts)}
    window = data.select(data.source != 5)
    r = sweep(window, baseline=base, now=NOW)
    assert r["b05"].status is Status.STALE and r["b05"].count == 0


def test_aggregates_and_raw_readings_give_the_same_sweep() -> None:
    batch = make_batch(healthy(7))
    agg = reduce_window(batch, now_ms=NOW, window_ms=10 * MIN)
    opts = SweepOptions()
    from_rows, _ = score_window({"temperature": batch}, {}, now_ms=NOW, options=opts)
    from_agg, _ = score_window({"temperature": agg}, {}, now_ms=NOW, options=opts)
    assert [r.to_record() for r in from_rows] == [r.to_record() for r in from_agg]
    assert isinstance(agg, WindowAggregates) and len(agg) == 7


@settings(max_examples=25, deadline=None)
@given(st.floats(-1e4, 1e4), st.floats(0.1, 1e3))
def test_snapshot_z_is_shift_and_scale_invariant(shift: float, factor: float) -> None:
    rng = np.random.default_rng(4)
    values = {f"b{i}": rng.normal(100, 5, 50) for i in range(9)}
    base = sweep(make_batch(values, metric="rpm"))
    moved = sweep(make_batch({k: v * factor + shift for k, v in values.items()}, metric="rpm"))
    for k in values:
        assert moved[k].z == pytest.approx(base[k].z, rel=1e-6, abs=1e-6)
        assert math.isfinite(moved[k].z)


# -- emission and output -------------------------------------------------------------------------


def test_fleet_points_follow_the_tutorial_convention() -> None:
    series = healthy(8)
    series["b01"] = series["b01"] + 4.0
    batch = make_batch(series)
    batch = batch.select(~((batch.source == 2) & (batch.ts_ms > NOW - 5 * MIN)))
    r = sweep(batch)
    points = {(p.source_id, p.metric): p for p in fleet_points(r.values())}
    assert points[("b01", "temperature.fleet_z")].value == pytest.approx(abs(r["b01"].z))
    assert points[("b02", "temperature.fleet_z")].value == 4.0  # stale: threshold + 1
    assert points[("b00", "temperature.fleet_z")].value == 0.0
    silent = dataclasses.replace(r["b02"], value=math.nan)
    assert [p.metric for p in fleet_points([silent])] == ["temperature.fleet_z"]  # no NaN posted
    assert points[("b01", "temperature.fleet_dev")].value == pytest.approx(
        r["b01"].value - r["b01"].fleet_median
    )
    assert points[("b01", "temperature.fleet_z")].tags == {"status": "anomalous"}
    quiet = fleet_points(r.values(), guard_met=lambda _: False)
    assert {p.value for p in quiet if p.metric.endswith("fleet_z")} == {0.0}


def test_table_and_records_explain_every_result() -> None:
    series = healthy(6)
    series["b05"] = series["b05"] + 3.0
    one_off = StepOptions(lifecycle=LifecycleOptions.immediate(), use_baseline=False)
    results = step_lifecycle(
        SweepState(), {"temperature": make_batch(series)}, NOW, one_off
    ).verdicts
    text = render.table(results)
    lines = text.splitlines()
    assert lines[0].startswith("SOURCE") and len(lines) == 7
    assert lines[1].startswith("b05") and "anomalous" in lines[1]
    record = results[0].to_record()
    assert set(record) >= {
        "source_id",
        "metric",
        "at",
        "value",
        "fleet_median",
        "fleet_scale",
        "z",
        "status",
        "alerting",
        "reason",
    }
    assert record["at"] == "2026-06-12T10:00:00.000Z"
    assert render.summary(results) == (
        "6 series (6 sources × 1 metric): 5 ok, 1 anomalous; 1 alerting"
    )
