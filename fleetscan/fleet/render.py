"""Human output for sweep results: a table and a one-line summary (`--format jsonl` uses
`FleetResult.to_record`)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from fleetscan.fleet.status import Status
from fleetscan.fleet.sweep import FleetResult

COLUMNS = (
    "SOURCE",
    "METRIC",
    "VALUE",
    "MEDIAN",
    "SCALE",
    "Z",
    "OFFSET",
    "USUAL",
    "PEERS",
    "STATUS",
    "REASON",
)


def order(results: Sequence[FleetResult]) -> list[FleetResult]:
    """Metric by metric (in first-seen order), alerting first, then by score and source id."""
    metric_rank = {m: i for i, m in enumerate(dict.fromkeys(r.metric for r in results))}
    return sorted(
        results,
        key=lambda r: (metric_rank[r.metric], not r.alerting, -r.score, r.source_id),
    )


def table(results: Sequence[FleetResult]) -> str:
    """An aligned text table, one row per (source, metric)."""
    rows = [COLUMNS] + [
        (
            r.source_id,
            r.metric,
            _num(r.value),
            _num(r.fleet_median),
            _num(r.fleet_scale),
            _num(r.z, signed=True, digits=1),
            _num(r.offset, signed=True),
            _num(r.baseline_offset, signed=True),
            str(r.peers),
            r.status.value,
            r.reason,
        )
        for r in order(results)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(w) if i < 2 or i == 9 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
    return "\n".join(lines)


def summary(results: Sequence[FleetResult]) -> str:
    """`150 series (50 sources × 3 metrics): 140 ok, 3 drifting ...; 9 alerting`."""
    sources = len({r.source_id for r in results})
    metrics = len({r.metric for r in results})
    counts = Counter(r.status for r in results)
    parts = ", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s])
    alerting = sum(r.alerting for r in results)
    return (
        f"{len(results)} series ({sources} sources × {metrics} metric"
        f"{'s' if metrics != 1 else ''}): {parts or 'nothing to score'}; {alerting} alerting"
    )


def _num(x: float, *, signed: bool = False, digits: int = 2) -> str:
    if not math.isfinite(x):
        return "-"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
