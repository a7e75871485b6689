"""Durable sweep state: one SQLite file that survives between cron runs.

It stores a `SweepState` (fleetscan.sweeps.step) and the outbox:

| table       | one row per             | holds                                                   |
|-------------|-------------------------|---------------------------------------------------------|
| `meta`      | key                     | `schema_version`, `last_sweep_ms`, `storms` (JSON)      |
| `metrics`   | metric                  | when it was last swept, its baseline's bucket length    |
| `series`    | (source, metric)        | the alert lifecycle (JSON), only for non-idle series    |
| `seen`      | (source, metric)        | the newest reading seen (epoch ms)                      |
| `baselines` | (source, metric)        | the learned offsets per bucket (JSON, `MetricBaseline`) |
| `outbox`    | point                   | emissions the gateway has not accepted yet, in order   |
| `events`    | alert event             | `fleetscan.alert` events not accepted yet (wire JSON)  |
| `silences`  | silence                 | `fleetscan silence add`: source, metric, span, reason  |

`storms` lists `[metric, cohort, since]` per active storm, and for a cohort event also its last
sweep, boards and shared change (`SweepState.cohort_tracks`); three-element entries (older files) still load.

Safety rules:
- `open_state()` takes an exclusive file lock (`<path>.lock`, via `filelock`) before touching the
  database; a second sweep waits up to `lock_wait_s` and then gets `StateLockedError`.
- All of a sweep's changes (state and outbox) are written in ONE transaction (`Store.commit`), so
  a sweep killed at any point, even by SIGKILL, leaves the previous sweep's state intact.
- The schema is versioned: an older file is migrated in a transaction; a newer one is refused,
  not rewritten.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import filelock

from fleetscan import silence_store
from fleetscan.emitter import Point
from fleetscan.errors import StateError, StateLockedError
from fleetscan.fleet.baseline import MetricBaseline
from fleetscan.lifecycle import SeriesState
from fleetscan.sweeps.step import CohortTrack, StormKey, SweepState

SCHEMA_VERSION = (
    4  # 3: silences (`fleetscan silence`); 4: the events outbox; each only adds a table
)

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS metrics (
    metric TEXT PRIMARY KEY, swept_ms INTEGER NOT NULL, bucket_ms INTEGER);
CREATE TABLE IF NOT EXISTS series (
    source_id TEXT NOT NULL, metric TEXT NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (source_id, metric));
CREATE TABLE IF NOT EXISTS seen (
    source_id TEXT NOT NULL, metric TEXT NOT NULL, ts_ms INTEGER NOT NULL,
    PRIMARY KEY (source_id, metric));
CREATE TABLE IF NOT EXISTS baselines (
    source_id TEXT NOT NULL, metric TEXT NOT NULL, baseline TEXT NOT NULL,
    PRIMARY KEY (source_id, metric));
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, source_id TEXT NOT NULL, metric TEXT NOT NULL,
    value REAL NOT NULL, ts_ms INTEGER NOT NULL, tags TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL);
"""
    + silence_store.TABLE
)

MAX_OUTBOX = 500_000  # points kept for retry; beyond this the oldest are dropped (and counted)
MAX_EVENTS = 10_000  # alert events kept for retry, likewise


