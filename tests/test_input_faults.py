"""Bad input files: each gets a precise message and a count, never a traceback, never exit 0
when nothing could be read. Through the real CLI (`fleet`, `device`, `replay --input`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.commands import replay as replay_command
from fleetscan.inputs import read_rows
from fleetscan.timeutil import plexus_timestamp

T0 = 1_781_258_400_000  # 2026-06-12 10:00 UTC


def line(source: str, ts: object, value: object = 21.0) -> str:
    return json.dumps(
        {"source_id": source, "metric": "temperature", "value": value, "timestamp": ts}
    )


def fleet_rows(n_sources: int = 6, minutes: int = 20) -> list[str]:
    return [
        line(f"esp32-{s}", plexus_timestamp(T0 + k * 60_000), 21.0 + 0.1 * ((k + s) % 3))
        for s in range(n_sources)
        for k in range(minutes)
    ]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), terminal_width=200)
    return result.exit_code, result.stdout, result.stderr


COMMANDS = [
    ["fleet", "--metric", "temperature", "--baseline", "0", "--input"],
    ["device", "--input"],
    ["replay", "--metric", "temperature", "--baseline", "0", "--input"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_line_nested_too_deeply_is_one_skipped_row(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join([*fleet_rows(), '{"a":' * 100_000 + "1" + "}" * 100_000]) + "\n")
    code, _, err = run(*command, str(path))
    assert "Traceback" not in err and "RecursionError" not in err
    assert "1 JSON nested too deeply" in err, err
    assert code in (0, 1, 2), err


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_csv_field_over_128_kib_is_one_skipped_row(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "big.csv"
    body = [
        f"{plexus_timestamp(T0 + k * 60_000)},{21 + k % 2},esp32-1,temperature" for k in range(20)
    ]
    body.insert(5, f"{plexus_timestamp(T0)},{'9' * 200_000},esp32-1,temperature")
    path.write_text("timestamp,value,source_id,metric\n" + "\n".join(body) + "\n")
    code, _, err = run(*command, str(path))
    assert "Traceback" not in err and "field larger" not in err
    assert "1 CSV field over 128 KiB" in err, err


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_text("\n".join(fleet_rows()) + "\n", encoding="utf-8-sig")
    assert len(read_rows(path).readings) == 120


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_empty_file_says_empty_not_csv(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    code, _, err = run(*command, str(path))
    assert code == 3 and "is empty" in err and "CSV" not in err, err


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_missing_file_is_unknown_not_a_usage_error(tmp_path: Path, command: list[str]) -> None:
    code, _, err = run(*command, str(tmp_path / "nosuch.csv"))
    assert code == 3 and "cannot read" in err and "Traceback" not in err, err


@pytest.mark.parametrize("command", COMMANDS[:2], ids=lambda c: c[0])
def test_a_file_where_no_row_can_be_read_is_not_ok(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "junk.jsonl"
    path.write_text('{"x": 1}\n{"y": 2}\n')
    code, _, err = run(*command, str(path))
    assert code == 3 and "no row of" in err and "skipped 2 rows" in err, err


def test_a_short_csv_row_is_skipped_not_a_new_stream(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text(
        "timestamp,value,source_id,metric\n"
        f"{plexus_timestamp(T0)},21.0,esp32-1,temperature\n"
        f"{plexus_timestamp(T0 + 60_000)},21.5\n"
    )
    parsed = read_rows(path, default_source="input", default_metric="value")
    assert [r.source_id for r in parsed.readings] == ["esp32-1"]
    assert parsed.skipped == {"CSV row with fewer fields than the header": 1}


def test_bad_timestamps_are_counted_as_bad_timestamps_not_nan_readings(tmp_path: Path) -> None:
    path = tmp_path / "ts.jsonl"
    path.write_text("\n".join([*fleet_rows(), line("esp32-1", "yesterday")]) + "\n")
    code, out, err = run(
        "fleet", "--metric", "temperature", "--baseline", "0", "--input", str(path)
    )
    assert "skipped 1 row: 1 bad timestamp" in err
    assert "NaN/null" not in out


def test_absurd_timestamps_are_flagged_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "far.jsonl"
    rows = [*fleet_rows(), line("esp32-1", 1_000_000_000_000_000), line("esp32-2", 1e17)]
    path.write_text("\n".join(rows) + "\n")
    code, out, err = run(
        "fleet", "--metric", "temperature", "--baseline", "0", "--input", str(path)
    )
    assert "Traceback" not in err and code in (1, 2), err
    assert "stamped in the future" in out


def test_a_source_whose_rows_are_all_1970_is_invalid_clock_not_set(tmp_path: Path) -> None:
    path = tmp_path / "nontp.jsonl"
    no_ntp = [line("esp32-9", 5_000 + k * 60_000) for k in range(20)]  # millis() since boot
    path.write_text("\n".join([*fleet_rows(), *no_ntp]) + "\n")
    code, out, err = run(
        "fleet",
        "--metric",
        "temperature",
        "--baseline",
        "0",
        "--format",
        "jsonl",
        "--input",
        str(path),
    )
    records = {r["source_id"]: r for r in map(json.loads, out.splitlines())}
    assert records["esp32-9"]["status"] == "invalid", err
    assert "clock not set" in str(records["esp32-9"]["reason"])


@pytest.mark.parametrize("ts", [5_000, 253_402_000_000_000, 100_000_000_000_000_000])
def test_replay_skips_and_counts_a_row_from_1970_or_9999(tmp_path: Path, ts: int) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join([*fleet_rows(minutes=60), line("esp32-1", ts)]) + "\n")
    code, out, err = run(
        "replay", "--metric", "temperature", "--baseline", "0", "--input", str(path)
    )
    assert code == 0, err
    assert "skipped 1 row: 1 stamped" in err
    assert "replayed 10 sweeps every 5m" in out


def test_replay_refuses_an_absurd_grid_and_shows_progress_on_a_big_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_command, "WARN_SWEEPS", 100)  # a big grid, small enough to test
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(fleet_rows(minutes=180)) + "\n")
    base = ["replay", "--metric", "temperature", "--baseline", "0", "--input", str(path)]
    code, _, err = run(*base, "--from", "2000-01-01T00:00:00Z", "--every", "1m")
    assert code == 64 and "more than 200,000" in err
    code, _, err = run(*base, "--from", "2026-06-12T10:00:00Z", "--every", "1m")
    assert code == 0, err
    assert "replaying 180 sweeps" in err and "replayed 90 of 180 sweeps" in err
