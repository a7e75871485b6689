"""Benchmarks of the edges: parsing Plexus rows, a sweep over HTTP, `fleetscan fleet --input`.

- `parsing`: one `/api/v1/telemetry` page body (Plexus rows, as the sandbox writes them) to
  `SeriesBatch` arrays through `decode_page` (told the metric asked for) + `batches`, as a
  sweep's fetch does; against the
  per-row path it replaced (orjson, `parse_rows`, `BatchBuilder`) and `json` + `strptime`.
- `sandbox_sweep`: the sandbox on loopback (in this process, on its own thread) holding N boards
  × 10 minutes at 0.5 Hz; one sweep is `sweeps.live.fetch_rows` (paged GETs) + `step_lifecycle`, as
  `fleetscan fleet --baseline 0` does. The baseline is a plain httpx client paging the same way,
  then json + strptime + NumPy median/MAD.
- `process`: `fleetscan fleet --input FILE --at T` as a whole process (interpreter start, imports,
  reading, learning the baseline from the file, the sweep and the table) on a JSON-lines file
  written by the simulator, against `PLAIN_SCRIPT` (bench.py) run the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
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
    Timing,
    fleet_arrays,
    measure,
    size_label,
)

from fleetscan.client import PlexusClient
from fleetscan.columns import batches
from fleetscan.decode import decode_page
from fleetscan.fleet import BatchBuilder, SeriesBatch, SweepOptions
from fleetscan.fleet.robust import MAD_TO_SIGMA
from fleetscan.sandbox import Sandbox
from fleetscan.sandbox.keys import ORG_ID
from fleetscan.simulate import FleetSpec, SimulatedFleet
from fleetscan.sweeps.live import fetch_rows
from fleetscan.sweeps.plan import FUTURE_LOOKAHEAD_MS
from fleetscan.sweeps.step import StepOptions, SweepState, plan_sweep, step_lifecycle
from fleetscan.telemetry import parse_rows
from fleetscan.timeutil import iso_z, plexus_timestamp

PARSE_TARGET = Target(1e6, True, "≥ 1 M rows/s")
SWEEP_TARGET = Target(3.0, False, "≤ 3 s at 1k")
PAGE_LIMIT = 100_000
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
    """Section 2: rows/s from page text to arrays, with and without `--group-by room`."""
    text = plexus_page(rows)
    body = text.encode()
    out = []
    groupings: tuple[tuple[str, ...], ...] = ((), ("room",))
    for group_by in groupings:

        def columnar(group_by: tuple[str, ...] = group_by) -> dict[str, SeriesBatch]:
            decoded = decode_page(body, group_by=group_by, metrics=["temperature"])
            assert decoded is not None
            return batches(decoded.settle(), ["temperature"])

        def per_row(group_by: tuple[str, ...] = group_by) -> dict[str, SeriesBatch]:
            parsed = parse_rows(orjson.loads(body)["data"])
            builder = BatchBuilder(["temperature"], group_by=group_by)
            builder.add(parsed.readings)
            builder.add_dropped(parsed.skipped_by_series)
            return builder.build()

        new, old = columnar(), per_row()
        same = (
            all(
                np.array_equal(getattr(new["temperature"], f), getattr(old["temperature"], f))
                for f in ("source", "ts_ms", "value")
            )
            and new["temperature"].cohorts == old["temperature"].cohorts
        )
        cpu_started = time.process_time()
        ours = measure(columnar, repeats)
        cpu_rate = rows * (repeats + 1) / (time.process_time() - cpu_started)  # warm-up included
        rowwise = measure(per_row, repeats)
        plain = measure(lambda: _plain_arrays(json.loads(text)["data"]), repeats)
        decode_only = measure(
            lambda g=group_by: decode_page(body, group_by=g, metrics=["temperature"]), repeats
        )
        label = f" --group-by {','.join(group_by)}" if group_by else ""
        out.append(
            Row(
                "2 parsing",
                f"page text → arrays, {rows // 1000}k rows{label}",
                rows / ours.median_s,
                "rows/s",
                ours,
                (
                    ("per-row path (orjson+parse_rows+BatchBuilder)", rows / rowwise.median_s),
                    ("json+strptime", rows / plain.median_s),
                ),
                PARSE_TARGET,
                f"{cpu_rate / 1e6:.2f} M rows/s of CPU time (what load on the machine does not "
                f"change); msgspec decode alone {rows / decode_only.median_s / 1e6:.2f} M rows/s; "
                f"arrays {'identical to' if same else 'DIFFER from'} the per-row path's",
            )
        )
    return out


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
    options = StepOptions(sweep=SweepOptions(window_ms=WINDOW_MS), use_baseline=False)
    requests: list[int] = []
    plain_requests: list[int] = []
    with Sandbox(clock=lambda: NOW_MS / 1000) as sandbox:
        stored = _fill(sandbox, n)

        def sweep() -> None:
            with PlexusClient(endpoint=sandbox.endpoint, api_key=sandbox.read_key) as client:
                plan = plan_sweep(SweepState(), ["temperature"], NOW_MS, options)
                window, _ = fetch_rows(
                    client,
                    plan,
                    ["temperature"],
                    group_by=(),
                    upper_ms=NOW_MS + FUTURE_LOOKAHEAD_MS,
                )
                step_lifecycle(SweepState(), window, NOW_MS, options)
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


def process(rows: int, repeats: int, plain_script: str, *, big: bool = False) -> list[Row]:
    """Section 4: `fleetscan fleet --input` vs the plain script, both as fresh processes: a fleet
    at 0.5 Hz (`rows` of them), and with `big` 1M rows of 50,000 boards × 20 readings."""
    cases = [(rows, max(1, rows // (WINDOW_MS // CADENCE_MS)), CADENCE_MS)]
    if big:
        cases.append((1_000_000, 50_000, WINDOW_MS // 20))
    out = [
        r
        for n, boards, cadence in cases
        for r in _process_row(n, boards, cadence, repeats, plain_script)
    ]
    with tempfile.TemporaryDirectory(prefix="fleetscan-bench-") as tmp:
        startup = measure(
            lambda: _run([sys.executable, "-m", "fleetscan", "--help"], tmp), repeats, warmup=False
        )
        bare = measure(lambda: _run([sys.executable, "-c", "print()"], tmp), repeats, warmup=False)
    out.append(
        Row(
            "4 --input process",
            "`fleetscan --help` (wall)",
            startup.median_s,
            "s",
            startup,
            (("python -c print()", bare.median_s),),
        )
    )
    return out


def _process_row(
    rows: int, boards: int, cadence_ms: int, repeats: int, plain_script: str
) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="fleetscan-bench-") as tmp:
        path = Path(tmp) / "fleet.jsonl"
        if boards <= 9999:
            fleet = SimulatedFleet(
                FleetSpec(
                    boards=boards,
                    seed=11,
                    start_ms=NOW_MS - WINDOW_MS,
                    duration_s=WINDOW_MS / 1000,
                    cadence_s=cadence_ms / 1000,
                )
            )
            written = fleet.write_jsonl(path, metrics=("temperature",))
        else:  # beyond the simulator's 9,999 boards
            written = _write_fleet_lines(path, boards, cadence_ms)
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
        ours_peak: list[float] = []
        plain_peak: list[float] = []
        ours = measure(lambda: _run(fleetscan_cmd, tmp, ours_peak), repeats, warmup=False)
        plain = measure(lambda: _run(plain_cmd, tmp, plain_peak), repeats, warmup=False)
        pushed = (
            _clickhouse_row(path, at, ours.median_s, repeats, tmp)
            if rows >= 1_000_000 and not os.environ.get("BENCH_FLEETSCAN_TREE")
            else []
        )
    factor = 0.6 if rows < 1_000_000 else 0.5
    peak, plain_mb = float(np.median(ours_peak)), float(np.median(plain_peak))
    memory = " (target ≤ 300 MB)" if rows >= 1_000_000 else ""
    row = Row(
        "4 --input process",
        f"{written // 1000}k rows, {boards} boards (wall)",
        ours.median_s,
        "s",
        ours,
        (("json+numpy script", plain.median_s),),
        Target(plain.median_s * factor, False, f"≤ {factor}× plain script"),
        f"{written / ours.median_s / 1e3:.0f} k rows/s; {ours.median_s / plain.median_s:.2f}× "
        f"the plain script; peak RSS {peak:.0f} MB{memory} (plain script {plain_mb:.0f} MB)",
        {"rows": float(written), "peak_mb": peak, "plain_peak_mb": plain_mb},
    )
    return [row, *pushed]


def _write_fleet_lines(path: Path, boards: int, cadence_ms: int) -> int:
    """A window of Plexus rows, oldest first: `boards` healthy boards every `cadence_ms` (each
    at its own level, float32 values, ±50 ms jitter), tagged with a room of 5 and a site."""
    rng = np.random.default_rng(15)
    per_board = WINDOW_MS // cadence_ms
    k = np.arange(per_board)
    ts = (NOW_MS - WINDOW_MS + cadence_ms // 2 + cadence_ms * k)[None, :] + rng.integers(
        -50, 51, (boards, per_board)
    )
    level = 22.0 + rng.normal(0.0, 0.5, (boards, 1))
    value = (level + rng.normal(0.0, 0.02, (boards, per_board))).astype(np.float32)
    board = np.broadcast_to(np.arange(boards)[:, None], ts.shape).ravel()
    order = np.argsort(ts.ravel(), kind="stable")
    stamps = np.char.replace(
        np.datetime_as_string(ts.ravel()[order].astype("datetime64[ms]")), "T", " "
    )
    with path.open("w", encoding="utf-8") as out:
        for b, t, v in zip(
            board[order].tolist(), stamps.tolist(), value.ravel()[order].tolist(), strict=True
        ):
            out.write(
                f'{{"source_id":"esp32-bme280-{b + 1:06d}","metric":"temperature",'
                f'"value":{v:.10g},"timestamp":"{t}",'
                f'"tags":{{"room":"room-{b // 5:05d}","site":"hq"}}}}\n'
            )
    return boards * per_board


def _clickhouse_row(path: Path, at: str, input_s: float, repeats: int, tmp: str) -> list[Row]:
    """`fleet --clickhouse chdb:DIR` over the same rows (loaded into Plexus's table layout first,
    not timed), against the `--input` sweep's time; the two sweeps' verdicts are compared. Then
    the stage the pushdown replaces, in this process: rows to per-source aggregates, from the
    file (read, batches, `reduce_window`) or from chdb (session, the window and baseline
    queries, conversion); scoring and printing the 50,000 sources are the same in both."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from clickhouse_fixtures import create_plexus_store

    store = Path(tmp) / "ch"
    started = time.perf_counter()
    with path.open("rb") as handle:
        loaded = create_plexus_store(store, (orjson.loads(line) for line in handle), org=ORG_ID)
    load_s = time.perf_counter() - started
    common = [sys.executable, "-m", "fleetscan", "fleet", "--at", at, "--metric", "temperature"]
    pushed_cmd = [*common, "--clickhouse", f"chdb:{store}", "--org", ORG_ID]
    peaks: list[float] = []
    timing = measure(lambda: _run(pushed_cmd, tmp, peaks), repeats, warmup=False)
    same = _verdicts([*pushed_cmd, "--format", "jsonl"], tmp) == _verdicts(
        [*common, "--input", str(path), "--format", "jsonl"], tmp
    )
    whole = Row(
        "4 --input process",
        "same rows, `fleet --clickhouse chdb:` (wall)",
        timing.median_s,
        "s",
        timing,
        (("fleet --input, same run", input_s),),
        Target(0.2 * input_s, False, "≤ 0.2× the --input sweep"),
        f"{timing.median_s / input_s:.2f}× the --input sweep; verdicts "
        f"{'identical' if same else 'DIFFER'}; peak RSS {float(np.median(peaks)):.0f} MB; "
        f"loading {loaded:,} rows into chdb (not timed above) took {load_s:.1f} s",
        {"peak_mb": float(np.median(peaks))},
    )
    pushed, local = _reduction_stages(path, store, repeats)
    stage = Row(
        "4 --input process",
        "same rows, rows → per-source aggregates only (in process, wall)",
        pushed.median_s,
        "s",
        pushed,
        (("--input: read + batches + reduce_window", local.median_s),),
        Target(0.2 * local.median_s, False, "≤ 0.2× the --input sweep"),
        f"{pushed.median_s / local.median_s:.2f}× the --input stage; chdb session, window and "
        "baseline queries, Arrow to NumPy (chdb already imported)",
    )
    return [whole, stage]


