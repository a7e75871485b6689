"""Alert lifecycle across sweeps: open after N flagged sweeps, recover with hysteresis, no flapping.

Per (source, metric), one small state moves like this (times are the sweeps' own `now_ms`):

    idle ──flagged──▶ pending (streak < consecutive) ──streak reaches consecutive──▶ OPEN
    OPEN ──normal──▶ recovering ──normal for `recovery_ms`──▶ resolved, cooldown ──▶ idle
    recovering ──flagged──▶ OPEN (the same alert, no new open)
    cooldown: flags build a streak but cannot open a new alert until `cooldown_ms` has passed

While an alert is open (recovering included) the series carries a score: the latest flagged
sweep's, so `<metric>.fleet_z` stays above the Plexus monitor until the alert resolves here, and
houston (which opens on the first point above `max` and closes after 30 s of points below it,
docs/plexus-contract.md §3.3) opens once and resolves once per alert. `SeriesState.fleet_z` is that value.

A sweep that cannot judge a series (an outage, no data, too few peers) does not call `step`: the
state is held as it is, so a silence neither opens nor resolves an alert. Too few peers still
means fresh, valid readings arrived: where the series' flags were for staleness or invalid
readings (`SeriesState.cause`), such a sweep is a normal one (fleetscan.sweeps.step).

`storms()` turns "a large share of the fleet or of a cohort flagged at once" (a building-wide
event, a gateway outage) into one finding per metric. The caller does not step those series
either: an open alert is held, and a pending streak starts again, so the storm opens no alert
(fleetscan.sweeps.step).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from fleetscan.timeutil import MINUTE_MS


@dataclass(frozen=True, kw_only=True)
class LifecycleOptions:
    """How many flagged sweeps open an alert, how long recovery and cooldown last, what a storm is.

    `LifecycleOptions.immediate()` is the one-off sweep: the first flag opens, the first normal
    sweep resolves, no cooldown.
    """

    consecutive: int = 3  # flagged sweeps in a row that open an alert
    recovery_ms: int = 15 * MINUTE_MS  # normal for this long before an alert resolves
    cooldown_ms: int = 30 * MINUTE_MS  # no new alert on the series for this long after one
    storm_fraction: float = 0.5  # share of a fleet or cohort flagged at once that is a storm...
    storm_min_sources: int = 5  # ...when at least this many of its sources flag

    def __post_init__(self) -> None:
        if self.consecutive < 1 or self.storm_min_sources < 1:
            raise ValueError("consecutive and storm_min_sources must be >= 1")
        if self.recovery_ms < 0 or self.cooldown_ms < 0:
            raise ValueError("recovery and cooldown must be >= 0")
        if not 0 < self.storm_fraction <= 1:
            raise ValueError(f"storm_fraction must be in (0, 1], got {self.storm_fraction!r}")

    @classmethod
    def immediate(
        cls, *, storm_fraction: float = 0.5, storm_min_sources: int = 5
    ) -> LifecycleOptions:
        """The guard of a one-off sweep: alerting exactly when this sweep flags."""
        return cls(
            consecutive=1,
            recovery_ms=0,
            cooldown_ms=0,
            storm_fraction=storm_fraction,
            storm_min_sources=storm_min_sources,
        )


@dataclass(frozen=True)
class SeriesState:
    """What one (source, metric) carries from sweep to sweep.

    `score` is the fleet_z of the open alert (the latest flagged sweep's score); 0 when idle.
    `returning` is the change a group shared with it, while it is still on its way back from it
    (`sweeps.step`): None when none. `cause` is the status of its latest flagged sweep while a
    streak or an alert is on (`stale`, `drifting`...), else None.
    """

    streak: int = 0
    alerting: bool = False
    opened_ms: int | None = None
    recovering_since_ms: int | None = None
    cooldown_until_ms: int | None = None
    score: float = 0.0
    returning: float | None = None
    cause: str | None = None

    @property
    def fleet_z(self) -> float:
        """What `<metric>.fleet_z` carries: the alert's score while it is open, else 0.0."""
        return self.score if self.alerting else 0.0

    def to_dict(self) -> dict[str, int | float | bool | str | None]:
        return {
            "streak": self.streak,
            "alerting": self.alerting,
            "opened_ms": self.opened_ms,
            "recovering_since_ms": self.recovering_since_ms,
            "cooldown_until_ms": self.cooldown_until_ms,
            "score": self.score,
            "returning": self.returning,
            "cause": self.cause,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SeriesState:
        def opt_int(key: str) -> int | None:
            value = data.get(key)
            return int(value) if isinstance(value, int | float) else None

        streak = data.get("streak", 0)
        score = data.get("score", 0.0)
        back = data.get("returning")
        cause = data.get("cause")  # states written before it have none
        return cls(
            streak=int(streak) if isinstance(streak, int | float) else 0,
            alerting=bool(data.get("alerting", False)),
            opened_ms=opt_int("opened_ms"),
            recovering_since_ms=opt_int("recovering_since_ms"),
            cooldown_until_ms=opt_int("cooldown_until_ms"),
            score=float(score) if isinstance(score, int | float) and math.isfinite(score) else 0.0,
            returning=float(back)
            if isinstance(back, int | float) and math.isfinite(back)
            else None,
            cause=cause if isinstance(cause, str) else None,
        )


@dataclass(frozen=True)
class Transition:
    """`opened` or `resolved`, with when and (for both) when the alert opened."""

    kind: str
    at_ms: int
    opened_ms: int


def step(
    state: SeriesState,
    flagged: bool,
    now_ms: int,
    options: LifecycleOptions,
    *,
    score: float = 0.0,
) -> tuple[SeriesState, Transition | None]:
    """Advance one series by one sweep; `score` is this sweep's fleet_z when it is flagged.

    >>> opts = LifecycleOptions(consecutive=2, recovery_ms=10, cooldown_ms=100)
    >>> s, t = step(SeriesState(), True, 0, opts, score=4.0); s.streak, s.alerting, t
    (1, False, None)
    >>> s, t = step(s, True, 5, opts, score=5.0); s.alerting, s.fleet_z, t.kind
    (True, 5.0, 'opened')
    >>> s, t = step(s, False, 6, opts); s.alerting, s.fleet_z, t
    (True, 5.0, None)
    >>> s, t = step(s, False, 16, opts); s.alerting, s.fleet_z, t.kind, s.cooldown_until_ms
    (False, 0.0, 'resolved', 116)
    """
    streak = state.streak + 1 if flagged else 0
    if state.alerting:
        if flagged:
            return replace(state, streak=streak, recovering_since_ms=None, score=score), None
        since = state.recovering_since_ms if state.recovering_since_ms is not None else now_ms
        if now_ms - since >= options.recovery_ms:
            opened = state.opened_ms if state.opened_ms is not None else now_ms
            cooldown = now_ms + options.cooldown_ms if options.cooldown_ms else None
            resolved = SeriesState(cooldown_until_ms=cooldown)
            return resolved, Transition("resolved", now_ms, opened)
        return replace(state, streak=0, recovering_since_ms=since), None
    cooling = state.cooldown_until_ms is not None and now_ms < state.cooldown_until_ms
    if streak >= options.consecutive and not cooling:
        opening = SeriesState(streak=streak, alerting=True, opened_ms=now_ms, score=score)
        return opening, Transition("opened", now_ms, now_ms)
    cooldown = state.cooldown_until_ms if cooling else None
    if streak == state.streak and cooldown == state.cooldown_until_ms:
        return state, None  # the common case, an idle series staying idle: no new object
    return replace(state, streak=streak, cooldown_until_ms=cooldown), None


@dataclass(frozen=True)
class Storm:
    """Many sources flagged one metric in the same sweep: one finding instead of N alerts.

    `cohort` is the cohort label, or None when the share is of the whole fleet. A cohort event
    (`members` set) is the other kind: boards found to move together (no tags) that left the
    fleet together by `change`, each normal next to the others (`fleetscan.sweeps.step`).
    """

    metric: str
    cohort: str | None
    flagged: int
    total: int
    members: tuple[str, ...] = field(default=(), repr=False)
    change: float = field(default=math.nan, repr=False)
    unit: str = field(default="", repr=False)

    @property
    def kind(self) -> str:
        return "cohort event" if self.members else "storm"

    @property
    def where(self) -> str:
        if self.cohort is None:
            return "the fleet"
        return f"cohort {self.cohort}" if self.cohort else "the untagged sources"

    @property
    def reason(self) -> str:
        if self.members:
            unit = f" {self.unit}" if self.unit else ""
            return (
                f"{len(self.members)} boards that usually move together "
                f"({', '.join(self.members)}) moved {self.change:+.2f}{unit} in {self.metric} "
                f"together: one cohort event (a room or corner changing), not "
                f"{len(self.members)} sensor faults"
            )
        return (
            f"{self.flagged} of {self.total} sources in {self.where} flagged {self.metric} at "
            f"once: a building-wide event or a gateway outage, not {self.flagged} sensor faults"
        )

    def covers(self, metric: str, cohort: str) -> bool:
        """Whether a series of `metric` in `cohort` belongs to this storm."""
        return metric == self.metric and (self.cohort is None or self.cohort == cohort)


def storms(flags: Iterable[tuple[str, str, bool]], options: LifecycleOptions) -> list[Storm]:
    """Storms among (cohort, metric, flagged) triples, one triple per series of this sweep.

    Per metric the whole fleet is checked first; when it is not in a storm, each cohort is (a
    fleet of one cohort is only checked once). A storm needs `storm_min_sources` flagged series
    that are at least `storm_fraction` of the fleet or cohort.

    >>> storms([("", "t", True)] * 6 + [("", "t", False)] * 4, LifecycleOptions())
    [Storm(metric='t', cohort=None, flagged=6, total=10)]
    """
    counts: dict[str, dict[str, list[int]]] = {}
    for cohort, metric, flagged in flags:
        entry = counts.setdefault(metric, {}).setdefault(cohort, [0, 0])
        entry[0] += int(flagged)
        entry[1] += 1

    def stormy(n_flagged: int, total: int) -> bool:
        return (
            n_flagged >= options.storm_min_sources and n_flagged >= options.storm_fraction * total
        )

    found = []
    for metric, by_cohort in sorted(counts.items()):
        n_flagged = sum(c[0] for c in by_cohort.values())
        total = sum(c[1] for c in by_cohort.values())
        if stormy(n_flagged, total):
            found.append(Storm(metric, None, n_flagged, total))
        elif len(by_cohort) > 1:
            for cohort, (in_cohort, size) in sorted(by_cohort.items()):
                if stormy(in_cohort, size):
                    found.append(Storm(metric, cohort, in_cohort, size))
    return found
