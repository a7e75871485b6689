"""Contract tests: the sandbox's POST /ingest and GET /ws/device against docs/plexus-contract.md §4 and §7."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sandbox_fixtures import FakeClock, sandbox_client

from fleetscan.sandbox import Sandbox, validate_ingest_body
from fleetscan.sandbox.ingest import decode_ingest_body
from fleetscan.timeutil import plexus_timestamp

T0 = 1_781_258_400_000  # 2026-06-12 10:00:00.000 UTC
MIB = 1024 * 1024


@pytest.fixture
def gateway(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with sandbox_client(sandbox, sandbox.read_key) as client:
        yield client


def post(client: httpx.Client, body: object, **headers: str) -> httpx.Response:
    return client.post("/ingest", content=json.dumps(body).encode(), headers=headers)


def rows(sb: Sandbox, **params: str) -> list[dict[str, Any]]:
    query = {"from": "1970-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z", **params}
    with sandbox_client(sb, sb.read_key) as client:
        response = client.get("/api/v1/telemetry", params=query)
    assert response.status_code == 200
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def point(**fields: object) -> dict[str, object]:
    return {"metric": "temperature", "value": 21.5, "timestamp": T0, **fields}


# -- auth and body (§4.2 steps 2-4) ------------------------------------------------------------


def test_missing_key_is_401(sandbox: Sandbox) -> None:
    with sandbox_client(sandbox) as client:
        response = client.post("/ingest", json={"points": []})
    assert response.status_code == 401
    assert response.json() == {"error": "missing x-api-key"}


@pytest.mark.parametrize("key", ["plx_short", "plx_" + "0" * 32, "not-a-plexus-key"])
def test_unknown_key_is_401(sandbox: Sandbox, key: str) -> None:
    with sandbox_client(sandbox, key) as client:
        response = client.post("/ingest", json={"points": []})
    assert response.status_code == 401
    assert response.json() == {"error": "invalid API key"}


def test_key_without_write_scope_is_403(sandbox: Sandbox) -> None:
    with sandbox_client(sandbox, sandbox.read_only_key) as client:
        response = client.post("/ingest", json={"points": []})
    assert response.status_code == 403
    assert response.json() == {"error": "API key lacks write scope"}


def test_write_only_key_can_ingest(sandbox: Sandbox) -> None:
    body = {"source_id": "esp32-01", "points": [point()]}
    with sandbox_client(sandbox, sandbox.write_key) as client:
        response = client.post("/ingest", json=body)
    assert response.json() == {"success": True, "count": 1, "source_id": "esp32-01"}


def test_auth_is_checked_before_size(sandbox: Sandbox) -> None:
    with sandbox_client(sandbox) as client:
        response = client.post("/ingest", content=b" " * (5 * MIB + 1))
    assert response.status_code == 401


def test_body_over_5_mib_is_413(gateway: httpx.Client) -> None:
    response = gateway.post("/ingest", content=b" " * (5 * MIB + 1))
    assert response.status_code == 413
    assert response.json() == {"error": "payload too large (max 5242880 bytes)"}
    assert gateway.post("/ingest", json={"points": []}).status_code == 200  # connection still fine


def test_gzip_expanding_past_5_mib_is_413(gateway: httpx.Client) -> None:
    bomb = gzip.compress(b'{"points": [' + b" " * (5 * MIB) + b"]}")
    response = gateway.post("/ingest", content=bomb, headers={"content-encoding": "gzip"})
    assert response.status_code == 413


def test_gzip_body_is_accepted(gateway: httpx.Client, sandbox: Sandbox) -> None:
    body = {"source_id": "esp32-01", "points": [point(timestamp=T0 + i) for i in range(50)]}
    payload = gzip.compress(json.dumps(body).encode(), compresslevel=6)
    response = gateway.post("/ingest", content=payload, headers={"content-encoding": "gzip"})
    assert response.json() == {"success": True, "count": 50, "source_id": "esp32-01"}
    assert sandbox.row_count() == 50


def test_bad_gzip_is_400(gateway: httpx.Client) -> None:
    response = gateway.post("/ingest", content=b"{}", headers={"content-encoding": "gzip"})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid gzip body"}


def test_corrupt_gzip_stream_is_invalid_json(gateway: httpx.Client) -> None:
    broken = gzip.compress(b'{"points": []}')[:12] + b"\x00garbage"
    response = gateway.post("/ingest", content=broken, headers={"content-encoding": "gzip"})
    assert response.json() == {"error": "invalid JSON body"}


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'"points"',
        b'{"points": "x"}',
        b'{"points": [5]}',
        b'{"source_id": 5, "points": []}',
        b'{"points": [NaN]}',
        b'{"points": [{"value": 1e999}]}',
    ],
)
def test_invalid_json_is_400(gateway: httpx.Client, raw: bytes) -> None:
    response = gateway.post("/ingest", content=raw)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid JSON body"}


# -- points (§4.2 steps 5-6) -------------------------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"points": None}, None, {"source_id": "esp32-01"}])
def test_points_missing_is_400(gateway: httpx.Client, body: object) -> None:
    response = post(gateway, body)
    assert response.status_code == 400
    assert response.json() == {"error": "'points' array is required"}


def test_empty_points_is_an_auth_ping(gateway: httpx.Client, sandbox: Sandbox) -> None:
    response = post(gateway, {"source_id": "esp32-01", "points": []})
    assert response.status_code == 200
    assert response.json() == {"success": True, "count": 0}
    assert sandbox.row_count() == 0


def test_more_than_10000_points_is_400(gateway: httpx.Client) -> None:
    response = post(gateway, {"source_id": "esp32-01", "points": [point()] * 10_001})
    assert response.status_code == 400
    assert response.json() == {"error": "too many points: 10001 (max 10000)"}


def test_10000_points_are_accepted(gateway: httpx.Client, sandbox: Sandbox) -> None:
    points = [point(timestamp=T0 + i) for i in range(10_000)]
    response = post(gateway, {"source_id": "esp32-01", "points": points})
    assert response.json()["count"] == 10_000
    assert sandbox.row_count() == 10_000


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (None, "points[1] is null"),
        ({"metric": "t", "value": 1}, None),  # placeholder: replaced below by the top-level id
        (point(source_id="ESP32"), "points[1] source_id must match ^[a-z0-9][a-z0-9._-]*$"),
        (point(source_id="-dash"), "points[1] source_id must match ^[a-z0-9][a-z0-9._-]*$"),
        (point(source_id="a" * 257), "points[1] source_id exceeds max length (256)"),
        (point(**{"class": "log"}), "points[1].class must be 'metric' or 'event', got \"log\""),
        (point(metric=""), "points[1].metric invalid"),
        (point(metric=5), "points[1].metric invalid"),
        (point(metric="m" * 257), "points[1].metric invalid"),
        ({"metric": "t", "timestamp": T0}, "points[1].value is required"),
        (point(value=None), "points[1].value cannot be null"),
        (
            point(value="21.5", **{"class": "metric"}),
            "points[1].value must be a number for class=metric",
        ),
        (
            point(value=True, **{"class": "metric"}),
            "points[1].value must be a number for class=metric",
        ),
        (point(value="x" * 257), "points[1].value string exceeds max length (256)"),
        (point(value={"blob": "x" * 4090}), "points[1].value exceeds max bytes (4096)"),
        (point(timestamp="2026-06-12T10:00:00Z"), "points[1].timestamp must be a number"),
        (point(timestamp=None), "points[1].timestamp must be a number"),
        (point(tags=["a"]), "points[1].tags must be an object"),
        (point(tags={f"k{i}": "v" for i in range(17)}), "points[1].tags exceeds max entries (16)"),
        (point(tags={"k" * 257: "v"}), "points[1].tags key too long"),
        (point(tags={"room": 5}), 'points[1].tags["room"] must be a string'),
        (point(tags={"room": "v" * 257}), 'points[1].tags["room"] value too long'),
    ],
)
def test_first_bad_point_rejects_the_request(
    gateway: httpx.Client, sandbox: Sandbox, bad: object, message: str | None
) -> None:
    body: dict[str, object] = {"source_id": "esp32-01", "points": [point(), bad, point()]}
    if message is None:  # a point without any source id at all
        body = {"points": [point(source_id="esp32-01"), bad]}
        message = "points[1] missing source_id (set top-level source_id or per-point source_id)"
    response = post(gateway, body)
    assert response.status_code == 400
    assert response.json() == {"error": message}
    assert sandbox.row_count() == 0  # nothing from the request was kept


@pytest.mark.parametrize(
    "good",
    [
        point(value={"fix": "lost"}),  # events may carry objects...
        point(value=[1, 2, 3]),  # ...arrays
        point(value=True),  # ...booleans (inferred as event)
        point(tags=None) | {"tags": {}},
        point(extra_field={"kept": True}),  # unknown per-point fields pass through
        point(metric="temp °C / sensor #1"),  # no metric-name regex
        point(source_id="", timestamp=T0),  # an empty per-point id falls back to the top level
    ],
)
def test_valid_points(gateway: httpx.Client, good: dict[str, object]) -> None:
    response = post(gateway, {"source_id": "esp32-01", "sdk": "c/0.1.1", "points": [good]})
    assert response.json() == {"success": True, "count": 1, "source_id": "esp32-01"}


def test_per_point_source_wins(gateway: httpx.Client, sandbox: Sandbox) -> None:
    body = {"source_id": "esp32-01", "points": [point(source_id="esp32-02")]}
    assert post(gateway, body).json() == {"success": True, "count": 1, "source_id": "esp32-02"}
    assert [row["source_id"] for row in rows(sandbox)] == ["esp32-02"]


def test_source_id_only_reported_for_a_single_source(gateway: httpx.Client) -> None:
    body = {"source_id": "esp32-01", "points": [point(), point(source_id="esp32-02")]}
    assert post(gateway, body).json() == {"success": True, "count": 2}


def test_events_are_counted_but_not_telemetry(gateway: httpx.Client, sandbox: Sandbox) -> None:
    points = [
        point(metric="state", value="RUNNING"),
        point(metric="log", value=42, **{"class": "event"}),
    ]
    response = post(gateway, {"source_id": "esp32-01", "points": [*points, point()]})
    assert response.json() == {"success": True, "count": 3, "source_id": "esp32-01"}
    assert [row["metric"] for row in rows(sandbox)] == ["temperature"]
    assert sandbox.backend.store.event_count() == 2


def test_c_sdk_batch(gateway: httpx.Client, sandbox: Sandbox) -> None:
    """The BME280 sketch's body: no class, no gzip, an `sdk` field, float32 artefacts (§7.3)."""
    points = [
        {"metric": name, "value": value, "timestamp": T0 + i * 2000}
        for i in range(2)
        for name, value in (("temperature", 22.39999962), ("humidity", 55.0), ("pressure", 1013.2))
    ]
    body = {"sdk": "c/0.1.1", "source_id": "esp32-bme280", "points": points}
    response = gateway.post(
        "/ingest", content=json.dumps(body).encode(), headers={"user-agent": "plexus-c-sdk/0.1.1"}
    )
    assert response.json() == {"success": True, "count": 6, "source_id": "esp32-bme280"}
    temps = [r for r in rows(sandbox, source="esp32-bme280") if r["metric"] == "temperature"]
    assert [r["value"] for r in temps] == [22.39999962, 22.39999962]
    assert [r["timestamp"] for r in temps] == ["2026-06-12 10:00:00.000", "2026-06-12 10:00:02.000"]


