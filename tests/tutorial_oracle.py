"""The tutorial's detector.py, verbatim: the oracle `--method tutorial` is compared with."""

from __future__ import annotations

import collections
import math

WINDOW_SAMPLES = 15
Z_THRESHOLD = 3.0
CONSECUTIVE = 3


def zscore(values):  # type: ignore[no-untyped-def]
    """Return the z-score of the latest value vs. the rest of the window."""
    if len(values) < 5:
        return 0.0
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / len(values)
    std = math.sqrt(var)
    if std < 0.01:
        return 0.0
    return (values[-1] - mean) / std


def tutorial_lines(rows: list[tuple[str, float]]) -> list[tuple[str, float, float]]:
    """The tutorial's main loop body over rows, returning (printed line, z, posted value)."""
    window: collections.deque[float] = collections.deque(maxlen=WINDOW_SAMPLES)
    out = []
    last_ts = None
    consecutive = 0
    for ts, value in sorted(rows, key=lambda x: x[0]):
        if last_ts is not None and ts <= last_ts:
            continue
        last_ts = ts
        window.append(value)
        z = zscore(list(window))
        consecutive = consecutive + 1 if abs(z) > Z_THRESHOLD else 0
        emit = abs(z) if consecutive >= CONSECUTIVE else 0.0
        tag = "ANOMALY" if consecutive >= CONSECUTIVE else "normal "
        out.append((f"[{tag}] t={value:6.2f} z={z:+5.2f} streak={consecutive}", z, emit))
    return out
