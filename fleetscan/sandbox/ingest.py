"""`POST /ingest` body handling, as the Plexus gateway does it (docs/plexus-contract.md §4.2).

Two pure steps, so the firmware and simulator tests can check payloads without a server:

1. `decode_ingest_body(raw, content_encoding)` undoes gzip, enforces the 5 MiB cap and parses
   JSON the way Go's `json.Decoder` does (only the first JSON value counts; NaN is not JSON).
2. `validate_ingest_body(obj)` applies the gateway's checks in its order and with its messages:
   `'points' array is required`, `too many points: N (max 10000)`, then each point in turn (source
   id, class inference, metric, value, timestamp, tags). The first bad point rejects the request.
   Timestamps in seconds (`0 < ts < 1e12`) become milliseconds, as the gateway does.

Every failure is a `(status, message)` pair for `{"error": message}`.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, TypeGuard

MAX_BODY_BYTES: Final = 5 * 1024 * 1024
MAX_POINTS: Final = 10_000
MAX_STRING_BYTES: Final = 256
MAX_EVENT_VALUE_BYTES: Final = 4096
MAX_TAGS: Final = 16
SECONDS_CUTOFF: Final = 1e12  # `0 < ts < 1e12` is epoch seconds (the gateway's and loader's rule)

SOURCE_ID_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9._-]*")  # used with fullmatch
_GO_SOURCE_PATTERN: Final = "^[a-z0-9][a-z0-9._-]*$"
_JSON_SPACE: Final = " \t\n\r"
_NO_TAGS: Mapping[str, str] = MappingProxyType({})

INVALID_JSON: Final = "invalid JSON body"


@dataclass(frozen=True, slots=True)
class IngestPoint:
    """One accepted point after the gateway's normalisation.

    `timestamp` is epoch ms (seconds already scaled), or None when the device sent none (the
    receive time is used). `value` is a float for metrics and any JSON value for events.
    """

    source_id: str
    point_class: str  # "metric" or "event"
    metric: str
    value: object
    timestamp: float | None
    tags: Mapping[str, str] = field(default_factory=lambda: _NO_TAGS)


@dataclass(frozen=True, slots=True)
class IngestError:
    """An HTTP status and the gateway's `{"error": message}` text."""

    status: int
    message: str


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text} out of range")
    return number


def _bounded_int(text: str) -> int:
    number = int(text)
    try:
        float(number)  # Go decodes JSON numbers as float64: past its range is a decode error
    except OverflowError:
        raise ValueError(f"number {text} out of range") from None
    return number


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(
    parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_reject_constant
)


def decode_ingest_body(raw: bytes, content_encoding: str = "") -> object | IngestError:
    """Decompress (for `Content-Encoding: gzip`) and parse an `/ingest` body.

    >>> decode_ingest_body(b'{"points": []} trailing bytes are ignored')
    {'points': []}
    >>> decode_ingest_body(b'not json')
    IngestError(status=400, message='invalid JSON body')
    >>> decode_ingest_body(b'{}', "gzip")
    IngestError(status=400, message='invalid gzip body')
    """
    if len(raw) > MAX_BODY_BYTES:
        return _too_large()
    if content_encoding.strip().lower() == "gzip":
        if len(raw) < 10 or raw[:3] != b"\x1f\x8b\x08":
            return IngestError(400, "invalid gzip body")
        inflater = zlib.decompressobj(wbits=31)
        try:
            raw = inflater.decompress(raw, MAX_BODY_BYTES + 1)
        except zlib.error:
            return IngestError(400, INVALID_JSON)  # a corrupt stream surfaces while decoding JSON
        if len(raw) > MAX_BODY_BYTES:
            return _too_large()
    text = raw.decode("utf-8", errors="replace").lstrip(_JSON_SPACE)
    try:
        obj: object = _DECODER.raw_decode(text)[0]
    except (ValueError, RecursionError):
        return IngestError(400, INVALID_JSON)
    if "\\u" in text:  # only escapes can smuggle in a lone surrogate
        obj = _replace_surrogates(obj)
    return obj


