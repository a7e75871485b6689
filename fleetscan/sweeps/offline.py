"""A one-off sweep over a file (`fleet --input FILE`): the rows read once, one `step_lifecycle` from
an empty state, nothing posted.

As of `at_ms` only the rows up to it count. Without it the sweep runs as of the newest reading
not stamped after `wall_ms` (the caller's clock), and every row counts: rows stamped after it (a
device clock fault) and rows the parser skipped (NaN or null values, whose times are lost) are
reported as invalid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fleetscan.columns import batches
from fleetscan.decode import read_columns
from fleetscan.errors import InputError
from fleetscan.sweeps.step import LifecycleStep, StepOptions, SweepState, step_lifecycle


@dataclass(frozen=True)
class OfflineSweep:
    """The outcome, and a note on the rows that could not be read ("" if none)."""

    outcome: LifecycleStep
    skipped: str = ""


def offline_sweep(
    path: Path,
    metrics: Sequence[str],
    *,
    at_ms: int | None,
    wall_ms: int,
    options: StepOptions,
) -> OfflineSweep:
    """Sweep the rows of `path` once; `InputError` when no row of it could be read."""
    rows = read_columns(path, group_by=options.sweep.group_by)
    if not len(rows.ts_ms):
        raise InputError(f"no row of {path} could be read ({rows.skipped_summary() or 'no rows'})")
    if at_ms is not None:
        sweep_at = at_ms
        counted = rows.ts_ms <= sweep_at
        if not counted.all():  # a file of rows up to --at is not copied
            rows = rows.select(counted)
    else:
        past = rows.ts_ms[rows.ts_ms <= wall_ms]
        sweep_at = int(past.max()) if len(past) else wall_ms
    found = batches(rows, metrics, dropped=rows.skipped_by_series if at_ms is None else None)
    skipped = ""
    if rows.skipped:
        unknown = " (their times are unknown, so --at does not count them)" if at_ms else ""
        skipped = rows.skipped_summary() + unknown
    del rows  # the batches hold what the sweep reads: the file's columns go before it runs
    return OfflineSweep(step_lifecycle(SweepState(), found, sweep_at, options), skipped)
