"""`/api/monitors` request bodies, validated like the app's zod schemas (docs/plexus-contract.md §2.1-2.2).

`parse_create_monitor` mirrors `CreateMonitorSchema` and `parse_update_targets` mirrors
`UpdateMonitorTargetsSchema`. A failure returns zod v4's `error.flatten()` object
(`{"formErrors": [...], "fieldErrors": {field: [...]}}`) with zod's English messages. Unknown keys
are stripped, defaults are filled in, and (as in zod) the whole-object refinements run only when
no field failed with a type error.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Final

SEVERITIES: Final = ("info", "warning", "critical")
_UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}"
    r"|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff"
)
_MISSING: Final = object()

Path = tuple[str | int, ...]


def is_uuid(text: str) -> bool:
    """zod v4's `z.string().uuid()` test.

    >>> is_uuid("0b0e6a3c-5d1e-4f61-9a7e-1d2c3b4a5f60"), is_uuid("esp32-bme280")
    (True, False)
    """
    return _UUID.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class ThresholdSpec:
    min: float | None
    max: float | None
    severity: str
    message: str | None


@dataclass(frozen=True, slots=True)
class EventSpec:
    severity: str
    message: str | None
    enabled: bool
    visualization: dict[str, object] | None


@dataclass(frozen=True, slots=True)
class OfflineSpec:
    timeout_seconds: int
    severity: str
    message: str | None


@dataclass(frozen=True, slots=True)
class CreateMonitor:
    """A parsed POST body. `notification_targets` is None both when omitted and when null."""

    source_id: str
    metric: str | None
    notification_targets: list[str] | None
    threshold: ThresholdSpec | None
    event: EventSpec | None
    offline: OfflineSpec | None


@dataclass(frozen=True, slots=True)
class UpdateTargets:
    """A parsed PATCH body."""

    source_id: str | None
    metric: str | None
    offline_id: str | None
    notification_targets: list[str] | None


@dataclass
class _Issues:
    """Collected zod issues; `aborted` is set by type errors, which stop the refinements."""

    items: list[tuple[Path, str]] = field(default_factory=list)
    aborted: bool = False

    def add(self, path: Path, message: str, *, aborts: bool = False) -> None:
        self.items.append((path, message))
        self.aborted = self.aborted or aborts

    def flatten(self) -> dict[str, object]:
        form_errors = [message for path, message in self.items if not path]
        field_errors: dict[str, list[str]] = {}
        for path, message in self.items:
            if path:
                field_errors.setdefault(str(path[0]), []).append(message)
        return {"formErrors": form_errors, "fieldErrors": field_errors}


def _type_name(value: object) -> str:
    """zod's name for the type it received."""
    if value is _MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "NaN" if value != value else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _expected(issues: _Issues, path: Path, expected: str, value: object) -> None:
    issues.add(
        path, f"Invalid input: expected {expected}, received {_type_name(value)}", aborts=True
    )


def _string(
    issues: _Issues,
    value: object,
    path: Path,
    *,
    min_message: str | None = None,
    uuid: bool = False,
) -> str | None:
    if not isinstance(value, str):
        _expected(issues, path, "string", value)
        return None
    if min_message is not None and not value:
        issues.add(path, min_message)
    elif uuid and not is_uuid(value):
        issues.add(path, "Invalid UUID")
    return value


_MIN_1 = "Too small: expected string to have >=1 characters"


def _number(issues: _Issues, value: object, path: Path) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        _expected(issues, path, "number", value)
        return None
    return float(value)


def _severity(issues: _Issues, value: object, path: Path, default: str) -> str:
    if value is _MISSING:
        return default
    if value not in SEVERITIES:
        choices = "|".join(f'"{s}"' for s in SEVERITIES)
        issues.add(path, f"Invalid option: expected one of {choices}", aborts=True)
        return default
    return str(value)


def _optional_text(issues: _Issues, obj: dict[str, object], key: str, path: Path) -> str | None:
    """A `z.string().nullable().optional()` field."""
    value = obj.get(key, _MISSING)
    if value is _MISSING or value is None:
        return None
    return _string(issues, value, (*path, key))


def _targets(issues: _Issues, value: object, *, required: bool) -> list[str] | None:
    """`z.array(z.string().uuid()).min(1).nullable()` (and `.optional()` unless required)."""
    path: Path = ("notification_targets",)
    if value is None or (value is _MISSING and not required):
        return None
    if not isinstance(value, list):
        _expected(issues, path, "array", value)
        return None
    for index, item in enumerate(value):
        _string(issues, item, (*path, index), uuid=True)
    if not value:
        issues.add(path, "Too small: expected array to have >=1 items")
    return [str(item) for item in value]


def _object(issues: _Issues, value: object, path: Path) -> dict[str, object] | None:
    """A `z.object(...).nullable().optional()` field: the dict, or None when absent or invalid."""
    if value is _MISSING or value is None:
        return None
    if not isinstance(value, dict):
        _expected(issues, path, "object", value)
        return None
    return value


def _threshold(issues: _Issues, value: object) -> ThresholdSpec | None:
    obj = _object(issues, value, ("threshold",))
    if obj is None:
        return None
    bounds: list[float | None] = []
    for key in ("min", "max"):
        raw = obj.get(key, _MISSING)
        bounds.append(
            None if raw is _MISSING or raw is None else _number(issues, raw, ("threshold", key))
        )
    table = obj.get("table", _MISSING)
    if table is not _MISSING:
        _string(issues, table, ("threshold", "table"), min_message=_MIN_1)
    return ThresholdSpec(
        min=bounds[0],
        max=bounds[1],
        severity=_severity(
            issues, obj.get("severity", _MISSING), ("threshold", "severity"), "warning"
        ),
        message=_optional_text(issues, obj, "message", ("threshold",)),
    )


