"""`--clickhouse` pointed at the wrong place: one clear line, the right exit code, and nothing
created or changed where it pointed (chdb makes a data directory of any path it opens)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.sandbox.keys import ORG_ID

pytest.importorskip("chdb", reason="the clickhouse extra: pip install -e '.[test]'")

from clickhouse_fixtures import create_plexus_store  # noqa: E402

ROW = {"source_id": "esp32-bme280-01", "metric": "temperature", "value": 21.5,
       "timestamp": "2026-06-12 09:59:00.000", "tags": {"room": "lab"}}  # fmt: skip
SWEEP = ["fleet", "--metric", "temperature", "--at", "2026-06-12T10:00:00Z"]
REPLAY = ["replay", "--metric", "temperature", "--from", "2026-06-12T09:00:00Z"]


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize("command", [SWEEP, REPLAY])
def test_a_missing_data_directory_is_a_usage_error_and_is_not_created(
    tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "no-such-store"
    result = CliRunner().invoke(app, [*command, "--clickhouse", f"chdb:{missing}"])
    assert result.exit_code == 64, result.output
    assert "no ClickHouse data directory there" in result.output
    assert "Traceback" not in result.output
    assert not missing.exists()


def test_a_directory_that_is_not_a_clickhouse_store_is_left_as_it_was(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"\xff\xd8")
    result = CliRunner().invoke(app, [*SWEEP, "--clickhouse", f"chdb:{folder}"])
    assert result.exit_code == 64, result.output
    assert tree(folder) == ["a.jpg"]
    empty = CliRunner().invoke(app, [*SWEEP, "--clickhouse", "chdb:"])
    assert empty.exit_code == 64, empty.output


def test_a_store_without_the_database_names_it_and_what_to_change(tmp_path: Path) -> None:
    create_plexus_store(tmp_path / "ch", [ROW], org=ORG_ID)
    result = CliRunner().invoke(
        app, [*SWEEP, "--clickhouse", f"chdb:{tmp_path / 'ch'}", "--database", "plexus_eu"]
    )
    assert result.exit_code == 3, result.output
    assert "no table plexus_eu.telemetry" in result.output
    assert "--database" in result.output
    found = CliRunner().invoke(app, [*SWEEP, "--clickhouse", f"chdb:{tmp_path / 'ch'}"])
    assert "no table" not in found.output, found.output
