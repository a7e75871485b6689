"""`fleetscan demo` runs inside the suite: every injected fault found, no healthy board alerted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetscan.cli import app


def test_demo_finds_the_injected_faults_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for name in ("PLEXUS_API_KEY", "PLEXUS_ENDPOINT", "PLEXUS_GATEWAY_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "verdict: 6 of 6 faulty boards caught, 0 of 44 healthy boards alerted" in result.stdout
    assert "--method tutorial: 0 anomalous samples" in result.stdout
    assert "Traceback" not in result.output
    assert os.listdir(tmp_path) == []  # no files left behind (plexus-python writes none either)
