"""`fleetscan device --metrics-port`: a real /metrics endpoint (prometheus_client) while polling
the sandbox, scraped over loopback, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sandbox_fixtures import free_port
from sweep_helpers import env_for

from fleetscan.sandbox import Sandbox
from fleetscan.telemetry import Reading
from fleetscan.timeutil import now_ms

BOARD = "esp32-bme280-01"


def scrape(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_device_serves_metrics_while_it_polls(sandbox: Sandbox, tmp_path: Path) -> None:
    now = now_ms()
    sandbox.insert(
        # two steady minutes, then the newest 20 readings (40 s) 5 °C up: a step
        Reading(BOARD, "temperature", now - k * 2000, 21.0 + 0.01 * (k % 5) + 5.0 * (k < 20))
        for k in range(120)
    )
    port = free_port()
    command = [str(Path(sys.executable).with_name("fleetscan")), "device", "--source", BOARD]
    command += [
        "--metric",
        "temperature",
        "--poll",
        "0.2",
        "--dry-run",
        "--metrics-port",
        str(port),
    ]
    env = {**os.environ, **env_for(sandbox, tmp_path)}
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as proc:
        labels = sorted({"source_id": BOARD, "metric": "temperature"}.items())
        samples: dict[str, float] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                samples = scrape(port)
            except httpx.TransportError:
                samples = {}
            if samples.get(f"fleetscan_device_samples_total{labels}", 0) >= 100:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        err = proc.stderr.read().decode() if proc.stderr else ""
    assert samples.get(f"fleetscan_device_samples_total{labels}", 0) >= 100, err
    assert samples[f"fleetscan_device_anomalies_total{labels}"] >= 3
    assert samples[f"fleetscan_device_score{labels}"] > 3  # <metric>.zscore once 3 in a row
    newest = samples[f"fleetscan_device_last_sample_timestamp_seconds{labels}"]
    assert abs(newest - now / 1000) < 1
    assert samples["fleetscan_device_poll_errors_total[]"] == 0
    assert code == 0, err
