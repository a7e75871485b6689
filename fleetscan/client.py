"""The Plexus read client: `/api/v1/telemetry` and `/api/monitors` over httpx.

Contracts (docs/plexus-contract.md §1, §2, §8) this module relies on:
- auth is the `x-api-key` header; without a `plx_` key Plexus answers 307 to /sign-in, which we never
  follow (following would send the key on to the redirect target and end in an HTML 200);
- rows come back oldest→newest, and when a window holds more than `limit` rows the *newest* are kept,
  so a big window is fetched by paging backwards in time; `from`/`to` are inclusive, so the rows at the
  page boundary are dropped from the newer page and fetched whole with the older one;
- errors map onto fleetscan's tree (errors.py); 5xx, 429, timeouts and connection errors are retried
  with exponential backoff and jitter (or after the server's `Retry-After`, when it names one)
  before `UnavailableError`;
- every request, its retries and its body included, ends by `deadline_s`: httpx's timeout is per
  read, so an answer dripping a byte a second would otherwise hold a sweep for ever;
- a 200 with empty `data` is not an error, but Plexus also answers it when ClickHouse timed out, so
  callers say so when it matters.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
import orjson

from fleetscan.errors import (
    AuthError,
    InputError,
    NotFoundError,
    PlexusError,
    ProtocolError,
    ScopeError,
    UnavailableError,
    ValidationError,
)
from fleetscan.telemetry import ParsedRows, parse_rows, row_timestamp_ms
from fleetscan.timeutil import iso_z

MAX_LIMIT = 100_000
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BODY_BYTES = 512 << 20  # a full 100,000-row page is ~25 MB; anything far beyond is not Plexus
USER_AGENT = "fleetscan/0.1"


class PlexusClient:
    """A small, synchronous client for the Plexus app API.

    `transport` lets tests plug in `httpx.MockTransport`; `sleep` lets them skip backoff waits;
    `jitter` (a number in [0, 1)) spreads retries of many sweeps that failed together.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        api_key: str,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        deadline_s: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.deadline_s = deadline_s
        self._jitter = jitter
        self.requests = 0  # HTTP requests made, for benchmarks and summaries
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.endpoint,
            headers={"x-api-key": api_key, "user-agent": USER_AGENT},
            timeout=timeout_s,
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PlexusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- telemetry ---------------------------------------------------------------------------

    def telemetry_page(
        self,
        *,
        metrics: Sequence[str],
        source: str | None,
        from_ms: int,
        to_ms: int,
        limit: int = MAX_LIMIT,
    ) -> list[dict[str, Any]]:
        """One GET /api/v1/telemetry: the newest `limit` rows in [from, to], oldest first.

        `source` is an exact match on one slug (no lists); `None` means every source of the org.
        """
        params = telemetry_params(
            metrics=metrics, source=source, from_ms=from_ms, to_ms=to_ms, limit=limit
        )
        body = self._request("GET", "/api/v1/telemetry", params=params)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise ProtocolError(f"{self.endpoint}/api/v1/telemetry answered without a `data` list")
        return [row for row in data if isinstance(row, dict)]

    def telemetry_body(self, params: Mapping[str, str], *, parse: Callable[[bytes], Any]) -> Any:
        """One GET /api/v1/telemetry with `params`, its body decoded by `parse` (`pages.py`)."""
        return self._request("GET", "/api/v1/telemetry", params=params, parse=parse)

    def fetch(
        self,
        *,
        metrics: Sequence[str],
        sources: Sequence[str] | None = None,
        from_ms: int,
        to_ms: int,
        page_limit: int = MAX_LIMIT,
    ) -> ParsedRows:
        """Every row in [from_ms, to_ms], paging backwards in time; parsed, oldest first per source.

        Plexus's `source` is an exact match on one slug, so several sources are fetched one by one;
        `None` fetches every source of the org in one paged stream.

        A page that comes back full (`len == limit`) may have dropped older rows, so we ask again with
        `to` moved to the oldest timestamp we got. That timestamp's rows are dropped from this page and
        come back whole in the next one (bounds are inclusive), so nothing is doubled or lost.
        """
        parsed = ParsedRows()
        targets: Sequence[str | None] = list(sources) if sources else [None]
        for source in targets:
            self._fetch_into(parsed, metrics, source, from_ms, to_ms, page_limit)
        return parsed

    def _fetch_into(
        self,
        parsed: ParsedRows,
        metrics: Sequence[str],
        source: str | None,
        from_ms: int,
        to_ms: int,
        page_limit: int,
    ) -> None:
        pages: list[list[dict[str, Any]]] = []
        upper = to_ms
        while True:
            page = self.telemetry_page(
                metrics=metrics, source=source, from_ms=from_ms, to_ms=upper, limit=page_limit
            )
            if len(page) < page_limit:
                pages.append(page)
                break
            oldest = _row_ms(page[0])
            newest = _row_ms(page[-1])
            if oldest == newest:
                # Over `limit` rows share one millisecond: the API cannot split them, so keep
                # what we have rather than loop forever.
                pages.append(page)
                break
            pages.append([row for row in page if _row_ms(row) > oldest])
            upper = oldest
        for page in reversed(pages):
            parse_rows(page, into=parsed)

    def fleet_metrics(
        self, *, metric: str, from_ms: int, to_ms: int, interval: str
    ) -> dict[str, Any]:
        """One GET /v1/fleet/metrics (the FastAPI read API, docs/plexus-contract.md §5): per-source bucket
        aggregates of `metric` for the whole org over `[from_ms, to_ms)`."""
        params = {
            "metric": metric,
            "start": iso_z(from_ms),
            "end": iso_z(to_ms),
            "interval": interval,
        }
        body = self._request("GET", "/v1/fleet/metrics", params=params)
        if not isinstance(body, dict) or not isinstance(body.get("sources"), list):
            raise ProtocolError(f"{self.endpoint}/v1/fleet/metrics answered without `sources`")
        return body

    # -- monitors ----------------------------------------------------------------------------

    def list_monitors(self) -> list[dict[str, Any]]:
        body = self._request("GET", "/api/monitors")
        monitors = body.get("monitors") if isinstance(body, dict) else None
        if not isinstance(monitors, list):
            raise ProtocolError(f"{self.endpoint}/api/monitors answered without a `monitors` list")
        return [m for m in monitors if isinstance(m, dict)]

    def create_monitor(self, body: Mapping[str, Any]) -> None:
        """POST /api/monitors (Plexus upserts thresholds by source and metric)."""
        self._request("POST", "/api/monitors", json=dict(body))

    def delete_monitor(self, *, source_id: str, metric: str) -> None:
        self._request("DELETE", "/api/monitors", params={"source_id": source_id, "metric": metric})

    # -- plumbing ----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        parse: Callable[[bytes], Any] = orjson.loads,
    ) -> Any:
        url = f"{self.endpoint}{path}"
        deadline = time.monotonic() + self.deadline_s
        attempt = 0
        while True:
            self.requests += 1
            retry_after: float | None = None
            try:
                response = self._send(method, path, params=params, json=json, deadline=deadline)
            except _DeadlinePassed:
                raise UnavailableError(
                    f"{method} {url} was still answering after {self.deadline_s:g}s "
                    f"(attempt {attempt + 1}): gave up"
                ) from None
            except httpx.TimeoutException:
                problem = f"{method} {url} timed out"
            except httpx.TransportError as exc:
                problem = f"cannot reach {url}: {type(exc).__name__}"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return _decode(response, url, parse)
                problem = f"{method} {url} answered {response.status_code}"
                retry_after = _retry_after_s(response.headers.get("retry-after"))
            if attempt >= self.retries:
                raise UnavailableError(f"{problem} (gave up after {attempt + 1} attempts)")
            if retry_after is not None:
                wait = retry_after  # the server said when; jitter would only make us early
            else:  # exponential, with "equal jitter": half fixed, half random
                wait = min(self.backoff_s * 2**attempt, self.max_backoff_s)
                wait = wait / 2 + wait / 2 * self._jitter()
            if time.monotonic() + wait > deadline:
                asked = f"asked to retry after {retry_after:g}s, " if retry_after else ""
                raise UnavailableError(
                    f"{problem}; {asked}past the {self.deadline_s:g}s deadline "
                    f"(gave up after {attempt + 1} attempts)"
                )
            self._sleep(wait)
            attempt += 1

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        json: Any,
        deadline: float,
    ) -> httpx.Response:
        """One HTTP exchange whose body is read as it arrives, until `deadline` (`_DeadlinePassed`)."""
        request = self._http.build_request(method, path, params=params, json=json)
        response = self._http.send(request, stream=True)
        try:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if time.monotonic() > deadline or size > MAX_BODY_BYTES:
                    raise _DeadlinePassed
        finally:
            response.close()
        decoded = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code, headers=decoded, content=b"".join(chunks), request=request
        )


