"""The app (Next.js) side of the sandbox: `/api/v1/telemetry`, `/api/monitors`, sandbox extras.

Auth runs in two layers, as in Plexus (docs/plexus-contract.md §1.1): the middleware answers **307 to
/sign-in** when an `/api/*` request has neither an `x-api-key` starting with `plx_` nor a session
cookie; then `withDualAuth` answers **401 `{"error":"Unauthorized"}`** for a malformed or unknown
key and, where the route needs a scope, **403** for a key without it. `/api/monitors` needs no
scope.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from urllib.parse import quote_plus

from fleetscan.sandbox.alerts_page import get_alerts_page
from fleetscan.sandbox.backend import Backend
from fleetscan.sandbox.jsparse import civil_from_days
from fleetscan.sandbox.keys import NOTIFICATION_TARGETS, ORG_ID, app_key_scopes, has_scope
from fleetscan.sandbox.monitor_schema import (
    is_uuid,
    parse_create_monitor,
    parse_update_targets,
)
from fleetscan.sandbox.store import Source, TelemetryRow
from fleetscan.sandbox.telemetry_query import parse_telemetry_query
from fleetscan.sandbox.web import (
    Request,
    Response,
    dumps,
    internal_error,
    json_response,
    raw_json_response,
)

_SESSION_COOKIES = ("authjs.session-token", "__Secure-authjs.session-token")
_NO_SUCH_VALUE = object()


def app_auth(
    request: Request, keys: Mapping[str, frozenset[str]], *, scope: str | None = None
) -> Response | None:
    """None when the request may proceed, else the middleware's or `withDualAuth`'s answer."""
    key = request.header("x-api-key") or ""
    if not key.startswith("plx_") and not _has_session_cookie(request):
        return _redirect_to_sign_in(request)
    scopes = app_key_scopes(key, keys)
    if scopes is None:  # a session cookie cannot help: the sandbox has no sessions
        return json_response(401, {"error": "Unauthorized"})
    if scope is not None and not has_scope(scopes, scope):
        return json_response(403, {"error": f"API key does not have required scope: {scope}"})
    return None


def _has_session_cookie(request: Request) -> bool:
    cookies = request.header("cookie") or ""
    names = {part.split("=", 1)[0].strip() for part in cookies.split(";")}
    return any(name in names for name in _SESSION_COOKIES)


def _redirect_to_sign_in(request: Request) -> Response:
    here = request.base_url + request.path + (f"?{request.raw_query}" if request.raw_query else "")
    target = f"{request.base_url}/sign-in?redirect_url={quote_plus(here, safe='*')}"
    return Response(307, b"", {"location": target.replace("~", "%7E")})


# -- GET /api/v1/telemetry -------------------------------------------------------------------


def get_telemetry(backend: Backend, request: Request) -> Response:
    """Rows of the key's org, newest `limit` in the window, oldest first (§1)."""
    denied = app_auth(request, backend.key_scopes, scope="read")
    if denied is not None:
        return denied
    query = parse_telemetry_query(request.query, now_ms=int(backend.clock() * 1000))
    if isinstance(query, Response):
        return query
    rows = backend.store.query_telemetry(
        source=query.source,
        metrics=query.metrics,
        from_ms=query.from_ms,
        to_ms=query.to_ms,
        limit=query.limit,
    )
    data = ",".join(_RowFormatter().rows(rows))
    text = f'{{"data":[{data}],"count":{len(rows)},"query":{dumps(query.echo())}}}'
    return raw_json_response(200, text)


