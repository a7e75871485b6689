"""Contract tests: the sandbox's GET /api/v1/telemetry against docs/plexus-contract.md §1."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
from sandbox_fixtures import FakeClock, sandbox_client

from fleetscan.sandbox import Sandbox
from fleetscan.telemetry import Reading
from fleetscan.timeutil import iso_z, parse_timestamp_ms

T0 = 1_781_258_400_000  # 2026-06-12 10:00:00.000 UTC
ROW_KEYS = {"org_id", "source_id", "metric", "value", "timestamp", "tags"}
WINDOW = {"from": "2026-06-12T09:00:00Z", "to": "2026-06-12T11:00:00Z"}


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with sandbox_client(sandbox, sandbox.read_key) as client:
        yield client


def get(api: httpx.Client, **params: str) -> httpx.Response:
    return api.get("/api/v1/telemetry", params=params)


# -- auth (§1.1) -------------------------------------------------------------------------------


def test_no_key_redirects_to_sign_in(sandbox: Sandbox) -> None:
    url = f"{sandbox.endpoint}/api/v1/telemetry?metric=temperature"
    with sandbox_client(sandbox) as client:
        response = client.get(url)
    assert response.status_code == 307
    location = urlsplit(response.headers["location"])
    assert location.path == "/sign-in"
    assert parse_qs(location.query)["redirect_url"] == [url]


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer plx_sandbox_readwrite_00000000000001"},  # Bearer is not read
        {"x-api-key": "sandbox_readwrite_00000000000001"},  # no plx_ prefix
    ],
)
def test_key_not_starting_plx_redirects(sandbox: Sandbox, headers: dict[str, str]) -> None:
    with sandbox_client(sandbox, **headers) as client:
        response = client.get("/api/v1/telemetry")
    assert response.status_code == 307


@pytest.mark.parametrize(
    "key", ["plx_short", "plx_" + "x" * 32, "plx_sandbox_readwrite_00000000000001x"]
)
def test_malformed_or_unknown_key_is_401(sandbox: Sandbox, key: str) -> None:
    with sandbox_client(sandbox, key) as client:
        response = client.get("/api/v1/telemetry")
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}


def test_session_cookie_without_key_is_401_not_redirect(sandbox: Sandbox) -> None:
    with sandbox_client(sandbox, cookie="authjs.session-token=abc") as client:
        response = client.get("/api/v1/telemetry")
    assert response.status_code == 401


def test_write_only_key_is_403(sandbox: Sandbox) -> None:
    with sandbox_client(sandbox, sandbox.write_key) as client:
        response = client.get("/api/v1/telemetry")
    assert response.status_code == 403
    assert response.json() == {"error": "API key does not have required scope: read"}


def test_read_only_key_can_read(sandbox: Sandbox) -> None:
    with sandbox_client(sandbox, sandbox.read_only_key) as client:
        response = client.get("/api/v1/telemetry")
    assert response.status_code == 200


# -- limit (§1.2, §1.6) ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "abc", "NaN", "Infinity", "1e400", "5x"])
def test_bad_limit_is_400(api: httpx.Client, value: str) -> None:
    response = get(api, limit=value)
    assert response.status_code == 400
    assert response.json() == {
        "error": "VALIDATION_ERROR",
        "message": "limit must be a positive integer",
        "details": {"field": "limit", "value": value},
    }


@pytest.mark.parametrize("value", ["100001", "1e6"])
def test_limit_over_max_is_400(api: httpx.Client, value: str) -> None:
    response = get(api, limit=value)
    assert response.status_code == 400
    assert response.json() == {
        "error": "VALIDATION_ERROR",
        "message": "limit must not exceed 100000",
        "details": {"field": "limit", "value": value, "max": 100000},
    }


@pytest.mark.parametrize(
    ("value", "limit"),
    [("", 10000), ("100000", 100000), ("1e3", 1000), (" 7 ", 7), ("0x10", 16), ("5.0", 5)],
)
def test_limit_parsed_like_js_number(api: httpx.Client, value: str, limit: int) -> None:
    response = get(api, limit=value)
    assert response.status_code == 200
    assert response.json()["query"]["limit"] == limit


def test_default_limit_is_10000(api: httpx.Client) -> None:
    assert get(api).json()["query"]["limit"] == 10000


# -- from / to (§1.2, §1.6) --------------------------------------------------------------------


@pytest.mark.parametrize("field", ["from", "to"])
@pytest.mark.parametrize("value", ["1700000000000", "yesterday", "2026-13-01", "2026-06-12T25:00"])
def test_bad_time_is_400(api: httpx.Client, field: str, value: str) -> None:
    params = {**WINDOW, field: value}
    response = get(api, **params)
    assert response.status_code == 400
    assert response.json() == {
        "error": "VALIDATION_ERROR",
        "message": f"{field} must be a valid ISO 8601 timestamp",
        "details": {"field": field, "value": value},
    }


def test_limit_checked_before_times_and_to_before_from(api: httpx.Client) -> None:
    assert get(api, limit="0", to="bad").json()["message"].startswith("limit")
    assert get(api, **{"from": "bad", "to": "bad"}).json()["message"].startswith("to ")


@pytest.mark.parametrize("to", ["2026-06-12T10:00:00Z", "2026-06-12T09:00:00Z"])
def test_from_not_before_to_is_400(api: httpx.Client, to: str) -> None:
    response = get(api, **{"from": "2026-06-12T10:00:00Z", "to": to})
    assert response.status_code == 400
    assert response.json() == {
        "error": "VALIDATION_ERROR",
        "message": "from must be earlier than to",
        "details": {"from": "2026-06-12T10:00:00.000Z", "to": iso_z(parse_timestamp_ms(to))},
    }


@pytest.mark.parametrize(
    "value",
    [
        "2026-06-12T10:00:00Z",
        "2026-06-12T10:00:00.000Z",
        "2026-06-12T12:00:00+02:00",
        "2026-06-12 10:00:00",  # no zone: server-local time, which is UTC here
        "2026-06-12T10:00",
        "Fri, 12 Jun 2026 10:00:00 GMT",
    ],
)
def test_time_forms_new_date_accepts(api: httpx.Client, value: str) -> None:
    response = get(api, **{"from": value, "to": "2026-06-12T11:00:00Z"})
    assert response.status_code == 200
    assert response.json()["query"]["from"] == "2026-06-12T10:00:00.000Z"


def test_date_only_is_utc_midnight(api: httpx.Client) -> None:
    body = get(api, **{"from": "2026-06-12", "to": "2026-06-13"}).json()
    assert (body["query"]["from"], body["query"]["to"]) == (
        "2026-06-12T00:00:00.000Z",
        "2026-06-13T00:00:00.000Z",
    )


def test_default_window_is_last_hour_inclusive(clocked_sandbox: Sandbox, clock: FakeClock) -> None:
    now = clock.now_ms
    clocked_sandbox.insert_arrays(
        "esp32-01",
        "temperature",
        np.array([now - 3_600_001, now - 3_600_000, now, now + 1]),
        np.array([1.0, 2.0, 3.0, 4.0]),
    )
    with sandbox_client(clocked_sandbox, clocked_sandbox.read_key) as client:
        body = client.get("/api/v1/telemetry").json()
    assert body["query"] == {
        "source": None,
        "metric": None,
        "from": iso_z(now - 3_600_000),
        "to": iso_z(now),
        "limit": 10000,
    }
    assert [row["value"] for row in body["data"]] == [2.0, 3.0]


def test_only_from_given_defaults_to_now(clocked_sandbox: Sandbox, clock: FakeClock) -> None:
    with sandbox_client(clocked_sandbox, clocked_sandbox.read_key) as client:
        response = client.get("/api/v1/telemetry", params={"from": iso_z(clock.now_ms + 1000)})
    assert response.status_code == 400
    assert response.json()["message"] == "from must be earlier than to"


# -- rows, ordering, filters (§1.3-1.5) --------------------------------------------------------


@pytest.fixture
def series(sandbox: Sandbox) -> Sandbox:
    readings = [Reading("esp32-01", "temperature", T0 + i * 2000, 20.0 + i / 10) for i in range(10)]
    readings += [Reading("esp32-01", "humidity", T0 + i * 2000, 50.0 + i) for i in range(10)]
    readings += [Reading("esp32-01", "pressure", T0 + i * 2000, 1013.0) for i in range(10)]
    readings += [
        Reading("esp32-02", "temperature", T0 + 1000, 22.39999962, {"room": "lab"}),
    ]
    sandbox.insert(readings)
    return sandbox


def test_row_shape(api: httpx.Client, series: Sandbox) -> None:
    body = get(api, source="esp32-02", **WINDOW).json()
    assert body["count"] == 1
    assert body["data"] == [
        {
            "org_id": "org_sandbox",
            "source_id": "esp32-02",
            "metric": "temperature",
            "value": 22.39999962,
            "timestamp": "2026-06-12 10:00:01.000",
            "tags": {"room": "lab"},
        }
    ]


def test_every_row_has_the_clickhouse_shape(api: httpx.Client, series: Sandbox) -> None:
    body = get(api, **WINDOW).json()
    assert body["count"] == len(body["data"]) == 31
    for row in body["data"]:
        assert set(row) == ROW_KEYS
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}", row["timestamp"])
        assert isinstance(row["tags"], dict)
        assert isinstance(row["value"], int | float)


def test_limit_keeps_newest_rows_oldest_first(api: httpx.Client, series: Sandbox) -> None:
    body = get(api, source="esp32-01", metric="temperature", limit="3", **WINDOW).json()
    assert body["count"] == 3
    assert [row["value"] for row in body["data"]] == [20.7, 20.8, 20.9]
    stamps = [row["timestamp"] for row in body["data"]]
    assert stamps == sorted(stamps)


def test_metric_comma_list_is_trimmed(api: httpx.Client, series: Sandbox) -> None:
    raw = " temperature , ,humidity,"
    body = get(api, source="esp32-01", metric=raw, **WINDOW).json()
    assert {row["metric"] for row in body["data"]} == {"temperature", "humidity"}
    assert body["count"] == 20
    assert body["query"]["metric"] == raw


def test_no_metric_returns_all_metrics(api: httpx.Client, series: Sandbox) -> None:
    body = get(api, source="esp32-01", **WINDOW).json()
    assert {row["metric"] for row in body["data"]} == {"temperature", "humidity", "pressure"}


def test_source_is_exact_match(api: httpx.Client, series: Sandbox) -> None:
    assert get(api, source="esp32-0", **WINDOW).json()["count"] == 0
    assert get(api, source="esp32-01,esp32-02", **WINDOW).json()["count"] == 0
    assert get(api, source="esp32-02", **WINDOW).json()["query"]["source"] == "esp32-02"


def test_empty_source_means_all_sources(api: httpx.Client, series: Sandbox) -> None:
    body = get(api, source="", **WINDOW).json()
    assert {row["source_id"] for row in body["data"]} == {"esp32-01", "esp32-02"}
    assert body["query"]["source"] is None


def test_source_uuid_matches_nothing(api: httpx.Client, series: Sandbox) -> None:
    api.post("/api/monitors", json={"source_id": "esp32-01", "metric": "t", "offline": {}})
    uuid = api.get("/api/monitors").json()["monitors"][0]["source_id"]
    response = get(api, source=uuid, **WINDOW)
    assert response.status_code == 200
    assert response.json()["data"] == []


def test_bounds_are_inclusive(api: httpx.Client, series: Sandbox) -> None:
    first, last = iso_z(T0), iso_z(T0 + 18_000)
    body = get(api, source="esp32-01", metric="humidity", **{"from": first, "to": last}).json()
    assert [row["value"] for row in body["data"]] == [50.0 + i for i in range(10)]


def test_max_limit_page(api: httpx.Client, sandbox: Sandbox) -> None:
    n = 100_001
    sandbox.insert_arrays("esp32-01", "temperature", T0 + np.arange(n), np.arange(n) % 50 / 10)
    body = get(
        api,
        source="esp32-01",
        metric="temperature",
        limit="100000",
        **{"from": iso_z(T0), "to": iso_z(T0 + n)},
    ).json()
    assert body["count"] == 100_000
    assert body["data"][0]["timestamp"] == "2026-06-12 10:00:00.001"  # the oldest row is dropped
    assert body["data"][-1]["timestamp"] == "2026-06-12 10:01:40.000"


def test_following_the_redirect_lands_on_html(sandbox: Sandbox) -> None:
    with httpx.Client(base_url=sandbox.endpoint, follow_redirects=True, verify=False) as client:
        response = client.get("/api/v1/telemetry")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


def test_unknown_api_route_passes_the_middleware_first(sandbox: Sandbox) -> None:
    with sandbox_client(sandbox) as client:
        assert client.get("/api/v2/anything").status_code == 307
    with sandbox_client(sandbox, sandbox.read_key) as client:
        assert client.get("/api/v2/anything").status_code == 404