_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _replace_surrogates(obj: object) -> object:
    """Go decodes an unpaired `\\udXXX` escape as U+FFFD; Python keeps a lone surrogate, which
    cannot be stored as UTF-8."""
    if isinstance(obj, str):
        return _SURROGATE.sub("\ufffd", obj)
    if isinstance(obj, list):
        return [_replace_surrogates(item) for item in obj]
    if isinstance(obj, dict):
        return {_SURROGATE.sub("\ufffd", k): _replace_surrogates(v) for k, v in obj.items()}
    return obj


def _too_large() -> IngestError:
    return IngestError(413, f"payload too large (max {MAX_BODY_BYTES} bytes)")


def validate_ingest_body(obj: object) -> tuple[list[IngestPoint], str | None]:
    """Check a decoded `/ingest` body: `(points, None)`, or `([], message)` for a 400.

    >>> points, error = validate_ingest_body(
    ...     {"source_id": "esp32-bme280", "points": [{"metric": "temperature", "value": 22.4,
    ...                                               "timestamp": 1781258400}]})
    >>> error, points[0].point_class, points[0].timestamp
    (None, 'metric', 1781258400000.0)
    >>> validate_ingest_body({"source_id": "esp32", "points": [{"metric": "t", "value": None}]})
    ([], 'points[0].value cannot be null')
    """
    envelope = _envelope(obj)
    if isinstance(envelope, str):
        return [], envelope
    source_id, raw_points = envelope
    if raw_points is None:
        return [], "'points' array is required"
    if len(raw_points) > MAX_POINTS:
        return [], f"too many points: {len(raw_points)} (max {MAX_POINTS})"
    points: list[IngestPoint] = []
    for index, raw in enumerate(raw_points):
        point = _check_point(index, raw, source_id)
        if isinstance(point, str):
            return [], point
        points.append(point)
    return points, None


def _envelope(obj: object) -> tuple[str, list[object] | None] | str:
    """Go's `json.Decode` into `{SourceID string; Points []map[string]any}`: field names match
    case-insensitively, and a value of the wrong type is a decode error (`invalid JSON body`)."""
    if obj is None:
        return "", None
    if not isinstance(obj, dict):
        return INVALID_JSON
    source_id = ""
    points: list[object] | None = None
    for key, value in obj.items():
        folded = key.lower()
        if folded == "source_id":
            if value is not None and not isinstance(value, str):
                return INVALID_JSON
            source_id = value or ""
        elif folded == "points":
            if value is None:
                points = None
            elif isinstance(value, list) and all(p is None or isinstance(p, dict) for p in value):
                points = value
            else:
                return INVALID_JSON
    return source_id, points


