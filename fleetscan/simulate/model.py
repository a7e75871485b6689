"""The building the simulated boards live in: sites, rooms, boards and the physics linking them.

Everything here is a pure function of the `FleetSpec` and of a sample's timestamp, except the
random draws, which come from `chunked()`: sample `k` of a stream always takes its random numbers
from the generator keyed `(seed, domain, ..., k // CHUNK)`. A window of samples is therefore
identical whether it is generated alone or as part of the whole series, which is what lets the live
mode and `iter_readings` stream a week-long fleet in slabs, byte-identical to `series()`.

The model, per site (one gateway, one weather):
- outdoor temperature = mean + a diurnal sinusoid peaking at 15:00 local + a few synoptic waves
  (periods of 2-8 days); a room sees it through a first-order building lag (τ of 2-4 h) scaled by
  how exposed the room is (`coupling`, 0.1-0.3), on top of its own setpoint;
- HVAC events (one at a time per room) step its setpoint by ±1.5-3 °C for 40-90 min, τ = 10 min;
- sea-level pressure = 1013.25 hPa + the synoptic waves (±10 hPa) + the semi-diurnal tide (0.5 hPa);
  a board reads it at the site's altitude + 3.5 m per floor + its mounting height (-0.12 hPa/m);
- the room's water-vapour pressure drifts with the weather, and relative humidity is computed from
  it at the board's local temperature (Magnus), so humidity falls when the room warms.
Each board adds a slow local wander (±0.1 °C), a fixed calibration offset and white noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fleetscan.errors import InputError
from fleetscan.simulate.faults import Fault
from fleetscan.simulate.realism import RealWorld, World, build_world

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

METRICS: tuple[str, ...] = ("temperature", "humidity", "pressure")
METRIC_CODE = {name: i for i, name in enumerate(METRICS)}
NOISE_SIGMA = {"temperature": 0.02, "humidity": 0.06, "pressure": 0.015}  # per reading, white
QUANTUM = {"temperature": 0.01, "humidity": 0.01, "pressure": 0.01}  # what the board reports

KNOT_MS = 30_000  # physics evaluated every 30 s and interpolated, see true_values
CHUNK = 4096  # samples per random-number chunk; see the module docstring
HVAC_TAU_S = 600.0  # room air follows a setpoint change with a 10 min time constant
HVAC_SETTLE_MS = int(8 * HVAC_TAU_S * 1000)
FLOOR_HEIGHT_M = 3.5
SCALE_HEIGHT_M = 8434.0  # p(h) = p0·exp(-h/H): about -0.12 hPa per metre near sea level
TIDE_HPA = 0.5  # semi-diurnal atmospheric tide, maxima near 10:00 and 22:00 local
ROOM_KINDS = ("office", "lab", "meeting", "server", "storage", "lobby")
ROOM_SETPOINT_C = {
    "office": 21.5,
    "lab": 21.0,
    "meeting": 22.0,
    "server": 18.5,
    "storage": 19.5,
    "lobby": 20.5,
}
SITE_NAMES = ("hq", "plant-north", "warehouse-east", "lab-south")

# Random-stream domains: the second element of every generator key.
D_SITE, D_ROOM, D_BOARD, D_TIMING, D_LOSS, D_NOISE, D_FAULT, D_HVAC, D_GAPS = range(1, 10)


@dataclass(frozen=True, kw_only=True)
class FleetSpec:
    """What to simulate. Times are epoch ms UTC; `start_ms` is required so output never depends
    on the clock. Rates are per day (`hvac_events_per_day` per room, `gateway_gaps_per_day` per
    site); `loss_rate` is the chance that one sample (all three metrics) is lost in transit."""

    boards: int = 10
    seed: int = 0
    start_ms: int
    duration_s: float = 86_400.0
    cadence_s: float = 2.0
    faults: tuple[Fault, ...] = ()
    boards_per_room: int = 5
    rooms_per_floor: int = 4
    sites: int = 1
    loss_rate: float = 0.01
    jitter_ms: int = 50
    gateway_gaps_per_day: float = 1.0
    hvac_events_per_day: float = 1.0
    float32: bool = False  # pass every value through a C float printed with %.10g, as the C SDK
    utc_offset_h: float = 0.0  # local time of every site, for the day/night cycle
    org_id: str = "org_sim"
    real: RealWorld | None = (
        None  # habits of real fleets (sun, heating, bursty loss...), see realism
    )

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.boards <= 9999, "boards must be 1..9999"),
            (self.seed >= 0, "seed must be >= 0"),
            (self.start_ms > 0, "start_ms must be epoch milliseconds"),
            (self.duration_s > 0, "duration_s must be > 0"),
            (0.1 <= self.cadence_s <= 86_400, "cadence_s must be 0.1..86400"),
            (
                self.jitter_ms >= 0 and 2 * self.jitter_ms < self.cadence_ms,
                "jitter_ms must be >= 0 and under half the cadence",
            ),
            (self.boards_per_room >= 1 and self.rooms_per_floor >= 1, "room sizes must be >= 1"),
            (1 <= self.sites <= self.boards, "sites must be 1..boards"),
            (0 <= self.loss_rate < 1, "loss_rate must be in [0, 1)"),
            (
                self.gateway_gaps_per_day >= 0 and self.hvac_events_per_day >= 0,
                "event rates must be >= 0",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(f"invalid fleet spec: {message}")
        names = set(board_names(self.boards))
        for fault in self.faults:
            if fault.board not in names:
                raise InputError(
                    f"fault {fault.kind!r} names unknown board {fault.board!r}: the fleet has "
                    f"{board_names(self.boards)[0]} .. {board_names(self.boards)[-1]}"
                )
            onset = fault.onset_at(self.start_ms)
            # A gradual fault may already be under way when the simulated window opens.
            gradual = fault.kind in ("drift", "humidity_slide")
            if onset >= self.end_ms or (onset < self.start_ms and not gradual):
                raise InputError(
                    f"fault {fault.kind!r} on {fault.board} starts outside the simulated window"
                )
        for event in self.real.shared_events if self.real else ():
            unknown = sorted(set(event.boards) - names)
            if unknown:
                raise InputError(f"invalid fleet spec: shared event names unknown {unknown[0]!r}")

    @property
    def cadence_ms(self) -> int:
        return int(round(self.cadence_s * 1000))

    @property
    def end_ms(self) -> int:
        """The first millisecond after the simulated window `[start_ms, end_ms)`."""
        return self.start_ms + int(round(self.duration_s * 1000))


def board_names(count: int) -> list[str]:
    """`esp32-bme280-01` ...; two digits, more when the fleet needs them.

    >>> board_names(3), board_names(100)[-1]
    (['esp32-bme280-01', 'esp32-bme280-02', 'esp32-bme280-03'], 'esp32-bme280-100')
    """
    width = max(2, len(str(count)))
    return [f"esp32-bme280-{i:0{width}d}" for i in range(1, count + 1)]


def rng(*key: int) -> np.random.Generator:
    """A generator keyed by non-negative ints (seed, domain, indices...)."""
    return np.random.default_rng(list(key))


def chunked(
    key: tuple[int, ...], k0: int, k1: int, draw: Callable[[np.random.Generator, int], Floats]
) -> Floats:
    """Samples `k0..k1-1` of the stream `key`, drawn chunk by chunk (see the module docstring)."""
    if k1 <= k0:
        return np.empty(0, dtype=np.float64)
    c0, c1 = k0 // CHUNK, (k1 - 1) // CHUNK
    parts = [draw(rng(*key, c), CHUNK) for c in range(c0, c1 + 1)]
    whole = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return whole[k0 - c0 * CHUNK : k1 - c0 * CHUNK]


@dataclass(frozen=True)
class Wave:
    """`amplitude · sin(2π·t/period_s + phase)` on absolute epoch seconds."""

    amplitude: float
    period_s: float
    phase: float

    def at(self, t_s: Floats, lag_s: float = 0.0) -> Floats:
        """The wave, or (with `lag_s`) its response through a first-order lag of time constant τ."""
        omega = 2 * math.pi / self.period_s
        gain = 1 / math.hypot(1.0, omega * lag_s)
        shifted: Floats = (
            gain * self.amplitude * np.sin(omega * t_s + self.phase - math.atan(omega * lag_s))
        )
        return shifted


@dataclass(frozen=True)
class Site:
    name: str
    outdoor_mean_c: float
    diurnal: Wave  # outdoor day/night cycle, phase already in local time
    tide: Wave  # semi-diurnal pressure tide
    temp_waves: tuple[Wave, ...]  # synoptic weather, outdoor temperature
    pressure_waves: tuple[Wave, ...]  # synoptic weather, sea-level pressure
    vapour_hpa: float  # indoor water-vapour pressure before room factors
    altitude_m: float
    gaps: Ints  # gateway outages, shape (n, 2): [start_ms, end_ms), merged and sorted


@dataclass(frozen=True)
class HvacEvent:
    start_ms: int
    end_ms: int
    delta_c: float


@dataclass(frozen=True)
class Room:
    name: str
    site: int
    floor: int
    setpoint_c: float
    coupling: float  # share of the outdoor swing that reaches the room
    lag_s: float  # building time constant
    vapour_factor: float
    hvac: tuple[HvacEvent, ...]


@dataclass(frozen=True)
class Board:
    name: str
    index: int
    room: int
    offset: dict[str, float]  # calibration, per metric
    height_m: float
    wander: tuple[Wave, ...]  # local micro-climate, °C
    phase_ms: int  # when in the cadence this board samples
    samples: int  # nominal samples in the window
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Layout:
    sites: tuple[Site, ...]
    rooms: tuple[Room, ...]
    boards: tuple[Board, ...]
    world: World | None = None  # `FleetSpec.real` resolved, or None


def _poisson_intervals(
    gen: np.random.Generator, spec: FleetSpec, per_day: float, min_s: float, max_s: float
) -> list[tuple[int, int]]:
    count = int(gen.poisson(per_day * spec.duration_s / 86_400))
    starts = gen.integers(spec.start_ms, spec.end_ms, size=count)
    lengths = gen.uniform(min_s * 1000, max_s * 1000, size=count)
    return sorted((int(s), int(s + n)) for s, n in zip(starts, lengths, strict=True))


def _site(spec: FleetSpec, index: int) -> Site:
    gen = rng(spec.seed, D_SITE, index)
    day_s = 86_400.0
    offset_s = spec.utc_offset_h * 3600
    # sin peaks a quarter period after its zero: 15:00 local for the outdoor day cycle.
    diurnal_phase = -2 * math.pi * (9 * 3600 - offset_s) / day_s
    periods = (gen.uniform(1.8, 2.8), gen.uniform(3.0, 4.5), gen.uniform(5.0, 8.0))
    phases = gen.uniform(0, 2 * math.pi, size=3)
    p_amp = (gen.uniform(2, 5), gen.uniform(2, 5), gen.uniform(1, 3))
    t_amp = gen.uniform(0.8, 2.0, size=3)
    t_lag = gen.uniform(math.pi / 2, math.pi, size=3)  # warm air arrives ahead of the high
    gaps: list[tuple[int, int]] = []
    for start, end in _poisson_intervals(
        rng(spec.seed, D_GAPS, index), spec, spec.gateway_gaps_per_day, 30, 300
    ):
        if gaps and start <= gaps[-1][1]:
            gaps[-1] = (gaps[-1][0], max(end, gaps[-1][1]))
        else:
            gaps.append((start, end))
    name = SITE_NAMES[index] if index < len(SITE_NAMES) else f"site-{index + 1}"
    return Site(
        name=name,
        outdoor_mean_c=float(gen.uniform(5, 18)),
        diurnal=Wave(float(gen.uniform(3, 7)), day_s, diurnal_phase),
        tide=Wave(
            TIDE_HPA, day_s / 2, math.pi / 2 - 2 * math.pi * (10 * 3600 - offset_s) / (day_s / 2)
        ),
        temp_waves=tuple(
            Wave(float(a), p * day_s, float(ph + lag))
            for a, p, ph, lag in zip(t_amp, periods, phases, t_lag, strict=True)
        ),
        pressure_waves=tuple(
            Wave(float(a), p * day_s, float(ph))
            for a, p, ph in zip(p_amp, periods, phases, strict=True)
        ),
        vapour_hpa=float(gen.uniform(10, 13)),
        altitude_m=float(gen.uniform(0, 60)),
        gaps=np.array(gaps, dtype=np.int64).reshape(-1, 2),
    )


def _room(spec: FleetSpec, index: int, site: int, in_site: int) -> Room:
    gen = rng(spec.seed, D_ROOM, index)
    kind = ROOM_KINDS[int(gen.integers(len(ROOM_KINDS)))]
    floor, letter = divmod(in_site, spec.rooms_per_floor)
    hvac_gen = rng(spec.seed, D_HVAC, index)
    hvac: list[HvacEvent] = []
    for start, end in _poisson_intervals(hvac_gen, spec, spec.hvac_events_per_day, 2400, 5400):
        delta = float(hvac_gen.choice((-1.0, 1.0)) * hvac_gen.uniform(1.5, 3.0))
        if hvac and start < hvac[-1].end_ms + HVAC_SETTLE_MS:
            continue  # one setpoint change at a time: the room settles before the next
        hvac.append(HvacEvent(start, end, delta))
    return Room(
        name=f"{kind}-{floor + 1}{chr(ord('a') + letter % 26)}",
        site=site,
        floor=floor,
        setpoint_c=float(np.clip(ROOM_SETPOINT_C[kind] + gen.normal(0, 0.8), 17.0, 25.0)),
        coupling=float(gen.uniform(0.1, 0.3)),
        lag_s=float(gen.uniform(2, 4) * 3600),
        vapour_factor=float(gen.uniform(0.85, 1.15)),
        hvac=tuple(hvac),
    )


def _board(
    spec: FleetSpec, index: int, name: str, room: Room, room_index: int, site: Site
) -> Board:
    gen = rng(spec.seed, D_BOARD, index)
    offset = {
        "temperature": float(np.clip(gen.normal(0, 0.12), -0.35, 0.35)),
        "humidity": float(np.clip(gen.normal(0, 0.8), -2.0, 2.0)),
        "pressure": float(np.clip(gen.normal(0, 0.25), -0.7, 0.7)),
    }
    wander = tuple(
        Wave(float(gen.uniform(0.02, 0.05)), float(gen.uniform(1200, 14_400)), float(ph))
        for ph in gen.uniform(0, 2 * math.pi, size=3)
    )
    phase_ms = int(gen.integers(0, spec.cadence_ms))
    span_ms = spec.end_ms - spec.start_ms - phase_ms
    samples = max(0, -(-span_ms // spec.cadence_ms))
    return Board(
        name=name,
        index=index,
        room=room_index,
        offset=offset,
        height_m=float(gen.uniform(0.3, 2.5)),
        wander=wander,
        phase_ms=phase_ms,
        samples=samples,
        tags={"room": room.name, "site": site.name},
    )


def build_layout(spec: FleetSpec) -> Layout:
    """Sites, rooms (boards split evenly, about `boards_per_room` each) and boards, all seeded."""
    n_rooms = max(spec.sites, round(spec.boards / spec.boards_per_room))
    n_rooms = min(n_rooms, spec.boards)
    sites = tuple(_site(spec, s) for s in range(spec.sites))
    room_site = [r * spec.sites // n_rooms for r in range(n_rooms)]
    rooms = tuple(
        _room(spec, r, room_site[r], room_site[:r].count(room_site[r])) for r in range(n_rooms)
    )
    boards = []
    for i, name in enumerate(board_names(spec.boards)):
        r = i * n_rooms // spec.boards
        boards.append(_board(spec, i, name, rooms[r], r, sites[rooms[r].site]))
    world = None
    if spec.real is not None:
        world = build_world(
            spec.real,
            seed=spec.seed,
            start_ms=spec.start_ms,
            end_ms=spec.end_ms,
            utc_offset_h=spec.utc_offset_h,
            board_names=[b.name for b in boards],
            sites=len(sites),
        )
    return Layout(sites, rooms, tuple(boards), world)


def _seconds(ts_ms: Ints) -> Floats:
    return ts_ms.astype(np.float64) / 1000.0


def hvac_offset(room: Room, ts_ms: Ints) -> Floats:
    """The room's HVAC-driven temperature change (°C) at sorted timestamps `ts_ms`."""
    out = np.zeros(ts_ms.shape, dtype=np.float64)
    for ev in room.hvac:
        i0, i1, i2 = np.searchsorted(ts_ms, [ev.start_ms, ev.end_ms, ev.end_ms + HVAC_SETTLE_MS])
        rise = _seconds(ts_ms[i0:i1] - ev.start_ms) / HVAC_TAU_S
        out[i0:i1] += ev.delta_c * (1 - np.exp(-rise))
        peak = ev.delta_c * (1 - math.exp(-(ev.end_ms - ev.start_ms) / 1000 / HVAC_TAU_S))
        out[i1:i2] += peak * np.exp(-_seconds(ts_ms[i1:i2] - ev.end_ms) / HVAC_TAU_S)
    return out


