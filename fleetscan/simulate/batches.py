"""Batches straight from a `SimulatedFleet` (arrays, NaN readings kept with their timestamps).

Used by tests and `scripts/eval_fleet.py`; the sweep itself never imports the simulator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fleetscan.fleet.batch import SeriesBatch, cohort_label
from fleetscan.simulate.fleet import SimulatedFleet


def fleet_batches(
    fleet: SimulatedFleet,
    metrics: Sequence[str],
    *,
    group_by: Sequence[str] = (),
    start_ms: int | None = None,
    end_ms: int | None = None,
    time_order: bool = False,
) -> dict[str, SeriesBatch]:
    """One batch per metric over `[start_ms, end_ms)`, grouped by board (or in time order)."""
    batches: dict[str, SeriesBatch] = {}
    cohorts = [cohort_label(fleet.tags(b), group_by) for b in fleet.boards]
    for metric in metrics:
        parts = [
            fleet.series(b, metric, start_ms=start_ms, end_ms=end_ms)
            if start_ms is not None or end_ms is not None
            else fleet.series(b, metric)
            for b in fleet.boards
        ]
        source = np.repeat(np.arange(len(parts)), [len(ts) for ts, _ in parts])
        ts = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        value = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
        if time_order:
            order = np.argsort(ts, kind="stable")
            source, ts, value = source[order], ts[order], value[order]
        batches[metric] = SeriesBatch.from_arrays(
            metric, fleet.boards, source, ts, value, cohorts=cohorts
        )
    return batches
