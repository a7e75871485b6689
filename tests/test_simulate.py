"""The simulated fleet: determinism, building physics, every fault kind, transport, the CLI syntax
and live mode (through the real plexus-python client against a loopback gateway)."""

from __future__ import annotations

import doctest
import gzip
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fleetscan.simulate.faults
import fleetscan.simulate.fleet
import fleetscan.simulate.generate
import fleetscan.simulate.live
import fleetscan.simulate.model
from fleetscan.errors import InputError
from fleetscan.simulate import (
    FAULT_KINDS,
    METRICS,
    Fault,
    FleetSpec,
    LiveStats,
    SimulatedFleet,
    board_names,
    drive,
    format_fault,
    parse_fault,
    run_live,
)
from fleetscan.telemetry import parse_rows
from fleetscan.timeutil import parse_timestamp_ms, plexus_timestamp

START = 1781258400000  # 2026-06-12 10:00:00 UTC
HOUR = 3_600_000
BOARD = "esp32-bme280-02"
ONSET = START + HOUR


def small(**changes: object) -> FleetSpec:
    base = FleetSpec(boards=4, seed=11, start_ms=START, duration_s=2 * 3600, boards_per_room=2)
    return replace(base, **changes)


@pytest.fixture(scope="module")
def clean() -> SimulatedFleet:
    return SimulatedFleet(small())


