"""`SimulatedFleet`, the simulator's public face: series, readings, Plexus rows, ground truth."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import MappingProxyType

import numpy as np

from fleetscan.errors import InputError
from fleetscan.simulate.faults import format_fault
from fleetscan.simulate.generate import Sampler
from fleetscan.simulate.model import METRICS, Board, FleetSpec, Floats, Ints
from fleetscan.telemetry import Reading
from fleetscan.timeutil import plexus_timestamp

Series = tuple[Ints, Floats]
SLAB_SAMPLES = 200_000  # samples merged and sorted at a time by the time-ordered iterators


class SimulatedFleet:
    """A seeded, deterministic fleet of ESP32 + BME280 boards (see `fleetscan.simulate`).

    `series()` arrays are cached per board (the `cache_boards` most recently used boards) and
    returned read-only; copy them before modifying.
    """

    def __init__(self, spec: FleetSpec, *, cache_boards: int = 64) -> None:
        self.spec = spec
        self._sampler = Sampler(spec)
        self.layout = self._sampler.layout
        self.boards: list[str] = [b.name for b in self.layout.boards]
        self._tags = {b.name: MappingProxyType(dict(b.tags)) for b in self.layout.boards}
        self._cache: OrderedDict[str, dict[object, Series | Ints]] = OrderedDict()
        self._cache_boards = max(1, cache_boards)

    @property
    def start_ms(self) -> int:
        return self.spec.start_ms

    @property
    def end_ms(self) -> int:
        """The first millisecond after the simulated window."""
        return self.spec.end_ms

    def _board(self, name: str) -> Board:
        try:
            return self._sampler.boards[name]
        except KeyError:
            raise InputError(
                f"unknown board {name!r}: the fleet has {self.boards[0]} .. {self.boards[-1]}"
            ) from None

    def tags(self, board: str) -> dict[str, str]:
        """`{"room": ..., "site": ...}` for a board (a fresh dict)."""
        self._board(board)
        return dict(self._tags[board])

    def series(
        self, board: str, metric: str, *, start_ms: int | None = None, end_ms: int | None = None
    ) -> Series:
        """`(ts_ms int64, values float64)` of the samples that reach Plexus, NaN readings included.

        Without a window the whole series is generated once and cached; with `[start_ms, end_ms)`
        only that window is generated (not cached), identical to the same slice of the whole.
        """
        b = self._board(board)
        if metric not in METRICS:
            raise InputError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
        if start_ms is not None or end_ms is not None:
            return self._window(b, metric, start_ms, end_ms)
        entry = self._cache.get(board)
        if entry is None:
            entry = self._cache[board] = {}
            while len(self._cache) > self._cache_boards:
                self._cache.popitem(last=False)
        self._cache.move_to_end(board)
        cached = entry.get(metric)
        if isinstance(cached, tuple):
            return cached
        block = self._sampler.block(b, 0, b.samples, (metric,))
        present = block.present[metric]
        # Metrics sharing a presence mask (no per-metric dropout) share one timestamp array.
        ts_key = (
            "ts",
            tuple(
                i
                for i, f in enumerate(self.spec.faults)
                if f.board == board and f.kind == "dropout" and metric in f.metrics
            ),
        )
        ts = entry.get(ts_key)
        if not isinstance(ts, np.ndarray):
            ts = block.ts[present]
            ts.flags.writeable = False
            entry[ts_key] = ts
        values = block.values[metric][present]
        values.flags.writeable = False
        entry[metric] = (ts, values)
        return ts, values

    def _window(self, b: Board, metric: str, start_ms: int | None, end_ms: int | None) -> Series:
        lo = self.start_ms if start_ms is None else start_ms
        hi = self.end_ms if end_ms is None else end_ms
        jitter = self.spec.jitter_ms
        k0 = self._sampler.index_at(b, lo - jitter)
        k1 = self._sampler.index_at(b, hi + jitter)
        block = self._sampler.block(b, k0, k1, (metric,))
        keep = block.present[metric] & (block.ts >= lo) & (block.ts < hi)
        return block.ts[keep], block.values[metric][keep]

    def _merged(
        self,
        metrics: tuple[str, ...],
        start_ms: int | None,
        end_ms: int | None,
        boards: Iterable[str] | None,
    ) -> Iterator[tuple[str, str, int, float]]:
        """`(board, metric, ts_ms, value)` in time order (ties: board, then metric order)."""
        for metric in metrics:
            if metric not in METRICS:
                raise InputError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
        names = list(self.boards if boards is None else boards)
        chosen = [self._board(n) for n in names]
        lo = self.start_ms if start_ms is None else max(start_ms, self.start_ms)
        hi = self.end_ms if end_ms is None else min(end_ms, self.end_ms)
        per_ms = max(1, len(chosen) * len(metrics)) / self.spec.cadence_ms
        slab_ms = max(self.spec.cadence_ms, int(SLAB_SAMPLES / per_ms))
        for slab_lo in range(lo, hi, slab_ms):
            slab_hi = min(slab_lo + slab_ms, hi)
            parts_ts, parts_v, parts_b, parts_m = [], [], [], []
            for bi, b in enumerate(chosen):
                jitter = self.spec.jitter_ms
                k0 = self._sampler.index_at(b, slab_lo - jitter)
                k1 = self._sampler.index_at(b, slab_hi + jitter)
                block = self._sampler.block(b, k0, k1, metrics)
                inside = (block.ts >= slab_lo) & (block.ts < slab_hi)
                for mi, metric in enumerate(metrics):
                    keep = inside & block.present[metric]
                    parts_ts.append(block.ts[keep])
                    parts_v.append(block.values[metric][keep])
                    parts_b.append(np.full(int(keep.sum()), bi, dtype=np.int64))
                    parts_m.append(np.full(int(keep.sum()), mi, dtype=np.int64))
            if not parts_ts:
                continue
            ts, values = np.concatenate(parts_ts), np.concatenate(parts_v)
            bidx, midx = np.concatenate(parts_b), np.concatenate(parts_m)
            order = np.lexsort((midx, bidx, ts))
            for t, v, bi, mi in zip(
                ts[order].tolist(),
                values[order].tolist(),
                bidx[order].tolist(),
                midx[order].tolist(),
                strict=True,
            ):
                yield names[bi], metrics[mi], t, v

    def iter_readings(
        self,
        metrics: Iterable[str] = METRICS,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        boards: Iterable[str] | None = None,
    ) -> Iterator[Reading]:
        """`Reading`s across boards in time order, within `[start_ms, end_ms)`.

        NaN readings are skipped (a `Reading` is always finite); `iter_rows` keeps them.
        """
        for board, metric, ts, value in self._merged(tuple(metrics), start_ms, end_ms, boards):
            if value == value:
                yield Reading(board, metric, ts, value, self._tags[board])

    def iter_rows(
        self,
        metrics: Iterable[str] = METRICS,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        boards: Iterable[str] | None = None,
    ) -> Iterator[dict[str, object]]:
        """Plexus rows (docs/plexus-contract.md §1.4) in time order; a NaN reading has value None."""
        org = self.spec.org_id
        for board, metric, ts, value in self._merged(tuple(metrics), start_ms, end_ms, boards):
            yield {
                "org_id": org,
                "source_id": board,
                "metric": metric,
                "value": value if value == value else None,
                "timestamp": plexus_timestamp(ts),
                "tags": dict(self._tags[board]),
            }

    def write_jsonl(
        self,
        path: str | Path,
        *,
        metrics: Iterable[str] = METRICS,
        start_ms: int | None = None,
        end_ms: int | None = None,
        boards: Iterable[str] | None = None,
    ) -> int:
        """Write `iter_rows()` as JSON lines (NaN as null); returns the number of rows."""
        count = 0
        with Path(path).open("w", encoding="utf-8", newline="\n") as out:
            for row in self.iter_rows(metrics, start_ms=start_ms, end_ms=end_ms, boards=boards):
                out.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
                count += 1
        return count

    def ground_truth(self) -> list[dict[str, object]]:
        """One record per injected fault: board, room, site, kind, metrics, onset, size."""
        records: list[dict[str, object]] = []
        for fault in self.spec.faults:
            onset = fault.onset_at(self.start_ms)
            tags = self._tags[fault.board]
            records.append(
                {
                    "board": fault.board,
                    "room": tags["room"],
                    "site": tags["site"],
                    "kind": fault.kind,
                    "metrics": list(fault.metrics),
                    "onset_ms": onset,
                    "onset": plexus_timestamp(onset),
                    "size": fault.size,
                    "size_unit": fault.size_unit(),
                    "fault": format_fault(fault),
                }
            )
        return records

    def write_ground_truth(self, path: str | Path) -> None:
        """`ground_truth()` as a JSON array."""
        text = json.dumps(self.ground_truth(), ensure_ascii=False, indent=2)
        Path(path).write_text(text + "\n", encoding="utf-8")

    def hvac_events(self) -> list[dict[str, object]]:
        """Every HVAC setpoint step (a normal event that moves a whole room), in time order."""
        keyed: list[tuple[int, str, dict[str, object]]] = []
        for ri, room in enumerate(self.layout.rooms):
            members = [b.name for b in self.layout.boards if b.room == ri]
            site = self.layout.sites[room.site].name
            for ev in room.hvac:
                keyed.append(
                    (
                        ev.start_ms,
                        room.name,
                        {
                            "site": site,
                            "room": room.name,
                            "boards": members,
                            "start_ms": ev.start_ms,
                            "end_ms": ev.end_ms,
                            "delta_c": ev.delta_c,
                        },
                    )
                )
        return [event for _, _, event in sorted(keyed, key=lambda k: (k[0], k[1]))]

    def gateway_gaps(self) -> list[dict[str, object]]:
        """Every gateway outage `[start_ms, end_ms)`: no board of that site reaches Plexus."""
        return [
            {"site": site.name, "start_ms": int(s), "end_ms": int(e)}
            for site in self.layout.sites
            for s, e in site.gaps.tolist()
        ]
