"""The daily memory of `auto`: a value this stream has held at this time of day on each recent day.

A square day/night wave steps up every morning and down every evening; to the level and outlier
checks each step is a change, but the stream has done exactly that at this time on every recent
day, so it is not news. `DailyRange` remembers, for each `SLOT_MS` slot of the day, the range
(min, max) of the readings in that slot on each of the last `DAYS` days, and

    explains(ts, x)  ⇔  for one of the slots (this one or a neighbour) that is informative,
                        x lies within [min − m, max + m] on every one of the last DAYS days

with m = max(the narrowest of those days' max − min, floor), and a slot informative when its
days together span at most half of what the whole last DAYS days spanned (a slot that has seen
everything, on a noisy or spiky series, explains nothing).

Every remembered day must agree, so one odd day (an anomaly, or an alert's readings, which are
remembered too) explains nothing by itself: a reading is explained only if the stream has held
that value at this time of day, day after day. Until `DAYS` days of a slot are known (a new
stream, a short history) nothing is explained. A neighbour slot absorbs a daily pattern that
wanders by a slot. Memory: 48 slots × (DAYS + 1) ranges in flat arrays (about 5 KiB), bounded;
O(DAYS) per reading.
"""

from __future__ import annotations

from array import array
from collections import deque

from fleetscan.timeutil import DAY_MS

SLOT_MS = 30 * 60_000  # the width of one time-of-day slot
SLOTS = DAY_MS // SLOT_MS
DAYS = 3  # days in a row that must agree
STALE_DAYS = 2 * DAYS  # a remembered day older than this (an outage) no longer counts
MARGIN = 1.0  # margin around each day's range, as a share of the narrowest day's width
NO_DAY = -(2**62)  # an empty place in a slot's ring
INFORMATIVE = 0.5  # a slot says something only if it spans at most this share of whole days


class DailyRange:
    """Per time-of-day slot, the range of readings on each of the last `DAYS` days.

    >>> day = DailyRange(floor=0.1)
    >>> hour = 3_600_000
    >>> for d in range(4):  # 20 at night, 80 from 09:00 to 18:00
    ...     for h in range(24): day.learn(d * 24 * hour + h * hour, 80.0 if 9 <= h < 18 else 20.0)
    >>> day.explains(4 * 24 * hour + 9 * hour, 80.0), day.explains(4 * 24 * hour + 3 * hour, 80.0)
    (True, False)
    """

    def __init__(self, *, floor: float) -> None:
        self.floor = floor
        # per slot, a ring of DAYS + 1 days (the newest may be today's, still filling): day, min, max
        cells = SLOTS * (DAYS + 1)
        self._day = array("q", [NO_DAY]) * cells
        self._low = array("d", [0.0]) * cells
        self._high = array("d", [0.0]) * cells
        self._newest = array("b", [0]) * SLOTS  # the ring position of each slot's newest day
        self._whole: deque[tuple[int, float, float]] = deque(maxlen=DAYS + 1)  # whole days

    def learn(self, ts_ms: int, value: float) -> None:
        """Remember one reading in its slot of its day."""
        day, slot = divmod(ts_ms // SLOT_MS, SLOTS)
        if self._whole and self._whole[-1][0] == day:
            _, low, high = self._whole[-1]
            self._whole[-1] = (day, min(low, value), max(high, value))
        elif not self._whole or self._whole[-1][0] < day:
            self._whole.append((day, value, value))
        cell = slot * (DAYS + 1) + self._newest[slot]
        if self._day[cell] == day:
            self._low[cell] = min(self._low[cell], value)
            self._high[cell] = max(self._high[cell], value)
            return
        if self._day[cell] < day:  # a new day in this slot: it takes the oldest place
            self._newest[slot] = (self._newest[slot] + 1) % (DAYS + 1)
            cell = slot * (DAYS + 1) + self._newest[slot]
        self._day[cell], self._low[cell], self._high[cell] = day, value, value

    def explains(self, ts_ms: int, value: float) -> bool:
        """Whether every one of the last `DAYS` days held `value` at this time of day.

        Only a slot whose days together span at most `INFORMATIVE` of what the whole days spanned
        says anything: a slot that has seen everything (a noisy series, spikes) explains nothing.
        """
        day, slot = divmod(ts_ms // SLOT_MS, SLOTS)
        whole = [(low, high) for d, low, high in self._whole if day - DAYS <= d < day]
        if len(whole) < DAYS:
            return False
        spread = INFORMATIVE * (max(h for _, h in whole) - min(lo for lo, _ in whole))
        return any(self._held(slot + k, day, value, spread) for k in (0, -1, 1))

    def _held(self, slot: int, day: int, value: float, spread: float) -> bool:
        slot %= SLOTS
        first = slot * (DAYS + 1)
        days = sorted(
            (self._day[c], self._low[c], self._high[c])
            for c in range(first, first + DAYS + 1)
            if NO_DAY < self._day[c] < day
        )[-DAYS:]  # the last DAYS days of this slot that are over
        if len(days) < DAYS or days[0][0] < day - STALE_DAYS:
            return False
        if max(high for _, _, high in days) - min(low for _, low, _ in days) > spread:
            return False
        widths = sorted(high - low for _, low, high in days)
        margin = max(MARGIN * widths[0], self.floor)  # the narrowest day: no wider than needed
        return all(low - margin <= value <= high + margin for _, low, high in days)
