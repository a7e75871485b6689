"""Per-board and per-cohort thresholds from the config file, applied after the sweep step.

`[boards."esp32-bme280-07"] threshold = 5.0` (a board known to sit in a draught) or
`[cohorts."lab-1b"] threshold = 4.0`: for the series of that board or cohort, `|z|` is judged
against that threshold instead of `--threshold`. Only the z-based verdicts move (`ok`,
`anomalous`, `drifting`); stuck, stale, noisy and invalid boards are what they are whatever the
threshold. A verdict that changes is stepped through the alert lifecycle again from the state
before the sweep (`lifecycle.step`, exactly what the sweep step would have done with it), so the
guard, recovery and cooldown apply as usual. Pure: no clock, disk or network. The live sweep
and the replay both call it, so a replay still equals the live sweeps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from fleetscan.fleet.status import Status
from fleetscan.lifecycle import SeriesState, step
from fleetscan.silences import Silence, apply_silences
from fleetscan.sweeps.step import LifecycleStep, SeriesVerdict, StepOptions, SweepState

Z_STATUSES = frozenset({Status.OK, Status.ANOMALOUS, Status.DRIFTING})


@dataclass(frozen=True)
class Thresholds:
    """Thresholds by board id and by cohort label (a board's own wins)."""

    boards: Mapping[str, float] = field(default_factory=dict)
    cohorts: Mapping[str, float] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.boards or self.cohorts)

    def for_series(self, source_id: str, cohort: str) -> float | None:
        found = self.boards.get(source_id)
        return found if found is not None else self.cohorts.get(cohort)


def apply_thresholds(
    previous: SweepState, outcome: LifecycleStep, options: StepOptions, thresholds: Thresholds
) -> LifecycleStep:
    """The outcome with each overridden series judged against its own threshold."""
    if not thresholds:
        return outcome
    series = dict(outcome.state.series)
    verdicts = []
    for v in outcome.verdicts:
        changed = _rejudge(v, previous, outcome.now_ms, options, thresholds)
        if changed is not None:
            key = (v.result.source_id, v.result.metric)
            if changed.state == SeriesState():
                series.pop(key, None)
            else:
                series[key] = changed.state
            v = changed
        verdicts.append(v)
    return replace(outcome, verdicts=tuple(verdicts), state=replace(outcome.state, series=series))


def _rejudge(
    v: SeriesVerdict,
    previous: SweepState,
    now_ms: int,
    options: StepOptions,
    thresholds: Thresholds,
) -> SeriesVerdict | None:
    r = v.result
    limit = thresholds.for_series(r.source_id, r.cohort)
    if limit is None or v.held or r.status not in Z_STATUSES or not math.isfinite(r.z):
        return None
    flagged = abs(r.z) > limit
    if flagged == r.flagged:
        return None
    if flagged:
        status = Status.DRIFTING if math.isfinite(r.baseline_offset) else Status.ANOMALOUS
        reason = f"z={r.z:+.1f} is beyond this board's threshold {limit:g} (config); {r.reason}"
    else:
        status = Status.OK
        reason = f"|z| {abs(r.z):.1f} is within this board's threshold {limit:g} (config)"
    score = abs(r.z) if flagged else 0.0
    result = replace(r, status=status, score=score).with_reason(reason)
    before = previous.series.get((r.source_id, r.metric), SeriesState())
    state, event = step(before, flagged, now_ms, options.lifecycle, score=score)
    return replace(v, result=result, state=state, event=event)


@dataclass(frozen=True)
class Adjustments:
    """What the config file changes after every sweep step: thresholds, then standing
    silences (the state's own silences are added by the live sweep)."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    silences: tuple[Silence, ...] = ()

    def apply(
        self,
        previous: SweepState,
        outcome: LifecycleStep,
        options: StepOptions,
        stored: Sequence[Silence] = (),
    ) -> LifecycleStep:
        adjusted = apply_thresholds(previous, outcome, options, self.thresholds)
        return apply_silences(adjusted, [*self.silences, *stored])


NO_ADJUSTMENTS = Adjustments()
