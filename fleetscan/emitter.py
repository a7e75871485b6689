"""Posting fleetscan's own metrics back into Plexus through plexus-python.

Design, for 1 to 10,000+ sources:
- ONE `plexus.Plexus` client for every source. The gateway takes a per-point `source_id` that wins
  over the top-level one (plexus-api.md §4.2), so each point names its own source and a whole sweep
  goes out as a handful of gzip-compressed HTTP requests of at most `CHUNK_POINTS` points: no thread,
  socket or client per source.
- We use plexus-python's HTTP path (`_send_http`: gzip, auth mapping, bounded retries) directly and do
  not start its WebSocket transport. A WebSocket is bound to one source, would add a background thread,
  and would send the key to a WebSocket URL we did not configure.
- Nothing is lost when the gateway is down: `send()` returns the points that were not delivered and
  the caller keeps them (the sweep state's outbox, or the device loop's pending queue) for the next
  try. plexus-python's own buffer is cleared after each failure so nothing is sent twice by it.
- Points the gateway rejects as invalid (400) can never succeed; they are dropped and counted instead
  of blocking the queue forever, the failure mode of the C SDK (§7.4) and of plexus-python (§4.3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetscan.errors import EmitError, redact
from fleetscan.points import Point as Point  # re-exported: posting is where callers look

CHUNK_POINTS = 5_000  # plexus-python's own chunk size; the gateway takes up to 10,000 per request


@dataclass
class EmitResult:
    """What happened to one `send()`: delivered and rejected counts, and what is still pending."""

    delivered: int = 0
    rejected: int = 0
    undelivered: list[Point] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.undelivered and not self.error


class Emitter:
    """Posts `Point`s through plexus-python; `dry_run=True` posts nothing and reports success."""

    def __init__(
        self,
        *,
        api_key: str,
        gateway_url: str,
        dry_run: bool = False,
        timeout_s: float = 5.0,
        retries: int = 1,
    ) -> None:
        self.dry_run = dry_run
        self.gateway_url = gateway_url.rstrip("/")
        self._px: Any = None
        if not dry_run:
            from plexus import Plexus  # imported here: a dry run needs no key and no client
            from plexus.config import RetryConfig

            self._px = Plexus(
                api_key=api_key,
                source_id="fleetscan",
                timeout=timeout_s,
                retry_config=RetryConfig(max_retries=retries, base_delay=0.5, max_delay=2.0),
                persistent_buffer=False,
                ws_url=ws_url_for(self.gateway_url),
            )
            self._px.gateway_url = self.gateway_url  # the constructor reads only the environment

    def send(self, points: Sequence[Point]) -> EmitResult:
        """Post `points`; never raises for gateway trouble, see `EmitResult`. Auth errors raise."""
        result = EmitResult()
        finite = [p for p in points if math.isfinite(p.value)]
        result.rejected += len(points) - len(finite)
        if self.dry_run or not finite:
            result.delivered += len(finite) if self.dry_run else 0
            return result
        from plexus.client import AuthenticationError

        for start in range(0, len(finite), CHUNK_POINTS):
            chunk = finite[start : start + CHUNK_POINTS]
            try:
                self._px._send_http([p.wire() for p in chunk])
            except AuthenticationError as exc:
                raise EmitError(f"gateway {self.gateway_url} refused the key: {exc}") from None
            except Exception as exc:  # plexus-python raises PlexusError for everything else
                message = redact(str(exc)).splitlines()[0][:200]
                self._px._clear_buffer()
                if "Bad request" in message:  # a 400/422 can never succeed: drop, don't block
                    result.rejected += len(chunk)
                    result.error = f"gateway rejected {len(chunk)} points: {message}"
                    continue
                result.undelivered.extend(finite[start:])
                result.error = f"gateway {self.gateway_url} unavailable: {message}"
                break
            result.delivered += len(chunk)
        return result

    def close(self) -> None:
        if self._px is not None:
            self._px._clear_buffer()  # our callers keep undelivered points themselves
            self._px.close()
            self._px = None

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ws_url_for(gateway_url: str) -> str:
    """The WebSocket URL on the same host as the gateway, so plexus-python never reaches elsewhere."""
    if gateway_url.startswith("https://"):
        return "wss://" + gateway_url.removeprefix("https://")
    return "ws://" + gateway_url.removeprefix("http://")