def test_c_sdk_nan_reading_blocks_the_batch(gateway: httpx.Client) -> None:
    """The C SDK prints NaN as null; the gateway infers class=event and rejects it (§7.3)."""
    raw = b'{"source_id":"esp32-bme280","points":[{"metric":"temperature","value":null}]}'
    response = gateway.post("/ingest", content=raw)
    assert response.json() == {"error": "points[0].value cannot be null"}


# -- timestamps (§4.2, §6.3, §7.5) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored_ms"),
    [
        (T0, T0),
        (T0 / 1000, T0),  # seconds become milliseconds
        (1_781_258_400.123, T0 + 123),
        (5_000, 5_000_000_000),  # uptime ms from an ESP32 without NTP: scaled twice (§7.5)
    ],
)
def test_timestamp_normalisation(
    gateway: httpx.Client, sandbox: Sandbox, sent: float, stored_ms: int
) -> None:
    post(gateway, {"source_id": "esp32-01", "points": [point(timestamp=sent)]})
    assert [row["timestamp"] for row in rows(sandbox)] == [plexus_timestamp(stored_ms)]


@pytest.mark.parametrize("fields", [{}, {"timestamp": 0}, {"timestamp": -5}])
def test_missing_timestamp_uses_receive_time(
    clocked_sandbox: Sandbox, clock: FakeClock, fields: dict[str, object]
) -> None:
    body = {"source_id": "esp32-01", "points": [{"metric": "t", "value": 1.0, **fields}]}
    with sandbox_client(clocked_sandbox, clocked_sandbox.read_key) as client:
        client.post("/ingest", json=body)
    assert [row["timestamp"] for row in rows(clocked_sandbox)] == [plexus_timestamp(clock.now_ms)]


