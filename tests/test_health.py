"""A board whose firmware reports `sensor.ok = 0` is "sensor missing", not "stale" (sandbox, live)."""

from __future__ import annotations

from pathlib import Path

from sweep_helpers import HOUR, MIN, START, env_for, invoke, jsonl, readings, write_jsonl

from fleetscan.sandbox import Sandbox
from fleetscan.telemetry import Reading
from fleetscan.timeutil import iso_z

NO_SENSOR = "esp32-bme280-07"  # BME280 gone at 6h; the board keeps sending sensor.ok = 0
DEAD = "esp32-bme280-11"  # the whole board gone at 6h
GONE = START + 6 * HOUR
AT = GONE + 30 * MIN


def test_sensor_missing_is_told_apart_from_a_dead_board(sandbox: Sandbox, tmp_path: Path) -> None:
    rows = [r for r in readings() if not (r.source_id in (NO_SENSOR, DEAD) and r.ts_ms >= GONE)]
    rows += [Reading(NO_SENSOR, "sensor.ok", GONE + k * MIN, 0.0) for k in range(31)]
    rows += [Reading("esp32-bme280-01", "sensor.ok", GONE + k * MIN, 1.0) for k in range(31)]
    sandbox.insert(rows)
    args = ["fleet", "--metric", "temperature", "--baseline", "6h", "--min-peers", "3"]
    code, out, err = invoke(
        [*args, "--no-state", "--at", iso_z(AT), "--format", "jsonl"], env_for(sandbox, tmp_path)
    )
    assert code in (1, 2), err
    records = {str(r["source_id"]): r for r in jsonl(out)}
    missing, dead = records[NO_SENSOR], records[DEAD]
    assert missing["status"] == dead["status"] == "stale"
    assert str(missing["reason"]).startswith(
        f"sensor missing: the board is online and reported sensor.ok = 0 at {iso_z(GONE + 30 * MIN)}"
    )
    assert not str(dead["reason"]).startswith("sensor missing")
    assert records["esp32-bme280-01"]["status"] == "ok"
    codes = {
        s: v
        for s, _m, v, _ts, _t in sandbox.backend.store.query_telemetry(
            source=None, metrics=["temperature.fleet_status"], from_ms=0, to_ms=2**53, limit=100
        )
    }
    assert codes[NO_SENSOR] == 8.0 and codes[DEAD] == 6.0  # sensor missing vs stale


def test_replay_reads_sensor_ok_like_a_live_sweep(sandbox: Sandbox, tmp_path: Path) -> None:
    rows = [r for r in readings() if not (r.source_id in (NO_SENSOR, DEAD) and r.ts_ms >= GONE)]
    rows += [Reading(NO_SENSOR, "sensor.ok", GONE + k * MIN, 0.0) for k in range(31)]
    rows += [Reading("esp32-bme280-01", "sensor.ok", GONE + k * MIN, 1.0) for k in range(31)]
    sandbox.insert(rows)
    file = write_jsonl(tmp_path / "rows.jsonl", rows)
    replay = ["replay", "--metric", "temperature", "--baseline", "6h", "--min-peers", "3"]
    replay += ["--to", iso_z(AT), "--format", "jsonl"]
    for source in (
        ["--from", iso_z(GONE - 30 * MIN)],
        ["--input", str(file), "--from", iso_z(AT - 30 * MIN)],
    ):
        code, out, err = invoke([*replay, *source], env_for(sandbox, tmp_path))
        assert code == 0, err
        last = {str(r["source_id"]): r for r in jsonl(out) if r["at"] == iso_z(AT)}
        missing, dead = last[NO_SENSOR], last[DEAD]
        assert missing["status"] == dead["status"] == "stale", source
        assert str(missing["reason"]).startswith(
            f"sensor missing: the board is online and reported sensor.ok = 0 at {iso_z(AT)}"
        )
        assert not str(dead["reason"]).startswith("sensor missing")
        assert "sensor.ok" not in {r["metric"] for r in jsonl(out)}  # applied, not replayed
