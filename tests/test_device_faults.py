"""`fleetscan device` when the gateway is down or the clock is wrong: it says what it lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from standin import Reply, StandIn
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


def test_the_loop_says_a_gateway_outage_once_and_backs_off(
    plexus_env: Sandbox, tmp_path: Path
) -> None:
    backfill(plexus_env, quiet_room_then_finger())
    with StandIn(lambda _: Reply(503, b'{"error":"gateway degraded"}')) as gateway:
        env = {**os.environ, "PLEXUS_GATEWAY_URL": gateway.url, "PLEXUS_QUIET": "1"}
        args = ["device", "--source", SOURCE, "--metric", "temperature", "--poll", "0.05"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "fleetscan", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(4.0)  # 80 polls
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        posts = len(gateway.requests)
    said = [line for line in err.splitlines() if "503" in line or "retrying" in line]
    assert said[0].endswith("keeping points, retrying with backoff")
    assert len(said) == 2, err  # once when it began, once on exit with what was lost
    assert proc.returncode == 3 and "points not delivered" in said[-1]
    # Backoff: sends at doubling intervals plus the one on exit (each with plexus-python's own
    # retry), about a dozen requests; without it, at least one a poll: 80.
    assert posts <= 24, posts
