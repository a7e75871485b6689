"""`fleetscan fleet` as a cron job, end to end over loopback: a real sandbox, the real
plexus-python emitter, a real state file; killed, locked, cut off, and replayed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sandbox_fixtures import FakeClock, free_port
from sweep_helpers import (
    BAD,
    BLIP,
    BOARDS,
    HOUR,
    LIFECYCLE,
    MIN,
    SCORING,
    START,
    SWEEP_TIMES,
    dump,
    env_for,
    invoke,
    jsonl,
    readings,
    sweep,
    write_jsonl,
)
from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.client import PlexusClient
from fleetscan.events import EVENT_NAME
from fleetscan.monitors import Threshold
from fleetscan.sandbox import Sandbox
from fleetscan.state import open_state
from fleetscan.timeutil import iso_z

OPENS = START + 6 * HOUR + 35 * MIN  # when BLIP's alert opens (3rd flagged sweep)
RESOLVES = START + 7 * HOUR + 10 * MIN  # and resolves (10 min of normal sweeps)


@pytest.fixture
def blip_sandbox(sandbox: Sandbox) -> Sandbox:
    sandbox.insert(readings(shifts=[BLIP]))
    return sandbox


def fleet_z_rows(sb: Sandbox) -> list[tuple[str, int, float]]:
    rows = sb.backend.store.query_telemetry(
        source=None, metrics=["temperature.fleet_z"], from_ms=0, to_ms=2**53, limit=100_000
    )
    return [(r[0], int(r[3]), float(r[2])) for r in rows]


def test_quiet_unless_something_changed_and_exit_codes_follow_the_alert(
    blip_sandbox: Sandbox, tmp_path: Path
) -> None:
    env, state = env_for(blip_sandbox, tmp_path), tmp_path / "state.db"
    seen = []
    for at in SWEEP_TIMES[:16]:
        code, out, err = sweep(state, at, env)
        seen.append((at, code, out, err))
    quiet = [(iso_z(at), code) for at, code, out, err in seen if not out and not err]
    assert len(quiet) == 14  # all but the sweeps that opened and resolved the alert
    for at, code, out, err in seen:
        assert code == (2 if OPENS <= at < RESOLVES else 0), (iso_z(at), err)
        if at == OPENS:
            assert out.split()[:3] == ["opened", "temperature", BAD] and "drifting" in out
            assert "(critical)" in out and err == "fleetscan: 1 alert open (1 critical)\n"
        if at == RESOLVES:
            assert out.split()[:5] == ["resolved", "temperature", BAD, "after", "35m"]
    # the same open alert, judged against a higher --critical, is a WARNING; -v shows the table
    code, out, err = sweep(state, SWEEP_TIMES[16], env, "--critical", "1000", "-v")
    assert code == 0 and out.splitlines()[0].split()[:2] == ["SOURCE", "METRIC"]
    assert len(out.splitlines()) == 1 + BOARDS and "no alert open" in err  # so no chart


def test_warning_when_no_open_alert_is_critical(blip_sandbox: Sandbox, tmp_path: Path) -> None:
    env, state = env_for(blip_sandbox, tmp_path), tmp_path / "state.db"
    codes = [sweep(state, at, env, "--critical", "1000")[0] for at in SWEEP_TIMES[5:9]]
    assert codes == [0, 0, 1, 1]


def test_replay_equals_the_live_sweeps(blip_sandbox: Sandbox, tmp_path: Path) -> None:
    env, state = env_for(blip_sandbox, tmp_path), tmp_path / "state.db"
    live = []
    for at in SWEEP_TIMES:
        code, out, err = sweep(state, at, env, "--format", "jsonl")
        assert code in (0, 2), err
        live += jsonl(out)
    path = write_jsonl(tmp_path / "history.jsonl", readings(shifts=[BLIP]))
    span = ["--from", iso_z(SWEEP_TIMES[0]), "--to", iso_z(SWEEP_TIMES[-1]), "--every", "5m"]
    options = [*SCORING, "--recovery", "10m", "--cooldown", "20m", "--format", "jsonl"]
    code, out, err = invoke(["replay", *options, *span, "--input", str(path)])
    assert code == 0, err
    from_file = jsonl(out)
    code, out, _ = invoke(["replay", *options, *span], env)  # pulled from Plexus
    assert code == 0
    pulled = jsonl(out)
    assert len(live) == len(SWEEP_TIMES) * BOARDS
    assert from_file == live and pulled == live
    fields = {"at", "source_id", "metric", "status", "z", "alerting", "reason"}
    assert fields <= set(live[0])
    assert "would have alerted:" in err and BAD in err and "(35m)" in err


def test_a_plexus_monitor_on_fleet_z_opens_and_resolves_once(
    clocked_sandbox: Sandbox, clock: FakeClock, tmp_path: Path
) -> None:
    sb = clocked_sandbox
    sb.insert(readings(shifts=[BLIP]))
    with PlexusClient(endpoint=sb.endpoint, api_key=sb.read_key) as client:
        client.create_monitor(Threshold(max=3.0).body(BAD, "temperature.fleet_z"))
    env, state = env_for(sb, tmp_path), tmp_path / "state.db"
    for at in SWEEP_TIMES:
        clock.now_s = at / 1000  # houston runs on its own wall clock (docs/plexus-contract.md §3.1)
        assert sweep(state, at, env)[0] in (0, 2)
    events = [
        (e["event"], e["data"]["sourceSlug"], e["created_at"])  # type: ignore[index]
        for e in sb.alert_events()
    ]
    assert [(kind, slug) for kind, slug, _ in events] == [
        ("alert.triggered", BAD),
        ("alert.resolved", BAD),
    ]
    assert events[0][2] == iso_z(OPENS)
    assert events[1][2] == iso_z(RESOLVES + 5 * MIN)  # houston closes at the next 0 after 30 s


PAUSED_SWEEP = textwrap.dedent(
    """
    import os, signal, sys, time
    import fleetscan.sweeps.live as live
    fetch = live.fetch_rows
    def fetch_then_wait(*args, **kwargs):
        rows = fetch(*args, **kwargs)
        print("fetched", flush=True)
        time.sleep(60)  # holding the state lock, after fetching, before anything is written
        return rows
    live.fetch_rows = fetch_then_wait
    from fleetscan.cli import app
    app(sys.argv[1:], prog_name="fleetscan")
    """
)

DYING_COMMIT = textwrap.dedent(
    """
    import os, signal, sys
    import fleetscan.state as state
    commit = state.Store.commit
    def commit_then_die(self, new_state, outbox, **kwargs):
        commit(self, new_state, outbox, before_commit=lambda: os.kill(os.getpid(), signal.SIGKILL))
    state.Store.commit = commit_then_die
    from fleetscan.cli import app
    app(sys.argv[1:], prog_name="fleetscan")
    """
)


def _cli(script: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _args(state: Path, at_ms: int) -> list[str]:
    return ["fleet", *SCORING, "--state", str(state), "--at", iso_z(at_ms)]


def test_a_second_sweep_exits_3_and_a_killed_one_leaves_the_state_intact(
    blip_sandbox: Sandbox, tmp_path: Path
) -> None:
    env, state = env_for(blip_sandbox, tmp_path), tmp_path / "state.db"
    assert sweep(state, SWEEP_TIMES[0], env)[0] == 0
    before = dump(state)
    first = _cli(PAUSED_SWEEP, _args(state, SWEEP_TIMES[1]), env)
    assert first.stdout is not None and first.stdout.readline() == "fetched\n"
    code, out, err = sweep(state, SWEEP_TIMES[2], env, "--lock-wait", "0.2")
    assert code == 3 and out == ""
    assert (
        err.startswith("fleetscan: error: another fleetscan sweep holds") and err.count("\n") == 1
    )
    first.send_signal(signal.SIGKILL)  # killed mid-sweep, after fetching
    assert first.wait() == -signal.SIGKILL
    first.stdout.close()
    assert first.stderr is not None and first.stderr.read() == ""
    first.stderr.close()
    assert dump(state) == before
    assert sweep(state, SWEEP_TIMES[3], env)[0] == 0  # the next sweep runs normally


def test_a_sweep_killed_during_its_commit_leaves_the_state_intact(
    blip_sandbox: Sandbox, tmp_path: Path
) -> None:
    env, state = env_for(blip_sandbox, tmp_path), tmp_path / "state.db"
    assert sweep(state, SWEEP_TIMES[0], env)[0] == 0
    before = dump(state)
    killed = _cli(DYING_COMMIT, _args(state, SWEEP_TIMES[1]), env)
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    assert dump(state) == before
    with open_state(state) as store:
        assert store.load().last_sweep_ms == SWEEP_TIMES[0]


def test_plexus_down_exits_3_and_leaves_the_state_unchanged(
    blip_sandbox: Sandbox, tmp_path: Path
) -> None:
    env, state = env_for(blip_sandbox, tmp_path), tmp_path / "state.db"
    assert sweep(state, SWEEP_TIMES[0], env)[0] == 0
    before = state.read_bytes()
    down = {**env, "PLEXUS_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    code, out, err = sweep(state, SWEEP_TIMES[1], down)
    assert code == 3 and out == "" and err.count("\n") == 1
    assert "cannot reach" in err and "gave up after 4 attempts" in err and "Traceback" not in err
    bad_key = {**env, "PLEXUS_API_KEY": "plx_" + "0" * 32}
    code, out, err = sweep(state, SWEEP_TIMES[1], bad_key)
    assert code == 3 and "rejected the API key" in err and "0" * 32 not in err
    assert err.count("\n") == 1
    assert state.read_bytes() == before


def test_points_are_delivered_once_after_the_gateway_comes_back(
    blip_sandbox: Sandbox, tmp_path: Path
) -> None:
    port, db = free_port(), tmp_path / "gateway.db"
    gateway = Sandbox(port=port, db_path=db).start()
    gateway.stop()  # the gateway is down for the first sweep
    env = env_for(blip_sandbox, tmp_path, gateway_url=f"http://127.0.0.1:{port}")
    state = tmp_path / "state.db"
    code, out, err = sweep(state, SWEEP_TIMES[0], env)
    assert code == 3 and out == ""
    assert f"{3 * BOARDS} points not delivered (kept in the state" in err  # z, dev, status
    with open_state(state) as store:
        assert len(store.outbox()) == 3 * BOARDS
    with Sandbox(port=port, db_path=db) as gateway:  # back up, same address, same storage
        code, out, err = sweep(state, SWEEP_TIMES[1], env, "-v")
        assert code == 0, err
        assert f"posted {6 * BOARDS} points ({3 * BOARDS} from earlier sweeps)" in err
        rows = fleet_z_rows(gateway)
    assert len(rows) == 2 * BOARDS and len(set(rows)) == len(rows)  # each sweep's, once
    assert {ts for _, ts, _ in rows} == {SWEEP_TIMES[0], SWEEP_TIMES[1]}
    with open_state(state) as store:
        assert store.outbox() == []


def test_an_alert_event_the_gateway_missed_arrives_once_next_sweep(
    blip_sandbox: Sandbox, tmp_path: Path
) -> None:
    port, db = free_port(), tmp_path / "gateway.db"
    env = env_for(blip_sandbox, tmp_path, gateway_url=f"http://127.0.0.1:{port}")
    state = tmp_path / "state.db"
    for at in (OPENS - 10 * MIN, OPENS - 5 * MIN):  # the gateway is down while the alert opens
        assert sweep(state, at, env)[0] == 3
    code, _, err = sweep(state, OPENS, env)
    assert code == 2, err  # critical outranks "not delivered"
    assert "alert events (the reasons) not posted (1 kept in the state, sent first next" in err
    with open_state(state) as store:
        (kept,) = store.pending_events()
    assert kept["source_id"] == BAD and kept["value"]["status"] == "drifting"
    with Sandbox(port=port, db_path=db) as gateway:  # back up
        for at in (OPENS + 5 * MIN, OPENS + 10 * MIN):
            code, _, err = sweep(state, at, env, "-v")
            assert code == 2 and "not posted" not in err, err
        events = gateway.source_events(name=EVENT_NAME)
        first_z = min(ts for _, ts, _ in fleet_z_rows(gateway))
    assert [(e["source_id"], e["value"]["reason"]) for e in events] == [  # type: ignore[index]
        (BAD, kept["value"]["reason"])
    ]
    assert events[0]["timestamp"] == iso_z(OPENS) and first_z == OPENS - 10 * MIN
    with open_state(state) as store:
        assert store.pending_events() == [] and store.outbox() == []


@pytest.mark.parametrize(("charset", "high", "dots"), [("utf-8", "█", "…"), ("ascii", "@", "..")])
def test_verbose_draws_each_alerting_boards_gap_over_the_window(
    blip_sandbox: Sandbox, tmp_path: Path, charset: str, high: str, dots: str
) -> None:
    env, state = env_for(blip_sandbox, tmp_path), tmp_path / "state.db"
    for at in (OPENS - 10 * MIN, OPENS - 5 * MIN):
        code, out, _ = sweep(state, at, env, "-v")
        assert code == 0 and "gap  " not in out  # flagged, not alerting yet: no chart
    args = ["fleet", *SCORING, *LIFECYCLE, "--state", str(state), "--at", iso_z(OPENS), "-v"]
    result = CliRunner(charset=charset).invoke(app, args, env=env)
    assert result.exit_code == 2, result.stderr
    charts = [line for line in result.stdout.splitlines() if line.startswith("gap  ")]
    assert len(charts) == 1  # only the alerting board
    name, chart, span = charts[0].removeprefix("gap  ").split("  ")
    assert name == f"{BAD} temperature"
    blocks = chart.strip()
    assert len(blocks) >= 5 and blocks.count(high) >= 1
    assert set(blocks) <= set("▅▆▇█" if charset == "utf-8" else "=+*#@")  # steadily far off
    low, _, rest = span.partition(dots)
    assert float(low) > 3 and rest.endswith(" over 10m")  # its gap, in σ, the whole window


def test_prom_file_is_written_atomically(blip_sandbox: Sandbox, tmp_path: Path) -> None:
    env, state = env_for(blip_sandbox, tmp_path), tmp_path / "state.db"
    metrics_dir = tmp_path / "textfile"
    metrics_dir.mkdir()
    prom = metrics_dir / "fleetscan.prom"
    prom.write_text("# old\n")
    reader = prom.open()  # a collector reading the old file while the sweep replaces it
    code, _, err = sweep(state, OPENS - 10 * MIN, env, "--prom-file", str(prom))
    assert code == 0, err
    old_umask = os.umask(0o077)  # a cron job's umask: the file must still be readable by others
    try:
        for at in (OPENS - 5 * MIN, OPENS):
            started = time.monotonic()
            code, _, err = sweep(state, at, env, "--prom-file", str(prom))
            elapsed = time.monotonic() - started
    finally:
        os.umask(old_umask)
    assert code == 2
    assert reader.read() == "# old\n"  # replaced by rename, never rewritten in place
    reader.close()
    assert [p.name for p in metrics_dir.iterdir()] == ["fleetscan.prom"]  # no temp file left
    assert prom.stat().st_mode & 0o777 == 0o644
    families = {f.name: f for f in text_string_to_metric_families(prom.read_text())}
    assert all(f.type == "gauge" and f.documentation for f in families.values())
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("fleetscan_fleet_z", source_id=BAD, metric="temperature") > 6
    assert value("fleetscan_alerting", source_id=BAD, metric="temperature") == 1
    assert value("fleetscan_alerting", source_id="esp32-bme280-01", metric="temperature") == 0
    assert value("fleetscan_fleet_status", source_id=BAD, metric="temperature") == 2
    assert value("fleetscan_sources", metric="temperature", status="drifting") == 1
    assert value("fleetscan_sources", metric="temperature", status="ok") == BOARDS - 1
    assert value("fleetscan_alerts", severity="critical") == 1
    assert value("fleetscan_sweep_timestamp_seconds") == OPENS / 1000
    assert value("fleetscan_sweep_severity") == 2 and value("fleetscan_outbox_points") == 0
    assert 0 < value("fleetscan_sweep_duration_seconds") <= elapsed  # this sweep's time
    code, _, err = sweep(state, OPENS + 5 * MIN, env, "--prom-file", str(tmp_path / "no" / "x"))
    assert code == 3 and "cannot write" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "soon"], "invalid duration"),
        (["--recovery", "x"], "invalid duration"),
        (["--min-scale", "x=y"], "--min-scale"),
        (["--outbox", "o.jsonl"], "--outbox is for --no-state"),
        (["--no-state", "--state", "s.db"], "--state is not read by --no-state, --input"),
        (["--input", "in.jsonl", "--state", "s.db"], "--state is not read by"),
        (["--at", "yesterday"], "invalid timestamp"),
        (["--no-such-option"], "No such option"),
        (["--consecutive", "0"], "--consecutive"),
    ],
)
def test_bad_usage_exits_64_not_2(args: list[str], message: str) -> None:
    code, _, err = invoke(["fleet", "--metric", "temperature", *args])
    assert code == 64 and message in err and "Traceback" not in err


def test_missing_metric_is_usage_and_missing_key_is_unknown(tmp_path: Path) -> None:
    assert invoke(["fleet"])[0] == 64
    code, _, err = invoke(
        ["fleet", "--metric", "t", "--state", str(tmp_path / "s.db")],
        {"HOME": str(tmp_path), "PLEXUS_API_KEY": ""},
    )
    assert code == 3 and "no Plexus API key" in err
