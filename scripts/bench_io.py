"""Benchmarks of the edges: parsing Plexus rows, a sweep over HTTP, `fleetscan fleet --input`.

- `parsing`: one `/api/v1/telemetry` page body (Plexus rows, as the sandbox writes them) to
  `SeriesBatch` arrays through `parse_rows` + `BatchBuilder`, as `fetch_window` does; against
  `json` + `datetime.strptime` into lists and arrays.
- `sandbox_sweep`: the sandbox on loopback (in this process, on its own thread) holding N boards
  × 10 minutes at 0.5 Hz; one sweep is `fetch_window` (paged GETs) + `run_sweep`, as
  `fleetscan fleet --baseline 0` does. The baseline is a plain httpx client paging the same way,
  then json + strptime + NumPy median/MAD.
- `process`: `fleetscan fleet --input FILE --at T` as a whole process (interpreter start, imports,
  reading, learning the baseline from the file, the sweep and the table) on a JSON-lines file
  written by the simulator, against `PLAIN_SCRIPT` (bench.py) run the same way.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import orjson
from bench_common import (
    CADENCE_MS,
    NOW_MS,
    WINDOW_MS,
    Floats,
    Ints,
    Row,
    Target,
    fleet_arrays,
    measure,
    size_label,
)

from fleetscan.client import PlexusClient
from fleetscan.fleet import BatchBuilder, SeriesBatch, SweepOptions, run_sweep
from fleetscan.fleet.fetch import FUTURE_LOOKAHEAD_MS, fetch_window
from fleetscan.sandbox import Sandbox
from fleetscan.sandbox.keys import ORG_ID
from fleetscan.simulate import FleetSpec, SimulatedFleet
from fleetscan.telemetry import parse_rows
from fleetscan.timeutil import iso_z, plexus_timestamp

PARSE_TARGET = Target(1e6, True, "≥ 1 M rows/s")
SWEEP_TARGET = Target(3.0, False, "≤ 3 s at 1k")
PAGE_LIMIT = 100_000
MAD_TO_SIGMA = 1.4826
PLEXUS_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- 2. parsing ---------------------------------------------------------------------------------


def plexus_page(rows: int, sources: int = 1000) -> str:
    """A telemetry response body of `rows` rows from `sources` boards, oldest first."""
    source, ts, value = fleet_arrays(sources, max(1, rows // sources + 1))
    order = np.argsort(ts, kind="stable")[:rows]
    data = [
        {
            "org_id": ORG_ID,
            "source_id": f"esp32-bme280-{s + 1:06d}",
            "metric": "temperature",
            "value": v,
            "timestamp": plexus_timestamp(t),
            "tags": {"room": f"room-{s // 5:04d}", "site": "hq"},
        }
        for s, t, v in zip(
            source[order].tolist(), ts[order].tolist(), value[order].tolist(), strict=True
        )
    ]
    return json.dumps({"data": data, "count": len(data)}, separators=(",", ":"))


def parsing(rows: int, repeats: int) -> list[Row]:
    """Section 2: rows/s from page text, and from decoded rows, to arrays."""
    text = plexus_page(rows)
    decoded: list[dict[str, object]] = json.loads(text)["data"]

    def fleetscan_rows(data: list[dict[str, object]]) -> dict[str, SeriesBatch]:
        parsed = parse_rows(data)
        builder = BatchBuilder(["temperature"])
        builder.add(parsed.readings)
        builder.add_dropped(parsed.skipped_by_series)
        return builder.build()

    # fleetscan decodes pages with orjson (client.py), the baseline with the stdlib's json.
    whole = measure(lambda: fleetscan_rows(orjson.loads(text)["data"]), repeats)
    only_rows = measure(lambda: fleetscan_rows(decoded), repeats)
    plain_whole = measure(lambda: _plain_arrays(json.loads(text)["data"]), repeats)
    plain_rows = measure(lambda: _plain_arrays(decoded), repeats)
    json_only = measure(lambda: orjson.loads(text), repeats)
    gc_off = measure(lambda: _without_gc(fleetscan_rows, decoded), repeats)
    return [
        Row(
            "2 parsing",
            f"page text → arrays, {rows // 1000}k rows",
            rows / whole.median_s,
            "rows/s",
            whole,
            (("json+strptime", rows / plain_whole.median_s),),
            PARSE_TARGET,
            f"orjson.loads alone {rows / json_only.median_s / 1e6:.2f} M rows/s",
        ),
        Row(
            "2 parsing",
            f"decoded rows → arrays, {rows // 1000}k rows",
            rows / only_rows.median_s,
            "rows/s",
            only_rows,
            (("strptime loop", rows / plain_rows.median_s),),
            None,
            f"parse_rows + BatchBuilder; {100 * (1 - gc_off.median_s / only_rows.median_s):.0f}% "
            "of it is the cyclic GC (measured with gc.disable())",
        ),
    ]


def _without_gc(
    run: Callable[[list[dict[str, object]]], object], data: list[dict[str, object]]
) -> None:
    """`run(data)` with the cyclic garbage collector off (to measure what it costs)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        run(data)
    finally:
        if was_enabled:
            gc.enable()


