"""`fleetscan device` end to end: real HTTP to the sandbox, real plexus-python posting back."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from tutorial_oracle import tutorial_lines
from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.sandbox import Sandbox
from fleetscan.telemetry import Reading
from fleetscan.timeutil import now_ms

runner = CliRunner()
SOURCE = "esp32-bme280"


def quiet_room_then_finger(n_quiet: int = 30) -> list[float]:
    quiet = [22.4 + (0.02, 0.0, -0.02, 0.05)[i % 4] for i in range(n_quiet)]
    return quiet + [23.18, 24.05, 24.92, 25.78, 26.43, 26.9, 27.2]


def backfill(sb: Sandbox, values: list[float], *, metric: str = "temperature") -> list[int]:
    start = now_ms() - 2000 * len(values) - 5000
    stamps = [start + 2000 * i for i in range(len(values))]
    sb.insert(Reading(SOURCE, metric, t, v) for t, v in zip(stamps, values, strict=True))
    return stamps


def telemetry(sb: Sandbox, metric: str) -> list[dict[str, object]]:
    response = httpx.get(
        f"{sb.endpoint}/api/v1/telemetry",
        params={"source": SOURCE, "metric": metric, "from": "2020-01-01T00:00:00Z"},
        headers={"x-api-key": sb.read_key},
    )
    response.raise_for_status()
    data: list[dict[str, object]] = response.json()["data"]
    return data


def test_once_reads_scores_and_posts_zscore_with_the_tutorial_convention(
    plexus_env: Sandbox,
) -> None:
    values = quiet_room_then_finger()
    stamps = backfill(plexus_env, values)
    args = [
        "device",
        "--source",
        SOURCE,
        "--metric",
        "temperature",
        "--method",
        "tutorial",
        "--once",
        "--lookback",
        "10m",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    printed = [line for line in result.stdout.splitlines() if line.startswith("[")]
    oracle = tutorial_lines([(f"{t:013d}", v) for t, v in zip(stamps, values, strict=True)])
    assert printed == [line for line, _, _ in oracle]
    posted = telemetry(plexus_env, "temperature.zscore")
    assert len(posted) == len(values)
    assert [p["value"] for p in posted] == pytest.approx([emit for _, _, emit in oracle])


def test_dry_run_posts_nothing_and_jsonl_has_every_field(plexus_env: Sandbox) -> None:
    backfill(plexus_env, quiet_room_then_finger())
    args = [
        "device",
        "--source",
        SOURCE,
        "--metric",
        "temperature",
        "--method",
        "tutorial",
        "--once",
        "--dry-run",
        "--format",
        "jsonl",
        "--lookback",
        "10m",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert set(rows[0]) >= {
        "source_id",
        "metric",
        "timestamp",
        "value",
        "z",
        "score",
        "streak",
        "anomaly",
        "emitted",
    }
    assert rows[0]["timestamp"].endswith("Z")
    assert all(r["score"] == abs(r["z"]) for r in rows)
    assert telemetry(plexus_env, "temperature.zscore") == []


def test_fans_out_over_sources_and_metrics(plexus_env: Sandbox) -> None:
    backfill(plexus_env, quiet_room_then_finger(), metric="temperature")
    backfill(plexus_env, [55.0 + 0.1 * (i % 3) for i in range(30)], metric="humidity")
    args = [
        "device",
        "--source",
        SOURCE,
        "--metric",
        "temperature",
        "--metric",
        "humidity",
        "--once",
        "--lookback",
        "10m",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"{SOURCE} temperature [" in result.stdout and f"{SOURCE} humidity [" in result.stdout
    assert telemetry(plexus_env, "humidity.zscore") and telemetry(plexus_env, "temperature.zscore")


def test_once_with_no_readings_watched_nothing_and_is_not_ok(plexus_env: Sandbox) -> None:
    args = ["device", "--source", "esp32-nosuch", "--metric", "temperature", "--once"]
    result = runner.invoke(app, args)
    assert result.exit_code == 3, result.output
    assert "no readings for esp32-nosuch / temperature" in result.stderr
    assert not telemetry(plexus_env, "temperature.zscore")


def test_wrong_key_is_one_clean_line_and_exit_3(plexus_env: Sandbox) -> None:
    result = runner.invoke(
        app,
        ["device", "--source", SOURCE, "--metric", "temperature", "--once"],
        env={"PLEXUS_API_KEY": plexus_env.write_key},
    )
    assert result.exit_code == 3
    assert "create a key with read scope" in result.stderr
    assert plexus_env.write_key not in result.output
    assert "Traceback" not in result.output


def test_unreachable_plexus_is_exit_3_without_traceback(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "device",
            "--source",
            SOURCE,
            "--metric",
            "temperature",
            "--once",
            "--endpoint",
            "http://127.0.0.1:9",
            "--gateway-url",
            "http://127.0.0.1:9",
            "--api-key",
            "plx_" + "a" * 32,
        ],
    )
    assert result.exit_code == 3
    assert "cannot reach" in result.stderr and "Traceback" not in result.output


def test_offline_input_csv_matches_the_tutorial_and_counts_bad_rows(tmp_path: Path) -> None:
    values = quiet_room_then_finger()
    lines = ["timestamp,value"] + [f"{1781258400 + 2 * i},{v}" for i, v in enumerate(values)]
    lines += ["1781259000,NaN", "1781259002,", "1781259004,warm", "not-a-time,22.0"]
    path = tmp_path / "readings.csv"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(
        app, ["device", "--input", str(path), "--method", "tutorial", "--source", SOURCE]
    )
    assert result.exit_code == 0, result.output
    printed = [line for line in result.stdout.splitlines() if line.startswith("[")]
    oracle = tutorial_lines([(f"{i:05d}", v) for i, v in enumerate(values)])
    assert printed == [line for line, _, _ in oracle]
    assert "skipped 4 rows" in result.stderr


def test_auto_method_catches_a_step_the_tutorial_misses(tmp_path: Path) -> None:
    quiet = [22.4 + (0.02, 0.0, -0.02, 0.01)[i % 4] for i in range(600)]
    step = [v + 4.0 for v in quiet[:300]]
    path = tmp_path / "step.csv"
    rows = [f"{1781258400 + 2 * i},{v:.2f}" for i, v in enumerate(quiet + step)]
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    found = {}
    for method in ("tutorial", "auto"):
        result = runner.invoke(
            app,
            [
                "device",
                "--input",
                str(path),
                "--method",
                method,
                "--format",
                "jsonl",
                "--metric",
                "temperature",
            ],
        )
        assert result.exit_code == 0, result.output
        records = [json.loads(line) for line in result.stdout.splitlines()]
        found[method] = sum(r["anomaly"] for r in records[600:])
    assert found["tutorial"] == 0
    assert found["auto"] > 100


def test_auto_jsonl_is_one_event_and_relearn_is_an_option(tmp_path: Path) -> None:
    rows = [
        f"{1781258400 + 60 * i},{22.4 + (0.05, 0.0, -0.05, 0.02)[i % 4] + (3.0 if i >= 900 else 0):.2f}"
        for i in range(1200)
    ]
    path = tmp_path / "step.csv"
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    args = ["device", "--input", str(path), "--format", "jsonl", "--metric", "temperature"]
    result = runner.invoke(app, [*args, "--relearn", "30m"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    events = [r for r in records if r["event"]]
    assert [r["event"] for r in events] == ["opened", "resolved"]
    assert events[0]["alert_id"] == events[1]["alert_id"] != ""
    assert events[1]["reason"].endswith("accepted after 30m")
    assert events[0]["score"] == max(r["score"] for r in records)
    bad = runner.invoke(app, [*args, "--relearn", "soon"])
    assert bad.exit_code == 64 and "invalid relearn" in bad.output
    assert "Traceback" not in bad.output