class _DeadlinePassed(Exception):
    """The answer was still arriving at the request's deadline."""


def _retry_after_s(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), or None.

    >>> _retry_after_s("5"), _retry_after_s("soon"), _retry_after_s(None)
    (5.0, None, None)
    """
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _row_ms(row: Mapping[str, Any]) -> int:
    try:
        return row_timestamp_ms(row.get("timestamp"))
    except InputError:
        raise ProtocolError(f"row with unreadable timestamp {row.get('timestamp')!r}") from None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or body.get("detail")
        if isinstance(message, str):
            return message
    return str(body)[:200]


def telemetry_params(
    *, metrics: Sequence[str], source: str | None, from_ms: int, to_ms: int, limit: int
) -> dict[str, str]:
    """The query string of one `/api/v1/telemetry` request."""
    params = {"from": iso_z(from_ms), "to": iso_z(to_ms), "limit": str(min(limit, MAX_LIMIT))}
    if metrics:
        params["metric"] = ",".join(metrics)
    if source:
        params["source"] = source
    return params


def _decode(
    response: httpx.Response, url: str, parse: Callable[[bytes], Any] = orjson.loads
) -> Any:
    status = response.status_code
    if 300 <= status < 400:
        target = response.headers.get("location", "")
        if "sign-in" in target:
            raise AuthError(
                f"Plexus redirected {url} to /sign-in: the API key is missing or is not a plx_ "
                "key (set PLEXUS_API_KEY)"
            )
        raise PlexusError(
            f"{url} answered {status} redirecting to {target.split('?')[0] or 'nowhere'}: not "
            "followed, so the key goes nowhere else; set --endpoint to the final address"
        )
    if status == 401:
        raise AuthError(f"Plexus rejected the API key for {url} (401): check PLEXUS_API_KEY")
    if status == 403:
        text = _error_text(response)
        hint = (
            ": create a key with read scope (keys made in the UI default to write only)"
            if "read" in text
            else ""
        )
        raise ScopeError(f"Plexus refused {url} (403 {text}){hint}")
    if status == 404:
        raise NotFoundError(f"{url}: {_error_text(response)} (404)")
    if status == 400:
        raise ValidationError(f"Plexus rejected the request to {url}: {_error_text(response)}")
    if status >= 400:
        raise PlexusError(f"{url} answered {status}: {_error_text(response)}")
    try:
        return parse(response.content)  # orjson: 3-4x the stdlib's speed on big telemetry pages
    except orjson.JSONDecodeError:
        kind = response.headers.get("content-type", "unknown content").split(";")[0]
        raise ProtocolError(
            f"{url} answered {status} with {kind}, not JSON: is the endpoint a Plexus app API?"
        ) from None
