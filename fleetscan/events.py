"""The reason travels with the alert: Plexus events and `<metric>.fleet_status` codes.

A Plexus threshold monitor only sees a number, so without help a Slack message says
"temperature.fleet_z 8 above maximum 3" whether the board is stuck, stale or missing its sensor.
Each sweep therefore also posts:

- one **event** per alert that opened or resolved in it: `class: event`, name `fleetscan.alert`,
  on that board's source (docs/plexus-contract.md §4.1-4.2, the shape plexus-python's `Plexus.event` builds),
  whose value carries the status, the reason in words, z, fleet_z, peers and the alert id. Plexus
  stores it in its events table next to the board's telemetry, and webhook receivers read it there.
  Events go out *before* the sweep's metric points, so the event is already stored when the
  `fleet_z` point opens the Plexus alert.
- one **`<metric>.fleet_status`** point per series and sweep: a number saying what kind of alert is
  open, so Plexus dashboards and monitors can tell stuck from drift (`STATUS_CODES`, below).

| code | meaning                                                                |
|------|------------------------------------------------------------------------|
| 0    | no alert open (ok, or flagged but not yet for `--consecutive` sweeps)  |
| 1    | alert open: anomalous (far from its peers; no baseline yet)            |
| 2    | alert open: drifting (its gap to its peers moved from its usual gap)   |
| 3    | alert open: stuck                                                      |
| 4    | alert open: noisy                                                      |
| 5    | alert open: invalid (impossible or simulated values: BME280 missing?)  |
| 6    | alert open: stale (silent)                                             |
| 7    | alert open, this sweep normal or not judged: recovering or held        |
| 8    | alert open: sensor missing (the firmware reports `sensor.ok = 0`)      |
| -1   | not judged: outage (silent with most of its cohort)                    |
| -2   | not judged: no data in the window                                      |
| -3   | not judged: too few peers                                              |
| -4   | silenced: scored and shown, never alerting                             |

So a monitor `max: 0.5` on `<metric>.fleet_status` fires for every open alert, `min: 2.5, max: 3.5`
only for stuck boards, and `max: -0.5` (with no `min`) never fires on a healthy fleet.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fleetscan.fleet.status import Status
from fleetscan.fleet.sweep import FleetResult
from fleetscan.points import Point
from fleetscan.timeutil import human_duration, iso_z

if TYPE_CHECKING:  # the sweep step imports this module for its emissions
    from fleetscan.sweeps.step import SeriesVerdict

EVENT_NAME = "fleetscan.alert"
STATUS_SUFFIX = ".fleet_status"
# The gateway's limit on an event value's JSON (docs/plexus-contract.md §4.2).
MAX_EVENT_BYTES = 4096

OPEN_NOT_FLAGGED = 7
SENSOR_MISSING = 8
SILENCED = -4
STATUS_CODES: Mapping[Status, int] = {
    Status.OK: 0,
    Status.ANOMALOUS: 1,
    Status.DRIFTING: 2,
    Status.STUCK: 3,
    Status.NOISY: 4,
    Status.INVALID: 5,
    Status.STALE: 6,
    Status.OUTAGE: -1,
    Status.NO_DATA: -2,
    Status.INSUFFICIENT_PEERS: -3,
}


def status_code(
    status: Status, *, alerting: bool, silenced: bool = False, sensor_missing: bool = False
) -> int:
    """The `<metric>.fleet_status` value for one series after one sweep.

    >>> status_code(Status.STUCK, alerting=True), status_code(Status.STUCK, alerting=False)
    (3, 0)
    >>> status_code(Status.OK, alerting=True), status_code(Status.OUTAGE, alerting=False)
    (7, -1)
    """
    if silenced:
        return SILENCED
    if alerting and sensor_missing and status.flagged:
        return SENSOR_MISSING
    if alerting:
        return STATUS_CODES[status] if status.flagged else OPEN_NOT_FLAGGED
    return STATUS_CODES[status] if STATUS_CODES[status] < 0 else 0


def alert_id(source_id: str, metric: str, opened_ms: int) -> str:
    """A stable id for one alert: the same on its open and its resolve event, in every run.

    >>> alert_id("esp32-07", "temperature", 0) == alert_id("esp32-07", "temperature", 0)
    True
    >>> alert_id("esp32-07", "temperature", 0)[:3]
    'fs-'
    """
    digest = hashlib.sha256(f"{source_id}\0{metric}\0{opened_ms}".encode()).hexdigest()
    return "fs-" + digest[:16]


@dataclass(frozen=True, kw_only=True)
class AlertEvent:
    """An alert that opened or resolved, with everything a person needs to act on it."""

    source_id: str
    metric: str
    kind: str  # "opened" or "resolved"
    status: Status  # the scorer's verdict in the sweep of the event
    reason: str
    z: float
    fleet_z: float
    peers: int
    value: float
    peer_median: float
    severity: str  # "warning" or "critical" when opened; "ok" when resolved
    opened_ms: int
    at_ms: int

    @property
    def alert_id(self) -> str:
        return alert_id(self.source_id, self.metric, self.opened_ms)

    @property
    def headline(self) -> str:
        """One line a pager or chat message leads with."""
        if self.kind == "opened":
            return f"{self.source_id} {self.metric} {self.status}: {self.reason}"
        after = human_duration(self.at_ms - self.opened_ms)
        return f"{self.source_id} {self.metric} resolved after {after}: {self.reason}"

    def body(self) -> dict[str, Any]:
        """The event's value: a flat JSON object (NaN becomes null), at most 4 KiB."""
        body: dict[str, Any] = {
            "alert_id": self.alert_id,
            "event": self.kind,
            "metric": self.metric,
            "status": self.status.value,
            "code": STATUS_CODES[self.status],
            "severity": self.severity,
            "reason": self.reason,
            "z": _finite(self.z),
            "fleet_z": _finite(self.fleet_z),
            "peers": self.peers,
            "value": _finite(self.value),
            "peer_median": _finite(self.peer_median),
            "opened_at": iso_z(self.opened_ms),
            "resolved_at": iso_z(self.at_ms) if self.kind == "resolved" else None,
            "message": self.headline,
        }
        # Within the gateway's limit whatever the text, measured as plexus-python sends it
        # (`json.dumps`: ASCII escapes, spaces): cut the longer text, ending it with "…".
        while (excess := len(json.dumps(body)) - MAX_EVENT_BYTES) > 0:
            key = max(("message", "reason"), key=lambda k: len(body[k]))
            if len(body[key]) <= 1:
                break
            body[key] = body[key][: max(0, len(body[key]) - excess - 6)] + "…"
        return body

    def wire(self) -> dict[str, Any]:
        """The `/ingest` point: what `Plexus.event(EVENT_NAME, body, tags=…)` builds, plus the
        per-point `source_id` (one request carries many boards)."""
        return {
            "source_id": self.source_id,
            "class": "event",
            "metric": EVENT_NAME,
            "value": self.body(),
            "timestamp": self.at_ms,
            "tags": {"metric": self.metric, "event": self.kind, "status": self.status.value},
        }


