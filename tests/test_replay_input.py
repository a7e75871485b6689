"""Replay's fast file loader takes, converts and skips rows exactly as `read_rows` does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fleetscan.inputs import read_rows
from fleetscan.sweeps.replay import History
from fleetscan.sweeps.replay_input import load_history

TAGS = {"site": "hq", "room": "lab"}
LINES = [
    {"source_id": "a", "metric": "t", "value": 21.5, "timestamp": "2026-06-12 10:00:00.123", "tags": TAGS},
    {"source_id": "b", "metric": "t", "value": 20, "timestamp": "2026-06-12 09:59:59.999"},
    {"source_id": "a", "metric": "t", "value": "21.7", "timestamp": "2026-06-12 10:00:30.000", "tags": TAGS},
    {"source_id": "a", "metric": "t", "value": None, "timestamp": "2026-06-12 10:01:00.000"},
    {"source_id": "c", "metric": "t", "value": 1.0, "timestamp": 1781258400.5, "tags": {"site": "hq", "room": 7}},
    {"source_id": "c", "metric": "t", "value": 1.5, "timestamp": "2026-06-12T10:02:00Z"},
    {"source_id": "d", "metric": "t", "value": 2.0, "timestamp": "2026-02-30 10:00:00.000"},
    {"source_id": "", "metric": "t", "value": 2.0, "timestamp": "2026-06-12 10:00:00.000"},
    {"source_id": "a", "metric": "h", "value": 40.0, "timestamp": "2026-06-12 10:00:00.000"},
    {"source_id": "a", "metric": "t", "value": True, "timestamp": "2026-06-12 10:03:00.000"},
    {"source_id": "b", "metric": "t", "value": 19.0, "timestamp": "2026-06-12 10:00:00.000", "tags": {"site": "annex"}},
]  # fmt: skip


def write(path: Path, extra: list[str]) -> Path:
    lines = [json.dumps(row) for row in LINES] + extra
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def by_row(history: History, metric: str) -> list[tuple[str, int, float, str]]:
    h = history.metrics[metric]
    return sorted(
        (
            h.source_ids[s],
            int(t),
            float(v),
            h.labels[lab] if lab >= 0 else "",
        )
        for s, t, v, lab in zip(h.source, h.ts_ms, h.value, h.label, strict=True)
    )


@pytest.mark.parametrize("group_by", [(), ("site", "room")])
def test_fast_loader_equals_read_rows(tmp_path: Path, group_by: tuple[str, ...]) -> None:
    extra = [
        "",
        "not json",
        "[1, 2]",
        '{"source_id": "e", "metric": "t", "value": NaN, "timestamp": 5}',
    ]
    path = write(tmp_path / "rows.jsonl", extra)
    fast, skipped = load_history(path, ["t"], group_by=group_by)
    parsed = read_rows(path)
    slow = History.from_readings(parsed.readings, ["t"], group_by=group_by)
    assert by_row(fast, "t") == by_row(slow, "t")
    assert np.all(np.diff(fast.metrics["t"].ts_ms) >= 0)
    assert sorted(skipped.split(": ", 1)[1].split(", ")) == sorted(
        parsed.skipped_summary().split(": ", 1)[1].split(", ")
    )
    assert skipped.startswith("skipped 7 rows")


def test_csv_goes_through_read_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(
        "timestamp,source_id,metric,value,tag.room\n"
        "2026-06-12 10:00:00.000,a,t,21.5,lab\n"
        "2026-06-12 10:00:30.000,b,t,oops,lab\n",
        encoding="utf-8",
    )
    history, skipped = load_history(path, ["t"], group_by=("room",))
    assert by_row(history, "t") == [("a", 1781258400000, 21.5, "lab")]
    assert skipped == "skipped 1 row: 1 non-numeric value"
