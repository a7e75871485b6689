"""The Plexus read client against httpx.MockTransport: every success and error path of the issue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from fleetscan.client import PlexusClient
from fleetscan.errors import (
    AuthError,
    FleetscanError,
    NotFoundError,
    ProtocolError,
    ScopeError,
    UnavailableError,
    ValidationError,
)
from fleetscan.timeutil import parse_timestamp_ms, plexus_timestamp

KEY = "plx_" + "k" * 32
T0 = parse_timestamp_ms("2026-06-12T10:00:00Z")


def make_client(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> PlexusClient:
    sleeps: list[float] = []
    client = PlexusClient(
        endpoint="https://plexus.test",
        api_key=KEY,
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
        **kw,
    )
    client.sleeps = sleeps  # type: ignore[attr-defined]
    return client


def row(ts_ms: int, value: float = 21.0, source: str = "esp32-bme280") -> dict[str, Any]:
    return {
        "org_id": "org_x",
        "source_id": source,
        "metric": "temperature",
        "value": value,
        "timestamp": plexus_timestamp(ts_ms),
        "tags": {},
    }


class FakePlexus:
    """A tiny in-memory /api/v1/telemetry with Plexus's newest-limit-then-ascending rule."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        assert request.headers["x-api-key"] == KEY
        lo = parse_timestamp_ms(request.url.params["from"])
        hi = parse_timestamp_ms(request.url.params["to"])
        limit = int(request.url.params["limit"])
        source = request.url.params.get("source")
        inside = [
            r
            for r in self.rows
            if lo <= parse_timestamp_ms(r["timestamp"]) <= hi and source in (None, r["source_id"])
        ]
        inside.sort(key=lambda r: parse_timestamp_ms(r["timestamp"]))
        page = inside[-limit:]
        return httpx.Response(200, json={"data": page, "count": len(page), "query": {}})


def test_fetch_sends_the_documented_query() -> None:
    fake = FakePlexus([row(T0 + 1000, source="a"), row(T0 + 3000, source="b")])
    with make_client(fake) as client:
        parsed = client.fetch(
            metrics=["temperature", "humidity"], sources=["a", "b"], from_ms=T0, to_ms=T0 + 60_000
        )
    params = fake.calls[0].url.params
    assert params["metric"] == "temperature,humidity"
    assert [c.url.params["source"] for c in fake.calls] == ["a", "b"]  # exact match: one each
    assert params["from"] == "2026-06-12T10:00:00.000Z"
    assert params["to"] == "2026-06-12T10:01:00.000Z"
    assert params["limit"] == "100000"
    assert [r.ts_ms for r in parsed.readings] == [T0 + 1000, T0 + 3000]


def test_fetch_pages_backwards_and_dedupes_the_inclusive_boundary() -> None:
    # 25 timestamps, two rows (two sources) at each; pages of 7 rows split timestamp pairs.
    rows = [row(T0 + i * 2000, i, s) for i in range(25) for s in ("a", "b")]
    fake = FakePlexus(rows)
    with make_client(fake) as client:
        parsed = client.fetch(metrics=["temperature"], from_ms=T0, to_ms=T0 + 60_000, page_limit=7)
    got = sorted((r.ts_ms, r.source_id) for r in parsed.readings)
    assert got == sorted((T0 + i * 2000, s) for i in range(25) for s in ("a", "b"))
    assert len(fake.calls) > 7
    assert [r.ts_ms for r in parsed.readings] == sorted(r.ts_ms for r in parsed.readings)


def test_fetch_stops_when_one_millisecond_holds_more_than_a_page() -> None:
    rows = [row(T0, i, f"s{i}") for i in range(10)]
    with make_client(FakePlexus(rows)) as client:
        parsed = client.fetch(
            metrics=["temperature"], from_ms=T0 - 1000, to_ms=T0 + 1000, page_limit=5
        )
    assert len(parsed.readings) == 5


def test_empty_data_is_not_an_error() -> None:
    with make_client(FakePlexus([])) as client:
        parsed = client.fetch(metrics=["temperature"], from_ms=T0, to_ms=T0 + 1000)
    assert parsed.readings == [] and not parsed.skipped


