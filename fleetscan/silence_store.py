"""Where `fleetscan silence add` keeps silences: the sweep state's `silences` table (SQLite).

The edge beside `fleetscan.state` (which creates the table); `fleetscan.silences` is the pure part
that applies them to a sweep's outcome.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from fleetscan.errors import InputError, StateError
from fleetscan.silences import Silence

TABLE = """
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT, source_id TEXT NOT NULL, metric TEXT,
    start_ms INTEGER NOT NULL, until_ms INTEGER, reason TEXT NOT NULL,
    created_ms INTEGER NOT NULL)
"""


def add(db: sqlite3.Connection, silence: Silence, *, now_ms: int, last_sweep_ms: int | None) -> int:
    """Store a silence; returns its id. Silences that ended before the last sweep are pruned:
    sweeps only move forward, so none will see them again."""
    try:
        db.execute("BEGIN IMMEDIATE")
        if last_sweep_ms is not None:
            db.execute(
                "DELETE FROM silences WHERE until_ms IS NOT NULL AND until_ms <= ?",
                (last_sweep_ms,),
            )
        cursor = db.execute(
            "INSERT INTO silences (source_id, metric, start_ms, until_ms, reason, created_ms)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                silence.source_id,
                silence.metric,
                silence.start_ms,
                silence.until_ms,
                silence.reason,
                now_ms,
            ),
        )
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise StateError(f"cannot store the silence: {exc}") from None
    return int(cursor.lastrowid or 0)


def stored(db: sqlite3.Connection) -> list[Silence]:
    """Every stored silence (expired ones included until pruned), oldest first."""
    try:
        rows = db.execute(
            "SELECT id, source_id, metric, start_ms, until_ms, reason FROM silences ORDER BY id"
        ).fetchall()
    except sqlite3.Error as exc:
        raise StateError(f"cannot read silences: {exc}") from None
    return [
        Silence(id=i, source_id=s, metric=m, start_ms=a, until_ms=u, reason=r)
        for i, s, m, a, u, r in rows
    ]


def read_only(path: Path) -> list[Silence]:
    """The silences stored in the state at `path`, for `fleetscan replay --state`: opened
    read-only (SQLite `mode=ro`), without the sweep lock, so a replay never writes the state nor
    waits for a running sweep. A state from before silences (schema < 3) has none."""
    if not path.is_file():
        raise InputError(f"--state {path}: no such file (the state `fleetscan fleet` writes)")
    try:
        db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StateError(f"cannot open {path} read-only: {exc}") from None
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return stored(db) if "silences" in tables else []
    except (sqlite3.Error, StateError) as exc:
        raise StateError(f"cannot read the silences in {path}: {exc}") from None
    finally:
        db.close()


def remove(db: sqlite3.Connection, ids: Iterable[int]) -> int:
    """Delete silences by id; returns how many there were."""
    wanted = list(ids)
    try:
        db.execute("BEGIN IMMEDIATE")
        removed = sum(
            db.execute("DELETE FROM silences WHERE id = ?", (i,)).rowcount for i in wanted
        )
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise StateError(f"cannot remove silences: {exc}") from None
    return removed
