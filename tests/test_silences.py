"""Silences end to end: `fleetscan silence` stores them in the sweep state, cron sweeps against
the sandbox still score silenced boards but never page; silences expire on the sweeps' clock."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sweep_helpers import (
    BAD,
    HOUR,
    MIN,
    START,
    SWEEP_TIMES,
    Shift,
    env_for,
    invoke,
    jsonl,
    readings,
    sweep,
)

from fleetscan.events import EVENT_NAME
from fleetscan.sandbox import Sandbox
from fleetscan.state import SCHEMA_VERSION, open_state
from fleetscan.timeutil import iso_z

LONG: Shift = ((BAD,), START + 6 * HOUR + 20 * MIN, START + 7 * HOUR + 30 * MIN, 2.5)


def at(minutes_after_6h: int) -> int:
    return START + 6 * HOUR + minutes_after_6h * MIN


def rows_of(sb: Sandbox, metric: str) -> dict[int, float]:
    rows = sb.backend.store.query_telemetry(
        source=BAD, metrics=[metric], from_ms=0, to_ms=2**53, limit=10_000
    )
    return {int(ts): value for _s, _m, value, ts, _t in rows}


def silence_bad_board(env: dict[str, str], state: Path) -> tuple[int, str, str]:
    """`fleetscan silence add` for BAD, all metrics, 30 minutes from sweep 15."""
    return invoke(
        ["silence", "add", "--source", BAD, "--from", iso_z(at(15)), "--for", "30m"]
        + ["--reason", "recalibrating", "--state", str(state)],
        env,
    )


def test_a_silenced_board_is_scored_not_paged_and_the_silence_expires(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.insert(readings(shifts=[LONG]))
    env, state = env_for(sandbox, tmp_path), tmp_path / "state.db"
    code, out, err = silence_bad_board(env, state)
    assert code == 0, err
    assert out.startswith(f"silence 1: {BAD} (all metrics) ")
    opened_at = None
    for t in SWEEP_TIMES[:14]:
        code, out, err = sweep(state, t, env, "--format", "jsonl")
        record = next(r for r in jsonl(out) if r["source_id"] == BAD)
        if at(15) <= t < at(45):  # silenced: still scored and shown, never alerting
            assert code == 0, err
            assert record["alerting"] is False and record["held"] == "silenced"
            assert str(record["reason"]).startswith("silenced until ")
            assert "recalibrating" in str(record["reason"])
            if t >= at(25):
                assert record["status"] == "drifting" and record["flagged"] is True
        if record["event"] == "opened":
            opened_at = t
    # after the silence the board starts afresh: three flagged sweeps (6h45, 6h50, 6h55)
    assert opened_at == at(55)
    fleet_z, fleet_status = (
        rows_of(sandbox, "temperature.fleet_z"),
        rows_of(sandbox, "temperature.fleet_status"),
    )
    assert all(fleet_z[t] == 0.0 for t in SWEEP_TIMES if at(15) <= t < at(55))
    assert all(fleet_status[t] == -4.0 for t in SWEEP_TIMES if at(15) <= t < at(45))
    assert fleet_z[at(55)] > 3 and fleet_status[at(55)] == 2.0
    events = [e["value"] for e in sandbox.source_events(name=EVENT_NAME)]
    assert [e["event"] for e in events] == ["opened"]  # type: ignore[index]


def test_silencing_an_open_alert_resolves_it_with_the_reason(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.insert(readings(shifts=[LONG]))
    env, state = env_for(sandbox, tmp_path), tmp_path / "state.db"
    for t in SWEEP_TIMES[:8]:  # the alert opens at 6h35
        sweep(state, t, env)
    code, _, err = invoke(
        ["silence", "add", "--source", BAD, "--metric", "temperature", "--from", iso_z(at(36))]
        + ["--for", "4h", "--reason", "board moved to the lab", "--state", str(state)],
        env,
    )
    assert code == 0, err
    code, out, err = sweep(state, at(40), env)
    assert code == 0 and out.split()[:3] == ["resolved", "temperature", BAD], err
    resolved = sandbox.source_events(name=EVENT_NAME)[-1]["value"]
    assert resolved["event"] == "resolved"  # type: ignore[index]
    assert "board moved to the lab" in resolved["reason"]  # type: ignore[index]
    code, out, err = sweep(state, at(45), env, "-v")
    assert code == 0 and "no alert open" in err
    assert f"fleetscan: silenced {BAD} temperature (drifting): until " in err


def test_silence_list_and_remove(tmp_path: Path) -> None:
    state = ["--state", str(tmp_path / "state.db")]
    for start, length in (("2026-06-12T06:00:00Z", "1h"), ("2026-06-12T09:00:00Z", "2h")):
        code, _, err = invoke(
            ["silence", "add", "--source", BAD, "--from", start, "--for", length]
            + ["--reason", "maintenance", *state]
        )
        assert code == 0, err
    code, out, err = invoke(["silence", "list", "--at", "2026-06-12T06:30:00Z", *state])
    assert code == 0 and [line.split()[5] for line in out.splitlines()] == ["active", "scheduled"]
    code, out, _ = invoke(["silence", "list", "--at", "2026-06-12T08:00:00Z", *state])
    assert [line.split()[0] for line in out.splitlines()] == ["2"]  # the first has expired
    code, out, _ = invoke(["silence", "list", "--all", "--at", "2026-06-12T08:00:00Z", *state])
    assert [line.split()[5] for line in out.splitlines()] == ["expired", "scheduled"]
    assert invoke(["silence", "remove", "1", *state])[:2] == (0, "removed 1 silence\n")
    assert invoke(["silence", "remove", "1", *state])[:2] == (1, "removed 0 silences\n")
    bad = invoke(["silence", "add", "--source", BAD, "--for", "0m", "--reason", "x", *state])
    assert bad[0] == 64 and "must end after it starts" in bad[2]


def test_a_version_2_state_gains_the_silences_table_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_state(path):
        pass
    db = sqlite3.connect(path)
    db.execute("DROP TABLE silences")
    db.execute("DROP TABLE events")  # schema 4's events outbox
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.execute("INSERT INTO meta VALUES ('last_sweep_ms', '1781244000000')")
    db.commit()
    db.close()
    with open_state(path) as store:
        assert store.last_sweep_ms() == 1_781_244_000_000
        assert store.connection.execute("SELECT COUNT(*) FROM silences").fetchone() == (0,)
        assert store.pending_events() == []
    db = sqlite3.connect(path)
    version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    db.close()
    assert version == (str(SCHEMA_VERSION),) and SCHEMA_VERSION == 4


@pytest.mark.parametrize("metric", [None, "temperature"])
def test_a_silence_covers_its_series_only(metric: str | None) -> None:
    from fleetscan.silences import Silence

    s = Silence(source_id=BAD, metric=metric, start_ms=0, until_ms=10, reason="r")
    assert s.covers(BAD, "temperature") and not s.covers("esp32-bme280-01", "temperature")
    assert s.covers(BAD, "humidity") is (metric is None)


def test_replay_applies_the_states_silences_read_only(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.insert(readings(shifts=[LONG]))
    env, state = env_for(sandbox, tmp_path), tmp_path / "state.db"
    code, _, err = silence_bad_board(env, state)
    assert code == 0, err
    before = state.read_bytes()
    span = ["--from", iso_z(SWEEP_TIMES[0]), "--to", iso_z(SWEEP_TIMES[13]), "--format", "jsonl"]
    replay = ["replay", "--metric", "temperature", "--baseline", "6h", "--group-by", "site"]
    replay += ["--min-peers", "3", "--recovery", "10m", "--cooldown", "20m", *span]

    def opened(extra: list[str]) -> tuple[list[int], list[dict[str, object]]]:
        code, out, err = invoke([*replay, *extra], env)
        assert code == 0, err
        records = [r for r in jsonl(out) if r["source_id"] == BAD]
        assert len(records) == 14
        return [SWEEP_TIMES[i] for i, r in enumerate(records) if r["event"] == "opened"], records

    assert opened([])[0] == [at(35)]  # unsilenced: opens at its third flagged sweep
    when, records = opened(["--state", str(state)])
    assert when == [at(55)]  # exactly what the cron sweeps did (the test above)
    silenced = [r for t, r in zip(SWEEP_TIMES[:14], records, strict=True) if at(15) <= t < at(45)]
    assert len(silenced) == 6 and all(r["held"] == "silenced" for r in silenced)
    assert all("recalibrating" in str(r["reason"]) for r in silenced)
    assert state.read_bytes() == before  # read-only
    code, _, err = invoke([*replay, "--state", str(tmp_path / "none.db")], env)
    assert code == 3 and "no such file" in err and "Traceback" not in err
    (tmp_path / "junk.db").write_text("not a database")
    code, _, err = invoke([*replay, "--state", str(tmp_path / "junk.db")], env)
    assert code == 3 and "cannot read the silences" in err and err.count("\n") == 1