def test_bad_rows_are_skipped_and_counted() -> None:
    rows = [
        row(T0 + 1),
        {**row(T0 + 2), "value": None},
        {**row(T0 + 3), "value": "NaN"},
        {**row(T0 + 4), "value": "warm"},
        {**row(T0 + 5), "timestamp": "yesterday"},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": rows, "count": 5})

    with make_client(handler) as client:
        parsed = client.fetch(metrics=["temperature"], from_ms=T0, to_ms=T0 + 1000)
    assert len(parsed.readings) == 1
    assert parsed.skipped == {
        "null value": 1,
        "NaN or infinite value": 1,
        "non-numeric value": 1,
        "bad timestamp": 1,
    }
    assert parsed.skipped_summary().startswith("skipped 4 rows:")


def test_redirect_to_sign_in_is_an_auth_error_and_is_not_followed() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(
            307, headers={"location": "https://evil.test/sign-in?redirect_url=/api"}
        )

    with make_client(handler) as client, pytest.raises(AuthError) as info:
        client.fetch(metrics=["temperature"], from_ms=T0, to_ms=T0 + 1)
    assert hosts == ["plexus.test"]
    assert "/sign-in" in str(info.value) and KEY not in str(info.value)


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (401, {"error": "Unauthorized"}, AuthError, "rejected the API key"),
        (
            403,
            {"error": "API key does not have required scope: read"},
            ScopeError,
            "create a key with read scope",
        ),
        (
            400,
            {"error": "VALIDATION_ERROR", "message": "limit must not exceed 100000"},
            ValidationError,
            "limit must not exceed 100000",
        ),
        (404, {"error": "Source 'x' not found in org"}, NotFoundError, "Source 'x' not found"),
    ],
)
def test_error_statuses_map_to_distinct_errors(
    status: int, body: dict[str, str], error: type[FleetscanError], words: str
) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status, json=body)

    with make_client(handler) as client, pytest.raises(error) as info:
        client.fetch(metrics=["temperature"], from_ms=T0, to_ms=T0 + 1)
    assert words in str(info.value)
    assert "\n" not in str(info.value)
    assert len(calls) == 1  # client errors are not retried


@pytest.mark.parametrize("failure", ["500", "503", "429", "timeout", "connect"])
def test_transient_failures_retry_with_bounded_backoff_then_fail(failure: str) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if failure == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        if failure == "connect":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(int(failure), json={"error": "INTERNAL_ERROR"})

    client = make_client(handler, retries=4, backoff_s=0.5, max_backoff_s=2.0, jitter=lambda: 1.0)
    with client, pytest.raises(UnavailableError) as info:
        client.fetch(metrics=["temperature"], from_ms=T0, to_ms=T0 + 1)
    assert len(calls) == 5
    assert client.sleeps == [0.5, 1.0, 2.0, 2.0]  # type: ignore[attr-defined]  # jitter at most
    assert "gave up after 5 attempts" in str(info.value)


def test_transient_failure_then_success_recovers() -> None:
    answers = [
        httpx.Response(502, text="bad gateway"),
        httpx.Response(200, json={"data": [row(T0)]}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    with make_client(handler) as client:
        parsed = client.fetch(metrics=["temperature"], from_ms=T0 - 1, to_ms=T0 + 1)
    assert len(parsed.readings) == 1


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(
            200, text="<!doctype html><html>sign in</html>", headers={"content-type": "text/html"}
        ),
        httpx.Response(200, json={"rows": []}),
        httpx.Response(200, json=[1, 2, 3]),
    ],
)
def test_non_json_or_wrong_shape_is_a_protocol_error(response: httpx.Response) -> None:
    with make_client(lambda request: response) as client, pytest.raises(ProtocolError):
        client.fetch(metrics=["temperature"], from_ms=T0, to_ms=T0 + 1)


def test_key_never_appears_in_any_error_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "VALIDATION_ERROR", "message": f"bad key {KEY}"})

    with make_client(handler) as client, pytest.raises(ValidationError) as info:
        client.fetch(metrics=["temperature"], from_ms=T0, to_ms=T0 + 1)
    assert KEY not in str(info.value) and "plx_***" in str(info.value)


def test_monitor_calls() -> None:
    seen: list[tuple[str, str, bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), request.content))
        if request.method == "GET":
            return httpx.Response(200, json={"monitors": [{"source_slug": "a", "metric": "m"}]})
        if request.method == "POST":
            return httpx.Response(201, json={"success": True})
        return httpx.Response(200, json={"success": True})

    with make_client(handler) as client:
        client.create_monitor({"source_id": "a", "metric": "m", "threshold": {"max": 3.0}})
        assert client.list_monitors() == [{"source_slug": "a", "metric": "m"}]
        client.delete_monitor(source_id="a", metric="m")
    assert [s[0] for s in seen] == ["POST", "GET", "DELETE"]
    assert seen[2][1] == "https://plexus.test/api/monitors?source_id=a&metric=m"
