"""Posting fleetscan's own metrics back into Plexus through plexus-python.

Design, for 1 to 10,000+ sources:
- ONE `plexus.Plexus` client for every source. The gateway takes a per-point `source_id` that wins
  over the top-level one (docs/plexus-contract.md §4.2), so each point names its own source and a whole sweep
  goes out as a handful of gzip-compressed HTTP requests of at most `CHUNK_POINTS` points: no thread,
  socket or client per source.
- We use plexus-python's HTTP path (`_send_http`: gzip, auth mapping, bounded retries) directly and do
  not start its WebSocket transport. A WebSocket is bound to one source, would add a background thread,
  and would send the key to a WebSocket URL we did not configure.
- Nothing is lost when the gateway is down: `send()` returns the points that were not delivered and
  the caller keeps them (the sweep state's outbox, or the device loop's pending queue) for the next
  try. plexus-python's own buffer is cleared after each failure so nothing is sent twice by it.
- Nothing is claimed delivered without the gateway's word: plexus-python posts through our
  `GatewaySession` (gateway_session.py), which never follows a redirect (the key stays with the
  configured gateway), counts a 2xx only with `{"success": true}`, and ends each request by a
  deadline however slowly the answer drips in. Anything else leaves the points undelivered.
- The gateway refuses a whole request for its first bad point (400, §4.2). Such a chunk is split in
  halves until the refused points are alone: those are dropped (they can never succeed) and named
  with the gateway's reason; every other point is delivered or kept. That avoids both failure modes,
  blocking the queue forever (the C SDK, §7.4; plexus-python, §4.3) and dropping good points with
  one bad one.
- plexus-python's own stderr banners are silenced by the CLI (`PLEXUS_QUIET`, fleetscan.cli): they
  name plexus.company hosts whatever gateway is configured; fleetscan says what happened itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetscan.errors import EmitError, redact
from fleetscan.points import Point as Point  # re-exported: posting is where callers look

CHUNK_POINTS = 5_000  # plexus-python's own chunk size; the gateway takes up to 10,000 per request


@dataclass
class EmitResult:
    """What happened to one `send()`: what was delivered, refused, and what is still pending.

    `refused` are the points the gateway will never take, each with its reason; `refusal` says it
    in one line. `error` says why `undelivered` points were not delivered (they are worth a retry).
    """

    delivered: int = 0
    rejected: int = 0
    undelivered: list[Point] = field(default_factory=list)
    error: str = ""
    refused: list[tuple[Point, str]] = field(default_factory=list)
    kept_events: list[dict[str, Any]] = field(default_factory=list)  # `send_events`: to retry

    @property
    def ok(self) -> bool:
        return not self.undelivered and not self.error and not self.refused

    @property
    def refusal(self) -> str:
        """One line on the refused points ("" if none): how many, which, and the first reason."""
        if not self.refused:
            return ""
        first, reason = self.refused[0]
        more = f" and {len(self.refused) - 1} more" if len(self.refused) > 1 else ""
        return (
            f"the gateway refused {len(self.refused)} points (dropped: they can never succeed), "
            f"e.g. {first.source_id}/{first.metric} at {first.ts_ms}{more}: {reason}"
        )


MAX_SPLIT_REQUESTS = 64  # extra requests one send may make to isolate refused points


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
            from plexus import Plexus, __version__  # imported here: a dry run needs no client
            from plexus.config import RetryConfig

            from fleetscan.gateway_session import GatewaySession

            self._px = Plexus(
                api_key=api_key,
                source_id="fleetscan",
                timeout=timeout_s,
                retry_config=RetryConfig(max_retries=retries, base_delay=0.5, max_delay=2.0),
                persistent_buffer=False,
                ws_url=ws_url_for(self.gateway_url),
            )
            self._px.gateway_url = self.gateway_url  # the constructor reads only the environment
            session = GatewaySession(deadline_s=timeout_s)
            session.headers.update(
                {
                    "x-api-key": api_key,
                    "Content-Type": "application/json",
                    "User-Agent": f"fleetscan/0.1 plexus-python/{__version__}",
                }
            )
            self._px._session = session  # every request plexus-python makes now goes through it

    def send(self, points: Sequence[Point]) -> EmitResult:
        """Post `points`; never raises for gateway trouble, see `EmitResult`. Auth errors raise."""
        result = EmitResult()
        finite = [p for p in points if math.isfinite(p.value)]
        result.rejected += len(points) - len(finite)
        if self.dry_run or not finite:
            result.delivered += len(finite) if self.dry_run else 0
            return result
        budget = [MAX_SPLIT_REQUESTS]
        for start in range(0, len(finite), CHUNK_POINTS):
            chunk = finite[start : start + CHUNK_POINTS]
            if not self._post(chunk, result, budget):
                result.undelivered.extend(finite[start + CHUNK_POINTS :])
                break
        result.rejected += len(result.refused)
        return result

    def _post(self, chunk: list[Point], result: EmitResult, budget: list[int]) -> bool:
        """Post one chunk into `result`; False when the gateway is unavailable (chunk kept)."""
        from plexus.client import AuthenticationError

        from fleetscan.gateway_session import NotDelivered

        try:
            self._px._send_http([p.wire() for p in chunk])
        except AuthenticationError:
            self._px._clear_buffer()
            raise EmitError(
                f"gateway {self.gateway_url} refused the key (401/403): check that "
                "PLEXUS_API_KEY is active and has the write scope"
            ) from None
        except Exception as exc:  # PlexusError, NotDelivered: plexus-python's tree is flat
            self._px._clear_buffer()
            message = redact(str(exc)).splitlines()[0][:300] if str(exc) else type(exc).__name__
            if isinstance(exc, NotDelivered) or not message.startswith("Bad request"):
                result.undelivered.extend(chunk)
                why = "" if isinstance(exc, NotDelivered) else " unavailable"
                result.error = f"gateway {self.gateway_url}{why}: {message}"
                return False
            reason = _gateway_reason(message)
            if len(chunk) == 1 or budget[0] <= 0:
                result.refused.extend((p, reason) for p in chunk)
                return True
            budget[0] -= 2
            half = len(chunk) // 2
            # The gateway refuses a request for its first bad point: split until it is alone.
            if not self._post(chunk[:half], result, budget):
                result.undelivered.extend(chunk[half:])
                return False
            return self._post(chunk[half:], result, budget)
        result.delivered += len(chunk)
        return True

    def send_events(self, events: Sequence[Mapping[str, Any]]) -> EmitResult:
        """Post `class: event` points (already in wire form, each naming its source) in one
        request; never raises for gateway trouble. When the gateway is unavailable (or refuses
        the key) the events come back in `kept_events`, for the caller's outbox; events it
        refuses as invalid (400) are dropped and counted in `rejected`: they can never succeed."""
        from fleetscan.gateway_session import NotDelivered

        result = EmitResult()
        if self.dry_run or not events:
            result.delivered = len(events) if self.dry_run else 0
            return result
        try:
            self._px._send_http([dict(e) for e in events])
        except Exception as exc:  # AuthenticationError or PlexusError: report, never raise
            self._px._clear_buffer()
            message = redact(str(exc)).splitlines()[0][:200] if str(exc) else type(exc).__name__
            if isinstance(exc, NotDelivered) or not message.startswith("Bad request"):
                result.kept_events = [dict(e) for e in events]
            else:
                result.rejected = len(events)
            result.error = message
        else:
            result.delivered = len(events)
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


def _gateway_reason(message: str) -> str:
    """`Bad request: 400 - {"error":"invalid metric"}` → `400 invalid metric`."""
    status, _, body = message.removeprefix("Bad request: ").partition(" - ")
    try:
        document = json.loads(body)
    except ValueError:
        return f"{status} {body}".strip()
    error = document.get("error") if isinstance(document, dict) else None
    return f"{status} {error}" if isinstance(error, str) else f"{status} {body}"


def ws_url_for(gateway_url: str) -> str:
    """The WebSocket URL on the same host as the gateway, so plexus-python never reaches elsewhere."""
    if gateway_url.startswith("https://"):
        return "wss://" + gateway_url.removeprefix("https://")
    return "ws://" + gateway_url.removeprefix("http://")
