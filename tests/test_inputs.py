"""Reading telemetry files: JSON lines (incl. the stdlib's NaN tokens), arrays, API pages, CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleetscan.errors import InputError
from fleetscan.inputs import read_rows

ROW = {
    "source_id": "a",
    "metric": "temperature",
    "value": 21.5,
    "timestamp": "2026-06-12 10:00:00.123",
    "tags": {"room": "lab"},
}


def test_json_lines_with_nan_tokens_count_against_their_series(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    lines = [json.dumps(ROW), json.dumps({**ROW, "value": float("nan")}), "{not json", ""]
    path.write_text("\n".join(lines) + "\n")
    parsed = read_rows(path)
    assert [r.value for r in parsed.readings] == [21.5]
    assert parsed.readings[0].tags == {"room": "lab"}
    assert parsed.readings[0].ts_ms == 1781258400123
    assert parsed.skipped == {"NaN or infinite value": 1, "malformed JSON line": 1}
    assert parsed.skipped_by_series[("a", "temperature")] == 1


def test_a_saved_api_page_and_a_json_array_are_read_whole(tmp_path: Path) -> None:
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"data": [ROW, ROW], "count": 2}))
    array = tmp_path / "array.json"
    array.write_text(json.dumps([ROW, {**ROW, "value": None}]))
    assert len(read_rows(page).readings) == 2
    parsed = read_rows(array)
    assert len(parsed.readings) == 1 and parsed.skipped == {"null value": 1}


def test_csv_with_tags_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("timestamp,value,tag.room\n1781258400,21.5,lab\n1781258402,oops,lab\n")
    parsed = read_rows(path, default_source="board", default_metric="temperature")
    assert [(r.source_id, r.metric, r.tags) for r in parsed.readings] == [
        ("board", "temperature", {"room": "lab"})
    ]
    assert parsed.skipped == {"non-numeric value": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [("a,b\n1,2\n", "needs a header"), (b"\xff\xfe\x00", "not UTF-8")],
)
def test_unreadable_files_are_one_clear_error(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    path = tmp_path / "bad.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_rows(path)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_rows(tmp_path / "nope.jsonl")