def _reduction_stages(path: Path, store: Path, repeats: int) -> tuple[Timing, Timing]:
    """Seconds from rows to `WindowAggregates` (and baseline), through chdb and from the file."""
    from fleetscan.clickhouse import Connection, Target, bucket_baseline, window_aggregates
    from fleetscan.decode import read_columns
    from fleetscan.fleet.reduce import reduce_window

    options = StepOptions(sweep=SweepOptions())
    target = Target(org=ORG_ID)

    def pushed() -> None:
        with Connection(f"chdb:{store}") as conn:
            window_aggregates(
                conn, target, "temperature", now_ms=NOW_MS, upper_ms=NOW_MS, options=options.sweep
            )
            bucket_baseline(
                conn, target, "temperature", now_ms=NOW_MS, options=options.sweep,
                sample_ms=options.sample_ms,
            )  # fmt: skip

    def local() -> None:
        rows = read_columns(path)
        found = batches(rows.select(rows.ts_ms <= NOW_MS), ["temperature"])
        reduce_window(found["temperature"], now_ms=NOW_MS, window_ms=options.sweep.window_ms)

    return measure(pushed, repeats), measure(local, repeats)


def _child_env() -> dict[str, str]:
    """The environment of the timed processes: `BENCH_FLEETSCAN_TREE=DIR` runs them on the
    fleetscan source tree in DIR (e.g. `git archive` of an older commit: a before figure)."""
    env = dict(os.environ)
    tree = env.get("BENCH_FLEETSCAN_TREE")
    if tree:
        env["PYTHONPATH"] = tree
    return env


