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

SERIES = {
    "fleet_z": "fleetscan's fleet score: the open alert's |z| (or threshold + 1), else 0",
    "fleet_status": "fleetscan's status code of the open alert, 0 when none (see the README)",
    "zscore": "fleetscan device's per-sample score (`fleetscan device`)",
    "raw": "the board's own readings",
}
"""What a monitor can watch for a sensor metric M: `M.<key>`, or M itself for `raw`."""


def watched_series(metric: str, watch: str | None) -> tuple[str, str, str]:
    """(series to monitor, the sensor metric it is about, what it is) for `--metric`/`--watch`.

    A metric that already names a fleetscan series is taken as it is; otherwise `watch`
    (default `fleet_z`) picks the series, the same for one source and for the whole fleet.

    >>> watched_series("temperature", None)[0], watched_series("temperature", "raw")[0]
    ('temperature.fleet_z', 'temperature')
    >>> watched_series("humidity.fleet_status", None)[:2]
    ('humidity.fleet_status', 'humidity')
    """
    for kind in SERIES:
        if kind != "raw" and metric.endswith(f".{kind}"):
            if watch is not None and watch != kind:
                raise InputError(f"--metric {metric} already names a series; drop --watch {watch}")
            return metric, metric.removesuffix(f".{kind}"), SERIES[kind]
    kind = watch or "fleet_z"
    if kind not in SERIES:
        raise InputError(f"--watch must be one of {', '.join(SERIES)}, got {kind!r}")
    series = metric if kind == "raw" else f"{metric}.{kind}"
    return series, metric, SERIES[kind]


@dataclass(frozen=True)
class Threshold:
    """A threshold rule: fires when the metric goes strictly above `max` or below `min`."""

    max: float | None = None
    min: float | None = None
    severity: str = "warning"
    message: str | None = None
    notification_targets: tuple[str, ...] = ()  # target UUIDs; empty: the org's default fan-out

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
        body: dict[str, Any] = {"source_id": source_id, "metric": metric, "threshold": threshold}
        if self.notification_targets:
            body["notification_targets"] = list(self.notification_targets)
        return body


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
