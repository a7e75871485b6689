"""Prometheus text-exposition metrics of a sweep, for node_exporter's textfile collector.

`write_prom(path, text)` writes a temporary file in the same directory (its name does not end in
`.prom`, so the collector never reads it half-written), makes it world-readable, syncs it and
renames it over `path` with `os.replace`: the collector sees the old file or the new one, never
a mix. Metrics (all gauges):

    fleetscan_fleet_z{source_id,metric}            what <metric>.fleet_z carried this sweep
    fleetscan_alerting{source_id,metric}           1 while the series' alert is open
    fleetscan_fleet_status{source_id,metric}       what <metric>.fleet_status carried (README table)
    fleetscan_sources{metric,status}               series per status in this sweep
    fleetscan_alerts{severity}                     open alerts by severity (warning, critical)
    fleetscan_storms{metric}                       storms (one finding for many sources) now
    fleetscan_outbox_points                        points waiting in the outbox for the gateway
    fleetscan_sweep_timestamp_seconds              when the sweep ran (its `now`)
    fleetscan_sweep_duration_seconds               how long it took
    fleetscan_sweep_severity                       the exit code: 0 ok, 1 warning, 2 critical, 3 unknown

A failed sweep (Plexus unreachable, state locked) leaves the file as it was, so alert on
`time() - fleetscan_sweep_timestamp_seconds` to notice sweeps that stopped.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from fleetscan.errors import FleetscanError
from fleetscan.events import STATUS_SUFFIX, status_points
from fleetscan.fleet.status import Status
from fleetscan.sweeps.step import Severity, StepOutcome

_HELP = {
    "fleetscan_fleet_z": "The <metric>.fleet_z a sweep posted: the open alert's score, else 0.",
    "fleetscan_alerting": "1 while the series' alert is open (after --consecutive sweeps).",
    "fleetscan_fleet_status": "The <metric>.fleet_status code: kind of open alert, 0 none, <0 not judged.",
    "fleetscan_sources": "Series per status in the last sweep.",
    "fleetscan_alerts": "Open alerts by severity.",
    "fleetscan_storms": "Storms: a large share of the fleet or a cohort flagged at once.",
    "fleetscan_outbox_points": "Points waiting in the state's outbox for the gateway.",
    "fleetscan_sweep_timestamp_seconds": "When the last sweep ran (its now), epoch seconds.",
    "fleetscan_sweep_duration_seconds": "How long the last sweep took.",
    "fleetscan_sweep_severity": "The sweep's exit code: 0 ok, 1 warning, 2 critical, 3 unknown.",
}


def exposition(
    outcome: StepOutcome, *, duration_s: float, outbox_points: int, severity: Severity
) -> str:
    """The text-exposition document for one sweep.

    >>> print(_sample("fleetscan_fleet_z", {"source_id": 'a"b', "metric": "t"}, 4.5))
    fleetscan_fleet_z{source_id="a\\"b",metric="t"} 4.5
    """
    lines: list[str] = []

    def family(name: str, samples: Iterable[tuple[Mapping[str, str], float]]) -> None:
        lines.append(f"# HELP {name} {_HELP[name]}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(_sample(name, labels, value) for labels, value in samples)

    verdicts = sorted(outcome.verdicts, key=lambda v: (v.result.metric, v.result.source_id))
    family(
        "fleetscan_fleet_z",
        (
            ({"source_id": v.result.source_id, "metric": v.result.metric}, v.fleet_z)
            for v in verdicts
        ),
    )
    family(
        "fleetscan_alerting",
        (
            ({"source_id": v.result.source_id, "metric": v.result.metric}, float(v.alerting))
            for v in verdicts
        ),
    )
    family(
        "fleetscan_fleet_status",
        (
            ({"source_id": p.source_id, "metric": p.metric.removesuffix(STATUS_SUFFIX)}, p.value)
            for p in status_points(verdicts)
        ),
    )
    by_status = Counter((v.result.metric, v.result.status) for v in verdicts)
    metrics = sorted({v.result.metric for v in verdicts})
    family(
        "fleetscan_sources",
        (
            ({"metric": m, "status": s.value}, float(by_status[(m, s)]))
            for m in metrics
            for s in Status
        ),
    )
    open_by = Counter(v.severity for v in verdicts if v.alerting)
    family(
        "fleetscan_alerts",
        (
            ({"severity": s.name.lower()}, float(open_by[s]))
            for s in (Severity.WARNING, Severity.CRITICAL)
        ),
    )
    storms = Counter(f.metric for f in outcome.storms if f.storm is not None)
    family("fleetscan_storms", (({"metric": m}, float(storms[m])) for m in metrics))
    family("fleetscan_outbox_points", [({}, float(outbox_points))])
    family("fleetscan_sweep_timestamp_seconds", [({}, outcome.now_ms / 1000.0)])
    family("fleetscan_sweep_duration_seconds", [({}, round(duration_s, 6))])
    family("fleetscan_sweep_severity", [({}, float(severity))])
    return "\n".join(lines) + "\n"


def _sample(name: str, labels: Mapping[str, str], value: float) -> str:
    if labels:
        body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        name = f"{name}{{{body}}}"
    return f"{name} {_number(value)}"


def _escape(value: str) -> str:
    r"""Label values escape backslash, double quote and newline.

    >>> _escape('a\\b"c\nd')
    'a\\\\b\\"c\\nd'
    """
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def write_prom(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically (temp file in the same directory, then rename)."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        handle = tempfile.NamedTemporaryFile(
            "w",
            encoding="utf-8",
            dir=directory,
            prefix=f".{path.name}.",
            suffix=".tmp",
            delete=False,
        )
    except OSError as exc:
        raise FleetscanError(f"cannot write {path}: {exc.strerror or exc}") from None
    tmp = Path(handle.name)
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o644)  # node_exporter usually runs as another user
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise FleetscanError(f"cannot write {path}: {exc.strerror or exc}") from None