# ---- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_identical_arrays_and_jsonl_bytes(tmp_path: Path) -> None:
    faults = (Fault(board=BOARD, kind="nan", size=0.3, onset_ms=ONSET),)
    a, b = SimulatedFleet(small(faults=faults)), SimulatedFleet(small(faults=faults))
    for metric in METRICS:
        ts_a, v_a = a.series(BOARD, metric)
        ts_b, v_b = b.series(BOARD, metric)
        assert ts_a.tobytes() == ts_b.tobytes() and v_a.tobytes() == v_b.tobytes()
    assert a.write_jsonl(tmp_path / "a.jsonl") == b.write_jsonl(tmp_path / "b.jsonl") > 10_000
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    a.write_ground_truth(tmp_path / "a.json")
    b.write_ground_truth(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_different_seed_gives_different_data(clean: SimulatedFleet) -> None:
    other = SimulatedFleet(small(seed=12))
    assert not np.array_equal(
        clean.series(BOARD, "temperature")[1], other.series(BOARD, "temperature")[1]
    )


def test_windows_and_iterators_agree_with_the_whole_series(clean: SimulatedFleet) -> None:
    ts, values = clean.series(BOARD, "humidity")
    lo, hi = START + 1234567, START + 4567890
    w_ts, w_values = clean.series(BOARD, "humidity", start_ms=lo, end_ms=hi)
    inside = (ts >= lo) & (ts < hi)
    assert np.array_equal(w_ts, ts[inside]) and np.array_equal(w_values, values[inside])
    readings = [r for r in clean.iter_readings(["humidity"], boards=[BOARD])]
    assert [r.ts_ms for r in readings] == ts.tolist()
    assert [r.value for r in readings] == values.tolist()
    assert dict(readings[0].tags) == clean.tags(BOARD)


def test_iter_readings_is_in_time_order_across_boards(clean: SimulatedFleet) -> None:
    readings = list(clean.iter_readings(start_ms=START, end_ms=START + 600_000))
    assert [r.ts_ms for r in readings] == sorted(r.ts_ms for r in readings)
    assert {r.source_id for r in readings} == set(clean.boards)
    assert {r.metric for r in readings} == set(METRICS)
    assert len(readings) == sum(
        len(clean.series(b, m, start_ms=START, end_ms=START + 600_000)[0])
        for b in clean.boards
        for m in METRICS
    )


def test_windows_across_random_chunks_and_slabs_match_the_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 1 s for 3 h is 10 800 samples: three random-number chunks of 4096.
    spec = small(cadence_s=1.0, duration_s=3 * 3600, faults=(parse_fault(f"{BOARD}:stuck@2h"),))
    fleet = SimulatedFleet(spec)
    ts, values = fleet.series(BOARD, "temperature")
    assert len(ts) > 2 * fleet_chunk()
    for lo, hi in [(START + 4000_000, START + 4200_000), (START + 7000_000, START + 9000_000)]:
        w_ts, w_values = fleet.series(BOARD, "temperature", start_ms=lo, end_ms=hi)
        inside = (ts >= lo) & (ts < hi)
        assert np.array_equal(w_ts, ts[inside]) and np.array_equal(w_values, values[inside])
    monkeypatch.setattr(fleetscan.simulate.fleet, "SLAB_SAMPLES", 500)
    readings = list(fleet.iter_readings(["temperature"], boards=[BOARD]))
    assert [r.ts_ms for r in readings] == ts.tolist()
    assert [r.value for r in readings] == values.tolist()


def fleet_chunk() -> int:
    return fleetscan.simulate.model.CHUNK


def test_series_arrays_are_read_only(clean: SimulatedFleet) -> None:
    ts, values = clean.series(BOARD, "pressure")
    with pytest.raises(ValueError):
        values[0] = 0.0
    assert ts.dtype == np.int64 and values.dtype == np.float64


# ---- layout and physics ------------------------------------------------------------------------


def test_board_names_tags_and_rooms() -> None:
    assert board_names(9)[0] == "esp32-bme280-01" and board_names(150)[0] == "esp32-bme280-001"
    fleet = SimulatedFleet(small(boards=20, boards_per_room=5))
    rooms = {fleet.tags(b)["room"] for b in fleet.boards}
    assert len(rooms) == 4 and {fleet.tags(b)["site"] for b in fleet.boards} == {"hq"}
    assert set(fleet.tags(BOARD)) == {"room", "site"}
    with pytest.raises(InputError):
        fleet.tags("esp32-bme280-99")


def test_rooms_differ_in_level_while_boards_in_a_room_agree() -> None:
    fleet = SimulatedFleet(small(boards=30, boards_per_room=5, seed=5))
    by_room: dict[str, list[float]] = {}
    for board in fleet.boards:
        by_room.setdefault(fleet.tags(board)["room"], []).append(
            float(np.mean(fleet.series(board, "temperature")[1]))
        )
    within = max(float(np.std(levels)) for levels in by_room.values())
    between = float(np.std([np.mean(levels) for levels in by_room.values()]))
    assert within < 0.25 < 0.5 < between


def test_humidity_falls_when_temperature_rises() -> None:
    spec = small(duration_s=2 * 86400, seed=3)
    fleet = SimulatedFleet(spec)
    temp = fleet.series(BOARD, "temperature")[1]
    hum = fleet.series(BOARD, "humidity")[1]
    assert np.corrcoef(temp, hum)[0, 1] < -0.5
    pressure = fleet.series(BOARD, "pressure")[1]
    assert 950 < pressure.min() < pressure.max() < 1050


def test_an_hvac_event_moves_every_board_of_its_room_together() -> None:
    fleet = SimulatedFleet(
        small(boards=12, boards_per_room=4, duration_s=6 * 3600, hvac_events_per_day=8, seed=2)
    )
    events = fleet.hvac_events()
    assert events
    ev = next(e for e in events if int(e["start_ms"]) > START + 20 * 60_000)
    start, end = int(ev["start_ms"]), int(ev["end_ms"])
    delta = float(ev["delta_c"])
    moves = []
    for board in ev["boards"]:
        ts, temp = fleet.series(board, "temperature")
        before = temp[(ts >= start - 600_000) & (ts < start)].mean()
        plateau = temp[(ts >= start + 30 * 60_000) & (ts < end)].mean()
        moves.append(plateau - before)
    assert all(abs(m - delta) < 0.45 * abs(delta) for m in moves)
    assert float(np.std(moves)) < 0.15


# ---- transport ---------------------------------------------------------------------------------


def test_cadence_jitter_and_lost_packets_as_configured() -> None:
    spec = small(cadence_s=5.0, loss_rate=0.05, gateway_gaps_per_day=0, duration_s=6 * 3600)
    fleet = SimulatedFleet(spec)
    for board in fleet.boards:
        ts = fleet.series(board, "temperature")[0]
        nominal = spec.duration_s / spec.cadence_s
        assert 0.93 * nominal < len(ts) < 0.97 * nominal
        steps = np.diff(ts)
        assert np.median(steps) in range(4950, 5051)
        off_grid = (steps + 2500) % 5000 - 2500  # distance of each step from a whole cadence
        assert np.abs(off_grid).max() <= 100 and np.all(steps > 0)
        assert START <= ts[0] and ts[-1] < spec.end_ms


def test_gateway_gaps_silence_every_board_of_the_site() -> None:
    fleet = SimulatedFleet(small(gateway_gaps_per_day=48, loss_rate=0.0))
    gaps = fleet.gateway_gaps()
    assert gaps
    for board in fleet.boards:
        ts = fleet.series(board, "pressure")[0]
        for gap in gaps:
            assert not np.any((ts >= int(gap["start_ms"])) & (ts < int(gap["end_ms"])))


# ---- faults ------------------------------------------------------------------------------------

SIZES = {
    "drift": 24.0,
    "step": 1.5,
    "noisy": 10.0,
    "spikes": 3.0,
    "humidity_slide": 6.0,
    "nan": 0.3,
    "stuck": 0.0,
    "dropout": 0.0,
    "random": 0.0,
}


def faulty(kind: str, **changes: object) -> SimulatedFleet:
    fault = Fault(board=BOARD, kind=kind, size=SIZES[kind], onset_offset_ms=HOUR)
    return SimulatedFleet(small(faults=(fault,), **changes))


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_fault_is_absent_before_onset_and_leaves_other_boards_alone(
    kind: str, clean: SimulatedFleet
) -> None:
    fleet = faulty(kind)
    for board in fleet.boards:
        for metric in METRICS:
            ts, values = fleet.series(board, metric)
            ref_ts, ref_values = clean.series(board, metric)
            if board != BOARD:
                assert np.array_equal(ts, ref_ts) and np.array_equal(values, ref_values)
            else:
                before = ts < ONSET
                assert np.array_equal(ts[before], ref_ts[ref_ts < ONSET])
                assert np.array_equal(values[before], ref_values[ref_ts < ONSET])
    truth = fleet.ground_truth()
    assert truth[0]["board"] == BOARD and truth[0]["kind"] == kind
    assert truth[0]["onset_ms"] == ONSET and truth[0]["onset"] == plexus_timestamp(ONSET)


def after_onset(fleet: SimulatedFleet, ref: SimulatedFleet, metric: str) -> tuple[Any, Any, Any]:
    """Timestamps, faulty values and clean values of BOARD from the onset on."""
    ts, values = fleet.series(BOARD, metric)
    ref_ts, ref_values = ref.series(BOARD, metric)
    assert np.array_equal(ts, ref_ts)
    keep = ts >= ONSET
    return ts[keep], values[keep], ref_values[keep]


def test_drift_grows_linearly_per_day(clean: SimulatedFleet) -> None:
    ts, values, ref = after_onset(faulty("drift"), clean, "temperature")
    expected = 24.0 * (ts - ONSET) / 86_400_000
    assert np.abs(values - ref - expected).max() <= 0.011
    assert (values - ref)[-1] > 0.9  # about 1 °C after an hour at 24 °C/day


def test_step_offsets_every_reading(clean: SimulatedFleet) -> None:
    _, values, ref = after_onset(faulty("step"), clean, "temperature")
    assert np.abs(values - ref - 1.5).max() <= 0.011
    assert np.array_equal(
        faulty("step").series(BOARD, "humidity")[1], clean.series(BOARD, "humidity")[1]
    )


def test_stuck_freezes_every_metric_at_the_onset_reading(clean: SimulatedFleet) -> None:
    fleet = faulty("stuck", loss_rate=0.0)
    reference = SimulatedFleet(small(loss_rate=0.0))
    for metric in METRICS:
        _, values, ref = after_onset(fleet, reference, metric)
        assert np.ptp(values) == 0 and values[0] == ref[0] and np.ptp(ref) > 0


def test_dropout_silences_the_board(clean: SimulatedFleet) -> None:
    fleet = faulty("dropout")
    for metric in METRICS:
        ts, _ = fleet.series(BOARD, metric)
        assert len(ts) > 1000 and ts.max() < ONSET


def test_noisy_multiplies_the_noise(clean: SimulatedFleet) -> None:
    _, values, ref = after_onset(faulty("noisy"), clean, "temperature")
    extra = np.std(values - ref)
    assert 0.02 * 8 < extra < 0.02 * 12  # σ 0.02 °C × 10 (√(10²-1) ≈ 9.95)


def test_spikes_come_in_bursts_of_the_given_size(clean: SimulatedFleet) -> None:
    _, values, ref = after_onset(faulty("spikes"), clean, "temperature")
    jumps = np.abs(values - ref)
    hit = jumps > 0.011
    assert 3 <= hit.sum() < 0.1 * len(values)
    assert np.all((jumps[hit] > 0.8 * 3.0 - 0.011) & (jumps[hit] < 1.2 * 3.0 + 0.011))


def test_humidity_slide_lowers_humidity_gradually(clean: SimulatedFleet) -> None:
    ts, values, ref = after_onset(faulty("humidity_slide"), clean, "humidity")
    expected = -6.0 * (ts - ONSET) / (6 * HOUR)
    assert np.abs(values - ref - expected).max() <= 0.011


def test_random_mimics_the_c_sdk_no_sensor_fallback() -> None:
    fleet = faulty("random")
    ranges = {"temperature": (20.0, 23.9), "humidity": (50.0, 59.9), "pressure": (1012.0, 1013.9)}
    for metric, (low, high) in ranges.items():
        ts, values = fleet.series(BOARD, metric)
        after = values[ts >= ONSET]
        grid = np.round(after, 1)
        assert np.abs(after - grid).max() < 1e-4  # on the 0.1 grid, up to float32 artefacts
        assert grid.min() == low and grid.max() == high
        assert np.any(after != grid)  # float32 artefacts such as 22.39999962
        assert abs(np.corrcoef(after[:-1], after[1:])[0, 1]) < 0.1  # no autocorrelation
    assert 22.39999962 in fleet.series(BOARD, "temperature")[1].tolist()


def test_nan_hits_the_given_fraction_after_onset_only() -> None:
    fleet = faulty("nan")
    for metric in METRICS:
        ts, values = fleet.series(BOARD, metric)
        missing = np.isnan(values)
        assert not missing[ts < ONSET].any()
        assert 0.25 < missing[ts >= ONSET].mean() < 0.35
    # One failed read blanks all three metrics of that sample.
    assert np.array_equal(
        np.isnan(fleet.series(BOARD, "temperature")[1]),
        np.isnan(fleet.series(BOARD, "pressure")[1]),
    )


def test_fault_metric_can_be_chosen() -> None:
    fault = Fault(board=BOARD, kind="step", size=-2.0, onset_ms=ONSET, metric="pressure")
    fleet = SimulatedFleet(small(faults=(fault,)))
    ref = SimulatedFleet(small())
    assert np.array_equal(
        fleet.series(BOARD, "temperature")[1], ref.series(BOARD, "temperature")[1]
    )
    diff = fleet.series(BOARD, "pressure")[1] - ref.series(BOARD, "pressure")[1]
    assert np.abs(diff[-10:] + 2.0).max() < 0.011
    assert fleet.ground_truth()[0]["metrics"] == ["pressure"]


# ---- output ------------------------------------------------------------------------------------


def test_jsonl_rows_have_the_plexus_shape_and_nan_becomes_null(tmp_path: Path) -> None:
    fleet = faulty("nan", boards=2)
    path = tmp_path / "rows.jsonl"
    count = fleet.write_jsonl(path, end_ms=START + 2 * HOUR)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == count
    assert set(rows[0]) == {"org_id", "source_id", "metric", "value", "timestamp", "tags"}
    assert rows[0]["tags"] == fleet.tags(rows[0]["source_id"])
    assert parse_timestamp_ms(rows[0]["timestamp"]) >= START
    assert len(rows[0]["timestamp"]) == len("2026-06-12 10:00:00.123")
    nulls = [r for r in rows if r["value"] is None]
    assert nulls and all(parse_timestamp_ms(r["timestamp"]) >= ONSET for r in nulls)
    parsed = parse_rows(rows)
    assert len(parsed.readings) == count - len(nulls)


def test_ground_truth_file(tmp_path: Path) -> None:
    fleet = faulty("drift")
    fleet.write_ground_truth(tmp_path / "truth.json")
    (record,) = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    assert record["metrics"] == ["temperature"] and record["size"] == 24.0
    assert record["size_unit"] == "°C/day" and record["room"] == fleet.tags(BOARD)["room"]
    assert parse_fault(record["fault"]).onset_offset_ms == HOUR


# ---- the --fault syntax ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "esp32-bme280-07:drift:5@1h",
        "esp32-bme280-07:drift:-0.5:humidity@90m",
        "esp32-bme280-07:stuck@+30m",
        "esp32-bme280-07:nan:0.25:all@2026-06-12T10:30:00Z",
        "esp32-bme280-07:step:2@2026-06-12 10:30:00.000:pressure",
        "esp32-bme280-07:random@0",
    ],
)
def test_parse_fault_round_trips(text: str) -> None:
    fault = parse_fault(text)
    assert parse_fault(format_fault(fault)) == fault


