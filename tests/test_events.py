"""The reason travels with the alert: `fleetscan.alert` events and `<metric>.fleet_status` codes,
end to end through the sandbox (real read client, real plexus-python emitter, houston-like engine)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from sandbox_fixtures import FakeClock, sandbox_client
from sweep_helpers import BAD, BLIP, SWEEP_TIMES, env_for, invoke, readings, sweep

from fleetscan.events import (
    EVENT_NAME,
    MAX_EVENT_BYTES,
    AlertEvent,
    alert_id,
    slack_text,
    status_code,
)
from fleetscan.fleet.status import Status
from fleetscan.sandbox import Sandbox
from fleetscan.sandbox.keys import SLACK_TARGET_ID
from fleetscan.timeutil import iso_z

OPENS = SWEEP_TIMES[7]  # 6h35: BLIP's third flagged sweep (see test_sweeps_cli)


def test_an_alert_carries_its_reason_from_open_to_resolve(
    clocked_sandbox: Sandbox, clock: FakeClock, tmp_path: Path
) -> None:
    sb = clocked_sandbox
    sb.insert(readings(shifts=[BLIP]))
    env = env_for(sb, tmp_path)
    code, out, err = invoke(
        [
            "monitor",
            "create",
            "--source",
            BAD,
            "--metric",
            "temperature",
            "--max",
            "3",
            "--notification-target",
            SLACK_TARGET_ID,
        ],
        env,
    )
    assert code == 0, err
    assert out.startswith("watching temperature.fleet_z (fleetscan's fleet score")
    state = tmp_path / "state.db"
    for at in SWEEP_TIMES:
        clock.now_s = at / 1000
        assert sweep(state, at, env)[0] in (0, 2)

    events = sb.source_events(name=EVENT_NAME)
    assert [(e["source_id"], e["tags"]["event"]) for e in events] == [  # type: ignore[index]
        (BAD, "opened"),
        (BAD, "resolved"),
    ]
    opened, resolved = (e["value"] for e in events)
    assert isinstance(opened, dict) and isinstance(resolved, dict)
    assert opened["alert_id"] == resolved["alert_id"] == alert_id(BAD, "temperature", OPENS)
    assert opened["status"] == "drifting" and opened["code"] == 2
    assert opened["reason"].startswith("gap +2.")
    assert opened["z"] > 6 and opened["fleet_z"] == pytest.approx(opened["z"], abs=0.01)
    assert opened["peers"] >= 3 and opened["severity"] == "critical"
    assert opened["opened_at"] == iso_z(OPENS) and opened["resolved_at"] is None
    assert resolved["status"] == "ok" and resolved["resolved_at"] is not None
    assert BAD in resolved["message"] and "resolved after 35m" in resolved["message"]

    # Plexus's own alert (houston on fleet_z) carries the board's latest event as its context.
    alerts = sb.alert_events()
    assert [a["event"] for a in alerts] == ["alert.triggered", "alert.resolved"]
    triggered = alerts[0]["data"]
    assert isinstance(triggered, dict)
    assert triggered["notificationTargets"] == [SLACK_TARGET_ID]
    assert "fleetscan.alert event" in triggered["message"]
    context = triggered["contextSnapshot"]
    assert context["alert_id"] == opened["alert_id"] and context["name"] == EVENT_NAME
    chat = slack_text(triggered, context)
    assert chat.startswith(f":warning: *{BAD}* temperature drifting — gap +2.")
    assert opened["alert_id"] in chat

    # ... and the events are listed at the sandbox's endpoint, for anyone to look at.
    with sandbox_client(sb, sb.read_key) as api:
        listed = api.get("/api/sandbox/events", params={"source": BAD}).json()["events"]
        assert [e["value"]["alert_id"] for e in listed] == [opened["alert_id"]] * 2
        assert api.get("/api/sandbox/events", params={"source": "esp32-bme280-01"}).json() == {
            "events": []
        }
    # ... and on the sandbox's alerts page, as a person would read them.
    with sandbox_client(sb) as browser:
        page = browser.get("/sandbox/alerts")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<h1>Sandbox alerts (2)</h1>" in page.text
    assert opened["alert_id"] in page.text and "gap +2." in page.text


def test_fleet_status_says_what_kind_of_alert_is_open(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.insert(readings(shifts=[BLIP]))
    env = env_for(sandbox, tmp_path)
    state = tmp_path / "state.db"
    for at in SWEEP_TIMES[:12]:
        assert sweep(state, at, env)[0] in (0, 2)
    rows = sandbox.backend.store.query_telemetry(
        source=BAD, metrics=["temperature.fleet_status"], from_ms=0, to_ms=2**53, limit=1000
    )
    codes = {int(ts): value for _s, _m, value, ts, _tags in rows}
    assert len(codes) == 12
    assert [codes[t] for t in SWEEP_TIMES[:7]] == [0.0] * 7  # flagged but not yet alerting
    assert codes[OPENS] == 2.0  # drifting
    others = sandbox.backend.store.query_telemetry(
        source="esp32-bme280-01",
        metrics=["temperature.fleet_status"],
        from_ms=0,
        to_ms=2**53,
        limit=1000,
    )
    assert {value for _s, _m, value, _ts, _t in others} == {0.0}


def test_monitor_create_watches_one_series_for_one_source_and_for_the_fleet(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.insert(readings()[-2000:])
    env = env_for(sandbox, tmp_path)
    args = ["monitor", "create", "--metric", "temperature", "--max", "3", "--window", "100000d"]
    one = invoke([*args, "--source", BAD], env)
    fleet = invoke([*args, "--all-sources"], env)
    assert one[0] == fleet[0] == 0
    assert (
        one[1].split(" on ")[0]
        == fleet[1].split(" on ")[0]
        == (
            "watching temperature.fleet_z (fleetscan's fleet score: the open alert's |z| "
            "(or threshold + 1), else 0)"
        )
    )
    assert {m["metric"] for m in sandbox.monitors()} == {"temperature.fleet_z"}
    raw = invoke([*args, "--source", BAD, "--watch", "raw", "--message", "hot"], env)
    assert raw[0] == 0 and raw[1].startswith("watching temperature (the board's own readings)")
    watched = {(m["metric"], m["threshold"]["message"]) for m in sandbox.monitors()}  # type: ignore[index]
    assert ("temperature", "hot") in watched
    unknown = invoke([*args, "--source", BAD, "--notification-target", "nope"], env)
    assert unknown[0] == 1 and "Validation failed" in unknown[2]
    clash = invoke([*args[:3], "temperature.fleet_z", "--watch", "raw", "--source", BAD], env)
    assert clash[0] == 1 and "drop --watch raw" in clash[2]


def test_an_event_fits_the_gateway_whatever_the_reason() -> None:
    event = AlertEvent(
        source_id="b1",
        metric="temperature",
        kind="opened",
        status=Status.STALE,
        reason="x" * 10_000,
        z=math.nan,
        fleet_z=4.0,
        peers=4,
        value=math.nan,
        peer_median=21.0,
        severity="warning",
        opened_ms=0,
        at_ms=0,
    )
    wire = event.wire()
    assert wire["class"] == "event" and wire["metric"] == EVENT_NAME
    text = json.dumps(wire["value"], allow_nan=False)
    assert len(text.encode()) <= MAX_EVENT_BYTES
    assert wire["value"]["z"] is None and wire["value"]["reason"].endswith("…")


def test_status_codes_separate_alerts_from_what_cannot_be_judged() -> None:
    alerting = {status_code(s, alerting=True) for s in Status if s.flagged}
    assert alerting == {1, 2, 3, 4, 5, 6}
    assert status_code(Status.OK, alerting=True) == 7
    assert all(status_code(s, alerting=False) <= 0 for s in Status)
    assert status_code(Status.STUCK, alerting=True, silenced=True) == -4


@pytest.mark.slow
def test_the_demo_prints_what_slack_would_say_reason_included() -> None:
    from fleetscan.demo import run_demo
    from fleetscan.timeutil import parse_timestamp_ms

    lines: list[str] = []
    report = run_demo(now_ms=parse_timestamp_ms("2026-06-12T21:48:00Z"), say=lines.append)
    start = lines.index(
        "what Slack would say (Plexus alert.triggered + the board's fleetscan.alert event):"
    )
    chat = [line.strip() for line in lines[start + 1 :] if line.startswith("  :")]
    assert len(chat) == len([r for r in report.results if r.alerting])
    assert any(
        line.startswith(":warning: *esp32-bme280-13* temperature stuck — flat at") for line in chat
    )
    assert any("esp32-bme280-34* temperature invalid — values look simulated" in c for c in chat)
    assert any("esp32-bme280-21* temperature stale — no reading for" in c for c in chat)
    assert all(" · alert fs-" in line for line in chat)
