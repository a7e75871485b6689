"""`fleet --clickhouse`: the sweep reduced inside embedded ClickHouse equals the HTTP sweep.

The sandbox's rows are loaded into chdb (Plexus's table layout, clickhouse_fixtures.py); the HTTP
path fetches them as `fleet --no-state --at` does, and both outcomes are compared per series.
"""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import numpy as np
import pytest

from fleetscan.client import PlexusClient
from fleetscan.fleet.options import SweepOptions
from fleetscan.sandbox import Sandbox
from fleetscan.sandbox.keys import ORG_ID
from fleetscan.simulate import Fault, FleetSpec, SimulatedFleet
from fleetscan.sweeps.live import fetch_rows
from fleetscan.sweeps.step import LifecycleStep, StepOptions, SweepState, plan_sweep, step_lifecycle
from fleetscan.timeutil import iso_z, parse_timestamp_ms

pytest.importorskip("chdb", reason="the clickhouse extra: pip install -e '.[test]'")

from clickhouse_fixtures import create_plexus_store  # noqa: E402

from fleetscan.clickhouse import (  # noqa: E402
    Connection,
    Target,
    clickhouse_sweep,
    window_aggregates,
)

NOW = 1_781_258_400_000  # 2026-06-12 10:00:00 UTC
HOUR = 3_600_000
FIELDS = ("status", "value", "fleet_median", "fleet_scale", "z", "offset", "baseline_offset")


def fleet() -> SimulatedFleet:
    faults = (
        Fault(board="esp32-bme280-03", kind="step", size=2.0, onset_offset_ms=8 * HOUR),
        Fault(board="esp32-bme280-07", kind="stuck", size=0.0, onset_offset_ms=int(8.8 * HOUR)),
        Fault(board="esp32-bme280-11", kind="dropout", size=0.0, onset_offset_ms=int(8.9 * HOUR)),
        Fault(board="esp32-bme280-12", kind="random", size=0.0, onset_offset_ms=int(8.5 * HOUR)),
        Fault(board="esp32-bme280-13", kind="spikes", size=3.0, onset_offset_ms=int(8.5 * HOUR)),
        Fault(board="esp32-bme280-14", kind="noisy", size=1.0, onset_offset_ms=int(8.5 * HOUR)),
    )
    return SimulatedFleet(
        FleetSpec(boards=16, seed=21, start_ms=NOW - 9 * HOUR, duration_s=9 * 3600 + 120,
                  cadence_s=20.0, faults=faults, gateway_gaps_per_day=0.0)
    )  # fmt: skip


def outcome_by_series(outcome: LifecycleStep) -> dict[tuple[str, str], dict[str, object]]:
    out = {}
    for v in outcome.verdicts:
        r = v.result
        out[(r.source_id, r.metric)] = {f: getattr(r, f) for f in FIELDS} | {"cohort": r.cohort}
    return out


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return a == b


@pytest.mark.slow
@pytest.mark.parametrize("group_by", [(), ("room",)])
def test_the_clickhouse_sweep_equals_the_http_sweep_on_the_same_rows(
    tmp_path: Path, group_by: tuple[str, ...]
) -> None:
    metrics = ["temperature", "humidity"]
    options = StepOptions(
        sweep=SweepOptions(
            window_ms=600_000, baseline_span_ms=8 * HOUR, group_by=group_by, min_peers=3
        )
    )
    upper = NOW + 60_000  # rows after the sweep time count as a clock fault
    with Sandbox(host="127.0.0.1", port=0, quiet=True, clock=lambda: NOW / 1000) as sb:
        sb.insert(fleet().iter_readings(metrics))
        with PlexusClient(endpoint=sb.endpoint, api_key=sb.read_key) as client:
            plan = plan_sweep(SweepState(), metrics, NOW, options)
            window, _ = fetch_rows(client, plan, metrics, group_by=group_by, upper_ms=upper)
        http = step_lifecycle(SweepState(), window, NOW, options)
        everything = httpx.get(
            f"{sb.endpoint}/api/v1/telemetry",
            params={"metric": ",".join(metrics), "from": iso_z(NOW - 10 * HOUR),
                    "to": iso_z(upper), "limit": "100000"},
            headers={"x-api-key": sb.read_key},
        ).json()["data"]  # fmt: skip
    assert len(everything) < 100_000
    create_plexus_store(tmp_path / "ch", everything, org=ORG_ID)
    with Connection(f"chdb:{tmp_path / 'ch'}") as conn:
        pushed = clickhouse_sweep(
            conn, Target(org=ORG_ID), metrics, now_ms=NOW, upper_ms=upper, options=options
        )
    a, b = outcome_by_series(http), outcome_by_series(pushed)
    assert set(a) == set(b) and len(a) == 32
    for key in a:
        for field in a[key]:
            assert same(a[key][field], b[key][field]), (key, field, a[key][field], b[key][field])
    statuses = {str(s["status"]) for s in a.values()}
    assert {"ok", "drifting", "stuck", "invalid", "stale"} <= statuses, statuses
    assert np.isfinite([float(s["z"]) for s in a.values() if s["status"] == "ok"]).all()


