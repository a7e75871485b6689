"""Cohorts found without tags: the few boards whose gaps to the fleet rise and fall together.

Tags are often missing in real fleets, yet the boards of one room (or one corner of a floor)
share its HVAC, its sun and its draughts. In a baseline learned against the whole fleet they
show up as gaps that move together. `neighbours` finds, for each source, up to
`NEIGHBOURS` others whose hourly gaps change together with its own (Pearson correlation of the
hour-to-hour changes of the residuals left after each source's usual gap at that hour of day and
after what the whole fleet shared in that hour, at least `MIN_CORRELATION` and beyond what chance
gives over so few hours, over at least `MIN_SHARED_BUCKETS` hours both were seen; the hours of
day in which a board swings on its own from day to day, like sun on its window, are left out for
it). The scorer compares a board's change
with its neighbours' before the whole fleet's, so a room moving together is one cohort event,
not N drifting boards. `labels` names the groups those links form (`~` + their first board).

Correlating every pair costs S² × B, so discovery is skipped above `MAX_SOURCES` sources (tags
serve large fleets better anyway).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fleetscan.fleet.profile import hourly_medians
from fleetscan.fleet.robust import Bools, Floats, Ints, nan_median
from fleetscan.timeutil import DAY_MS, HOUR_MS

NEIGHBOURS = 4  # at most this many neighbours per source
MIN_CORRELATION = 0.4  # correlation of hour-to-hour changes a neighbour needs
MIN_SHARED_BUCKETS = 8  # hours both sources must have been seen in...
CHANCE_SIGMAS = 2.5  # ...and the correlation beyond this many of chance's σ (1/√hours)
MAX_SOURCES = 500
UNSTEADY_FACTOR = 3.0  # an hour whose day-to-day spread is this many times the board's typical one
UNSTEADY_MIN_DAYS = 5  # days behind an hour before it is judged (two HVAC changes are no habit)


def neighbours(offsets: Floats, bucket_start: Ints, *, bucket_ms: int) -> Ints:
    """(S, NEIGHBOURS) row indexes of each row's neighbours, best first, -1 where none.

    >>> t = np.arange(48, dtype=np.int64) * HOUR_MS
    >>> rng = np.random.default_rng(1)
    >>> room = rng.normal(0, 1, 48)
    >>> gaps = np.vstack([room + rng.normal(0, .2, 48), room + rng.normal(0, .2, 48),
    ...                   *rng.normal(0, 1, (4, 48))])  # two boards of one room, four others
    >>> neighbours(gaps, t, bucket_ms=HOUR_MS)[:, 0].tolist()
    [1, 0, -1, -1, -1, -1]
    """
    n_sources = offsets.shape[0]
    out = np.full((n_sources, NEIGHBOURS), -1, np.int64)
    if n_sources < 2 or n_sources > MAX_SOURCES or offsets.shape[1] < MIN_SHARED_BUCKETS:
        return out
    hour_of = ((bucket_start + bucket_ms // 2) % DAY_MS) // HOUR_MS
    middle, count = hourly_medians(offsets, hour_of)
    # A daily habit is not a shared event: take each hour's usual gap out first.
    residual = offsets - np.where(count >= 2, middle, 0.0)[:, hour_of]
    # What every board shares in a bucket (the level moving under all of them) is no cohort.
    column_median = nan_median(residual.T)
    residual = residual - np.where(np.isfinite(column_median), column_median, 0.0)[None, :]
    # Hours in which a board swings on its own from day to day (sun on its window, strong one day
    # and weak the next) say nothing about who its neighbours are: they are left out for it.
    residual = np.where(_unsteady_hours(residual, hour_of), np.nan, residual)
    # Hour-to-hour changes, not levels: boards of one room step together when its HVAC or a door
    # changes, while slow shared trends (two boards both drifting, sun on two windows on the same
    # clear day) make levels correlate without the boards being neighbours.
    consecutive = np.diff(bucket_start) == bucket_ms
    residual = (residual[:, 1:] - residual[:, :-1])[:, consecutive]
    finite = np.isfinite(residual)
    centred = np.where(finite, residual - nan_median(residual)[:, None], 0.0)
    seen = finite.astype(np.float64)
    shared = seen @ seen.T
    cross = centred @ centred.T
    power = (centred * centred) @ seen.T  # each row's power over the buckets it shares
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cross / np.sqrt(power * power.T)
    corr[~np.isfinite(corr) | (shared < MIN_SHARED_BUCKETS)] = -np.inf
    # Over a few hours chance alone correlates well: a correlation must also lie beyond
    # `CHANCE_SIGMAS` × 1/√n, the spread of correlations of unrelated series over n hours.
    with np.errstate(divide="ignore"):
        corr[corr < CHANCE_SIGMAS / np.sqrt(shared)] = -np.inf
    np.fill_diagonal(corr, -np.inf)
    best = np.argsort(-corr, axis=1, kind="stable")[:, :NEIGHBOURS]
    good = np.take_along_axis(corr, best, axis=1) >= MIN_CORRELATION
    out[:, : best.shape[1]] = np.where(good, best, -1)
    return out


def _unsteady_hours(residual: Floats, hour_of: Ints) -> Bools:
    """Where each row's hour of day has a day-to-day spread (median |residual| over the days)
    over `UNSTEADY_FACTOR` times the row's typical hour's, with `UNSTEADY_MIN_DAYS` days behind
    it: a median over fewer days takes two HVAC changes at one hour for a habit of the board's.

    >>> hours = np.tile(np.arange(24), 6)
    >>> quiet = np.full(144, 0.1) * np.tile([1, -1], 72)
    >>> clear = np.repeat([3.0, 0.0, 3.0, 3.0, 0.0, 0.0], 24)  # clear and dull days
    >>> sunny = quiet + np.where(hours == 9, clear, 0.0)
    >>> np.flatnonzero(_unsteady_hours(np.vstack([quiet, sunny]), hours)[1, :24]).tolist()
    [9]
    >>> bool(_unsteady_hours(np.vstack([quiet, sunny]), hours)[0].any())
    False
    """
    spread, count = hourly_medians(np.abs(residual), hour_of)
    spread = np.where(count >= UNSTEADY_MIN_DAYS, spread, np.nan)
    typical = nan_median(spread)
    with np.errstate(invalid="ignore"):
        unsteady = spread > UNSTEADY_FACTOR * typical[:, None]
    out: Bools = unsteady[:, hour_of]
    return out


def labels(links: Ints, source_ids: Sequence[str], members: np.ndarray) -> tuple[str, ...]:
    """`~<first board>` for the connected groups `links` form among rows where `members` holds,
    "" elsewhere (a source with no linked member is a cohort of its own)."""
    n = len(source_ids)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in np.flatnonzero(members).tolist():
        for j in links[i].tolist():
            if j >= 0 and members[j]:
                a, b = root(i), root(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in np.flatnonzero(members).tolist():
        groups.setdefault(root(i), []).append(i)
    out = [""] * n
    for rows in groups.values():
        if len(rows) >= 2:
            name = "~" + min(source_ids[r] for r in rows)
            for r in rows:
                out[r] = name
    return tuple(out)