def test_parse_fault_reads_the_parts() -> None:
    fault = parse_fault("esp32-bme280-07:step:2@2026-06-12 10:30:00.000:pressure")
    assert (fault.board, fault.kind, fault.size, fault.metrics) == (
        "esp32-bme280-07",
        "step",
        2.0,
        ("pressure",),
    )
    assert fault.onset_ms == START + 30 * 60_000 and fault.onset_offset_ms is None
    assert parse_fault("esp32-bme280-01:dropout@2h").onset_at(START) == START + 2 * HOUR
    assert parse_fault("esp32-bme280-01:stuck@1h").metrics == METRICS


@pytest.mark.parametrize(
    "text",
    [
        "esp32-bme280-07:drift:5",  # no onset
        "esp32-bme280-07:melt:5@1h",  # unknown kind
        "esp32-bme280-07:drift@1h",  # drift needs a size
        "esp32-bme280-07:drift:fast@1h",  # size not a number
        "esp32-bme280-07:drift:1:2@1h",  # two sizes
        "esp32-bme280-07:nan:1.5@1h",  # a fraction above 1
        "esp32-bme280-07:noisy:0.5@1h",  # noise can only grow
        "esp32-bme280-07:humidity_slide:3:temperature@1h",
        "esp32-bme280-07:drift:nan@1h",
        "esp32-bme280-07:drift:5@soon",
        ":drift:5@1h",
    ],
)
def test_parse_fault_rejects_bad_specs(text: str) -> None:
    with pytest.raises(InputError):
        parse_fault(text)