def _check_point(index: int, raw: object, default_source: str) -> IngestPoint | str:
    """ingest.go's per-point pass followed by validate.go's `ValidatePoint`, in their order."""
    where = f"points[{index}]"
    if not isinstance(raw, dict):
        return f"{where} is null"
    own_source = raw.get("source_id")
    source_id = own_source if isinstance(own_source, str) and own_source else default_source
    if not source_id:
        return f"{where} missing source_id (set top-level source_id or per-point source_id)"
    if len(source_id.encode()) > MAX_STRING_BYTES:
        return f"{where} source_id exceeds max length ({MAX_STRING_BYTES})"
    if SOURCE_ID_PATTERN.fullmatch(source_id) is None:
        return f"{where} source_id must match {_GO_SOURCE_PATTERN}"
    point_class = raw.get("class")
    if not isinstance(point_class, str):
        point_class = "metric" if _is_number(raw.get("value")) else "event"
    raw_timestamp = raw.get("timestamp")
    timestamp = float(raw_timestamp) if _is_number(raw_timestamp) else None
    if timestamp is not None and 0 < timestamp < SECONDS_CUTOFF:
        timestamp *= 1000
    if point_class not in ("metric", "event"):
        return f"{where}.class must be 'metric' or 'event', got {_go_quote(point_class)}"
    metric = raw.get("metric")
    if not isinstance(metric, str) or not metric or len(metric.encode()) > MAX_STRING_BYTES:
        return f"{where}.metric invalid"
    if "value" not in raw:
        return f"{where}.value is required"
    value = raw["value"]
    value_error = _check_value(where, point_class, value)
    if value_error is not None:
        return value_error
    if "timestamp" in raw and timestamp is None:
        return f"{where}.timestamp must be a number"
    tags = _check_tags(where, raw["tags"]) if "tags" in raw else _NO_TAGS
    if isinstance(tags, str):
        return tags
    return IngestPoint(
        source_id=source_id,
        point_class=point_class,
        metric=metric,
        value=float(value) if _is_number(value) and point_class == "metric" else value,
        timestamp=timestamp,
        tags=tags,
    )


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_value(where: str, point_class: str, value: object) -> str | None:
    if value is None:
        return f"{where}.value cannot be null"
    if point_class == "metric":
        if not _is_number(value):
            return f"{where}.value must be a number for class=metric"
        return None  # JSON numbers are always finite; _DECODER refuses overflow
    if isinstance(value, str):
        if len(value.encode()) > MAX_STRING_BYTES:
            return f"{where}.value string exceeds max length ({MAX_STRING_BYTES})"
        return None
    if isinstance(value, dict | list) and _go_json_size(value) > MAX_EVENT_VALUE_BYTES:
        return f"{where}.value exceeds max bytes ({MAX_EVENT_VALUE_BYTES})"
    return None


def _check_tags(where: str, tags: object) -> Mapping[str, str] | str:
    """The tags as a mapping, or the error message."""
    if not isinstance(tags, dict):
        return f"{where}.tags must be an object"
    if len(tags) > MAX_TAGS:
        return f"{where}.tags exceeds max entries ({MAX_TAGS})"
    for key, value in tags.items():
        if len(key.encode()) > MAX_STRING_BYTES:
            return f"{where}.tags key too long"
        if not isinstance(value, str):
            return f"{where}.tags[{_go_quote(key)}] must be a string"
        if len(value.encode()) > MAX_STRING_BYTES:
            return f"{where}.tags[{_go_quote(key)}] value too long"
    return dict(tags) if tags else _NO_TAGS


def _go_json_size(value: object) -> int:
    """Bytes of Go's `json.Marshal(value)`: compact, and `<`, `>`, `&` escaped as `\\u003c`."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    escaped = sum(text.count(ch) for ch in "<>&\u2028\u2029")
    return len(text.encode()) + 5 * escaped


def _go_quote(text: str) -> str:
    """Go's `%q` for the strings that show up in messages (close enough: JSON string syntax)."""
    return json.dumps(text, ensure_ascii=False)


# The loader turns a point's timestamp into a Python datetime, which stops at the year 9999.
MAX_STORED_MS: Final = 253_402_300_800_000


def stored_timestamp_ms(timestamp: float | None, received_ms: int) -> int | None:
    """Where the ClickHouse loader files a point in time (docs/plexus-contract.md §6.3), or None if dropped.

    A missing, zero or negative timestamp becomes the receive time. A positive value below 1e12 is
    multiplied by 1000 *again* (the gateway already did it once), so a device that sends uptime
    milliseconds lands decades away (§7.5). A time past the year 9999 cannot be stored.

    >>> stored_timestamp_ms(1781258400123.0, 5), stored_timestamp_ms(None, 5)
    (1781258400123, 5)
    >>> stored_timestamp_ms(5_000_000.0, 5)  # 5000 ms of uptime, already scaled once by the gateway
    5000000000
    """
    if timestamp is None or timestamp <= 0:
        return received_ms
    if timestamp < SECONDS_CUTOFF:
        timestamp *= 1000
    if timestamp >= MAX_STORED_MS:
        return None
    return round(timestamp * 1000) // 1000  # datetime keeps microseconds; DateTime64(3) keeps ms
