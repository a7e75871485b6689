"""`fleetscan demo`: the whole product on one machine, no account, no network.

1. start a Plexus sandbox in-process on a free loopback port (in memory);
2. backfill a few hours of a simulated 50-board ESP32 + BME280 fleet with injected faults;
3. create `<metric>.fleet_z` threshold monitors (max 3.0, the tutorial's recipe) for every board;
4. run one fleet sweep exactly as a one-off `fleetscan fleet` does (`sweeps.live.live_sweep`, no
   state): fetch through the real read client, score, post each alert's `fleetscan.alert` event
   (the reason) and then fleet_z/fleet_dev through plexus-python;
5. show what Slack would say for each alert (reason included), which monitors fired, compare with the injected ground truth, and show the per-device
   detectors on one faulty board (the tutorial's z-score against `auto`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from fleetscan.client import PlexusClient
from fleetscan.detectors import Detector, DetectorOptions, make_detector
from fleetscan.device import DeviceRunner
from fleetscan.emitter import Emitter
from fleetscan.events import slack_text
from fleetscan.fleet import SweepOptions
from fleetscan.lifecycle import LifecycleOptions
from fleetscan.monitors import Threshold, create_all
from fleetscan.sandbox import Sandbox, backfill_fleet
from fleetscan.simulate import METRICS, FleetSpec, SimulatedFleet, parse_fault
from fleetscan.sweeps import render
from fleetscan.sweeps.live import live_sweep
from fleetscan.sweeps.plan import FUTURE_LOOKAHEAD_MS
from fleetscan.sweeps.step import SeriesVerdict, StepOptions
from fleetscan.telemetry import Reading
from fleetscan.timeutil import HOUR_MS, MINUTE_MS, iso_z

# Onsets are offsets from the start of the simulated history. Sizes: drift in units per day.
DEMO_FAULTS = (
    "esp32-bme280-07:drift:48:temperature@4h",  # +4 °C over the last 2 h: under any fixed limit
    "esp32-bme280-13:stuck:temperature@5h",  # frozen while its room moves
    "esp32-bme280-21:dropout@330m",  # silent for the last 30 min
    "esp32-bme280-34:random@0s",  # the C SDK example's "no sensor" values, from day one
    "esp32-bme280-42:humidity_slide:12@4h",  # humidity sliding below where it sat (2 points/h)
    "esp32-bme280-46:step:3:temperature@350m",  # +3 °C step ten minutes ago
)
DEVICE_BOARD = "esp32-bme280-46"


@dataclass(frozen=True)
class DemoReport:
    """What the demo found, for the summary and for tests."""

    faulty: frozenset[str]
    alerted: frozenset[str]
    results: tuple[SeriesVerdict, ...]  # the sweep's verdicts, in `render.ordered` order
    device_anomalies: dict[str, int]
    seconds: float

    @property
    def caught(self) -> frozenset[str]:
        return self.faulty & self.alerted

    @property
    def false_alarms(self) -> frozenset[str]:
        return self.alerted - self.faulty


def run_demo(
    *,
    boards: int = 50,
    hours: float = 6.0,
    now_ms: int,
    say: Callable[[str], None] = print,
) -> DemoReport:
    """Run the demo as of `now_ms` (the end of the simulated history) and narrate it via `say`."""
    started = time.monotonic()
    start_ms = now_ms - int(hours * HOUR_MS)
    spec = FleetSpec(
        boards=boards,
        seed=7,
        start_ms=start_ms,
        duration_s=hours * 3600,
        faults=tuple(parse_fault(text) for text in DEMO_FAULTS),
    )
    fleet = SimulatedFleet(spec)
    faulty = frozenset(str(t["board"]) for t in fleet.ground_truth())
    with Sandbox(port=0, quiet=True) as sb:
        say("fleetscan demo: a local Plexus with a simulated fleet; no account, no network")
        say(f"  sandbox   {sb.endpoint} (in memory, gone when the demo ends)")
        rows = backfill_fleet(sb, fleet)
        rooms = len({fleet.tags(b)["room"] for b in fleet.boards})
        say(
            f"  fleet     {boards} ESP32 + BME280 boards in {rooms} rooms, {hours:g} h of "
            f"temperature, humidity and pressure every {spec.cadence_s:g} s: {rows:,} readings"
        )
        for text in DEMO_FAULTS:
            say(f"  fault     {text}")

        options = StepOptions(
            sweep=SweepOptions(
                window_ms=10 * MINUTE_MS,
                group_by=("room",),  # boards are compared with their room: its HVAC is normal
                min_peers=3,  # five boards a room: four peers each
                bucket_ms=15 * MINUTE_MS,  # a real deployment keeps 7 days in hourly buckets
                baseline_span_ms=int(hours * HOUR_MS),
                first_day_ms=2 * HOUR_MS,  # its boards have no daily habit to wait a day for
            ),
            lifecycle=LifecycleOptions.immediate(),  # a one-off sweep: the first flag alerts
            sample_ms=2 * MINUTE_MS,
        )
        with (
            PlexusClient(endpoint=sb.endpoint, api_key=sb.read_key) as client,
            Emitter(api_key=sb.read_key, gateway_url=sb.gateway_url) as emitter,
        ):
            threshold = Threshold(max=3.0, severity="warning", message="fleetscan: off its peers")
            outcomes = [
                o
                for metric in METRICS
                for o in create_all(client, fleet.boards, f"{metric}.fleet_z", threshold)
            ]
            say(
                f"  monitors  {sum(o.ok for o in outcomes)} threshold monitors on "
                "<metric>.fleet_z (max 3.0), as in the tutorial"
            )
            asked = client.requests
            live = live_sweep(
                client=client,
                emitter=emitter,
                store=None,
                metrics=METRICS,
                now_ms=now_ms,
                upper_ms=now_ms + FUTURE_LOOKAHEAD_MS,
                options=options,
            )
            say(
                f"  fetched   {client.requests - asked} requests to /api/v1/telemetry "
                "(window + baseline + sensor health)"
            )
        results = render.ordered(live.outcome.verdicts)
        say(
            f"  posted    {live.events} fleetscan.alert events (the reason) and "
            f"{live.posted} points (fleet_z, fleet_dev, fleet_status) through plexus-python"
        )
        alerted = _wait_for_alerts(sb, expect=len([v for v in results if v.alerting]))
        messages = _slack_messages(sb)

    say("")
    say(f"sweep as of {iso_z(now_ms)}: the series that are not ok")
    shown = [v for v in results if v.result.status.value != "ok"]
    say(render.table(shown) if shown else "  (none)")
    say(render.summary(results))
    say("")
    say("what Slack would say (Plexus alert.triggered + the board's fleetscan.alert event):")
    for line in messages:
        say(f"  {line}")
    say("")
    device = _device_comparison(fleet, say)
    report = DemoReport(
        faulty=faulty,
        alerted=frozenset(alerted),
        results=tuple(results),
        device_anomalies=device,
        seconds=time.monotonic() - started,
    )
    say("")
    say(
        f"alert.triggered fired for {len(report.alerted)} boards: "
        + (", ".join(sorted(report.alerted)) or "none")
    )
    say(
        f"verdict: {len(report.caught)} of {len(faulty)} faulty boards caught, "
        f"{len(report.false_alarms)} of {boards - len(faulty)} healthy boards alerted "
        f"({report.seconds:.1f} s)"
    )
    missed = sorted(faulty - report.alerted)
    if missed:
        say(f"missed: {', '.join(missed)}")
    return report


def _wait_for_alerts(sb: Sandbox, *, expect: int, timeout_s: float = 5.0) -> set[str]:
    """Sources with an `alert.triggered` event; the sandbox's engine runs as points arrive."""
    deadline = time.monotonic() + timeout_s
    while True:
        fired = {
            str(e["data"]["sourceSlug"])  # type: ignore[index]
            for e in sb.alert_events()
            if e.get("event") == "alert.triggered"
        }
        if len(fired) >= expect or time.monotonic() > deadline:
            return fired
        time.sleep(0.05)


