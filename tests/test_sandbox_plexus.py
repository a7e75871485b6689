"""End to end: the unmodified plexus-python client and fleetscan's read client against the sandbox."""

from __future__ import annotations

import json
from typing import Any

import plexus
import pytest
from plexus.config import RetryConfig
from sandbox_fixtures import sandbox_client

from fleetscan.client import PlexusClient
from fleetscan.sandbox import Sandbox
from fleetscan.timeutil import iso_z

T0_S = 1_781_258_400  # 2026-06-12 10:00:00 UTC
WINDOW = {"from": "2026-06-12T09:00:00Z", "to": "2026-06-12T11:00:00Z"}


def make_client(sb: Sandbox, key: str, **options: Any) -> Any:
    px = plexus.Plexus(
        api_key=key,
        source_id="esp32-bme280-01",
        persistent_buffer=False,
        timeout=0.5,
        **options,
    )
    px._ws_auth_waited = True  # skip the racy first-send WS wait (docs/plexus-contract.md §4.6)
    return px


def telemetry(sb: Sandbox, **params: str) -> list[dict[str, Any]]:
    with sandbox_client(sb, sb.read_key) as client:
        response = client.get("/api/v1/telemetry", params={**WINDOW, **params})
    assert response.status_code == 200
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_plexus_python_round_trip(plexus_env: Sandbox) -> None:
    px = make_client(plexus_env, plexus_env.read_key)
    try:
        assert px.gateway_url == plexus_env.gateway_url
        px.send("temperature", 22.4, timestamp=T0_S)  # seconds, converted by the SDK
        px.send("pressure", 1013.25, timestamp=(T0_S + 1) * 1000, tags={"room": "lab"})
        batch = [("humidity", 50.0 + i / 10, (T0_S + 2 + i) * 1000) for i in range(60)]
        assert len(json.dumps(batch)) > 1024  # so the SDK gzips this request
        px.send_batch(batch)
        px.event("state", "RUNNING", timestamp=T0_S)
        assert px.buffer_size() == 0
    finally:
        px.close()

    rows = telemetry(plexus_env, source="esp32-bme280-01")
    assert len(rows) == 62  # the event is not telemetry
    assert rows[0] == {
        "org_id": "org_sandbox",
        "source_id": "esp32-bme280-01",
        "metric": "temperature",
        "value": 22.4,
        "timestamp": "2026-06-12 10:00:00.000",
        "tags": {},
    }
    assert rows[1]["tags"] == {"room": "lab"}
    humidity = [row["value"] for row in rows if row["metric"] == "humidity"]
    assert humidity == [50.0 + i / 10 for i in range(60)]
    assert plexus_env.backend.store.event_count() == 1


def test_plexus_python_unknown_key_fails_fast(plexus_env: Sandbox) -> None:
    px = make_client(plexus_env, "plx_" + "0" * 32, retry_config=RetryConfig(max_retries=0))
    try:
        with pytest.raises(plexus.AuthenticationError):
            px.send("temperature", 22.4)
    finally:
        px._clear_buffer()
        px.close()


def test_plexus_python_bad_point_is_a_400(plexus_env: Sandbox) -> None:
    px = make_client(plexus_env, plexus_env.read_key, retry_config=RetryConfig(max_retries=0))
    try:
        with pytest.raises(plexus.PlexusError, match=r"400.*exceeds max length \(256\)"):
            px.event("log", "x" * 300)
        assert px.buffer_size() == 1  # the SDK keeps even a rejected point (§4.3)
    finally:
        px._clear_buffer()
        px.close()


def test_default_write_only_key_can_send_but_not_read(plexus_env: Sandbox) -> None:
    px = make_client(plexus_env, plexus_env.write_key)
    try:
        px.send("temperature", 22.4, timestamp=T0_S)
    finally:
        px.close()
    with sandbox_client(plexus_env, plexus_env.write_key) as client:
        response = client.get("/api/v1/telemetry", params=WINDOW)
    assert response.status_code == 403
    assert len(telemetry(plexus_env)) == 1


def test_fleetscan_client_pages_through_the_sandbox(sandbox: Sandbox) -> None:
    t0 = T0_S * 1000
    sandbox.insert_arrays("esp32-01", "temperature", [t0 + i * 1000 for i in range(25)], range(25))
    with PlexusClient(endpoint=sandbox.endpoint, api_key=sandbox.read_key, retries=0) as client:
        parsed = client.fetch(
            metrics=["temperature"],
            sources=["esp32-01"],
            from_ms=t0,
            to_ms=t0 + 3_600_000,
            page_limit=10,
        )
        assert [r.value for r in parsed.readings] == [float(i) for i in range(25)]
        assert client.requests == 3
        client.create_monitor(
            {"source_id": "esp32-01", "metric": "temperature", "threshold": {"max": 30}}
        )
        assert [m["source_slug"] for m in client.list_monitors()] == ["esp32-01"]
        client.delete_monitor(source_id="esp32-01", metric="temperature")
        assert client.list_monitors() == []
    assert iso_z(t0) == "2026-06-12T10:00:00.000Z"
