"""Typed decoding of Plexus telemetry JSON straight into `RowColumns`, with msgspec.

msgspec decodes a page (`{"data": [...]}`) or a JSON-lines file into small typed structs in C,
skipping the fields fleetscan does not read (`org_id`, `metadata`, and `tags` unless `--group-by`
needs them; then each row's tags stay raw JSON and each distinct text is decoded once); the
columns are then filled in a few list passes, and the `YYYY-MM-DD HH:MM:SS.mmm` timestamps are
checked and converted all at once by NumPy arithmetic on their digits. The metrics a sweep asked
for are decoded as known names, not copied per row. Both go a few MiB at a time (file chunks,
pieces of a big page, see `_decode_pieces`), so the row objects become columns while they are
still in the CPU's cache, with codes shared by the chunks so joining them recodes nothing.

A page only labels the rows that decide a cohort (per source and metric, the newest valid row
carrying a group-by tag, as `columns.batches` picks it), so the tags of the other rows are never
decoded; a file labels every row, since replays pick rows from any time span.

Anything a plain Plexus row does not hold (a missing field, a string or boolean value, another
timestamp form, an impossible date, a non-string group-by tag where it decides a cohort, a line
that is not JSON) makes the typed decoder give up and return None: the caller then takes the
per-row path (`telemetry.parse_rows`), so malformed input is skipped and counted exactly as it
always was. Null values are the one kind of bad row handled here, counted with the same reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from operator import attrgetter
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import numpy as np

from fleetscan.columns import NO_LABEL, ColumnsBuilder, RowColumns
from fleetscan.fleet.robust import Bools, Ints

CHUNK_BYTES = 8 << 20  # JSON lines decoded at once: bounded memory, whatever the file size
PIECE_BYTES = 2 << 20  # a big page is decoded in pieces of about this size (`_decode_pieces`)
_PAGE_HEAD = b'{"data":['  # how Plexus (and the sandbox) begin a telemetry page
_ROW_GAP = b'},{"'  # between two rows, among other places

# "YYYY-MM-DD HH:MM:SS.mmm": the separators' places, and the digits'.
_TS_LEN = 23
_SEPARATORS = {4: "-", 7: "-", 10: " ", 13: ":", 16: ":", 19: "."}
_DIGITS = [i for i in range(_TS_LEN) if i not in _SEPARATORS]


_Timestamp = Annotated[str, msgspec.Meta(min_length=_TS_LEN, max_length=_TS_LEN)]


@cache
def _row_type(tagged: bool, metrics: tuple[str, ...] = ()) -> Any:
    """The row struct. A timestamp is exactly Plexus's 23 characters (`plexus_ms` checks the
    rest); `metric` is one of `metrics` when they are given, so no row keeps a copy of its
    text; `tags` stay raw JSON when `tagged` (group-by keys) and are skipped otherwise. A missing
    or null `value` is NaN, skipped as "null value" as `parse_row` does."""
    fields: list[Any] = [
        ("source_id", str),
        ("metric", Literal.__getitem__(metrics) if metrics else str),
        ("timestamp", _Timestamp),
        ("value", float | None, None),
    ]
    if tagged:  # kept undecoded: rows share a few distinct tags
        fields.append(("tags", msgspec.Raw, msgspec.Raw(b"null")))
    return msgspec.defstruct("Row", fields, gc=False)


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


@cache
def _page_decoder(tagged: bool, metrics: tuple[str, ...] = ()) -> msgspec.json.Decoder[Any]:
    page = msgspec.defstruct("Page", [("data", list[_row_type(tagged, metrics)])], gc=False)  # type: ignore[misc]
    return msgspec.json.Decoder(page)


@cache
def _rows_decoder(tagged: bool, metrics: tuple[str, ...]) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(list[_row_type(tagged, metrics)])  # type: ignore[misc]


@cache
def _counted_page(tagged: bool, metrics: tuple[str, ...]) -> msgspec.json.Decoder[Any]:
    """The page with its `count`: for the last of its pieces (`_decode_pieces`)."""
    fields: list[Any] = [("data", list[_row_type(tagged, metrics)]), ("count", int | None, None)]  # type: ignore[misc]
    return msgspec.json.Decoder(msgspec.defstruct("Page", fields, gc=False))


@cache
def _line_decoder(tagged: bool) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(_row_type(tagged))


def decode_page(
    body: bytes, *, group_by: Sequence[str] = (), metrics: Sequence[str] = ()
) -> Decoded | None:
    """A `/api/v1/telemetry` body as columns, or None when it needs the per-row path; only the
    rows that decide a cohort are labelled (see the module doc). `metrics`, the ones asked
    for, are what the page should hold: decoded as known names (a page holding others is
    decoded again without that)."""
    keys = tuple(group_by)
    asked = tuple(dict.fromkeys(metrics))
    if len(body) >= 2 * PIECE_BYTES and body.startswith(_PAGE_HEAD):
        pieced = _decode_pieces(body, keys, asked)
        if pieced is not None:
            return pieced
    try:
        try:
            rows = _page_decoder(bool(keys), asked).decode(body).data
        except msgspec.ValidationError:
            if not asked:
                raise
            rows = _page_decoder(bool(keys)).decode(body).data  # another metric, or malformed
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return _columns(rows, keys, deciding_only=True)


def _decode_pieces(body: bytes, keys: tuple[str, ...], asked: tuple[str, ...]) -> Decoded | None:
    """A big page decoded piece by piece (each piece's row objects stay in the CPU's cache while
    they become columns), or None to decode it whole.

    The pieces are cut at `},{"` between rows about every `PIECE_BYTES`; each but the last is
    decoded as a JSON array `[row,...]`, the last (`{"data":[row,...` and the page's end) as
    the page. Where those four bytes are not between two rows of `data` (inside a string, or
    between objects nested in a row), the piece before them leaves a string or a nesting open,
    so it is not a JSON array of rows and the page is decoded whole; when every piece decodes,
    their rows are the page's rows. The page's `count` must match them too (guarding against
    a second `data` key, which the whole decode would take instead).
    """
    rows_decoder, page_decoder = _rows_decoder(bool(keys), asked), _counted_page(bool(keys), asked)
    seen, joined, bad, total = _Seen(), ColumnsBuilder(), [], 0
    start = len(_PAGE_HEAD)
    while True:
        cut = body.find(_ROW_GAP, start + PIECE_BYTES)
        try:
            if cut < 0:
                page = page_decoder.decode(_PAGE_HEAD + body[start:])
                rows, count = page.data, page.count
            else:
                rows, count = rows_decoder.decode(b"[" + body[start : cut + 1] + b"]"), None
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        decoded = _columns(rows, keys, deciding_only=True, seen=seen)
        if decoded is None:
            return None  # the whole page decides (a bad tag here may not decide a cohort there)
        total += len(rows)
        del rows
        joined.add(decoded.columns)
        bad.append(decoded.bad)
        if cut < 0:
            break
        start = cut + 2  # past "}," : the next row's "{"
    if count != total:
        return None
    return Decoded(joined.build(), np.concatenate(bad))


def read_lines(path: Path, *, group_by: Sequence[str] = ()) -> RowColumns | None:
    """A JSON-lines file of plain Plexus rows as columns, or None when it needs `read_rows`.

    Read in chunks of whole lines, so memory stays bounded by `CHUNK_BYTES` plus the columns.
    """
    keys = tuple(group_by)
    decoder = _line_decoder(bool(keys))
    joined = ColumnsBuilder()
    seen = _Seen()  # codes shared by every chunk
    with path.open("rb") as handle:
        carry = b""
        while True:
            block = handle.read(CHUNK_BYTES)
            last = not block
            data = carry + block if carry else block
            del block
            cut = len(data) if last else data.rfind(b"\n") + 1
            carry = data[cut:]
            try:  # a view of the chunk's whole lines, not a copy; blank lines give no rows
                rows = decoder.decode_lines(memoryview(data)[:cut])
            except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
                if data[:cut].strip():
                    return None  # the per-row path says which rows and why
                rows = []  # only whitespace
            if rows:
                decoded = _columns(rows, keys, deciding_only=False, seen=seen)
                del rows
                if decoded is None:
                    return None
                joined.add(decoded.settle())
            if last:
                break
    built = joined.build()
    return built if len(built) or built.skipped else None  # an empty file: the per-row path says so


@dataclass(eq=False)
class _Seen:
    """The names met so far, by code, shared by the chunks of one file or the pieces of one
    page: each chunk's codes go on from the earlier ones', so joining them needs no recoding
    (see `columns._recode`), and each distinct tags text is decoded once."""

    sources: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    tags: dict[bytes, int] = field(default_factory=dict)  # raw tags text -> label code


def _columns(
    rows: list[Any],
    group_by: tuple[str, ...],
    *,
    deciding_only: bool,
    seen: _Seen | None = None,
) -> Decoded | None:
    """The rows as columns, coded after the names in `seen` (which grows)."""
    seen = seen or _Seen()
    src, sources = _codes(list(map(_SOURCE, rows)), seen.sources)
    met, metrics = _codes(list(map(_METRIC, rows)), seen.metrics)
    if "" in sources or "" in metrics:
        return None  # "missing source_id" / "missing metric": the validator says so
    ts_ms = plexus_ms(list(map(_TIMESTAMP, rows)), sized=True)  # the decoder checked lengths
    if ts_ms is None:
        return None
    values = list(map(_VALUE, rows))
    value = np.array(values, dtype=np.float64)  # None becomes NaN
    bad = ~np.isfinite(value)  # JSON has no NaN or infinity, and msgspec refuses 1e999
    series = np.where(bad, -1, src * len(metrics) + met) if deciding_only else None
    labelled = _labels(rows, group_by, ts_ms, series=series, seen=seen)
    if labelled is None:
        return None
    label, labels = labelled
    columns = RowColumns(
        sources,
        metrics,
        labels,
        src,
        met,
        ts_ms,
        value,
        label,
    )
    return Decoded(columns, bad)


def _codes(names: list[str], seen: dict[str, int]) -> tuple[Ints, tuple[str, ...]]:
    """Each name's code, in first-seen order after the names already in `seen` (which grows),
    and all the names; a list of one name is compared, not hashed, row by row."""
    if names and names[0] == names[-1] and names.count(names[0]) == len(names):
        code = seen.setdefault(names[0], len(seen))  # one name (a page of one metric)
        return np.full(len(names), code, np.int64), tuple(seen)
    codes = np.array([seen.setdefault(n, len(seen)) for n in names], np.int64)
    return codes, tuple(seen)


_SOURCE, _METRIC, _TIMESTAMP, _VALUE = (
    attrgetter("source_id"),
    attrgetter("metric"),
    attrgetter("timestamp"),
    attrgetter("value"),
)


class _NotText(Exception):
    """A group-by tag that is not a string: the per-row path decides what it means."""


def _labels(
    rows: list[Any], group_by: tuple[str, ...], ts_ms: Ints, *, series: Ints | None, seen: _Seen
) -> tuple[Ints, tuple[str, ...]] | None:
    """Each row's cohort label code (NO_LABEL without a group-by tag) and the labels; None when
    a group-by tag is not a string (the validator's `str()` decides those).

    The tags stay raw JSON per row and each distinct text is decoded once. With `series` (each
    valid row's (source, metric) code, -1 for rows to skip) only the rows that decide a cohort
    are labelled, the newest valid row carrying a group-by tag of each series (see
    `_deciding_rows`), and the others are left NO_LABEL: `columns.batches` gives the same
    cohorts, and tags of the other rows are not even looked at.
    """
    if not group_by:
        return np.full(len(rows), NO_LABEL, np.int64), ()
    labels, codes = seen.labels, seen.tags

    def code(i: int) -> int:
        text = bytes(rows[i].tags)  # only the rows asked about: no list of every row's tags
        found = codes.get(text)
        if found is None:
            found = codes[text] = _label_code(text, group_by, labels)
        return found

    try:
        if series is None:
            return np.array([code(i) for i in range(len(rows))], np.int64), tuple(labels)
        label = np.full(len(rows), NO_LABEL, np.int64)
        picked = _deciding_rows(series, ts_ms, code)
        label[picked] = [code(i) for i in picked]
    except _NotText:
        return None
    return label, tuple(labels)


def _deciding_rows(series: Ints, ts_ms: Ints, code: Callable[[int], int]) -> list[int]:
    """Per series (code >= 0), the newest row carrying a group-by tag (`code` not NO_LABEL):
    the newest row of each series first, and only for series whose newest row carries none,
    all their rows."""
    rows = np.flatnonzero(series >= 0)
    first = [int(i) for i in rows[_newest(series[rows], ts_ms[rows])]]
    untagged = [series[i] for i in first if code(i) == NO_LABEL]
    if not untagged:
        return first
    rest = rows[np.isin(series[rows], untagged)]
    tagged = rest[np.array([code(int(i)) for i in rest], np.int64) != NO_LABEL]
    return [
        *(i for i in first if code(i) != NO_LABEL),
        *(int(i) for i in tagged[_newest(series[tagged], ts_ms[tagged])]),
    ]


def _newest(series: Ints, ts_ms: Ints) -> Ints:
    """The position of the newest entry of each distinct code in `series`: latest timestamp,
    then latest in arrival order, as `columns.batches` picks a source's cohort row."""
    if not len(series):
        return np.zeros(0, np.int64)
    if (np.diff(ts_ms) >= 0).all():  # oldest first, as pages come: the last of each code
        last = np.full(int(series.max()) + 1, -1, np.int64)
        np.maximum.at(last, series, np.arange(len(series)))
        out: Ints = last[last >= 0]
        return out
    order = np.lexsort((ts_ms, series))  # stable: equal times stay in arrival order
    ends: Ints = order[np.r_[series[order][1:] != series[order][:-1], True]]
    return ends


def _label_code(text: bytes, group_by: tuple[str, ...], labels: dict[str, int]) -> int:
    """The label code of one row's raw tags (NO_LABEL: none of the group-by keys)."""
    tags = msgspec.json.decode(text)
    if not isinstance(tags, dict) or tags.keys().isdisjoint(group_by):
        return NO_LABEL  # no tags, or none of the group-by keys: says nothing about the cohort
    values = [tags.get(key, "") for key in group_by]
    if not all(isinstance(v, str) for v in values):
        raise _NotText
    return labels.setdefault("/".join(values), len(labels))


def plexus_ms(texts: list[str], *, sized: bool = False) -> Ints | None:
    """Epoch ms of Plexus `YYYY-MM-DD HH:MM:SS.mmm` (UTC) timestamps, all at once; None unless
    every one has exactly that form and is a real date and time (`parse_timestamp_ms` decides
    the others). `sized`: every text is known to be 23 characters long (the typed decoder
    checked), so only their total is checked.

    >>> plexus_ms(["2026-06-12 10:00:00.123"]).tolist(), plexus_ms(["2026-02-30 10:00:00.000"])
    ([1781258400123], None)
    """
    n = len(texts)
    if not n:
        return np.zeros(0, np.int64)
    joined = "".join(texts)
    # As long as 23 per text and none longer: every one exactly 23 characters.
    if len(joined) != _TS_LEN * n or not joined.isascii():
        return None
    if not sized and max(map(len, texts)) != _TS_LEN:
        return None
    chars = np.frombuffer(joined.encode("ascii"), np.uint8).reshape(n, _TS_LEN)
    if (chars[:, _SEPARATOR_PLACES] != _SEPARATOR_CODES).any():
        return None
    digits = chars.T[_DIGITS] - np.uint8(ord("0"))  # one row per digit place: fast sums
    if (digits > 9).any():  # below "0" wraps around to above 9
        return None
    d = digits.astype(np.int32)
    year = d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3]
    month, day = d[4] * 10 + d[5], d[6] * 10 + d[7]
    hour, minute, second = (
        d[8] * 10 + d[9],
        d[10] * 10 + d[11],
        d[12] * 10 + d[13],
    )
    milli = d[14] * 100 + d[15] * 10 + d[16]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    if (
        (year < 1)  # year 0000: no such year
        | (month < 1) | (month > 12)
        | (day < 1) | (day > _MONTH_DAYS[np.clip(month, 1, 12)] + (leap & (month == 2)))
        | (hour > 23) | (minute > 59) | (second > 59)
    ).any():  # fmt: skip
        return None
    days = _days_from_civil(year, month, day).astype(np.int64)
    out: Ints = (((days * 24 + hour) * 60 + minute) * 60 + second) * 1000 + milli
    return out


_SEPARATOR_PLACES = list(_SEPARATORS)
_SEPARATOR_CODES = np.array([ord(c) for c in _SEPARATORS.values()], np.uint8)
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)


def _days_from_civil(year: Ints, month: Ints, day: Ints) -> Ints:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's `days_from_civil`:
    years counted from March, so the leap day ends the year, in 400-year eras of 146,097 days).

    >>> _days_from_civil(np.array([1970, 2000, 2026]), np.array([1, 3, 6]), np.array([1, 1, 12]))
    array([    0, 11017, 20616])
    """
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400  # year of the era, 0..399
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1  # day of the March-based year
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy  # day of the era
    out: Ints = era * 146_097 + doe - 719_468
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