def _slack_messages(sb: Sandbox) -> list[str]:
    """One chat line per `alert.triggered`, built from the webhook and its context event."""
    lines = []
    for e in sb.alert_events():
        data = e.get("data")
        if e.get("event") == "alert.triggered" and isinstance(data, dict):
            context = data.get("contextSnapshot")
            lines.append(slack_text(data, context if isinstance(context, dict) else None))
    return sorted(lines)


def _detector(method: str, options: DetectorOptions, _source: str, _metric: str) -> Detector:
    return make_detector(method, options)


def _device_comparison(fleet: SimulatedFleet, say: Callable[[str], None]) -> dict[str, int]:
    """The tutorial's per-device z-score against `auto` on the board with the recent step."""
    ts, values = fleet.series(DEVICE_BOARD, "temperature")
    readings = [
        Reading(DEVICE_BOARD, "temperature", int(t), float(v))
        for t, v in zip(ts, values, strict=True)
        if v == v
    ]
    counts = {}
    options = DetectorOptions(metric="temperature")
    for method in ("tutorial", "auto"):
        runner = DeviceRunner(partial(_detector, method, options), consecutive=3)
        samples = runner.process(readings)
        counts[method] = sum(s.anomaly for s in samples)
        first = next((s for s in samples if s.anomaly), None)
        reason = f"; first: {first.score.check}: {first.score.reason}" if first else ""
        say(
            f"device    {DEVICE_BOARD} temperature, --method {method}: "
            f"{counts[method]} anomalous samples{reason}"
        )
    return counts
