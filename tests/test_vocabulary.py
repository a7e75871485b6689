"""One vocabulary for a sweep: the scorer says what this sweep flagged, only the lifecycle says
what is alerting, and every human line renders the lifecycle's verdict."""

from __future__ import annotations

from test_fleet_core import NOW, healthy, make_batch

from fleetscan.fleet import SeriesBatch
from fleetscan.lifecycle import LifecycleOptions
from fleetscan.sweeps import render
from fleetscan.sweeps.step import StepOptions, SweepState, step_lifecycle

CRON = StepOptions(lifecycle=LifecycleOptions(consecutive=3), use_baseline=False)


def _window() -> dict[str, SeriesBatch]:
    series = healthy(8)
    series["b05"] = series["b05"] + 3.0  # far off its peers: flagged by the scorer
    return {"temperature": make_batch(series)}


def test_the_scorer_flags_and_the_lifecycle_decides_what_alerts() -> None:
    outcome = step_lifecycle(SweepState(), _window(), NOW, CRON)
    bad = next(v for v in outcome.verdicts if v.result.source_id == "b05")
    assert bad.result.flagged and bad.result.score > 3.0  # this sweep alone
    assert bad.flagged and not bad.alerting and bad.fleet_z == 0.0  # 1 of 3 flagged sweeps
    scorer = bad.result.to_record()
    assert scorer["flagged"] is True and "alerting" not in scorer and "score" not in scorer
    record = bad.to_record()
    assert (record["flagged"], record["alerting"], record["score"], record["streak"]) == (
        True,
        False,
        0.0,
        1,
    )
    # not yet alerting: the table ranks it with the rest, and nothing is posted for it but 0
    assert render.summary(outcome.verdicts).endswith("; 0 alerting")
    posted = {p.source_id: p.value for p in outcome.emissions() if p.metric.endswith(".fleet_z")}
    assert posted["b05"] == 0.0


def test_an_open_alert_is_rendered_and_posted_with_the_lifecycles_score() -> None:
    one_off = StepOptions(lifecycle=LifecycleOptions.immediate(), use_baseline=False)
    outcome = step_lifecycle(SweepState(), _window(), NOW, one_off)
    bad = next(v for v in outcome.verdicts if v.result.source_id == "b05")
    assert bad.alerting and bad.fleet_z == bad.result.score
    assert render.table(outcome.verdicts).splitlines()[1].startswith("b05")  # alerting first
    assert render.summary(outcome.verdicts).endswith("; 1 alerting")
    posted = {p.source_id: p.value for p in outcome.emissions() if p.metric.endswith(".fleet_z")}
    assert posted["b05"] == bad.fleet_z and bad.to_record()["score"] == bad.fleet_z
