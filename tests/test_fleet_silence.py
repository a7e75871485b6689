"""Silences learned sweep by sweep: a board's usual longest silence is measured whole, even when
it spans the sweeps' windows, and before a board has a day of history its cohort's usual silences
say how long a silence may last."""

from __future__ import annotations

import numpy as np

from fleetscan.fleet import (
    MetricBaseline,
    SeriesBatch,
    Status,
    SweepOptions,
    learn_baseline,
    score_window,
)
from fleetscan.fleet.sweep import FleetResult
from fleetscan.timeutil import HOUR_MS

MIDNIGHT = 1_781_222_400_000  # 2026-06-12 00:00 UTC
MIN = 60_000
OPTS = SweepOptions(min_peers=3)


def room(hours: float, silences: dict[int, list[tuple[float, float]]]) -> SeriesBatch:
    """8 boards reading once a minute for `hours`; `silences[i]` are board i's silent spells as
    (from, to) in minutes since midnight, `to` excluded."""
    rng = np.random.default_rng(11)
    ts = MIDNIGHT + np.arange(int(hours * 60)) * MIN
    minute = (ts - MIDNIGHT) / MIN
    source, stamps, values = [], [], []
    for i in range(8):
        keep = np.ones(len(ts), np.bool_)
        for lo, hi in silences.get(i, []):
            keep &= ~((minute >= lo) & (minute < hi))
        source.append(np.full(int(keep.sum()), i))
        stamps.append(ts[keep])
        values.append(np.round(21 + 0.1 * i + rng.normal(0, 0.02, int(keep.sum())), 2))
    src, when, val = np.concatenate(source), np.concatenate(stamps), np.concatenate(values)
    order = np.argsort(when, kind="stable")
    ids = [f"b{i:02d}" for i in range(8)]
    return SeriesBatch.from_arrays("temperature", ids, src[order], when[order], val[order])


def sweep(batch: SeriesBatch, until: int) -> tuple[dict[str, FleetResult], MetricBaseline]:
    """Sweeps every 5 min (30 s past the minute) from the first reading to `until`."""
    start = MIDNIGHT + 10 * MIN + 30_000
    baseline = {"temperature": learn_baseline(batch.until(start), now_ms=start, options=OPTS)}
    results: list[FleetResult] = []
    for at in range(start + 5 * MIN, until + 1, 5 * MIN):
        window = {"temperature": batch.between(at - OPTS.window_ms, at)}
        results, baseline = score_window(window, baseline, now_ms=at, options=OPTS)
    return {r.source_id: r for r in results}, baseline["temperature"]


def test_a_silence_longer_than_the_window_is_learned_whole_even_when_one_reading_ends_it() -> None:
    """b04 goes quiet for 21 min every 3 h; each silence ends with one reading before a sweep
    (so the sweep has no spacing of that board's own). The silence learned is the whole 21 min,
    not the 11 min before the window, so a later 25-min silence of b04 is its habit; the same
    silence of b05, which never went quiet, is stale."""
    spells = [(h * 60 + 6, h * 60 + 27) for h in range(1, 22, 3)]
    hours = 24 + 2
    late = (24 * 60 + 30, 24 * 60 + 55)  # 25 min, ending after the last sweep below
    batch = room(hours, {4: [*spells, late], 5: [late]})
    results, base = sweep(batch, MIDNIGHT + 24 * HOUR_MS + 50 * MIN + 30_000)
    usual = base.view(["b04", "b05"], now_ms=MIDNIGHT + 25 * HOUR_MS).silence_ms
    assert usual[0] >= 20 * MIN, usual[0] / MIN
    assert usual[1] <= 2 * MIN, usual[1] / MIN
    assert results["b04"].status is not Status.STALE, results["b04"].reason
    assert results["b05"].status is Status.STALE, results["b05"].reason
    assert results["b05"].reason == "no reading for 21m (stale after 5m)"  # 5 intervals, no habit


def test_on_its_first_day_a_board_may_be_as_quiet_as_its_cohort_usually_is() -> None:
    """Every board of a lossy room goes quiet for 20 min now and then; b07's first such silence,
    at 07:00, is not stale, although its own history has none, while a board silent twice as long
    as its cohort ever is, is stale."""
    spells = {i: [(60 + 40 * i, 80 + 40 * i), (320 + 12 * i, 340 + 12 * i)] for i in range(7)}
    spells[7] = [(420, 441)]
    batch = room(8, spells)
    results, _ = sweep(batch, MIDNIGHT + 7 * HOUR_MS + 20 * MIN + 30_000)
    assert results["b07"].status is not Status.STALE, results["b07"].reason
    spells[7] = [(420, 480)]
    results, _ = sweep(room(8, spells), MIDNIGHT + 7 * HOUR_MS + 55 * MIN + 30_000)
    assert results["b07"].status is Status.STALE, results["b07"].reason
    assert "1.5× its cohort's usual longest silence, 21m" in results["b07"].reason
