"""A local server that behaves like Plexus, for tests, demos and offline work.

It answers the routes fleetscan and plexus-python use, as docs/plexus-contract.md describes them:

- `GET /api/v1/telemetry`, `GET/POST/PATCH/DELETE /api/monitors` (the app API);
- `POST /ingest` and `GET /ws/device` (404, so plexus-python falls back to HTTP) (the gateway);
- `GET /api/sandbox/alerts` (sandbox only: the `alert.triggered` / `alert.resolved` events that the
  built-in alert engine, which follows houston's rules, has recorded, each with the source's
  latest `fleetscan.alert` event as its `contextSnapshot`) and `GET /api/sandbox/events` (the
  class=event points stored, which Plexus keeps in its events table), and `GET /sandbox/alerts`,
  the same alerts with their reasons as a page for a browser.

Layout: `service.Sandbox` (lifecycle and the Python API) → `handler` (HTTP) → `app_routes`,
`gateway_routes` (one function per route) → `backend` (behaviour) → `store` (SQLite) and
`alerts` (the engine). `ingest`, `telemetry_query`, `monitor_schema` and `jsparse` are the pure
validators. Keys are in `keys`.
"""

from __future__ import annotations

from fleetscan.sandbox.ingest import IngestPoint, validate_ingest_body
from fleetscan.sandbox.keys import READ_KEY, READ_ONLY_KEY, WRITE_KEY
from fleetscan.sandbox.service import Sandbox, backfill_fleet

__all__ = [
    "READ_KEY",
    "READ_ONLY_KEY",
    "WRITE_KEY",
    "IngestPoint",
    "Sandbox",
    "backfill_fleet",
    "validate_ingest_body",
]
