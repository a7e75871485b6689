"""The sandbox as a server: persistence, concurrency, the Python API and the CLI command."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
import typer
from sandbox_fixtures import sandbox_client
from typer.testing import CliRunner

from fleetscan.commands import sandbox as sandbox_command
from fleetscan.errors import ConfigError
from fleetscan.sandbox import READ_KEY, WRITE_KEY, Sandbox
from fleetscan.sandbox.keys import KEY_SCOPES
from fleetscan.telemetry import Reading

T0 = 1_781_258_400_000
WINDOW = {"from": "2026-06-12T09:00:00Z", "to": "2026-06-12T11:00:00Z"}
REPO = Path(__file__).resolve().parents[1]


def test_keys_have_the_real_shape() -> None:
    assert all(key.startswith("plx_") and len(key) == 36 for key in KEY_SCOPES)


# -- persistence --------------------------------------------------------------------------------


def test_db_file_survives_restart(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    monitor = {"source_id": "esp32-01", "metric": "temperature", "threshold": {"max": 30}}
    with Sandbox(port=0, db_path=db) as sb, sandbox_client(sb, sb.read_key) as client:
        points = [
            {"metric": "temperature", "value": v, "timestamp": T0 + i}
            for i, v in enumerate([20.0, 31.0])
        ]
        client.post("/ingest", json={"source_id": "esp32-01", "points": points})
        client.post("/api/monitors", json=monitor)
        client.post("/ingest", json={"source_id": "esp32-01", "points": points[1:]})
        before = (client.get("/api/monitors").json(), sb.alert_events())
    with Sandbox(port=0, db_path=db) as sb, sandbox_client(sb, sb.read_key) as client:
        assert sb.row_count() == 3
        rows = client.get("/api/v1/telemetry", params=WINDOW).json()["data"]
        assert [row["value"] for row in rows] == [20, 31, 31]
        assert (client.get("/api/monitors").json(), sb.alert_events()) == before
        assert len(before[1]) == 1
    assert (db.parent / "sandbox.db-wal").exists() or db.stat().st_size > 0


def test_newer_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(ConfigError, match="newer than this sandbox"):
        Sandbox(port=0, db_path=db).start()


def test_port_in_use_is_a_config_error(sandbox: Sandbox) -> None:
    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{sandbox.port}"):
        Sandbox(port=sandbox.port).start()


def test_api_needs_a_running_sandbox() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        Sandbox().row_count()


# -- the Python API ----------------------------------------------------------------------------


def test_insert_registers_sources_and_skips_non_finite(sandbox: Sandbox) -> None:
    readings = [Reading("esp32-01", "temperature", T0, 21.0, {"room": "lab"})]
    assert sandbox.insert(readings) == 1
    stored = sandbox.insert_arrays(
        "esp32-02", "humidity", np.array([T0, T0 + 1, T0 + 2]), np.array([50.0, np.nan, 51.0])
    )
    assert stored == 2
    assert sandbox.row_count() == 3
    with sandbox_client(sandbox, sandbox.read_key) as client:
        for source in ("esp32-01", "esp32-02"):
            body = {"source_id": source, "metric": "m", "threshold": {"max": 1}}
            assert client.post("/api/monitors", json=body).status_code == 201
        rows = client.get("/api/v1/telemetry", params=WINDOW).json()["data"]
    assert rows[0]["tags"] == {"room": "lab"}
    assert len(sandbox.monitors()) == 2


def test_insert_arrays_checks_shapes(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="same length"):
        sandbox.insert_arrays("esp32-01", "t", np.arange(3), np.arange(2.0))


# -- concurrency -------------------------------------------------------------------------------


def test_concurrent_clients(sandbox: Sandbox) -> None:
    errors: list[BaseException] = []
    threads_n, requests_n, points_n = 6, 15, 20

    def writer(index: int) -> None:
        try:
            with sandbox_client(sandbox, sandbox.read_key) as client:
                for r in range(requests_n):
                    points = [
                        {
                            "metric": "temperature",
                            "value": float(i),
                            "timestamp": T0 + (r * points_n + i) * 10 + index,
                        }
                        for i in range(points_n)
                    ]
                    body = {"source_id": f"esp32-{index:02d}", "points": points}
                    response = client.post("/ingest", json=body)
                    assert response.json()["count"] == points_n
                    read = client.get("/api/v1/telemetry", params=WINDOW)
                    assert read.status_code == 200
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sandbox.row_count() == threads_n * requests_n * points_n


def test_stop_closes_idle_keep_alive_connections() -> None:
    sb = Sandbox(port=0).start()
    client = sandbox_client(sb, sb.read_key)
    assert client.get("/api/monitors").status_code == 200  # leaves a kept-alive connection
    sb.stop()
    with pytest.raises(httpx.TransportError):
        client.get("/api/monitors")
    client.close()


# -- the command -------------------------------------------------------------------------------


def test_command_help_documents_every_option() -> None:
    app = typer.Typer()
    sandbox_command.register(app)
    app.command("other")(lambda: None)  # keep `sandbox` a subcommand
    result = CliRunner().invoke(app, ["sandbox", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--db", "--quiet"):
        assert option in result.output


def test_run_sandbox_hook_and_clean_stop(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[str] = []

    def on_started(sb: Sandbox) -> Callable[[], None]:
        with sandbox_client(sb, sb.read_key) as client:
            seen.append(str(client.get("/api/monitors").status_code))
        os.kill(os.getpid(), signal.SIGINT)  # as if Ctrl+C were pressed
        return lambda: seen.append("cleanup")

    sandbox_command.run_sandbox(port=0, quiet=True, on_started=on_started)
    assert seen == ["200", "cleanup"]
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("export PLEXUS_ENDPOINT=http://127.0.0.1:")
    key = next(line for line in out if line.startswith("export PLEXUS_API_KEY="))
    assert key.startswith("export PLEXUS_API_KEY=plx_") and not key.endswith(READ_KEY)  # fresh


def test_cli_runs_until_sigterm(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fleetscan",
            "sandbox",
            "--port",
            str(port),
            "--db",
            str(tmp_path / "cli.db"),
            "--quiet",
            "--dev-keys",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(6)]
        exports = dict(line.removeprefix("export ").split("=", 1) for line in lines[:4])
        assert lines[4].startswith("# write-only key") and lines[4].endswith(WRITE_KEY)
        assert lines[5].startswith("# read-only key")
        assert exports["PLEXUS_ENDPOINT"] == f"http://127.0.0.1:{port}"
        assert exports["PLEXUS_GATEWAY_URL"] == f"http://127.0.0.1:{port}"
        key = exports["PLEXUS_API_KEY"]
        with httpx.Client(base_url=exports["PLEXUS_ENDPOINT"], verify=False) as client:
            response = client.get("/api/monitors", headers={"x-api-key": key})
        assert response.json() == {"monitors": []}
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "Traceback" not in stdout + stderr
    assert "sandbox stopped" in stderr
