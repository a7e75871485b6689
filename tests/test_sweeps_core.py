"""The cron sweep's pure core: fetch plans, baselines carried forward, storms, holds, emissions,
and a replay that equals step-by-step sweeps whose state goes through SQLite every time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from sweep_helpers import BAD, BLIP, HOUR, MIN, START, SWEEP_TIMES, boards, readings

from fleetscan.fleet import SeriesBatch, SweepOptions
from fleetscan.fleet.baseline import MetricBaseline
from fleetscan.lifecycle import LifecycleOptions
from fleetscan.state import open_state
from fleetscan.sweeps.plan import HistoryKind, fill_baseline, plan_fetch, split_batch
from fleetscan.sweeps.replay import History, Summary, replay
from fleetscan.sweeps.step import LifecycleStep, StepOptions, SweepState, plan_sweep, step_lifecycle
from fleetscan.telemetry import Reading

OPTIONS = StepOptions(
    sweep=SweepOptions(group_by=("site",), min_peers=3, baseline_span_ms=6 * HOUR),
    lifecycle=LifecycleOptions(recovery_ms=10 * MIN, cooldown_ms=20 * MIN, storm_fraction=0.4),
)
STORM = (boards()[5:12], START + 7 * HOUR + 20 * MIN, START + 7 * HOUR + 40 * MIN, 3.0)


def run(rows: Sequence[Reading], times: Sequence[int] = SWEEP_TIMES) -> list[LifecycleStep]:
    history = History.from_readings(rows, ["temperature"], group_by=("site",))
    return list(replay(history, times, OPTIONS))


def test_plan_learns_once_then_fetches_only_the_window_or_what_was_missed() -> None:
    opts = SweepOptions(window_ms=10 * MIN, baseline_span_ms=6 * HOUR)
    now = START + 7 * HOUR

    def plan(swept: dict[str, int], baselines: dict[str, MetricBaseline], use: bool = True):
        return plan_fetch(
            swept, baselines, ["t", "h"], now_ms=now, options=opts, use_baseline=use, sample_ms=MIN
        )

    first = plan({}, {})
    assert first.kinds == {"t": HistoryKind.LEARN, "h": HistoryKind.LEARN}
    assert len(first.history["t"]) == 6  # the last minute of 5 whole hours, and before the window
    assert first.history["t"][-1] == (now - 11 * MIN + 1, now - 10 * MIN)
    assert first.window_from_ms == now - 10 * MIN + 1
    assert [metrics for _, metrics in first.history_groups()] == [["t", "h"]]
    known = {"t": MetricBaseline.empty("t"), "h": MetricBaseline.empty("h")}
    regular = plan({"t": now - 5 * MIN, "h": now - 5 * MIN}, known)
    assert regular.kinds["t"] is HistoryKind.FOLD and regular.history == {"t": (), "h": ()}
    # h missed two hours of sweeps: only its slices since then; t never had a baseline: learn
    missed = plan({"t": now - 5 * MIN, "h": now - 2 * HOUR - 30 * MIN}, {"h": known["h"]})
    assert missed.kinds == {"t": HistoryKind.LEARN, "h": HistoryKind.GAP}
    assert all(lo > now - 2 * HOUR - 30 * MIN for lo, _ in missed.history["h"])
    assert (
        len(missed.history["h"]) == 3
    )  # the end of two whole hours and the piece before the window
    assert plan({}, {}, use=False).history == {"t": (), "h": ()}


def test_split_batch_keeps_each_parts_own_sources_and_the_dropped_rows_in_the_window() -> None:
    batch = SeriesBatch.from_arrays(
        "t",
        ["a", "b", "c"],
        [0, 1, 1, 2],
        [10, 10, 30, 50],
        [1.0, 2.0, 3.0, 4.0],
        cohorts=["x", "y", "z"],
        dropped=[0, 0, 2],
    )
    history, window = split_batch(batch, 10)
    assert history.source_ids == ("a", "b") and history.cohorts == ("x", "y")
    assert history.ts_ms.tolist() == [10, 10] and not history.dropped.any()
    assert window.source_ids == ("b", "c") and window.value.tolist() == [3.0, 4.0]
    assert window.source.tolist() == [0, 1] and window.dropped.tolist() == [0, 2]


def test_fill_baseline_fills_only_what_the_state_lacks() -> None:
    base = MetricBaseline.from_dict(
        {
            "metric": "t",
            "bucket_ms": HOUR,
            "sources": [{"source_id": "a", "cohort": "", "last_ts": 5, "buckets": [[0, 1.0, 3]]}],
        }
    )
    learned = MetricBaseline.from_dict(
        {
            "metric": "t",
            "bucket_ms": HOUR,
            "sources": [
                {
                    "source_id": "a",
                    "cohort": "",
                    "last_ts": 9,
                    "buckets": [[0, 7.0, 1], [HOUR, 2.0, 1]],
                },
                {"source_id": "b", "cohort": "", "last_ts": 8, "buckets": [[HOUR, -1.0, 1]]},
            ],
        }
    )
    merged = fill_baseline(base, learned).to_dict()
    # The fourth element of a bucket is its longest silence (none seen here).
    assert merged["sources"] == [
        {"source_id": "a", "cohort": "", "last_ts": 9, "interval_ms": None,
         "buckets": [[0, 1.0, 3.0, None], [HOUR, 2.0, 1.0, None]]},
        {"source_id": "b", "cohort": "", "last_ts": 8, "interval_ms": None,
         "buckets": [[HOUR, -1.0, 1.0, None]]},
    ]  # fmt: skip


def test_a_blip_opens_once_holds_fleet_z_while_recovering_and_resolves() -> None:
    outcomes = run(readings(shifts=[BLIP]))
    events = [(o.now_ms, v.result.source_id, v.event.kind) for o in outcomes for v in o.events()]
    assert events == [
        (START + 6 * HOUR + 35 * MIN, BAD, "opened"),
        (START + 7 * HOUR + 10 * MIN, BAD, "resolved"),
    ]
    fleet_z = [
        next(
            p.value
            for p in o.emissions()
            if p.source_id == BAD and p.metric == "temperature.fleet_z"
        )
        for o in outcomes
    ]
    opened, resolved = SWEEP_TIMES.index(events[0][0]), SWEEP_TIMES.index(events[1][0])
    assert all(z == 0.0 for z in fleet_z[:opened] + fleet_z[resolved:])
    assert all(z > 3.0 for z in fleet_z[opened:resolved])  # recovering sweeps included
    flagged = [any(v.flagged for v in o.verdicts if v.result.source_id == BAD) for o in outcomes]
    assert flagged[resolved - 1] is False  # the alert stayed open through a normal sweep
    others = [p for o in outcomes for p in o.emissions() if p.source_id != BAD]
    assert {p.value for p in others if p.metric.endswith(".fleet_z")} == {0.0}
    assert {p.tags["status"] for p in others} >= {"ok"}


def test_a_storm_is_one_finding_and_opens_no_alert() -> None:
    outcomes = run(readings(shifts=[STORM]))
    assert [v.event for o in outcomes for v in o.verdicts if v.event] == []
    storms = [(o.now_ms, f.where, f.started, f.storm is None) for o in outcomes for f in o.storms]
    assert storms[0] == (START + 7 * HOUR + 30 * MIN, "the fleet", True, False)
    assert storms[-1][1:] == ("the fleet", False, True)  # it ended
    during = next(o for o in outcomes if o.now_ms == storms[0][0])
    held = [v for v in during.verdicts if v.held == "storm"]
    assert len(held) >= 7 and all(v.flagged and not v.alerting and v.fleet_z == 0.0 for v in held)
    assert during.severity() == 1
    record = held[0].to_record()
    assert (record["held"], record["storm"], record["alerting"]) == ("storm", "the fleet", False)


def test_an_outage_neither_resolves_nor_opens() -> None:
    rows = [
        r
        for r in readings(shifts=[BLIP])
        if not START + 6 * HOUR + 50 * MIN < r.ts_ms <= START + 7 * HOUR + 30 * MIN
    ]  # every board silent for 40 minutes, just after the blip
    outcomes = run(rows)
    kinds = [(o.now_ms, v.event.kind) for o in outcomes for v in o.events()]
    assert kinds[0] == (START + 6 * HOUR + 35 * MIN, "opened")
    assert kinds[1][1] == "resolved" and kinds[1][0] > START + 7 * HOUR + 30 * MIN
    silent = next(o for o in outcomes if o.now_ms == START + 7 * HOUR + 15 * MIN)
    bad = next(v for v in silent.verdicts if v.result.source_id == BAD)
    assert bad.result.status.value == "outage" and bad.held == "outage"
    assert bad.alerting and bad.fleet_z > 3.0


def test_a_stale_alert_resolves_once_readings_return_even_with_too_few_peers() -> None:
    """Too few peers holds a value alert (nothing to compare with), but fresh, valid readings
    are all a stale alert waits for."""
    four = set(boards()[:4])  # BAD and three peers
    peer = boards()[0]
    rows = [
        r
        for r in readings()
        if r.source_id in four
        and not (
            r.source_id == BAD
            and START + 6 * HOUR + 20 * MIN < r.ts_ms <= START + 6 * HOUR + 40 * MIN
        )
        and not (r.source_id == peer and r.ts_ms > START + 6 * HOUR + 40 * MIN)
    ]  # BAD silent for 20 minutes; then one of its peers for good, leaving it two
    outcomes = run(rows)
    mine = [(o.now_ms, v) for o in outcomes for v in o.verdicts if v.result.source_id == BAD]
    events = [(t, v.event.kind, v.result.status.value) for t, v in mine if v.event is not None]
    assert events[0][1:] == ("opened", "stale")
    after = [v.result.status.value for t, v in mine if t > START + 6 * HOUR + 45 * MIN]
    assert set(after) == {"insufficient_peers"}
    assert events[1][1] == "resolved" and events[1][0] <= START + 7 * HOUR
    assert not mine[-1][1].alerting


def test_time_must_move_forward() -> None:
    state = SweepState(last_sweep_ms=START)
    with pytest.raises(ValueError, match="not after the last one"):
        step_lifecycle(state, {}, START, OPTIONS)


def _records(outcome: LifecycleStep) -> list[str]:
    return sorted(json.dumps(v.to_record(), sort_keys=True) for v in outcome.verdicts)


def test_replay_equals_sweeps_whose_state_goes_through_sqlite(tmp_path: Path) -> None:
    rows = readings(shifts=[BLIP, STORM])
    history = History.from_readings(rows, ["temperature"], group_by=("site",))
    # irregular times: a missed hour of sweeps (gap), then two sweeps closer than the window
    times = SWEEP_TIMES[:6] + SWEEP_TIMES[18:] + [SWEEP_TIMES[-1] + 3 * MIN]
    expected = [_records(o) for o in replay(history, times, OPTIONS)]
    path = tmp_path / "state.db"
    got = []
    for now in times:
        with open_state(path) as store:
            state = store.load()
            plan = plan_sweep(state, ["temperature"], now, OPTIONS)
            outcome = step_lifecycle(state, history.window(plan), now, OPTIONS)
            store.commit(outcome.state, outcome.emissions())
        got.append(_records(outcome))
    assert got == expected
    with open_state(path) as store:
        kept = store.load()
        assert kept.last_sweep_ms == times[-1] and len(store.outbox()) == 3 * len(boards())
        assert set(kept.baselines) == {"temperature"} and len(kept.baselines["temperature"]) == 16


def test_summary_says_who_would_have_alerted_when_and_for_how_long() -> None:
    summary = Summary()
    for outcome in run(readings(shifts=[BLIP, STORM])):
        summary.add(outcome)
    assert summary.sweeps == len(SWEEP_TIMES) and len(summary.series) == 16
    [episode] = summary.episodes
    assert (episode.source_id, episode.opened_ms, episode.resolved_ms) == (
        BAD,
        START + 6 * HOUR + 35 * MIN,
        START + 7 * HOUR + 10 * MIN,
    )
    assert episode.status == "drifting" and episode.peak > 3.0
    [storm] = summary.storms
    assert storm.where == "the fleet" and storm.ended_ms is not None and storm.sweeps >= 2
    assert storm.most_flagged >= 7 and storm.total == len(boards())  # flagged out of the fleet
    assert storm.reason.startswith(f"{storm.most_flagged} of {storm.total} sources in the fleet")


def test_history_batches_look_like_a_live_fetch() -> None:
    rows = [
        Reading("b", "t", 20, 2.0, {"room": "r1"}),
        Reading("a", "t", 10, 1.0, {"room": "r1"}),
        Reading("a", "t", 30, 3.0, {"room": "r2"}),
        Reading("c", "t", 40, 4.0),
        Reading("a", "h", 30, 9.0),
    ]
    history = History.from_readings(rows, ["t"], group_by=("room",))
    batch = history.metrics["t"].batch([(15, 25), (26, 40)])
    assert batch.source_ids == ("b", "a", "c")  # first seen in time order, only those with rows
    assert batch.cohorts == ("r1", "r2", "")  # the newest tagged row's cohort
    assert batch.ts_ms.tolist() == [20, 30, 40] and np.array_equal(batch.source, [0, 1, 2])
    assert history.span() == (10, 40)
