"""Plexus threshold monitors, the tutorial's curl as a library: build, create, list, delete.

Plexus upserts a threshold monitor by (source, metric) (docs/plexus-contract.md §2.3), so creating the same
monitor twice is harmless; the source must have sent data at least once or Plexus answers 404.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fleetscan.client import PlexusClient
from fleetscan.errors import InputError, NotFoundError

SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Threshold:
    """A threshold rule: fires when the metric goes strictly above `max` or below `min`."""

    max: float | None = None
    min: float | None = None
    severity: str = "warning"
    message: str | None = None

    def __post_init__(self) -> None:
        if self.max is None and self.min is None:
            raise InputError(
                "a monitor needs --max or --min (Plexus accepts neither, but never fires)"
            )
        if self.severity not in SEVERITIES:
            raise InputError(f"severity must be one of {', '.join(SEVERITIES)}")

    def body(self, source_id: str, metric: str) -> dict[str, Any]:
        """The POST /api/monitors body."""
        threshold: dict[str, Any] = {"severity": self.severity}
        if self.max is not None:
            threshold["max"] = self.max
        if self.min is not None:
            threshold["min"] = self.min
        if self.message:
            threshold["message"] = self.message
        return {"source_id": source_id, "metric": metric, "threshold": threshold}


@dataclass(frozen=True)
class Outcome:
    source_id: str
    metric: str
    ok: bool
    detail: str = ""


def create_all(
    client: PlexusClient, sources: Iterable[str], metric: str, threshold: Threshold
) -> list[Outcome]:
    """Create (upsert) one monitor per source; a source Plexus has never seen is reported, not fatal."""
    outcomes = []
    for source in sources:
        try:
            client.create_monitor(threshold.body(source, metric))
        except NotFoundError as exc:
            outcomes.append(Outcome(source, metric, False, str(exc)))
        else:
            outcomes.append(Outcome(source, metric, True))
    return outcomes


def delete_all(client: PlexusClient, sources: Iterable[str], metric: str) -> list[Outcome]:
    outcomes = []
    for source in sources:
        try:
            client.delete_monitor(source_id=source, metric=metric)
        except NotFoundError as exc:
            outcomes.append(Outcome(source, metric, False, str(exc)))
        else:
            outcomes.append(Outcome(source, metric, True))
    return outcomes


def fleet_sources(client: PlexusClient, metric: str, *, from_ms: int, to_ms: int) -> list[str]:
    """Every source that reported `metric` in the window (no source filter), sorted."""
    parsed = client.fetch(metrics=[metric], from_ms=from_ms, to_ms=to_ms)
    return sorted({r.source_id for r in parsed.readings})
