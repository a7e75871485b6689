"""One finding per board when all its sensors are bad together.

A BME280 that is missing makes the C SDK example send simulated values for temperature,
humidity and pressure at once; a board that lost power is stale on every metric. Three alerts
for one board hide that it is one fault. `board_findings(outcome)` names each board all of whose
swept metrics are flagged in this sweep, in one line:

    esp32-bme280-34: all 3 sensors invalid (values look simulated: …): one board fault, not 3
    esp32-bme280-21: all 3 sensors stale (no reading for 33m …): the board is offline, not 3 sensors

The per-series verdicts, alerts and events are unchanged (Plexus monitors are per series).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from fleetscan.fleet.status import Status
from fleetscan.sweeps.step import LifecycleStep, SeriesVerdict


@dataclass(frozen=True)
class BoardFinding:
    """A board whose every swept metric is flagged in one sweep."""

    source_id: str
    verdicts: tuple[SeriesVerdict, ...]

    @property
    def opened_now(self) -> bool:
        """Whether an alert of this board opened in this sweep (cron prints only then)."""
        return any(v.event is not None and v.event.kind == "opened" for v in self.verdicts)

    @property
    def line(self) -> str:
        n = len(self.verdicts)
        statuses = {v.result.status for v in self.verdicts}
        if len(statuses) == 1:
            status = next(iter(statuses))
            reason = self.verdicts[0].result.reason
            if status is Status.STALE:
                tail = f"the board is offline, not {n} sensors"
            else:
                tail = f"one board fault, not {n}"
            return f"{self.source_id}: all {n} sensors {status} ({reason}): {tail}"
        parts = ", ".join(f"{v.result.metric} {v.result.status}" for v in self.verdicts)
        return f"{self.source_id}: all {n} sensors bad together ({parts}): look at the board"


def board_findings(outcome: LifecycleStep) -> list[BoardFinding]:
    """Boards with two or more metrics swept, every one of them flagged, in source order."""
    metrics = {v.result.metric for v in outcome.verdicts}
    if len(metrics) < 2:
        return []
    by_board: dict[str, list[SeriesVerdict]] = defaultdict(list)
    for v in outcome.verdicts:
        by_board[v.result.source_id].append(v)
    found = []
    for source, verdicts in sorted(by_board.items()):
        seen = {v.result.metric for v in verdicts}
        if seen == metrics and all(v.flagged for v in verdicts):
            ordered = tuple(sorted(verdicts, key=lambda v: v.result.metric))
            found.append(BoardFinding(source, ordered))
    return found
