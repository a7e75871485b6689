"""The emitter: one plexus-python client, per-point sources, nothing lost while the gateway is down."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sandbox_fixtures import free_port

from fleetscan.emitter import Emitter, Point
from fleetscan.errors import EmitError
from fleetscan.sandbox import Sandbox
from fleetscan.timeutil import now_ms


def rows(sb: Sandbox, metric: str) -> list[dict[str, object]]:
    response = httpx.get(
        f"{sb.endpoint}/api/v1/telemetry",
        params={"metric": metric, "from": "2020-01-01T00:00:00Z"},
        headers={"x-api-key": sb.read_key},
    )
    response.raise_for_status()
    data: list[dict[str, object]] = response.json()["data"]
    return data


def points(n_sources: int, t0: int) -> list[Point]:
    return [
        Point(f"esp32-bme280-{i:04d}", "temperature.fleet_z", float(i % 7), t0 + i, {"room": "a"})
        for i in range(n_sources)
    ]


def test_many_sources_go_out_in_few_requests_with_their_own_source_ids(
    plexus_env: Sandbox,
) -> None:
    t0 = now_ms() - 60_000
    with Emitter(api_key=plexus_env.read_key, gateway_url=plexus_env.gateway_url) as emitter:
        result = emitter.send(points(1200, t0))
    assert result.ok and result.delivered == 1200
    stored = rows(plexus_env, "temperature.fleet_z")
    assert len(stored) == 1200
    assert {r["source_id"] for r in stored} == {f"esp32-bme280-{i:04d}" for i in range(1200)}
    assert all(r["tags"] == {"room": "a"} for r in stored)


def test_dry_run_needs_no_key_and_posts_nothing(plexus_env: Sandbox) -> None:
    with Emitter(api_key="", gateway_url=plexus_env.gateway_url, dry_run=True) as emitter:
        result = emitter.send(points(3, now_ms()))
    assert result.ok and result.delivered == 3
    assert rows(plexus_env, "temperature.fleet_z") == []


def test_non_finite_values_are_rejected_not_sent(plexus_env: Sandbox) -> None:
    bad = [Point("a", "m", float("nan"), now_ms()), Point("a", "m", 1.0, now_ms())]
    with Emitter(api_key=plexus_env.read_key, gateway_url=plexus_env.gateway_url) as emitter:
        result = emitter.send(bad)
    assert result.delivered == 1 and result.rejected == 1


def test_read_only_key_is_an_emit_error_without_the_key(plexus_env: Sandbox) -> None:
    key = plexus_env.read_only_key
    with Emitter(api_key=key, gateway_url=plexus_env.gateway_url) as emitter:
        with pytest.raises(EmitError) as info:
            emitter.send(points(2, now_ms()))
    assert key not in str(info.value)


def test_gateway_down_then_up_delivers_every_point_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PLEXUS_QUIET", "1")
    port = free_port()
    db = tmp_path / "plexus.db"
    batch = points(50, now_ms() - 10_000)
    gateway = f"http://127.0.0.1:{port}"
    with Sandbox(port=0, quiet=True) as keys_from:  # only for its fixed keys
        key = keys_from.read_key
    with Emitter(api_key=key, gateway_url=gateway, retries=0) as emitter:
        down = emitter.send(batch)  # nothing listens on the port yet
        assert down.delivered == 0 and down.undelivered == batch and "unavailable" in down.error
        with Sandbox(port=port, db_path=db, quiet=True) as sb:
            up = emitter.send(down.undelivered)
            assert up.ok and up.delivered == 50
            again = emitter.send([])  # nothing pending inside plexus-python either
            assert again.delivered == 0
            stored = rows(sb, "temperature.fleet_z")
    assert len(stored) == 50
    assert len({(r["source_id"], r["timestamp"]) for r in stored}) == 50