def _plain_arrays(data: list[dict[str, object]]) -> tuple[Ints, Ints, Floats]:
    """The straightforward way: strptime every timestamp, lists, then arrays."""
    ids: dict[str, int] = {}
    sources: list[int] = []
    times: list[int] = []
    values: list[float] = []
    for row in data:
        value = row.get("value")
        if not isinstance(value, int | float):
            continue
        moment = datetime.strptime(str(row["timestamp"]), PLEXUS_FORMAT).replace(tzinfo=UTC)
        sources.append(ids.setdefault(str(row["source_id"]), len(ids)))
        times.append((moment - EPOCH) // _MS)
        values.append(float(value))
    return (
        np.array(sources, dtype=np.int64),
        np.array(times, dtype=np.int64),
        np.array(values, dtype=np.float64),
    )


_MS = datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC) - EPOCH


# -- 3. a sweep against the sandbox -----------------------------------------------------------


def sandbox_sweep(sizes: tuple[int, ...], repeats: int) -> list[Row]:
    """Section 3: wall time, requests and rows/s of one sweep per fleet size."""
    return [_sandbox_row(n, repeats) for n in sizes]


def _sandbox_row(n: int, repeats: int) -> Row:
    options = SweepOptions(window_ms=WINDOW_MS)
    requests: list[int] = []
    plain_requests: list[int] = []
    with Sandbox(clock=lambda: NOW_MS / 1000) as sandbox:
        stored = _fill(sandbox, n)

        def sweep() -> None:
            with PlexusClient(endpoint=sandbox.endpoint, api_key=sandbox.read_key) as client:
                batches, _ = fetch_window(client, ["temperature"], now_ms=NOW_MS, options=options)
                run_sweep(batches, {}, now_ms=NOW_MS, options=options)
                requests.append(client.requests)

        def plain_sweep() -> None:
            plain_requests.append(_plain_sweep(sandbox.endpoint, sandbox.read_key))

        timing = measure(sweep, repeats, warmup=False)
        plain = measure(plain_sweep, repeats, warmup=False)
    return Row(
        "3 sandbox sweep",
        f"{size_label(n)} sources × 10 min (wall)",
        timing.median_s,
        "s",
        timing,
        (("httpx+json+strptime", plain.median_s),),
        SWEEP_TARGET if n == 1000 else None,
        f"{stored:,} rows, {requests[-1]} requests (plain: {plain_requests[-1]}), "
        f"{stored / timing.median_s / 1e3:.0f} k rows/s",
        {"rows": float(stored), "requests": float(requests[-1])},
    )


def _fill(sandbox: Sandbox, sources: int) -> int:
    """N boards × 10 minutes at 0.5 Hz of temperature, with room/site tags, via insert_arrays."""
    source, ts, value = fleet_arrays(sources)
    bounds = np.searchsorted(source, np.arange(sources + 1))
    stored = 0
    for s in range(sources):
        lo, hi = bounds[s], bounds[s + 1]
        stored += sandbox.insert_arrays(
            f"esp32-bme280-{s + 1:06d}",
            "temperature",
            ts[lo:hi],
            value[lo:hi],
            {"room": f"room-{s // 5:04d}", "site": "hq"},
        )
    return stored


