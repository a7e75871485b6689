"""`DetectorOptions`: the knobs every method shares, typed; and how the command line's window,
baseline and relearn strings become them (`parse_window`, `parse_span`), once, at the boundary.

A window is a sample count or a duration, and says which: `Window(samples=15)` (the tutorial's
`deque(maxlen=15)`) or `Window(span_ms=600_000)`. On the command line its unit is written out:
`15samples` (or `15 samples`) counts samples, `30s`/`10m`/`7d` is a duration. For compatibility a
bare whole number (`15`) still counts samples, as it always has for `fleetscan device`; a bare
number with a fraction (`1.5`) is refused, since the sweeps' durations read it as seconds. The
baseline and relearn spans are durations and need their unit (`6h`, `30m`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from fleetscan.errors import InputError
from fleetscan.sensors import MetricProfile, profile_for
from fleetscan.timeutil import human_duration, parse_duration_ms

DEFAULT_RELEARN = "1h"
_SAMPLES = re.compile(r"^\s*(\d+)\s*(?:samples?)?\s*$")
_BARE_NUMBER = re.compile(r"^\s*[0-9.]+\s*$")


@dataclass(frozen=True, slots=True)
class Window:
    """A parsed window: exactly one of `samples` and `span_ms` is set."""

    samples: int | None = None
    span_ms: int | None = None

    def describe(self) -> str:
        """`'15 samples'` or a `timeutil.human_duration` (`'10m'`) for reasons.

        >>> parse_window("15").describe(), parse_window("90s").describe()
        ('15 samples', '90s')
        """
        if self.samples is not None:
            return f"{self.samples} samples"
        assert self.span_ms is not None
        return human_duration(self.span_ms)


def parse_window(text: str | Window) -> Window:
    """`"15samples"` (or the bare `"15"`) → 15 samples; `"30s"`, `"10m"`, `"7d"` → a duration.
    A `Window` is returned as it is.

    >>> parse_window("15"), parse_window("15 samples"), parse_window("10m")
    (Window(samples=15, span_ms=None), Window(samples=15, span_ms=None), Window(samples=None, span_ms=600000))
    """
    if isinstance(text, Window):
        return text
    counted = _SAMPLES.match(text)
    if counted is not None:
        samples = int(counted.group(1))
        if samples < 1:
            raise ValueError(f"invalid window {text!r}: a sample count must be at least 1")
        return Window(samples=samples)
    if _BARE_NUMBER.match(text):
        raise ValueError(
            f"invalid window {text!r}: say its unit, a sample count (15samples) or a duration "
            "(1.5s, 10m)"
        )
    try:
        span_ms = parse_duration_ms(text.strip())
    except InputError:
        raise ValueError(
            f"invalid window {text!r}: use a sample count (15samples) or a duration (30s, 10m, 7d)"
        ) from None
    if span_ms <= 0:
        raise ValueError(f"invalid window {text!r}: a duration must be positive")
    return Window(span_ms=span_ms)


def parse_span(text: str | Window, what: str) -> Window:
    """A duration with its unit (`"6h"`, `"30m"`) for the option `what`; a bare number is refused
    (next to windows that count samples it would be ambiguous).

    >>> parse_span("6h", "baseline").span_ms
    21600000
    """
    if isinstance(text, Window):
        window = text
    elif _BARE_NUMBER.match(text):
        raise ValueError(f"invalid {what} {text!r}: give a duration with its unit, e.g. 30m or 6h")
    else:
        try:
            window = Window(span_ms=parse_duration_ms(text.strip()))
        except InputError:
            raise ValueError(
                f"invalid {what} {text!r}: give a duration such as 30m, 6h or 7d"
            ) from None
    if window.span_ms is None:
        raise ValueError(f"invalid {what} {text!r}: give a duration such as 6h or 7d")
    if window.span_ms <= 0:
        raise ValueError(f"invalid {what} {text!r}: a duration must be positive")
    return window


@dataclass(frozen=True, slots=True)
class DetectorOptions:
    """What `make_detector` needs besides the method name (the CLI fills these from flags).

    - `threshold`: robust-σ units, the same meaning for every method (checks map onto it).
    - `window`: a `Window` of samples or a duration, `None` the method's default (tutorial: 15
      samples; robust: 10m; twoscale: the recent level, 30s).
    - `baseline`: the long baseline of `twoscale`/`auto`, a duration (default 1d).
    - `metric`: selects `sensors.profile_for(metric)` (ranges, resolution, noise floor).
    - `min_scale`: a floor under every robust scale (else the sensor's noise floor).
    - `cadence_s`: the expected cadence if known, else each stream learns its own.
    - `consecutive`: unusual readings in a row that open an alert (`auto` runs its own alerts).
    - `relearn`: how long a changed level must persist before `auto` accepts it as the new
      normal, a duration (default 1h, and never fewer than 12 readings).

    `window`, `baseline` and `relearn` also take the command line's strings (`"15samples"`,
    `"6h"`: see the module) and hold them parsed.
    """

    threshold: float = 3.0
    window: Window | None = None
    baseline: Window | None = None
    metric: str = ""
    min_scale: float | None = None
    cadence_s: float | None = None
    consecutive: int = 3
    relearn: Window | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.threshold) or self.threshold <= 0:
            raise ValueError(f"threshold must be a positive number, got {self.threshold!r}")
        if self.min_scale is not None and (not math.isfinite(self.min_scale) or self.min_scale < 0):
            raise ValueError(f"min_scale must be ≥ 0, got {self.min_scale!r}")
        if self.cadence_s is not None and (
            not math.isfinite(self.cadence_s) or self.cadence_s <= 0
        ):
            raise ValueError(f"cadence_s must be positive, got {self.cadence_s!r}")
        if self.consecutive < 1:
            raise ValueError(f"consecutive must be at least 1, got {self.consecutive!r}")
        if self.window is not None:
            object.__setattr__(self, "window", parse_window(self.window))
        if self.baseline is not None:
            object.__setattr__(self, "baseline", parse_span(self.baseline, "baseline"))
        if self.relearn is not None:
            object.__setattr__(self, "relearn", parse_span(self.relearn, "relearn"))

    @property
    def profile(self) -> MetricProfile:
        return profile_for(self.metric)

    def scale_floor(self) -> float:
        """The smallest robust scale any method may use: `--min-scale`, else the noise floor."""
        return self.min_scale if self.min_scale is not None else self.profile.noise_floor

    def window_or(self, default: str) -> Window:
        return parse_window(self.window if self.window is not None else default)

    def relearn_ms(self) -> int:
        """`relearn` in ms (a duration; default 1h)."""
        span = parse_span(self.relearn if self.relearn is not None else DEFAULT_RELEARN, "relearn")
        assert span.span_ms is not None
        return span.span_ms

    def baseline_window(self, default: str = "1d") -> Window:
        return parse_span(self.baseline if self.baseline is not None else default, "baseline")
