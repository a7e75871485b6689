"""Alert lifecycle across sweeps: open after N anomalous sweeps, recover with hysteresis, no flapping.

Per (source, metric), one small state moves like this (times are the sweeps' own `now_ms`):

    ok ──anomalous──▶ pending (streak < consecutive) ──streak reaches consecutive──▶ ALERTING
    ALERTING ──normal──▶ recovering ──normal for `recovery_ms`──▶ resolved → cooldown ──▶ ok
    recovering ──anomalous──▶ ALERTING (same alert, no new open)
    cooldown: anomalies build a streak but cannot open a new alert until `cooldown_ms` has passed

This mirrors Plexus's own alert engine (open at once, close after 30 s of recovery, 60 s cooldown,
plexus-api.md §3.3), lifted to sweep cadence. `storms()` turns "a large share of a cohort flagged at
once" into one fleet-level finding; the caller then holds those sources' streaks instead of opening
N alerts for one building-wide event or one gateway outage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

MINUTE_MS = 60_000


@dataclass(frozen=True)
class LifecycleOptions:
    consecutive: int = 3
    recovery_ms: int = 15 * MINUTE_MS
    cooldown_ms: int = 30 * MINUTE_MS
    storm_fraction: float = 0.5  # share of a cohort flagged at once that makes a storm...
    storm_min_sources: int = 5  # ...when at least this many sources flag


@dataclass(frozen=True)
class SeriesState:
    """What one (source, metric) carries from sweep to sweep."""

    streak: int = 0
    alerting: bool = False
    opened_ms: int | None = None
    recovering_since_ms: int | None = None
    cooldown_until_ms: int | None = None
    last_seen_ms: int | None = None

    def to_dict(self) -> dict[str, int | bool | None]:
        return {
            "streak": self.streak,
            "alerting": self.alerting,
            "opened_ms": self.opened_ms,
            "recovering_since_ms": self.recovering_since_ms,
            "cooldown_until_ms": self.cooldown_until_ms,
            "last_seen_ms": self.last_seen_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SeriesState:
        def opt_int(key: str) -> int | None:
            value = data.get(key)
            return int(value) if isinstance(value, int | float) else None

        streak = data.get("streak", 0)
        return cls(
            streak=int(streak) if isinstance(streak, int | float) else 0,
            alerting=bool(data.get("alerting", False)),
            opened_ms=opt_int("opened_ms"),
            recovering_since_ms=opt_int("recovering_since_ms"),
            cooldown_until_ms=opt_int("cooldown_until_ms"),
            last_seen_ms=opt_int("last_seen_ms"),
        )


@dataclass(frozen=True)
class Transition:
    """`opened` or `resolved`, with when and after how long."""

    kind: str
    at_ms: int
    opened_ms: int


def step(
    state: SeriesState, anomalous: bool, now_ms: int, options: LifecycleOptions
) -> tuple[SeriesState, Transition | None]:
    """Advance one series by one sweep.

    >>> opts = LifecycleOptions(consecutive=2, recovery_ms=10, cooldown_ms=100)
    >>> s, t = step(SeriesState(), True, 0, opts); s.streak, s.alerting, t
    (1, False, None)
    >>> s, t = step(s, True, 5, opts); s.alerting, t.kind
    (True, 'opened')
    >>> s, t = step(s, False, 6, opts); s.alerting, t
    (True, None)
    >>> s, t = step(s, False, 16, opts); s.alerting, t.kind, s.cooldown_until_ms
    (False, 'resolved', 116)
    """
    streak = state.streak + 1 if anomalous else 0
    if state.alerting:
        if anomalous:
            return replace(state, streak=streak, recovering_since_ms=None), None
        since = state.recovering_since_ms if state.recovering_since_ms is not None else now_ms
        if now_ms - since >= options.recovery_ms:
            opened = state.opened_ms if state.opened_ms is not None else now_ms
            resolved = SeriesState(
                streak=0,
                cooldown_until_ms=now_ms + options.cooldown_ms,
                last_seen_ms=state.last_seen_ms,
            )
            return resolved, Transition("resolved", now_ms, opened)
        return replace(state, streak=0, recovering_since_ms=since), None
    cooling = state.cooldown_until_ms is not None and now_ms < state.cooldown_until_ms
    if streak >= options.consecutive and not cooling:
        opening = SeriesState(
            streak=streak, alerting=True, opened_ms=now_ms, last_seen_ms=state.last_seen_ms
        )
        return opening, Transition("opened", now_ms, now_ms)
    return replace(state, streak=streak), None


@dataclass(frozen=True)
class Storm:
    """Many sources of one cohort flagged in the same sweep: one finding instead of N alerts."""

    cohort: str
    metric: str
    flagged: int
    total: int

    @property
    def reason(self) -> str:
        where = "the fleet" if self.cohort == "" else f"cohort {self.cohort}"
        return (
            f"{self.flagged} of {self.total} sources in {where} flagged {self.metric} at once: "
            f"a building-wide event or a gateway outage, not {self.flagged} sensor faults"
        )


def storms(flags: Sequence[tuple[str, str, bool]], options: LifecycleOptions) -> list[Storm]:
    """Find storms among (cohort, metric, flagged) triples, one per series of this sweep.

    >>> storms([("", "t", True)] * 6 + [("", "t", False)] * 4, LifecycleOptions())
    [Storm(cohort='', metric='t', flagged=6, total=10)]
    """
    counts: dict[tuple[str, str], list[int]] = {}
    for cohort, metric, flagged in flags:
        entry = counts.setdefault((cohort, metric), [0, 0])
        entry[0] += int(flagged)
        entry[1] += 1
    found = []
    for (cohort, metric), (n_flagged, total) in sorted(counts.items()):
        if n_flagged >= options.storm_min_sources and n_flagged >= options.storm_fraction * total:
            found.append(Storm(cohort, metric, n_flagged, total))
    return found
