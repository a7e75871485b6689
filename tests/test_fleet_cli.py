"""`fleetscan fleet` one-off sweeps end to end (`--input`, `--no-state`): offline files, and live
against the sandbox with plexus-python. Cron sweeps with state: test_sweeps_cli.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.sandbox import Sandbox
from fleetscan.simulate import Fault, FleetSpec, SimulatedFleet
from fleetscan.timeutil import iso_z, now_ms, plexus_timestamp

START = 1_781_222_400_000  # 2026-06-12 00:00:00 UTC
HOUR = 3_600_000
BAD = "esp32-bme280-08"
GROUPING = ["--group-by", "site", "--group-by", "room", "--min-peers", "3"]
# The fleets here have 8 h of history: their boards' gaps are judged from 6 h, not the default 24.
JUDGED = ["--warm-up", "6h"]


def small_fleet(start_ms: int = START, hours: float = 8.0, step: float = 5.0) -> SimulatedFleet:
    # 5 °C is flagrant: on their first day boards are judged no tighter than their room's spread
    fault = Fault(board=BAD, kind="step", size=step, onset_offset_ms=int((hours - 1) * HOUR))
    return SimulatedFleet(
        FleetSpec(
            boards=20,
            seed=5,
            start_ms=start_ms,
            duration_s=hours * 3600,
            cadence_s=30.0,
            faults=(fault,),
            gateway_gaps_per_day=0.0,
        )
    )


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["fleet", *args])
    return result.exit_code, result.stdout, result.stderr


def records(stdout: str) -> dict[tuple[str, str], dict[str, object]]:
    rows = [json.loads(line) for line in stdout.splitlines()]
    return {(str(r["source_id"]), str(r["metric"])): r for r in rows}


def test_offline_jsonl_as_of_a_moment(tmp_path: Path) -> None:
    fleet = small_fleet()
    path = tmp_path / "fleet.jsonl"
    fleet.write_jsonl(path)
    at = iso_z(START + 7 * HOUR + 30 * 60_000)
    args = ["--metric", "temperature", "--metric", "humidity", "--input", str(path), "--at", at]
    # By default a board with under a day of history is shown, not alerted on: with 7 h of it a
    # 5 °C step might be the sun's first morning on its window.
    code, out, err = run(*args, "--format", "jsonl", *GROUPING)
    assert code == 0, err
    waiting = records(out)[(BAD, "temperature")]
    assert waiting["status"] == "ok" and waiting["alerting"] is False and waiting["withheld"]
    assert "off their peers within the warm-up (--warm-up)" in err
    reason = str(waiting["reason"])
    assert "no alert yet, a daily habit cannot be told from a fault" in reason, reason
    assert "learning: 7h of history, learned as its habits; its gap is judged from 24h" in reason
    assert "(a steady drift from 12h)" in reason
    code, out, err = run(*args, "--format", "jsonl", *GROUPING, *JUDGED)
    assert code == 2, err  # CRITICAL: the drifting board's fleet_z is above --critical 6
    got = records(out)
    assert len(got) == 40
    bad = got[(BAD, "temperature")]
    assert bad["status"] == "drifting" and bad["alerting"] is True and bad["at"] == at
    assert [k for k, r in got.items() if r["alerting"]] == [(BAD, "temperature")]
    assert "40 series (20 sources × 2 metrics)" in err
    before = run(
        "--metric",
        "temperature",
        "--input",
        str(path),
        "--format",
        "jsonl",
        "--at",
        iso_z(START + 6 * HOUR),
        *GROUPING,
    )
    assert not any(r["alerting"] for r in records(before[1]).values())  # only rows up to --at


def test_offline_csv_table(tmp_path: Path) -> None:
    fleet = small_fleet()
    path = tmp_path / "fleet.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "source_id", "metric", "value", "tag.site", "tag.room"])
        for row in fleet.iter_rows(["temperature"]):
            tags = row["tags"]
            assert isinstance(tags, dict)
            writer.writerow(
                [
                    row["timestamp"],
                    row["source_id"],
                    row["metric"],
                    row["value"],
                    tags["site"],
                    tags["room"],
                ]
            )
    code, out, err = run(
        "--metric",
        "temperature",
        "--input",
        str(path),
        "--at",
        iso_z(START + 8 * HOUR - 1000),
        *GROUPING,
        *JUDGED,
    )
    assert code == 2, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["SOURCE", "METRIC", "VALUE"]
    assert lines[1].startswith(BAD) and "drifting" in lines[1]
    assert len(lines) == 21


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "temperature", "--min-scale", "x=y"], "--min-scale"),
        (["--metric", "temperature", "--window", "soon"], "invalid duration"),
        (["--metric", "temperature", "--warm-up", "a day"], "invalid duration"),
    ],
)
def test_bad_options_exit_64_with_one_line(args: list[str], message: str) -> None:
    code, _, err = run("--no-state", *args)
    assert code == 64 and message in err and "Traceback" not in err and err.count("\n") == 1


def _seed_sandbox(sb: Sandbox) -> SimulatedFleet:
    end = now_ms() // 1000 * 1000
    fleet = small_fleet(start_ms=end - 9 * HOUR, hours=9.0, step=2.0)  # a warning as a snapshot
    sb.insert(fleet.iter_readings(["temperature"]))
    return fleet


def _rows(sb: Sandbox, metric: str) -> list[dict[str, object]]:
    response = httpx.get(
        f"{sb.endpoint}/api/v1/telemetry",
        params={"metric": metric, "from": iso_z(now_ms() - HOUR), "to": iso_z(now_ms() + 60_000)},
        headers={"x-api-key": sb.read_key},
    )
    data = response.json()["data"]
    assert isinstance(data, list)
    return data


def test_live_sweep_posts_fleet_z_through_plexus_python(plexus_env: Sandbox) -> None:
    sb = plexus_env
    _seed_sandbox(sb)
    code, out, err = run(
        "--metric", "temperature", "--baseline", "9h", "--format", "jsonl", "--no-state", *GROUPING
    )
    assert code == 2, err
    got = records(out)
    assert got[(BAD, "temperature")]["status"] == "drifting"
    assert "posted 60 points and 1 alert events" in err  # fleet_z, fleet_dev, fleet_status
    posted = {str(r["source_id"]): r for r in _rows(sb, "temperature.fleet_z")}
    assert len(posted) == 20
    assert float(posted[BAD]["value"]) > 3.0  # type: ignore[arg-type]
    assert posted[BAD]["tags"] == {"status": "drifting"}
    assert {float(r["value"]) for s, r in posted.items() if s != BAD} == {0.0}  # type: ignore[arg-type]
    assert len(_rows(sb, "temperature.fleet_dev")) == 20


def test_dry_run_posts_nothing(plexus_env: Sandbox) -> None:
    _seed_sandbox(plexus_env)
    code, _, err = run(
        "--metric", "temperature", "--baseline", "0", "--dry-run", "--no-state", *GROUPING
    )
    assert code == 1, err  # the board is anomalous (a snapshot): a WARNING
    assert "dry run: 60 points not posted" in err
    assert _rows(plexus_env, "temperature.fleet_z") == []


def test_nothing_is_lost_while_the_gateway_is_down(plexus_env: Sandbox, tmp_path: Path) -> None:
    sb = plexus_env
    _seed_sandbox(sb)
    outbox = tmp_path / "outbox.jsonl"
    code, _, err = run(
        "--metric",
        "temperature",
        "--baseline",
        "0",
        "--outbox",
        str(outbox),
        "--gateway-url",
        "http://127.0.0.1:9",
        "--no-state",
        *GROUPING,
    )
    assert code == 3 and "60 points not delivered" in err and str(outbox) in err
    assert len(outbox.read_text().splitlines()) == 60
    assert _rows(sb, "temperature.fleet_z") == []
    code, _, err = run(
        "--metric",
        "temperature",
        "--baseline",
        "0",
        "--outbox",
        str(outbox),
        "--no-state",
        *GROUPING,
    )
    assert code == 1, err  # the board is anomalous (a snapshot): a WARNING
    assert "posted 120 points (60 from" in err
    assert outbox.read_text() == ""
    assert len(_rows(sb, "temperature.fleet_z")) == 40  # both sweeps' points, one per source each


def test_offline_without_at_sweeps_as_of_the_newest_reading(tmp_path: Path) -> None:
    fleet = small_fleet()
    path = tmp_path / "fleet.jsonl"
    fleet.write_jsonl(path, metrics=["temperature"])
    with path.open("a") as handle:  # a board whose clock jumped years ahead, and a NaN reading
        for board, value, ts in (
            (BAD, 21.0, START + 5 * 365 * 24 * HOUR),
            ("esp32-bme280-02", None, START + HOUR),
        ):
            row = {
                "source_id": board,
                "metric": "temperature",
                "value": value,
                "timestamp": plexus_timestamp(ts),
                "tags": fleet.tags(board),
            }
            handle.write(json.dumps(row) + "\n")
    code, out, err = run(
        "--metric", "temperature", "--input", str(path), "--format", "jsonl", *GROUPING
    )
    assert code == 2, err
    got = records(out)
    newest = max(int(ts.max()) for ts, _ in (fleet.series(b, "temperature") for b in fleet.boards))
    assert {r["at"] for r in got.values()} == {iso_z(newest)}
    assert got[(BAD, "temperature")]["status"] == "invalid"
    assert "stamped in the future" in str(got[(BAD, "temperature")]["reason"])
    assert "1 NaN/null reading" in str(got[("esp32-bme280-02", "temperature")]["reason"])
