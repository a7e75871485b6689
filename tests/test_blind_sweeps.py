"""No silent sweeps: a sweep that could compare (almost) nothing exits 3 with one line saying why
and what to change, instead of exit 0 and an empty screen."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.simulate import FleetSpec, SimulatedFleet
from fleetscan.timeutil import iso_z

START = 1_781_222_400_000  # 2026-06-12 00:00:00 UTC
HOUR = 3_600_000


def rows(tmp_path: Path) -> Path:
    fleet = SimulatedFleet(
        FleetSpec(boards=10, seed=2, start_ms=START, duration_s=2 * 3600, cadence_s=30.0)
    )
    path = tmp_path / "fleet.jsonl"
    fleet.write_jsonl(path)
    return path


def run(path: Path, *args: str) -> tuple[int, str, str]:
    at = iso_z(START + 2 * HOUR - 60_000)
    result = CliRunner().invoke(app, ["fleet", "--input", str(path), "--at", at, *args])
    return result.exit_code, result.stdout, result.stderr


def test_rooms_too_small_for_min_peers_exit_3_and_say_what_to_change(tmp_path: Path) -> None:
    path = rows(tmp_path)
    code, _, err = run(path, "--metric", "temperature", "--group-by", "room", "--min-peers", "5")
    assert code == 3
    (line,) = [x for x in err.splitlines() if "error" in x]
    assert "10 of 10 series could not be compared (10 insufficient_peers)" in line
    assert "as few as 5 boards, so at most 4 peers, and --min-peers is 5" in line
    assert "lower --min-peers" in line
    ok, _, err = run(path, "--metric", "temperature", "--group-by", "room")  # default: 3
    assert ok == 0, err


def test_a_misspelt_metric_exits_3(tmp_path: Path) -> None:
    code, _, err = run(rows(tmp_path), "--metric", "temprature")
    assert code == 3
    assert "no rows at all for --metric temprature: check its spelling" in err


def test_a_replay_whose_sweeps_watch_nothing_exits_3_like_fleet(tmp_path: Path) -> None:
    path = rows(tmp_path)
    args = ["replay", "--input", str(path), "--metric", "temperature", "--group-by", "room"]
    blind = CliRunner().invoke(app, [*args, "--min-peers", "5"])
    assert blind.exit_code == 3
    (line,) = [x for x in blind.stderr.splitlines() if "error" in x]
    assert "replayed sweeps could not watch the fleet, the first because:" in line
    assert "at most 4 peers, and --min-peers is 5; lower --min-peers" in line
    watched = CliRunner().invoke(app, args)  # default --min-peers 3
    assert watched.exit_code == 0, watched.stderr
