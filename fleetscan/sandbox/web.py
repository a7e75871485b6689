"""Plain request and response records shared by the sandbox's route handlers.

Routes are functions `(Request) -> Response`; `handler.py` turns HTTP into these and back, so the
routes stay testable without a socket. Bodies are compact JSON like Next.js's `NextResponse.json`;
the gateway's Go encoder adds a trailing newline (`gateway=True`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request. `query` holds the first value of each parameter, like
    `URLSearchParams.get`; header names are lower case."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = b""
    base_url: str = "http://127.0.0.1"
    raw_query: str = ""

    def header(self, name: str) -> str | None:
        """A header value (stripped), or None when absent."""
        value = self.headers.get(name.lower())
        return None if value is None else value.strip()


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP response."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=lambda: _NO_HEADERS)
    close: bool = False


def dumps(obj: object) -> str:
    """Compact JSON, as `JSON.stringify` writes it: non-ASCII kept, whole numbers without `.0`.

    >>> dumps({"max": 30.0, "value": 22.5, "ids": ["é"]})
    '{"max":30,"value":22.5,"ids":["é"]}'
    """
    return json.dumps(_js_numbers(obj), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _js_numbers(obj: object) -> object:
    if isinstance(obj, float) and obj.is_integer() and abs(obj) < 2**53:
        return int(obj)
    if isinstance(obj, dict):
        return {key: _js_numbers(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_js_numbers(value) for value in obj]
    return obj


def json_response(
    status: int, obj: object, *, gateway: bool = False, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response. `gateway=True` adds the newline Go's `json.Encoder` writes."""
    text = dumps(obj) + ("\n" if gateway else "")
    return raw_json_response(status, text, headers=headers)


def raw_json_response(
    status: int, text: str, *, headers: Mapping[str, str] | None = None
) -> Response:
    """A response whose JSON text is already built (the telemetry fast path)."""
    all_headers = {"content-type": "application/json", **(headers or {})}
    return Response(status, text.encode(), all_headers)


def api_error(status: int, code: str, message: str, details: object = None) -> Response:
    """The app's `apiError` shape: `{"error": CODE, "message": …, "details"?: …}`."""
    body: dict[str, object] = {"error": code, "message": message}
    if details is not None:
        body["details"] = details
    return json_response(status, body)


def internal_error() -> Response:
    """What the app answers for an unexpected exception (errors.ts `errorResponse`)."""
    return api_error(500, "INTERNAL_ERROR", "Internal server error")