def _verdicts(cmd: list[str], cwd: str) -> set[tuple[str, str]]:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    return {(r["source_id"], r["status"]) for r in map(json.loads, done.stdout.splitlines())}


# Runs the command and reports its peak RSS. A child forked straight from this (large) bench
# process would report this process's size: Linux keeps ru_maxrss across exec.
_PEAK = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)


def _run(cmd: list[str], cwd: str, peak_mb: list[float] | None = None) -> None:
    """Run a command to completion; alerts (exit 1 WARNING, 2 CRITICAL) are not failures.
    With `peak_mb`, the command's peak resident memory is appended to it."""
    wrapped = [sys.executable, "-c", _PEAK, *cmd] if peak_mb is not None else cmd
    result = subprocess.run(
        wrapped, cwd=cwd, capture_output=True, text=True, timeout=900, check=False, env=_child_env()
    )
    stderr = result.stderr
    if peak_mb is not None:  # the wrapper's last line
        lines = stderr.rstrip("\n").split("\n")
        peak_mb.append(int(lines[-1]) / 1024)
        stderr = "\n".join(lines[:-1])
    if result.returncode not in (0, 1, 2) or not result.stdout:
        raise RuntimeError(f"{cmd[:4]} failed ({result.returncode}): {stderr[-500:]}")


