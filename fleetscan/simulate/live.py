"""Live mode: play a `SimulatedFleet` against a gateway in (scaled) real time.

One background thread drives the whole fleet. The simulated clock runs at `speed` × real time from
`spec.start_ms`; every tick (one cadence of simulated time, at most 1 s of real time) each board
sends the samples whose nominal time has passed, as one `send_batch` per board through its own
real plexus-python client (`source_id` = board, tags = room and site). Lost packets and gateway
gaps are simply never sent; NaN readings are skipped (plexus-python refuses non-finite metrics).
A failed send is counted in `LiveStats`; plexus-python keeps the points and retries them with the
board's next batch, except after a 400, which can never succeed and is dropped.

With `speed > 1` timestamps run ahead of the wall clock unless `spec.start_ms` is in the past.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleetscan.emitter import ws_url_for
from fleetscan.errors import InputError, redact
from fleetscan.simulate.fleet import SimulatedFleet
from fleetscan.simulate.generate import Block
from fleetscan.simulate.model import CHUNK, METRICS, FleetSpec

SdkPoint = tuple[str, float, int]  # (metric, value, ts_ms), the shape `Plexus.send_batch` takes
Send = Callable[[str, dict[str, str], list[SdkPoint]], None]


@dataclass
class LiveStats:
    """Running totals, updated by the driving thread."""

    points_sent: int = 0
    batches_sent: int = 0
    batches_failed: int = 0
    last_error: str = ""
    finished: bool = False


def drive(
    fleet: SimulatedFleet,
    send: Send,
    *,
    stop_event: threading.Event,
    speed: float = 1.0,
    metrics: Iterable[str] = METRICS,
    stats: LiveStats | None = None,
    clock: Callable[[], float] = time.monotonic,
    from_ms: int | None = None,
) -> LiveStats:
    """Call `send(board, tags, points)` as the simulated clock passes each board's samples.

    `from_ms` starts the simulated clock there instead of at `spec.start_ms`, skipping the samples
    before it (they were backfilled directly), so a backfilled history continues seamlessly live.

    Returns when `stop_event` is set or every sample up to the end of the spec has been offered.
    An exception from `send` is counted and the loop goes on (a device keeps sampling).
    """
    if not speed > 0:
        raise InputError(f"speed must be > 0, got {speed!r}")
    stats = stats if stats is not None else LiveStats()
    wanted = tuple(metrics)
    sampler, spec = fleet._sampler, fleet.spec
    boards = list(sampler.layout.boards)
    tags = {b.name: fleet.tags(b.name) for b in boards}
    start_ms = spec.start_ms if from_ms is None else from_ms
    next_k = {b.name: sampler.index_at(b, start_ms) if from_ms is not None else 0 for b in boards}
    blocks: dict[str, Block] = {}
    tick_s = min(max(spec.cadence_s / speed, 0.01), 1.0)
    wall0 = clock()
    while not stop_event.is_set():
        sim_now = start_ms + int((clock() - wall0) * 1000 * speed)
        done = True
        for board in boards:
            k_hi = sampler.index_at(board, sim_now + 1)  # nominal time <= sim_now
            points: list[SdkPoint] = []
            while next_k[board.name] < k_hi:
                k = next_k[board.name]
                block = blocks.get(board.name)
                if block is None or not block.k0 <= k < block.k0 + len(block.ts):
                    c0 = k - k % CHUNK
                    block = blocks[board.name] = sampler.block(board, c0, c0 + CHUNK, wanted)
                stop = min(k_hi, block.k0 + len(block.ts))
                points.extend(_points(block, k - block.k0, stop - block.k0, wanted))
                next_k[board.name] = stop
            if points:
                try:
                    send(board.name, dict(tags[board.name]), points)
                except Exception as exc:  # any gateway or client trouble: count it, keep going
                    stats.batches_failed += 1
                    stats.last_error = redact(f"{board.name}: {type(exc).__name__}: {exc}")[:300]
                else:
                    stats.batches_sent += 1
                    stats.points_sent += len(points)
            done = done and next_k[board.name] >= board.samples
        if done:
            stats.finished = True
            break
        stop_event.wait(tick_s)
    return stats


def _points(block: Block, i0: int, i1: int, metrics: tuple[str, ...]) -> list[SdkPoint]:
    """Present, finite readings of block rows `i0..i1-1`, sample by sample, metrics in order."""
    points: list[SdkPoint] = []
    ts = block.ts[i0:i1].tolist()
    columns = []
    for metric in metrics:
        values = block.values[metric][i0:i1]
        ok = block.present[metric][i0:i1] & np.isfinite(values)
        columns.append((metric, values.tolist(), ok.tolist()))
    for row, t in enumerate(ts):
        for metric, values, ok in columns:
            if ok[row]:
                points.append((metric, values[row], t))
    return points


def run_live(
    spec: FleetSpec,
    *,
    api_key: str,
    gateway_url: str,
    stop_event: threading.Event,
    speed: float = 1.0,
    timeout: float = 5.0,
    max_retries: int = 0,
    stats: LiveStats | None = None,
    from_ms: int | None = None,
) -> LiveStats:
    """Play `spec` through one real `plexus.Plexus` client per board; blocks until done/stopped.

    Clients use an in-memory buffer, the gateway's host for HTTP and WebSocket, and no first-send
    WebSocket wait. `max_retries` is plexus-python's per-send retry count (0: a down gateway costs
    one failed attempt per board and tick, and the points wait in the client's buffer).
    """
    from plexus import Plexus  # imported here: the simulator itself needs no client
    from plexus.config import RetryConfig

    base = gateway_url.rstrip("/")
    clients: dict[str, Any] = {}

    def send(board: str, tags: dict[str, str], points: list[SdkPoint]) -> None:
        px = clients.get(board)
        if px is None:
            px = Plexus(
                api_key=api_key,
                source_id=board,
                persistent_buffer=False,
                timeout=timeout,
                retry_config=RetryConfig(max_retries=max_retries, base_delay=0.5, max_delay=2.0),
                ws_url=ws_url_for(base),
            )
            px.gateway_url = base  # the constructor reads only the environment and config file
            px._ws_auth_waited = True  # skip the up-to-5 s first-send wait for a WebSocket
            clients[board] = px
        try:
            px.send_batch(points, tags=tags)
        except Exception as exc:
            if "Bad request" in str(exc):  # a 400 never succeeds: don't let it block the queue
                px._clear_buffer()
            raise

    try:
        return drive(
            SimulatedFleet(spec),
            send,
            stop_event=stop_event,
            speed=speed,
            stats=stats,
            from_ms=from_ms,
        )
    finally:
        if clients:  # each close joins two SDK threads (~0.5 s): close them side by side
            with ThreadPoolExecutor(max_workers=min(16, len(clients))) as pool:
                list(pool.map(_close_quietly, clients.values()))


def _close_quietly(px: Any) -> None:
    try:
        px._clear_buffer()  # a simulated reading not delivered by now is lost, as on a device
        px.close()
    except Exception:  # closing must not mask the loop's own outcome
        pass


class LiveFleet:
    """`run_live` on one daemon thread: `start()`, then `stop()`; `stats` updates as it runs.

    >>> live = LiveFleet(FleetSpec(boards=2, start_ms=1781258400000), api_key="plx_x",
    ...                  gateway_url="http://127.0.0.1:9")
    >>> live.running
    False
    """

    def __init__(
        self,
        spec: FleetSpec,
        *,
        api_key: str,
        gateway_url: str,
        speed: float = 1.0,
        timeout: float = 5.0,
        max_retries: int = 0,
        from_ms: int | None = None,
    ) -> None:
        self.spec = spec
        self.stats = LiveStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._kwargs: dict[str, Any] = {
            "api_key": api_key,
            "gateway_url": gateway_url,
            "speed": speed,
            "timeout": timeout,
            "max_retries": max_retries,
            "from_ms": from_ms,
        }

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=run_live,
            args=(self.spec,),
            name="fleetscan-simulate",
            daemon=True,
            kwargs={**self._kwargs, "stop_event": self._stop, "stats": self.stats},
        )
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Ask the loop to stop and wait (up to `timeout` s) for its clients to close."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the run to finish by itself (the end of the spec's window)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> LiveFleet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