def test_another_org_sees_nothing(tmp_path: Path) -> None:
    rows = [
        {"source_id": "b1", "metric": "temperature", "value": 21.0,
         "timestamp": "2026-06-12 09:59:00.000", "tags": {}}
    ]  # fmt: skip
    create_plexus_store(tmp_path / "ch", rows, org="org-a")
    options = StepOptions(sweep=SweepOptions(window_ms=600_000), use_baseline=False)
    with Connection(f"chdb:{tmp_path / 'ch'}") as conn:
        mine = clickhouse_sweep(
            conn, Target(org="org-a"), ["temperature"], now_ms=NOW, upper_ms=NOW, options=options
        )
        other = clickhouse_sweep(
            conn, Target(org="org-b"), ["temperature"], now_ms=NOW, upper_ms=NOW, options=options
        )
    assert [v.result.source_id for v in mine.verdicts] == ["b1"]
    assert other.verdicts == ()


def test_a_cluster_is_read_through_its_distributed_table(tmp_path: Path) -> None:
    """On a cluster `telemetry` holds one shard's rows and `telemetry_dist` all of them (chdb has
    no cluster: a plain table of the same layout stands in for the Distributed wrapper)."""
    from chdb import session

    rows = [
        {"source_id": s, "metric": "temperature", "value": 21.0,
         "timestamp": "2026-06-12 09:59:00.000", "tags": {}}
        for s in ("b1", "b2")
    ]  # fmt: skip
    create_plexus_store(tmp_path / "ch", rows, org="org-a")
    options = StepOptions(sweep=SweepOptions(window_ms=600_000), use_baseline=False)

    def swept() -> list[str]:
        with Connection(f"chdb:{tmp_path / 'ch'}") as conn:
            outcome = clickhouse_sweep(
                conn, Target(org="org-a"), ["temperature"], now_ms=NOW, upper_ms=NOW,
                options=options,
            )  # fmt: skip
        return sorted(v.result.source_id for v in outcome.verdicts)

    assert swept() == ["b1", "b2"]  # one node: the table itself
    s = session.Session(str(tmp_path / "ch"))
    try:
        s.query("CREATE TABLE plexus.telemetry_dist AS plexus.telemetry")
        s.query("INSERT INTO plexus.telemetry_dist SELECT * FROM plexus.telemetry")
        s.query(
            "ALTER TABLE plexus.telemetry DELETE WHERE source_id = 'b2' SETTINGS mutations_sync = 1"
        )  # b2's rows are on another shard
    finally:
        s.close()
    assert swept() == ["b1", "b2"]
    with Connection(f"chdb:{tmp_path / 'ch'}") as conn:
        local = Target(org="org-a", table="telemetry")
        assert local.resolved(conn) == local  # a named table is read as named
        only = clickhouse_sweep(
            conn, local, ["temperature"], now_ms=NOW, upper_ms=NOW, options=options
        )
    assert [v.result.source_id for v in only.verdicts] == ["b1"]