# -- 7. a baseline sweep inside ClickHouse at 100k boards (opt-in: --only 7) ---------------------


def clickhouse_scale(boards: int, hours: int) -> list[Row]:
    """Section 7: `boards` × `hours` at one reading a minute, generated inside chdb in Plexus's
    table layout, then one `clickhouse_sweep` at the end with a `hours` baseline (learning it:
    the per-bucket cells) and the 10-minute window. Rows, seconds and this process's peak RSS."""
    import resource

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from chdb import session
    from clickhouse_fixtures import PLEXUS_TELEMETRY

    from fleetscan.clickhouse import Connection, Target, clickhouse_sweep
    from fleetscan.sweeps.step import StepOptions

    rows = boards * hours * 60
    start = NOW_MS - hours * 3_600_000
    with tempfile.TemporaryDirectory(prefix="fleetscan-ch-") as tmp:
        s = session.Session(tmp)
        s.query("CREATE DATABASE plexus")
        s.query(PLEXUS_TELEMETRY)
        started = time.perf_counter()
        s.query(
            f"""INSERT INTO plexus.telemetry (org_id, source_id, timestamp, metric, value, tags)
            SELECT '{ORG_ID}', concat('esp32-bme280-', leftPad(toString(number % {boards}), 6, '0')),
                   fromUnixTimestamp64Milli(toInt64({start} + intDiv(number, {boards}) * 60000
                                                    + number % 997)),
                   'temperature',
                   22 + (number % {boards}) % 101 / 100 + sin(intDiv(number, {boards}) / 240)
                      + (cityHash64(number) % 1000) / 25000,
                   map('room', concat('room-', toString(intDiv(number % {boards}, 5))))
            FROM numbers({rows})"""
        )
        load_s = time.perf_counter() - started
        s.close()
        options = StepOptions(
            sweep=SweepOptions(window_ms=WINDOW_MS, baseline_span_ms=hours * 3_600_000)
        )
        started = time.perf_counter()
        with Connection(f"chdb:{tmp}") as conn:
            outcome = clickhouse_sweep(
                conn, Target(org=ORG_ID), ["temperature"], now_ms=NOW_MS, upper_ms=NOW_MS,
                options=options,
            )  # fmt: skip
        sweep_s = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    flagged = sum(v.result.status.flagged for v in outcome.verdicts)
    return [
        Row(
            "7 ClickHouse scale",
            f"{boards // 1000}k boards × {hours} h at 1/min: baseline sweep (wall)",
            sweep_s,
            "s",
            None,
            (),
            None,
            f"{rows / 1e6:.0f}M rows generated in chdb in {load_s:.0f} s; {len(outcome.verdicts):,}"
            f" series, {flagged} flagged; peak RSS {peak_mb:.0f} MB (this process, chdb included)",
            {"rows": float(rows), "peak_mb": peak_mb, "load_s": load_s},
        )
    ]
