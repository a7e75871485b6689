"""The HTTP session plexus-python posts `/ingest` through, configured by fleetscan.

plexus-python 0.16 posts with `urllib.request.urlopen` inside its `_Session` (client.py). That
opener follows 301/302/303 as a GET that still carries `x-api-key` to whatever host `Location`
names, and it counts any status below 400 as delivered, so a 307 "succeeds" too. Its timeout is
per socket read, so a body that drips one byte a second holds a request for ever.

`GatewaySession` replaces that session on the client (`Plexus._session`), so plexus-python keeps
its own gzip, auth mapping and retries, and every request it makes goes through rules we own:

- redirects are never followed: a 3xx raises `NotDelivered` (the points are kept, the key stays);
- a 2xx counts only with the gateway's acknowledgement, a JSON object with `"success": true`
  (docs/plexus-contract.md §4.2); an HTML page from a proxy or a captive portal is `NotDelivered`;
- each request, connection and body included, ends by `deadline_s`, however slowly bytes arrive.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from email.message import Message
from typing import IO, Any

from plexus.client import _ConnError, _Response, _Session, _Timeout

MAX_BODY_BYTES = 1 << 20  # the gateway's answers are a few dozen bytes; a megabyte is plenty


class NotDelivered(Exception):
    """The gateway's answer does not prove the points were taken (a redirect, no acknowledgement).

    Not an `OSError`, so plexus-python does not retry it: it reaches `Emitter.send` at once."""


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Make a 3xx an `HTTPError` instead of a new request to the `Location` host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class GatewaySession(_Session):  # type: ignore[misc]  # plexus-python ships no type hints
    """plexus-python's session contract (`post`, `request`, `headers`, `close`) with our rules."""

    def __init__(self, *, deadline_s: float) -> None:
        super().__init__()
        self.deadline_s = deadline_s
        self._opener = urllib.request.build_opener(_RefuseRedirects())

    def request(
        self,
        method: str,
        url: str,
        data: bytes = b"",
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Any:
        deadline = time.monotonic() + self.deadline_s
        req = urllib.request.Request(
            url, data=data, headers={**self.headers, **(headers or {})}, method=method
        )
        try:
            with self._opener.open(req, timeout=min(timeout, self.deadline_s)) as resp:
                status, body = resp.status, _read(resp, deadline, url)
                response_headers: Message = resp.headers
        except urllib.error.HTTPError as exc:
            status, response_headers = exc.code, exc.headers
            body = _read(exc.fp, deadline, url) if exc.fp is not None else ""
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, socket.timeout | TimeoutError):
                raise _Timeout(str(exc.reason)) from None
            raise _ConnError(str(exc.reason)) from None
        except TimeoutError as exc:
            raise _Timeout(str(exc) or "timed out") from None
        except (ConnectionError, OSError) as exc:
            raise _ConnError(str(exc)) from None
        if 300 <= status < 400:
            where = (response_headers.get("location") or "").split("?")[0] or "nowhere"
            raise NotDelivered(
                f"the gateway answered {status} redirecting to {where}: not followed "
                "(the key is sent to the configured gateway only)"
            )
        if 200 <= status < 300 and not _acknowledged(body):
            kind = (response_headers.get("content-type") or "no content type").split(";")[0]
            raise NotDelivered(
                f"the gateway answered {status} with {kind} but no acknowledgement "
                '({"success": true}): is --gateway-url a Plexus gateway?'
            )
        if status < 200:
            raise NotDelivered(f"the gateway answered {status}")
        return _Response(status, body)


def _acknowledged(body: str) -> bool:
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("success") is True


def _read(stream: IO[bytes] | Any, deadline: float, url: str) -> str:
    """The body, read as it arrives, until EOF, `MAX_BODY_BYTES`, or the deadline (`_Timeout`)."""
    chunks: list[bytes] = []
    size = 0
    read = getattr(stream, "read1", None) or stream.read
    while size < MAX_BODY_BYTES:
        if time.monotonic() > deadline:
            raise _Timeout(f"{url} still sending its answer at the deadline")
        try:
            chunk = read(65536)
        except TimeoutError as exc:
            raise _Timeout(str(exc) or "timed out") from None
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")
