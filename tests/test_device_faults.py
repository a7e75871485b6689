"""`fleetscan device` when the gateway is down or the clock is wrong: it says what it lost."""

from __future__ import annotations

import json
from pathlib import Path

from test_device_cli import SOURCE, backfill, quiet_room_then_finger
from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.sandbox import Sandbox

ONCE = ["device", "--source", SOURCE, "--metric", "temperature", "--once", "--lookback", "10m"]


def test_once_with_the_gateway_down_exits_3_and_says_how_many_points(
    plexus_env: Sandbox,
) -> None:
    values = quiet_room_then_finger()
    backfill(plexus_env, values)
    result = CliRunner().invoke(app, [*ONCE, "--gateway-url", "http://127.0.0.1:9"])
    assert result.exit_code == 3, result.output
    assert f"{len(values)} points not delivered" in result.stderr
    assert "Traceback" not in result.stderr


def test_offline_1970_and_9999_samples_are_not_scored(tmp_path: Path) -> None:
    path = tmp_path / "clock.jsonl"
    good = [
        {
            "source_id": "a",
            "metric": "t",
            "value": 21.0 + i % 3 * 0.1,
            "timestamp": 1_781_258_400_000 + i * 1000,
        }
        for i in range(30)
    ]
    bad = [
        {"source_id": "a", "metric": "t", "value": 99.0, "timestamp": 5_000},
        {"source_id": "a", "metric": "t", "value": 99.0, "timestamp": 253_402_000_000_000},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in [*good, *bad]))
    result = CliRunner().invoke(app, ["device", "--input", str(path), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 30
    assert (
        "1 readings stamped before 2001 (clock not set?), 1 stamped in the future" in result.stderr
    )
