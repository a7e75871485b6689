"""Cron sweeps meeting a misbehaving Plexus: a gateway that redirects, an app API that answers an
empty page after the state knows the fleet. Real sandbox, real plexus-python, loopback stand-ins."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from standin import Reply, StandIn
from sweep_helpers import BOARDS, SWEEP_TIMES, env_for, readings, sweep

from fleetscan.sandbox import Sandbox
from fleetscan.state import open_state


@pytest.fixture
def fleet_sandbox(sandbox: Sandbox) -> Sandbox:
    sandbox.insert(readings())
    return sandbox


def dump(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()


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
    assert f"{2 * BOARDS} points not delivered (kept in the state" in err
    assert "answered 302 redirecting to" in err and "not followed" in err
    assert "posted" not in err
    with open_state(state) as store:
        assert len(store.outbox()) == 2 * BOARDS


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
