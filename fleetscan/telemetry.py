"""Telemetry rows as fleetscan sees them, and the one place raw rows are validated.

A Plexus row is `{"source_id", "metric", "value", "timestamp", "tags"}` (docs/plexus-contract.md §1.4). Rows from
the API, from JSON-lines files and from CSV files all pass through `parse_row`, which returns a
`Reading` or raises `InputError` saying why the row was skipped. `parse_rows` tallies the skips so
commands can say what they dropped ("skipped 3 rows: 2 non-numeric value, 1 bad timestamp").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from fleetscan.errors import InputError
from fleetscan.timeutil import parse_timestamp_ms

NO_TAGS: Mapping[str, str] = MappingProxyType({})
VALUE_REASONS = frozenset({"null value", "non-numeric value", "NaN or infinite value"})
"""Skip reasons of rows that are readings with an unreadable value (counted per series as
NaN/null readings); rows skipped for any other reason (a bad timestamp) count only in the total."""

# Rows of one page or file share few distinct seconds, so `row_timestamp_ms` turns each second of
# Plexus's `YYYY-MM-DD HH:MM:SS.mmm` into epoch ms once and adds the milliseconds per row.
_PLEXUS_SECOND = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_SECOND_MS: dict[str, int] = {}  # "YYYY-MM-DD HH:MM:SS" -> epoch ms of that second
_SECOND_MS_MAX = 4096
# Rows of one source carry the same tags: each distinct set is built once and shared (read-only),
# so parsing a page keeps one tags mapping per source rather than one per row (and the collector
# has half as many new objects to walk).
_TAGS: dict[tuple[tuple[str, str], ...], Mapping[str, str]] = {}
_TAGS_MAX = 4096


@dataclass(frozen=True, slots=True)
class Reading:
    """One numeric reading. `ts_ms` is epoch milliseconds UTC; `value` is always finite."""

    source_id: str
    metric: str
    ts_ms: int
    value: float
    tags: Mapping[str, str] = field(default_factory=lambda: NO_TAGS)


@dataclass
class ParsedRows:
    """Readings in input order, plus a tally of skipped rows by reason and by (source, metric)."""

    readings: list[Reading] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_by_series: Counter[tuple[str, str]] = field(default_factory=Counter)

    def skipped_summary(self) -> str:
        """`'skipped 3 rows: 2 non-numeric value, 1 bad timestamp'`, or `''` when nothing was skipped."""
        total = sum(self.skipped.values())
        if total == 0:
            return ""
        parts = ", ".join(f"{n} {reason}" for reason, n in self.skipped.most_common())
        return f"skipped {total} row{'s' if total != 1 else ''}: {parts}"


def row_timestamp_ms(raw: object) -> int:
    """`parse_timestamp_ms(raw)`, with the per-second work of Plexus row timestamps memoised.

    Same result and same errors for every input: only an ASCII `YYYY-MM-DD HH:MM:SS.mmm` whose
    second has already parsed takes the short path (that second's epoch ms plus the milliseconds).

    >>> row_timestamp_ms("2026-06-12 10:00:00.123"), row_timestamp_ms("2026-06-12 10:00:00.999")
    (1781258400123, 1781258400999)
    """
    if type(raw) is str and len(raw) == 23 and raw[19] == ".":
        millis = raw[20:]
        if millis.isdigit() and millis.isascii():
            second = raw[:19]
            base = _SECOND_MS.get(second)
            if base is not None:
                return base + int(millis)
            ms = parse_timestamp_ms(raw)
            if _PLEXUS_SECOND.fullmatch(second):
                if len(_SECOND_MS) >= _SECOND_MS_MAX:
                    _SECOND_MS.clear()
                _SECOND_MS[second] = ms - int(millis)
            return ms
    return parse_timestamp_ms(raw)


def parse_value(raw: object) -> float:
    """A finite float from a JSON/CSV value, or `InputError` naming why not.

    >>> parse_value(22.39999962), parse_value("21.5")
    (22.39999962, 21.5)
    """
    if type(raw) is float and math.isfinite(raw):  # the hot path: a JSON number
        return raw
    if raw is None or raw == "":
        raise InputError("null value")
    if isinstance(raw, bool):
        raise InputError("non-numeric value")
    if isinstance(raw, int | float):
        number = float(raw)
    elif isinstance(raw, str):
        try:
            number = float(raw.strip())
        except ValueError:
            raise InputError("non-numeric value") from None
    else:
        raise InputError("non-numeric value")
    if not math.isfinite(number):
        raise InputError("NaN or infinite value")
    return number


def parse_row(
    row: Mapping[str, object], *, default_source: str = "", default_metric: str = ""
) -> Reading:
    """Validate one row into a `Reading`; `InputError`'s message is the skip reason."""
    if "__bad__" in row:  # marked by a reader that could not even decode the row
        raise InputError(str(row["__bad__"]))
    source = row.get("source_id") or default_source
    metric = row.get("metric") or default_metric
    if not isinstance(source, str) or not source:
        raise InputError("missing source_id")
    if not isinstance(metric, str) or not metric:
        raise InputError("missing metric")
    if "timestamp" not in row:
        raise InputError("missing timestamp")
    try:
        ts_ms = row_timestamp_ms(row["timestamp"])
    except InputError:
        raise InputError("bad timestamp") from None
    value = parse_value(row.get("value"))
    raw_tags = row.get("tags")
    tags: Mapping[str, str] = NO_TAGS
    if (type(raw_tags) is dict or isinstance(raw_tags, Mapping)) and raw_tags:
        tags = _shared_tags(raw_tags)
    return Reading(source, metric, ts_ms, value, tags)


def _shared_tags(raw: Mapping[object, object]) -> Mapping[str, str]:
    """`raw` as a read-only `{str: str}`, the same object for every row with equal tags."""
    key = tuple((str(k), str(v)) for k, v in raw.items())
    tags = _TAGS.get(key)
    if tags is None:
        if len(_TAGS) >= _TAGS_MAX:
            _TAGS.clear()
        tags = _TAGS[key] = dict(key)
    return tags


def parse_rows(
    rows: Iterable[Mapping[str, object]],
    *,
    default_source: str = "",
    default_metric: str = "",
    into: ParsedRows | None = None,
) -> ParsedRows:
    """Parse many rows, skipping (and counting) the bad ones instead of failing."""
    result = into if into is not None else ParsedRows()
    _parse_into(result, rows, default_source, default_metric)
    return result


def _parse_into(
    result: ParsedRows,
    rows: Iterable[Mapping[str, object]],
    default_source: str,
    default_metric: str,
) -> None:
    for row in rows:
        try:
            result.readings.append(
                parse_row(row, default_source=default_source, default_metric=default_metric)
            )
        except InputError as exc:
            reason = str(exc)
            result.skipped[reason] += 1
            if reason not in VALUE_REASONS:
                continue  # only unreadable values count as readings of their series
            source = row.get("source_id") or default_source
            metric = row.get("metric") or default_metric
            result.skipped_by_series[(str(source), str(metric))] += 1
