"""Habits of real indoor fleets, off by default: `FleetSpec(real=RealWorld(...))` turns them on.

A real floor is not a set of identical rooms. What a study of a public indoor deployment shows
(and what `RealWorld` adds, each part a pure function of the spec, the board and the time):

- **sun on a window**: some boards warm by 3-12 °C a few hours a day, in a window of their own
  (the sun crossing one façade), more on clear days and much less on cloudy ones (each site draws
  one clearness per local day, so the history is bimodal); humidity mirrors it, since relative
  humidity is computed from the board's local temperature;
- **heating**: on weekdays the heating switches on at 07:00 local and off at 18:00, warming every
  board at once; a board over a radiator warms several times as much; weekends stay cool;
- **groups moving together without tags**: neighbouring boards (consecutive names, so a group may
  span two rooms) warming or cooling together for an hour or three, at random or as listed in
  `shared_events` (a corner warming 4 °C on a sunny Saturday, a room's HVAC change of 2 °C);
- **heavy, bursty packet loss**: spells of minutes in which most samples are lost, on top of the
  spec's `loss_rate`;
- **coarse readings**: values reported on an odd step (`quantum`), so codes repeat.

Random draws come from their own generator keys, so turning one habit on never changes another.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from fleetscan.timeutil import DAY_MS, HOUR_MS

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

HEATING_TAU_S = 1800.0  # the rooms warm with a 30 min time constant once the heating is on
GROUP_TAU_S = 900.0  # a group event ramps in and out with a 15 min time constant
# Random-stream domains (the second element of a generator key), clear of `model.D_*`.
D_HABITS, D_CLEAR, D_GROUPS, D_BURSTS = 21, 22, 23, 24


@dataclass(frozen=True, kw_only=True)
class SharedEvent:
    """Boards moving together by `delta_c` from `start_offset_ms` (after the fleet's start) for
    `duration_ms`: a room's HVAC change, a corner in the sun. No tag says so."""

    boards: tuple[str, ...]
    start_offset_ms: int
    duration_ms: int
    delta_c: float


@dataclass(frozen=True, kw_only=True)
class RealWorld:
    """Which habits of real fleets to simulate (see the module docstring). Shares are of boards;
    rates are per day."""

    sun_share: float = 0.0  # boards by a sunny window
    sun_peak_c: tuple[float, float] = (3.0, 12.0)  # warming on a clear day, drawn per board
    radiator_share: float = 0.0  # boards over a radiator
    heating_c: float = 0.0  # every board warms this much while the heating is on (weekdays)
    radiator_c: tuple[float, float] = (2.0, 4.0)  # extra warming over a radiator
    group_events_per_day: float = 0.0  # random groups of neighbours moving together
    group_size: tuple[int, int] = (3, 8)
    shared_events: tuple[SharedEvent, ...] = ()
    loss_bursts_per_day: float = 0.0  # per board: spells of heavy loss...
    loss_burst_rate: float = 0.9  # ...in which this share of samples is lost
    loss_burst_minutes: tuple[float, float] = (2.0, 30.0)
    quantum: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        shares = (self.sun_share, self.radiator_share, self.loss_burst_rate)
        if any(not 0 <= s <= 1 for s in shares):
            raise ValueError("sun_share, radiator_share and loss_burst_rate must be in [0, 1]")
        if self.group_events_per_day < 0 or self.loss_bursts_per_day < 0:
            raise ValueError("event rates must be >= 0")
        if any(not q > 0 for q in self.quantum.values()):
            raise ValueError("quanta must be > 0")
        object.__setattr__(self, "quantum", MappingProxyType(dict(self.quantum)))


@dataclass(frozen=True)
class Habits:
    """One board's own habits: its sun window (local hours) and radiator gain, 0 when none."""

    sun_start_h: float
    sun_hours: float
    sun_peak_c: float
    radiator_c: float


@dataclass(frozen=True)
class World:
    """`RealWorld` resolved for one spec: every board's habits, clear days and group events."""

    real: RealWorld
    start_ms: int
    utc_offset_ms: int
    habits: tuple[Habits, ...]
    clearness: Floats  # (sites, days): 0.15-1.0 per local day from the start's day
    first_day: int  # local day number of clearness[:, 0]
    groups: tuple[tuple[frozenset[int], int, int, float], ...]  # (boards, start, end, delta)
    bursts: tuple[Ints, ...]  # per board, (n, 2) [start, end) of heavy-loss spells

    def extra_temperature(self, board: int, site: int, ts_ms: Ints) -> Floats:
        """What this board's habits add to its room's temperature at `ts_ms` (°C)."""
        out = np.zeros(ts_ms.shape, dtype=np.float64)
        h = self.habits[board]
        local = ts_ms + self.utc_offset_ms
        day = local // DAY_MS
        hour = (local % DAY_MS) / HOUR_MS
        if h.sun_peak_c > 0:
            into = (hour - h.sun_start_h) / h.sun_hours
            inside = (into > 0) & (into < 1)
            clear = self.clearness[site, np.clip(day - self.first_day, 0, None)]
            out += np.where(inside, h.sun_peak_c * clear * np.sin(math.pi * into) ** 2, 0.0)
        heating = self.real.heating_c + h.radiator_c
        if heating > 0:
            out += heating * heating_profile(day, hour)
        for members, start, end, delta in self.groups:
            if board in members:
                out += delta * _pulse(ts_ms, start, end, GROUP_TAU_S)
        return out

    def loss_rate(self, board: int, ts_ms: Ints, base_rate: float) -> Floats:
        """The chance of losing each sample: `base_rate`, or the burst rate inside a spell."""
        spells = self.bursts[board]
        rate = np.full(ts_ms.shape, base_rate)
        if len(spells):
            idx = np.searchsorted(spells[:, 0], ts_ms, side="right") - 1
            inside = (idx >= 0) & (ts_ms < spells[np.maximum(idx, 0), 1])
            rate[inside] = max(base_rate, self.real.loss_burst_rate)
        return rate


def is_weekend(local_day: Ints) -> npt.NDArray[np.bool_]:
    """Saturday or Sunday, for day numbers since 1970-01-01 (a Thursday)."""
    weekend: npt.NDArray[np.bool_] = (local_day + 3) % 7 >= 5
    return weekend


def heating_profile(local_day: Ints, hour: Floats) -> Floats:
    """0..1: the heating's effect, on at 07:00 and off at 18:00 local on weekdays."""
    on_s = np.clip(hour - 7.0, 0.0, 11.0) * 3600.0
    off_s = np.clip(hour - 18.0, 0.0, None) * 3600.0
    level = (1 - np.exp(-on_s / HEATING_TAU_S)) * np.exp(-off_s / HEATING_TAU_S)
    out: Floats = np.where(is_weekend(local_day), 0.0, level)
    return out


def _pulse(ts_ms: Ints, start: int, end: int, tau_s: float) -> Floats:
    """0..1: a first-order rise from `start` and fall from `end`."""
    up = np.clip((ts_ms - start) / 1000.0, 0.0, None)
    down = np.clip((ts_ms - end) / 1000.0, 0.0, None)
    out: Floats = np.where(ts_ms >= start, (1 - np.exp(-up / tau_s)) * np.exp(-down / tau_s), 0.0)
    return out


def build_world(
    real: RealWorld,
    *,
    seed: int,
    start_ms: int,
    end_ms: int,
    utc_offset_h: float,
    board_names: list[str],
    sites: int,
) -> World:
    """Draw every habit for a fleet (deterministic in `seed`)."""
    n = len(board_names)
    offset_ms = int(round(utc_offset_h * HOUR_MS))
    habits = []
    for i in range(n):
        gen = np.random.default_rng([seed, D_HABITS, i])
        draws = gen.random(6)
        sunny = draws[0] < real.sun_share
        warm = draws[1] < real.radiator_share
        habits.append(
            Habits(
                sun_start_h=float(7.0 + 6.0 * draws[2]),
                sun_hours=float(3.0 + 4.0 * draws[3]),
                sun_peak_c=float(np.interp(draws[4], (0, 1), real.sun_peak_c)) if sunny else 0.0,
                radiator_c=float(np.interp(draws[5], (0, 1), real.radiator_c)) if warm else 0.0,
            )
        )
    first_day = (start_ms + offset_ms) // DAY_MS
    days = int((end_ms + offset_ms) // DAY_MS - first_day + 1)
    clearness = np.empty((sites, days))
    for s in range(sites):
        gen = np.random.default_rng([seed, D_CLEAR, s])
        clear = gen.random(days) < 0.55
        clearness[s] = np.where(clear, gen.uniform(0.85, 1.0, days), gen.uniform(0.15, 0.4, days))
    index = {name: i for i, name in enumerate(board_names)}
    groups = [
        (
            frozenset(index[b] for b in ev.boards),
            start_ms + ev.start_offset_ms,
            start_ms + ev.start_offset_ms + ev.duration_ms,
            ev.delta_c,
        )
        for ev in real.shared_events
    ]
    gen = np.random.default_rng([seed, D_GROUPS])
    count = int(gen.poisson(real.group_events_per_day * (end_ms - start_ms) / DAY_MS))
    for _ in range(count):
        size = int(gen.integers(real.group_size[0], real.group_size[1] + 1))
        first = int(gen.integers(0, max(1, n - size + 1)))
        start = int(gen.integers(start_ms, end_ms))
        length = int(gen.uniform(1.0, 3.0) * HOUR_MS)
        delta = float(gen.choice((-1.0, 1.0)) * gen.uniform(1.5, 4.0))
        groups.append((frozenset(range(first, min(n, first + size))), start, start + length, delta))
    bursts = []
    low, high = (m * 60_000 for m in real.loss_burst_minutes)
    for i in range(n):
        gen = np.random.default_rng([seed, D_BURSTS, i])
        k = int(gen.poisson(real.loss_bursts_per_day * (end_ms - start_ms) / DAY_MS))
        starts = np.sort(gen.integers(start_ms, end_ms, size=k))
        ends = starts + gen.uniform(low, high, size=k).astype(np.int64)
        merged: list[tuple[int, int]] = []
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
            else:
                merged.append((s, e))
        bursts.append(np.array(merged, dtype=np.int64).reshape(-1, 2))
    return World(
        real=real,
        start_ms=start_ms,
        utc_offset_ms=offset_ms,
        habits=tuple(habits),
        clearness=clearness,
        first_day=int(first_day),
        groups=tuple(groups),
        bursts=tuple(bursts),
    )
