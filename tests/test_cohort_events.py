"""A group of boards found to move together (no tags) that leaves the fleet together is ONE
cohort-event finding naming the boards and their shared change: in the replay summary, the
JSONL and the lifecycle (begun, ongoing, over), as storms are, and no per-board alert."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sweep_helpers import invoke, jsonl

from fleetscan.fleet.status import Status
from fleetscan.fleet.sweep import FleetResult, Said
from fleetscan.simulate import FleetSpec, SimulatedFleet
from fleetscan.simulate.realism import RealWorld, SharedEvent
from fleetscan.sweeps.step import cohort_events
from fleetscan.timeutil import iso_z

START = 1_781_222_400_000  # 2026-06-12 00:00 UTC
HOUR = 3_600_000
ONSET = 50 * HOUR  # 2026-06-14 02:00 UTC, four hours of +4 °C
SPEC = {"boards": 20, "seed": 3, "start_ms": START, "duration_s": 3 * 86_400, "cadence_s": 60.0}
CORNER = tuple(SimulatedFleet(FleetSpec(**SPEC)).boards[5:9])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    warm = SharedEvent(boards=CORNER, start_offset_ms=ONSET, duration_ms=4 * HOUR, delta_c=4.0)
    fleet = SimulatedFleet(FleetSpec(**SPEC, real=RealWorld(shared_events=(warm,))))  # type: ignore[arg-type]
    path = tmp_path_factory.mktemp("corner") / "history.jsonl"
    fleet.write_jsonl(path, metrics=["temperature"])
    return path


def replay(history: Path, *extra: str) -> tuple[int, str, str]:
    window = ["--from", iso_z(START + ONSET - HOUR // 2), "--to", iso_z(START + ONSET + 6 * HOUR)]
    return invoke(["replay", "--input", str(history), "--metric", "temperature", *window, *extra])


def test_a_corner_warming_together_is_one_cohort_event_not_four_alerts(history: Path) -> None:
    code, out, err = replay(history)
    assert code == 0, err
    head, *rest = out.splitlines()
    assert ": 0 alerts" in head and "would have alerted" not in out
    about_corner = [line for line in rest if CORNER[0] in line]
    assert len(about_corner) == 1, out  # one finding, however many sweeps it lasted
    (line,) = about_corner
    assert "4 boards that usually move together" in line
    assert f"({', '.join(CORNER)})" in line  # named, and nobody else
    change = float(line.split(" moved ")[1].split()[0])
    assert 3.5 < change < 4.8  # the shared change, in °C


def test_the_jsonl_and_the_lifecycle_carry_the_cohort_event(history: Path) -> None:
    code, out, _ = replay(history, "--format", "jsonl")
    assert code == 0
    records = [r for r in jsonl(out) if r["source_id"] in CORNER]
    assert not any(r["alerting"] for r in records)
    during = [r for r in records if r["finding"] == "cohort event"]
    assert {r["source_id"] for r in during} == set(CORNER)
    assert {r["storm"] for r in during} == {f"cohort ~{CORNER[0]}"}
    assert all(r["cohort"] == f"~{CORNER[0]}" and r["shared_change"] > 0 for r in during)
    assert 3.5 < max(float(r["shared_change"]) for r in during) < 4.8  # type: ignore[arg-type]
    onsets = sorted({str(r["at"]) for r in during})
    assert onsets[0] >= iso_z(START + ONSET) and onsets[-1] <= iso_z(START + ONSET + 5 * HOUR)
    before = [r for r in records if str(r["at"]) < iso_z(START + ONSET)]
    assert before and not any(r["finding"] for r in before)


def _explained(source_id: str, cohort: str, change: float) -> FleetResult:
    """An `ok` result that its discovered neighbours' shared `change` explained."""
    nan = math.nan
    return FleetResult(
        source_id=source_id,
        metric="temperature",
        at_ms=START,
        cohort=cohort,
        status=Status.OK,
        score=0.0,
        value=nan,
        count=10,
        age_ms=0.0,
        fleet_median=nan,
        fleet_scale=nan,
        z=0.0,
        offset=change,
        baseline_offset=0.0,
        peers=10,
        explain=Said(""),
        shared_change=change,
    )


def test_groups_moving_by_about_the_same_change_at_once_are_one_cohort_event() -> None:
    results = [
        *(_explained(f"a{i}", "~a0", 2.0) for i in range(3)),  # three rooms of one HVAC change
        *(_explained(f"b{i}", "~b0", 1.6) for i in range(5)),
        *(_explained(f"c{i}", "~c0", 2.4) for i in range(2)),
        *(_explained(f"d{i}", "~d0", -2.0) for i in range(2)),  # another room cooling: apart
    ]
    found = {s.cohort: s for s in cohort_events(results, [])}
    assert set(found) == {"~a0", "~d0"}
    assert len(found["~a0"].members) == 10
    assert found["~a0"].change == pytest.approx(1.8)  # the median of the ten boards
    assert found["~d0"].members == ("d0", "d1")
