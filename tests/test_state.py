"""The sweep state store: round trips, atomic sweeps under SIGKILL, the lock, versioning."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sweep_helpers import dump

from fleetscan.emitter import Point
from fleetscan.errors import StateError, StateLockedError
from fleetscan.fleet.baseline import MetricBaseline
from fleetscan.lifecycle import SeriesState
from fleetscan.state import SCHEMA_VERSION, cap_outbox, open_state, outbox_merge
from fleetscan.sweeps.step import SweepState

BASELINE = {
    "metric": "t",
    "bucket_ms": 3_600_000,
    "sources": [
        {
            "source_id": "a",
            "cohort": "lab",
            "last_ts": 900,
            "interval_ms": 30_000.0,
            "buckets": [[0, 0.25, 3.0], [3_600_000, -0.5, 1.0]],
        },
        {"source_id": "b", "cohort": "lab", "last_ts": 800, "interval_ms": None, "buckets": []},
    ],
}


def sample_state(now_ms: int = 1000) -> SweepState:
    return SweepState(
        last_sweep_ms=now_ms,
        swept_ms={"t": now_ms, "h": now_ms - 10},
        baselines={"t": MetricBaseline.from_dict(BASELINE)},
        series={
            ("a", "t"): SeriesState(streak=2),
            ("b", "t"): SeriesState(alerting=True, score=4.5),
        },
        last_seen={("a", "t"): 900, ("b", "t"): 800},
        storms={("t", None): 500, ("h", "lab"): 700},
    )


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_state(path) as store:
        assert store.load() == SweepState() and store.outbox() == []
        store.commit(sample_state(), [Point("a", "t.fleet_z", 4.5, 1000, {"status": "drifting"})])
    with open_state(path) as store:
        got = store.load()
        want = sample_state()
        assert got.last_sweep_ms == 1000 and got.swept_ms == want.swept_ms
        assert got.series == want.series and got.last_seen == want.last_seen
        assert got.storms == want.storms
        assert set(got.baselines) == {"t"}  # h was swept without a baseline (--baseline 0)
        # Buckets stored as [start, offset, weight] (today's schema) read back, and are written
        # with the bucket's longest silence as a fourth element (None: none seen).
        stored = got.baselines["t"].to_dict()
        assert stored["sources"][0]["buckets"] == [
            [0, 0.25, 3.0, None],
            [3_600_000, -0.5, 1.0, None],
        ]
        stored["sources"][0]["buckets"] = [b[:3] for b in stored["sources"][0]["buckets"]]
        assert stored == BASELINE
        assert store.outbox() == [Point("a", "t.fleet_z", 4.5, 1000, {"status": "drifting"})]
        store.commit(sample_state(2000), [])  # every sweep replaces the whole state and outbox
    with open_state(path) as store:
        assert store.load().last_sweep_ms == 2000 and store.outbox() == []


def test_second_sweep_waits_then_gives_up(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_state(path), pytest.raises(StateLockedError, match="another fleetscan sweep"):
        with open_state(path, lock_wait_s=0.2):
            pass


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from fleetscan.lifecycle import SeriesState
    from fleetscan.state import open_state
    from fleetscan.sweeps.step import SweepState
    path = Path(sys.argv[1])
    with open_state(path) as store:
        store.commit(
            SweepState(last_sweep_ms=999, series={("b", "t"): SeriesState(streak=9)}),
            [],
            before_commit=lambda: os.kill(os.getpid(), signal.SIGKILL),
        )
    """
)


def test_sigkill_mid_commit_leaves_previous_state_intact(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_state(path) as store:
        store.commit(sample_state(500), [Point("a", "t.fleet_z", 1.0, 500)])
    before = dump(path)
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], check=False)
    assert proc.returncode == -signal.SIGKILL
    assert (tmp_path / "state.db-journal").exists()  # killed with the transaction half written
    assert dump(path) == before  # the hot journal rolls back on the next open
    with open_state(path, lock_wait_s=2) as store:  # the dead process's lock is gone
        assert store.load().last_sweep_ms == 500
        assert store.outbox() == [Point("a", "t.fleet_z", 1.0, 500)]


def test_newer_schema_is_refused_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_state(path):
        pass
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StateError, match="newer fleetscan"), open_state(path):
        pass
    assert path.read_bytes() == before


