"""Every `fleetscan fleet` command line in the README, run against the README's own sandbox
(`fleetscan sandbox --simulate 50 ...`: five boards a room, two hours of history), must watch the
fleet: not exit 3, and judge most series against peers rather than report them
insufficient_peers. (This is how the README's cron and systemd lines once watched nothing.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.commands.sandbox import backfill_fleet
from fleetscan.sandbox import Sandbox
from fleetscan.simulate import FleetSpec, SimulatedFleet, parse_fault
from fleetscan.timeutil import now_ms

README = Path(__file__).parents[1] / "README.md"
SANDBOX_LINE = re.compile(r"^fleetscan sandbox --simulate (\d+)(.*)$", re.MULTILINE)


def readme_sweeps() -> list[list[str]]:
    """The argument lists of every `fleetscan fleet` line in the README (prompt, cron, systemd)."""
    lines = []
    for line in README.read_text(encoding="utf-8").splitlines():
        match = re.search(r"(?:^|[\s/])fleetscan fleet (.*)$", line)
        if match and not line.lstrip().startswith("|"):
            lines.append(shlex.split(match.group(1).split("#")[0]))
    return lines


def test_the_readme_has_sweep_lines_to_check() -> None:
    assert len(readme_sweeps()) >= 3  # the hand-run one, cron and systemd


@pytest.mark.slow
@pytest.mark.parametrize("args", readme_sweeps(), ids=lambda a: " ".join(a)[:60])
def test_every_readme_sweep_watches_the_readme_sandbox(
    args: list[str], plexus_env: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boards, rest = SANDBOX_LINE.search(README.read_text(encoding="utf-8")).groups()  # type: ignore[union-attr]
    faults = tuple(parse_fault(f) for f in re.findall(r"--fault (\S+)", rest))
    end = now_ms()
    start = end - 2 * 3_600_000  # the sandbox's default --backfill 2h, seed 7
    fleet = SimulatedFleet(
        FleetSpec(boards=int(boards), seed=7, start_ms=start, duration_s=7200, faults=faults)
    )
    backfill_fleet(plexus_env, fleet, end_ms=end)
    monkeypatch.setenv("FLEETSCAN_STATE", str(tmp_path / "state.db"))
    prom = tmp_path / "fleetscan.prom"
    args = [str(prom) if a.endswith(".prom") else a for a in args]
    result = CliRunner().invoke(app, ["fleet", *args, "--format", "jsonl", "--dry-run"])
    assert result.exit_code in (0, 1, 2), result.stderr
    statuses = [line.split('"status": "')[1].split('"')[0] for line in result.stdout.splitlines()]
    assert len(statuses) == int(boards) * args.count("--metric")
    compared = [s for s in statuses if s not in ("insufficient_peers", "no_data")]
    assert len(compared) > 0.9 * len(statuses), sorted(set(statuses))
