"""Every knob of a fleet sweep in one frozen value, with the defaults the CLI shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from fleetscan.sensors import MetricProfile, profile_for
from fleetscan.timeutil import DAY_MS, HOUR_MS, MINUTE_MS

# Without a learned baseline a board's own calibration offset is unknown, so a snapshot compares
# boards that may legitimately differ by the sensor's unit-to-unit accuracy (BME280 datasheet:
# ±1 °C, ±3 %RH, ±1 hPa, read as 2σ). These are the snapshot scale floors; once a baseline has
# learned each board's offset, the much smaller noise floor applies to changes of that offset.
SNAPSHOT_FLOOR = {"temperature": 0.5, "humidity": 1.5, "pressure": 0.5}


@dataclass(frozen=True, kw_only=True)
class SweepOptions:
    """How a sweep reduces, compares, decides and learns. Durations are epoch-ms spans.

    `min_scale` maps a metric name to the smallest scale (metric units) a z may be divided by;
    the key `""` applies to every metric without its own entry; without either, the sensor
    profile's noise floor applies (BME280: 0.1 °C, 0.5 %RH, 0.1 hPa). The scale is never below
    the sensor's resolution, so z is always finite.
    """

    window_ms: int = 10 * MINUTE_MS  # recent window each source is summarised over
    threshold: float = 3.0  # |z| above this is anomalous / drifting
    min_peers: int = 5  # peers (other sources of the cohort) needed to compare at all
    min_scale: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    group_by: tuple[str, ...] = ()  # tag names; boards are compared within equal tag values
    min_readings: int = 1  # valid readings in the window for a source to have a value
    stale_factor: float = 5.0  # silent for more than this many of its own intervals...
    stale_floor_ms: int = MINUTE_MS  # ...and more than this, is stale
    outage_fraction: float = 0.5  # this share of a cohort (or fleet) silent at once: an outage
    clock_tolerance_ms: int = 5 * MINUTE_MS  # readings stamped further ahead are clock faults
    noisy_ratio: float = 4.0  # own noise σ this many times the peers' median is noisy
    min_noise_readings: int = 8  # readings needed to judge noise
    stuck_min_readings: int = 5  # readings needed to call a sensor stuck
    stuck_peer_factor: float = 3.0  # peers must move more than this many resolution steps
    simulated_min_readings: int = 8  # readings needed to recognise the C SDK's fake values
    bucket_ms: int = HOUR_MS  # baseline offsets are kept per bucket of this length
    baseline_span_ms: int = 7 * DAY_MS  # and for this long
    min_baseline_buckets: int = 6  # completed buckets before a baseline is used
    # Until a board has this much history its own daily pattern is unknown (the sun may not yet
    # have risen on it), so drift must also stand out of the cohort's spread, as a snapshot would.
    first_day_ms: int = DAY_MS
    # Until a board has this much history its gap to its peers is shown but does not flag, unless
    # it moved one way through all of it (a drift under way): a daily habit cannot be told from a
    # fault before a day has shown it. 0 judges from the first sweep; the CLI's `--warm-up` is 24h.
    warm_up_ms: int = 0
    daily_profile: bool = True  # judge a window against the same hour of past days
    daily_hours: int = 1  # ...within this many hours of the window's hour (UTC)
    daily_scale_hours: int = 3  # scales pooled over this many hours either side
    daily_min_days: int = 2  # past days an hour needs, else wider hours, else all hours
    discover_cohorts: bool = True  # compare boards first with those they usually move with
    learn_while_alerting: bool = False  # fold windows of a drifting source into its baseline
    interval_alpha: float = 0.2  # smoothing of each source's learned reading interval

    def __post_init__(self) -> None:
        positive = {
            "window_ms": self.window_ms,
            "threshold": self.threshold,
            "stale_factor": self.stale_factor,
            "noisy_ratio": self.noisy_ratio,
            "bucket_ms": self.bucket_ms,
            "baseline_span_ms": self.baseline_span_ms,
        }
        for name, number in positive.items():
            if not number > 0:
                raise ValueError(f"{name} must be > 0, got {number!r}")
        if self.first_day_ms < 0 or self.warm_up_ms < 0:
            raise ValueError(
                f"first_day_ms and warm_up_ms must be >= 0, got {self.first_day_ms!r}, "
                f"{self.warm_up_ms!r}"
            )
        if self.min_peers < 1 or self.min_readings < 1 or self.min_baseline_buckets < 1:
            raise ValueError("min_peers, min_readings and min_baseline_buckets must be >= 1")
        if not 0 <= self.daily_hours <= self.daily_scale_hours <= 12 or self.daily_min_days < 1:
            raise ValueError(
                "need 0 <= daily_hours <= daily_scale_hours <= 12, daily_min_days >= 1"
            )
        if not 0 < self.outage_fraction <= 1 or not 0 < self.interval_alpha <= 1:
            raise ValueError("outage_fraction and interval_alpha must be in (0, 1]")
        if any(not scale > 0 for scale in self.min_scale.values()):
            raise ValueError("min_scale values must be > 0")
        object.__setattr__(self, "min_scale", MappingProxyType(dict(self.min_scale)))
        object.__setattr__(self, "group_by", tuple(self.group_by))

    @property
    def first_day_span_ms(self) -> int:
        """History before a board's own figures are trusted alone: `first_day_ms`, or the whole
        baseline where that is asked to span less (it then asks not to wait for a daily habit).

        >>> SweepOptions().first_day_span_ms, SweepOptions(baseline_span_ms=6 * 3_600_000).first_day_span_ms
        (86400000, 21600000)
        """
        return min(self.first_day_ms, self.baseline_span_ms)

    @property
    def warm_up_span_ms(self) -> int:
        """History before a board's gap to its peers may flag: `warm_up_ms`, or the whole
        baseline where that is asked to span less, as for `first_day_span_ms`.

        >>> SweepOptions(warm_up_ms=86_400_000, baseline_span_ms=6 * 3_600_000).warm_up_span_ms
        21600000
        """
        return min(self.warm_up_ms, self.baseline_span_ms)

    def scale_floor(
        self, metric: str, profile: MetricProfile | None = None, *, snapshot: bool = False
    ) -> float:
        """The smallest scale for `metric`, never below the sensor's resolution.

        `min_scale` when given; otherwise the sensor's noise floor for baseline-relative scores
        and `SNAPSHOT_FLOOR` (unit-to-unit accuracy) for snapshot ones.

        >>> opts = SweepOptions()
        >>> opts.scale_floor("temperature"), opts.scale_floor("temperature", snapshot=True)
        (0.1, 0.5)
        >>> SweepOptions(min_scale={"": 0.3}).scale_floor("humidity", snapshot=True)
        0.3
        """
        prof = profile if profile is not None else profile_for(metric)
        default = prof.noise_floor
        if snapshot:
            default = max(default, SNAPSHOT_FLOOR.get(prof.metric, default))
        chosen = self.min_scale.get(metric, self.min_scale.get("", default))
        return max(chosen, prof.resolution, 1e-9)
