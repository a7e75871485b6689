"""`Sandbox`: a local Plexus stand-in on a background thread, plus direct data access for tests.

```python
from fleetscan.sandbox import Sandbox

with Sandbox(port=0) as sb:  # port 0 picks a free port
    sb.insert(readings)  # backfill without HTTP
    httpx.get(f"{sb.endpoint}/api/v1/telemetry", headers={"x-api-key": sb.read_key})
    sb.alert_events()  # alert.triggered / alert.resolved, oldest first
```
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy.typing as npt

from fleetscan.errors import ConfigError
from fleetscan.sandbox.backend import Backend, default_log
from fleetscan.sandbox.handler import SandboxServer
from fleetscan.sandbox.keys import DEV_KEYS, KeySet
from fleetscan.sandbox.store import SandboxStore, StoreError
from fleetscan.telemetry import Reading

if TYPE_CHECKING:  # only its type: the sandbox runs without the simulator
    from fleetscan.simulate import SimulatedFleet


class Sandbox:
    """A Plexus-compatible server (app API and gateway on one port) backed by SQLite.

    `db_path=None` keeps data in memory; a path keeps it across restarts. `clock` returns epoch
    seconds and drives everything that Plexus takes from its own wall clock: the default query
    window, the receive time of points without a timestamp, and the alert engine. `quiet=False`
    prints one line per alert event to stderr.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        db_path: str | Path | None = None,
        quiet: bool = True,
        clock: Callable[[], float] | None = None,
        keys: KeySet = DEV_KEYS,
    ) -> None:
        self.host = host
        self.port = port
        self.db_path = None if db_path is None else Path(db_path)
        self.quiet = quiet
        self.clock: Callable[[], float] = clock or time.time
        self.keys = keys
        self.read_key = keys.read
        self.write_key = keys.write
        self.read_only_key = keys.read_only
        self._backend: Backend | None = None
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Open the database, bind the port and serve on a daemon thread."""
        if self._server is not None:
            return self
        try:
            store = SandboxStore(self.db_path)
        except StoreError as exc:
            raise ConfigError(f"{exc}; pass another --db path") from exc
        backend = Backend(
            store,
            clock=self.clock,
            log=None if self.quiet else default_log,
            key_scopes=self.keys.scopes,
        )
        try:
            server = SandboxServer((self.host, self.port), backend, quiet=self.quiet)
        except OSError as exc:
            store.close()
            reason = exc.strerror or str(exc)
            raise ConfigError(
                f"cannot listen on {self.host}:{self.port}: {reason}; pick another --port"
            ) from exc
        self._backend, self._server = backend, server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"plexus-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close client connections and the database (idempotent)."""
        server, thread, backend = self._server, self._thread, self._backend
        if server is None or backend is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        backend.store.close()
        self._server = self._thread = self._backend = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The app API base URL (`PLEXUS_ENDPOINT`), e.g. `http://127.0.0.1:8787`."""
        host = self.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def gateway_url(self) -> str:
        """The gateway base URL (`PLEXUS_GATEWAY_URL`): the same server."""
        return self.endpoint

    @property
    def ws_url(self) -> str:
        """`PLEXUS_GATEWAY_WS_URL` for plexus-python: answers 404, so the SDK falls back to HTTP."""
        return "ws" + self.endpoint.removeprefix("http")

    # -- data -----------------------------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        """The running backend (raises if the sandbox is not started)."""
        if self._backend is None:
            raise RuntimeError("the sandbox is not running: call start() or use it in a with block")
        return self._backend

    def insert(self, readings: Iterable[Reading], *, evaluate_alerts: bool = False) -> int:
        """Backfill readings straight into storage (no HTTP, timestamps kept as given).

        Registers their sources, so monitors can be created for them. With `evaluate_alerts=True`
        the readings also go through the alert engine, as live `/ingest` points do. Returns rows
        stored (non-finite values are skipped: Plexus never stores them).
        """
        return self.backend.insert_readings(readings, evaluate_alerts=evaluate_alerts)

    def insert_arrays(
        self,
        source_id: str,
        metric: str,
        ts_ms: npt.ArrayLike,
        values: npt.ArrayLike,
        tags: Mapping[str, str] | None = None,
    ) -> int:
        """Backfill one series from arrays of epoch ms and values. Returns rows stored."""
        return self.backend.insert_arrays(source_id, metric, ts_ms, values, tags)

    def alert_events(self) -> list[dict[str, object]]:
        """`alert.triggered` / `alert.resolved` events, oldest first:
        `{"id", "event", "created_at", "data": {alertId, sourceSlug, metric, value, threshold,
        bound, severity, status, triggeredAt, resolvedAt, reason, …}}`."""
        return self.backend.alert_events()

    def source_events(
        self, *, source: str | None = None, name: str | None = None
    ) -> list[dict[str, object]]:
        """Stored class=event points (`{"id", "source_id", "name", "timestamp", "value", "tags",
        "ingested_at"}`), oldest first: e.g. the `fleetscan.alert` events sweeps post."""
        return self.backend.source_events(source=source, name=name)

    def monitors(self) -> list[dict[str, object]]:
        """The monitors as `GET /api/monitors` lists them."""
        return self.backend.list_monitors()

    def row_count(self) -> int:
        """Telemetry rows stored."""
        return self.backend.store.row_count()


def backfill_fleet(sb: Sandbox, fleet: SimulatedFleet, *, end_ms: int | None = None) -> int:
    """Insert every board's simulated history (before `end_ms`, else all of it) straight into the
    sandbox's store, tags included (`fleetscan sandbox --simulate`, the demo). Returns rows stored."""
    from fleetscan.simulate import METRICS

    total = 0
    for board in fleet.boards:
        tags = fleet.tags(board)
        for metric in METRICS:
            ts, values = fleet.series(board, metric, end_ms=end_ms)
            total += sb.insert_arrays(board, metric, ts, values, tags)
    return total
