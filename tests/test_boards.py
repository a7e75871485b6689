"""One finding per board when all its sensors are bad together (a missing BME280, a dead board)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_helpers import START, invoke, write_jsonl

from fleetscan.simulate import FleetSpec, SimulatedFleet, parse_fault

METRICS = ["--metric", "temperature", "--metric", "humidity", "--metric", "pressure"]


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    faults = ("esp32-bme280-05:dropout@330m", "esp32-bme280-12:random@0s")
    spec = FleetSpec(
        boards=20,
        seed=7,
        start_ms=START,
        duration_s=6 * 3600,
        cadence_s=20.0,
        faults=tuple(parse_fault(t) for t in faults),
    )
    path = tmp_path_factory.mktemp("boards") / "rows.jsonl"
    readings = SimulatedFleet(spec).iter_readings(["temperature", "humidity", "pressure"])
    return write_jsonl(path, readings)


def test_a_board_bad_on_every_metric_is_one_finding(rows: Path) -> None:
    code, out, err = invoke(["fleet", "--input", str(rows), *METRICS, "--min-peers", "3"])
    assert code == 1, err
    lines = err.splitlines()
    boards = [line for line in lines if ": all 3 sensors " in line]
    assert len(boards) == 2
    assert boards[0].startswith("fleetscan: esp32-bme280-05: all 3 sensors stale (no reading for")
    assert boards[0].endswith("the board is offline, not 3 sensors")
    assert boards[1].startswith("fleetscan: esp32-bme280-12: all 3 sensors invalid (values look")
    assert boards[1].endswith("(BME280 missing?)): one board fault, not 3")
    assert len([line for line in out.splitlines() if "esp32-bme280-12" in line]) == 3  # still shown


def test_one_metric_is_never_a_board_finding(rows: Path) -> None:
    code, _, err = invoke(
        ["fleet", "--input", str(rows), "--metric", "humidity", "--min-peers", "3"]
    )
    assert code == 1 and ": all " not in err
