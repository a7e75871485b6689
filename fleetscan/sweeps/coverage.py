"""Did a sweep watch the fleet at all? `blind_spot` says why not, in one line, or returns None.

A sweep that compares nothing is not a quiet fleet: a misspelt `--metric` returns no rows, and
`--min-peers 5` in rooms of five boards (four peers each) makes every series
`insufficient_peers`. Both used to exit 0 with nothing printed, forever. A sweep is *blind* when
a metric it was asked for has no rows at all, or when most of its series (`BLIND_SHARE`) could
not be compared; the CLI then exits 3 (UNKNOWN) with this line on stderr. A replay is blind
when more than `BLIND_SHARE` of its sweeps were (`ReplayCoverage`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from fleetscan.fleet.status import Status
from fleetscan.fleet.sweep import FleetResult
from fleetscan.sweeps.step import LifecycleStep, StepOptions

BLIND_SHARE = 0.5  # more than this share of series not compared: the sweep watched nothing
NOT_COMPARED = (Status.INSUFFICIENT_PEERS, Status.NO_DATA)


def blind_spot(
    results: Sequence[FleetResult],
    metrics: Sequence[str],
    *,
    min_peers: int,
    group_by: Sequence[str],
) -> str | None:
    """Why this sweep watched (most of) nothing, with what to change; None when it watched.

    >>> print(blind_spot([], ["temprature"], min_peers=3, group_by=()))
    no rows at all for --metric temprature: check its spelling (temperature, humidity, pressure) and that the fleet reported in the window
    """
    seen = {r.metric for r in results}
    empty = [m for m in metrics if m not in seen]
    if empty:
        return (
            f"no rows at all for --metric {', '.join(empty)}: check its spelling "
            "(temperature, humidity, pressure) and that the fleet reported in the window"
        )
    if not results:
        return None
    counts = Counter(r.status for r in results)
    blind = sum(counts[s] for s in NOT_COMPARED)
    if blind <= BLIND_SHARE * len(results):
        return None
    parts = [f"{counts[s]} {s.value}" for s in NOT_COMPARED if counts[s]]
    head = f"{blind} of {len(results)} series could not be compared ({', '.join(parts)})"
    if counts[Status.INSUFFICIENT_PEERS] >= counts[Status.NO_DATA]:
        sizes = Counter(r.cohort for r in results if r.metric == results[0].metric)
        smallest = min(sizes.values())
        by = f"--group-by {' '.join(group_by)}" if group_by else "the fleet"
        return (
            f"{head}: cohorts from {by} have as few as {smallest} boards, so at most "
            f"{smallest - 1} peers, and --min-peers is {min_peers}; lower --min-peers or "
            "group more coarsely"
        )
    return f"{head}: widen --window or check that the boards are reporting"


def sweep_blind_spot(
    outcome: LifecycleStep, metrics: Sequence[str], options: StepOptions
) -> str | None:
    """`blind_spot` of one swept outcome, with the options it was swept with."""
    return blind_spot(
        [v.result for v in outcome.verdicts],
        metrics,
        min_peers=options.sweep.min_peers,
        group_by=options.sweep.group_by,
    )


@dataclass
class ReplayCoverage:
    """Blind sweeps across a replay: feed it each sweep's `blind_spot`, then ask `blind_spot()`.

    >>> coverage = ReplayCoverage()
    >>> for why in (None, "no rows at all for --metric x", "no rows at all for --metric x"):
    ...     coverage.add(why)
    >>> print(coverage.blind_spot())
    2 of 3 replayed sweeps could not watch the fleet, the first because: no rows at all for --metric x
    """

    sweeps: int = 0
    blind: int = 0
    first_why: str | None = None

    def add(self, why: str | None) -> None:
        self.sweeps += 1
        if why is not None:
            self.blind += 1
            self.first_why = self.first_why or why

    def blind_spot(self) -> str | None:
        """Why the replay as a whole watched (most of) nothing; None when it watched."""
        if self.first_why is None or self.blind <= BLIND_SHARE * self.sweeps:
            return None
        return (
            f"{self.blind} of {self.sweeps} replayed sweeps could not watch the fleet, the first "
            f"because: {self.first_why}"
        )
