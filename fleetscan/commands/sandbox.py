"""`fleetscan sandbox`: run a local Plexus-compatible server until Ctrl+C or SIGTERM."""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from fleetscan.commands.common import ExitCode, fail, note, stop_on_signals
from fleetscan.errors import FleetscanError
from fleetscan.sandbox import Sandbox, backfill_fleet
from fleetscan.sandbox.keys import DEV_KEYS, KeySet, random_keys
from fleetscan.simulate import (
    FAULT_KINDS,
    FleetSpec,
    LiveFleet,
    SimulatedFleet,
    parse_fault,
)
from fleetscan.timeutil import now_ms, parse_duration_ms

DEFAULT_PORT = 8787


def export_lines(sb: Sandbox) -> list[str]:
    """The shell lines that point fleetscan and plexus-python at a running sandbox.

    The keys are this start's own (random unless `--dev-keys`): printing them is the point,
    and they open nothing but this sandbox.
    """
    return [
        f"export PLEXUS_ENDPOINT={sb.endpoint}",
        f"export PLEXUS_GATEWAY_URL={sb.gateway_url}",
        f"export PLEXUS_GATEWAY_WS_URL={sb.ws_url}",
        f"export PLEXUS_API_KEY={sb.read_key}",
        f"# write-only key (reading telemetry with it gives Plexus's 403): {sb.write_key}",
        f"# read-only key (posting to /ingest with it gives a 403): {sb.read_only_key}",
    ]


OnStarted = Callable[[Sandbox], Callable[[], None] | None]
"""The hook type: called with the running sandbox; may return a function to call at shutdown."""


def run_sandbox(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    db: Path | None = None,
    quiet: bool = False,
    on_started: OnStarted | None = None,
    keys: KeySet | None = None,
) -> None:
    """Start a sandbox, print the exports, call `on_started(sb)`, serve until SIGINT/SIGTERM.

    HOOK for `--simulate N` / `--fault` (wired by the CLI owner): `on_started` runs on the main
    thread once the server is up. It should start its work (e.g. a simulator thread posting to
    `sb.gateway_url`, or a backfill through `sb.insert`) and return promptly; if it returns a
    callable, that is called on shutdown, before the server stops.
    """
    if not _is_loopback(host):
        note(
            f"warning: binding {host}, beyond loopback: anyone who can reach this machine "
            "and has the keys below can read and write this sandbox"
            + (" (--dev-keys are public: drop it)" if keys == DEV_KEYS else "")
        )
    sb = Sandbox(host=host, port=port, db_path=db, quiet=quiet, keys=keys or random_keys())
    with stop_on_signals() as stop:
        try:
            sb.start()
        except FleetscanError as exc:
            fail(str(exc))
        cleanup: Callable[[], None] | None = None
        try:
            storage = f"data in {db}" if db is not None else "data in memory (lost on exit)"
            note(f"Plexus sandbox listening on {sb.endpoint}, {storage}")
            for line in export_lines(sb):
                typer.echo(line)
            note(f"alerts, with fleetscan's reasons: {sb.endpoint}/sandbox/alerts")
            note("press Ctrl+C to stop")
            if on_started is not None:
                cleanup = on_started(sb)
            while not stop.wait(0.5):
                pass
        finally:
            try:
                if cleanup is not None:
                    cleanup()
            finally:
                sb.stop()
    note("sandbox stopped")


def sandbox(
    host: Annotated[
        str,
        typer.Option(
            help="Interface to bind. Beyond loopback (0.0.0.0) other machines get in with the "
            "keys printed (a warning says so)."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port for both the app API and the gateway.")
    ] = DEFAULT_PORT,
    db: Annotated[
        Path | None,
        typer.Option(help="SQLite file to keep data in across restarts (default: in memory)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="Do not print alert.triggered / alert.resolved lines.")
    ] = False,
    simulate: Annotated[
        int,
        typer.Option(
            min=0, help="Run N simulated ESP32 + BME280 boards posting through plexus-python."
        ),
    ] = 0,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="Inject a fault: BOARD:KIND[:SIZE][:METRIC]@ONSET (onset after the backfill "
            "start, e.g. esp32-bme280-07:drift:5@1h). Kinds: " + ", ".join(FAULT_KINDS) + "."
        ),
    ] = None,
    backfill: Annotated[
        str, typer.Option(help="History inserted directly before the boards go live, e.g. 2h.")
    ] = "2h",
    seed: Annotated[int, typer.Option(min=0, help="Simulator seed (same seed, same fleet).")] = 7,
    truth: Annotated[
        Path | None, typer.Option(help="Write the injected faults' ground truth (JSON) here.")
    ] = None,
    dev_keys: Annotated[
        bool,
        typer.Option(
            "--dev-keys",
            help="Use the fixed, public test keys (fleetscan/sandbox/keys.py) instead of fresh "
            "random ones at each start; for scripts on this machine only.",
        ),
    ] = False,
) -> None:
    """Run a local Plexus stand-in (telemetry, monitors, ingest, alerts) until Ctrl+C.

    Prints the PLEXUS_* exports; plexus-python and fleetscan work against it unchanged.
    """
    hook: OnStarted | None = None
    if simulate:
        try:
            backfill_ms = parse_duration_ms(backfill)
            start_ms = now_ms() - backfill_ms
            spec = FleetSpec(
                boards=simulate,
                seed=seed,
                start_ms=start_ms,
                duration_s=backfill_ms / 1000 + 30 * 86_400,
                faults=tuple(parse_fault(text) for text in fault or []),
            )
        except FleetscanError as exc:
            fail(str(exc), code=ExitCode.USAGE)
        hook = _simulation(spec, start_ms + backfill_ms, truth)
    keys = DEV_KEYS if dev_keys else random_keys()
    run_sandbox(host=host, port=port, db=db, quiet=quiet, on_started=hook, keys=keys)


def _is_loopback(host: str) -> bool:
    """
    >>> _is_loopback("127.0.0.1"), _is_loopback("localhost"), _is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _simulation(spec: FleetSpec, live_from_ms: int, truth: Path | None) -> OnStarted:
    """The `--simulate` hook: backfill history directly, then play the fleet live."""

    def start(sb: Sandbox) -> Callable[[], None]:
        fleet = SimulatedFleet(spec)
        rows = backfill_fleet(sb, fleet, end_ms=live_from_ms)
        note(f"backfilled {rows} readings from {spec.boards} simulated boards")
        if truth is not None:
            fleet.write_ground_truth(truth)
            note(f"ground truth written to {truth}")
        # The boards' WebSocket attempts get the 404 that sends them to HTTP: expected, not news.
        os.environ.setdefault("PLEXUS_QUIET", "1")
        logging.getLogger("plexus").setLevel(logging.CRITICAL)
        live = LiveFleet(
            spec, api_key=sb.read_key, gateway_url=sb.gateway_url, from_ms=live_from_ms
        )
        live.start()
        note(f"{spec.boards} boards now posting every {spec.cadence_s:g}s through plexus-python")
        return live.stop

    return start


def register(app: typer.Typer) -> None:
    """Add the `sandbox` command to the fleetscan app."""
    app.command("sandbox")(sandbox)
