"""What the sandbox does behind its HTTP routes: store points, keep monitors, run the alert engine.

`Backend` plays the parts of several Plexus services at once: the ClickHouse loader (where a
point's timestamp lands, events kept apart from telemetry), the metric announcer (sources register
on their first metric point), the app's monitor tables, and houston plus the transitions route
(alert engine, `alert.triggered` / `alert.resolved` records). Routes call it after validating.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from itertools import repeat

import numpy as np
import numpy.typing as npt

from fleetscan.sandbox.alerts import AlertEngine, HoustonTransition, ThresholdRule
from fleetscan.sandbox.ingest import IngestPoint, stored_timestamp_ms
from fleetscan.sandbox.keys import KEY_SCOPES
from fleetscan.sandbox.monitor_schema import CreateMonitor
from fleetscan.sandbox.store import MonitorRow, SandboxStore, Source
from fleetscan.telemetry import Reading
from fleetscan.timeutil import iso_z

CONTEXT_EVENT = "fleetscan.alert"  # the event fleetscan posts with each alert (fleetscan.events)
SCORE_SUFFIXES = (".fleet_z", ".fleet_status", ".fleet_dev", ".zscore")
_PENDING_HEALTH = {"state": "pending", "reason": None, "checked_at": None}


def tags_json(tags: Mapping[str, str] | None) -> str:
    """Tags as stored: a compact JSON object, `{}` when there are none."""
    if not tags:
        return "{}"
    return json.dumps(dict(tags), separators=(",", ":"), ensure_ascii=False)


def pg_timestamp(epoch_s: float) -> str:
    """A Postgres `timestamptz` in text form, as the app returns `created_at`.

    >>> pg_timestamp(1781258400.5)
    '2026-06-12 10:00:00.5+00'
    """
    text = datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return text.rstrip("0").rstrip(".") + "+00"


class Backend:
    """The sandbox's state and behaviour. Thread-safe; `clock()` returns epoch seconds."""

    def __init__(
        self,
        store: SandboxStore,
        *,
        clock: Callable[[], float],
        log: Callable[[str], None] | None = None,
        key_scopes: Mapping[str, frozenset[str]] = KEY_SCOPES,
    ) -> None:
        self.store = store
        self.key_scopes = key_scopes
        self.clock = clock
        self._log = log
        self.engine = AlertEngine()
        self._monitor_lock = threading.Lock()
        self._open_alerts: dict[str, tuple[str, float]] = {}  # rule id → (alert id, opened at)
        self._sync_rules()

    # -- telemetry ------------------------------------------------------------------------------

    def ingest(self, points: Sequence[IngestPoint]) -> int:
        """Store points accepted by `/ingest` and evaluate them against the monitors.

        Metric points go to telemetry (where the loader would put them in time) and register their
        source; event points go to the events table. Returns the count the gateway reports.
        """
        now = self.clock()
        received_ms = int(now * 1000)
        rows: list[tuple[str, str, int, float, str]] = []
        events: list[tuple[str, str, int, str, str, int]] = []
        for point in points:
            ts_ms = stored_timestamp_ms(point.timestamp, received_ms)
            if ts_ms is None:
                continue  # beyond what the loader can store: counted by the gateway, then dropped
            tags = tags_json(point.tags)
            if point.point_class == "event":
                body = point.value if isinstance(point.value, str) else json.dumps(point.value)
                events.append((point.source_id, point.metric, ts_ms, body, tags, received_ms))
            else:
                rows.append((point.source_id, point.metric, ts_ms, _as_float(point.value), tags))
        for slug in dict.fromkeys(p.source_id for p in points if p.point_class == "metric"):
            self.store.register_source(slug, now=now)
        self.store.insert_telemetry(rows)
        if events:
            self.store.insert_events(events)
        transitions: list[HoustonTransition] = []
        for point in points:
            if point.point_class == "metric":
                value = _as_float(point.value)
                transitions += self.engine.evaluate(point.source_id, point.metric, value, now=now)
        self._record(transitions)
        return len(points)

    def insert_readings(self, readings: Iterable[Reading], *, evaluate_alerts: bool = False) -> int:
        """Backfill readings directly (timestamps stored as given). Returns rows stored."""
        now = self.clock()
        batch = [r for r in readings if math.isfinite(r.value)]
        for slug in dict.fromkeys(r.source_id for r in batch):
            self.store.register_source(slug, now=now)
        count = self.store.insert_telemetry(
            (r.source_id, r.metric, int(r.ts_ms), float(r.value), tags_json(r.tags)) for r in batch
        )
        if evaluate_alerts:
            transitions: list[HoustonTransition] = []
            for r in batch:
                transitions += self.engine.evaluate(r.source_id, r.metric, r.value, now=now)
            self._record(transitions)
        return count

    def insert_arrays(
        self,
        source_id: str,
        metric: str,
        ts_ms: npt.ArrayLike,
        values: npt.ArrayLike,
        tags: Mapping[str, str] | None = None,
    ) -> int:
        """Backfill one series from arrays; non-finite values are skipped. Returns rows stored."""
        times = np.asarray(ts_ms, dtype=np.int64)
        numbers = np.asarray(values, dtype=np.float64)
        if times.shape != numbers.shape or times.ndim != 1:
            raise ValueError(
                f"ts_ms and values must be 1-D arrays of the same length, got {times.shape} "
                f"and {numbers.shape}"
            )
        keep = np.isfinite(numbers)
        times, numbers = times[keep], numbers[keep]
        self.store.register_source(source_id, now=self.clock())
        return self.store.insert_telemetry(
            zip(
                repeat(source_id),
                repeat(metric),
                times.tolist(),
                numbers.tolist(),
                repeat(tags_json(tags)),
                strict=False,
            )
        )

    # -- monitors -------------------------------------------------------------------------------

    def create_monitor(self, request: CreateMonitor, source: Source) -> None:
        """POST /api/monitors after validation: thresholds and events upsert, offline appends."""
        now = self.clock()
        metric = request.metric or ""
        with self._monitor_lock:  # each spec's fields, in order, are its stored config
            if request.threshold is not None:
                config = {**asdict(request.threshold), "targets": request.notification_targets}
                self.store.upsert_monitor("threshold", source, metric, json.dumps(config), now=now)
            if request.event is not None:
                config = asdict(request.event)
                self.store.upsert_monitor("event", source, metric, json.dumps(config), now=now)
            if request.offline is not None:
                config = asdict(request.offline)
                self.store.add_monitor("offline", source, "", json.dumps(config), now=now)
            self._sync_rules()

    def delete_monitors(self, source: Source, metric: str) -> None:
        """DELETE /api/monitors?source_id&metric: a removed threshold closes its open alert."""
        with self._monitor_lock:
            if not metric:
                self.store.delete_monitors(source, "", ["offline"])
            self.store.delete_monitors(source, metric, ["threshold", "event"])
            self._sync_rules()

    def delete_offline(self, monitor_id: str) -> bool:
        """DELETE /api/monitors?offline_id=…; False when no such monitor."""
        with self._monitor_lock:
            return self.store.delete_monitor_by_id(monitor_id, "offline") > 0

    def has_monitor(self, source: Source, metric: str) -> bool:
        """Whether (source, metric) has a threshold or event monitor (PATCH's 404 check)."""
        return any(
            m.source.id == source.id and m.metric == metric and m.kind != "offline"
            for m in self.store.monitors()
        )

    def has_offline(self, monitor_id: str) -> bool:
        """Whether an offline monitor has this id."""
        return any(m.id == monitor_id for m in self.store.monitors("offline"))

    def list_monitors(self) -> list[dict[str, object]]:
        """GET /api/monitors's `monitors`, newest first (docs/plexus-contract.md §2.4)."""
        series: dict[tuple[str, str], dict[str, object]] = {}
        created: dict[tuple[str, str], float] = {}
        offline: list[tuple[float, dict[str, object]]] = []
        for row in self.store.monitors():  # newest first
            if row.kind == "offline":
                offline.append((row.created_at, _offline_entry(row)))
                continue
            key = (row.source.id, row.metric)
            entry = series.setdefault(key, _series_entry(row))
            entry[row.kind] = {"id": row.id, **_monitor_fields(row.kind, json.loads(row.config))}
            has_both = entry["threshold"] is not None and entry["event"] is not None
            entry["type"] = "both" if has_both else row.kind
            created[key] = row.created_at  # the oldest record of the pair wins, as in the app
            entry["created_at"] = pg_timestamp(row.created_at)
        ordered = [(created[key], entry) for key, entry in series.items()] + offline
        ordered.sort(key=lambda pair: pair[0], reverse=True)
        return [entry for _created, entry in ordered]

    def _sync_rules(self) -> None:
        """Push every threshold to the engine (houston's per-org swap)."""
        rules = []
        for row in self.store.monitors("threshold"):
            config = json.loads(row.config)
            rules.append(
                ThresholdRule(
                    rule_id=row.id,
                    source_slug=row.source.slug,
                    metric=row.metric,
                    min=config["min"],
                    max=config["max"],
                    severity=config["severity"],
                    message=config.get("message"),
                    targets=tuple(config.get("targets") or ()),
                )
            )
        self._record(self.engine.set_rules(rules, now=self.clock()))

    # -- alert events ---------------------------------------------------------------------------

    def alert_events(self, *, after_id: int = 0) -> list[dict[str, object]]:
        """Recorded alert events, oldest first."""
        return [
            {
                "id": event_id,
                "event": event,
                "created_at": iso_z(int(created * 1000)),
                "data": json.loads(data),
            }
            for event_id, event, created, data in self.store.alert_events(after_id=after_id)
        ]

    def source_events(
        self, *, source: str | None = None, name: str | None = None, after_id: int = 0
    ) -> list[dict[str, object]]:
        """Stored class=event points (what Plexus keeps in its events table), oldest first."""
        return [
            {
                "id": event_id,
                "source_id": source_id,
                "name": event_name,
                "timestamp": iso_z(ts_ms),
                "value": _event_value(body),
                "tags": json.loads(tags),
                "ingested_at": iso_z(ingested_ms),
            }
            for event_id, source_id, event_name, ts_ms, body, tags, ingested_ms in (
                self.store.query_events(source=source, name=name, after_id=after_id)
            )
        ]

    def _context(self, source_slug: str, metric: str) -> dict[str, object] | None:
        """The newest `fleetscan.alert` event about this series: why the number crossed the line.

        Plexus's webhook has a `contextSnapshot` field; the sandbox fills it with what fleetscan
        posted on the board, so receivers (and the demo's Slack message) can show the reason."""
        base = metric
        for suffix in SCORE_SUFFIXES:
            base = base.removesuffix(suffix)
        for event in reversed(self.source_events(source=source_slug, name=CONTEXT_EVENT)):
            tags, value = event["tags"], event["value"]
            if isinstance(tags, dict) and tags.get("metric") == base and isinstance(value, dict):
                return {"name": event["name"], "timestamp": event["timestamp"], **value}
        return None

    def _record(self, transitions: Iterable[HoustonTransition]) -> None:
        for t in transitions:
            rule = t.rule
            source = self.store.resolve_source(rule.source_slug)
            if t.state == "open":
                alert_id = str(uuid.uuid4())
                self._open_alerts[rule.rule_id] = (alert_id, t.at)
            else:
                alert_id, _opened = self._open_alerts.pop(
                    rule.rule_id, (str(uuid.uuid4()), t.opened_at)
                )
            side = "above maximum" if t.bound == "max" else "below minimum"
            data = {
                "alertId": alert_id,
                "ruleId": rule.rule_id,
                "sourceId": source.id if source else None,
                "sourceName": source.name if source else rule.source_slug,
                "sourceSlug": rule.source_slug,
                "metric": rule.metric,
                "value": t.value,
                "threshold": t.threshold,
                "bound": t.bound,
                "severity": rule.severity,
                "status": "open" if t.state == "open" else "resolved",
                "triggerType": "limit_violation",
                "message": rule.message or f"{rule.metric} {t.value:.4g} {side} {t.threshold:.4g}",
                "notificationTargets": list(rule.targets) or None,
                "triggeredAt": iso_z(int(t.opened_at * 1000)),
                "resolvedAt": None if t.state == "open" else iso_z(int(t.at * 1000)),
                "reason": t.reason,
                "contextSnapshot": self._context(rule.source_slug, rule.metric),
            }
            event = "alert.triggered" if t.state == "open" else "alert.resolved"
            self.store.append_alert_event(event, json.dumps(data), now=t.at)
            if self._log is not None:
                self._log(_alert_line(event, data, t))


