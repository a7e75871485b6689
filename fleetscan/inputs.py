"""Reading telemetry from files, for offline runs (`--input FILE`): no network involved.

Two formats, chosen by content rather than by extension:
- JSON lines, one Plexus row per line (`{"source_id", "metric", "value", "timestamp", "tags"}`), as
  written by `fleetscan sandbox`'s simulator or saved from the API; a JSON array or a `{"data": [...]}`
  API response saved whole is accepted too.
- CSV with a header naming at least `timestamp` and `value`, optionally `source_id`, `metric` and
  `tags` (JSON) or `tag.<name>` columns.
Malformed rows are skipped and counted (see `ParsedRows.skipped_summary`), never fatal: a line
nested too deeply for a JSON parser, a CSV field over `MAX_FIELD_BYTES`, a CSV row shorter or
longer than its header. An unreadable or empty file, or a CSV without the required columns, is an
`InputError`. A UTF-8 byte-order mark is accepted.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from fleetscan.errors import InputError
from fleetscan.telemetry import ParsedRows, parse_rows

MAX_FIELD_BYTES = 128 * 1024  # Python's csv default; a longer field is one skipped row
TOO_DEEP = "JSON nested too deeply"


def read_rows(path: Path, *, default_source: str = "", default_metric: str = "") -> ParsedRows:
    """Parse every row of a JSON-lines or CSV file (see the module docstring)."""
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            head = handle.read(1)
            while head and head.isspace():
                head = handle.read(1)
            if not head:
                raise InputError(f"{path} is empty: no rows to read")
            handle.seek(0)
            rows = _json_rows(handle, path) if head in ("{", "[") else _csv_rows(handle, path)
            return parse_rows(rows, default_source=default_source, default_metric=default_metric)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"cannot read {path}: not UTF-8 text") from None


def _json_rows(handle: Any, path: Path) -> Iterator[dict[str, Any]]:
    first = handle.readline()
    rest = handle.read() if first.lstrip().startswith("[") else None
    if rest is not None:  # a JSON array written whole
        try:
            document = json.loads(first + rest)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
        except RecursionError:
            raise InputError(f"{path}: invalid JSON ({TOO_DEEP})") from None
        yield from _dicts(document)
        return
    lines = iter([first])
    for text in _chain(lines, handle):
        text = text.strip()
        if not text:
            continue
        try:
            document = _loads(text)
        except json.JSONDecodeError:
            yield {"__bad__": "malformed JSON line", "timestamp": None}
            continue
        except RecursionError:
            yield {"__bad__": TOO_DEEP, "timestamp": None}
            continue
        if isinstance(document, dict) and isinstance(document.get("data"), list):
            yield from _dicts(document["data"])  # a saved API response
        else:
            yield from _dicts([document])


def _loads(text: str) -> Any:  # RecursionError: nested deeper than the parser goes
    """orjson for speed; the stdlib for what only it reads (`NaN`/`Infinity` tokens, so such rows
    are counted as NaN values of their series rather than as unreadable lines)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _chain(first: Iterator[str], rest: Any) -> Iterator[str]:
    yield from first
    yield from rest


def _dicts(document: Any) -> Iterator[dict[str, Any]]:
    items = document if isinstance(document, list) else [document]
    for item in items:
        yield item if isinstance(item, dict) else {"__bad__": "row is not an object"}


def _csv_rows(handle: Any, path: Path) -> Iterator[dict[str, Any]]:
    rows = _csv_records(handle)
    header = next(rows, None)
    fields = [f.strip() for f in header or []]
    if header is None or "timestamp" not in fields or "value" not in fields:
        raise InputError(
            f"{path}: a CSV needs a header with at least `timestamp` and `value` (found {fields})"
        )
    tag_columns = [f for f in fields if f.startswith("tag.")]
    for record in rows:
        if isinstance(record, str):  # the reason the csv module could not read the row
            yield {"__bad__": record}
            continue
        if not any(cell.strip() for cell in record):
            continue  # a blank line
        if len(record) != len(fields):
            fewer = "fewer" if len(record) < len(fields) else "more"
            yield {"__bad__": f"CSV row with {fewer} fields than the header"}
            continue
        row: dict[str, Any] = dict(zip(fields, record, strict=True))
        tags: dict[str, str] = {}
        if row.get("tags"):
            try:
                parsed = json.loads(row["tags"])
                if isinstance(parsed, dict):
                    tags.update({str(k): str(v) for k, v in parsed.items()})
            except (json.JSONDecodeError, RecursionError):
                pass
        for column in tag_columns:
            if row.get(column):
                tags[column.removeprefix("tag.")] = str(row[column])
        row["tags"] = tags
        yield row


def _csv_records(handle: Any) -> Iterator[list[str] | str]:
    """The CSV's records; a record the csv module refuses (a field over `MAX_FIELD_BYTES`, a NUL
    byte) is yielded as its reason, and reading goes on with the next line."""
    reader = csv.reader(handle)
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            too_big = "field larger" in str(exc)
            yield (
                f"CSV field over {MAX_FIELD_BYTES // 1024} KiB" if too_big else "malformed CSV row"
            )
