"""Silences: a board (or one of its metrics) under maintenance is scored and shown, never paged.

A `Silence` covers a source, one metric of it or all of them (`metric=None`), from `start_ms`
until `until_ms` (None: a standing exclusion, from the config file). Silences added with
`fleetscan silence add` live in the sweep state (`fleetscan.silence_store`); expiry is
automatic: a silence counts only while `start_ms <= now < until_ms`, where `now` is the sweep's
own time (`--at` included), and ones that ended before the last sweep are pruned when the next
silence is added.

`apply_silences(outcome, silences)` runs after the sweep step (pure): a silenced series keeps its
scorer's verdict (status, z, reason, all shown), but its lifecycle is reset to idle, so nothing
opens, `fleet_z` is 0 and `fleet_status` is -4 (silenced). An alert that was open when the
silence began resolves in that sweep, with the silence as its reason. When the silence ends the
series starts afresh and needs `--consecutive` flagged sweeps to alert, with its own event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from fleetscan.errors import InputError
from fleetscan.lifecycle import SeriesState, Transition
from fleetscan.sweeps.step import LifecycleStep, SeriesVerdict
from fleetscan.timeutil import human_duration, iso_z

SILENCED = "silenced"  # the verdict's `held` for a silenced series


@dataclass(frozen=True, kw_only=True)
class Silence:
    """One silence; `id` is 0 for standing exclusions from the config file."""

    source_id: str | None  # None: every board of `cohort`
    metric: str | None
    start_ms: int
    until_ms: int | None
    reason: str
    cohort: str | None = None  # a cohort label (config file `[cohorts."…"]`)
    id: int = 0

    def __post_init__(self) -> None:
        if not self.source_id and self.cohort is None:
            raise InputError("a silence needs a source (or, in the config file, a cohort)")
        if self.until_ms is not None and self.until_ms <= self.start_ms:
            raise InputError("a silence must end after it starts (--for must be > 0)")

    def active(self, now_ms: int) -> bool:
        """Whether it silences sweeps at `now_ms`.

        >>> s = Silence(source_id="b1", metric=None, start_ms=10, until_ms=20, reason="")
        >>> s.active(9), s.active(10), s.active(19), s.active(20)
        (False, True, True, False)
        """
        return self.start_ms <= now_ms and (self.until_ms is None or now_ms < self.until_ms)

    def covers(self, source_id: str, metric: str, cohort: str = "") -> bool:
        if self.metric is not None and self.metric != metric:
            return False
        if self.source_id is not None:
            return source_id == self.source_id
        return cohort == self.cohort

    @property
    def what(self) -> str:
        who = self.source_id if self.source_id is not None else f"cohort {self.cohort}"
        return f"{who} {self.metric or '(all metrics)'}"

    def describe(self, now_ms: int) -> str:
        """`until 2026-…Z (3h 20m left): reason`."""
        if self.until_ms is None:
            return f"standing (config file): {self.reason}"
        left = self.until_ms - now_ms
        if now_ms < self.start_ms:
            when = f"from {iso_z(self.start_ms)} until {iso_z(self.until_ms)}"
        elif left > 0:
            when = f"until {iso_z(self.until_ms)} ({human_duration(left)} left)"
        else:
            when = f"expired {iso_z(self.until_ms)}"
        return f"{when}: {self.reason}" if self.reason else when


def apply_silences(outcome: LifecycleStep, silences: Sequence[Silence]) -> LifecycleStep:
    """The outcome with every series an active silence covers reset to idle (see the module)."""
    now = outcome.now_ms
    active = [s for s in silences if s.active(now)]
    if not active:
        return outcome
    series = dict(outcome.state.series)
    verdicts = []
    for v in outcome.verdicts:
        r = v.result
        silence = next((s for s in active if s.covers(r.source_id, r.metric, r.cohort)), None)
        if silence is None:
            verdicts.append(v)
            continue
        series.pop((r.source_id, r.metric), None)
        event = _quiet_resolution(v, now)
        why = f"silenced {silence.describe(now)}"
        verdicts.append(
            replace(
                v,
                result=r.with_reason(f"{why}; {r.reason}"),
                state=SeriesState(),
                event=event,
                held=SILENCED,
                storm=None,
            )
        )
    state = replace(outcome.state, series=series)
    return replace(outcome, verdicts=tuple(verdicts), state=state)


def _quiet_resolution(v: SeriesVerdict, now_ms: int) -> Transition | None:
    """An alert open before this sweep resolves now; one that would open now never does."""
    if v.event is not None and v.event.kind == "resolved":
        return v.event
    was_open = v.state.alerting and not (v.event is not None and v.event.kind == "opened")
    if was_open and v.state.opened_ms is not None:
        return Transition("resolved", now_ms, v.state.opened_ms)
    return None
