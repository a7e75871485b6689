"""Telemetry rows as columns: what the typed decoders (`decode.py`) produce, without row objects.

`RowColumns` is the columnar twin of `telemetry.ParsedRows`: one entry per valid reading (source,
metric and cohort label as codes into small tuples, epoch-ms timestamp, finite value), plus the
same tally of skipped rows by reason and by (source, metric). `batches` turns it into one
`SeriesBatch` per metric exactly as `BatchBuilder` would from the same rows in the same order:
sources in first-seen order, rows grouped by source in arrival order, each source labelled with
the cohort of its newest row carrying a group-by tag, skipped rows counted as dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from fleetscan.fleet.batch import SeriesBatch, cohort_label
from fleetscan.fleet.robust import Bools, Floats, Ints
from fleetscan.telemetry import ParsedRows, Reading

Array = TypeVar("Array", Ints, Floats)
NO_LABEL = -1  # the row carries none of the group-by tags: it says nothing about its cohort


@dataclass(frozen=True, eq=False)
class RowColumns:
    """Valid readings as aligned columns, and the rows skipped on the way (see the module doc)."""

    source_ids: tuple[str, ...]
    metrics: tuple[str, ...]
    labels: tuple[str, ...]
    source: Ints
    metric: Ints
    ts_ms: Ints
    value: Floats
    label: Ints
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_by_series: Counter[tuple[str, str]] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.ts_ms)

    @classmethod
    def empty(cls) -> RowColumns:
        none = np.zeros(0, np.int64)
        return cls((), (), (), none, none, none, np.zeros(0), none)

    def skipped_summary(self) -> str:
        """The same note as `ParsedRows.skipped_summary`."""
        return ParsedRows(skipped=self.skipped).skipped_summary()

    def select(self, rows: Bools | Ints) -> RowColumns:
        """Only the readings `rows` picks (the skip tallies are kept)."""
        return RowColumns(
            self.source_ids,
            self.metrics,
            self.labels,
            self.source[rows],
            self.metric[rows],
            self.ts_ms[rows],
            self.value[rows],
            self.label[rows],
            self.skipped,
            self.skipped_by_series,
        )

    @classmethod
    def from_parsed(cls, parsed: ParsedRows, *, group_by: Sequence[str] = ()) -> RowColumns:
        """The per-row path's result (the fallback for malformed input) as columns."""
        return cls.from_readings(
            parsed.readings,
            group_by=group_by,
            skipped=parsed.skipped,
            skipped_by_series=parsed.skipped_by_series,
        )

    @classmethod
    def from_readings(
        cls,
        readings: Sequence[Reading],
        *,
        group_by: Sequence[str] = (),
        skipped: Counter[str] | None = None,
        skipped_by_series: Counter[tuple[str, str]] | None = None,
    ) -> RowColumns:
        sources: dict[str, int] = {}
        metrics: dict[str, int] = {}
        labels: dict[str, int] = {}
        keys = tuple(group_by)

        def label(tags: Mapping[str, str]) -> int:
            if not keys or tags.keys().isdisjoint(keys):
                return NO_LABEL
            return labels.setdefault(cohort_label(tags, keys), len(labels))

        n = len(readings)
        source = np.fromiter(
            (sources.setdefault(r.source_id, len(sources)) for r in readings), np.int64, n
        )
        metric = np.fromiter(
            (metrics.setdefault(r.metric, len(metrics)) for r in readings), np.int64, n
        )
        labelled = np.fromiter((label(r.tags) for r in readings), np.int64, n)
        return cls(
            tuple(sources),
            tuple(metrics),
            tuple(labels),
            source,
            metric,
            np.fromiter((r.ts_ms for r in readings), np.int64, n),
            np.fromiter((r.value for r in readings), np.float64, n),
            labelled,
            Counter(skipped or {}),
            Counter(skipped_by_series or {}),
        )

    @staticmethod
    def concat(parts: Iterable[RowColumns]) -> RowColumns:
        """The parts' readings one after the other, codes merged; skip tallies added up."""
        chunks = list(parts)
        if len(chunks) == 1:
            return chunks[0]
        joined = ColumnsBuilder()
        for c in chunks:
            joined.add(c)
        del chunks
        return joined.build()