def room_temperature(site: Site, room: Room, ts_ms: Ints) -> Floats:
    """Air temperature of a room (°C), without any board's local wander."""
    t_s = _seconds(ts_ms)
    outdoor = site.diurnal.at(t_s, room.lag_s)
    for wave in site.temp_waves:
        outdoor += wave.at(t_s, room.lag_s)
    return room.setpoint_c + room.coupling * outdoor + hvac_offset(room, ts_ms)


def local_temperature(layout: Layout, board: Board, ts_ms: Ints) -> Floats:
    room = layout.rooms[board.room]
    temp = room_temperature(layout.sites[room.site], room, ts_ms)
    t_s = _seconds(ts_ms)
    for wave in board.wander:
        temp += wave.at(t_s)
    if layout.world is not None:
        temp += layout.world.extra_temperature(board.index, room.site, ts_ms)
    return temp


def saturation_vapour_hpa(temp_c: Floats) -> Floats:
    """Magnus formula over water (hPa)."""
    result: Floats = 6.112 * np.exp(17.62 * temp_c / (243.12 + temp_c))
    return result


def relative_humidity(layout: Layout, board: Board, ts_ms: Ints, temp_c: Floats) -> Floats:
    room = layout.rooms[board.room]
    site = layout.sites[room.site]
    t_s = _seconds(ts_ms)
    weather = np.zeros(ts_ms.shape, dtype=np.float64)
    for wave in site.temp_waves:
        weather += wave.at(t_s, room.lag_s)
    vapour = site.vapour_hpa * room.vapour_factor * (1 + 0.03 * weather)
    rh: Floats = 100.0 * vapour / saturation_vapour_hpa(temp_c)
    return rh


