"""SQLite storage for the sandbox: telemetry rows, events, sources, monitors and alert events.

One connection guarded by a lock serves every request thread (an in-memory database can only be
shared that way, and SQLite serialises writers anyway). A file database uses WAL so readers of
other processes are not blocked. Telemetry is indexed on (source_id, metric, ts) and (metric, ts),
the two shapes `GET /api/v1/telemetry` filters by.

The store holds no Plexus rules: it saves what `backend.py` decides.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS telemetry (
    id INTEGER PRIMARY KEY,
    source_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    ts INTEGER NOT NULL,
    value REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS telemetry_series ON telemetry (source_id, metric, ts);
CREATE INDEX IF NOT EXISTS telemetry_metric ON telemetry (metric, ts);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    source_id TEXT NOT NULL,
    name TEXT NOT NULL,
    ts INTEGER NOT NULL,
    body TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}',
    ingested_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS monitors (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('threshold', 'event', 'offline')),
    source_uuid TEXT NOT NULL REFERENCES sources (id),
    metric TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS monitors_series ON monitors (source_uuid, metric, kind);
CREATE TABLE IF NOT EXISTS alert_events (
    id INTEGER PRIMARY KEY,
    event TEXT NOT NULL,
    created_at REAL NOT NULL,
    data TEXT NOT NULL
);
"""

TelemetryRow = tuple[str, str, float, int, str]
"""(source_id, metric, value, ts_ms, tags_json), the columns the telemetry route returns."""


@dataclass(frozen=True, slots=True)
class Source:
    """A registered source: the UUID the app uses and the slug devices send."""

    id: str
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class MonitorRow:
    """One stored monitor record, joined with its source."""

    id: str
    kind: str
    source: Source
    metric: str
    config: str
    created_at: float


class StoreError(Exception):
    """The database file cannot be opened or is from a newer sandbox."""


