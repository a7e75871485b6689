"""What a sensor model can physically report, and the smallest change it can resolve.

Used by every check that needs a scale floor (so a zero MAD never divides), a plausibility range, or
a resolution for "stuck". The BME280 figures come from the Bosch datasheet (operating ranges; output
resolution 0.01 °C, 0.008 %RH, 0.18 Pa) widened to the noise actually seen on boards, because a scale
floor at the bare resolution turns ordinary noise into alerts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MetricProfile:
    """Limits for one metric of one sensor model. Units are the metric's own (°C, %, hPa)."""

    metric: str
    unit: str
    low: float  # readings below are physically impossible for the sensor
    high: float  # readings above are physically impossible for the sensor
    resolution: float  # smallest step the sensor reports: changes below this are "no change"
    noise_floor: float  # smallest credible spread (σ); robust scales never go below it
    exclusive_low: bool = False  # the low bound itself is impossible (humidity exactly 0 %)


BME280: dict[str, MetricProfile] = {
    "temperature": MetricProfile("temperature", "°C", -40.0, 85.0, 0.01, 0.1),
    "humidity": MetricProfile("humidity", "%", 0.0, 100.0, 0.01, 0.5, exclusive_low=True),
    "pressure": MetricProfile("pressure", "hPa", 300.0, 1100.0, 0.01, 0.1),
}

GENERIC = MetricProfile("", "", float("-inf"), float("inf"), 0.0, 1e-9)


def profile_for(metric: str) -> MetricProfile:
    """The BME280 profile for a metric name (`temperature`, `env.humidity`, ...) or a generic one.

    >>> profile_for("env.humidity").high, profile_for("rpm").noise_floor
    (100.0, 1e-09)
    """
    leaf = metric.rsplit(".", 1)[-1].lower()
    return BME280.get(leaf, GENERIC)


def implausible_reason(metric: str, value: float) -> str:
    """Why `value` cannot be a real reading of `metric`, or `''` when it can.

    >>> implausible_reason("humidity", 0.0)
    'humidity 0.00 % is outside the BME280 range (0, 100]'
    >>> implausible_reason("temperature", 21.5)
    ''
    """
    p = profile_for(metric)
    if p is GENERIC:
        return ""
    too_low = value <= p.low if p.exclusive_low else value < p.low
    if too_low or value > p.high:
        bracket = "(" if p.exclusive_low else "["
        return (
            f"{p.metric} {value:.2f} {p.unit} is outside the BME280 range "
            f"{bracket}{p.low:g}, {p.high:g}]"
        )
    return ""
