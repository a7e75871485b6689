"""`GET /api/v1/telemetry` query parameters, checked the way route.ts checks them (docs/plexus-contract.md §1.2, §1.6).

Order and messages follow the route: `limit` first (`Number()`, positive integer, at most
100 000), then `to`, then `from` (`new Date()`; `to` defaults to now and `from` to `to − 1 h`),
then `from < to`. An empty parameter counts as absent. `metric` is a comma list whose items are
trimmed, with empty items dropped. Pure: `now_ms` is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fleetscan.sandbox.jsparse import js_date_ms, js_is_integer, js_iso, js_number
from fleetscan.sandbox.web import Response, api_error

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 100_000
DEFAULT_RANGE_MS = 60 * 60 * 1000


@dataclass(frozen=True, slots=True)
class TelemetryQuery:
    """A validated telemetry query. Both bounds are inclusive epoch ms."""

    source: str | None
    metrics: tuple[str, ...]
    metric_param: str | None
    from_ms: int
    to_ms: int
    limit: int

    def echo(self) -> dict[str, object]:
        """The response's `query` object."""
        return {
            "source": self.source,
            "metric": self.metric_param,
            "from": js_iso(self.from_ms),
            "to": js_iso(self.to_ms),
            "limit": self.limit,
        }


def parse_telemetry_query(params: Mapping[str, str], *, now_ms: int) -> TelemetryQuery | Response:
    """The query, or the 400 response the route would give.

    >>> params = {"metric": " temperature, ,humidity", "limit": "5"}
    >>> q = parse_telemetry_query(params, now_ms=7200000)
    >>> q.metrics, q.from_ms, q.to_ms, q.limit
    (('temperature', 'humidity'), 3600000, 7200000, 5)
    >>> parse_telemetry_query({"limit": "0"}, now_ms=0).status
    400
    """
    limit = _parse_limit(params.get("limit"))
    if isinstance(limit, Response):
        return limit
    to_ms = _parse_time(params.get("to"), "to")
    if isinstance(to_ms, Response):
        return to_ms
    end = now_ms if to_ms is None else to_ms
    from_ms = _parse_time(params.get("from"), "from")
    if isinstance(from_ms, Response):
        return from_ms
    start = end - DEFAULT_RANGE_MS if from_ms is None else from_ms
    if start >= end:
        details = {"from": js_iso(start), "to": js_iso(end)}
        return api_error(400, "VALIDATION_ERROR", "from must be earlier than to", details)
    metric_param = params.get("metric")
    metrics = tuple(m.strip() for m in (metric_param or "").split(",") if m.strip())
    return TelemetryQuery(
        source=params.get("source") or None,
        metrics=metrics,
        metric_param=metric_param,
        from_ms=start,
        to_ms=end,
        limit=limit,
    )


def _parse_limit(value: str | None) -> int | Response:
    if not value:
        return DEFAULT_LIMIT
    number = js_number(value)
    if not js_is_integer(number) or number <= 0:
        message = "limit must be a positive integer"
        return api_error(400, "VALIDATION_ERROR", message, {"field": "limit", "value": value})
    if number > MAX_LIMIT:
        details: dict[str, object] = {"field": "limit", "value": value, "max": MAX_LIMIT}
        return api_error(400, "VALIDATION_ERROR", f"limit must not exceed {MAX_LIMIT}", details)
    return int(number)


def _parse_time(value: str | None, field: str) -> int | None | Response:
    if not value:
        return None
    ms = js_date_ms(value)
    if ms is None:
        message = f"{field} must be a valid ISO 8601 timestamp"
        return api_error(400, "VALIDATION_ERROR", message, {"field": field, "value": value})
    return ms