class SandboxStore:
    """The sandbox database. `path=None` keeps everything in memory."""

    def __init__(self, path: str | Path | None = None) -> None:
        self._lock = threading.RLock()
        target = ":memory:" if path is None else str(path)
        try:
            self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {target}: {exc}") from exc
        try:
            self._setup(file_backed=path is not None)
        except (sqlite3.Error, StoreError) as exc:
            self._db.close()
            raise StoreError(f"cannot use database {target}: {exc}") from exc

    def _setup(self, *, file_backed: bool) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"its schema {version} is newer than this sandbox's ({SCHEMA_VERSION})"
            )
        if file_backed:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._db.close()

    # -- sources -------------------------------------------------------------------------------

    def register_source(self, slug: str, *, now: float) -> Source:
        """The source with this slug, created on first sight (the gateway's auto-registration)."""
        with self._lock:
            found = self._source_where("slug = ?", slug)
            if found is not None:
                return found
            source = Source(str(uuid.uuid4()), slug, slug)
            self._db.execute(
                "INSERT INTO sources (id, slug, name, created_at) VALUES (?, ?, ?, ?)",
                (source.id, source.slug, source.name, now),
            )
            return source

    def resolve_source(self, ref: str) -> Source | None:
        """A source by UUID or slug (the app's `resolveRef`)."""
        with self._lock:
            return self._source_where("id = ?", ref) or self._source_where("slug = ?", ref)

    def _source_where(self, clause: str, value: str) -> Source | None:
        row = self._db.execute(
            f"SELECT id, slug, name FROM sources WHERE {clause}", (value,)
        ).fetchone()
        return None if row is None else Source(*row)

    # -- telemetry and events ------------------------------------------------------------------

    def insert_telemetry(self, rows: Iterable[tuple[str, str, int, float, str]]) -> int:
        """Append `(source_id, metric, ts_ms, value, tags_json)` rows in one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                cursor = self._db.executemany(
                    "INSERT INTO telemetry (source_id, metric, ts, value, tags)"
                    " VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return cursor.rowcount

    def insert_events(self, rows: Sequence[tuple[str, str, int, str, str, int]]) -> None:
        """Append `(source_id, name, ts_ms, body, tags_json, ingested_at_ms)` event rows."""
        with self._lock:
            self._db.executemany(
                "INSERT INTO events (source_id, name, ts, body, tags, ingested_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def query_events(
        self, *, source: str | None = None, name: str | None = None, after_id: int = 0
    ) -> list[tuple[int, str, str, int, str, str, int]]:
        """`(id, source_id, name, ts_ms, body, tags_json, ingested_at_ms)` event rows with
        id > after_id, optionally of one source and name, oldest first."""
        where: list[str] = ["id > ?"]
        args: list[object] = [after_id]
        for column, value in (("source_id", source), ("name", name)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = (
            "SELECT id, source_id, name, ts, body, tags, ingested_at FROM events"
            f" WHERE {' AND '.join(where)} ORDER BY id"
        )
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def query_telemetry(
        self, *, source: str | None, metrics: Sequence[str], from_ms: int, to_ms: int, limit: int
    ) -> list[TelemetryRow]:
        """The newest `limit` rows in `[from_ms, to_ms]`, returned oldest first (docs/plexus-contract.md §1.5)."""
        where = ["ts >= ?", "ts <= ?"]
        args: list[object] = [from_ms, to_ms]
        if source is not None:
            where.append("source_id = ?")
            args.append(source)
        if len(metrics) == 1:
            where.append("metric = ?")
            args.append(metrics[0])
        elif metrics:
            where.append("metric IN (SELECT value FROM json_each(?))")
            args.append(json.dumps(list(metrics)))
        sql = (
            "SELECT source_id, metric, value, ts, tags FROM ("
            " SELECT id, source_id, metric, value, ts, tags FROM telemetry"
            f" WHERE {' AND '.join(where)} ORDER BY ts DESC, id DESC LIMIT ?"
            ") ORDER BY ts ASC, id ASC"
        )
        with self._lock:
            return self._db.execute(sql, (*args, limit)).fetchall()

    def fleet_buckets(
        self, *, metric: str, from_ms: int, to_ms: int, bucket_ms: int, limit: int
    ) -> list[tuple[str, int, float, float, float, int, int]]:
        """Per (source, bucket) min, max, avg and count of `metric` in `[from_ms, to_ms]`, and
        the source's newest row; the first `limit` by (source, bucket) (the rollups' view)."""
        sql = (
            "SELECT t.source_id, t.ts / ? * ? AS bucket, MIN(t.value), MAX(t.value),"
            " AVG(t.value), COUNT(*), n.newest FROM telemetry t"
            " JOIN (SELECT source_id, MAX(ts) AS newest FROM telemetry WHERE metric = ?"
            " GROUP BY source_id) n ON n.source_id = t.source_id"
            " WHERE t.metric = ? AND t.ts >= ? AND t.ts <= ?"
            " GROUP BY t.source_id, bucket ORDER BY t.source_id, bucket LIMIT ?"
        )
        args = (bucket_ms, bucket_ms, metric, metric, from_ms, to_ms, limit)
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def row_count(self) -> int:
        """Telemetry rows stored."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM telemetry").fetchone()[0])

    def event_count(self) -> int:
        """Event rows stored (class=event points, which never reach telemetry)."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    # -- monitors ------------------------------------------------------------------------------

    def upsert_monitor(
        self, kind: str, source: Source, metric: str, config: str, *, now: float
    ) -> str:
        """Create or overwrite the `kind` monitor of (source, metric), keeping id and created_at."""
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM monitors WHERE source_uuid = ? AND metric = ? AND kind = ?",
                (source.id, metric, kind),
            ).fetchone()
            if row is not None:
                self._db.execute("UPDATE monitors SET config = ? WHERE id = ?", (config, row[0]))
                return str(row[0])
            return self.add_monitor(kind, source, metric, config, now=now)

    def add_monitor(
        self, kind: str, source: Source, metric: str, config: str, *, now: float
    ) -> str:
        """Insert a monitor record (offline monitors are never deduplicated, as in Plexus)."""
        monitor_id = str(uuid.uuid4())
        with self._lock:
            self._db.execute(
                "INSERT INTO monitors (id, kind, source_uuid, metric, config, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (monitor_id, kind, source.id, metric, config, now),
            )
        return monitor_id

    def delete_monitors(self, source: Source, metric: str, kinds: Sequence[str]) -> int:
        """Delete the given kinds of monitor of (source, metric); returns how many went."""
        with self._lock:
            marks = ", ".join("?" for _ in kinds)
            cursor = self._db.execute(
                f"DELETE FROM monitors WHERE source_uuid = ? AND metric = ? AND kind IN ({marks})",
                (source.id, metric, *kinds),
            )
            return cursor.rowcount

    def delete_monitor_by_id(self, monitor_id: str, kind: str) -> int:
        """Delete one monitor by id; returns 0 or 1."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM monitors WHERE id = ? AND kind = ?", (monitor_id, kind)
            )
            return cursor.rowcount

    def monitors(self, kind: str | None = None) -> list[MonitorRow]:
        """Monitor records with their sources, newest first."""
        sql = (
            "SELECT m.id, m.kind, s.id, s.slug, s.name, m.metric, m.config, m.created_at"
            " FROM monitors m JOIN sources s ON s.id = m.source_uuid"
        )
        args: tuple[str, ...] = ()
        if kind is not None:
            sql += " WHERE m.kind = ?"
            args = (kind,)
        sql += " ORDER BY m.created_at DESC, m.rowid DESC"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [MonitorRow(r[0], r[1], Source(r[2], r[3], r[4]), r[5], r[6], r[7]) for r in rows]

    # -- alert events --------------------------------------------------------------------------

    def append_alert_event(self, event: str, data: str, *, now: float) -> int:
        """Record an `alert.triggered` / `alert.resolved` event; returns its id."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO alert_events (event, created_at, data) VALUES (?, ?, ?)",
                (event, now, data),
            )
            return int(cursor.lastrowid or 0)

    def alert_events(self, *, after_id: int = 0) -> list[tuple[int, str, float, str]]:
        """`(id, event, created_at, data_json)` rows with id > after_id, oldest first."""
        with self._lock:
            return self._db.execute(
                "SELECT id, event, created_at, data FROM alert_events WHERE id > ? ORDER BY id",
                (after_id,),
            ).fetchall()