def test_ingest_registers_the_source_for_monitors(gateway: httpx.Client, sandbox: Sandbox) -> None:
    monitor = {"source_id": "esp32-09", "metric": "temperature", "threshold": {"max": 30}}
    assert gateway.post("/api/monitors", json=monitor).status_code == 404
    post(gateway, {"source_id": "esp32-09", "points": [point()]})
    assert gateway.post("/api/monitors", json=monitor).status_code == 201


# -- other gateway routes ----------------------------------------------------------------------


def test_ws_device_is_404(sandbox: Sandbox) -> None:
    headers = {"upgrade": "websocket", "connection": "Upgrade", "sec-websocket-version": "13"}
    with sandbox_client(sandbox, **headers) as client:
        response = client.get("/ws/device")
    assert response.status_code == 404


def test_ingest_cors_preflight(sandbox: Sandbox) -> None:
    with sandbox_client(sandbox) as client:
        response = client.options("/ingest")
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "x-api-key" in response.headers["access-control-allow-headers"]


def test_ingest_is_post_only(sandbox: Sandbox) -> None:
    with sandbox_client(sandbox) as client:
        assert client.get("/ingest").status_code == 405


# -- the pure validator ------------------------------------------------------------------------


def test_validate_ingest_body_normalises_points() -> None:
    body = {
        "source_id": "esp32-01",
        "points": [
            {"metric": "temperature", "value": 21, "timestamp": 1_781_258_400, "tags": {"a": "b"}},
            {"metric": "state", "value": "ok", "source_id": "esp32-02"},
        ],
    }
    points, error = validate_ingest_body(body)
    assert error is None
    assert [(p.source_id, p.point_class, p.metric, p.value, p.timestamp) for p in points] == [
        ("esp32-01", "metric", "temperature", 21.0, 1_781_258_400_000.0),
        ("esp32-02", "event", "state", "ok", None),
    ]
    assert points[0].tags == {"a": "b"}


def test_validate_ingest_body_is_case_insensitive_like_go() -> None:
    points, error = validate_ingest_body({"Source_ID": "esp32-01", "POINTS": [point()]})
    assert error is None and len(points) == 1


def test_decode_reads_only_the_first_json_value() -> None:
    assert decode_ingest_body(b'{"points": []}\n{"ignored": true}') == {"points": []}


def test_lone_surrogate_becomes_replacement_character(
    gateway: httpx.Client, sandbox: Sandbox
) -> None:
    raw = b'{"source_id":"esp32-01","points":[{"metric":"t\\ud800","value":1,"timestamp":%d}]}' % T0
    assert gateway.post("/ingest", content=raw).json()["count"] == 1
    assert [row["metric"] for row in rows(sandbox)] == ["t\ufffd"]