def _as_float(value: object) -> float:
    """A metric point's value (validation made it a float; anything else is NaN)."""
    return float(value) if isinstance(value, int | float) else math.nan


def _event_value(body: str) -> object:
    """An event's stored body: JSON objects and lists come back parsed, text as text."""
    try:
        return json.loads(body) if body[:1] in ("{", "[") else body
    except ValueError:
        return body


def _alert_line(event: str, data: Mapping[str, object], t: HoustonTransition) -> str:
    series = f"{data['sourceSlug']}/{data['metric']}"
    context = data.get("contextSnapshot")
    why = ""
    if isinstance(context, dict) and context.get("reason"):
        why = f" — {context.get('status')}: {context['reason']}"
    if event == "alert.triggered":
        return f"[sandbox] {event} {series}: {data['message']} ({data['severity']}){why}"
    why = " (monitor deleted)" if t.reason == "rule_deleted" else ""
    return f"[sandbox] {event} {series} after {t.at - t.opened_at:.0f} s{why}"


def _series_entry(row: MonitorRow) -> dict[str, object]:
    return {
        "source_id": row.source.id,
        "source_slug": row.source.slug,
        "source_name": row.source.name or row.source.slug,
        "metric": row.metric,
        "threshold": None,
        "event": None,
        "unpinned": False,
        "health": dict(_PENDING_HEALTH),
        "offline": None,
    }


