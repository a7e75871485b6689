"""Contract tests: the sandbox's /api/monitors against docs/plexus-contract.md §2."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sandbox_fixtures import FakeClock, sandbox_client

from fleetscan.sandbox import Sandbox
from fleetscan.telemetry import Reading

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TARGET = "0b0e6a3c-5d1e-4f61-9a7e-1d2c3b4a5f60"
THRESHOLD = {"source_id": "esp32-01", "metric": "temperature", "threshold": {"max": 30}}


def seed(sb: Sandbox, *sources: str) -> None:
    """Sources exist once they have sent data (the gateway registers them)."""
    sb.insert(Reading(source, "temperature", 1_781_258_400_000, 21.0) for source in sources)


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    seed(sandbox, "esp32-01", "esp32-02")
    with sandbox_client(sandbox, sandbox.read_key) as client:
        yield client


def monitors(api: httpx.Client) -> list[dict[str, Any]]:
    response = api.get("/api/monitors")
    assert response.status_code == 200
    result: list[dict[str, Any]] = response.json()["monitors"]
    return result


# -- auth ---------------------------------------------------------------------------------------


def test_any_valid_key_works_whatever_its_scopes(sandbox: Sandbox) -> None:
    seed(sandbox, "esp32-01")
    for key in (sandbox.read_key, sandbox.write_key, sandbox.read_only_key):
        with sandbox_client(sandbox, key) as client:
            assert client.post("/api/monitors", json=THRESHOLD).status_code == 201
            assert len(client.get("/api/monitors").json()["monitors"]) == 1


def test_auth_failures(sandbox: Sandbox) -> None:
    with sandbox_client(sandbox) as client:
        assert client.get("/api/monitors").status_code == 307
    with sandbox_client(sandbox, "plx_" + "0" * 32) as client:
        response = client.post("/api/monitors", json=THRESHOLD)
    assert (response.status_code, response.json()) == (401, {"error": "Unauthorized"})


# -- POST validation (§2.1, §2.2) -----------------------------------------------------------------


def test_non_json_body_is_500(api: httpx.Client) -> None:
    response = api.post("/api/monitors", content=b"source_id=esp32-01")
    assert response.status_code == 500
    assert response.json() == {"error": "INTERNAL_ERROR", "message": "Internal server error"}


@pytest.mark.parametrize(
    ("body", "form_errors", "field_errors"),
    [
        (
            {"metric": "temperature", "threshold": {"max": 30}},
            [],
            {"source_id": ["Invalid input: expected string, received undefined"]},
        ),
        (
            {"source_id": ""},
            ["At least one of threshold, event, or offline must be provided"],
            {"source_id": ["source_id is required"]},
        ),
        (
            {"source_id": "esp32-01", "threshold": {"max": 30}},
            ["metric is required for a threshold or event monitor"],
            {},
        ),
        (
            {"source_id": "esp32-01", "metric": "t", "threshold": {"max": "30"}},
            [],
            {"threshold": ["Invalid input: expected number, received string"]},
        ),
        (
            {"source_id": "esp32-01", "metric": "t", "threshold": {"severity": "high"}},
            [],
            {"threshold": ['Invalid option: expected one of "info"|"warning"|"critical"']},
        ),
        (
            {"source_id": "esp32-01", "metric": "", "threshold": {}},
            ["metric is required for a threshold or event monitor"],
            {"metric": ["Too small: expected string to have >=1 characters"]},
        ),
        (
            {"source_id": "esp32-01", "offline": {"timeout_seconds": -5}},
            [],
            {"offline": ["Too small: expected number to be >0"]},
        ),
        (
            {"source_id": "esp32-01", "metric": "t", "threshold": {}, "notification_targets": []},
            [],
            {"notification_targets": ["Too small: expected array to have >=1 items"]},
        ),
        (
            {
                "source_id": "esp32-01",
                "metric": "t",
                "threshold": {},
                "notification_targets": ["slack"],
            },
            [],
            {"notification_targets": ["Invalid UUID"]},
        ),
        ([THRESHOLD], ["Invalid input: expected object, received array"], {}),
        (None, ["Invalid input: expected object, received null"], {}),
    ],
)
def test_schema_failures_use_zod_flatten(
    api: httpx.Client, body: object, form_errors: list[str], field_errors: dict[str, list[str]]
) -> None:
    response = api.post("/api/monitors", content=json.dumps(body).encode())
    assert response.status_code == 400
    assert response.json() == {
        "error": "Validation failed",
        "details": {"formErrors": form_errors, "fieldErrors": field_errors},
    }


def test_unknown_source_is_404(api: httpx.Client) -> None:
    response = api.post("/api/monitors", json={**THRESHOLD, "source_id": "esp32-99"})
    assert response.status_code == 404
    assert response.json() == {"error": "Source 'esp32-99' not found in org"}


def test_notification_targets_are_unknown_in_the_sandbox(api: httpx.Client) -> None:
    response = api.post("/api/monitors", json={**THRESHOLD, "notification_targets": [TARGET]})
    assert response.status_code == 422
    assert response.json() == {
        "error": "Unknown notification target(s) for this org",
        "unknown_target_ids": [TARGET],
    }


# -- POST success, GET shape, upsert (§2.2-2.4) -------------------------------------------------


def test_create_then_list(api: httpx.Client, sandbox: Sandbox) -> None:
    response = api.post("/api/monitors", json={**THRESHOLD, "unknown_key": "stripped"})
    assert response.status_code == 201
    assert response.json() == {"success": True}
    [monitor] = monitors(api)
    assert UUID.fullmatch(monitor["source_id"])  # the source UUID, not the slug
    assert monitor["threshold"]["id"] and UUID.fullmatch(monitor["threshold"]["id"])
    assert isinstance(monitor.pop("created_at"), str)
    del monitor["source_id"], monitor["threshold"]["id"]
    assert monitor == {
        "source_slug": "esp32-01",
        "source_name": "esp32-01",
        "metric": "temperature",
        "threshold": {
            "min": None,
            "max": 30,
            "severity": "warning",
            "message": None,
            "notification_target_ids": None,
        },
        "event": None,
        "unpinned": False,
        "type": "threshold",
        "health": {"state": "pending", "reason": None, "checked_at": None},
        "offline": None,
    }
    assert sandbox.monitors() == monitors(api)


def test_threshold_upserts_by_source_and_metric(api: httpx.Client) -> None:
    body = {
        "source_id": "esp32-01",
        "metric": "temperature",
        "threshold": {"min": 5, "max": 30, "severity": "critical", "message": "hot"},
    }
    api.post("/api/monitors", json=body)
    [first] = monitors(api)
    assert api.post("/api/monitors", json=THRESHOLD).status_code == 201
    [second] = monitors(api)
    assert second["threshold"]["id"] == first["threshold"]["id"]
    assert second["created_at"] == first["created_at"]
    assert second["threshold"] == {
        **first["threshold"],
        "min": None,
        "max": 30,
        "severity": "warning",
        "message": None,
    }


def test_source_may_be_given_by_uuid(api: httpx.Client) -> None:
    api.post("/api/monitors", json=THRESHOLD)
    source_uuid = monitors(api)[0]["source_id"]
    body = {**THRESHOLD, "source_id": source_uuid, "threshold": {"max": 35}}
    assert api.post("/api/monitors", json=body).status_code == 201
    [monitor] = monitors(api)
    assert monitor["threshold"]["max"] == 35


def test_bounds_may_both_be_omitted(api: httpx.Client) -> None:
    body = {"source_id": "esp32-01", "metric": "temperature", "threshold": {}}
    assert api.post("/api/monitors", json=body).status_code == 201
    assert monitors(api)[0]["threshold"]["min"] is None


def test_event_and_threshold_on_one_metric_is_type_both(api: httpx.Client) -> None:
    api.post("/api/monitors", json=THRESHOLD)
    api.post("/api/monitors", json={"source_id": "esp32-01", "metric": "temperature", "event": {}})
    [monitor] = monitors(api)
    assert monitor["type"] == "both"
    assert monitor["event"]["severity"] == "info" and monitor["event"]["enabled"] is True


def test_list_is_newest_first(clocked_sandbox: Sandbox, clock: FakeClock) -> None:
    seed(clocked_sandbox, "esp32-01", "esp32-02", "esp32-03")
    with sandbox_client(clocked_sandbox, clocked_sandbox.read_key) as client:
        for source in ("esp32-02", "esp32-01", "esp32-03"):
            client.post("/api/monitors", json={**THRESHOLD, "source_id": source})
            clock.advance(1)
        slugs = [m["source_slug"] for m in monitors(client)]
    assert slugs == ["esp32-03", "esp32-01", "esp32-02"]


def test_offline_monitors_duplicate(api: httpx.Client) -> None:
    body = {"source_id": "esp32-01", "offline": {"timeout_seconds": 120}}
    assert api.post("/api/monitors", json=body).status_code == 201
    assert api.post("/api/monitors", json=body).status_code == 201
    found = monitors(api)
    assert len(found) == 2
    assert all(m["type"] == "offline" and m["metric"] == "" for m in found)
    assert found[0]["offline"]["timeout_seconds"] == 120
    assert found[0]["offline"]["id"] != found[1]["offline"]["id"]


# -- DELETE (§2.5) ---------------------------------------------------------------------------------


def test_delete_needs_source_id(api: httpx.Client) -> None:
    response = api.delete("/api/monitors", params={"metric": "temperature"})
    assert response.status_code == 400
    assert response.json() == {"error": "Missing 'source_id' query param"}


def test_delete_unknown_source_is_404(api: httpx.Client) -> None:
    response = api.delete("/api/monitors", params={"source_id": "nope", "metric": "t"})
    assert (response.status_code, response.json()) == (
        404,
        {"error": "Source 'nope' not found in org"},
    )


def test_delete_is_200_even_when_nothing_matched(api: httpx.Client) -> None:
    api.post("/api/monitors", json=THRESHOLD)
    response = api.delete("/api/monitors", params={"source_id": "esp32-01", "metric": "humidity"})
    assert (response.status_code, response.json()) == (200, {"success": True})
    assert len(monitors(api)) == 1
    api.delete("/api/monitors", params={"source_id": "esp32-01", "metric": "temperature"})
    assert monitors(api) == []


def test_delete_offline_by_id(api: httpx.Client) -> None:
    api.post("/api/monitors", json={"source_id": "esp32-01", "offline": {}})
    offline_id = monitors(api)[0]["offline"]["id"]
    assert api.delete("/api/monitors", params={"offline_id": offline_id}).status_code == 200
    again = api.delete("/api/monitors", params={"offline_id": offline_id})
    assert (again.status_code, again.json()) == (404, {"error": "Monitor not found"})
    bad = api.delete("/api/monitors", params={"offline_id": "not-a-uuid"})
    assert (bad.status_code, bad.json()) == (500, {"error": "Failed to delete"})


def test_delete_without_metric_removes_offline_monitors(api: httpx.Client) -> None:
    api.post("/api/monitors", json={"source_id": "esp32-01", "offline": {}})
    api.post("/api/monitors", json=THRESHOLD)
    api.delete("/api/monitors", params={"source_id": "esp32-01"})
    assert [m["type"] for m in monitors(api)] == ["threshold"]


# -- PATCH ------------------------------------------------------------------------------------------


def test_patch_targets(api: httpx.Client) -> None:
    api.post("/api/monitors", json=THRESHOLD)
    body = {"source_id": "esp32-01", "metric": "temperature", "notification_targets": None}
    assert api.patch("/api/monitors", json=body).json() == {"success": True}
    missing = api.patch("/api/monitors", json={**body, "metric": "humidity"})
    assert (missing.status_code, missing.json()) == (404, {"error": "Monitor not found"})
    invalid = api.patch("/api/monitors", json={"notification_targets": None})
    assert invalid.json()["details"]["formErrors"] == [
        "Provide offline_id, or source_id and metric"
    ]
    unknown = api.patch("/api/monitors", json={**body, "notification_targets": [TARGET]})
    assert unknown.status_code == 422
