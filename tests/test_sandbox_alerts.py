"""The sandbox's alert engine against houston's semantics (docs/plexus-contract.md §3)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sandbox_fixtures import FakeClock, sandbox_client

from fleetscan.sandbox import Sandbox
from fleetscan.sandbox.alerts import AlertEngine, ThresholdRule
from fleetscan.telemetry import Reading

RULE = ThresholdRule("rule-1", "esp32-01", "temperature", min=10.0, max=30.0)


def states(engine: AlertEngine, *steps: tuple[float, float]) -> list[str]:
    """Feed (now, value) steps; return each step's transitions joined, or '-' for none."""
    out = []
    for now, value in steps:
        found = engine.evaluate("esp32-01", "temperature", value, now=now)
        out.append(",".join(t.state for t in found) or "-")
    return out


@pytest.fixture
def engine() -> AlertEngine:
    engine = AlertEngine()
    engine.set_rules([RULE], now=0)
    return engine


# -- the pure engine --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fires"),
    [
        (30.0, False),
        (30.0001, True),
        (10.0, False),
        (9.999, True),
        (math.nan, False),
        (math.inf, False),
        (-math.inf, False),
        (20.0, False),
    ],
)
def test_bounds_are_strict_and_nan_never_fires(
    engine: AlertEngine, value: float, fires: bool
) -> None:
    assert states(engine, (0, value)) == (["open"] if fires else ["-"])


def test_a_missing_bound_is_no_check() -> None:
    engine = AlertEngine()
    engine.set_rules([ThresholdRule("r", "esp32-01", "temperature", min=None, max=None)], now=0)
    assert states(engine, (0, -1e9), (1, 1e9)) == ["-", "-"]


def test_transition_carries_value_and_violated_bound(engine: AlertEngine) -> None:
    [low] = engine.evaluate("esp32-01", "temperature", 5.0, now=0)
    assert (low.state, low.value, low.threshold, low.bound) == ("open", 5.0, 10.0, "min")


def test_open_holds_while_breaching_without_new_opens(engine: AlertEngine) -> None:
    assert states(engine, (0, 31), (1, 35), (2, 40)) == ["open", "-", "-"]
    assert engine.state_of("esp32-01", "temperature") == "open"


def test_close_needs_30_s_of_recovery(engine: AlertEngine) -> None:
    assert states(engine, (0, 31), (10, 20), (39.9, 20), (40, 20)) == ["open", "-", "-", "closed"]


def test_breach_while_closing_goes_back_to_open(engine: AlertEngine) -> None:
    steps = [(0, 31), (10, 20), (25, 32), (41, 20), (60, 20), (71, 20)]
    # recovery restarts at 41 after the breach at 25, so 60 is too early and 71 closes
    assert states(engine, *steps) == ["open", "-", "-", "-", "-", "closed"]


def test_no_timer_a_silent_device_keeps_the_alert_open(engine: AlertEngine) -> None:
    states(engine, (0, 31), (10, 20))
    assert engine.state_of("esp32-01", "temperature") == "closing"  # stays so until a point


def test_cooldown_ignores_evaluations_for_60_s(engine: AlertEngine) -> None:
    steps = [(0, 31), (1, 20), (31, 20), (40, 50), (90.9, 50), (91, 50)]
    assert states(engine, *steps) == ["open", "-", "closed", "-", "-", "open"]


def test_after_cooldown_a_normal_point_returns_to_idle(engine: AlertEngine) -> None:
    steps = [(0, 31), (1, 20), (31, 20), (100, 20), (101, 31)]
    assert states(engine, *steps) == ["open", "-", "closed", "-", "open"]


def test_closed_reports_last_breaching_value(engine: AlertEngine) -> None:
    engine.evaluate("esp32-01", "temperature", 31, now=0)
    engine.evaluate("esp32-01", "temperature", 45, now=1)
    engine.evaluate("esp32-01", "temperature", 20, now=2)
    [closed] = engine.evaluate("esp32-01", "temperature", 20, now=40)
    assert (closed.value, closed.opened_at, closed.at) == (45, 0, 40)


def test_other_series_are_not_evaluated(engine: AlertEngine) -> None:
    assert engine.evaluate("esp32-02", "temperature", 99, now=0) == []
    assert engine.evaluate("esp32-01", "humidity", 99, now=0) == []


def test_removing_a_rule_closes_its_alert(engine: AlertEngine) -> None:
    states(engine, (0, 31))
    [closed] = engine.set_rules([], now=5)
    assert (closed.state, closed.reason, closed.at) == ("closed", "rule_deleted", 5)
    assert states(engine, (6, 99)) == ["-"]


def test_removing_a_rule_in_cooldown_is_silent(engine: AlertEngine) -> None:
    states(engine, (0, 31), (1, 20), (31, 20))
    assert engine.set_rules([], now=35) == []


