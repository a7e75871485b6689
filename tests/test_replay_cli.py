"""`fleetscan replay` over files: the summary, defaults, storms, usage and input errors.

(Replay equals the live cron sweeps on the same rows: test_sweeps_cli.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_helpers import (
    BAD,
    BLIP,
    BOARDS,
    HOUR,
    MIN,
    SCORING,
    START,
    boards,
    invoke,
    jsonl,
    readings,
    write_jsonl,
)

from fleetscan.timeutil import iso_z

STORM = (boards()[5:12], START + 7 * HOUR + 20 * MIN, START + 7 * HOUR + 40 * MIN, 3.0)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "history.jsonl"
    return write_jsonl(path, readings(shifts=[BLIP, STORM]))


def replay(*args: str) -> tuple[int, str, str]:
    return invoke(["replay", *SCORING, "--recovery", "10m", "--cooldown", "20m", *args])


def test_summary_names_who_would_have_alerted_when_and_for_how_long(history: Path) -> None:
    code, out, err = replay(
        "--input", str(history), "--from", iso_z(START + 6 * HOUR), "--storm-fraction", "0.4"
    )
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"replayed 24 sweeps every 5m from {iso_z(START + 6 * HOUR)}")
    assert f"to {iso_z(START + 7 * HOUR + 55 * MIN)} over {BOARDS} series" in lines[0]
    assert lines[0].endswith(": 1 alert, 1 storm")
    assert lines[1] == "would have alerted:"
    assert lines[2].split()[:6] == [
        BAD,
        "temperature",
        iso_z(START + 6 * HOUR + 35 * MIN),
        "→",
        iso_z(START + 7 * HOUR + 10 * MIN),
        "(35m)",
    ]
    assert "drifting:" in lines[2]
    assert lines[3].startswith("storms")
    assert lines[4].split()[:4] == [
        "temperature",
        "the",
        "fleet",
        iso_z(START + 7 * HOUR + 30 * MIN),
    ]
    assert "flagged temperature at once" in lines[4]


def test_within_the_warm_up_the_summary_says_what_it_held_back(history: Path) -> None:
    """8 h of history with the default 24 h warm-up: the drifting board and the storm are shown,
    not alerted on, and the summary says so rather than a bare `0 alerts`."""
    args = ["replay", "--metric", "temperature", "--group-by", "site", "--min-peers", "3"]
    code, out, err = invoke([*args, "--input", str(history)])
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].endswith(": 0 alerts, 0 storms")
    assert "series were off their peers within the warm-up" in lines[1]
    assert "--warm-up 0 judges from the first sweep" in lines[1]
    code, out, _ = invoke([*args, "--input", str(history), "--warm-up", "0"])
    assert code == 0 and "would have alerted:" in out and "warm-up" not in out


def test_without_storms_the_same_event_is_many_alerts(history: Path) -> None:
    code, out, _ = replay(
        "--input", str(history), "--from", iso_z(START + 6 * HOUR), "--storm-min", "99"
    )
    assert code == 0
    assert out.splitlines()[0].endswith("alerts, 0 storms")
    assert sum("would" not in line and "temperature" in line for line in out.splitlines()) > 3


def test_defaults_sweep_the_whole_file_on_the_every_grid(history: Path) -> None:
    code, out, err = replay(
        "--input", str(history), "--every", "30m", "--format", "jsonl", "--baseline", "0"
    )
    assert code == 0
    rows = jsonl(out)
    times = sorted({str(r["at"]) for r in rows})
    assert times[0] == iso_z(START + 30 * MIN)  # first reading + 10m window, up to the grid
    assert times[-1] == iso_z(START + 7 * HOUR + 30 * MIN)  # the last grid time with data
    assert len(rows) == len(times) * BOARDS
    assert {"at", "source_id", "metric", "status", "z", "alerting", "reason"} <= set(rows[0])
    assert err.startswith("replayed 15 sweeps every 30m")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give --input FILE, or --from"),
        (["--input", "x.jsonl", "--every", "0"], "--every must be longer than 0"),
        (["--input", "x.jsonl", "--from", "soon"], "invalid timestamp"),
        (["--input", "x.jsonl", "--consecutive", "0"], "--consecutive"),
    ],
)
def test_bad_usage_exits_64(args: list[str], message: str) -> None:
    code, _, err = replay(*args)
    assert code == 64 and message in err and "Traceback" not in err


def test_an_unreadable_input_exits_3(tmp_path: Path) -> None:
    code, _, err = replay("--input", str(tmp_path / "missing.jsonl"))
    assert code == 3 and "cannot read" in err and err.count("\n") == 1
