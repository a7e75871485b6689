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

from fleetscan.emitter import Point
from fleetscan.errors import StateError, StateLockedError
from fleetscan.lifecycle import SeriesState
from fleetscan.state import SweepChanges, open_state, outbox_merge


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_state(path) as store:
        assert store.last_sweep_ms() is None and store.series() == {} and store.outbox() == []
        store.commit_sweep(
            SweepChanges(
                now_ms=1000,
                series={("a", "t"): SeriesState(streak=2, last_seen_ms=900)},
                baselines={("a", "t"): {"offset": 3.0, "buckets": [1, 2]}},
                outbox=[Point("a", "t.fleet_z", 4.5, 1000, {"room": "lab"})],
            )
        )
    with open_state(path) as store:
        assert store.last_sweep_ms() == 1000
        assert store.series() == {("a", "t"): SeriesState(streak=2, last_seen_ms=900)}
        assert store.baselines() == {("a", "t"): {"offset": 3.0, "buckets": [1, 2]}}
        assert store.outbox() == [Point("a", "t.fleet_z", 4.5, 1000, {"room": "lab"})]


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
    from fleetscan.state import SweepChanges, open_state, Store
    path = Path(sys.argv[1])
    real = Store.commit_sweep
    def dying_commit(self, changes):
        # write half of the sweep inside the transaction, then die without committing
        self._db.execute("BEGIN IMMEDIATE")
        self._db.execute("DELETE FROM series")
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('last_sweep_ms', '999')")
        os.kill(os.getpid(), signal.SIGKILL)
    Store.commit_sweep = dying_commit
    with open_state(path) as store:
        store.commit_sweep(SweepChanges(now_ms=999, series={("b", "t"): SeriesState(streak=9)}))
    """
)


def test_sigkill_mid_sweep_leaves_previous_state_intact(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_state(path) as store:
        store.commit_sweep(SweepChanges(now_ms=500, series={("a", "t"): SeriesState(streak=1)}))
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], check=False)
    assert proc.returncode == -signal.SIGKILL
    with open_state(path, lock_wait_s=2) as store:  # the dead process's lock is gone
        assert store.last_sweep_ms() == 500
        assert store.series() == {("a", "t"): SeriesState(streak=1)}


def test_newer_schema_is_refused_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_state(path):
        pass
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer fleetscan"), open_state(path):
        pass


def test_garbage_file_is_a_clear_state_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="cannot read sweep state"), open_state(path):
        pass
    assert path.read_bytes() == b"this is not sqlite" * 100


def test_outbox_merge_dedupes_by_series_and_time() -> None:
    a = Point("a", "t.fleet_z", 1.0, 10)
    b = Point("a", "t.fleet_z", 2.0, 20)
    assert outbox_merge([a], [a, b]) == [a, b]


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