def test_updating_a_rule_keeps_the_alert(engine: AlertEngine) -> None:
    states(engine, (0, 31))
    wider = ThresholdRule("rule-1", "esp32-01", "temperature", min=None, max=50.0)
    assert engine.set_rules([wider], now=1) == []
    assert states(engine, (2, 40), (40, 40)) == ["-", "closed"]  # 40 is fine under the new max


# -- through HTTP, with the sandbox's injected clock --------------------------------------------


@pytest.fixture
def live(clocked_sandbox: Sandbox) -> Iterator[httpx.Client]:
    with sandbox_client(clocked_sandbox, clocked_sandbox.read_key) as client:
        client.post(
            "/ingest", json={"source_id": "esp32-01", "points": [{"metric": "t", "value": 1}]}
        )
        body = {"source_id": "esp32-01", "metric": "temperature", "threshold": {"max": 30}}
        assert client.post("/api/monitors", json=body).status_code == 201
        yield client


def send(client: httpx.Client, *values: float, timestamp: int = 1_000_000_000_000) -> None:
    points = [{"metric": "temperature", "value": v, "timestamp": timestamp} for v in values]
    response = client.post("/ingest", json={"source_id": "esp32-01", "points": points})
    assert response.status_code == 200


def events(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/api/sandbox/alerts")
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()["events"]
    return found


def test_lifecycle_over_http(
    live: httpx.Client, clock: FakeClock, clocked_sandbox: Sandbox
) -> None:
    send(live, 25, 31)  # opens on the first breaching point of the batch
    send(live, 35)
    clock.advance(10)
    send(live, 20)  # OPEN → CLOSING
    clock.advance(29)
    send(live, 20)  # 29 s of recovery: still open
    assert [e["event"] for e in events(live)] == ["alert.triggered"]
    clock.advance(1)
    send(live, 20)  # 30 s: closed
    clock.advance(30)
    send(live, 99)  # cooldown: ignored
    clock.advance(30)
    send(live, 99)  # cooldown over: opens again
    found = events(live)
    assert [e["event"] for e in found] == ["alert.triggered", "alert.resolved", "alert.triggered"]
    assert found == clocked_sandbox.alert_events()
    triggered, resolved, _again = (e["data"] for e in found)
    assert (triggered["value"], triggered["threshold"], triggered["bound"]) == (31, 30, "max")
    assert triggered["sourceSlug"] == "esp32-01" and triggered["metric"] == "temperature"
    assert triggered["status"] == "open" and resolved["status"] == "resolved"
    assert resolved["alertId"] == triggered["alertId"] != _again["alertId"]
    assert resolved["value"] == 35  # the last breaching value
    assert resolved["resolvedAt"] == "2026-06-12T10:00:40.000Z"


def test_point_timestamps_do_not_matter(live: httpx.Client) -> None:
    """houston uses its own wall clock: a replay of old data alerts as if it were live."""
    send(live, 31, timestamp=1)
    assert [e["event"] for e in events(live)] == ["alert.triggered"]


def test_deleting_the_monitor_resolves_the_alert(live: httpx.Client) -> None:
    send(live, 31)
    live.delete("/api/monitors", params={"source_id": "esp32-01", "metric": "temperature"})
    found = events(live)
    assert [e["event"] for e in found] == ["alert.triggered", "alert.resolved"]
    assert found[1]["data"]["reason"] == "rule_deleted"


def test_alerts_after_filter(live: httpx.Client) -> None:
    send(live, 31)
    first = events(live)[0]["id"]
    assert live.get("/api/sandbox/alerts", params={"after": first}).json() == {"events": []}
    assert live.get("/api/sandbox/alerts", params={"after": "x"}).status_code == 400


def test_alert_lines_on_stderr_unless_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(port=0, quiet=False) as sb, sandbox_client(sb, sb.read_key) as client:
        client.post(
            "/ingest", json={"source_id": "esp32-01", "points": [{"metric": "t", "value": 1}]}
        )
        client.post(
            "/api/monitors", json={"source_id": "esp32-01", "metric": "t", "threshold": {"max": 0}}
        )
        client.post(
            "/ingest", json={"source_id": "esp32-01", "points": [{"metric": "t", "value": 5}]}
        )
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["[sandbox] alert.triggered esp32-01/t: t 5 above maximum 0 (warning)"]


def test_backfill_does_not_alert_unless_asked(clocked_sandbox: Sandbox) -> None:
    with sandbox_client(clocked_sandbox, clocked_sandbox.read_key) as client:
        client.post(
            "/ingest", json={"source_id": "esp32-01", "points": [{"metric": "t", "value": 1}]}
        )
        client.post(
            "/api/monitors", json={"source_id": "esp32-01", "metric": "t", "threshold": {"max": 0}}
        )
    clocked_sandbox.insert([Reading("esp32-01", "t", 1, 5.0)])
    assert clocked_sandbox.alert_events() == []
    clocked_sandbox.insert([Reading("esp32-01", "t", 2, 5.0)], evaluate_alerts=True)
    assert [e["event"] for e in clocked_sandbox.alert_events()] == ["alert.triggered"]
