"""Prometheus metrics of a sweep, for node_exporter's textfile collector.

`registry(outcome, ...)` fills a `prometheus_client` CollectorRegistry; `write_prom(path, registry)`
writes it with `prometheus_client.write_to_textfile`, which writes `<path>.<pid>.<thread>` in the
same directory (its name does not end in `.prom`, so the collector never reads it half-written)
and renames it over `path`: the collector sees the old file or the new one, never a mix. The file
is then made world-readable (0644), as node_exporter usually runs as another user
(`write_to_textfile` honours the umask: under a umask of 077 the new file is 0600 for the
moment between the rename and the chmod, so a collector running as another user can miss one
scrape; the data is never mixed). Metrics (all
gauges):

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

from collections import Counter
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

from fleetscan.errors import FleetscanError
from fleetscan.events import STATUS_SUFFIX, status_points
from fleetscan.fleet.status import Status
from fleetscan.sweeps.step import LifecycleStep, Severity

_SERIES = ("source_id", "metric")


def registry(
    outcome: LifecycleStep, *, duration_s: float, outbox_points: int, exit_code: int
) -> CollectorRegistry:
    """The metrics of one sweep, in a registry of their own (never the process's global one)."""
    reg = CollectorRegistry(auto_describe=False)

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, labelnames=labels, registry=reg)

    verdicts = sorted(outcome.verdicts, key=lambda v: (v.result.metric, v.result.source_id))
    fleet_z = gauge(
        "fleetscan_fleet_z",
        "The <metric>.fleet_z a sweep posted: the open alert's score, else 0.",
        _SERIES,
    )
    alerting = gauge(
        "fleetscan_alerting",
        "1 while the series' alert is open (after --consecutive sweeps).",
        _SERIES,
    )
    for v in verdicts:
        fleet_z.labels(source_id=v.result.source_id, metric=v.result.metric).set(v.fleet_z)
        alerting.labels(source_id=v.result.source_id, metric=v.result.metric).set(v.alerting)
    status = gauge(
        "fleetscan_fleet_status",
        "The <metric>.fleet_status code: kind of open alert, 0 none, <0 not judged.",
        _SERIES,
    )
    for p in status_points(verdicts):
        status.labels(source_id=p.source_id, metric=p.metric.removesuffix(STATUS_SUFFIX)).set(
            p.value
        )
    by_status = Counter((v.result.metric, v.result.status) for v in verdicts)
    metrics = sorted({v.result.metric for v in verdicts})
    sources = gauge(
        "fleetscan_sources", "Series per status in the last sweep.", ("metric", "status")
    )
    for m in metrics:
        for s in Status:
            sources.labels(metric=m, status=s.value).set(by_status[(m, s)])
    open_by = Counter(v.severity for v in verdicts if v.alerting)
    alerts = gauge("fleetscan_alerts", "Open alerts by severity.", ("severity",))
    for sev in (Severity.WARNING, Severity.CRITICAL):
        alerts.labels(severity=sev.name.lower()).set(open_by[sev])
    storms = Counter(f.metric for f in outcome.storms if f.storm is not None)
    storm = gauge(
        "fleetscan_storms",
        "Storms: a large share of the fleet or a cohort flagged at once.",
        ("metric",),
    )
    for m in metrics:
        storm.labels(metric=m).set(storms[m])
    gauge("fleetscan_outbox_points", "Points waiting in the state's outbox for the gateway.").set(
        outbox_points
    )
    gauge(
        "fleetscan_sweep_timestamp_seconds", "When the last sweep ran (its now), epoch seconds."
    ).set(outcome.now_ms / 1000.0)
    gauge("fleetscan_sweep_duration_seconds", "How long the last sweep took.").set(
        round(duration_s, 6)
    )
    gauge(
        "fleetscan_sweep_severity", "The sweep's exit code: 0 ok, 1 warning, 2 critical, 3 unknown."
    ).set(int(exit_code))
    return reg


def write_prom(path: Path, metrics: CollectorRegistry) -> None:
    """Replace `path` with the registry's exposition atomically (temp file, then rename), mode 0644."""
    try:
        write_to_textfile(str(path), metrics)
        path.chmod(0o644)  # node_exporter usually runs as another user
    except OSError as exc:
        raise FleetscanError(f"cannot write {path}: {exc.strerror or exc}") from None