def alert_events(verdicts: Iterable[SeriesVerdict]) -> list[AlertEvent]:
    """One `AlertEvent` per verdict whose lifecycle opened or resolved an alert in this sweep."""
    out = []
    for v in verdicts:
        transition = v.event
        if transition is None:
            continue
        r = v.result
        opened = transition.kind == "opened"
        out.append(
            _event(
                r,
                kind=transition.kind,
                fleet_z=v.fleet_z if opened else 0.0,
                severity=v.severity.name.lower() if opened else "ok",
                opened_ms=transition.opened_ms,
                at_ms=transition.at_ms,
            )
        )
    return out


def _event(
    r: FleetResult, *, kind: str, fleet_z: float, severity: str, opened_ms: int, at_ms: int
) -> AlertEvent:
    """The event of `r`'s alert: what the scorer said of the series, and the alert's own facts."""
    return AlertEvent(
        source_id=r.source_id,
        metric=r.metric,
        kind=kind,
        status=r.status,
        reason=r.reason,
        z=r.z,
        fleet_z=fleet_z,
        peers=r.peers,
        value=r.value,
        peer_median=r.fleet_median,
        severity=severity,
        opened_ms=opened_ms,
        at_ms=at_ms,
    )


def status_points(verdicts: Iterable[SeriesVerdict]) -> list[Point]:
    """`<metric>.fleet_status` per verdict, at the sweep's time, tagged with the status."""
    points = []
    for v in verdicts:
        r = v.result
        code = status_code(
            r.status,
            alerting=v.alerting,
            silenced=v.held == "silenced",
            sensor_missing=r.reason.startswith("sensor missing:"),
        )
        tags = {"status": r.status.value}
        points.append(Point(r.source_id, r.metric + STATUS_SUFFIX, float(code), r.at_ms, tags))
    return points


def slack_text(data: Mapping[str, Any], context: Mapping[str, Any] | None) -> str:
    """What a Slack message built from a Plexus `alert.triggered`/`alert.resolved` webhook and the
    board's latest `fleetscan.alert` event would say (the demo prints it).

    >>> slack_text({"status": "open", "severity": "warning", "sourceSlug": "b7",
    ...             "metric": "temperature.fleet_z", "value": 8.0, "threshold": 3, "message": "m"},
    ...            {"metric": "temperature", "status": "stuck", "reason": "flat at 22.47 °C",
    ...             "alert_id": "fs-1"})
    ':warning: *b7* temperature stuck — flat at 22.47 °C · fleet_z 8 > 3 · alert fs-1'
    """
    resolved = data.get("status") == "resolved"
    icon = ":white_check_mark:" if resolved else f":{data.get('severity')}:"
    head = f"{icon} *{data.get('sourceSlug')}*"
    if context is None:
        return f"{head} {data.get('metric')}: {data.get('message')}"
    value, bound = data.get("value"), data.get("threshold")
    crossed = (
        f" · {str(data.get('metric')).rsplit('.', 1)[-1]} {value:g} > {bound:g}"
        if not resolved and isinstance(value, int | float) and isinstance(bound, int | float)
        else ""
    )
    status = "resolved" if resolved else context.get("status")
    return (
        f"{head} {context.get('metric')} {status} — {context.get('reason')}{crossed} · "
        f"alert {context.get('alert_id')}"
    )


def _finite(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None