def _plain_sweep(endpoint: str, key: str) -> int:
    """GET every page (newest first, `to` moved back to the oldest row), then median/MAD."""
    values: dict[str, list[float]] = {}
    upper = NOW_MS + FUTURE_LOOKAHEAD_MS
    requests = 0
    with httpx.Client(base_url=endpoint, headers={"x-api-key": key}) as http:
        while True:
            params = {
                "metric": "temperature",
                "from": iso_z(NOW_MS - WINDOW_MS),
                "to": iso_z(upper),
                "limit": str(PAGE_LIMIT),
            }
            response = http.get("/api/v1/telemetry", params=params)
            requests += 1
            response.raise_for_status()
            page = response.json()["data"]
            stamped = [
                (
                    (datetime.strptime(r["timestamp"], PLEXUS_FORMAT).replace(tzinfo=UTC) - EPOCH)
                    // _MS,
                    r,
                )
                for r in page
            ]
            full = len(page) == PAGE_LIMIT
            oldest = stamped[0][0] if stamped else 0
            for ts, r in stamped:
                if (not full or ts > oldest) and ts > NOW_MS - WINDOW_MS and r["value"] is not None:
                    values.setdefault(r["source_id"], []).append(float(r["value"]))
            if not full:
                break
            upper = oldest
    medians = np.array([np.median(v) for v in values.values()])
    centre = float(np.median(medians))
    scale = max(MAD_TO_SIGMA * float(np.median(np.abs(medians - centre))), 1e-9)
    z = (medians - centre) / scale
    assert len(z) == len(values)
    return requests


# -- 4. the whole process ---------------------------------------------------------------------


def process(rows: int, repeats: int, plain_script: str) -> list[Row]:
    """Section 4: `fleetscan fleet --input` vs the plain script, both as fresh processes."""
    boards = max(1, rows // (WINDOW_MS // CADENCE_MS))
    with tempfile.TemporaryDirectory(prefix="fleetscan-bench-") as tmp:
        path = Path(tmp) / "fleet.jsonl"
        fleet = SimulatedFleet(
            FleetSpec(
                boards=boards,
                seed=11,
                start_ms=NOW_MS - WINDOW_MS,
                duration_s=WINDOW_MS / 1000,
                cadence_s=CADENCE_MS / 1000,
            )
        )
        written = fleet.write_jsonl(path, metrics=("temperature",))
        at = iso_z(NOW_MS)
        fleetscan_cmd = [
            sys.executable,
            "-m",
            "fleetscan",
            "fleet",
            "--input",
            str(path),
            "--at",
            at,
            "--metric",
            "temperature",
        ]
        plain_cmd = [
            sys.executable,
            "-c",
            plain_script,
            str(path),
            "temperature",
            str(NOW_MS),
            str(WINDOW_MS),
        ]
        # Run from the temporary folder, so `-m fleetscan` imports the same fleetscan as this
        # process (the installed one, or PYTHONPATH's), not whatever the current folder holds.
        ours = measure(lambda: _run(fleetscan_cmd, tmp), repeats, warmup=False)
        plain = measure(lambda: _run(plain_cmd, tmp), repeats, warmup=False)
        startup = measure(
            lambda: _run([sys.executable, "-m", "fleetscan", "--help"], tmp), repeats, warmup=False
        )
    return [
        Row(
            "4 --input process",
            f"{written // 1000}k rows, {boards} boards (wall)",
            ours.median_s,
            "s",
            ours,
            (("json+numpy script", plain.median_s),),
            Target(plain.median_s / 2, False, "≤ ½ plain script"),
            f"{written / ours.median_s / 1e3:.0f} k rows/s; "
            f"`fleetscan --help` alone {startup.median_s:.2f} s",
            {"rows": float(written)},
        )
    ]


def _run(cmd: list[str], cwd: str) -> None:
    """Run a command to completion; alerts (exit 1 WARNING, 2 CRITICAL) are not failures."""
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode not in (0, 1, 2) or not result.stdout:
        raise RuntimeError(f"{cmd[:4]} failed ({result.returncode}): {result.stderr[-500:]}")
