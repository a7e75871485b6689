"""The firmware's own health metrics: a board that says its sensor is missing is not "stale".

fleetscan's firmware (`firmware/`) never sends simulated values: when its BME280 does not answer
it sends `sensor.ok = 0` (and `node.*` counters) and no readings. To the fleet check that board
then looks stale, which sends someone to look for a dead board or a network fault. Each live
sweep therefore also reads `sensor.ok` over its window, and `apply_health` rewrites the verdicts
of boards whose newest `sensor.ok` in the window is 0: the board is online, its sensor is not.
The status stays what the scorer found (`stale`, `no_data`, `outage`), the reason leads with
"sensor missing", and `<metric>.fleet_status` carries 8 for an open alert of that kind. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from fleetscan.fleet.status import Status
from fleetscan.sweeps.step import LifecycleStep
from fleetscan.telemetry import Reading
from fleetscan.timeutil import iso_z

SENSOR_OK = "sensor.ok"
SENSOR_MISSING = "sensor missing"
SILENT_STATUSES = frozenset({Status.STALE, Status.NO_DATA, Status.OUTAGE})


@dataclass(frozen=True)
class SensorReport:
    """A board's newest `sensor.ok` in the window."""

    ts_ms: int
    ok: bool


def latest_reports(readings: Iterable[Reading]) -> dict[str, SensorReport]:
    """The newest `sensor.ok` per board (non-zero is ok).

    >>> latest_reports([Reading("b1", "sensor.ok", 5, 1.0), Reading("b1", "sensor.ok", 9, 0.0)])
    {'b1': SensorReport(ts_ms=9, ok=False)}
    """
    out: dict[str, SensorReport] = {}
    for r in readings:
        if r.metric != SENSOR_OK:
            continue
        seen = out.get(r.source_id)
        if seen is None or r.ts_ms >= seen.ts_ms:
            out[r.source_id] = SensorReport(r.ts_ms, r.value != 0)
    return out


def apply_health(outcome: LifecycleStep, reports: Mapping[str, SensorReport]) -> LifecycleStep:
    """Verdicts of silent series on boards reporting `sensor.ok = 0` say "sensor missing"."""
    missing = {s: rep for s, rep in reports.items() if not rep.ok}
    if not missing:
        return outcome
    verdicts = []
    for v in outcome.verdicts:
        r = v.result
        report = missing.get(r.source_id)
        if report is None or r.status not in SILENT_STATUSES or r.metric.startswith("node."):
            verdicts.append(v)
            continue
        reason = (
            f"{SENSOR_MISSING}: the board is online and reported {SENSOR_OK} = 0 at "
            f"{iso_z(report.ts_ms)} (its BME280 does not answer); {r.reason}"
        )
        verdicts.append(replace(v, result=r.with_reason(reason)))
    return replace(outcome, verdicts=tuple(verdicts))


def sensor_missing(reason: str) -> bool:
    """Whether a verdict's reason is `apply_health`'s (for the fleet_status code)."""
    return reason.startswith(SENSOR_MISSING + ":")
