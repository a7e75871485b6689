"""The sweep's JSON lines: one versioned record per series per sweep, written with orjson.

Each line of `fleetscan fleet --format jsonl` and `fleetscan replay --format jsonl` starts with
`"schema": "fleetscan.sweep/1"` and follows `docs/schema/sweep-record.schema.json`. It is UTF-8
(`°C` stays `°C`), NaN and ±inf become `null`, and the readings-derived numbers are rounded to
the sensor's resolution (BME280: 0.01 °C, 0.01 %RH, 0.01 hPa; see `fleetscan.sensors`), z and
score to 0.01, so the output says no more than the sensor measured. A new field keeps the
version; renaming or removing one, or changing its meaning, bumps it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any

import orjson

from fleetscan.sensors import profile_for

SCHEMA = "fleetscan.sweep/1"
IN_METRIC_UNITS = ("value", "fleet_median", "fleet_scale", "offset", "baseline_offset")
IN_SIGMA = ("z", "score")


def _digits(resolution: float) -> int:
    """Decimals that show a resolution: 0.01 → 2, 0.1 → 1, 1 → 0.

    >>> _digits(0.01), _digits(0.1), _digits(1.0), _digits(0.0)
    (2, 1, 0, 6)
    """
    if not resolution > 0:
        return 6
    return max(0, -math.floor(math.log10(resolution) + 1e-9))


def _rounded(value: Any, digits: int) -> Any:
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else None
    return value


def sweep_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with its schema version first and its numbers rounded (see the module).

    >>> sweep_record({"metric": "temperature", "value": 22.39999962, "z": 3.14159})
    {'schema': 'fleetscan.sweep/1', 'metric': 'temperature', 'value': 22.4, 'z': 3.14}
    """
    digits = _digits(profile_for(str(record.get("metric", ""))).resolution)
    out: dict[str, Any] = {"schema": SCHEMA}
    for key, value in record.items():
        if key in IN_METRIC_UNITS:
            value = _rounded(value, digits)
        elif key in IN_SIGMA:
            value = _rounded(value, 2)
        out[key] = value
    return out


def write_record(record: Mapping[str, Any]) -> None:
    """One line on stdout: `sweep_record(record)` as UTF-8 JSON."""
    sys.stdout.write(orjson.dumps(sweep_record(record)).decode("utf-8") + "\n")
