"""Time, stated once: every timestamp inside fleetscan is an `int` of epoch milliseconds, UTC.

Parsing accepts what Plexus and users hand us: Plexus's `YYYY-MM-DD HH:MM:SS.mmm` (UTC, no zone),
ISO 8601 with `T`/`Z`/offsets, and epoch seconds or milliseconds (numbers or digit strings).
Durations are `30s`, `10m`, `2h`, `7d` (or a plain number of seconds).
"""

from __future__ import annotations

import functools
import math
import re
from datetime import UTC, datetime

from fleetscan.errors import InputError

# Numbers below this are epoch seconds, at or above it epoch milliseconds: the gateway's rule
# (docs/plexus-contract.md §4.2). 1e12 ms is 2001-09-09; 1e12 s is the year 33658.
EPOCH_MS_CUTOFF = 1e12
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PLEXUS_FORMAT = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$")
_DIGITS = re.compile(r"^-?\d+(\.\d+)?$")


def parse_duration_ms(text: str) -> int:
    """Parse a duration such as `30s`, `10m`, `7d` into milliseconds (a bare number is seconds).

    >>> parse_duration_ms("10m"), parse_duration_ms("1.5s"), parse_duration_ms("90")
    (600000, 1500, 90000)
    """
    match = _DURATION.match(text)
    if match is None:
        raise InputError(f"invalid duration {text!r}: use a number with s, m, h, d or w (e.g. 10m)")
    number, unit = float(match.group(1)), match.group(2) or "s"
    return int(round(number * _DURATION_MS[unit]))


def from_epoch_number(number: float) -> int:
    """Epoch seconds or milliseconds (the gateway's `< 1e12` rule) → epoch ms."""
    if not math.isfinite(number) or number <= 0:
        raise InputError(f"invalid epoch timestamp {number!r}")
    return int(round(number * 1000)) if number < EPOCH_MS_CUTOFF else int(round(number))


def parse_timestamp_ms(value: object) -> int:
    """Parse any accepted timestamp form into epoch ms (UTC).

    >>> parse_timestamp_ms("2026-06-12 10:00:00.123")
    1781258400123
    >>> parse_timestamp_ms("2026-06-12T10:00:00.123Z"), parse_timestamp_ms(1781258400.123)
    (1781258400123, 1781258400123)
    """
    if isinstance(value, bool):
        raise InputError(f"invalid timestamp {value!r}")
    if isinstance(value, int | float):
        return from_epoch_number(float(value))
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"invalid timestamp {value!r}")
    text = value.strip()
    match = _PLEXUS_FORMAT.match(text)
    if match is not None:  # the hot path: Plexus rows
        y, mo, d, h, mi, s = (int(match.group(i)) for i in range(1, 7))
        frac = (match.group(7) or "0").ljust(6, "0")
        try:
            moment = datetime(y, mo, d, h, mi, s, int(frac), tzinfo=UTC)
        except ValueError as exc:
            raise InputError(f"invalid timestamp {text!r}: {exc}") from None
        return _to_ms(moment)
    if _DIGITS.match(text):
        return from_epoch_number(float(text))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(
            f"invalid timestamp {text!r}: expected ISO 8601, 'YYYY-MM-DD HH:MM:SS.mmm' (UTC) "
            "or epoch seconds/milliseconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # Plexus timestamps without a zone are UTC
    return _to_ms(moment)


def _to_ms(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def iso_z(ts_ms: int) -> str:
    """Epoch ms → ISO 8601 UTC with `Z` and milliseconds, the form Plexus's `from`/`to` want.

    >>> iso_z(1781258400123)
    '2026-06-12T10:00:00.123Z'
    """
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


def plexus_timestamp(ts_ms: int) -> str:
    """Epoch ms → the row timestamp Plexus returns (`YYYY-MM-DD HH:MM:SS.mmm`, UTC).

    >>> plexus_timestamp(1781258400123)
    '2026-06-12 10:00:00.123'
    """
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{ts_ms % 1000:03d}"


def now_ms() -> int:
    """The wall clock in epoch ms. Only edges (CLI, loops) call this; the core takes `now` as input."""
    return int(datetime.now(tz=UTC).timestamp() * 1000)


@functools.lru_cache(maxsize=1024)  # a fleet's reasons repeat a few durations 50,000 times
def human_duration(ms: float) -> str:
    """A short human duration, the one every reason and summary uses: 45s, 12m, 3h5m, 2d4h
    (`n/a` when unknown, milliseconds under half a second).

    >>> human_duration(45_000), human_duration(750_000), human_duration(11_100_000)
    ('45s', '12m', '3h5m')
    >>> human_duration(187_200_000), human_duration(float("nan")), human_duration(250)
    ('2d4h', 'n/a', '250ms')
    >>> human_duration(600_000), human_duration(6 * 3_600_000), human_duration(7 * 86_400_000)
    ('10m', '6h', '7d')
    """
    if not math.isfinite(ms):
        return "n/a"
    seconds = int(round(ms / 1000))
    if seconds == 0 and ms > 0:
        return f"{ms:.0f}ms"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"
