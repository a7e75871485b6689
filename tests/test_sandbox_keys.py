"""`fleetscan sandbox` makes fresh keys at each start (fixed ones only with --dev-keys) and warns
when it binds beyond loopback. Real subprocesses, real HTTP."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from fleetscan.sandbox import READ_KEY


@contextmanager
def started(*args: str) -> Iterator[tuple[dict[str, str], list[str]]]:
    """Run `fleetscan sandbox ARGS`; yield its exports and its stderr lines so far."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetscan", "sandbox", "--port", "0", "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        exports: dict[str, str] = {}
        while "PLEXUS_API_KEY" not in exports:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                exports[name] = value
        errors = []
        while not (errors and "listening" in errors[-1]) and len(errors) < 5:
            errors.append(proc.stderr.readline().strip())
        yield exports, errors
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)


def reads(endpoint: str, key: str) -> int:
    return httpx.get(f"{endpoint}/api/v1/telemetry", headers={"x-api-key": key}).status_code


def test_each_start_has_its_own_keys_and_the_public_ones_open_nothing() -> None:
    with started() as (first, _), started() as (second, _):
        assert first["PLEXUS_API_KEY"] != second["PLEXUS_API_KEY"]
        assert first["PLEXUS_API_KEY"] != READ_KEY
        assert reads(first["PLEXUS_ENDPOINT"], first["PLEXUS_API_KEY"]) == 200
        assert reads(first["PLEXUS_ENDPOINT"], second["PLEXUS_API_KEY"]) == 401
        assert reads(first["PLEXUS_ENDPOINT"], READ_KEY) == 401


def test_dev_keys_are_the_fixed_ones() -> None:
    with started("--dev-keys") as (exports, errors):
        assert exports["PLEXUS_API_KEY"] == READ_KEY
        assert reads(exports["PLEXUS_ENDPOINT"], READ_KEY) == 200
        assert not any("warning" in e for e in errors)


def test_binding_beyond_loopback_warns() -> None:
    with started("--host", "0.0.0.0", "--dev-keys") as (_, errors):
        warning = next(e for e in errors if "warning" in e)
        assert "beyond loopback" in warning and "--dev-keys are public" in warning