class ColumnsBuilder:
    """`RowColumns` joined part by part (as `RowColumns.concat`), each part's codes merged as it
    comes: a reader can drop each part once added, and `build` joins one column at a time, so
    the parts and the joined columns are not all held at once."""

    def __init__(self) -> None:
        self._sources: dict[str, int] = {}
        self._metrics: dict[str, int] = {}
        self._labels: dict[str, int] = {}
        self._columns: tuple[list[Ints], list[Ints], list[Ints], list[Floats], list[Ints]] = (
            [], [], [], [], []
        )  # fmt: skip
        self._skipped: Counter[str] = Counter()
        self._by_series: Counter[tuple[str, str]] = Counter()

    def add(self, part: RowColumns) -> None:
        source, metric, ts_ms, value, label = self._columns
        source.append(_recode(part.source, part.source_ids, self._sources))
        metric.append(_recode(part.metric, part.metrics, self._metrics))
        ts_ms.append(part.ts_ms)
        value.append(part.value)
        label.append(_recode(part.label, part.labels, self._labels))
        self._skipped.update(part.skipped)
        self._by_series.update(part.skipped_by_series)

    def build(self) -> RowColumns:
        """The readings added, as one `RowColumns` (once: the pieces are released as joined)."""
        if not self._columns[0]:
            return RowColumns.empty()
        source, metric, ts_ms, value, label = self._columns
        return RowColumns(
            tuple(self._sources),
            tuple(self._metrics),
            tuple(self._labels),
            _joined(source),
            _joined(metric),
            _joined(ts_ms),
            _joined(value),
            _joined(label),
            self._skipped,
            self._by_series,
        )


def _joined(pieces: list[Array]) -> Array:
    """The pieces end to end; the list is emptied, so each column's pieces go once joined."""
    out = np.concatenate(pieces)
    pieces.clear()
    return out


def _recode(codes: Ints, names: tuple[str, ...], merged: dict[str, int]) -> Ints:
    """`codes` into `names`, as codes into the growing `merged` (NO_LABEL stays NO_LABEL).

    When `names` begins with the merged names in their order (chunks of one file coded in
    turn), its codes are merged codes already: only its new names are added.
    """
    known = len(merged)
    if known <= len(names) and tuple(merged) == names[:known]:
        for name in names[known:]:
            merged[name] = len(merged)
        return codes
    table = np.array([merged.setdefault(n, len(merged)) for n in names] + [NO_LABEL], np.int64)
    out: Ints = table[codes]  # code -1 picks the trailing NO_LABEL
    return out


def batches(
    columns: RowColumns,
    metrics: Sequence[str],
    *,
    dropped: Mapping[tuple[str, str], int] | None = None,
) -> dict[str, SeriesBatch]:
    """One `SeriesBatch` per wanted metric, as `BatchBuilder` builds it from the same rows.

    `dropped` are skipped rows by (source, metric) to count as invalid readings (usually
    `columns.skipped_by_series`); their sources come after those with readings, as in
    `BatchBuilder.add_dropped`.
    """
    out: dict[str, SeriesBatch] = {}
    code_of = {m: i for i, m in enumerate(columns.metrics)}
    for m in dict.fromkeys(metrics):
        code = code_of.get(m)
        rows: Ints | slice = (
            np.zeros(0, np.int64)
            if code is None
            else slice(None)  # every row is of this metric: views, not copies
            if len(columns.metrics) == 1
            else np.flatnonzero(columns.metric == code)
        )
        out[m] = _metric_batch(columns, m, rows, dropped or {})
    return out


def _metric_batch(
    columns: RowColumns, metric: str, rows: Ints | slice, dropped: Mapping[tuple[str, str], int]
) -> SeriesBatch:
    src = columns.source[rows]
    first = np.full(len(columns.source_ids), len(src), np.int64)
    np.minimum.at(first, src, np.arange(len(src)))  # each source's first row, in one pass
    present = np.flatnonzero(first < len(src))
    seen = present[np.argsort(first[present], kind="stable")]  # sources in first-seen order
    ids = [columns.source_ids[s] for s in seen.tolist()]
    known = set(ids)
    counts: dict[str, int] = {}
    for (source_id, m), n in dropped.items():
        if m == metric and source_id and n > 0:
            if source_id not in known:
                known.add(source_id)
                ids.append(source_id)
            counts[source_id] = counts.get(source_id, 0) + n
    local = np.zeros(len(columns.source_ids), np.int64)
    local[seen] = np.arange(len(seen))
    local_src = local[src]
    # Grouped by source, arrival order kept; NumPy sorts 16-bit codes stably by radix, in O(n).
    narrow = local_src.astype(np.uint16) if len(seen) <= 1 << 16 else local_src
    order = np.argsort(narrow, kind="stable")
    cohorts = [""] * len(ids)
    labelled = np.flatnonzero(columns.label[rows] != NO_LABEL)
    if len(labelled):
        ts = columns.ts_ms[rows][labelled]
        who = local_src[labelled]
        newest = np.lexsort((labelled, ts, who))  # the last row of each source: newest, then latest
        last = newest[np.r_[who[newest][1:] != who[newest][:-1], True]]
        for s, lab in zip(
            who[last].tolist(), columns.label[rows][labelled][last].tolist(), strict=True
        ):
            cohorts[s] = columns.labels[lab]
    return SeriesBatch.from_arrays(
        metric,
        ids,
        local_src[order],
        columns.ts_ms[rows][order],
        columns.value[rows][order],
        cohorts=cohorts,
        dropped=[counts.get(s, 0) for s in ids],
    )
