"""Fleet scoring: every source of a metric against its peers, explained, as pure functions.

Data flow (one module per arrow):

    Readings ─batch─▶ SeriesBatch ─reduce─▶ WindowAggregates ─score─▶ MetricScores ─sweep─▶ FleetResult
                            └─baseline (learn_baseline / fold_window)─▶ MetricBaseline ─┘

- `batch`: readings as columns (`SeriesBatch`, `BatchBuilder`); cohorts from `--group-by` tags.
- `reduce`: one row of window statistics per source (the step a telemetry store could run).
- `baseline`: each source's usual offset from its cohort, per hourly bucket, as a value.
- `score`: leave-one-out medians and scales per cohort, z, and the stuck/noisy/stale/invalid checks.
- `status`: the status vocabulary and the `fleet_z` mapping.
- `sweep`: `score_window(window, baseline, now_ms=, options=) -> (results, baseline)`.
- `emit`: the points a series posts (`<metric>.fleet_z`, `<metric>.fleet_dev`), as values.

All of it is NumPy and the standard library only: no clock, network, disk or environment (the
Plexus reads are `sweeps.live`, the text output `sweeps.render`).
"""

from __future__ import annotations

from fleetscan.fleet.baseline import Baseline, MetricBaseline, fold_window, learn_baseline
from fleetscan.fleet.batch import BatchBuilder, SeriesBatch, cohort_label
from fleetscan.fleet.emit import fleet_points
from fleetscan.fleet.options import SweepOptions
from fleetscan.fleet.reduce import WindowAggregates, reduce_window
from fleetscan.fleet.status import FLAGGED, Status
from fleetscan.fleet.sweep import FleetResult, WindowScores, score_window

__all__ = [
    "FLAGGED",
    "Baseline",
    "BatchBuilder",
    "FleetResult",
    "MetricBaseline",
    "SeriesBatch",
    "Status",
    "SweepOptions",
    "WindowScores",
    "WindowAggregates",
    "cohort_label",
    "fleet_points",
    "fold_window",
    "learn_baseline",
    "reduce_window",
    "score_window",
]