class _RowFormatter:
    """ClickHouse JSONEachRow rows, built as text: fast enough for 100 000-row pages."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._days: dict[int, str] = {}
        self._org = dumps(ORG_ID)

    def rows(self, rows: list[TelemetryRow]) -> list[str]:
        name, stamp, org = self._name, self._timestamp, self._org
        return [
            f'{{"org_id":{org},"source_id":{name(source)},"metric":{name(metric)},'
            f'"value":{_number(value)},"timestamp":"{stamp(ts)}","tags":{tags}}}'
            for source, metric, value, ts, tags in rows
        ]

    def _name(self, text: str) -> str:
        encoded = self._names.get(text)
        if encoded is None:
            encoded = self._names[text] = dumps(text)
        return encoded

    def _timestamp(self, ts_ms: int) -> str:
        """`YYYY-MM-DD HH:MM:SS.mmm` in UTC (ClickHouse's DateTime64(3) text form)."""
        days, ms = divmod(ts_ms, 86_400_000)
        date = self._days.get(days)
        if date is None:
            year, month, day = civil_from_days(days)
            date = self._days[days] = f"{year:04d}-{month:02d}-{day:02d}"
        seconds, millis = divmod(ms, 1000)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{date} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _number(value: float) -> str:
    """A Float64 as ClickHouse prints it: whole numbers without `.0`."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


# -- /api/monitors -----------------------------------------------------------------------------


def get_monitors(backend: Backend, request: Request) -> Response:
    """`{"monitors": [...]}`, newest first (§2.4)."""
    denied = app_auth(request, backend.key_scopes)
    if denied is not None:
        return denied
    return json_response(200, {"monitors": backend.list_monitors()})


def post_monitor(backend: Backend, request: Request) -> Response:
    """Create or update a monitor: 201 `{"success":true}` (§2.1-2.3)."""
    denied = app_auth(request, backend.key_scopes)
    if denied is not None:
        return denied
    body = _request_json(request)
    if body is _NO_SUCH_VALUE:
        return internal_error()  # `await request.json()` threw
    parsed = parse_create_monitor(body)
    if isinstance(parsed, dict):
        return json_response(400, {"error": "Validation failed", "details": parsed})
    source = backend.store.resolve_source(parsed.source_id)
    if source is None:
        return _source_not_found(parsed.source_id)
    unknown = [t for t in parsed.notification_targets or () if t not in NOTIFICATION_TARGETS]
    if unknown:
        return _unknown_targets(unknown)
    backend.create_monitor(parsed, source)
    return json_response(201, {"success": True})


def patch_monitor(backend: Backend, request: Request) -> Response:
    """Change a monitor's notification targets: `null` (default fan-out) or the sandbox's one
    target, `SLACK_TARGET_ID` (the sandbox has no real Slack, email or webhook integrations)."""
    denied = app_auth(request, backend.key_scopes)
    if denied is not None:
        return denied
    body = _request_json(request)
    if body is _NO_SUCH_VALUE:
        return internal_error()
    parsed = parse_update_targets(body)
    if isinstance(parsed, dict):
        return json_response(400, {"error": "Validation failed", "details": parsed})
    unknown = [t for t in parsed.notification_targets or () if t not in NOTIFICATION_TARGETS]
    if unknown:
        return _unknown_targets(unknown)
    if parsed.offline_id:
        found = backend.has_offline(parsed.offline_id)
    else:
        source = backend.store.resolve_source(parsed.source_id or "")
        if source is None:
            return _source_not_found(parsed.source_id or "")
        found = backend.has_monitor(source, parsed.metric or "")
    if not found:
        return json_response(404, {"error": "Monitor not found"})
    return json_response(200, {"success": True})


def delete_monitor(backend: Backend, request: Request) -> Response:
    """`?source_id=X&metric=Y` or `?offline_id=<uuid>` (§2.5)."""
    denied = app_auth(request, backend.key_scopes)
    if denied is not None:
        return denied
    offline_id = request.query.get("offline_id")
    if offline_id:
        if not is_uuid(offline_id):  # Postgres refuses a non-uuid id: the route's catch answers
            return json_response(500, {"error": "Failed to delete"})
        if not backend.delete_offline(offline_id):
            return json_response(404, {"error": "Monitor not found"})
        return json_response(200, {"success": True})
    source_ref = request.query.get("source_id")
    if not source_ref:
        return json_response(400, {"error": "Missing 'source_id' query param"})
    found: Source | None = backend.store.resolve_source(source_ref)
    if found is None:
        return _source_not_found(source_ref)
    backend.delete_monitors(found, request.query.get("metric") or "")
    return json_response(200, {"success": True})


def _request_json(request: Request) -> object:
    """`await request.json()`: the parsed body, or `_NO_SUCH_VALUE` where it would throw."""
    text = request.body.decode("utf-8", errors="replace").removeprefix("\ufeff")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _NO_SUCH_VALUE


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _source_not_found(ref: str) -> Response:
    return json_response(404, {"error": f"Source '{ref}' not found in org"})


def _unknown_targets(target_ids: list[str]) -> Response:
    body = {
        "error": "Unknown notification target(s) for this org",
        "unknown_target_ids": target_ids,
    }
    return json_response(422, body)


# -- sandbox-only ------------------------------------------------------------------------------


def _listing_after(backend: Backend, request: Request) -> int | Response:
    """The `?after=<id>` of a sandbox listing (0 when absent), or the answer refusing the request
    (the key may not read, or `after` is not an id)."""
    denied = app_auth(request, backend.key_scopes)
    if denied is not None:
        return denied
    after = request.query.get("after") or "0"
    if not after.isdigit():
        return json_response(400, {"error": "after must be a non-negative integer"})
    return int(after)


def get_sandbox_alerts(backend: Backend, request: Request) -> Response:
    """`GET /api/sandbox/alerts[?after=<id>]`: the alert events recorded so far, oldest first.
    Not a Plexus route: it stands in for the webhooks Plexus would send."""
    after = _listing_after(backend, request)
    if isinstance(after, Response):
        return after
    return json_response(200, {"events": backend.alert_events(after_id=after)})


def get_sandbox_events(backend: Backend, request: Request) -> Response:
    """`GET /api/sandbox/events[?source=<slug>&name=<name>&after=<id>]`: stored class=event
    points, oldest first. Not a Plexus route: it shows what Plexus keeps in its events table."""
    after = _listing_after(backend, request)
    if isinstance(after, Response):
        return after
    events = backend.source_events(
        source=request.query.get("source") or None,
        name=request.query.get("name") or None,
        after_id=after,
    )
    return json_response(200, {"events": events})


def get_sign_in(backend: Backend, request: Request) -> Response:
    """Where the 307 points: an HTML page with status 200, which is what a client that follows
    redirects ends up reading instead of JSON (docs/plexus-contract.md §1.1)."""
    page = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Sign in</body></html>"
    return Response(200, page, {"content-type": "text/html; charset=utf-8"})


RouteFn = Callable[[Backend, Request], Response]

APP_ROUTES: dict[str, dict[str, RouteFn]] = {
    "/api/v1/telemetry": {"GET": get_telemetry},
    "/api/monitors": {
        "GET": get_monitors,
        "POST": post_monitor,
        "PATCH": patch_monitor,
        "DELETE": delete_monitor,
    },
    "/api/sandbox/alerts": {"GET": get_sandbox_alerts},
    "/api/sandbox/events": {"GET": get_sandbox_events},
    "/sandbox/alerts": {"GET": get_alerts_page},
    "/sign-in": {"GET": get_sign_in},
}
