"""The two JavaScript parsers `GET /api/v1/telemetry` runs on its query string, in Python.

The real route (docs/plexus-contract.md §1.2) checks `limit` with `Number(value)` and `Number.isInteger`, and
parses `from`/`to` with `new Date(value)`. The sandbox must accept and refuse the same strings, so
this module reimplements the parts of those two functions that matter:

- `js_number` follows ECMAScript StringToNumber: surrounding whitespace is ignored, `""` is 0,
  `0x`/`0o`/`0b` prefixes, `Infinity` and exponents are accepted, anything else is NaN.
- `js_date_ms` accepts what V8's `Date` parser accepts in practice: the ECMAScript ISO format
  (`2024`, `2024-06`, `2024-06-01`, `2024-06-01T10:00`, `…:00.123Z`, `±hh:mm`, `+002024-…`),
  the same with a space instead of `T` or `/` between the date parts, and RFC 2822 dates. Strings
  without a zone are local time, which is UTC in the sandbox. Epoch-millisecond strings such as
  `"1700000000000"` are invalid, as in V8.
- `js_iso` is `Date.prototype.toISOString`.

All times are epoch milliseconds. Pure functions: no clock, no I/O.
"""

from __future__ import annotations

import email.utils
import math
import re

# ECMAScript's time value range: ±8.64e15 ms around the epoch (±100 000 000 days).
MAX_TIME_MS = 8_640_000_000_000_000

_JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
)
_DECIMAL = re.compile(r"^[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)$")
_NON_DECIMAL = {"0x": (16, "0123456789abcdefABCDEF"), "0o": (8, "01234567"), "0b": (2, "01")}

_ISO = re.compile(
    r"^(?P<year>[+-][0-9]{6}|[0-9]{4})"
    r"(?:[-/](?P<month>[0-9]{2})(?:[-/](?P<day>[0-9]{2}))?)?"
    r"(?:(?P<sep>[T ])(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?)?"
    r"\s*(?P<zone>Z|UTC|GMT|[+-][0-9]{2}:?[0-9]{2})?)?$"
)


def js_number(text: str) -> float:
    """`Number(text)` for a string: a float, or NaN when JavaScript would give NaN.

    >>> js_number(" 42 "), js_number("1e3"), js_number("0x10"), js_number("")
    (42.0, 1000.0, 16.0, 0.0)
    >>> math.isnan(js_number("10abc")), js_number("-Infinity")
    (True, -inf)
    """
    body = text.strip(_JS_WHITESPACE)
    if body == "":
        return 0.0
    prefix = body[:2].lower()
    if prefix in _NON_DECIMAL:
        base, digits = _NON_DECIMAL[prefix]
        rest = body[2:]
        if rest and all(ch in digits for ch in rest):
            return float(int(rest, base))
        return math.nan
    if _DECIMAL.match(body) is None:
        return math.nan
    return float(body.replace("Infinity", "inf"))


def js_is_integer(number: float) -> bool:
    """`Number.isInteger(number)`.

    >>> js_is_integer(3.0), js_is_integer(2.5), js_is_integer(math.inf)
    (True, False, False)
    """
    return math.isfinite(number) and math.floor(number) == number


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year; day may overflow the month).

    >>> days_from_civil(1970, 1, 1), days_from_civil(2024, 3, 1), days_from_civil(2024, 2, 30)
    (0, 19783, 19783)
    """
    y = year - (1 if month <= 2 else 0)
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468 + (day - 1)


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) of a day count since 1970-01-01 (inverse of `days_from_civil`).

    >>> civil_from_days(0), civil_from_days(19783), civil_from_days(-1)
    ((1970, 1, 1), (2024, 3, 1), (1969, 12, 31))
    """
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if month <= 2 else 0), month, day


def js_date_ms(text: str) -> int | None:
    """`new Date(text).getTime()`, or None where JavaScript gives an Invalid Date.

    >>> js_date_ms("2026-06-12T10:00:00.123Z"), js_date_ms("2026-06-12 10:00:00.123")
    (1781258400123, 1781258400123)
    >>> js_date_ms("2026-06-12T12:00:00+02:00"), js_date_ms("2026")
    (1781258400000, 1767225600000)
    >>> js_date_ms("1700000000000") is None, js_date_ms("yesterday") is None
    (True, True)
    """
    body = text.strip(_JS_WHITESPACE)
    match = _ISO.match(body)
    if match is not None:
        return _iso_ms(match)
    parsed = email.utils.parsedate_tz(body) if body else None
    if parsed is None:
        return None
    year, month, day, hour, minute, second = parsed[:6]
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 24 and minute <= 59 and second <= 59):
        return None
    offset_s = parsed[9] or 0
    ms = (days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second) * 1000
    return _in_range(ms - offset_s * 1000)


def _iso_ms(match: re.Match[str]) -> int | None:
    year_text = match["year"]
    if year_text == "-000000":
        return None
    year = int(year_text)
    month = int(match["month"] or 1)
    day = int(match["day"] or 1)
    hour = int(match["hour"] or 0)
    minute = int(match["minute"] or 0)
    second = int(match["second"] or 0)
    millis = int((match["fraction"] or "0")[:3].ljust(3, "0"))
    if match["sep"] == " " and match["day"] is None:
        return None  # "2024-06 10:00" is not a date V8 accepts
    if not (1 <= month <= 12 and 1 <= day <= 31 and minute <= 59 and second <= 59):
        return None
    if hour > 24 or (hour == 24 and (minute or second or millis)):
        return None
    offset_ms = 0
    zone = match["zone"]
    if zone is not None and zone not in ("Z", "UTC", "GMT"):
        digits = zone[1:].replace(":", "")
        zone_h, zone_m = int(digits[:2]), int(digits[2:])
        if zone_h > 23 or zone_m > 59:
            return None
        offset_ms = (zone_h * 60 + zone_m) * 60_000 * (1 if zone[0] == "+" else -1)
    # No zone: date-only forms are UTC and date-times are local time; local time is UTC here.
    seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return _in_range(seconds * 1000 + millis - offset_ms)


def _in_range(ms: int) -> int | None:
    return ms if -MAX_TIME_MS <= ms <= MAX_TIME_MS else None


def js_iso(ms: int) -> str:
    """`new Date(ms).toISOString()`: `YYYY-MM-DDTHH:mm:ss.sssZ`, with `±YYYYYY` outside 0–9999.

    >>> js_iso(1781258400123), js_iso(-1)
    ('2026-06-12T10:00:00.123Z', '1969-12-31T23:59:59.999Z')
    >>> js_iso(MAX_TIME_MS)
    '+275760-09-13T00:00:00.000Z'
    """
    days, rest = divmod(ms, 86_400_000)
    year, month, day = civil_from_days(days)
    seconds, millis = divmod(rest, 1000)
    hour, seconds = divmod(seconds, 3600)
    minute, second = divmod(seconds, 60)
    if 0 <= year <= 9999:
        year_text = f"{year:04d}"
    else:
        year_text = f"{'+' if year > 0 else '-'}{abs(year):06d}"
    return f"{year_text}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"
