"""Durable sweep state: one SQLite file that survives between cron runs.

What it keeps, per (source, metric): the lifecycle state (streak, open alert, recovery, cooldown,
last seen) and the learned baseline (an opaque JSON document owned by the fleet scorer); for the whole
store: the last sweep time and an outbox of emissions the gateway has not accepted yet.

Safety rules:
- `open_state()` takes an exclusive file lock (`<path>.lock`, via `filelock`) before touching the
  database; a second sweep waits up to `lock_wait_s` and then gets `StateLockedError`.
- All of a sweep's changes are written in ONE transaction (`Store.commit_sweep`), so a sweep killed
  at any point, even by SIGKILL, leaves the previous sweep's state intact (SQLite's journal).
- The schema is versioned; a newer file than this code understands is refused, not rewritten.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock

from fleetscan.emitter import Point
from fleetscan.errors import StateError, StateLockedError
from fleetscan.lifecycle import SeriesState

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series (
    source_id TEXT NOT NULL, metric TEXT NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (source_id, metric));
CREATE TABLE IF NOT EXISTS baselines (
    source_id TEXT NOT NULL, metric TEXT NOT NULL, baseline TEXT NOT NULL,
    PRIMARY KEY (source_id, metric));
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, source_id TEXT NOT NULL, metric TEXT NOT NULL,
    value REAL NOT NULL, ts_ms INTEGER NOT NULL, tags TEXT NOT NULL DEFAULT '{}');
"""

Key = tuple[str, str]


@dataclass
class SweepChanges:
    """Everything one sweep writes, applied atomically by `Store.commit_sweep`."""

    now_ms: int
    series: dict[Key, SeriesState] = field(default_factory=dict)
    baselines: dict[Key, Any] = field(default_factory=dict)  # JSON-serialisable documents
    outbox: list[Point] = field(default_factory=list)  # the full new outbox (replaces the old)


class Store:
    """An open state database. Use `open_state()`; it holds the lock for the store's lifetime."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    def last_sweep_ms(self) -> int | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'last_sweep_ms'").fetchone()
        return int(row[0]) if row else None

    def series(self) -> dict[Key, SeriesState]:
        rows = self._db.execute("SELECT source_id, metric, state FROM series").fetchall()
        return {(s, m): SeriesState.from_dict(json.loads(state)) for s, m, state in rows}

    def baselines(self) -> dict[Key, Any]:
        rows = self._db.execute("SELECT source_id, metric, baseline FROM baselines").fetchall()
        return {(s, m): json.loads(doc) for s, m, doc in rows}

    def outbox(self) -> list[Point]:
        rows = self._db.execute(
            "SELECT source_id, metric, value, ts_ms, tags FROM outbox ORDER BY id"
        ).fetchall()
        return [Point(s, m, v, t, json.loads(tags)) for s, m, v, t, tags in rows]

    def commit_sweep(self, changes: SweepChanges) -> None:
        """Write a sweep's changes in one transaction: all of them, or (if killed) none."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR REPLACE INTO series VALUES (?, ?, ?)",
                [(s, m, json.dumps(st.to_dict())) for (s, m), st in changes.series.items()],
            )
            db.executemany(
                "INSERT OR REPLACE INTO baselines VALUES (?, ?, ?)",
                [(s, m, json.dumps(doc)) for (s, m), doc in changes.baselines.items()],
            )
            db.execute("DELETE FROM outbox")
            db.executemany(
                "INSERT INTO outbox (source_id, metric, value, ts_ms, tags) VALUES (?, ?, ?, ?, ?)",
                [
                    (p.source_id, p.metric, p.value, p.ts_ms, json.dumps(dict(p.tags)))
                    for p in changes.outbox
                ],
            )
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('last_sweep_ms', ?)", (str(changes.now_ms),)
            )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StateError(f"cannot write sweep state {self.path}: {exc}") from None

    def close(self) -> None:
        self._db.close()


def _prepare(db: sqlite3.Connection, path: Path) -> None:
    db.executescript(_SCHEMA)
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        db.commit()
    elif int(row[0]) > SCHEMA_VERSION:
        raise StateError(
            f"{path} was written by a newer fleetscan (schema {row[0]} > {SCHEMA_VERSION}); "
            "upgrade fleetscan or use another --state"
        )


@contextmanager
def open_state(path: Path, *, lock_wait_s: float = 10.0) -> Iterator[Store]:
    """Lock and open (creating if needed) the state at `path` for one sweep."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(
            f"cannot create the state directory {path.parent}: {exc.strerror}"
        ) from None
    lock = filelock.FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout=lock_wait_s)
    except filelock.Timeout:
        raise StateLockedError(
            f"another fleetscan sweep holds {path} (waited {lock_wait_s:g}s); skipping this run"
        ) from None
    except OSError as exc:
        raise StateError(f"cannot lock {path}: {exc.strerror}") from None
    try:
        try:
            db = sqlite3.connect(str(path), isolation_level=None, timeout=lock_wait_s)
            _prepare(db, path)
        except sqlite3.DatabaseError as exc:
            raise StateError(f"cannot read sweep state {path}: {exc}") from None
        store = Store(db, path)
        try:
            yield store
        finally:
            store.close()
    finally:
        lock.release()


def outbox_merge(old: Sequence[Point], new: Sequence[Point]) -> list[Point]:
    """Pending points, oldest first, without duplicates of the same (source, metric, time)."""
    seen: dict[tuple[str, str, int], Point] = {}
    for point in [*old, *new]:
        seen[(point.source_id, point.metric, point.ts_ms)] = point
    return list(seen.values())


def states_for(keys: Sequence[Key], known: Mapping[Key, SeriesState]) -> dict[Key, SeriesState]:
    return {key: known.get(key, SeriesState()) for key in keys}
