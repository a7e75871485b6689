"""Faults to inject into simulated boards, and the `--fault` syntax that names them.

    BOARD:KIND[:SIZE][:METRIC]@ONSET        e.g.  esp32-bme280-07:drift:5@1h
                                                   esp32-bme280-03:nan:0.2:humidity@2026-06-12T10:30:00Z

ONSET is an offset from the start of the simulation (`90s`, `30m`, `1h`, `2d`, an optional leading
`+`, a bare number is seconds) or an absolute time (ISO 8601 or Plexus's `YYYY-MM-DD HH:MM:SS.mmm`,
UTC when no zone is given). `:METRIC` may also follow the onset (`...@1h:humidity`). METRIC is
`temperature`, `humidity`, `pressure` or `all`; without it each kind uses its default below.

| kind             | default     | size                                                  |
|------------------|-------------|-------------------------------------------------------|
| `drift`          | temperature | linear drift in units per day (°C/day)                |
| `step`           | temperature | offset added from the onset (units)                   |
| `stuck`          | all         | unused: values frozen at the onset reading            |
| `dropout`        | all         | unused: the board falls silent                        |
| `noisy`          | temperature | noise σ multiplied by size (>= 1)                     |
| `spikes`         | temperature | spike height (units); 1-4 samples, a burst per ~10 min |
| `humidity_slide` | humidity    | points lost, linearly over 6 h, then held             |
| `random`         | all         | unused: the C SDK's "no sensor" values on a 0.1 grid  |
| `nan`            | all         | fraction of readings (0 < size <= 1) that become NaN  |
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from fleetscan.errors import InputError
from fleetscan.timeutil import iso_z, parse_duration_ms, parse_timestamp_ms

ALL_METRICS: tuple[str, ...] = ("temperature", "humidity", "pressure")
DEFAULT_METRIC = {
    "drift": "temperature",
    "step": "temperature",
    "stuck": "all",
    "dropout": "all",
    "noisy": "temperature",
    "spikes": "temperature",
    "humidity_slide": "humidity",
    "random": "all",
    "nan": "all",
}
FAULT_KINDS: tuple[str, ...] = tuple(DEFAULT_METRIC)
SIZELESS = frozenset({"stuck", "dropout", "random"})
HUMIDITY_SLIDE_MS = 6 * 3_600_000
SPIKE_BURSTS_PER_S = 1 / 600
UNITS = {"temperature": "°C", "humidity": "%", "pressure": "hPa"}

_RELATIVE = re.compile(r"^\+?\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)?$")


@dataclass(frozen=True, kw_only=True)
class Fault:
    """One injected fault. Give the onset as `onset_ms` (epoch ms) or `onset_offset_ms` (from the
    fleet's start); `metric=None` means the kind's default (see the module docstring)."""

    board: str
    kind: str
    size: float = 0.0
    onset_ms: int | None = None
    onset_offset_ms: int | None = None
    metric: str | None = None

    def __post_init__(self) -> None:
        where = f"fault {self.board}:{self.kind}"
        if self.kind not in DEFAULT_METRIC:
            raise InputError(f"{where}: unknown kind, use one of {', '.join(FAULT_KINDS)}")
        if self.metric is not None and self.metric not in (*ALL_METRICS, "all"):
            raise InputError(f"{where}: unknown metric {self.metric!r}")
        if self.kind == "humidity_slide" and self.metrics != ("humidity",):
            raise InputError(f"{where}: humidity_slide applies to humidity only")
        if (self.onset_ms is None) == (self.onset_offset_ms is None):
            raise InputError(f"{where}: give exactly one of onset_ms and onset_offset_ms")
        if self.onset_offset_ms is not None and self.onset_offset_ms < 0:
            raise InputError(f"{where}: the onset offset must be >= 0")
        size = self.size
        rules = {
            "drift": (size != 0, "needs a non-zero size (units per day)"),
            "step": (size != 0, "needs a non-zero size (units)"),
            "spikes": (size != 0, "needs a non-zero size (spike height)"),
            "noisy": (size >= 1, "needs a size >= 1 (noise multiplier)"),
            "humidity_slide": (size > 0, "needs a size > 0 (points of humidity lost)"),
            "nan": (0 < size <= 1, "needs a size in (0, 1] (fraction of readings)"),
        }
        ok, why = rules.get(self.kind, (True, ""))
        if not math.isfinite(size) or not ok:
            raise InputError(f"{where}: {why or 'size must be finite'}, got {size!r}")

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics this fault touches, in the fleet's metric order."""
        target = self.metric or DEFAULT_METRIC[self.kind]
        return ALL_METRICS if target == "all" else (target,)

    def onset_at(self, start_ms: int) -> int:
        """The onset in epoch ms for a fleet starting at `start_ms`."""
        if self.onset_ms is not None:
            return self.onset_ms
        assert self.onset_offset_ms is not None  # __post_init__ guarantees one of the two
        return start_ms + self.onset_offset_ms

    def size_unit(self) -> str:
        """What `size` is measured in, for humans reading the ground truth."""
        unit = UNITS[self.metrics[0]] if len(self.metrics) == 1 else "units"
        return {
            "drift": f"{unit}/day",
            "step": unit,
            "spikes": unit,
            "humidity_slide": "%",
            "noisy": "x sigma",
            "nan": "fraction",
        }.get(self.kind, "")


def parse_fault(text: str) -> Fault:
    """Parse the `--fault` syntax (see the module docstring).

    >>> fault = parse_fault("esp32-bme280-07:drift:5@1h")
    >>> fault.kind, fault.size, fault.onset_offset_ms, fault.metrics
    ('drift', 5.0, 3600000, ('temperature',))
    >>> parse_fault("esp32-bme280-03:stuck:pressure@2026-06-12T10:30:00Z").onset_ms
    1781260200000
    """
    head, at, onset_text = text.strip().partition("@")
    if not at or not onset_text.strip():
        raise InputError(
            f"invalid fault {text!r}: use BOARD:KIND[:SIZE][:METRIC]@ONSET, e.g. "
            "esp32-bme280-07:drift:5@1h"
        )
    parts = [p.strip() for p in head.split(":")]
    if len(parts) < 2 or not all(parts):
        raise InputError(f"invalid fault {text!r}: expected BOARD:KIND before '@'")
    board, kind, rest = parts[0], parts[1], parts[2:]
    metric: str | None = None
    maybe_onset, sep, tail = onset_text.rpartition(":")
    if sep and tail.strip() in (*ALL_METRICS, "all"):
        onset_text, metric = maybe_onset, tail.strip()
    size: float | None = None
    for part in rest:
        if part in (*ALL_METRICS, "all") and metric is None:
            metric = part
            continue
        try:
            number = float(part)
        except ValueError:
            raise InputError(
                f"invalid fault {text!r}: {part!r} is neither a size nor a metric"
            ) from None
        if size is not None:
            raise InputError(f"invalid fault {text!r}: more than one size")
        size = number
    if size is None and kind not in SIZELESS and kind in DEFAULT_METRIC:
        raise InputError(f"invalid fault {text!r}: {kind} needs a size, e.g. {board}:{kind}:2@1h")
    onset_text = onset_text.strip()
    onset_ms: int | None = None
    offset_ms: int | None = None
    if _RELATIVE.match(onset_text):
        offset_ms = parse_duration_ms(onset_text.lstrip("+ "))
    else:
        try:
            onset_ms = parse_timestamp_ms(onset_text)
        except InputError:
            raise InputError(
                f"invalid fault {text!r}: onset {onset_text!r} is neither an offset "
                "(30m, 1h) nor a timestamp"
            ) from None
    return Fault(
        board=board,
        kind=kind,
        size=0.0 if size is None else size,
        onset_ms=onset_ms,
        onset_offset_ms=offset_ms,
        metric=metric,
    )


def format_fault(fault: Fault) -> str:
    """The `--fault` text that `parse_fault` turns back into `fault`.

    >>> format_fault(parse_fault("esp32-bme280-07:drift:5:humidity@90m"))
    'esp32-bme280-07:drift:5.0:humidity@5400s'
    """
    parts = [fault.board, fault.kind]
    if fault.kind not in SIZELESS or fault.size != 0:
        parts.append(repr(float(fault.size)))
    if fault.metric is not None:
        parts.append(fault.metric)
    if fault.onset_offset_ms is not None:
        offset = fault.onset_offset_ms
        onset = f"{offset // 1000}s" if offset % 1000 == 0 else f"{offset}ms"
    else:
        assert fault.onset_ms is not None
        onset = iso_z(fault.onset_ms)
    return ":".join(parts) + "@" + onset
