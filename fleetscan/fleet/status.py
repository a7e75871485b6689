"""The small, documented vocabulary of fleet statuses, and which of them alert.

| status               | alerts | meaning                                                           |
|----------------------|--------|-------------------------------------------------------------------|
| `ok`                 | no     | in line with its peers (and with its own usual offset from them)  |
| `anomalous`          | yes    | far from its peers right now; no learned baseline yet             |
| `drifting`           | yes    | its gap to its peers moved away from its learned usual gap        |
| `stuck`              | yes    | no change beyond the sensor's resolution while its peers move     |
| `noisy`              | yes    | its own noise far above its peers', or spikes/bursts in the window|
| `invalid`            | yes    | impossible readings: NaN, out of the sensor's range, timestamps   |
|                      |        | far in the future or before 2001, or the C SDK's simulated values |
| `stale`              | yes    | silent for longer than its own cadence allows                     |
| `outage`             | no     | silent together with most of its cohort or fleet: a gateway,      |
|                      |        | network or read outage (Plexus answers 200 with no rows when       |
|                      |        | ClickHouse times out): one note, not N board alerts               |
| `no_data`            | no     | known, not yet overdue, but no reading in the window              |
| `insufficient_peers` | no     | fewer than `min_peers` peers to compare with                      |

The first that applies wins, in this order: invalid, stale, outage, no_data, noisy (spikes: needs
no peers), insufficient_peers, stuck, noisy (noise ratio), drifting / anomalous, ok.

`<metric>.fleet_z` (the tutorial's convention, so a Plexus monitor with `max: 3.0` works unchanged):
once the guard is met it carries |z| for `anomalous`/`drifting`, and max(|z|, threshold + 1) for
the other flagging statuses (`stuck`, `stale`, `noisy`, `invalid`), so those cross the same monitor;
otherwise 0.0. For one hand-run sweep the guard is met exactly when the status flags (`Status.flagged`).
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    OK = "ok"
    ANOMALOUS = "anomalous"
    DRIFTING = "drifting"
    STUCK = "stuck"
    NOISY = "noisy"
    INVALID = "invalid"
    STALE = "stale"
    OUTAGE = "outage"
    NO_DATA = "no_data"
    INSUFFICIENT_PEERS = "insufficient_peers"

    @property
    def flagged(self) -> bool:
        """This status flags its series (whether that opens an alert is the lifecycle's call)."""
        return self in FLAGGED

    @property
    def z_based(self) -> bool:
        """True when `fleet_z` carries the z itself rather than the status's floor."""
        return self in (Status.ANOMALOUS, Status.DRIFTING)


FLAGGED = frozenset(
    {Status.ANOMALOUS, Status.DRIFTING, Status.STUCK, Status.NOISY, Status.INVALID, Status.STALE}
)
CODES: tuple[Status, ...] = tuple(Status)
"""Integer codes used by the vectorised core: `CODES[i]` is the status with code `i`."""
CODE = {status: i for i, status in enumerate(CODES)}
