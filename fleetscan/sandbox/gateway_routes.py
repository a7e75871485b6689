"""The gateway (Go) side of the sandbox: `POST /ingest` and the `/ws/device` fallback.

`/ingest` checks, in the gateway's order (docs/plexus-contract.md §4.2): the key (401 `missing x-api-key`,
401 `invalid API key`, 403 `API key lacks write scope`), then the body (413, `invalid gzip body`,
`invalid JSON body`), then the points (`ingest.validate_ingest_body`). `/ws/device` answers 404 so
plexus-python falls back to HTTP; the sandbox does not speak the WebSocket device protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from fleetscan.sandbox.backend import Backend
from fleetscan.sandbox.ingest import IngestError, decode_ingest_body, validate_ingest_body
from fleetscan.sandbox.keys import has_scope
from fleetscan.sandbox.web import Request, Response, json_response

CORS_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "POST, OPTIONS",
        "access-control-allow-headers": "Content-Type, x-api-key",
        "access-control-max-age": "86400",
    }
)


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": message}, gateway=True, headers=CORS_HEADERS)


def post_ingest(backend: Backend, request: Request) -> Response:
    """Accept points: 200 `{"success":true,"count":N[,"source_id":slug]}`."""
    key = request.header("x-api-key")
    if not key:
        return _error(401, "missing x-api-key")
    scopes = backend.key_scopes.get(key)
    if scopes is None:
        return _error(401, "invalid API key")
    if not has_scope(scopes, "write"):
        return _error(403, "API key lacks write scope")
    body = decode_ingest_body(request.body, request.header("content-encoding") or "")
    if isinstance(body, IngestError):
        return _error(body.status, body.message)
    points, problem = validate_ingest_body(body)
    if problem is not None:
        return _error(400, problem)
    result: dict[str, object] = {"success": True, "count": 0}
    if points:
        result["count"] = backend.ingest(points)
        sources = {point.source_id for point in points}
        if len(sources) == 1:
            result["source_id"] = sources.pop()
    return json_response(200, result, gateway=True, headers=CORS_HEADERS)


def options_ingest(backend: Backend, request: Request) -> Response:
    """CORS preflight."""
    return Response(204, b"", CORS_HEADERS)


def get_ws_device(backend: Backend, request: Request) -> Response:
    """No WebSocket here: 404, after which plexus-python posts to /ingest instead."""
    return not_found(close=True)


def not_found(*, close: bool = False) -> Response:
    """Go's `http.NotFound`."""
    headers = {"content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff"}
    return Response(404, b"404 page not found\n", headers, close=close)


GATEWAY_ROUTES: dict[str, dict[str, Callable[[Backend, Request], Response]]] = {
    "/ingest": {"POST": post_ingest, "OPTIONS": options_ingest},
    "/ws/device": {"GET": get_ws_device},
}
