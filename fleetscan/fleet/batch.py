"""Readings of one metric as columns: the input of the per-source reduction and of baselines.

A `SeriesBatch` holds one metric's raw readings for many sources as NumPy arrays (source index,
timestamp, value), so everything downstream is array code. `BatchBuilder` is the one place where
`Reading` objects (from the API client or an input file) become arrays; the simulator and benchmarks
build batches from arrays directly.

Cohorts (`--group-by room`) are labels per source: the tag values of the source's newest reading that
carries any of the group-by tags, so rows that lost their tags do not move a board out of its room.
A source that never carried the tags gets the label `""` and is compared with the other untagged ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fleetscan.fleet.robust import Bools, Floats, Ints
from fleetscan.telemetry import Reading


@dataclass(frozen=True, eq=False)
class SeriesBatch:
    """One metric's readings: `source[i]` indexes `source_ids`; `value` may hold NaN.

    `dropped[s]` counts rows of source `s` removed before they became readings (NaN or null values
    that `parse_rows` skipped); they count as invalid readings of the sweep that sees them.
    """

    metric: str
    source_ids: tuple[str, ...]
    cohorts: tuple[str, ...]
    source: Ints
    ts_ms: Ints
    value: Floats
    dropped: Ints

    def __post_init__(self) -> None:
        n_sources = len(self.source_ids)
        if len(self.cohorts) != n_sources or self.dropped.shape != (n_sources,):
            raise ValueError("cohorts and dropped need one entry per source")
        if not (self.source.shape == self.ts_ms.shape == self.value.shape):
            raise ValueError("source, ts_ms and value must have the same length")
        if len(self.source) and (self.source.min() < 0 or self.source.max() >= n_sources):
            raise ValueError("source indexes outside source_ids")

    @classmethod
    def from_arrays(
        cls,
        metric: str,
        source_ids: Sequence[str],
        source: npt.ArrayLike,
        ts_ms: npt.ArrayLike,
        value: npt.ArrayLike,
        *,
        cohorts: Sequence[str] | None = None,
        dropped: npt.ArrayLike | None = None,
    ) -> SeriesBatch:
        """Build a batch, converting dtypes (cohorts default to one fleet-wide cohort `""`)."""
        n = len(source_ids)
        return cls(
            metric=metric,
            source_ids=tuple(source_ids),
            cohorts=tuple(cohorts) if cohorts is not None else ("",) * n,
            source=np.asarray(source, dtype=np.int64),
            ts_ms=np.asarray(ts_ms, dtype=np.int64),
            value=np.asarray(value, dtype=np.float64),
            dropped=np.zeros(n, np.int64) if dropped is None else np.asarray(dropped, np.int64),
        )

    def __len__(self) -> int:
        return len(self.ts_ms)

    def select(self, rows: Bools) -> SeriesBatch:
        """The same sources with only the rows where `rows` is true (`dropped` is kept)."""
        return SeriesBatch(
            self.metric,
            self.source_ids,
            self.cohorts,
            self.source[rows],
            self.ts_ms[rows],
            self.value[rows],
            self.dropped,
        )

    def between(self, after_ms: int, until_ms: int) -> SeriesBatch:
        """Rows stamped in `(after_ms, until_ms]`, found by binary search: for a batch in time
        order (as `BatchBuilder` builds one from time-ordered readings), a view, not a copy."""
        lo, hi = np.searchsorted(self.ts_ms, [after_ms, until_ms], side="right")
        return SeriesBatch(
            self.metric,
            self.source_ids,
            self.cohorts,
            self.source[lo:hi],
            self.ts_ms[lo:hi],
            self.value[lo:hi],
            self.dropped,
        )

    def until(self, at_ms: int) -> SeriesBatch:
        """Only the rows stamped at or before `at_ms`: what a sweep at `at_ms` could have seen."""
        return self.select(self.ts_ms <= at_ms)


def cohort_label(tags: Mapping[str, str], group_by: Sequence[str]) -> str:
    """The cohort a row belongs to: its group-by tag values joined by `/` (`""` without group-by).

    >>> cohort_label({"site": "hq", "room": "lab-1a"}, ("site", "room")), cohort_label({}, ())
    ('hq/lab-1a', '')
    """
    return "/".join(tags.get(key, "") for key in group_by)


class BatchBuilder:
    """Collects `Reading`s into one `SeriesBatch` per wanted metric.

    Rows are kept per source, so the built batch is grouped by source (in time order when the
    readings arrived in time order, as the API returns them) and the reduction needs no sort.
    """

    def __init__(self, metrics: Sequence[str], *, group_by: Sequence[str] = ()) -> None:
        self.metrics = tuple(dict.fromkeys(metrics))
        self.group_by = tuple(group_by)
        self._rows: dict[str, dict[str, tuple[list[int], list[float]]]] = {
            m: {} for m in self.metrics
        }
        self._cohort: dict[tuple[str, str], tuple[int, Mapping[str, str]]] = {}
        self._dropped: dict[tuple[str, str], int] = {}

    def add(self, readings: Iterable[Reading]) -> None:
        """Add readings; those of other metrics are ignored."""
        rows, cohort, group_by = self._rows, self._cohort, self.group_by
        for r in readings:
            per_source = rows.get(r.metric)
            if per_source is None:
                continue
            columns = per_source.get(r.source_id)
            if columns is None:
                columns = per_source[r.source_id] = ([], [])
            columns[0].append(r.ts_ms)
            columns[1].append(r.value)
            tags = r.tags
            # A row without the tags says nothing about the board's cohort; keep the newest that has.
            if group_by and not tags.keys().isdisjoint(group_by):
                key = (r.metric, r.source_id)
                seen = cohort.get(key)
                if seen is None or r.ts_ms >= seen[0]:
                    cohort[key] = (r.ts_ms, tags)

    def add_dropped(self, by_series: Mapping[tuple[str, str], int]) -> None:
        """Count rows skipped upstream (`ParsedRows.skipped_by_series`) as invalid readings."""
        for (source_id, metric), count in by_series.items():
            if metric in self._rows and source_id and count > 0:
                self._rows[metric].setdefault(source_id, ([], []))
                key = (metric, source_id)
                self._dropped[key] = self._dropped.get(key, 0) + count

    def _label(self, metric: str, source_id: str) -> str:
        seen = self._cohort.get((metric, source_id))
        return "" if seen is None else cohort_label(seen[1], self.group_by)

    def build(self) -> dict[str, SeriesBatch]:
        """One batch per metric, sources in first-seen order, rows grouped by source."""
        batches: dict[str, SeriesBatch] = {}
        for m in self.metrics:
            per_source = self._rows[m]
            ids = tuple(per_source)
            sizes = [len(per_source[s][0]) for s in ids]
            batches[m] = SeriesBatch.from_arrays(
                m,
                ids,
                np.repeat(np.arange(len(ids), dtype=np.int64), sizes),
                np.fromiter((t for s in ids for t in per_source[s][0]), np.int64, sum(sizes)),
                np.fromiter((v for s in ids for v in per_source[s][1]), np.float64, sum(sizes)),
                cohorts=[self._label(m, s) for s in ids],
                dropped=[self._dropped.get((m, s), 0) for s in ids],
            )
        return batches