def _monitor_fields(kind: str, config: Mapping[str, object]) -> dict[str, object]:
    if kind == "threshold":
        return {
            "min": config["min"],
            "max": config["max"],
            "severity": config["severity"],
            "message": config["message"],
            "notification_target_ids": config.get("targets"),
        }
    return {
        "severity": config["severity"],
        "message": config["message"],
        "enabled": config["enabled"],
        "visualization": config["visualization"],
        "notification_target_ids": None,
        "context_columns": None,
        "filters": None,
        "delivery": None,
        "time_column": None,
    }


def _offline_entry(row: MonitorRow) -> dict[str, object]:
    config = json.loads(row.config)
    return {
        "source_id": row.source.id,
        "source_slug": row.source.slug,
        "source_name": row.source.name or row.source.slug,
        "metric": "",
        "threshold": None,
        "event": None,
        "unpinned": False,
        "health": None,
        "offline": {
            "id": row.id,
            "timeout_seconds": config["timeout_seconds"],
            "severity": config["severity"],
            "enabled": True,
            "notification_target_ids": None,
        },
        "type": "offline",
        "created_at": pg_timestamp(row.created_at),
    }


def default_log(line: str) -> None:
    """Print one line to stderr (the sandbox's alert and status output)."""
    print(line, file=sys.stderr, flush=True)
