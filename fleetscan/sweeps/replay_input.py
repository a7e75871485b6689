"""Loading replay history from a file straight into arrays, fast for large JSON-lines files.

A week of a 50-board fleet is 1.5 million rows. `inputs.read_rows` makes a validated `Reading`
of each (about 7 µs a row); here plain Plexus rows (`source_id`, `metric` strings, a finite
number `value`, a `YYYY-MM-DD HH:MM:SS.mmm` `timestamp`, string `tags`) go straight into columns
and their timestamps are converted all at once by NumPy. Every other row goes through
`telemetry.parse_row`, the one validator, so it is accepted, converted or skipped exactly as
`read_rows` would. CSV files, JSON arrays and saved API responses are read with `read_rows`.
Files of plain rows only are decoded by msgspec straight into columns (`decode.read_lines`);
the line-by-line reader below is the fallback for files with any other row.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from fleetscan.columns import RowColumns
from fleetscan.decode import read_lines
from fleetscan.errors import InputError
from fleetscan.fleet.batch import cohort_label
from fleetscan.inputs import TOO_DEEP, read_rows
from fleetscan.sweeps.replay import History, MetricHistory
from fleetscan.telemetry import Reading, parse_row
from fleetscan.timeutil import EPOCH_MS_CUTOFF, iso_z, parse_timestamp_ms

CLOCK_NOT_SET = "stamped before 2001 (clock not set?)"

_PLEXUS_MS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}")


class _Columns:
    """Rows of the wanted metrics as growing lists; timestamps kept as text until the end."""

    def __init__(self, metrics: Sequence[str], group_by: Sequence[str]) -> None:
        self.group_by = tuple(group_by)
        self.cols: dict[str, tuple[list[Any], list[float], list[int], list[int]]] = {
            m: ([], [], [], []) for m in dict.fromkeys(metrics)
        }
        self.sources: dict[str, int] = {}
        self.labels: dict[str, int] = {}
        self._by_tags: dict[tuple[tuple[str, str], ...], int] = {}
        self.skipped: Counter[str] = Counter()

    def label(self, tags: Any) -> int:
        """The row's cohort label index (-1: no group-by tag), memoised by the tags."""
        if not self.group_by or not tags:
            return -1
        key = tuple(tags.items())
        found = self._by_tags.get(key)
        if found is None:
            found = -1
            if not tags.keys().isdisjoint(self.group_by):
                text = cohort_label(tags, self.group_by)
                found = self.labels.setdefault(text, len(self.labels))
            self._by_tags[key] = found
        return found

    def add(self, metric: str, source_id: str, ts: Any, value: float, label: int) -> None:
        col = self.cols[metric]
        s = self.sources.get(source_id)
        if s is None:
            s = self.sources[source_id] = len(self.sources)
        col[0].append(ts)
        col[1].append(value)
        col[2].append(s)
        col[3].append(label)

    def add_reading(self, r: Reading) -> None:
        if r.metric in self.cols:
            self.add(r.metric, r.source_id, r.ts_ms, r.value, self.label(r.tags))

    def history(self, latest_ms: int | None = None) -> History:
        """The columns as a `History`. Rows stamped before 2001 (a clock never set) or after
        `latest_ms` are skipped and counted: one such row would stretch the replay's sweep grid
        from 1970 or to 9999 (millions of sweeps over nothing)."""
        out = {}
        ids, labels = tuple(self.sources), tuple(self.labels)
        for metric, (ts, value, src, lab) in self.cols.items():
            ts_ms, ok = _timestamps(ts)
            self.skipped["bad timestamp"] += int((~ok).sum())
            early = ok & (ts_ms < EPOCH_MS_CUTOFF)
            late = ok & (ts_ms > latest_ms) if latest_ms is not None else np.zeros_like(ok)
            self.skipped[CLOCK_NOT_SET] += int(early.sum())
            if latest_ms is not None:
                self.skipped[f"stamped after {iso_z(latest_ms)}"] += int(late.sum())
            ok &= ~early & ~late
            out[metric] = MetricHistory.in_time_order(
                metric, ids, labels, ts_ms, value, src, lab, keep=np.flatnonzero(ok)
            )
        for reason in [r for r, n in self.skipped.items() if not n]:
            del self.skipped[reason]
        return History(out)


