"""The read client against a misbehaving app API on loopback: Retry-After, jitter, deadlines,
answers that drip, and redirects to another host (whose server records whether the key came)."""

from __future__ import annotations

import time

import pytest
from standin import Reply, Seen, StandIn

from fleetscan.client import PlexusClient
from fleetscan.errors import AuthError, PlexusError, UnavailableError

KEY = "plx_" + "r" * 32
T0 = 1_781_258_400_000
EMPTY = Reply(200, b'{"data": [], "count": 0}')


def client_for(url: str, **kw: object) -> tuple[PlexusClient, list[float]]:
    sleeps: list[float] = []
    client = PlexusClient(endpoint=url, api_key=KEY, sleep=sleeps.append, **kw)  # type: ignore[arg-type]
    return client, sleeps


def fetch(client: PlexusClient) -> None:
    client.fetch(metrics=["temperature"], from_ms=T0, to_ms=T0 + 60_000)


def test_a_429_is_retried_after_the_seconds_retry_after_asks_for() -> None:
    answers = iter([Reply(429, b'{"error":"slow down"}', {"retry-after": "5"}), EMPTY])
    with StandIn(lambda _: next(answers)) as api:
        client, sleeps = client_for(api.url)
        with client:
            fetch(client)
    assert sleeps == [5.0]  # not the 0.5 s backoff
    assert len(api.requests) == 2


def test_a_retry_after_beyond_the_deadline_gives_up_at_once_and_says_so() -> None:
    with StandIn(lambda _: Reply(503, b"{}", {"retry-after": "120"})) as api:
        client, sleeps = client_for(api.url, deadline_s=30.0)
        with client, pytest.raises(UnavailableError) as info:
            fetch(client)
    assert sleeps == [] and len(api.requests) == 1
    assert "retry after 120s" in str(info.value) and "30s deadline" in str(info.value)


def test_backoff_has_jitter() -> None:
    with StandIn(lambda _: Reply(502, b"{}")) as api:
        client, sleeps = client_for(api.url, retries=3, jitter=lambda: 0.0)
        with client, pytest.raises(UnavailableError):
            fetch(client)
    assert sleeps == [0.25, 0.5, 1.0]  # half of 0.5, 1, 2 s fixed, the other half random


def test_an_answer_dripping_a_byte_a_second_ends_at_the_deadline() -> None:
    drip = Reply(200, b'{"data": []}' + b" " * 100, drip_s=1.0)
    with StandIn(lambda _: drip) as api:
        client, _ = client_for(api.url, deadline_s=2.0)
        started = time.monotonic()
        with client, pytest.raises(UnavailableError) as info:
            fetch(client)
        elapsed = time.monotonic() - started
    assert elapsed < 5.0, elapsed  # the body alone takes 112 s
    assert "still answering after 2s" in str(info.value)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_host_is_not_followed_nor_blamed_on_the_key(status: int) -> None:
    with StandIn(lambda _: EMPTY) as elsewhere:
        moved = Reply(status, b"", {"location": f"{elsewhere.url}/api/v1/telemetry"})
        with StandIn(lambda _: moved) as api:
            client, _ = client_for(api.url)
            with client, pytest.raises(PlexusError) as info:
                fetch(client)
    assert elsewhere.requests == []
    assert not isinstance(info.value, AuthError)
    assert f"answered {status} redirecting to {elsewhere.url}" in str(info.value)
    assert KEY not in str(info.value)


def test_the_sign_in_redirect_is_still_the_missing_key() -> None:
    def sign_in(seen: Seen) -> Reply:
        return Reply(307, b"", {"location": "/sign-in?redirect_url=/api/v1/telemetry"})

    with StandIn(sign_in) as api:
        client, _ = client_for(api.url)
        with client, pytest.raises(AuthError):
            fetch(client)
