"""`fleetscan demo` runs inside the suite: every injected fault found, no healthy board alerted.

The simulated weather, tides and days follow the clock, so the demo's verdict is checked as of fixed
moments (four hours of the day, two seasons), never as of the wall clock: a run at 03:00 and one
at 21:00 see different pressure and temperature levels, and the verdict must hold for both.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.timeutil import iso_z, parse_timestamp_ms

# One clock runs in every local run; the others are marked slow (each demo takes ~15 s) and run
# in CI and with `pytest --slow`.
CLOCKS = [
    "2026-12-01T15:00:00Z",
    pytest.param("2026-12-01T03:00:00Z", marks=pytest.mark.slow),
    pytest.param("2026-12-01T09:00:00Z", marks=pytest.mark.slow),
    pytest.param("2026-12-01T21:00:00Z", marks=pytest.mark.slow),
    pytest.param("2027-06-15T06:30:00Z", marks=pytest.mark.slow),
    pytest.param("2027-06-15T19:45:00Z", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("at", CLOCKS)
def test_demo_finds_the_injected_faults_and_nothing_else(
    at: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for name in ("PLEXUS_API_KEY", "PLEXUS_ENDPOINT", "PLEXUS_GATEWAY_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["demo", "--at", at])
    assert result.exit_code == 0, result.output
    assert "verdict: 6 of 6 faulty boards caught, 0 of 44 healthy boards alerted" in result.stdout
    assert "--method tutorial: 0 anomalous samples" in result.stdout
    assert f"sweep as of {iso_z(parse_timestamp_ms(at))}" in result.stdout
    assert "Traceback" not in result.output
    assert os.listdir(tmp_path) == []  # no files left behind (plexus-python writes none either)


def test_demo_rejects_an_unreadable_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(app, ["demo", "--at", "yesterday-ish"])
    assert result.exit_code != 0
    assert "invalid timestamp 'yesterday-ish'" in result.output
    assert "Traceback" not in result.output