def test_the_cli_sweeps_chdb_like_the_same_rows_from_a_file(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from fleetscan.cli import app

    rows = list(fleet().iter_rows(["temperature"], start_ms=NOW - HOUR, end_ms=NOW))
    rows = [r for r in rows if r["value"] is not None]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    create_plexus_store(tmp_path / "ch", rows, org=ORG_ID)
    common = ["fleet", "--metric", "temperature", "--at", iso_z(NOW), "--baseline", "0",
              "--format", "jsonl", "--group-by", "room", "--min-peers", "2"]  # fmt: skip
    env = {"FLEETSCAN_CLICKHOUSE_PASSWORD": "never-shown"}
    pushed = CliRunner().invoke(
        app, [*common, "--clickhouse", f"chdb:{tmp_path / 'ch'}", "--org", ORG_ID], env=env
    )
    from_file = CliRunner().invoke(app, [*common, "--input", str(path)])
    assert pushed.exit_code == from_file.exit_code, pushed.output
    a = [json.loads(line) for line in pushed.stdout.splitlines()]
    b = [json.loads(line) for line in from_file.stdout.splitlines()]
    assert len(a) == len(b) == 16
    key = {
        (r["source_id"], r["status"], round(r["z"], 9) if r["z"] is not None else None) for r in a
    }
    assert key == {
        (r["source_id"], r["status"], round(r["z"], 9) if r["z"] is not None else None) for r in b
    }
    assert "never-shown" not in pushed.output


@pytest.mark.slow
def test_replay_in_clickhouse_equals_replay_over_the_same_file(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from fleetscan.cli import app

    rows = [r for r in fleet().iter_rows(["temperature"]) if r["value"] is not None]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    create_plexus_store(tmp_path / "ch", rows, org=ORG_ID)
    common = ["replay", "--metric", "temperature", "--from", iso_z(NOW - HOUR), "--to",
              iso_z(NOW), "--every", "10m", "--baseline", "8h", "--format", "jsonl",
              "--group-by", "room", "--min-peers", "2"]  # fmt: skip
    pushed = CliRunner().invoke(app, [*common, "--clickhouse", f"chdb:{tmp_path / 'ch'}"])
    from_file = CliRunner().invoke(app, [*common, "--input", str(path)])
    assert pushed.exit_code == from_file.exit_code == 0, pushed.output

    def by_series(stdout: str) -> dict[tuple[str, str], tuple[str, float | None]]:
        out = {}
        for r in map(json.loads, stdout.splitlines()):
            out[(r["at"], r["source_id"])] = (r["status"], r["z"])
        return out

    a, b = by_series(pushed.stdout), by_series(from_file.stdout)
    assert set(a) == set(b) and len(a) == 7 * 16
    for key in a:
        assert a[key][0] == b[key][0], key
        assert same(a[key][1], b[key][1]) or a[key][1] == b[key][1], key
    assert (
        pushed.stderr
        == from_file.stderr.replace(
            from_file.stderr.split("in ")[-1], pushed.stderr.split("in ")[-1]
        )
        or "alert" in pushed.stderr
    )


@pytest.mark.parametrize(
    ("url", "code"),
    [("ftp://host", 64), ("http://reader:hunter2@host:8123", 64), ("http://reader@127.0.0.1:9", 3)],
)
def test_clickhouse_urls_fail_in_one_line_without_the_password(url: str, code: int) -> None:
    from typer.testing import CliRunner

    from fleetscan.cli import app

    result = CliRunner().invoke(
        app,
        ["fleet", "--metric", "temperature", "--clickhouse", url],
        env={"FLEETSCAN_CLICKHOUSE_PASSWORD": "hunter2"},
    )
    assert result.exit_code == code, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "hunter2" not in result.output


def test_every_window_column_from_clickhouse_equals_the_numpy_reduction(tmp_path: Path) -> None:
    """`window_aggregates` (SQL) and `reduce_window` (NumPy) give the same value in every column,
    `first_ts` and the gaps included, on rows with silences, a lone reading and an empty source."""
    from dataclasses import fields

    from fleetscan.fleet import SeriesBatch
    from fleetscan.fleet.reduce import WindowAggregates, reduce_window

    rng = np.random.default_rng(4)
    start = NOW - 600_000
    rows = []
    for board, stamps in {
        "b1": np.arange(start + 7_000, NOW, 20_000),
        "b2": np.r_[np.arange(start + 3_000, start + 200_000, 20_000), NOW - 30_000],  # a silence
        "b3": np.array([NOW - 5_000]),  # one reading, back after a silence
        "b4": np.arange(start + 11_000, NOW, 60_000),
    }.items():
        for ts in stamps.tolist():
            rows.append({"source_id": board, "timestamp": iso_z(int(ts)),
                         "metric": "temperature", "value": float(rng.normal(21, 0.3))})  # fmt: skip
    create_plexus_store(tmp_path / "ch", rows, org=ORG_ID)
    options = SweepOptions(window_ms=600_000)
    with Connection(f"chdb:{tmp_path / 'ch'}") as conn:
        sql = window_aggregates(
            conn, Target(org=ORG_ID), "temperature", now_ms=NOW, upper_ms=NOW, options=options
        )
    order = sorted(range(len(rows)), key=lambda k: rows[k]["timestamp"])
    ids = ("b1", "b2", "b3", "b4")
    batch = SeriesBatch.from_arrays(
        "temperature",
        list(ids),
        np.array([ids.index(rows[k]["source_id"]) for k in order]),
        np.array([parse_timestamp_ms(rows[k]["timestamp"]) for k in order]),
        np.array([rows[k]["value"] for k in order]),
    )
    numpy = reduce_window(batch, now_ms=NOW, window_ms=600_000)
    assert sql.source_ids == numpy.source_ids == ids
    assert sql.first_ts[2] == NOW - 5_000 and sql.first_ts[1] == start + 3_000
    for f in fields(WindowAggregates):
        if f.name in ("metric", "source_ids", "cohorts"):
            continue
        a, b = getattr(sql, f.name), getattr(numpy, f.name)
        assert all(same(float(x), float(y)) for x, y in zip(a, b, strict=True)), (f.name, a, b)
