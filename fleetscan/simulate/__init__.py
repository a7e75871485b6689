"""A simulated fleet of ESP32 + BME280 boards that looks like real buildings, with injected faults.

    from fleetscan.simulate import Fault, FleetSpec, SimulatedFleet, parse_fault

    spec = FleetSpec(boards=50, seed=7, start_ms=1781258400000, duration_s=7 * 86400,
                     faults=(parse_fault("esp32-bme280-07:drift:5@1h"),))
    fleet = SimulatedFleet(spec)
    ts, values = fleet.series("esp32-bme280-07", "temperature")   # int64 ms, float64 (NaN kept)
    fleet.write_jsonl("fleet.jsonl"); fleet.write_ground_truth("truth.json")

Boards are `esp32-bme280-01` ... (two digits, three from 100 boards), grouped about
`boards_per_room` to a room (tags `{"room", "site"}`), sampling temperature (°C), humidity (%) and
pressure (hPa) every `cadence_s`. Modules, in data-flow order:

- `faults`: `Fault`, the `--fault` syntax (`parse_fault`, `format_fault`) and what each kind does;
- `model`: `FleetSpec`, the layout (sites, rooms, boards) and the building physics;
- `generate`: samples from the model: jitter, losses, gateway gaps, noise, quantisation, faults;
- `fleet`: `SimulatedFleet`, the public API (series, readings, Plexus rows, ground truth);
- `live`: `run_live` / `LiveFleet`, playing the fleet through plexus-python in real time.

Same seed and spec give byte-identical output. Output depends only on the spec, never on the clock.
"""

from __future__ import annotations

from fleetscan.simulate.faults import FAULT_KINDS, Fault, format_fault, parse_fault
from fleetscan.simulate.fleet import SimulatedFleet
from fleetscan.simulate.live import LiveFleet, LiveStats, drive, run_live
from fleetscan.simulate.model import METRICS, FleetSpec, board_names

__all__ = [
    "FAULT_KINDS",
    "METRICS",
    "Fault",
    "FleetSpec",
    "LiveFleet",
    "LiveStats",
    "SimulatedFleet",
    "board_names",
    "drive",
    "format_fault",
    "parse_fault",
    "run_live",
]