class Store:
    """An open state database. Use `open_state()`; it holds the lock for the store's lifetime."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @property
    def connection(self) -> sqlite3.Connection:
        """The open database, for `fleetscan.silences` (its own table, under the same lock)."""
        return self._db

    def last_sweep_ms(self) -> int | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'last_sweep_ms'").fetchone()
        return int(row[0]) if row else None

    def load(self) -> SweepState:
        """The state the last committed sweep left (an empty state for a new file)."""
        try:
            return self._load()
        except (sqlite3.Error, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateError(
                f"cannot read sweep state {self.path}: {exc}; move it aside to start afresh"
            ) from None

    def _load(self) -> SweepState:
        db = self._db
        metrics = db.execute("SELECT metric, swept_ms, bucket_ms FROM metrics").fetchall()
        sources: dict[str, list[dict[str, Any]]] = {m: [] for m, _, b in metrics if b is not None}
        for _, metric, doc in db.execute(
            "SELECT source_id, metric, baseline FROM baselines ORDER BY rowid"
        ):
            if metric in sources:
                sources[metric].append(_document(doc, "baselines"))
        baselines = {
            m: MetricBaseline.from_dict({"metric": m, "bucket_ms": b, "sources": sources[m]})
            for m, _, b in metrics
            if b is not None
        }
        storms_row = db.execute("SELECT value FROM meta WHERE key = 'storms'").fetchone()
        storms: dict[StormKey, int] = {}
        tracks: dict[StormKey, CohortTrack] = {}
        stored_storms = json.loads(storms_row[0]) if storms_row else []
        if not isinstance(stored_storms, list):
            raise ValueError(f"meta.storms holds {type(stored_storms).__name__}, not a list")
        for metric, cohort, since, *track in stored_storms:  # a cohort event: seen, boards, change
            key = (str(metric), None if cohort is None else str(cohort))
            storms[key] = int(since)
            if track:
                seen, boards, change = track
                tracks[key] = (int(seen), tuple(str(b) for b in boards), float(change))
        return SweepState(
            last_sweep_ms=self.last_sweep_ms(),
            swept_ms={m: int(t) for m, t, _ in metrics},
            baselines=baselines,
            series={
                (s, m): SeriesState.from_dict(_document(doc, "series"))
                for s, m, doc in db.execute("SELECT source_id, metric, state FROM series")
            },
            last_seen={
                (s, m): int(t)
                for s, m, t in db.execute("SELECT source_id, metric, ts_ms FROM seen")
            },
            storms=storms,
            cohort_tracks=tracks,
        )

    def outbox(self) -> list[Point]:
        """Points not delivered yet, oldest first."""
        try:
            rows = self._db.execute(
                "SELECT source_id, metric, value, ts_ms, tags FROM outbox ORDER BY id"
            ).fetchall()
            return [
                Point(str(s), str(m), float(v), int(t), _tags(tags)) for s, m, v, t, tags in rows
            ]
        except (sqlite3.Error, ValueError, TypeError) as exc:
            raise StateError(
                f"cannot read the outbox in {self.path}: {exc}; move it aside to start afresh"
            ) from None

    def pending_events(self) -> list[dict[str, Any]]:
        """Alert events (wire form) not delivered yet, oldest first."""
        try:
            rows = self._db.execute("SELECT event FROM events ORDER BY id").fetchall()
            return [_document(str(text), "events") for (text,) in rows]
        except (sqlite3.Error, ValueError, TypeError) as exc:
            raise StateError(
                f"cannot read the events outbox in {self.path}: {exc}; move it aside to start afresh"
            ) from None

    def commit(
        self,
        state: SweepState,
        outbox: Sequence[Point],
        *,
        events: Sequence[Mapping[str, Any]] = (),
        before_commit: Callable[[], None] | None = None,
    ) -> None:
        """Replace the stored state, outbox and `events` (alert events still to post) in one
        transaction: all of it, or (if killed) none.

        `before_commit` runs inside the transaction after every write (tests kill the process
        there to check that nothing of a half-written sweep survives).
        """
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            for table in ("metrics", "series", "seen", "baselines", "outbox", "events"):
                db.execute(f"DELETE FROM {table}")
            db.executemany(
                "INSERT INTO metrics VALUES (?, ?, ?)",
                [
                    (m, t, state.baselines[m].bucket_ms if m in state.baselines else None)
                    for m, t in state.swept_ms.items()
                ],
            )
            db.executemany(
                "INSERT INTO series VALUES (?, ?, ?)",
                [(s, m, json.dumps(st.to_dict())) for (s, m), st in state.series.items()],
            )
            db.executemany(
                "INSERT INTO seen VALUES (?, ?, ?)",
                [(s, m, t) for (s, m), t in state.last_seen.items()],
            )
            db.executemany(
                "INSERT INTO baselines VALUES (?, ?, ?)",
                [
                    (doc["source_id"], metric, json.dumps(doc, allow_nan=False))
                    for metric, baseline in state.baselines.items()
                    for doc in baseline.to_dict()["sources"]
                ],
            )
            db.executemany(
                "INSERT INTO outbox (source_id, metric, value, ts_ms, tags) VALUES (?, ?, ?, ?, ?)",
                [
                    (p.source_id, p.metric, p.value, p.ts_ms, json.dumps(dict(p.tags)))
                    for p in outbox
                ],
            )
            db.executemany(
                "INSERT INTO events (event) VALUES (?)",
                [(json.dumps(dict(e), allow_nan=False),) for e in events[-MAX_EVENTS:]],
            )
            storms = [
                [m, c, since, *state.cohort_tracks.get((m, c), ())]
                for (m, c), since in state.storms.items()
            ]
            meta = [("storms", json.dumps(storms))]
            if state.last_sweep_ms is not None:
                meta.append(("last_sweep_ms", str(state.last_sweep_ms)))
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
            if before_commit is not None:
                before_commit()
            db.execute("COMMIT")
        except (sqlite3.Error, ValueError) as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise StateError(f"cannot write sweep state {self.path}: {exc}") from None

    def close(self) -> None:
        self._db.close()


def _document(text: str, table: str) -> dict[str, Any]:
    """A stored JSON object; valid JSON of another type (`[]`, `null`) is as unreadable as garbage."""
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError(f"a row of `{table}` holds {type(document).__name__}, not an object")
    return document


def _tags(text: str) -> dict[str, str]:
    tags = _document(text, "outbox")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise ValueError("a row of `outbox` holds tags that are not strings")
    return tags


def _prepare(db: sqlite3.Connection, path: Path) -> None:
    """Create the tables of a new file, migrate an older one, refuse a newer one."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    version = None
    if "meta" in tables:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else None
    if version is not None and version > SCHEMA_VERSION:
        raise StateError(
            f"{path} was written by a newer fleetscan (schema {version} > {SCHEMA_VERSION}); "
            "upgrade fleetscan or use another --state"
        )
    if version == SCHEMA_VERSION and tables >= {
        "metrics",
        "series",
        "seen",
        "baselines",
        "silences",
        "events",
    }:
        return  # the common case: nothing to write, so a failed sweep leaves the file untouched
    db.execute("BEGIN IMMEDIATE")
    try:
        if version == 1:
            # Version 1 kept opaque baseline documents that nothing wrote; its series states
            # read as they are.
            db.execute("DELETE FROM baselines")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


