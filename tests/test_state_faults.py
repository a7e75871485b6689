"""The state file read back: every row validated, every failure named, nothing overwritten."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.errors import StateError
from fleetscan.lifecycle import SeriesState
from fleetscan.state import open_state
from fleetscan.sweeps.step import SweepState


def stored(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    with open_state(path) as store:
        state = SweepState(
            last_sweep_ms=1_781_258_400_000,
            swept_ms={"temperature": 1_781_258_400_000},
            series={("esp32-01", "temperature"): SeriesState(streak=2)},
        )
        store.commit(state, [])
    return path


@pytest.mark.parametrize("document", ["[]", "null", "3", '"x"'])
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE series SET state = ?",
        "INSERT OR REPLACE INTO meta VALUES ('storms', ?)",
        "INSERT INTO outbox (source_id, metric, value, ts_ms, tags) VALUES ('a', 'm', 1, 1, ?)",
    ],
    ids=["series", "storms", "outbox-tags"],
)
def test_valid_json_of_the_wrong_type_is_a_clean_move_it_aside(
    tmp_path: Path, statement: str, document: str
) -> None:
    if "storms" in statement and document == "[]":
        document = "{}"  # no storms is a valid list; an object is the wrong type there
    path = stored(tmp_path)
    db = sqlite3.connect(path)
    db.execute(statement, (document,))
    db.commit()
    db.close()
    before = path.read_bytes()
    with open_state(path) as store, pytest.raises(StateError) as info:
        store.load()
        store.outbox()
    assert "move it aside" in str(info.value)
    assert path.read_bytes() == before


def test_a_state_path_under_proc_says_what_failed(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["fleet", "--metric", "t", "--state", "/proc/fleetscan-state.db", "--lock-wait", "0.2"],
        env={"PLEXUS_API_KEY": "plx_" + "p" * 32, "PLEXUS_ENDPOINT": "http://127.0.0.1:9"},
    )
    assert result.exit_code == 3
    assert "another fleetscan sweep" not in result.stderr
    assert "cannot create fleetscan-state.db.lock" in result.stderr, result.stderr
