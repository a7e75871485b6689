"""Baselines from `/v1/fleet/metrics`: the sandbox's endpoint, window splitting, and the CLI."""

from __future__ import annotations

import json

import httpx
import numpy as np
from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.client import PlexusClient
from fleetscan.fleet.options import SweepOptions
from fleetscan.sandbox import Sandbox
from fleetscan.sandbox.api_routes import FLEET_CAP
from fleetscan.sweeps.rollups import rollup_baseline
from fleetscan.timeutil import iso_z

NOW = 1_781_258_400_000  # 2026-06-12 10:00:00 UTC
HOUR = 3_600_000


def fill(sb: Sandbox, sources: int, hours: int, per_hour: int = 3) -> dict[str, np.ndarray]:
    """`sources` boards with `per_hour` readings in each of the `hours` hours before NOW."""
    rng = np.random.default_rng(4)
    out = {}
    for s in range(sources):
        ts = NOW - hours * HOUR + HOUR * np.repeat(np.arange(hours), per_hour)
        ts = ts + np.tile(np.arange(per_hour), hours) * 600_000 + 17
        values = np.round(20 + s * 0.01 + rng.normal(0, 0.2, len(ts)), 2)
        sb.insert_arrays(f"b{s:04d}", "temperature", ts, values, {"room": f"r{s % 3}"})
        out[f"b{s:04d}"] = values
    return out


def test_the_endpoint_answers_per_source_buckets_as_the_contract_says() -> None:
    with Sandbox(host="127.0.0.1", port=0, quiet=True, clock=lambda: NOW / 1000) as sb:
        values = fill(sb, 4, 3)
        http = httpx.Client(base_url=sb.endpoint)
        get = http.get
        params = {"metric": "temperature", "start": iso_z(NOW - 3 * HOUR), "end": iso_z(NOW),
                  "interval": "1h"}  # fmt: skip
        assert get("/v1/fleet/metrics", params=params).status_code == 401
        assert get("/v1/fleet/metrics", params=params, headers={"x-api-key": "plx_x"}).json() == {
            "detail": "invalid api key"
        }
        key = {"x-api-key": sb.read_key}
        assert get("/v1/fleet/metrics", params={}, headers=key).status_code == 422
        body = get("/v1/fleet/metrics", params=params, headers=key).json()
        http.close()
    assert body["interval"] == "1h" and body["truncated"] is False
    assert body["sources_w_metric"] == 4
    first = body["sources"][0]
    assert first["source_id"] == "b0000"
    assert first["timestamp_ms"] == [NOW - 3 * HOUR, NOW - 2 * HOUR, NOW - HOUR]
    assert first["count"] == [3, 3, 3]
    assert np.allclose(first["avg"], values["b0000"].reshape(3, 3).mean(axis=1))
    assert first["min"] == values["b0000"].reshape(3, 3).min(axis=1).tolist()


def test_a_truncated_answer_is_asked_again_in_halves_until_every_source_is_there() -> None:
    sources, hours = 700, 24  # 16,800 buckets: more than one answer holds
    assert sources * hours > FLEET_CAP
    options = SweepOptions(window_ms=600_000, baseline_span_ms=hours * HOUR)
    with Sandbox(host="127.0.0.1", port=0, quiet=True, clock=lambda: NOW / 1000) as sb:
        values = fill(sb, sources, hours + 1, per_hour=1)
        with PlexusClient(endpoint=sb.endpoint, api_key=sb.read_key) as client:
            base, requests = rollup_baseline(client, "temperature", now_ms=NOW, options=options)
    assert requests >= 3  # one truncated answer, then at least two halves
    assert len(base.source_ids) == sources
    last = base.source_ids.index("b0699")  # sorts last: the first to be dropped
    assert np.isfinite(base.offset[last]).all() and base.offset.shape[1] == hours  # every bucket
    # Each bucket's offset is the source's mean minus the median of every other source's.
    means = np.array([values[s][-hours:] for s in base.source_ids])
    others = np.delete(means, last, axis=0)
    assert np.allclose(base.offset[last], means[last] - np.median(others, axis=0))


def test_fleet_learns_from_rollups_and_finds_the_same_drift(
    tmp_path: object, monkeypatch: object
) -> None:
    from fleetscan.simulate import Fault, FleetSpec, SimulatedFleet
    from fleetscan.timeutil import now_ms

    end = now_ms() // 1000 * 1000
    bad = "esp32-bme280-08"
    fleet = SimulatedFleet(
        FleetSpec(boards=20, seed=5, start_ms=end - 9 * HOUR, duration_s=9 * 3600,
                  cadence_s=30.0, gateway_gaps_per_day=0.0,
                  faults=(Fault(board=bad, kind="step", size=2.0, onset_offset_ms=8 * HOUR),))
    )  # fmt: skip
    with Sandbox(host="127.0.0.1", port=0, quiet=True) as sb:
        sb.insert(fleet.iter_readings(["temperature"]))
        env = {"PLEXUS_ENDPOINT": sb.endpoint, "PLEXUS_API_KEY": sb.read_key,
               "PLEXUS_GATEWAY_URL": sb.gateway_url, "PLEXUS_API_URL": sb.endpoint}  # fmt: skip
        common = ["fleet", "--metric", "temperature", "--baseline", "8h", "--format", "jsonl",
                  "--no-state", "--dry-run", "--group-by", "room", "--min-peers", "3"]  # fmt: skip
        results = {}
        for source in ("raw", "rollups"):
            run = CliRunner().invoke(app, [*common, "--baseline-from", source], env=env)
            assert run.exit_code in (1, 2), run.output
            results[source] = {
                r["source_id"]: r["status"] for r in map(json.loads, run.stdout.splitlines())
            }
        # The rollups really come from --api-url: pointed nowhere, that sweep cannot run.
        nowhere = CliRunner().invoke(
            app,
            [*common, "--baseline-from", "rollups"],
            env={**env, "PLEXUS_API_URL": "http://127.0.0.1:9"},
        )
        assert nowhere.exit_code == 3, nowhere.output
    assert results["rollups"][bad] == results["raw"][bad] == "drifting"
    flagged = {s for s, status in results["rollups"].items() if status != "ok"}
    assert flagged == {bad}
