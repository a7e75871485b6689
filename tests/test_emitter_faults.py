"""The emitter against a misbehaving gateway: redirects, unacknowledged 2xx, drips, 400 splits.

Each stand-in is a real loopback HTTP server (tests/standin.py) and the points go through the real
plexus-python client, so these tests exercise the session fleetscan configures on it.
"""

from __future__ import annotations

import gzip
import json
import time

import pytest
from standin import Reply, Seen, StandIn

from fleetscan.emitter import Emitter, Point

KEY = "plx_" + "k" * 32


def batch(n: int = 20) -> list[Point]:
    return [
        Point(f"esp32-{i:02d}", "temperature.fleet_z", float(i), 1_781_258_400_000 + i)
        for i in range(n)
    ]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed_and_the_points_are_kept(status: int) -> None:
    with StandIn(lambda _: Reply()) as elsewhere:
        target = f"{elsewhere.url}/ingest"
        with StandIn(lambda _: Reply(status, b"", {"location": target})) as gateway:
            with Emitter(api_key=KEY, gateway_url=gateway.url, retries=0) as emitter:
                result = emitter.send(batch())
            assert len(gateway.requests) == 1 and gateway.keys_received() == [KEY]
        assert elsewhere.requests == []  # the key never reached the other host
    assert result.delivered == 0 and result.undelivered == batch()
    assert f"answered {status}" in result.error and "not followed" in result.error
    assert KEY not in result.error


def test_a_2xx_without_the_gateways_acknowledgement_is_not_delivered() -> None:
    page = Reply(200, b"<html>Sign in to the hotel wifi</html>", {"content-type": "text/html"})
    with StandIn(lambda _: page) as portal:
        with Emitter(api_key=KEY, gateway_url=portal.url, retries=0) as emitter:
            result = emitter.send(batch(3))
    assert result.delivered == 0 and len(result.undelivered) == 3
    assert "text/html" in result.error and "no acknowledgement" in result.error


def test_an_answer_dripping_a_byte_a_second_ends_at_the_deadline() -> None:
    slow = Reply(200, b'{"success":true,"count":3}' + b" " * 60, drip_s=1.0)
    with StandIn(lambda _: slow) as gateway:
        with Emitter(api_key=KEY, gateway_url=gateway.url, retries=0, timeout_s=2.0) as emitter:
            started = time.monotonic()
            result = emitter.send(batch(3))
            elapsed = time.monotonic() - started
    assert elapsed < 6.0, elapsed  # the body alone would take 86 s
    assert result.delivered == 0 and len(result.undelivered) == 3


def _points_of(seen: Seen) -> list[dict[str, object]]:
    body = seen.body
    if seen.headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    points: list[dict[str, object]] = json.loads(body)["points"]
    return points


def test_a_400_splits_the_batch_keeps_the_good_points_and_names_the_refused_one() -> None:
    def gateway_rules(seen: Seen) -> Reply:
        points = _points_of(seen)
        if any(p["source_id"] == "esp32-07" for p in points):  # the first bad point refuses all
            return Reply(400, b'{"error":"invalid source_id"}')
        return Reply(200, json.dumps({"success": True, "count": len(points)}).encode())

    with StandIn(gateway_rules) as gateway:
        with Emitter(api_key=KEY, gateway_url=gateway.url, retries=0) as emitter:
            result = emitter.send(batch(20))
        accepted = [p for r in gateway.requests[1:] for p in _points_of(r) if r is not None]
    assert result.delivered == 19 and result.undelivered == []
    assert [p.source_id for p, _ in result.refused] == ["esp32-07"]
    assert result.rejected == 1
    assert "esp32-07" in result.refusal and "400 invalid source_id" in result.refusal
    assert result.error == ""  # said once, in `refusal`
    assert len(gateway.requests) <= 12  # 1 + 2 per halving, not one request per point
    assert len({p["source_id"] for p in accepted}) >= 19


def test_points_after_an_unavailable_chunk_are_kept_in_order() -> None:
    with StandIn(lambda _: Reply(503, b'{"error":"gateway degraded"}')) as gateway:
        with Emitter(api_key=KEY, gateway_url=gateway.url, retries=0) as emitter:
            points = batch(20)
            result = emitter.send(points)
    assert result.undelivered == points and "503" in result.error