def _event(issues: _Issues, value: object) -> EventSpec | None:
    obj = _object(issues, value, ("event",))
    if obj is None:
        return None
    enabled = obj.get("enabled", True)
    if not isinstance(enabled, bool):
        _expected(issues, ("event", "enabled"), "boolean", enabled)
        enabled = True
    table = obj.get("table", _MISSING)
    if table is not _MISSING:
        _string(issues, table, ("event", "table"), min_message=_MIN_1)
    visualization = _object(issues, obj.get("visualization", _MISSING), ("event", "visualization"))
    if visualization is not None:
        _string(issues, visualization.get("panel_type", _MISSING), ("event", "visualization"))
        panel_config = visualization.get("panel_config", {})
        if not isinstance(panel_config, dict):
            _expected(issues, ("event", "visualization"), "record", panel_config)
        visualization = {
            "panel_type": visualization.get("panel_type"),
            "panel_config": panel_config,
        }
    return EventSpec(
        severity=_severity(issues, obj.get("severity", _MISSING), ("event", "severity"), "info"),
        message=_optional_text(issues, obj, "message", ("event",)),
        enabled=enabled,
        visualization=visualization,
    )


def _offline(issues: _Issues, value: object) -> OfflineSpec | None:
    obj = _object(issues, value, ("offline",))
    if obj is None:
        return None
    path: Path = ("offline", "timeout_seconds")
    raw = obj.get("timeout_seconds", _MISSING)
    timeout = 300.0 if raw is _MISSING else _number(issues, raw, path)
    if timeout is not None and timeout != math.floor(timeout):
        issues.add(path, "Invalid input: expected int, received number")
    if timeout is not None and timeout <= 0:
        issues.add(path, "Too small: expected number to be >0")
    return OfflineSpec(
        timeout_seconds=int(timeout or 300),
        severity=_severity(
            issues, obj.get("severity", _MISSING), ("offline", "severity"), "warning"
        ),
        message=_optional_text(issues, obj, "message", ("offline",)),
    )


def parse_create_monitor(body: object) -> CreateMonitor | dict[str, object]:
    """A `CreateMonitor`, or the flattened zod error for a 400.

    >>> body = {"source_id": "esp32", "metric": "temperature", "threshold": {"max": 40}}
    >>> parse_create_monitor(body)  # doctest: +NORMALIZE_WHITESPACE
    CreateMonitor(source_id='esp32', metric='temperature', notification_targets=None,
        threshold=ThresholdSpec(min=None, max=40.0, severity='warning', message=None),
        event=None, offline=None)
    >>> parse_create_monitor({"source_id": "esp32", "threshold": {"max": 40}})
    {'formErrors': ['metric is required for a threshold or event monitor'], 'fieldErrors': {}}
    """
    issues = _Issues()
    if not isinstance(body, dict):
        _expected(issues, (), "object", body)
        return issues.flatten()
    source_id = _string(
        issues, body.get("source_id", _MISSING), ("source_id",), min_message="source_id is required"
    )
    metric_raw = body.get("metric", _MISSING)
    metric = (
        None
        if metric_raw is _MISSING
        else _string(issues, metric_raw, ("metric",), min_message=_MIN_1)
    )
    targets = _targets(issues, body.get("notification_targets", _MISSING), required=False)
    threshold = _threshold(issues, body.get("threshold", _MISSING))
    event = _event(issues, body.get("event", _MISSING))
    offline = _offline(issues, body.get("offline", _MISSING))
    if not issues.aborted:
        if threshold is None and event is None and offline is None:
            issues.add((), "At least one of threshold, event, or offline must be provided")
        if (threshold is not None or event is not None) and not metric:
            issues.add((), "metric is required for a threshold or event monitor")
    if issues.items or source_id is None:
        return issues.flatten()
    return CreateMonitor(source_id, metric, targets, threshold, event, offline)


def parse_update_targets(body: object) -> UpdateTargets | dict[str, object]:
    """An `UpdateTargets`, or the flattened zod error for a 400.

    >>> parse_update_targets({"offline_id": "nope", "notification_targets": None})
    {'formErrors': [], 'fieldErrors': {'offline_id': ['Invalid UUID']}}
    """
    issues = _Issues()
    if not isinstance(body, dict):
        _expected(issues, (), "object", body)
        return issues.flatten()
    values: dict[str, str | None] = {}
    for key in ("source_id", "metric", "offline_id"):
        raw = body.get(key, _MISSING)
        values[key] = (
            None
            if raw is _MISSING
            else _string(
                issues,
                raw,
                (key,),
                min_message=None if key == "offline_id" else _MIN_1,
                uuid=key == "offline_id",
            )
        )
    targets = _targets(issues, body.get("notification_targets", _MISSING), required=True)
    if not issues.aborted and not (
        values["offline_id"] or (values["source_id"] and values["metric"])
    ):
        issues.add((), "Provide offline_id, or source_id and metric")
    if issues.items:
        return issues.flatten()
    return UpdateTargets(values["source_id"], values["metric"], values["offline_id"], targets)
