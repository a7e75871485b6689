"""`BatchRunner` (auto as arrays) against `DeviceRunner` (one `AutoDetector` per stream, the reference).

Every sample of every stream must match: the same events and alert ids, checks, reasons and streaks,
and the same z, score and posted value to 1e-9 (the arrays do the same arithmetic, so in practice
they are equal to the bit). Streams: the simulator's boards with every fault kind, packet loss,
jitter, gateway outages and HVAC steps, polled with several readings per poll and idle checks in
between; NAB's development split as `fleetscan device --input` reads it; and `fleetscan device`
polling the sandbox, where the arrays are what runs.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import fleetscan.commands.device as device_command
from fleetscan.cli import app
from fleetscan.detectors import DetectorOptions, make_detector
from fleetscan.device import BatchRunner, DeviceRunner, Runner, Sample
from fleetscan.inputs import read_rows
from fleetscan.sandbox import Sandbox
from fleetscan.simulate import Fault, FleetSpec, SimulatedFleet
from fleetscan.simulate.faults import FAULT_KINDS
from fleetscan.telemetry import Reading
from fleetscan.timeutil import now_ms, parse_timestamp_ms

ROOT = Path(__file__).resolve().parents[1]
# NAB's development split: $FLEETSCAN_NAB, or ../shared/bench/nab next to the project (or next to
# its worktrees' folder)
NAB_DIRS = [Path(os.environ.get("FLEETSCAN_NAB", "/nonexistent"))]
NAB_DIRS += [up / "shared" / "bench" / "nab" for up in (ROOT.parent, ROOT.parent.parent)]
NAB_FILES = next((f for d in NAB_DIRS if (f := sorted(d.glob("data/*/*.csv")))), [])
START_MS = 1_781_222_400_000
SIZES = {"drift": 5.0, "step": 2.0, "spikes": 5.0, "noisy": 10.0, "humidity_slide": 12.0}
SIZES["nan"] = 0.2


def runners(options: DetectorOptions) -> tuple[DeviceRunner, BatchRunner]:
    reference = DeviceRunner(
        lambda _source, metric: make_detector("auto", replace(options, metric=metric)),
        consecutive=options.consecutive,
    )
    return reference, BatchRunner(lambda metric: replace(options, metric=metric))


def close(a: float, b: float) -> bool:
    return a == b or (math.isfinite(a) and abs(a - b) <= 1e-9 * max(1.0, abs(a)))


def assert_same(expected: list[Sample], got: list[Sample]) -> None:
    assert len(got) == len(expected)
    for want, have in zip(expected, got, strict=True):
        ws, hs = want.score, have.score
        labels = (want.source_id, want.metric, want.ts_ms, want.streak, want.anomaly, want.event)
        labels += (want.alert_id, ws.check, ws.reason, ws.alert, ws.event, ws.anomalous)
        found = (have.source_id, have.metric, have.ts_ms, have.streak, have.anomaly, have.event)
        found += (have.alert_id, hs.check, hs.reason, hs.alert, hs.event, hs.anomalous)
        assert found == labels
        assert want.value == have.value or (want.value != want.value and have.value != have.value)
        pairs = ((ws.z, hs.z), (ws.score, hs.score), (ws.posted, hs.posted))
        assert all(close(a, b) for a, b in pairs + ((want.emitted, have.emitted),)), (want, have)


def poll_both(
    pages: Iterable[tuple[int, list[Reading]]], both: tuple[Runner, Runner]
) -> dict[str, int]:
    """Play the same polls to both runners (process, then idle for the silent streams)."""
    events: dict[str, int] = {}
    for now, page in pages:
        results = []
        for runner in both:
            samples = runner.process(page)
            samples += runner.idle(now, {(s.source_id, s.metric) for s in samples})
            results.append(samples)
        assert_same(*results)
        for sample in results[0]:
            if sample.score.event:
                key = f"{sample.score.event} {sample.score.check}"
                events[key] = events.get(key, 0) + 1
    return events


def pages(readings: list[Reading], poll_ms: int) -> Iterable[tuple[int, list[Reading]]]:
    """What polling every `poll_ms` would fetch: each reading once, in arrival batches."""
    page: list[Reading] = []
    now = readings[0].ts_ms + poll_ms
    for reading in readings:
        while reading.ts_ms > now:
            yield now, page
            page, now = [], now + poll_ms
        page.append(reading)
    yield now, page


def fault_fleet(cadence_s: float, duration_s: float, onset_s: float, seed: int) -> SimulatedFleet:
    names = [f"esp32-bme280-{i:02d}" for i in range(1, len(FAULT_KINDS) + 3)]
    faults = tuple(
        Fault(
            board=names[i],
            kind=kind,
            size=SIZES.get(kind, 0.0),
            onset_offset_ms=int(onset_s * 1000),
        )
        for i, kind in enumerate(FAULT_KINDS)
    )
    spec = FleetSpec(
        boards=len(names),
        seed=seed,
        start_ms=START_MS,
        duration_s=duration_s,
        cadence_s=cadence_s,
        faults=faults,
        loss_rate=0.03,
        gateway_gaps_per_day=4.0,
        hvac_events_per_day=3.0,
        float32=True,
    )
    return SimulatedFleet(spec)


@pytest.mark.slow
def test_simulator_faults_at_five_minutes_give_the_same_samples() -> None:
    fleet = fault_fleet(300.0, 5 * 86_400.0, 2 * 86_400.0, seed=3)
    readings = list(fleet.iter_readings())
    events = poll_both(pages(readings, 1_200_000), runners(DetectorOptions()))
    # the streams exercise every path: alerts of each kind, dropouts while idle, new normals
    wanted = {"opened stuck", "opened dropout", "opened level", "opened outlier", "opened drift"}
    assert wanted | {"resolved relearn", "resolved level"} <= set(events), events


@pytest.mark.slow
def test_simulator_faults_at_two_seconds_with_gaps_and_options_give_the_same_samples() -> None:
    fleet = fault_fleet(2.0, 3600.0, 1500.0, seed=4)
    readings = list(fleet.iter_readings())
    options = DetectorOptions(consecutive=2, relearn="10m", window="2m", threshold=2.5)
    events = poll_both(pages(readings, 7000), runners(options))
    assert {"opened dropout", "resolved relearn"} <= set(events), events


def test_clock_resets_repeats_and_nan_give_the_same_samples() -> None:
    base = [
        Reading("a", "temperature", START_MS + 2000 * i, 22.0 + 0.01 * (i % 7)) for i in range(400)
    ]
    odd = [
        Reading("a", "temperature", START_MS + 10_000, 30.0),  # time ran backwards
        Reading("a", "temperature", START_MS + 2000 * 399, 22.0),  # a repeat: skipped
        Reading("b", "temperature", START_MS + 2000 * 399, float("nan")),
        Reading("b", "temperature", START_MS + 2000 * 400, 22.0),
        *(Reading("h", "humidity", START_MS + 2000 * i, 0.0) for i in range(390, 394)),
    ]
    batches = [(START_MS + 2000 * (i + 40), base[i : i + 40]) for i in range(0, 400, 40)]
    batches.append((START_MS + 2000 * 402, odd))
    batches.append((START_MS + 2000 * 500, []))  # silence: an idle dropout on both
    events = poll_both(batches, runners(DetectorOptions()))
    assert {"opened dropout", "opened plausibility"} <= set(events), events


def synthetic(count: int, length: int, seed: int) -> list[Reading]:
    """Streams at several cadences with a step, a freeze, spikes, an outage and a drift."""
    rng = np.random.default_rng(seed)
    readings = []
    for i in range(count):
        cadence = (2000, 5000, 1000)[i % 3]
        ts = START_MS + np.cumsum(rng.integers(cadence - 50, cadence + 50, length))
        v = 22 + np.cumsum(rng.normal(0, 0.01, length)) + rng.normal(0, 0.05, length)
        half = length // 2
        if i % 5 == 1:
            v[half:] += 3.0
        if i % 5 == 2:
            v[half : half + 120] = v[half]
        if i % 5 == 3:
            v[rng.random(length) < 0.02] += 5.0
            ts[half:] += 900_000
        if i % 5 == 4:
            v[length // 3 :] += np.linspace(0.0, 6.0, length - length // 3)
        values = v.astype(np.float32).astype(np.float64).round(2).tolist()
        readings += [
            Reading(f"s{i}", "temperature", int(t), x) for t, x in zip(ts, values, strict=True)
        ]
    return sorted(readings, key=lambda r: r.ts_ms)


@pytest.mark.parametrize(
    "options",
    [
        DetectorOptions(cadence_s=2.0),
        DetectorOptions(window="40", baseline="6h", relearn="5m"),
        DetectorOptions(min_scale=0.05, threshold=4.0, consecutive=1),
    ],
    ids=["cadence", "count-window", "min-scale"],
)
def test_the_options_give_the_same_samples(options: DetectorOptions) -> None:
    events = poll_both(pages(synthetic(5, 700, seed=7), 9000), runners(options))
    assert "opened outlier" in events or "opened level" in events, events


@pytest.mark.slow
@pytest.mark.skipif(not NAB_FILES, reason="NAB's development split is not next to the project")
def test_nab_development_split_gives_the_same_samples() -> None:
    readings = []
    for path in NAB_FILES:  # as `fleetscan device --input FILE --source nab --metric value`
        parsed = read_rows(path, default_source=path.stem, default_metric="value")
        readings += parsed.readings
    assert len({r.source_id for r in readings}) == len(NAB_FILES) == 25
    reference, arrays = runners(DetectorOptions())
    expected = reference.process(readings)
    assert_same(expected, arrays.process(readings))
    assert sum(s.event == "opened" for s in expected) > 25


def backfill(sb: Sandbox, source: str, values: list[float]) -> None:
    start = now_ms() - 2000 * len(values) - 5000
    sb.insert(Reading(source, "temperature", start + 2000 * i, v) for i, v in enumerate(values))


def test_device_polls_with_the_arrays_and_prints_the_reference_samples(
    plexus_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    quiet = [22.4 + (0.02, 0.0, -0.02, 0.05)[i % 4] for i in range(60)]
    backfill(plexus_env, "esp32-a", quiet + [26.0] * 6)
    backfill(plexus_env, "esp32-b", quiet)
    used: list[BatchRunner] = []

    class Recorded(BatchRunner):
        def __init__(self, options_for: Callable[[str], DetectorOptions]) -> None:
            super().__init__(options_for)
            used.append(self)

    monkeypatch.setattr(device_command, "BatchRunner", Recorded)
    args = ["device", "--source", "esp32-a", "--source", "esp32-b", "--metric", "temperature"]
    args += ["--once", "--dry-run", "--format", "jsonl", "--lookback", "10m"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(used) == 1 and len(used[0]) == 2  # the arrays scored both streams
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 2 * len(quiet) + 6
    assert [r["event"] for r in rows if r["event"]] == ["opened"]
    # the reference, on the same rows: identical records
    reference, _ = runners(DetectorOptions())
    readings = [
        Reading(r["source_id"], r["metric"], ts, r["value"])
        for r, ts in zip(rows, [parse_timestamp_ms(r["timestamp"]) for r in rows], strict=True)
    ]
    assert [s.record() for s in reference.process(readings)] == rows
