"""Typed decoding of Plexus telemetry JSON straight into `RowColumns`, with msgspec.

msgspec decodes a page (`{"data": [...]}`) or a JSON-lines file into small typed structs in C,
skipping the fields fleetscan does not read (`org_id`, `metadata`, and `tags` unless `--group-by`
needs them; then each row's tags stay raw JSON and each distinct text is decoded once); the
columns are then filled in a few list passes,
and the `YYYY-MM-DD HH:MM:SS.mmm` timestamps are checked and converted all at once by NumPy.

Anything a plain Plexus row does not hold (a missing field, a string or boolean value, another
timestamp form, an impossible date, a non-string group-by tag, a line that is not JSON) makes
the typed decoder give up and return None: the caller then takes the per-row path
(`telemetry.parse_rows`), so malformed input is skipped and counted exactly as it always was.
Null values are the one kind of bad row handled here, counted with the same reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from operator import attrgetter
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from fleetscan.columns import NO_LABEL, RowColumns
from fleetscan.fleet.robust import Bools, Ints

CHUNK_BYTES = 8 << 20  # JSON lines decoded at once: bounded memory, whatever the file size

# "YYYY-MM-DD HH:MM:SS.mmm": the separators' places, and the digits'.
_TS_LEN = 23
_SEPARATORS = {4: "-", 7: "-", 10: " ", 13: ":", 16: ":", 19: "."}
_DIGITS = [i for i in range(_TS_LEN) if i not in _SEPARATORS]


class _Row(msgspec.Struct, gc=False):
    source_id: str
    metric: str
    timestamp: str
    value: float | None = None  # missing or null: skipped as "null value", as parse_row does


@dataclass(frozen=True, eq=False)
class Decoded:
    """A page or chunk decoded, null values still in: `settle` tallies and drops them."""

    columns: RowColumns
    bad: Bools  # null values (the only bad rows the typed path keeps)

    def __len__(self) -> int:
        return len(self.columns)

    def settle(self, keep: Bools | None = None) -> RowColumns:
        """The rows `keep` picks (all by default), null values counted and dropped."""
        cols, bad = (
            (self.columns, self.bad)
            if keep is None
            else (
                self.columns.select(keep),
                self.bad[keep],
            )
        )
        if not bad.any():
            return cols
        skipped: Counter[str] = Counter()
        by_series: Counter[tuple[str, str]] = Counter()
        for i in np.flatnonzero(bad).tolist():
            skipped["null value"] += 1
            by_series[(cols.source_ids[cols.source[i]], cols.metrics[cols.metric[i]])] += 1
        kept = cols.select(~bad)
        return RowColumns(
            kept.source_ids,
            kept.metrics,
            kept.labels,
            kept.source,
            kept.metric,
            kept.ts_ms,
            kept.value,
            kept.label,
            skipped,
            by_series,
        )


class _TaggedRow(_Row, gc=False):
    tags: msgspec.Raw = msgspec.Raw(b"null")  # kept undecoded: rows share a few distinct tags


def _row_type(group_by: tuple[str, ...]) -> Any:
    """The row struct: with its `tags` kept as raw JSON when there are group-by keys."""
    return _TaggedRow if group_by else _Row


@cache
def _page_decoder(group_by: tuple[str, ...]) -> msgspec.json.Decoder[Any]:
    page = msgspec.defstruct("Page", [("data", list[_row_type(group_by)])], gc=False)  # type: ignore[misc]
    return msgspec.json.Decoder(page)


@cache
def _line_decoder(group_by: tuple[str, ...]) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(_row_type(group_by))


def decode_page(body: bytes, *, group_by: Sequence[str] = ()) -> Decoded | None:
    """A `/api/v1/telemetry` body as columns, or None when it needs the per-row path."""
    keys = tuple(group_by)
    try:
        rows = _page_decoder(keys).decode(body).data
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return _columns(rows, keys)


def read_lines(path: Path, *, group_by: Sequence[str] = ()) -> RowColumns | None:
    """A JSON-lines file of plain Plexus rows as columns, or None when it needs `read_rows`.

    Read in chunks of whole lines, so memory stays bounded by `CHUNK_BYTES` plus the columns.
    """
    keys = tuple(group_by)
    decoder = _line_decoder(keys)
    parts: list[RowColumns] = []
    with path.open("rb") as handle:
        carry = b""
        while True:
            block = handle.read(CHUNK_BYTES)
            data = carry + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            carry, data = data[cut:], data[:cut]
            if data.strip():
                try:
                    rows = decoder.decode_lines(data)
                except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
                    return None  # the per-row path says which rows and why
                decoded = _columns(rows, keys)
                if decoded is None:
                    return None
                parts.append(decoded.settle())
            if not block:
                break
    if not parts:
        return None  # an empty file: the per-row path says so
    return RowColumns.concat(parts)


def _columns(rows: list[Any], group_by: tuple[str, ...]) -> Decoded | None:
    sources: dict[str, int] = {}
    metrics: dict[str, int] = {}
    source = [sources.setdefault(s, len(sources)) for s in map(_SOURCE, rows)]
    metric = [metrics.setdefault(m, len(metrics)) for m in map(_METRIC, rows)]
    if "" in sources or "" in metrics:
        return None  # "missing source_id" / "missing metric": the validator says so
    ts_ms = plexus_ms(list(map(_TIMESTAMP, rows)))
    if ts_ms is None:
        return None
    values = list(map(_VALUE, rows))
    value = np.array(values, dtype=np.float64)  # None becomes NaN
    bad = ~np.isfinite(value)  # JSON has no NaN or infinity, and msgspec refuses 1e999
    labelled = _labels(rows, group_by)
    if labelled is None:
        return None
    label, labels = labelled
    columns = RowColumns(
        tuple(sources),
        tuple(metrics),
        labels,
        np.array(source, np.int64),
        np.array(metric, np.int64),
        ts_ms,
        value,
        label,
    )
    return Decoded(columns, bad)


_SOURCE, _METRIC, _TIMESTAMP, _VALUE = (
    attrgetter("source_id"),
    attrgetter("metric"),
    attrgetter("timestamp"),
    attrgetter("value"),
)


def _labels(rows: list[Any], group_by: tuple[str, ...]) -> tuple[Ints, tuple[str, ...]] | None:
    """Each row's cohort label code (NO_LABEL without a group-by tag) and the labels; None when
    a group-by tag is not a string (the validator's `str()` decides those).

    The tags stay raw JSON per row; each distinct text is decoded once.
    """
    if not group_by:
        return np.full(len(rows), NO_LABEL, np.int64), ()
    texts: dict[bytes, int] = {}
    seen = [texts.setdefault(bytes(t), len(texts)) for t in _tags(rows)]
    labels: dict[str, int] = {}
    table = np.full(len(texts), NO_LABEL, np.int64)
    for text, k in texts.items():
        tags = msgspec.json.decode(text)
        if not isinstance(tags, dict) or tags.keys().isdisjoint(group_by):
            continue  # no tags, or none of the group-by keys: says nothing about the cohort
        values = [tags.get(key, "") for key in group_by]
        if not all(isinstance(v, str) for v in values):
            return None
        table[k] = labels.setdefault("/".join(values), len(labels))
    out: Ints = table[np.array(seen, np.int64)] if seen else np.zeros(0, np.int64)
    return out, tuple(labels)


def _tags(rows: list[Any]) -> list[Any]:
    return list(map(attrgetter("tags"), rows))


def plexus_ms(texts: list[str]) -> Ints | None:
    """Epoch ms of Plexus `YYYY-MM-DD HH:MM:SS.mmm` (UTC) timestamps, all at once; None unless
    every one has exactly that form and is a real date and time (`parse_timestamp_ms` decides
    the others).

    >>> plexus_ms(["2026-06-12 10:00:00.123"]).tolist(), plexus_ms(["2026-02-30 10:00:00.000"])
    ([1781258400123], None)
    """
    if not texts:
        return np.zeros(0, np.int64)
    text = np.array(texts)
    if text.dtype.itemsize != 4 * _TS_LEN:
        return None
    chars = text.view(np.uint32).reshape(-1, _TS_LEN)  # shorter strings end in zeros
    digits = chars[:, _DIGITS] - ord("0")
    if (digits > 9).any() or (digits[:, 0:4] == 0).all(axis=1).any():  # year 0000: no such year
        return None
    for place, sep in _SEPARATORS.items():
        if (chars[:, place] != ord(sep)).any():
            return None
    if (chars[:, 17] > ord("5")).any():  # second 60 or more (numpy would roll it over)
        return None
    try:
        out: Ints = text.astype("datetime64[ms]").astype(np.int64)
    except ValueError:
        return None
    return out


def read_columns(path: Path, *, group_by: Sequence[str] = ()) -> RowColumns:
    """A telemetry file as columns: typed for plain JSON lines, else through `inputs.read_rows`
    (CSV, JSON arrays, saved API responses, and any file with a row the typed path declines)."""
    try:
        fast = read_lines(path, group_by=group_by)
    except OSError:
        fast = None  # read_rows says what is wrong with the file
    if fast is not None:
        return fast
    from fleetscan.inputs import read_rows  # the per-row path: only for files that need it

    return RowColumns.from_parsed(read_rows(path), group_by=group_by)
