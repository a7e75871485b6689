"""Shared plumbing for the streaming detectors: cadence, gaps, bounded windows, score mapping.

Everything here keeps bounded memory whatever the window: `Cadence` remembers the last 64 gaps,
`SampleWindow` at most `cap` points (a long time window is thinned to one kept sample per
`span / cap`, so a 7-day window holds the same few hundred points as a 10-minute one).
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Sequence

MEAN_AD_TO_SIGMA = 1.2533  # σ per unit of mean absolute deviation (√(π/2)), used when MAD is 0
GAP_FACTOR = 10.0  # a gap longer than this many cadences starts a warm-up
WARMUP_SAMPLES = 5  # samples after a long gap or a clock jump during which nothing is anomalous
CADENCE_HISTORY = 64  # inter-arrival gaps remembered to learn the cadence (median)
MIN_GAPS = 3  # gaps needed before the learned cadence is used


def check_score(threshold: float, ratio: float) -> float:
    """Map a rule check's ratio (how far past its limit, 1 = at the limit) to a score.

    `threshold · (1 + log2(ratio))`: exactly the threshold at the limit, one more threshold per
    doubling, so a check that fires always scores above `--threshold` and long outages do not
    produce absurd numbers.

    >>> check_score(3.0, 1.0), check_score(3.0, 2.0), check_score(3.0, 8.0)
    (3.0, 6.0, 12.0)
    """
    return threshold * (1.0 + math.log2(max(ratio, 1.0)))


def median_of_sorted(values: Sequence[float]) -> float:
    """The median of an already sorted, non-empty list.

    >>> median_of_sorted([1.0, 2.0, 10.0]), median_of_sorted([1.0, 2.0, 3.0, 10.0])
    (2.0, 2.5)
    """
    n = len(values)
    mid = n // 2
    return values[mid] if n % 2 else 0.5 * (values[mid - 1] + values[mid])


class Cadence:
    """A stream's own cadence (median of the last 64 inter-arrival gaps) and its gap warm-ups.

    `observe(ts_ms)` returns the gap since the previous reading, clipped for learning, and arms a
    warm-up of `WARMUP_SAMPLES` readings when the gap exceeds `GAP_FACTOR` cadences (a reboot or an
    outage) or time runs backwards (a clock reset). Gaps that long are not learned.

    >>> cadence = Cadence(expected_s=None)
    >>> [cadence.observe(t) for t in (0, 2000, 4000, 6000, 8000)][-1]
    2000
    >>> cadence.cadence_ms, cadence.warming
    (2000.0, False)
    >>> cadence.observe(60_000), cadence.warming
    (20000, True)
    """

    def __init__(self, *, expected_s: float | None) -> None:
        self.expected_ms = expected_s * 1000.0 if expected_s else None
        self.last_ts: int | None = None
        self._gaps: deque[int] = deque()
        self._sorted: list[int] = []
        self._warm_left = 0
        self._median: float | None = None  # cached learned cadence, reset when a gap is learnt

    @property
    def cadence_ms(self) -> float | None:
        """The expected cadence if given, else the learned median gap (None until 3 gaps)."""
        if self.expected_ms is not None:
            return self.expected_ms
        if self._median is None and len(self._sorted) >= MIN_GAPS:
            self._median = float(median_of_sorted(self._sorted))
        return self._median

    @property
    def warming(self) -> bool:
        """True while the stream is warming up after a long gap or a clock jump."""
        return self._warm_left > 0

    @property
    def longest_ms(self) -> float | None:
        """The longest of the remembered gaps (None until 3 gaps)."""
        return float(self._sorted[-1]) if len(self._sorted) >= MIN_GAPS else None

    def gap_limit_ms(self) -> float | None:
        cadence = self.cadence_ms
        return None if cadence is None else GAP_FACTOR * cadence

    def _learn(self, gap: int) -> None:
        self._median = None
        self._gaps.append(gap)
        insort(self._sorted, gap)
        if len(self._gaps) > CADENCE_HISTORY:
            old = self._gaps.popleft()
            del self._sorted[bisect_left(self._sorted, old)]

    def observe(self, ts_ms: int, *, learn: bool = True) -> int:
        """Take one reading's timestamp; return the gap to use for time decay (ms, ≥ 0).

        `learn=False` keeps this gap out of the cadence history (a dropout that was reported).
        """
        if self._warm_left > 0:
            self._warm_left -= 1
        last, self.last_ts = self.last_ts, ts_ms
        if last is None:
            return 0
        gap = ts_ms - last
        if gap < 0:  # a clock reset (reboot without RTC): keep the baseline, warm up again
            self._warm_left = WARMUP_SAMPLES
            return 0
        limit = self.gap_limit_ms()
        if limit is not None and gap > limit:
            self._warm_left = WARMUP_SAMPLES
            return int(limit)  # decay as if the gap were only this long: the baseline is kept
        if gap > 0 and learn:
            self._learn(gap)
        return gap


def window_geometry(*, count: int | None, span_ms: int | None, cap: int) -> tuple[int, float]:
    """How many points a window keeps, and for a time window the spacing between kept points.

    >>> window_geometry(count=None, span_ms=600_000, cap=100)
    (100, 6000.0)
    >>> window_geometry(count=300, span_ms=None, cap=100)
    (300, 0.0)
    """
    if (count is None) == (span_ms is None):
        raise ValueError("give exactly one of count and span_ms")
    return (cap if count is None else max(cap, count)), (0.0 if span_ms is None else span_ms / cap)


class SampleWindow:
    """The recent samples of one stream, by count or by time span, in at most `cap` points.

    A count window keeps the last `count` samples. A time window keeps samples newer than `span_ms`,
    never fewer than `min_points` (so slow cadences still have a baseline, and an outage does not
    empty it), and thins a long span to one kept sample per `span_ms / cap`. Thinning keeps raw
    samples (not averages), so the spread of the kept points is the spread of the data.
    `values` is kept sorted, so the median is a lookup; insertion is a binary search plus a memmove
    of at most `cap` floats.

    >>> w = SampleWindow(count=3, span_ms=None, min_points=1, cap=100)
    >>> for t, v in enumerate([5.0, 1.0, 3.0, 9.0]): _ = w.add(t, v)
    >>> w.values
    [1.0, 3.0, 9.0]
    """

    def __init__(
        self, *, count: int | None, span_ms: int | None, min_points: int, cap: int
    ) -> None:
        self.count = count
        self.span_ms = span_ms
        self.min_points = min_points
        self.cap, self.stride_ms = window_geometry(count=count, span_ms=span_ms, cap=cap)
        self._arrivals: deque[tuple[int, float]] = deque()
        self.values: list[float] = []
        self.version = 0  # bumped whenever the kept set changes (for caching derived figures)

    def __len__(self) -> int:
        return len(self.values)

    def _drop_oldest(self) -> None:
        _, value = self._arrivals.popleft()
        del self.values[bisect_left(self.values, value)]

    def add(self, ts_ms: int, value: float) -> bool:
        """Offer one sample; returns whether it was kept."""
        if self._arrivals and ts_ms < self._arrivals[-1][0]:
            # the clock went backwards (a reboot without RTC): keep the samples and their ages
            shift = ts_ms - self._arrivals[-1][0]
            self._arrivals = deque((t + shift, v) for t, v in self._arrivals)
        if self._arrivals and ts_ms - self._arrivals[-1][0] < self.stride_ms:
            return False
        self._arrivals.append((ts_ms, value))
        insort(self.values, value)
        if self.count is not None:
            while len(self._arrivals) > self.count:
                self._drop_oldest()
        else:
            assert self.span_ms is not None
            horizon = ts_ms - self.span_ms
            while len(self._arrivals) > self.cap or (
                len(self._arrivals) > self.min_points and self._arrivals[0][0] < horizon
            ):
                self._drop_oldest()
        self.version += 1
        return True

    def median(self) -> float:
        return median_of_sorted(self.values)


class Quantum:
    """The smallest non-zero step seen between consecutive readings: a quantised sensor's LSB.

    Used as one more floor under robust scales, so a sensor that reports whole numbers is never
    scored against a spread smaller than one of its own steps.

    >>> q = Quantum()
    >>> for v in (20.0, 20.0, 20.5, 21.0, 20.5): q.observe(v)
    >>> q.step
    0.5
    """

    def __init__(self) -> None:
        self.step = 0.0
        self._last: float | None = None

    def observe(self, value: float) -> None:
        if self._last is not None:
            delta = abs(value - self._last)
            # ignore float32 round-trip noise (22.39999962 vs 22.4)
            if delta > 1e-6 * max(1.0, abs(value)) and (self.step == 0.0 or delta < self.step):
                self.step = delta
        self._last = value
