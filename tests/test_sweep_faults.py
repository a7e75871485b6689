"""Cron sweeps meeting a misbehaving Plexus: a gateway that redirects, an app API that answers an
empty page after the state knows the fleet. Real sandbox, real plexus-python, loopback stand-ins."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sandbox_fixtures import free_port
from standin import Reply, StandIn
from sweep_helpers import (
    BOARDS,
    LIFECYCLE,
    SCORING,
    SWEEP_TIMES,
    boards,
    dump,
    env_for,
    invoke,
    readings,
    sweep,
    write_jsonl,
)

from fleetscan.sandbox import Sandbox
from fleetscan.state import open_state
from fleetscan.timeutil import iso_z

POINTS_PER_SERIES = 3  # <metric>.fleet_z, .fleet_dev and .fleet_status, every series every sweep
KEY = "plx_" + "w" * 32


@pytest.fixture
def fleet_sandbox(sandbox: Sandbox) -> Sandbox:
    sandbox.insert(readings())
    return sandbox


def test_a_gateway_redirect_keeps_the_points_and_the_key(
    fleet_sandbox: Sandbox, tmp_path: Path
) -> None:
    with StandIn(lambda _: Reply()) as elsewhere:
        moved = Reply(302, b"", {"location": f"{elsewhere.url}/ingest"})
        with StandIn(lambda _: moved) as gateway:
            env = env_for(fleet_sandbox, tmp_path, gateway_url=gateway.url)
            state = tmp_path / "state.db"
            code, out, err = sweep(state, SWEEP_TIMES[0], env, "-v")
    assert elsewhere.requests == []  # the second host never saw the key (nor anything)
    assert code == 3, err
    assert f"{POINTS_PER_SERIES * BOARDS} points not delivered (kept in the state" in err
    assert "answered 302 redirecting to" in err and "not followed" in err
    assert "posted" not in err
    with open_state(state) as store:
        assert len(store.outbox()) == POINTS_PER_SERIES * BOARDS


def test_an_empty_answer_after_the_state_knows_the_fleet_is_unknown_not_ok(
    fleet_sandbox: Sandbox, tmp_path: Path
) -> None:
    env, state = env_for(fleet_sandbox, tmp_path), tmp_path / "state.db"
    prom = tmp_path / "fleetscan.prom"
    assert sweep(state, SWEEP_TIMES[0], env)[0] == 0
    before = dump(state)
    with StandIn(lambda _: Reply(200, b'{"data": [], "count": 0}')) as timed_out:
        code, out, err = sweep(
            state,
            SWEEP_TIMES[1],
            {**env, "PLEXUS_ENDPOINT": timed_out.url},
            "--prom-file",
            str(prom),
        )
    assert code == 3 and out == "" and err.count("\n") == 1, err
    assert "no temperature rows since" in err and f"although {BOARDS} sources" in err
    assert dump(state) == before  # nothing judged, nothing committed
    assert not prom.exists()  # no file saying all is well
    code, _, err = sweep(state, SWEEP_TIMES[2], env)  # Plexus answers again: back to normal
    assert code == 0, err


def test_an_unwritable_prom_file_stops_the_sweep_before_the_state_changes(
    fleet_sandbox: Sandbox, tmp_path: Path
) -> None:
    env, state = env_for(fleet_sandbox, tmp_path), tmp_path / "state.db"
    assert sweep(state, SWEEP_TIMES[0], env)[0] == 0
    before = dump(state)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    code, out, err = sweep(state, SWEEP_TIMES[1], env, "--prom-file", str(blocker / "f.prom"))
    assert code == 3 and out == "" and err.count("\n") == 1
    assert "--prom-file" in err and "cannot write" in err and "state untouched" in err
    assert dump(state) == before  # no transition committed that no one was told about


def test_an_unwritable_outbox_is_said_before_any_point_is_lost(
    fleet_sandbox: Sandbox, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with StandIn(lambda _: Reply(503, b'{"error":"down"}')) as gateway:
        env = env_for(fleet_sandbox, tmp_path, gateway_url=gateway.url)
        code, _, err = invoke(
            ["fleet", *SCORING, "--no-state", "--outbox", str(blocker / "o.jsonl")], env
        )
    assert code == 3 and "--outbox" in err and "cannot write" in err
    assert gateway.requests == []  # nothing swept, so nothing posted and nothing dropped


KILLED_AFTER_POSTING = textwrap.dedent(
    """
    import os, signal, sys
    import fleetscan.state as state
    def die(self, new_state, outbox, **kwargs):  # the points are posted; nothing is committed
        os.kill(os.getpid(), signal.SIGKILL)
    state.Store.commit = die
    from fleetscan.cli import app
    app(sys.argv[1:], prog_name="fleetscan")
    """
)


def test_killed_between_posting_and_committing_duplicates_at_worst_and_loses_nothing(
    fleet_sandbox: Sandbox, tmp_path: Path
) -> None:
    port, db = free_port(), tmp_path / "gateway.db"
    env = env_for(fleet_sandbox, tmp_path, gateway_url=f"http://127.0.0.1:{port}")
    state = tmp_path / "state.db"
    assert sweep(state, SWEEP_TIMES[0], env)[0] == 3  # gateway down: 32 points in the outbox
    with Sandbox(port=port, db_path=db, quiet=True) as gateway:
        args = ["fleet", *SCORING, *LIFECYCLE, "--state", str(state), "--at", iso_z(SWEEP_TIMES[1])]
        killed = subprocess.run(
            [sys.executable, "-c", KILLED_AFTER_POSTING, *args],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
        assert killed.returncode == -signal.SIGKILL
        with open_state(state) as store:  # what the killed sweep posted is still pending
            assert store.load().last_sweep_ms == SWEEP_TIMES[0]
            assert len(store.outbox()) == POINTS_PER_SERIES * BOARDS
        code, _, err = sweep(state, SWEEP_TIMES[1], env, "-v")  # cron runs again
        assert code == 0, err
        rows = gateway.backend.store.query_telemetry(
            source=None, metrics=["temperature.fleet_z"], from_ms=0, to_ms=2**53, limit=100_000
        )
    keys = [(r[0], int(r[3])) for r in rows]
    expected = {(b, t) for b in boards() for t in SWEEP_TIMES[:2]}
    assert set(keys) == expected  # nothing lost
    assert len(keys) == 2 * len(expected)  # both sweeps' points twice: duplicated, at worst
    with open_state(state) as store:
        assert store.outbox() == [] and store.load().last_sweep_ms == SWEEP_TIMES[1]


def test_a_sweep_that_watched_nothing_is_unknown_not_ok(tmp_path: Path) -> None:
    with StandIn(lambda _: Reply(200, b'{"data": [], "count": 0}')) as empty:
        env = {"HOME": str(tmp_path), "PLEXUS_ENDPOINT": empty.url, "PLEXUS_API_KEY": KEY}
        code, _, err = invoke(["fleet", *SCORING, "--no-state", "--dry-run"], env)
    assert code == 3 and "no rows at all for --metric temperature" in err, err
    assert err.count("error:") == 1  # one line says why


def test_a_replay_over_rows_of_other_metrics_is_unknown_not_ok(tmp_path: Path) -> None:
    rows = write_jsonl(tmp_path / "rows.jsonl", readings())
    code, _, err = invoke(
        ["replay", "--metric", "humidity", "--baseline", "0", "--input", str(rows)]
    )
    assert code == 3 and "nothing was replayed" in err, err