def test_version_1_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE series (source_id TEXT NOT NULL, metric TEXT NOT NULL, state TEXT NOT NULL,
            PRIMARY KEY (source_id, metric));
        CREATE TABLE baselines (source_id TEXT NOT NULL, metric TEXT NOT NULL,
            baseline TEXT NOT NULL, PRIMARY KEY (source_id, metric));
        CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, source_id TEXT NOT NULL,
            metric TEXT NOT NULL, value REAL NOT NULL, ts_ms INTEGER NOT NULL,
            tags TEXT NOT NULL DEFAULT '{}');
        INSERT INTO meta VALUES ('schema_version', '1'), ('last_sweep_ms', '700');
        INSERT INTO series VALUES ('a', 't', '{"streak": 2, "last_seen_ms": 5}');
        INSERT INTO baselines VALUES ('a', 't', '{"offset": 3.0}');
        INSERT INTO outbox (source_id, metric, value, ts_ms) VALUES ('a', 't.fleet_z', 4.0, 700);
        """
    )
    db.commit()
    db.close()
    with open_state(path) as store:
        state = store.load()
        assert state.last_sweep_ms == 700 and state.series == {("a", "t"): SeriesState(streak=2)}
        assert state.baselines == {} and store.outbox() == [Point("a", "t.fleet_z", 4.0, 700)]
    db = sqlite3.connect(path)
    version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    db.close()
    assert version == (str(SCHEMA_VERSION),)


def test_garbage_file_is_a_clear_state_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="cannot read sweep state"), open_state(path):
        pass
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_a_corrupt_row_is_a_clear_state_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_state(path) as store:
        store.commit(sample_state(), [])
    db = sqlite3.connect(path)
    db.execute("UPDATE series SET state = 'not json'")
    db.commit()
    db.close()
    with open_state(path) as store, pytest.raises(StateError, match="move it aside"):
        store.load()


def test_outbox_merge_dedupes_by_series_and_time() -> None:
    a = Point("a", "t.fleet_z", 1.0, 10)
    b = Point("a", "t.fleet_z", 2.0, 20)
    assert outbox_merge([a], [a, b]) == [a, b]


def test_outbox_cap_drops_the_oldest() -> None:
    points = [Point("a", "t.fleet_z", float(i), i) for i in range(10)]
    kept, dropped = cap_outbox(points, 4)
    assert dropped == 6 and [p.ts_ms for p in kept] == [6, 7, 8, 9]
    assert cap_outbox(points[:2], 4) == (points[:2], 0)


def test_lock_is_released_when_the_holder_dies(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; from pathlib import Path; from fleetscan.state import open_state\n"
            "with open_state(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with pytest.raises(StateLockedError), open_state(path, lock_wait_s=0.1):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            with open_state(path, lock_wait_s=0.5):
                break
        except StateLockedError:
            assert time.monotonic() < deadline


def test_version_3_gains_the_events_outbox_and_keeps_its_points(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_state(path) as store:
        store.commit(sample_state(), [Point("a", "t.fleet_z", 4.0, 700)])
    db = sqlite3.connect(path)  # what fleetscan with schema 3 wrote: no events table
    db.executescript("DROP TABLE events; UPDATE meta SET value = '3' WHERE key = 'schema_version';")
    db.close()
    event = {"source_id": "a", "class": "event", "metric": "fleetscan.alert", "value": {"z": 7.5}}
    with open_state(path) as store:
        assert store.outbox() == [Point("a", "t.fleet_z", 4.0, 700)]
        assert store.load().series == sample_state().series and store.pending_events() == []
        store.commit(store.load(), store.outbox(), events=[event])
    with open_state(path) as store:
        assert store.pending_events() == [event] and len(store.outbox()) == 1
        store.commit(store.load(), [])  # delivered: the next commit empties both
        assert store.pending_events() == [] and store.outbox() == []
    db = sqlite3.connect(path)
    version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    db.execute("INSERT INTO events (event) VALUES ('[]')")
    db.commit()
    db.close()
    assert version == ("4",) == (str(SCHEMA_VERSION),)
    with open_state(path) as store, pytest.raises(StateError, match="events outbox"):
        store.pending_events()
