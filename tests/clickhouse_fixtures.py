"""Plexus's ClickHouse telemetry table in embedded ClickHouse (chdb), for the `--clickhouse` tests.

The layout is docs/plexus-contract.md §6 exactly, except the engine: `ReplicatedMergeTree` needs a
ZooKeeper, so the table is the same `MergeTree` (keys, partitioning, TTL) without replication,
and the TTL's move to the S3 volume is left out (no such volume here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

PLEXUS_TELEMETRY = """
CREATE TABLE IF NOT EXISTS plexus.telemetry
(
    org_id LowCardinality(String),
    source_id LowCardinality(String),
    timestamp DateTime64(3, 'UTC'),
    metric LowCardinality(String),
    value Float64,
    tags Map(LowCardinality(String), String),
    metadata String,
    _ingested_at DateTime64(3, 'UTC'),
    _loaded_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY (cityHash64(org_id) % 16, toYYYYMM(timestamp))
ORDER BY (org_id, source_id, metric, timestamp)
TTL toDateTime(timestamp) + INTERVAL 1095 DAY DELETE
"""


def create_plexus_store(path: Path, rows: Iterable[Mapping[str, Any]], *, org: str) -> int:
    """A chdb data directory holding `plexus.telemetry` with `rows` (Plexus API rows)."""
    from chdb import session

    lines = [
        orjson.dumps(
            {
                "org_id": org,
                "source_id": r["source_id"],
                "timestamp": r["timestamp"],
                "metric": r["metric"],
                "value": r["value"],
                "tags": r.get("tags") or {},
                "metadata": "{}",
                "_ingested_at": r["timestamp"],
                "_loaded_at": r["timestamp"],
            }
        )
        for r in rows
    ]
    s = session.Session(str(path))
    try:
        s.query("CREATE DATABASE IF NOT EXISTS plexus")
        s.query(PLEXUS_TELEMETRY)
        for at in range(0, len(lines), 50_000):
            body = b"\n".join(lines[at : at + 50_000]).decode()
            s.query(f"INSERT INTO plexus.telemetry FORMAT JSONEachRow\n{body}")
    finally:
        s.close()
    return len(lines)
