"""The FastAPI read API side of the sandbox: `GET /v1/fleet/metrics` (docs/plexus-contract.md §5).

One metric across every source of the org, as per-bucket min/max/avg/count from the rollups
(here computed from the stored rows, which is what the 1-min and 1-hour rollups hold). Auth is
the `x-api-key` header, `plx_` and 36 characters, scopes not checked; a bad key is 401
`{"detail":"invalid api key"}`. The window is `last` (`<digits>m|h|d`) or `start` and `end`
(ISO 8601, end exclusive), by default the last hour; `interval` is optional (auto: under 10 h
`1m`, under 3 d `10m`, under 15 d `1h`, else `1d`; never `raw`). At most `FLEET_CAP` buckets
come back, ordered by source then time, so a large fleet silently loses the sources that sort
late and `truncated` is true.
"""

from __future__ import annotations

import re
from datetime import datetime

from fleetscan.sandbox.backend import Backend
from fleetscan.sandbox.keys import app_key_scopes
from fleetscan.sandbox.web import Request, Response, json_response

FLEET_CAP = 10_000
INTERVAL_MS = {"1m": 60_000, "10m": 600_000, "1h": 3_600_000, "1d": 86_400_000}
_LAST = re.compile(r"([0-9]+)([mhd])")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
ONLINE_MS = 60_000  # a source that sent a row this recently counts as online


def get_fleet_metrics(backend: Backend, request: Request) -> Response:
    if app_key_scopes(request.header("x-api-key") or "") is None:
        return json_response(401, {"detail": "invalid api key"})
    metric = request.query.get("metric")
    if not metric:
        return json_response(
            422, {"detail": [{"loc": ["query", "metric"], "msg": "Field required"}]}
        )
    now = int(backend.clock() * 1000)
    window = _window(request, now)
    if isinstance(window, Response):
        return window
    start, end = window
    interval = request.query.get("interval") or _auto(end - start)
    if interval == "raw":
        interval = "1m"
    if interval not in INTERVAL_MS:
        return json_response(400, {"detail": f"invalid interval {interval!r}"})
    rows = backend.store.fleet_buckets(
        metric=metric, from_ms=start, to_ms=end - 1, bucket_ms=INTERVAL_MS[interval],
        limit=FLEET_CAP,
    )  # fmt: skip
    sources: dict[str, dict[str, object]] = {}
    for source, bucket, low, high, avg, count, newest in rows:
        entry = sources.setdefault(
            source,
            {"source_id": source, "online": False, "timestamp_ms": [], "avg": [], "min": [],
             "max": [], "count": []},
        )  # fmt: skip
        for key, value in (("timestamp_ms", bucket), ("avg", avg), ("min", low), ("max", high),
                           ("count", count)):  # fmt: skip
            entry[key].append(value)  # type: ignore[attr-defined]
        entry["online"] = bool(entry["online"]) or newest >= now - ONLINE_MS
    body = {
        "metric": metric,
        "interval": interval,
        "sources_online": sum(1 for s in sources.values() if s["online"]),
        "sources_w_metric": len(sources),
        "truncated": len(rows) >= FLEET_CAP,
        "sources": list(sources.values()),
    }
    return json_response(200, body)


def _auto(span_ms: int) -> str:
    if span_ms < 10 * 3_600_000:
        return "1m"
    if span_ms < 3 * 86_400_000:
        return "10m"
    if span_ms < 15 * 86_400_000:
        return "1h"
    return "1d"


def _window(request: Request, now_ms: int) -> tuple[int, int] | Response:
    last, start, end = (request.query.get(k) for k in ("last", "start", "end"))
    if (start is None) != (end is None):
        return json_response(400, {"detail": "start and end must be provided together"})
    if start is not None and end is not None:
        try:
            return _iso_ms(start), _iso_ms(end)
        except ValueError:
            return json_response(400, {"detail": "start and end must be ISO 8601"})
    match = _LAST.fullmatch(last or "1h")
    if match is None:
        return json_response(400, {"detail": f"invalid last {last!r}"})
    return now_ms - int(match.group(1)) * _UNIT_MS[match.group(2)], now_ms


def _iso_ms(text: str) -> int:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(text)
    return int(moment.timestamp() * 1000)


API_ROUTES = {"/v1/fleet/metrics": {"GET": get_fleet_metrics}}
