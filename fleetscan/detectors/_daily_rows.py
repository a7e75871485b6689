"""`daily.DailyRange` as arrays, one row per stream (see `_rows.py` for the conventions).

Per row: for each of the `SLOTS` time-of-day slots a ring of its last `DAYS + 1` days
(day, min, max; the newest may be today's, still filling) and the ring's newest place; and a
ring of the last `DAYS + 1` whole days (day, min, max).
"""

from __future__ import annotations

import numpy as np

from fleetscan.detectors._rows import B, F, I, Rows
from fleetscan.detectors.daily import (
    DAYS,
    INFORMATIVE,
    MARGIN,
    NO_DAY,
    SLOT_MS,
    SLOTS,
    STALE_DAYS,
)

RING = DAYS + 1  # the days each slot keeps (the newest may be today's, still filling)
WHOLE = DAYS + 1


class DailyRows(Rows):
    """`DailyRange` for many streams: `learn(rows, ts, values)`, `explains(rows, ts, values)`."""

    fills = {
        "day": NO_DAY, "low": 0.0, "high": 0.0, "newest": 0,
        "w_day": 0, "w_low": 0.0, "w_high": 0.0, "w_n": 0, "w_head": 0,
    }  # fmt: skip

    def __init__(self, *, floor: float) -> None:
        self.floor = floor
        self.day: I = np.zeros((0, SLOTS, RING), np.int64)  # per slot, a ring of DAYS + 1 days
        self.low: F = np.zeros((0, SLOTS, RING))
        self.high: F = np.zeros((0, SLOTS, RING))
        self.newest: I = np.zeros((0, SLOTS), np.int64)  # each slot's newest place in its ring
        self.w_day: I = np.zeros((0, WHOLE), np.int64)  # the last DAYS + 1 whole days
        self.w_low: F = np.zeros((0, WHOLE))
        self.w_high: F = np.zeros((0, WHOLE))
        self.w_n: I = np.zeros(0, np.int64)
        self.w_head: I = np.zeros(0, np.int64)

    def learn(self, rows: I, ts: I, values: F) -> None:
        """`DailyRange.learn` per row."""
        day, slot = np.divmod(ts // SLOT_MS, SLOTS)
        n, head = self.w_n[rows], self.w_head[rows]
        last = (head + n - 1) % WHOLE
        some = n > 0
        last_day = np.where(some, self.w_day[rows, last], 0)
        same = some & (last_day == day)
        r, at = rows[same], last[same]
        self.w_low[r, at] = np.minimum(self.w_low[r, at], values[same])
        self.w_high[r, at] = np.maximum(self.w_high[r, at], values[same])
        new = ~some | (last_day < day)
        r, n, head = rows[new], n[new], head[new]
        full = n >= WHOLE
        at = np.where(full, head, (head + n) % WHOLE)
        self.w_day[r, at], self.w_low[r, at], self.w_high[r, at] = (
            day[new],
            values[new],
            values[new],
        )
        self.w_head[r] = np.where(full, (head + 1) % WHOLE, head)
        self.w_n[r] = np.minimum(n + 1, WHOLE)
        cell = self.newest[rows, slot]
        held = self.day[rows, slot, cell]
        today = held == day
        r, s, c = rows[today], slot[today], cell[today]
        self.low[r, s, c] = np.minimum(self.low[r, s, c], values[today])
        self.high[r, s, c] = np.maximum(self.high[r, s, c], values[today])
        later = held < day  # a new day in this slot: it takes the oldest place
        cell = np.where(later, (cell + 1) % RING, cell)
        self.newest[rows, slot] = cell
        fresh = ~today  # (time ran backwards: the newest place is overwritten)
        r, s, c = rows[fresh], slot[fresh], cell[fresh]
        self.day[r, s, c], self.low[r, s, c], self.high[r, s, c] = (
            day[fresh], values[fresh], values[fresh]
        )  # fmt: skip

    def explains(self, rows: I, ts: I, values: F) -> B:
        """`DailyRange.explains` per row: this slot or a neighbour held `value` on each recent day."""
        day, slot = np.divmod(ts // SLOT_MS, SLOTS)
        at = np.arange(WHOLE)[None, :]
        valid = ((at - self.w_head[rows, None]) % WHOLE) < self.w_n[rows, None]
        w_day = self.w_day[rows]
        recent = valid & (w_day >= (day - DAYS)[:, None]) & (w_day < day[:, None])
        enough = recent.sum(axis=1) >= DAYS
        high = np.where(recent, self.w_high[rows], -np.inf).max(axis=1)
        low = np.where(recent, self.w_low[rows], np.inf).min(axis=1)
        spread = INFORMATIVE * (high - low)
        result = np.zeros(len(rows), np.bool_)
        left = np.flatnonzero(enough)
        for k in (0, -1, 1):
            if not len(left):
                break
            near = (slot[left] + k) % SLOTS
            held = self._held(rows[left], near, day[left], values[left], spread[left])
            result[left[held]] = True
            left = left[~held]
        return result

    def _held(self, rows: I, slot: I, day: I, values: F, spread: F) -> B:
        """`DailyRange._held`: the last DAYS days of the slot that are over, in (day, min, max) order."""
        days, lows, highs = self.day[rows, slot], self.low[rows, slot], self.high[rows, slot]
        over = (days > NO_DAY) & (days < day[:, None])
        key = np.where(over, days, NO_DAY - 1)  # places not over sort first, and are cut
        order = np.lexsort((highs, lows, key), axis=1)[:, -DAYS:]
        days = np.take_along_axis(days, order, axis=1)
        lows = np.take_along_axis(lows, order, axis=1)
        highs = np.take_along_axis(highs, order, axis=1)
        ok = np.take_along_axis(over, order, axis=1).all(axis=1)  # DAYS of them
        ok &= ~(days[:, 0] < day - STALE_DAYS)
        ok &= ~(highs.max(axis=1) - lows.min(axis=1) > spread)
        narrowest = (highs - lows).min(axis=1)  # the margin: no wider than needed
        margin = np.maximum(MARGIN * narrowest, self.floor)
        inside = ((lows - margin[:, None]) <= values[:, None]) & (
            values[:, None] <= (highs + margin[:, None])
        )
        held: B = ok & inside.all(axis=1)
        return held
