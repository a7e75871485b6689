"""Data and runners for the cron-sweep tests: a small simulated fleet with transient faults.

`readings(shifts=...)` is a 16-board fleet (one reading a minute, 8 hours from `START`) in which
each shift `(boards, from_ms, to_ms, delta)` adds `delta` °C to those boards' temperature for a
while, so a test can make an alert open, recover and resolve, or a storm begin and end.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.sandbox import Sandbox
from fleetscan.simulate import FleetSpec, SimulatedFleet
from fleetscan.telemetry import Reading
from fleetscan.timeutil import iso_z, plexus_timestamp

START = 1_781_222_400_000  # 2026-06-12 00:00:00 UTC
MIN = 60_000
HOUR = 3_600_000
BOARDS = 16
BAD = "esp32-bme280-03"
Shift = tuple[Sequence[str], int, int, float]

# Sweeps every 5 minutes from 6h to 8h; the first learns its baseline from the 6 hours before.
SWEEP_TIMES = [START + 6 * HOUR + k * 5 * MIN for k in range(24)]
# BAD reads 2.5 °C high for 30 minutes: flagged from 6h25, alert at 6h35, resolved by ~7h10.
BLIP: Shift = ((BAD,), START + 6 * HOUR + 20 * MIN, START + 6 * HOUR + 50 * MIN, 2.5)
SCORING = ["--metric", "temperature", "--baseline", "6h", "--group-by", "site", "--min-peers", "3"]
LIFECYCLE = ["--recovery", "10m", "--cooldown", "20m"]


def boards(n: int = BOARDS) -> list[str]:
    return [f"esp32-bme280-{i:02d}" for i in range(1, n + 1)]


def readings(*, shifts: Iterable[Shift] = (), hours: float = 8.0) -> list[Reading]:
    fleet = SimulatedFleet(
        FleetSpec(
            boards=BOARDS,
            seed=11,
            start_ms=START,
            duration_s=hours * 3600,
            cadence_s=60.0,
            gateway_gaps_per_day=0.0,
            hvac_events_per_day=0.0,
        )
    )
    shifts = list(shifts)
    out = []
    for r in fleet.iter_readings(["temperature"]):
        for names, lo, hi, delta in shifts:
            if r.source_id in names and lo <= r.ts_ms < hi:
                r = Reading(r.source_id, r.metric, r.ts_ms, r.value + delta, r.tags)
        out.append(r)
    return out


def write_jsonl(path: Path, rows: Iterable[Reading]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for r in rows:
            record = {
                "source_id": r.source_id,
                "metric": r.metric,
                "value": r.value,
                "timestamp": plexus_timestamp(r.ts_ms),
                "tags": dict(r.tags),
            }
            handle.write(json.dumps(record) + "\n")
    return path


def env_for(sb: Sandbox, tmp_path: Path, gateway_url: str | None = None) -> dict[str, str]:
    """The environment of a cron job pointed at `sb` (plexus-python quiet, HOME in tmp)."""
    return {
        "HOME": str(tmp_path),
        "PLEXUS_ENDPOINT": sb.endpoint,
        "PLEXUS_GATEWAY_URL": gateway_url or sb.gateway_url,
        "PLEXUS_GATEWAY_WS_URL": sb.ws_url,
        "PLEXUS_API_KEY": sb.read_key,
        "PLEXUS_QUIET": "1",
    }


def invoke(args: Sequence[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def sweep(state: Path, at_ms: int, env: dict[str, str], *extra: str) -> tuple[int, str, str]:
    """One cron sweep at `at_ms` with the test's scoring and lifecycle options."""
    return invoke(
        ["fleet", *SCORING, *LIFECYCLE, "--state", str(state), "--at", iso_z(at_ms), *extra],
        env,
    )


def jsonl(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def dump(path: Path) -> str:
    """A state database as SQL text: two dumps are equal exactly when nothing was written."""
    db = sqlite3.connect(path)
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()
