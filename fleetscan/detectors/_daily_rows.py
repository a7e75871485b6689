"""`daily.DailyRange` as arrays, one row per stream (see `_rows.py` for the conventions).

Per row: for each of the `SLOTS` time-of-day slots a ring of the last `DAYS` completed days'
(day, min, max) and today's (day, min, max); and a ring of the last `DAYS + 1` whole days. The
class moves a slot's finished day into its ring lazily (when the slot is next read or written);
so does this, in the same order, so the state is the class's at every step.
"""

from __future__ import annotations

import numpy as np

from fleetscan.detectors._rows import B, F, I, Rows
from fleetscan.detectors.daily import DAYS, INFORMATIVE, MARGIN, SLOT_MS, SLOTS, STALE_DAYS

WHOLE = DAYS + 1


class DailyRows(Rows):
    """`DailyRange` for many streams: `learn(rows, ts, values)`, `explains(rows, ts, values)`."""

    fills = {
        "day": 0, "low": 0.0, "high": 0.0, "count": 0, "head": 0,
        "t_day": 0, "t_low": 0.0, "t_high": 0.0, "t_has": False,
        "w_day": 0, "w_low": 0.0, "w_high": 0.0, "w_n": 0, "w_head": 0,
    }  # fmt: skip

    def __init__(self, *, floor: float) -> None:
        self.floor = floor
        self.day: I = np.zeros((0, SLOTS, DAYS), np.int64)
        self.low: F = np.zeros((0, SLOTS, DAYS))
        self.high: F = np.zeros((0, SLOTS, DAYS))
        self.count: I = np.zeros((0, SLOTS), np.int64)
        self.head: I = np.zeros((0, SLOTS), np.int64)
        self.t_day: I = np.zeros((0, SLOTS), np.int64)
        self.t_low: F = np.zeros((0, SLOTS))
        self.t_high: F = np.zeros((0, SLOTS))
        self.t_has: B = np.zeros((0, SLOTS), np.bool_)
        self.w_day: I = np.zeros((0, WHOLE), np.int64)
        self.w_low: F = np.zeros((0, WHOLE))
        self.w_high: F = np.zeros((0, WHOLE))
        self.w_n: I = np.zeros(0, np.int64)
        self.w_head: I = np.zeros(0, np.int64)

    def _push(self, rows: I, slot: I) -> None:
        """Append each row's today (in `slot`) to that slot's ring of days (maxlen DAYS)."""
        n, head = self.count[rows, slot], self.head[rows, slot]
        full = n >= DAYS
        at = np.where(full, head, (head + n) % DAYS)
        self.day[rows, slot, at] = self.t_day[rows, slot]
        self.low[rows, slot, at] = self.t_low[rows, slot]
        self.high[rows, slot, at] = self.t_high[rows, slot]
        self.head[rows, slot] = np.where(full, (head + 1) % DAYS, head)
        self.count[rows, slot] = np.minimum(n + 1, DAYS)

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
        has, t_day = self.t_has[rows, slot], self.t_day[rows, slot]
        today = has & (t_day == day)
        r, s = rows[today], slot[today]
        self.t_low[r, s] = np.minimum(self.t_low[r, s], values[today])
        self.t_high[r, s] = np.maximum(self.t_high[r, s], values[today])
        over = has & (t_day < day)
        self._push(rows[over], slot[over])
        fresh = ~today
        r, s = rows[fresh], slot[fresh]
        self.t_has[r, s], self.t_day[r, s] = True, day[fresh]
        self.t_low[r, s], self.t_high[r, s] = values[fresh], values[fresh]

    def explains(self, rows: I, ts: I, values: F) -> B:
        """`DailyRange.explains` per row (its lazy moves included, slot by slot as `any` goes)."""
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
            held = self._held(
                rows[left], (slot[left] + k) % SLOTS, day[left], values[left], spread[left]
            )
            result[left[held]] = True
            left = left[~held]
        return result

    def _held(self, rows: I, slot: I, day: I, values: F, spread: F) -> B:
        over = self.t_has[rows, slot] & (self.t_day[rows, slot] < day)
        if over.any():  # that day is over: it counts now
            self._push(rows[over], slot[over])
            self.t_has[rows[over], slot[over]] = False
        n, head = self.count[rows, slot], self.head[rows, slot]
        oldest = self.day[rows, slot, head]
        ok = (n >= DAYS) & ~(oldest < day - STALE_DAYS)
        lows, highs = self.low[rows, slot], self.high[rows, slot]  # full rings only are used
        ok &= ~(highs.max(axis=1) - lows.min(axis=1) > spread)
        widths = np.sort(highs - lows, axis=1)  # one odd day does not widen the margin
        margin = np.maximum(MARGIN * widths[:, DAYS // 2], self.floor)
        inside = ((lows - margin[:, None]) <= values[:, None]) & (
            values[:, None] <= (highs + margin[:, None])
        )
        return ok & inside.all(axis=1)