def pressure(layout: Layout, board: Board, ts_ms: Ints) -> Floats:
    room = layout.rooms[board.room]
    site = layout.sites[room.site]
    t_s = _seconds(ts_ms)
    sea_level = 1013.25 + site.tide.at(t_s)
    for wave in site.pressure_waves:
        sea_level += wave.at(t_s)
    height = site.altitude_m + FLOOR_HEIGHT_M * room.floor + board.height_m
    result: Floats = sea_level * math.exp(-height / SCALE_HEIGHT_M)
    return result


def true_values(
    layout: Layout, board: Board, ts_ms: Ints, metrics: tuple[str, ...]
) -> dict[str, Floats]:
    """What a perfect sensor at the board's spot would read, per requested metric.

    Everything here is smooth on the scale of a minute, so the physics is evaluated on knots every
    `KNOT_MS` of absolute time and interpolated linearly (error < 0.002 °C), which is what makes
    a week of 2 s samples cheap. Knots sit on absolute multiples of `KNOT_MS`, so a sample's value
    does not depend on the window it was generated in.
    """
    if len(ts_ms) == 0:
        return {metric: np.empty(0, dtype=np.float64) for metric in metrics}
    first, last = int(ts_ms[0]) // KNOT_MS, int(ts_ms[-1]) // KNOT_MS + 1
    knots = np.arange(first, last + 1, dtype=np.int64) * KNOT_MS
    at_knots: dict[str, Floats] = {}
    if "temperature" in metrics or "humidity" in metrics:
        temp = local_temperature(layout, board, knots)
        if "temperature" in metrics:
            at_knots["temperature"] = temp
        if "humidity" in metrics:
            at_knots["humidity"] = relative_humidity(layout, board, knots, temp)
    if "pressure" in metrics:
        at_knots["pressure"] = pressure(layout, board, knots)
    x = (ts_ms - knots[0]).astype(np.float64)
    xp = (knots - knots[0]).astype(np.float64)
    return {metric: np.interp(x, xp, at_knots[metric]) for metric in metrics}


def in_gaps(gaps: Ints, ts_ms: Ints) -> npt.NDArray[np.bool_]:
    """Which timestamps fall inside one of the merged, sorted `[start, end)` intervals."""
    if len(gaps) == 0:
        return np.zeros(ts_ms.shape, dtype=np.bool_)
    idx = np.searchsorted(gaps[:, 0], ts_ms, side="right") - 1
    inside: npt.NDArray[np.bool_] = (idx >= 0) & (ts_ms < gaps[np.maximum(idx, 0), 1])
    return inside