def test_fleet_spec_rejects_faults_it_cannot_place() -> None:
    with pytest.raises(InputError, match="unknown board"):
        small(faults=(parse_fault("esp32-bme280-09:stuck@1h"),))
    with pytest.raises(InputError, match="outside"):
        small(faults=(parse_fault("esp32-bme280-01:stuck@3h"),))
    with pytest.raises(InputError):
        small(cadence_s=0.05)


# ---- live mode ---------------------------------------------------------------------------------


def expected_points(fleet: SimulatedFleet) -> set[tuple[str, str, int, float]]:
    out = set()
    for board in fleet.boards:
        for metric in METRICS:
            ts, values = fleet.series(board, metric)
            ok = np.isfinite(values)
            out |= {
                (board, metric, t, v)
                for t, v in zip(ts[ok].tolist(), values[ok].tolist(), strict=True)
            }
    return out


def test_drive_offers_every_finite_sample_once_and_survives_send_errors() -> None:
    spec = small(duration_s=900, faults=(parse_fault(f"{BOARD}:nan:0.5@5m"),))
    got: list[tuple[str, str, int, float]] = []
    calls = 0

    def send(board: str, tags: dict[str, str], points: list[tuple[str, float, int]]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("gateway down")
        assert tags["site"] == "hq"
        got.extend((board, m, t, v) for m, v, t in points)

    ticks = iter(range(100_000))  # the clock: each tick 0.1 s of "wall" time = 100 s simulated
    stats = drive(
        SimulatedFleet(spec),
        send,
        stop_event=threading.Event(),
        speed=1000.0,
        clock=lambda: next(ticks) / 10,
    )
    assert stats.finished and stats.batches_failed == 1 and "gateway down" in stats.last_error
    expected = expected_points(SimulatedFleet(spec))
    assert len(got) == len(set(got)) == stats.points_sent
    assert set(got) < expected and len(expected - set(got)) < len(expected) / 4


class _Gateway(BaseHTTPRequestHandler):
    received: list[dict[str, object]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append(json.loads(body))
        self._answer(200, {"success": True})

    def do_GET(self) -> None:  # noqa: N802 -- the SDK's WebSocket attempt: no WS here
        self._answer(404, {"error": "not found"})

    def _answer(self, status: int, payload: dict[str, object]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    _Gateway.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_run_live_sends_through_the_real_plexus_client(
    gateway: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PLEXUS_QUIET", "1")
    spec = small(boards=2, duration_s=300, start_ms=START)
    stats = LiveStats()
    run_live(
        spec,
        api_key="plx_" + "a" * 32,
        gateway_url=gateway,
        stop_event=threading.Event(),
        speed=1e6,
        stats=stats,
    )
    assert stats.finished and stats.batches_failed == 0, stats.last_error
    got = set()
    for body in _Gateway.received:
        for point in body["points"]:
            assert point["class"] == "metric" and point["tags"]["site"] == "hq"
            got.add((body["source_id"], point["metric"], point["timestamp"], point["value"]))
    assert got == expected_points(SimulatedFleet(spec)) and len(got) == stats.points_sent
    assert not list(tmp_path.iterdir())  # nothing written under $HOME


# ---- doctests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module",
    [
        fleetscan.simulate.faults,
        fleetscan.simulate.generate,
        fleetscan.simulate.live,
        fleetscan.simulate.model,
    ],
)
def test_doctests(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
