"""Every `fleetscan fleet` and `fleetscan replay` command line in the README, run against the
README's own sandbox (`fleetscan sandbox --simulate 50 ...`: five boards a room, two hours of
history), must watch the fleet: not exit 3, and judge most series against peers rather than
report them insufficient_peers. (This is how the README's cron and systemd lines once watched
nothing.) Replay lines read the sandbox's rows from Plexus, or the same rows as a file
(`last-week.jsonl`), with their dates mapped onto those two hours."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.sandbox import Sandbox, backfill_fleet
from fleetscan.simulate import FleetSpec, SimulatedFleet, parse_fault
from fleetscan.timeutil import iso_z, now_ms

README = Path(__file__).parents[1] / "README.md"
SANDBOX_LINE = re.compile(r"^fleetscan sandbox --simulate (\d+)(.*)$", re.MULTILINE)


def readme_lines(command: str) -> list[list[str]]:
    """The argument lists of every `fleetscan <command>` line in the README (tables aside; a
    line ending in `\\` continues on the next). `--clickhouse` lines read a ClickHouse, not the
    sandbox: tests/test_clickhouse.py runs that path against embedded chdb."""
    text = README.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = []
    for line in text.splitlines():
        match = re.search(rf"(?:^|[\s/])fleetscan {command} (.*)$", line)
        if match and not line.lstrip().startswith("|") and "--clickhouse" not in line:
            lines.append(shlex.split(match.group(1).split("#")[0]))
    return lines


# `fleetscan [--config FILE] fleet ARGS` on a line of its own, in a cron line or an ExecStart=.
SWEEP = re.compile(r"(?:^|[\s/]|ExecStart=)fleetscan((?: --config \S+)?) fleet\b(.*)$")


def readme_sweeps() -> list[list[str]]:
    """The argument lists of every `fleetscan fleet` line in the README (prompt, cron, systemd),
    the root's `--config FILE` first where a line has one; continuation lines joined. Lines that
    sweep inside ClickHouse (`--clickhouse`) are left to tests/test_clickhouse.py, which runs
    them against an embedded ClickHouse."""
    text = README.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = []
    for line in text.splitlines():
        match = SWEEP.search(line)
        if match and not line.lstrip().startswith("|") and "--clickhouse" not in line:
            lines.append(shlex.split(match.group(1) + " fleet " + match.group(2).split("#")[0]))
    return lines


def readme_config(tmp_path: Path) -> Path:
    """The README's example fleetscan.toml, its output paths moved into `tmp_path`."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### A config file") :]
    body = section[section.index("```toml\n") + 8 :]
    body = body[: body.index("```")]
    for path in re.findall(r'= "(/var/[^"]+)"', body):
        body = body.replace(path, str(tmp_path / Path(path).name))
    config = tmp_path / "fleetscan.toml"
    config.write_text(body, encoding="utf-8")
    return config


def readme_fleet(plexus_env: Sandbox) -> SimulatedFleet:
    """The README's sandbox fleet, its two hours of history backfilled into `plexus_env`."""
    boards, rest = SANDBOX_LINE.search(README.read_text(encoding="utf-8")).groups()  # type: ignore[union-attr]
    faults = tuple(parse_fault(f) for f in re.findall(r"--fault (\S+)", rest))
    end = now_ms()
    start = end - 2 * 3_600_000  # the sandbox's default --backfill 2h, seed 7
    fleet = SimulatedFleet(
        FleetSpec(boards=int(boards), seed=7, start_ms=start, duration_s=7200, faults=faults)
    )
    backfill_fleet(plexus_env, fleet, end_ms=end)
    return fleet


def compared_share(jsonl_out: str) -> tuple[int, float]:
    """How many records, and the share of them judged against peers."""
    records = [json.loads(line) for line in jsonl_out.splitlines() if line.startswith("{")]
    statuses = [str(r["status"]) for r in records]
    compared = [s for s in statuses if s not in ("insufficient_peers", "no_data")]
    return len(statuses), len(compared) / max(1, len(statuses))


def test_the_readme_has_sweep_lines_to_check() -> None:
    sweeps = readme_sweeps()
    assert len(sweeps) >= 3  # the hand-run one, cron and systemd
    assert any(a[:1] == ["--config"] for a in sweeps)  # cron: options from the config file
    assert ["fleet"] in sweeps  # systemd: everything from FLEETSCAN_CONFIG


@pytest.mark.slow
@pytest.mark.parametrize("args", readme_sweeps(), ids=lambda a: " ".join(a)[:60])
def test_every_readme_sweep_watches_the_readme_sandbox(
    args: list[str], plexus_env: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boards = len(readme_fleet(plexus_env).boards)
    monkeypatch.setenv("FLEETSCAN_STATE", str(tmp_path / "state.db"))
    config = readme_config(tmp_path)
    if args == ["fleet"]:  # systemd: Environment=FLEETSCAN_CONFIG=/etc/fleetscan.toml
        monkeypatch.setenv("FLEETSCAN_CONFIG", str(config))
    prom = tmp_path / "fleetscan.prom"
    args = [str(prom) if a.endswith(".prom") else a for a in args]
    args = [str(config) if a.endswith("fleetscan.toml") else a for a in args]
    result = CliRunner().invoke(app, [*args, "--format", "jsonl", "--dry-run"])
    assert result.exit_code in (0, 1, 2), result.stderr
    records, share = compared_share(result.stdout)
    metrics = args.count("--metric") or 2  # the config file's [fleet] metrics
    assert records == boards * metrics
    assert share > 0.9


def test_the_readme_has_replay_lines_to_check() -> None:
    assert len(readme_lines("replay")) >= 2  # from a file, and pulled from Plexus


@pytest.mark.slow
@pytest.mark.parametrize("args", readme_lines("replay"), ids=lambda a: " ".join(a)[:60])
def test_every_readme_replay_watches_the_readme_sandbox(
    args: list[str], plexus_env: Sandbox, tmp_path: Path
) -> None:
    fleet = readme_fleet(plexus_env)
    rows = tmp_path / "last-week.jsonl"
    fleet.write_jsonl(rows)
    mapped = {  # the README's file and dates, onto the sandbox's two hours
        "last-week.jsonl": str(rows),
        "--from": iso_z(fleet.start_ms + 3_600_000),
        "--to": iso_z(fleet.end_ms),
        "--plot": str(tmp_path / "charts"),
    }
    args = [
        mapped[args[i - 1]] if i and args[i - 1] in ("--from", "--to", "--plot") else a
        for i, a in enumerate(args)
    ]
    args = [mapped.get(a, a) if a.endswith(".jsonl") else a for a in args]
    result = CliRunner().invoke(app, ["replay", *args, "--format", "jsonl"])
    assert result.exit_code in (0, 1, 2), result.stderr
    records, share = compared_share(result.stdout)
    assert records >= len(fleet.boards) * args.count("--metric")
    assert share > 0.9
