"""Loading replay history from a file: `decode.read_columns`'s columns as a `History`.

A week of a 50-board fleet is 1.5 million rows. `decode.read_columns` is the one file loader:
files of plain Plexus rows are decoded by msgspec straight into columns, and any other file (CSV,
JSON arrays, saved API responses, a file with a malformed row) takes the per-row reader
(`inputs.read_rows`), so every row is accepted, converted or skipped as `read_rows` says. Here
the columns are split by metric, put in time order, and rows no sweep grid can span are left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fleetscan.columns import RowColumns
from fleetscan.decode import read_columns
from fleetscan.sweeps.replay import History, MetricHistory
from fleetscan.telemetry import ParsedRows
from fleetscan.timeutil import EPOCH_MS_CUTOFF, iso_z

CLOCK_NOT_SET = "stamped before 2001 (clock not set?)"


def load_history(
    path: Path,
    metrics: Sequence[str],
    *,
    group_by: Sequence[str] = (),
    latest_ms: int | None = None,
) -> tuple[History, str]:
    """The rows of `metrics` in `path` as a `History`, and a note on skipped rows ("" if none).

    Rows stamped before 2001 (a clock never set) or after `latest_ms` are skipped and counted:
    one such row would stretch the replay's sweep grid from 1970 or to 9999 (millions of sweeps
    over nothing).
    """
    rows = read_columns(path, group_by=group_by)
    skipped = Counter(rows.skipped)
    return _history(rows, metrics, latest_ms, skipped), _summary(skipped)


def _history(
    rows: RowColumns, metrics: Sequence[str], latest_ms: int | None, skipped: Counter[str]
) -> History:
    """The rows of each metric in time order; those outside the sweeps' time counted in `skipped`."""
    code = {m: i for i, m in enumerate(rows.metrics)}
    early = rows.ts_ms < EPOCH_MS_CUTOFF
    late = rows.ts_ms > latest_ms if latest_ms is not None else np.zeros(len(rows), bool)
    out = {}
    for metric in dict.fromkeys(metrics):
        wanted = rows.metric == code.get(metric, -1)
        skipped[CLOCK_NOT_SET] += int((wanted & early).sum())
        if latest_ms is not None:
            skipped[f"stamped after {iso_z(latest_ms)}"] += int((wanted & late).sum())
        out[metric] = MetricHistory.in_time_order(
            metric, rows.source_ids, rows.labels, rows.ts_ms, rows.value, rows.source, rows.label,
            keep=np.flatnonzero(wanted & ~early & ~late),
        )  # fmt: skip
    return History(out)


def _summary(skipped: Counter[str]) -> str:
    return ParsedRows(skipped=+skipped).skipped_summary()
