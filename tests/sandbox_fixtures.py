"""Shared fixtures for tests that need a running Plexus sandbox (imported by tests/conftest.py).

- `sandbox`: a `Sandbox` on a free loopback port, in memory, quiet; stopped after the test.
- `plexus_env`: the same sandbox, with HOME and the PLEXUS_* variables set so a plexus-python
  client constructed afterwards talks to it (and its WebSocket attempt gets a 404 from it).
- `sandbox_client(sb, key)`: an httpx client for it.
- `free_port()`: a loopback port nothing listens on (for a server that is down, or starts later).
- `FakeClock`, `clock`, `clocked_sandbox`: an injectable clock for `Sandbox(clock=...)` that tests
  advance by hand, and a sandbox running on it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fleetscan.sandbox import Sandbox

# 2026-06-12 10:00:00 UTC, a fixed "now" for clocked tests.
CLOCK_START_S = 1_781_258_400.0


def free_port() -> int:
    """A loopback port that was free a moment ago: a gateway that is down, or starts later."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class FakeClock:
    """Epoch seconds that only move when told to."""

    def __init__(self, start_s: float = CLOCK_START_S) -> None:
        self.now_s = start_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds

    @property
    def now_ms(self) -> int:
        return int(self.now_s * 1000)


def sandbox_client(sb: Sandbox, key: str | None = None, **headers: str) -> httpx.Client:
    """An httpx client for the sandbox that, like fleetscan's, never follows redirects. With `key`
    it sends `x-api-key`. (`verify=False` only skips loading the CA bundle: the URL is plain http.)"""
    if key is not None:
        headers["x-api-key"] = key
    return httpx.Client(base_url=sb.endpoint, headers=headers, follow_redirects=False, verify=False)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(host="127.0.0.1", port=0, quiet=True) as sb:
        yield sb


@pytest.fixture
def plexus_env(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PLEXUS_ENDPOINT", sandbox.endpoint)
    monkeypatch.setenv("PLEXUS_GATEWAY_URL", sandbox.gateway_url)
    monkeypatch.setenv("PLEXUS_GATEWAY_WS_URL", sandbox.ws_url)
    monkeypatch.setenv("PLEXUS_API_KEY", sandbox.read_key)
    monkeypatch.setenv("PLEXUS_QUIET", "1")
    return sandbox


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clocked_sandbox(clock: FakeClock) -> Iterator[Sandbox]:
    """A sandbox whose wall clock is `clock` (query defaults, receive times, alert engine)."""
    with Sandbox(port=0, quiet=True, clock=clock) as sb:
        yield sb
