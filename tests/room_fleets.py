"""The small fleet the cohort tests share: 15 boards in 3 rooms, each room wandering on its own
(HVAC, doors: a new level every hour), one reading a minute, quantised to 0.01."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fleetscan.fleet import SeriesBatch

START = 1_781_222_400_000  # 2026-06-12 00:00 UTC
MIN = 60_000
ROOMS, PER_ROOM = 3, 5


def rooms_fleet(hours: int, shifts: Mapping[int, float], *, tagged: bool) -> SeriesBatch:
    """`hours` of the fleet; in the last 30 minutes board i (b00..b14, room i // 5) moves by
    `shifts[i]`. Tagged: each board's cohort is its room (`room-0`..`room-2`)."""
    rng = np.random.default_rng(8)
    ts = START + np.arange(hours * 60) * MIN
    late = ts >= ts[-1] - 30 * MIN
    src, when, val = [], [], []
    for room in range(ROOMS):
        wander = np.repeat(rng.normal(0, 0.2, hours), 60)  # each room's own hourly moves
        for k in range(PER_ROOM):
            i = room * PER_ROOM + k
            v = 21 + room + wander + rng.normal(0, 0.03, len(ts))
            v = v + np.where(late, shifts.get(i, 0.0), 0.0)
            src.append(np.full(len(ts), i))
            when.append(ts)
            val.append(np.round(v, 2))
    s, t, v = np.concatenate(src), np.concatenate(when), np.concatenate(val)
    order = np.argsort(t, kind="stable")
    ids = [f"b{i:02d}" for i in range(ROOMS * PER_ROOM)]
    rooms = [f"room-{i // PER_ROOM}" for i in range(ROOMS * PER_ROOM)] if tagged else None
    return SeriesBatch.from_arrays("temperature", ids, s[order], t[order], v[order], cohorts=rooms)
