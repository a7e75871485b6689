"""What a sweep posts back to Plexus: `<metric>.fleet_z` and `<metric>.fleet_dev` per source.

- `<metric>.fleet_z` follows the tutorial's convention: the result's `score` once the alert guard
  is met, else 0.0. `score` is |z| for `anomalous`/`drifting` and max(|z|, threshold + 1) for the
  other alerting statuses (`stuck`, `stale`, `noisy`, `invalid`), so one Plexus monitor with
  `max: 3.0` on `<metric>.fleet_z` fires for every kind of fault (see `fleetscan.fleet.status`).
  For a single hand-run sweep the guard is met exactly when the result is alerting; cron sweeps
  pass their own guard (N alerting sweeps in a row).
- `<metric>.fleet_dev` is the raw deviation `value - fleet_median` in the metric's units, for
  dashboards; it is left out when either is unknown (a silent source), since Plexus refuses NaN.

Every point carries its own `source_id` and a `status` tag, and all of them go to one `Emitter`:
a sweep over 1,000+ sources is a few gzip-compressed requests of up to 5,000 points, with no
thread, socket or client per source. Points the gateway could not take come back from
`Emitter.send` as `undelivered`; the caller keeps them (the CLI's `--outbox` file, the cron
sweep's state) and sends them first next time, so nothing is lost while the gateway is down.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from fleetscan.fleet.sweep import FleetResult
from fleetscan.points import Point

Z_SUFFIX = ".fleet_z"
DEV_SUFFIX = ".fleet_dev"


def fleet_points(
    results: Iterable[FleetResult],
    *,
    guard_met: Callable[[FleetResult], bool] | None = None,
) -> list[Point]:
    """The points for `results`; `guard_met` defaults to "this sweep flagged it"."""
    met = guard_met if guard_met is not None else (lambda r: r.flagged)
    return [p for r in results for p in series_points(r, fleet_z=r.score if met(r) else 0.0)]


def series_points(result: FleetResult, *, fleet_z: float) -> list[Point]:
    """`<metric>.fleet_z` carrying `fleet_z` (the caller's guard decided it) and, when known,
    `<metric>.fleet_dev`, both tagged with the result's status."""
    r = result
    tags = {"status": r.status.value}
    points = [Point(r.source_id, r.metric + Z_SUFFIX, fleet_z, r.at_ms, tags)]
    deviation = r.value - r.fleet_median
    if math.isfinite(deviation):
        points.append(Point(r.source_id, r.metric + DEV_SUFFIX, deviation, r.at_ms, tags))
    return points