@contextmanager
def open_state(path: Path, *, lock_wait_s: float = 10.0) -> Iterator[Store]:
    """Lock and open (creating if needed) the state at `path` for one sweep."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(
            f"cannot create the state directory {path.parent}: {exc.strerror}"
        ) from None
    lock_path = Path(str(path) + ".lock")
    try:  # filelock retries a lock file it cannot create until the timeout: say what failed
        with lock_path.open("a"):
            pass
    except OSError as exc:
        raise StateError(
            f"cannot use {path} for the sweep state: cannot create {lock_path.name} beside it "
            f"({exc.strerror or exc}); use --state on a writable file system"
        ) from None
    lock = filelock.FileLock(str(lock_path))
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
        except sqlite3.Error as exc:
            raise StateError(f"cannot open sweep state {path}: {exc}") from None
        try:
            _prepare(db, path)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StateError(f"cannot read sweep state {path}: {exc}") from None
        except BaseException:
            db.close()
            raise
        store = Store(db, path)
        try:
            yield store
        finally:
            store.close()
    finally:
        lock.release()


def outbox_merge(old: Sequence[Point], new: Sequence[Point]) -> list[Point]:
    """Pending points, oldest first, without duplicates of the same (source, metric, time).

    A newer point for the same (source, metric, time) replaces the older one in its place.
    """
    seen: dict[tuple[str, str, int], Point] = {}
    for point in [*old, *new]:
        seen[(point.source_id, point.metric, point.ts_ms)] = point
    return list(seen.values())


def cap_outbox(points: Sequence[Point], limit: int = MAX_OUTBOX) -> tuple[list[Point], int]:
    """The newest `limit` points, and how many older ones were dropped.

    >>> cap_outbox([Point("a", "t", 1.0, t) for t in range(5)], 3)[1]
    2
    """
    dropped = max(0, len(points) - limit)
    return list(points[dropped:]), dropped
