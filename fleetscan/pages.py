"""Telemetry pages fetched straight into columns: `PlexusClient.fetch`, without row objects.

The paging is `PlexusClient.fetch`'s (newest `limit` rows of [from, to], oldest first; a full
page is fetched again with `to` moved back to its oldest timestamp, whose rows are dropped from
this page and come back whole in the next). Each page body is decoded by `decode.decode_page`;
a page it cannot take goes through `telemetry.parse_rows`, as every page used to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from fleetscan.client import MAX_LIMIT, PlexusClient, telemetry_params
from fleetscan.columns import RowColumns
from fleetscan.decode import Decoded, decode_page
from fleetscan.errors import InputError, ProtocolError
from fleetscan.telemetry import parse_rows, row_timestamp_ms


def fetch_columns(
    client: PlexusClient,
    *,
    metrics: Sequence[str],
    from_ms: int,
    to_ms: int,
    group_by: Sequence[str] = (),
    page_limit: int = MAX_LIMIT,
) -> RowColumns:
    """Every row of `metrics` of every source in [from_ms, to_ms], oldest page first."""
    keys = tuple(group_by)

    def parse(body: bytes) -> Any:
        return decode_page(body, group_by=keys, metrics=metrics) or orjson.loads(body)

    pages: list[RowColumns] = []
    upper = to_ms
    while True:
        params = telemetry_params(
            metrics=metrics, source=None, from_ms=from_ms, to_ms=upper, limit=page_limit
        )
        body = client.telemetry_body(params, parse=parse)
        page, oldest, newest, full = _page(body, page_limit, keys, client.endpoint)
        pages.append(page)
        if not full or oldest == newest:
            # Not full: complete. Over `limit` rows in one millisecond: the API cannot split
            # them, so keep what we have rather than loop forever.
            break
        upper = oldest
    return RowColumns.concat(reversed(pages))


def _page(
    body: Any, limit: int, group_by: tuple[str, ...], endpoint: str
) -> tuple[RowColumns, int, int, bool]:
    """A page's readings (boundary rows dropped when full), its oldest and newest ms, fullness."""
    if isinstance(body, Decoded):
        ts = body.columns.ts_ms
        if len(body) < limit:
            return body.settle(), 0, 0, False
        oldest, newest = int(ts[0]), int(ts[-1])
        keep = None if oldest == newest else ts > oldest
        return body.settle(keep), oldest, newest, True
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise ProtocolError(f"{endpoint}/api/v1/telemetry answered without a `data` list")
    rows = [row for row in data if isinstance(row, dict)]
    if len(rows) < limit:
        return RowColumns.from_parsed(parse_rows(rows), group_by=group_by), 0, 0, False
    oldest, newest = _row_ms(rows[0]), _row_ms(rows[-1])
    if oldest != newest:
        rows = [row for row in rows if _row_ms(row) > oldest]
    return RowColumns.from_parsed(parse_rows(rows), group_by=group_by), oldest, newest, True


def _row_ms(row: Mapping[str, Any]) -> int:
    try:
        return row_timestamp_ms(row.get("timestamp"))
    except InputError:
        raise ProtocolError(f"row with unreadable timestamp {row.get('timestamp')!r}") from None