def _timestamps(values: list[Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Epoch ms from a mix of ints (already converted) and Plexus timestamp strings, and which
    of them are valid (an impossible date, such as February 30, is not)."""
    texts = [i for i, v in enumerate(values) if isinstance(v, str)]
    out = np.array([0 if isinstance(v, str) else v for v in values], dtype=np.int64)
    ok = np.ones(len(values), bool)
    if texts:
        strings = [values[i] for i in texts]
        try:
            out[texts] = np.array(strings, dtype="datetime64[ms]").astype(np.int64)
        except ValueError:  # an impossible date somewhere: the validator decides, row by row
            for i, text in zip(texts, strings, strict=True):
                try:
                    out[i] = parse_timestamp_ms(text)
                except InputError:
                    ok[i] = False
    return out, ok


def load_history(
    path: Path,
    metrics: Sequence[str],
    *,
    group_by: Sequence[str] = (),
    latest_ms: int | None = None,
) -> tuple[History, str]:
    """The rows of `metrics` in `path` as a `History`, and a note on skipped rows ("" if none).

    Rows stamped before 2001 or after `latest_ms` are skipped and counted (see `_Columns.history`).
    """
    columns = _Columns(metrics, group_by)
    try:
        with path.open("r", encoding="utf-8-sig") as handle:
            head = handle.read(1)
            while head and head.isspace():
                head = handle.read(1)
            handle.seek(0)
            first = handle.readline() if head == "{" else ""
            plain = head == "{" and not _is_api_response(first)
            typed = read_lines(path, group_by=group_by) if plain else None
            if typed is not None:
                return _from_columns(typed, metrics), typed.skipped_summary()
            if plain:
                _read_lines(columns, first, handle)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"cannot read {path}: not UTF-8 text") from None
    if not plain:
        parsed = read_rows(path)
        for r in parsed.readings:
            columns.add_reading(r)
        columns.skipped.update(parsed.skipped)
    return columns.history(latest_ms), _summary(columns.skipped)


def _from_columns(rows: RowColumns, metrics: Sequence[str]) -> History:
    """The typed decoder's columns (`decode.read_lines`) as a `History`."""
    code = {m: i for i, m in enumerate(rows.metrics)}
    out = {}
    for metric in dict.fromkeys(metrics):
        keep = np.flatnonzero(rows.metric == code.get(metric, -1))
        out[metric] = MetricHistory.in_time_order(
            metric, rows.source_ids, rows.labels, rows.ts_ms, rows.value, rows.source, rows.label,
            keep=keep,
        )  # fmt: skip
    return History(out)


def _is_api_response(line: str) -> bool:
    try:
        document = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return False
    return isinstance(document, dict) and isinstance(document.get("data"), list)


def _slow_line(columns: _Columns, line: str) -> None:
    """A line orjson refuses: the stdlib reads `NaN`/`Infinity` tokens; anything else is malformed."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        columns.skipped["malformed JSON line"] += 1
        return
    except RecursionError:
        columns.skipped[TOO_DEEP] += 1
        return
    if isinstance(row, dict) and isinstance(row.get("data"), list):
        row = row["data"]  # a saved API response on one line
    _slow(columns, row if isinstance(row, list) else [row])


def _read_lines(columns: _Columns, first: str, handle: Any) -> None:
    loads, match, cols = orjson.loads, _PLEXUS_MS.fullmatch, columns.cols
    for line in _lines(first, handle):
        if not line.strip():
            continue
        try:
            row = loads(line)
        except orjson.JSONDecodeError:
            _slow_line(columns, line)
            continue
        if type(row) is not dict:
            _slow(columns, [row])
            continue
        if isinstance(row.get("data"), list):  # a saved API response on one line
            _slow(columns, row["data"])
            continue
        metric, source, value, ts = (
            row.get("metric"),
            row.get("source_id"),
            row.get("value"),
            row.get("timestamp"),
        )
        tags = row.get("tags")
        if (
            type(metric) is str
            and metric
            and type(source) is str
            and source
            and (type(value) is float or type(value) is int)
            and math.isfinite(value)
            and type(ts) is str
            and match(ts)
            and (
                tags is None or (type(tags) is dict and all(type(v) is str for v in tags.values()))
            )
            and "__bad__" not in row
        ):
            if metric in cols:
                columns.add(metric, source, ts, float(value), columns.label(tags))
        else:
            _slow(columns, [row])


def _lines(first: str, handle: Any) -> Any:
    yield first
    yield from handle


def _slow(columns: _Columns, rows: list[Any]) -> None:
    """Rows that are not plain: through the validator, as `read_rows` would take them."""
    for row in rows:
        if not isinstance(row, dict):
            columns.skipped["row is not an object"] += 1
            continue
        try:
            columns.add_reading(parse_row(row))
        except InputError as exc:
            columns.skipped[str(exc)] += 1


def _summary(skipped: Counter[str]) -> str:
    total = sum(skipped.values())
    if total == 0:
        return ""
    parts = ", ".join(f"{n} {reason}" for reason, n in skipped.most_common())
    return f"skipped {total} row{'s' if total != 1 else ''}: {parts}"
