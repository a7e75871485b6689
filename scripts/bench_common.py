"""Shared plumbing for `scripts/bench.py`: timing, result rows, sizes and synthetic fleet data.

Every figure is the median of `repeats` timed runs after one untimed warm-up run (the first run
of a NumPy-heavy case pays for page faults on fresh memory, which a long-lived process does not).
A `Row` keeps every run, so `--json` consumers can judge the spread themselves.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fleetscan.fleet import SeriesBatch

NOW_MS = 1_781_258_400_000  # 2026-06-12 10:00:00 UTC: every synthetic window ends here
WINDOW_MS = 600_000  # 10 minutes
CADENCE_MS = 2_000  # 0.5 Hz
LOSS_RATE = 0.01  # share of readings lost in transit, as the simulator's default
JITTER_MS = 50

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Timing:
    """Seconds per run: the median and every run."""

    median_s: float
    runs_s: tuple[float, ...]

    @property
    def spread(self) -> float:
        """(max - min) / median: how far apart the runs were."""
        return (max(self.runs_s) - min(self.runs_s)) / self.median_s if self.median_s else 0.0


def measure(run: Callable[[], object], repeats: int, *, warmup: bool = True) -> Timing:
    """Time `run()` `repeats` times (after one untimed run when `warmup`)."""
    if warmup:
        run()
    runs = []
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        run()
        runs.append(time.perf_counter() - started)
    return Timing(statistics.median(runs), tuple(runs))


@dataclass(frozen=True)
class Target:
    """What the issue asks for: `value >= limit` (`at_least`) or `value <= limit`."""

    limit: float
    at_least: bool
    text: str

    def met(self, value: float) -> bool:
        return value >= self.limit if self.at_least else value <= self.limit


@dataclass(frozen=True)
class Row:
    """One line of the table: fleetscan's figure, the baselines', and the target if any.

    `value` and the baselines are in `unit`; `rate` says whether higher is better.
    """

    section: str
    case: str
    value: float
    unit: str
    timing: Timing | None = None
    baselines: tuple[tuple[str, float], ...] = ()
    target: Target | None = None
    notes: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        return "PASS" if self.target.met(self.value) else "MISS"

    def record(self) -> dict[str, object]:
        """The `--json` form: raw numbers, no formatting."""
        return {
            "section": self.section,
            "case": self.case,
            "value": self.value,
            "unit": self.unit,
            "runs_s": list(self.timing.runs_s) if self.timing else None,
            "median_s": self.timing.median_s if self.timing else None,
            "baselines": {name: value for name, value in self.baselines},
            "target": self.target.text if self.target else None,
            "target_limit": self.target.limit if self.target else None,
            "verdict": self.verdict or None,
            "notes": self.notes,
            **{f"extra_{k}": v for k, v in self.extra.items()},
        }


def fmt(value: float, unit: str) -> str:
    """`24.1 M/s`, `1.23 s`, `8.4 %`: figures as the table prints them.

    >>> fmt(24_100_000, "readings/s"), fmt(1.234, "s"), fmt(8.44, "% of a core")
    ('24.1 M/s', '1.23 s', '8.4 %')
    """
    if unit.endswith("/s"):
        for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {prefix}/s"
        return f"{value:.3g} /s"
    if unit == "s":
        return f"{value:.3g} s" if value < 100 else f"{value:.0f} s"
    if unit.startswith("%"):
        return f"{value:.2g} %" if value < 1 else f"{value:.1f} %"
    return f"{value:.3g} {unit}"


def fleet_arrays(
    sources: int, per_source: int = 300, *, seed: int = 0
) -> tuple[Ints, Ints, Floats]:
    """`(source, ts_ms, value)` of a healthy BME280 fleet: `per_source` readings at 0.5 Hz each.

    Boards sit at their own level (σ 0.5 °C) with sensor noise (σ 0.02 °C) on a slow shared
    drift; readings are float32 values (as the C SDK sends them) with ±50 ms jitter and 1 % loss,
    so sources hold slightly different counts, as they do in a real window. Grouped by source,
    in time order (as `BatchBuilder` builds batches from API pages).
    """
    rng = np.random.default_rng(seed)
    k = np.arange(per_source)
    ts = (NOW_MS - WINDOW_MS + CADENCE_MS // 2 + CADENCE_MS * k)[None, :] + rng.integers(
        -JITTER_MS, JITTER_MS + 1, (sources, per_source)
    )
    level = 22.0 + rng.normal(0.0, 0.5, (sources, 1)) + 0.3 * np.sin(k / per_source)[None, :]
    value = (level + rng.normal(0.0, 0.02, (sources, per_source))).astype(np.float32)
    keep = rng.random((sources, per_source)) >= LOSS_RATE
    source = np.broadcast_to(np.arange(sources, dtype=np.int64)[:, None], keep.shape)
    return (
        source[keep].astype(np.int64),
        ts[keep].astype(np.int64),
        value[keep].astype(np.float64),
    )


def fleet_batch(sources: int, per_source: int = 300, *, seed: int = 0) -> SeriesBatch:
    """`fleet_arrays` as a temperature `SeriesBatch` (sources `esp32-bme280-000001`, ...)."""
    source, ts, value = fleet_arrays(sources, per_source, seed=seed)
    ids = [f"esp32-bme280-{i:06d}" for i in range(1, sources + 1)]
    return SeriesBatch.from_arrays("temperature", ids, source, ts, value)


def size_label(n: int) -> str:
    """`50`, `1k`, `10k`, `100k`.

    >>> size_label(50), size_label(1000), size_label(100_000)
    ('50', '1k', '100k')
    """
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)
