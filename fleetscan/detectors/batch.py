"""`auto` for many streams at once: every stream of a poll scored in one vectorised step.

`AutoDetector` costs ~100 µs per reading, nearly all of it Python overhead (four cadence trackers,
a `Score` per check). `AutoBatch` holds the same state as arrays, one row per stream (streams are
added as they appear), and `step(rows, ts, values)` scores one reading for each of many rows with
numpy: the same checks, in the same order, with the same arithmetic, so every output (z, score,
check, reason, alert, event, posted) is the per-sample detector's. The per-sample classes stay the
reference: the tests replay the simulator's streams and NAB's files through both and compare every
output. Streams with several readings in one poll are stepped in rounds (`device.BatchRunner`).

Only the rare paths run per row in Python: building a reason (a check fired), accepting a new
normal, a dropout found while idle. Memory per stream, fixed whatever the stream does: about
23 KiB (the two windows' rings of 64 and 512 points, arrivals and sorted values, 14 KiB; the
daily memory's 48 slots × 3 days, 5 KiB; three rings of 64 gaps; the ≤ 64 readings since an
alert opened), against ~85 KiB of Python objects for an `AutoDetector`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from fleetscan.detectors._daily_rows import DailyRows
from fleetscan.detectors._rows import (
    B,
    CadenceRows,
    F,
    I,
    Rows,
    TailRows,
    WindowRows,
    ewma_update,
    exp_of,
    log10_of,
    median_sorted,
)
from fleetscan.detectors._stream import MEAN_AD_TO_SIGMA, check_score
from fleetscan.detectors.auto import RECENT_CAP, RELEARN_MIN_READINGS
from fleetscan.detectors.drift import FACTOR as DRIFT_FACTOR
from fleetscan.detectors.drift import LEAVE_SIGMAS, MOVING_SIGMAS, RETURN_SIGMAS
from fleetscan.detectors.drift import MIN_LIMIT_MS as DRIFT_MIN_MS
from fleetscan.detectors.dropout import CADENCE_FACTOR, LONGEST_FACTOR
from fleetscan.detectors.dropout import MIN_LIMIT_MS as DROPOUT_MIN_MS
from fleetscan.detectors.events import HOLD_FRACTION, RECOVERY_FACTOR, REPEAT_TAU_MS
from fleetscan.detectors.options import DetectorOptions
from fleetscan.detectors.plausibility import IMPLAUSIBLE_RATIO
from fleetscan.detectors.robust import CAP, MIN_POINTS, MIN_SCORED, SPREAD_REFRESH
from fleetscan.detectors.robust import DEFAULT_WINDOW as OUTLIER_WINDOW
from fleetscan.detectors.stuck import MIN_LIMIT, RELATIVE_TOLERANCE, RUN_FACTOR, RUNS_NEEDED
from fleetscan.detectors.twoscale import (
    CLIP_SIGMAS,
    DEFAULT_BASELINE,
    GATE_SIGMAS,
    LEVEL_CAP,
    LEVEL_MIN_POINTS,
    SLOW_WHILE_ANOMALOUS,
    WARMUP_READINGS,
)
from fleetscan.detectors.twoscale import DEFAULT_WINDOW as LEVEL_WINDOW
from fleetscan.fleet.robust import MAD_TO_SIGMA
from fleetscan.sensors import GENERIC, implausible_reason
from fleetscan.timeutil import DAY_MS, human_duration

CHECKS = ("", "plausibility", "stuck", "level", "outlier", "drift", "dropout", "relearn")
NONE, PLAUSIBILITY, STUCK, LEVEL, OUTLIER, DRIFT, DROPOUT, RELEARN = range(len(CHECKS))
RELEARNABLE = (LEVEL, DRIFT, OUTLIER)  # auto.RELEARNABLE: alerts that can become a new normal
RESIDUALS = (LEVEL, OUTLIER)  # the calibrated checks, in AutoDetector's order (calibration index)
# the candidate checks of a reading, one column each: plausibility, stuck, the residuals, drift
COLUMN_CHECKS = np.array([PLAUSIBILITY, STUCK, *RESIDUALS, DRIFT])
FIRST_RESIDUAL, DRIFT_COLUMN = 2, 2 + len(RESIDUALS)
EVENTS = ("", "opened", "resolved")
QUIET, OPENED, RESOLVED = range(len(EVENTS))
NO_VERSION = -(10**9)  # `RobustDetector._spread_version` before the first spread


@dataclass(slots=True)
class Scores:
    """One `Score` per stepped row, as arrays (`check` and `event` index CHECKS and EVENTS)."""

    z: F
    score: F
    anomalous: B
    check: I
    alert: B
    event: I
    posted: F
    reasons: dict[int, str] = field(default_factory=dict)  # by position; "" where absent

    @classmethod
    def empty(cls, n: int) -> Scores:
        zeros = np.zeros(n)
        codes = np.zeros(n, np.int64)
        return cls(
            zeros,
            zeros.copy(),
            np.zeros(n, np.bool_),
            codes,
            np.zeros(n, np.bool_),
            codes.copy(),
            zeros.copy(),
        )


class AutoBatch(Rows):
    """`AutoDetector` for every stream of one metric: `add()` rows, `step()` readings, `idle()`.

    One array per state field (the name's prefix says whose): `st_` StuckDetector, `b_`/`s_`
    twoscale's baseline and spread EWMAs (with `readings`, `first_ts`), `q_` their Quantum,
    `spread` RobustDetector's, `d_` DriftCheck, `e_` AlertEvents, `pend_`/`ons_` the residuals
    pending in an unusual run and those that opened the alert (check, z, dt; `pending_cap` columns),
    `rec_` the readings since the alert opened (a ring of RECENT_CAP), `story` the open alert's
    check. The cadences, windows and calibrations are the `parts`.
    """

    fills = {
        "st_completed": 0, "st_longest": 0, "st_ref": 0.0, "st_has_ref": False, "st_run": 0,
        "st_start": 0, "st_reported": False,
        "b_mean": 0.0, "b_weight": 0.0, "s_mean": 0.0, "s_weight": 0.0, "readings": 0,
        "first_ts": 0, "has_first": False, "q_step": 0.0, "q_last": 0.0, "q_has": False,
        "spread_version": NO_VERSION, "spread": 0.0,
        "d_longest": 0.0, "d_start": 0, "d_has": False, "d_side": 0.0, "d_last": 0, "d_area": 0.0,
        "e_open": False, "e_opened": 0, "e_readings": 0, "e_peak": 0.0, "e_evidence": 0.0,
        "e_calm": 0, "e_recent": 0.0,
        "pend_check": 0, "pend_z": 0.0, "pend_dt": 0, "pend_n": 0,
        "ons_check": 0, "ons_z": 0.0, "ons_dt": 0, "ons_n": 0,
        "learnt_ts": 0, "has_learnt": False,
        "rec_ts": 0, "rec_v": 0.0, "rec_head": 0, "rec_n": 0, "story": NONE,
    }  # fmt: skip
    st_completed: I
    st_longest: I
    st_ref: F
    st_has_ref: B
    st_run: I
    st_start: I
    st_reported: B
    b_mean: F
    b_weight: F
    s_mean: F
    s_weight: F
    readings: I
    first_ts: I
    has_first: B
    q_step: F
    q_last: F
    q_has: B
    spread_version: I
    spread: F
    d_longest: F
    d_start: I
    d_has: B
    d_side: F
    d_last: I
    d_area: F
    e_open: B
    e_opened: I
    e_readings: I
    e_peak: F
    e_evidence: F
    e_calm: I
    e_recent: F
    pend_check: I
    pend_z: F
    pend_dt: I
    pend_n: I
    ons_check: I
    ons_z: F
    ons_dt: I
    ons_n: I
    learnt_ts: I
    has_learnt: B
    rec_ts: I
    rec_v: F
    rec_head: I
    rec_n: I
    story: I

    def __init__(self, options: DetectorOptions) -> None:
        self.threshold = options.threshold
        self.consecutive = options.consecutive
        self.profile = options.profile
        self.metric = options.metric
        self.unit = self.profile.unit
        self.floor = options.scale_floor()
        self.half_step = self.profile.resolution / 2.0
        self.degenerate_floor = options.min_scale is None and self.profile is GENERIC
        self.relearn_ms = options.relearn_ms()
        self.level_spec = replace(options, window=None).window_or(LEVEL_WINDOW)
        self.outlier_spec = options.window_or(OUTLIER_WINDOW)
        baseline_ms = options.baseline_window(DEFAULT_BASELINE).span_ms
        assert baseline_ms is not None
        self.baseline_ms = float(baseline_ms)
        self.scale_ms = max(self.baseline_ms, DAY_MS)
        self.plausible_score = check_score(self.threshold, IMPLAUSIBLE_RATIO)
        # the onset of an alert is at most `consecutive` unusual readings, each with its residuals
        self.pending_cap = len(RESIDUALS) * (self.consecutive + 1)
        self.dropout_cadence = CadenceRows(expected_s=options.cadence_s)
        self.stuck_cadence = CadenceRows(expected_s=options.cadence_s)
        self.cadence = CadenceRows(expected_s=options.cadence_s)  # twoscale's and robust's: equal
        self.level = WindowRows(
            count=self.level_spec.samples,
            span_ms=self.level_spec.span_ms,
            min_points=LEVEL_MIN_POINTS,
            cap=LEVEL_CAP,
        )
        self.window = WindowRows(
            count=self.outlier_spec.samples,
            span_ms=self.outlier_spec.span_ms,
            min_points=MIN_POINTS,
            cap=CAP,
        )
        self.calibration = TailRows(len(RESIDUALS))
        self.daily = DailyRows(floor=self.floor)
        self.size = 0
        self.capacity = 0
        wide = {"pend": self.pending_cap, "ons": self.pending_cap, "rec": RECENT_CAP}
        for name, fill in self.fills.items():
            kind, _, part = name.partition("_")
            columns = wide.get(kind) if part in ("check", "z", "dt", "ts", "v") else None
            dtype = (
                np.bool_ if isinstance(fill, bool) else np.int64 if isinstance(fill, int) else float
            )
            setattr(self, name, np.zeros((0, columns) if columns else 0, dtype))
        self.parts: tuple[Rows, ...] = (
            self.dropout_cadence,
            self.stuck_cadence,
            self.cadence,
            self.level,
            self.window,
            self.calibration,
            self.daily,
        )

    def add(self, count: int) -> int:
        """Room for `count` new streams; returns the first new row."""
        first = self.size
        self.size += count
        if self.size > self.capacity:
            self.capacity = max(self.size, 2 * self.capacity, 64)
            self.grow(self.capacity)
            for part in self.parts:
                part.grow(self.capacity)
        return first

    # -- one reading per row ------------------------------------------------------------------

    def step(self, rows: I, ts: I, values: F) -> Scores:
        """Score one reading for each row (rows distinct; each row's readings in time order)."""
        out = Scores.empty(len(rows))
        finite = np.isfinite(values)
        if not finite.all():  # AutoDetector.update ignores a NaN: the alert state only
            gone = rows[~finite]
            out.alert[~finite] = self.e_open[gone]
            out.posted[~finite] = self.posted(gone)
        at = np.flatnonzero(finite)
        if len(at):
            self._step(at, rows[at], ts[at], values[at], out)
        return out

    def posted(self, rows: I) -> F:
        return np.where(self.e_open[rows], np.maximum(self.e_peak[rows], self.threshold + 1.0), 0.0)

    def _step(self, at: I, rows: I, ts: I, values: F, out: Scores) -> None:
        m = len(rows)
        self._dropout_update(rows, ts)
        implausible = self._implausible(values)
        stuck_score, stuck_reasons = self._stuck(rows, ts, values)
        # the five candidate checks, in AutoDetector's order; -inf where a check was not run
        scores = np.full((m, len(COLUMN_CHECKS)), -np.inf)
        zs = np.zeros(scores.shape)
        fired = np.zeros(scores.shape, np.bool_)
        scores[:, 0] = np.where(implausible, self.plausible_score, 0.0)
        zs[:, 0] = np.where(
            implausible, np.where(values <= self.profile.low, -1.0, 1.0) * self.plausible_score, 0.0
        )
        fired[:, 0] = implausible
        scores[:, 1] = zs[:, 1] = stuck_score
        fired[:, 1] = stuck_score > 0.0
        reasons: dict[tuple[int, int], str] = {(k, 1): text for k, text in stuck_reasons.items()}
        plain = np.flatnonzero(~implausible)
        s_rows, s_ts, s_values = rows[plain], ts[plain], values[plain]
        dt, sigma, level_z, level_ready, young = self._assess_level(s_rows, s_ts, s_values)
        outlier_z, outlier_ready, median, scale = self._assess_outlier(s_rows, s_values)
        residual_z, ready = [level_z, outlier_z], [level_ready, outlier_ready]
        for check, (z, ok) in enumerate(zip(residual_z, ready, strict=True)):
            column = FIRST_RESIDUAL + check
            got = np.flatnonzero(ok)
            surprise = self.calibration.surprise(s_rows[got], check, z[got])
            scores[plain[got], column] = surprise
            zs[plain[got], column] = z[got]
            fired[plain[got], column] = ~(surprise < self.threshold)
        # held at this time of day on every recent day: not news, nor the check's tail (daily.py)
        residual = [ok.copy() for ok in ready]
        unusual = np.flatnonzero(fired[plain, FIRST_RESIDUAL:DRIFT_COLUMN].any(axis=1))
        if len(unusual):
            news = unusual[~self.daily.explains(s_rows[unusual], s_ts[unusual], s_values[unusual])]
            known = np.setdiff1d(unusual, news)
            for check, kept in enumerate(residual):
                column = FIRST_RESIDUAL + check
                gone = known[fired[plain[known], column]]
                scores[plain[gone], column] = 0.0
                fired[plain[gone], column] = False
                kept[gone] = False  # out of the residuals: nothing pending, nothing learnt
        self.daily.learn(s_rows, s_ts, s_values)
        judged = np.flatnonzero(level_ready & ~young)
        drift_score, drift_reasons = self._drift(s_rows[judged], s_ts[judged], level_z[judged])
        scores[plain[judged], DRIFT_COLUMN] = drift_score
        zs[plain[judged], DRIFT_COLUMN] = level_z[judged]
        fired[plain[judged], DRIFT_COLUMN] = drift_score > 0.0
        reasons |= {
            (int(plain[judged[k]]), DRIFT_COLUMN): text for k, text in drift_reasons.items()
        }
        column = np.argmax(scores, axis=1)  # the first of equal scores, as max() keeps
        pick = np.arange(m)
        chosen_score, chosen_z = scores[pick, column], zs[pick, column]
        chosen_fired = fired[pick, column]
        chosen_check = np.where(chosen_fired, COLUMN_CHECKS[column], NONE)
        chosen_reason = self._chosen_reasons(
            rows, values, column, chosen_fired, chosen_z, chosen_score, reasons,
            plain, level_z, sigma, median, scale,
        )  # fmt: skip
        was_open = self.e_open[rows]
        is_open, event, evidence = self._events(rows, ts, chosen_score)
        resolved = event == RESOLVED
        drift_done = resolved & (self.story[rows] == DRIFT) & self.d_has[rows]
        if drift_done.any():
            done = rows[drift_done]
            span = (ts[drift_done] - self.d_start[done]).astype(np.float64)
            self.d_longest[done] = np.maximum(self.d_longest[done], span)
        residual_zs = np.zeros((m, len(RESIDUALS)))
        residual_ok = np.zeros((m, len(RESIDUALS)), np.bool_)
        for check, (z, kept) in enumerate(zip(residual_z, residual, strict=True)):
            residual_zs[plain, check], residual_ok[plain, check] = z, kept
        self._learn(
            rows, ts, values, residual_zs, residual_ok, event, is_open | was_open, implausible,
            plain, dt, sigma, young,
        )  # fmt: skip
        story = self.story[rows]
        due = is_open & np.isin(story, RELEARNABLE)
        due &= ts - self.e_opened[rows] >= self.relearn_ms
        due &= self.e_readings[rows] >= RELEARN_MIN_READINGS
        # the verdict (AutoDetector._verdict)
        opened = event == OPENED
        self.story[rows[opened & ~due]] = chosen_check[opened & ~due]
        story = np.where(is_open | resolved, self.story[rows], NONE)
        self.story[rows[resolved]] = NONE
        out.z[at] = chosen_z
        out.score[at] = evidence
        out.anomalous[at] = chosen_fired
        out.check[at] = np.where(story != NONE, story, chosen_check)
        out.alert[at] = is_open
        out.event[at] = event
        out.posted[at] = self.posted(rows)
        for k in np.flatnonzero(resolved).tolist():
            chosen_reason[k] = f"back to normal after {self.e_readings[rows[k]]} readings"
        for k, text in chosen_reason.items():
            out.reasons[int(at[k])] = text
        for k in np.flatnonzero(due).tolist():
            out.reasons[int(at[k])] = self._accept(int(rows[k]), int(ts[k]))
            out.score[at[k]], out.anomalous[at[k]], out.check[at[k]] = 0.0, False, RELEARN
            out.alert[at[k]], out.event[at[k]], out.posted[at[k]] = False, RESOLVED, 0.0

    # -- the checks ---------------------------------------------------------------------------

    def _dropout_limit(self, rows: I) -> tuple[F, F]:
        """(DropoutDetector.limit_ms, the cadence) per row, NaN while the cadence is unknown."""
        cadence, longest = self.dropout_cadence.stats(rows)
        longest = np.where(np.isnan(longest), 0.0, longest)
        limit = np.maximum(
            np.maximum(CADENCE_FACTOR * cadence, LONGEST_FACTOR * longest), float(DROPOUT_MIN_MS)
        )
        return limit, cadence

    def _dropout_update(self, rows: I, ts: I) -> None:
        limit, cadence = self._dropout_limit(rows)
        cad = self.dropout_cadence
        with np.errstate(invalid="ignore"):
            reported = cad.has_last[rows] & (ts - cad.last_ts[rows] > limit)
        cad.observe(rows, ts, cadence, learn=~reported)

    def _implausible(self, values: F) -> B:
        p = self.profile
        if p is GENERIC:
            return np.zeros(len(values), np.bool_)
        low = values <= p.low if p.exclusive_low else values < p.low
        return low | (values > p.high)

    def _stuck(self, rows: I, ts: I, values: F) -> tuple[F, dict[int, str]]:
        """StuckDetector.update per row: its score (0 unless it fires) and the reasons."""
        cadence, _ = self.stuck_cadence.stats(rows)
        self.stuck_cadence.observe(rows, ts, cadence)
        ref, run = self.st_ref[rows], self.st_run[rows]
        tolerance = np.maximum(self.half_step, RELATIVE_TOLERANCE * np.maximum(1.0, np.abs(ref)))
        same = self.st_has_ref[rows] & (np.abs(values - ref) <= tolerance)
        new = rows[~same]
        closing = self.st_run[new] > 0  # a reported run too, once it is over
        closed = new[closing]
        self.st_completed[closed] += 1
        self.st_longest[closed] = np.maximum(self.st_longest[closed], self.st_run[closed])
        self.st_ref[new], self.st_has_ref[new] = values[~same], True
        self.st_run[new], self.st_start[new], self.st_reported[new] = 1, ts[~same], False
        self.st_run[rows[same]] = run[same] + 1
        completed, longest = self.st_completed[rows], self.st_longest[rows]
        limit = np.maximum(MIN_LIMIT, np.ceil(RUN_FACTOR * longest).astype(np.int64))
        run = self.st_run[rows]
        fire = (completed >= RUNS_NEEDED) & (run > limit) & ~self.stuck_cadence.warming(rows)
        score = np.zeros(len(rows))
        reasons = {}
        for k in np.flatnonzero(fire).tolist():
            row = int(rows[k])
            self.st_reported[row] = True
            n, lim = int(run[k]), int(limit[k])
            score[k] = check_score(self.threshold, n / lim)
            held = human_duration(max(int(ts[k]) - int(self.st_start[row]), 0))
            reasons[k] = (
                f"{float(self.st_ref[row]):.2f}{self.unit} unchanged for {n} readings ({held}); "
                f"this sensor normally repeats a value at most {int(longest[k])} times "
                f"(limit {lim})"
            )
        return score, reasons

    def _assess_level(self, rows: I, ts: I, values: F) -> tuple[I, F, F, B, B]:
        """TwoScaleDetector.assess: (dt, σ, level z, ready, young) per row."""
        cadence, _ = self.cadence.stats(rows)
        dt = self.cadence.observe(rows, ts, cadence)
        fresh = rows[~self.has_first[rows]]
        self.first_ts[fresh], self.has_first[fresh] = ts[~self.has_first[rows]], True
        self.level.add(rows, ts, values)
        self.readings[rows] += 1
        sigma = np.maximum(
            np.maximum(MEAN_AD_TO_SIGMA * self.s_mean[rows], self.floor), self.q_step[rows]
        )
        past = self.readings[rows] > WARMUP_READINGS
        z = np.zeros(len(rows))
        if past.any():
            z[past] = (self.level.median(rows[past]) - self.b_mean[rows[past]]) / sigma[past]
        warming = self.cadence.warming(rows)
        young = ts - self.first_ts[rows] < self.scale_ms
        return dt, sigma, z, past & ~warming, young

    def _assess_outlier(self, rows: I, values: F) -> tuple[F, B, F, F]:
        """RobustDetector.assess (its cadence is twoscale's): (z, ready, median, scale) per row."""
        n = self.window.n[rows]
        scored = n >= MIN_SCORED
        z, median, scale = np.zeros(len(rows)), np.zeros(len(rows)), np.zeros(len(rows))
        k = np.flatnonzero(scored)
        if len(k):
            srows = rows[k]
            med = self.window.median(srows)
            stale = self.window.version[srows] - self.spread_version[srows] >= np.maximum(
                1, n[k] // SPREAD_REFRESH
            )
            if stale.any():
                self._refresh_spread(srows[stale], med[stale])
            s = np.maximum(np.maximum(self.spread[srows], self.floor), self.q_step[srows])
            zk = (values[k] - med) / s
            if self.degenerate_floor:
                zk = np.where(s <= self.floor, 0.0, zk)
            z[k], median[k], scale[k] = zk, med, s
        return z, scored & ~self.cadence.warming(rows), median, scale

    def _refresh_spread(self, rows: I, median: F) -> None:
        """RobustDetector._stats's spread: 1.4826 · MAD, or 1.4826 · median nonzero |deviation|."""
        n = self.window.n[rows]
        width = int(n.max())
        dev = np.abs(self.window.ordered[rows, :width] - median[:, None])
        mad = median_sorted(np.sort(dev, axis=1), np.arange(len(rows)), n)
        spread = MAD_TO_SIGMA * mad
        for k in np.flatnonzero(~(mad > 0)).tolist():  # MAD 0: the size of the moves
            moves = dev[k, : n[k]]
            moves = moves[moves > 0]
            spread[k] = MAD_TO_SIGMA * float(np.median(moves)) if len(moves) else 0.0
        self.spread[rows] = spread
        self.spread_version[rows] = self.window.version[rows]

    def _drift(self, rows: I, ts: I, z: F) -> tuple[F, dict[int, str]]:
        """DriftCheck.observe per row: its score (0 unless it fires) and the reasons."""
        has = self.d_has[rows]
        ended = has & ((np.abs(z) < RETURN_SIGMAS) | (z * self.d_side[rows] < 0))
        if ended.any():
            done = rows[ended]
            span = (ts[ended] - self.d_start[done]).astype(np.float64)
            self.d_longest[done] = np.maximum(self.d_longest[done], span)
            self.d_has[done] = False
        begin = ~self.d_has[rows] & (np.abs(z) > LEAVE_SIGMAS)
        start = rows[begin]
        self.d_has[start], self.d_start[start] = True, ts[begin]
        self.d_side[start] = np.where(z[begin] > 0, 1.0, -1.0)
        self.d_last[start], self.d_area[start] = ts[begin], 0.0
        away_rows = self.d_has[rows]
        k = np.flatnonzero(away_rows)
        score = np.zeros(len(rows))
        reasons: dict[int, str] = {}
        if not len(k):
            return score, reasons
        r = rows[k]
        area = self.d_area[r] + np.abs(z[k]) * (ts[k] - self.d_last[r])
        self.d_area[r], self.d_last[r] = area, ts[k]
        away = ts[k] - self.d_start[r]
        limit = np.maximum(float(DRIFT_MIN_MS), DRIFT_FACTOR * self.d_longest[r])
        with np.errstate(divide="ignore", invalid="ignore"):
            fire = (away > limit) & ~(np.abs(z[k]) < area / away + MOVING_SIGMAS)
        for j in np.flatnonzero(fire).tolist():
            a, lim, zj = int(away[j]), float(limit[j]), float(z[k[j]])
            score[k[j]] = check_score(self.threshold, a / lim)
            side = "above" if self.d_side[r[j]] > 0 else "below"
            reasons[int(k[j])] = (
                f"the level has been more than {LEAVE_SIGMAS:g}σ {side} its baseline for "
                f"{human_duration(a)} (now {abs(zj):.1f}σ; this stream's limit {human_duration(lim)})"
            )
        return score, reasons

    def _chosen_reasons(
        self,
        rows: I,
        values: F,
        column: I,
        fired: B,
        z: F,
        surprise: F,
        reasons: dict[tuple[int, int], str],
        plain: I,
        level_z: F,
        sigma: F,
        median: F,
        scale: F,
    ) -> dict[int, str]:
        """The chosen check's reason where it fired, from the state before anything is learnt."""
        where = np.full(len(rows), -1)
        where[plain] = np.arange(len(plain))
        texts: dict[int, str] = {}
        for k in np.flatnonzero(fired).tolist():
            c = int(column[k])
            check = int(COLUMN_CHECKS[c])
            if check == PLAUSIBILITY:
                texts[k] = implausible_reason(self.metric, float(values[k]))
            elif check in (STUCK, DRIFT):
                texts[k] = reasons[(k, c)]
            else:
                j, zk, row = int(where[k]), float(z[k]), int(rows[k])
                side = "above" if zk > 0 else "below"
                if check == LEVEL:
                    level = float(self.level.median(rows[k : k + 1])[0])
                    text = (
                        f"level {level:.2f}{self.unit} (median of the last "
                        f"{self.level_spec.describe()}) is {abs(zk):.1f}σ {side} the "
                        f"{human_duration(self.baseline_ms)} baseline {float(self.b_mean[row]):.2f} "
                        f"(σ {float(sigma[j]):.3g})"
                    )
                else:
                    text = (
                        f"{float(values[k]):.2f}{self.unit} is {abs(zk):.1f}σ {side} the median "
                        f"{float(median[j]):.2f} of the last {self.outlier_spec.describe()} "
                        f"(σ {float(scale[j]):.3g})"
                    )
                rare = 10.0 ** float(surprise[k])
                texts[k] = text + f"; rarer than 1 in {rare:,.0f} readings for this stream"
        return texts

    # -- alert life and learning --------------------------------------------------------------

    def _events(self, rows: I, ts: I, surprise: F) -> tuple[B, I, F]:
        """AlertEvents.step per row: (open after, event, evidence)."""
        m = len(rows)
        is_open, event, evidence = self.e_open[rows].copy(), np.zeros(m, np.int64), np.zeros(m)
        held = np.flatnonzero(is_open)
        if len(held):
            r, s = rows[held], surprise[held]
            self.e_readings[r] += 1
            self.e_peak[r] = np.maximum(self.e_peak[r], s)
            calm = np.where(s >= HOLD_FRACTION * self.threshold, 0, self.e_calm[r] + 1)
            self.e_calm[r] = calm
            over = calm >= RECOVERY_FACTOR * self.consecutive
            self.e_open[r[over]] = False
            is_open[held[over]] = False
            event[held[over]] = RESOLVED
        shut = np.flatnonzero(~self.e_open[rows] & (event != RESOLVED))
        if len(shut):
            r, s = rows[shut], surprise[shut]
            calm_reading = s < self.threshold
            total = np.where(calm_reading, 0.0, self.e_evidence[r] + s)
            opens = ~calm_reading & ~(total < self.consecutive * self.threshold)
            evidence[shut] = self._reported(r, ts[shut], np.where(calm_reading, s, total))
            self.e_evidence[r] = np.where(opens, 0.0, total)
            o = r[opens]
            decay = self._decay(o, ts[shut][opens])
            self.e_recent[o] = self.e_recent[o] * decay + 1.0
            self.e_open[o], self.e_opened[o], self.e_readings[o] = True, ts[shut][opens], 0
            self.e_peak[o], self.e_calm[o] = s[opens], 0
            is_open[shut[opens]] = True
            event[shut[opens]] = OPENED
        return is_open, event, evidence

    def _decay(self, rows: I, ts: I) -> F:
        """exp(−age / REPEAT_TAU_MS) of each row's last alert opening at `ts`."""
        age = np.maximum(ts - self.e_opened[rows], 0)
        return exp_of(-age.astype(np.float64) / REPEAT_TAU_MS)

    def _reported(self, rows: I, ts: I, evidence: F) -> F:
        """AlertEvents.reported per row: the evidence less the repeat discount."""
        out = evidence.copy()
        k = np.flatnonzero((self.e_recent[rows] != 0.0) & (evidence > 0.0))
        if len(k):
            n = self.e_recent[rows[k]] * self._decay(rows[k], ts[k])
            out[k] = np.maximum(evidence[k] - self.threshold * log10_of(1.0 + n), 0.0)
        return out

    def _learn(
        self,
        rows: I,
        ts: I,
        values: F,
        residual_z: F,
        residual_ok: B,
        event: I,
        holding: B,
        implausible: B,
        plain: I,
        dt: I,
        sigma: F,
        young: B,
    ) -> None:
        """AutoDetector._learn per row: teach the models this reading unless it is an alert's."""
        opened = np.flatnonzero(event == OPENED)
        if len(opened):  # the run became an alert: its pending residuals are the onset
            r = rows[opened]
            gap = np.where(self.has_learnt[r], ts[opened] - self.learnt_ts[r], 0)
            self.ons_check[r], self.ons_z[r], self.ons_dt[r] = (
                self.pend_check[r], self.pend_z[r], self.pend_dt[r],
            )  # fmt: skip
            self.ons_n[r] = self.pend_n[r]
            self._append("ons", r, residual_z[opened], residual_ok[opened], gap)
            self.pend_n[r] = 0
        resolved = rows[event == RESOLVED]
        if len(resolved):
            self._replay("ons", resolved)
        hold = rows[holding]
        if len(hold):  # the readings since the alert opened, to restart the window from
            n, head = self.rec_n[hold], self.rec_head[hold]
            slot = (head + n) % RECENT_CAP
            self.rec_ts[hold, slot], self.rec_v[hold, slot] = ts[holding], values[holding]
            full = n >= RECENT_CAP
            self.rec_head[hold] = np.where(full, (head + 1) % RECENT_CAP, head)
            self.rec_n[hold] = np.minimum(n + 1, RECENT_CAP)
        self.rec_n[rows[~holding]] = 0
        self.rec_head[rows[~holding]] = 0
        teach = ~holding[plain]
        k = plain[teach]
        if not len(k):
            return
        r, t, v = rows[k], ts[k], values[k]
        dt, sigma, young = dt[teach], sigma[teach], young[teach]
        level_z = np.where(residual_ok[k, 0], residual_z[k, 0], 0.0)
        gated = (np.abs(level_z) > GATE_SIGMAS) & ~young
        rate = np.where(gated, SLOW_WHILE_ANOMALOUS, 1.0)
        first = self.readings[r] == 1
        deviation = np.abs(v - self.b_mean[r])
        past = self.readings[r] > WARMUP_READINGS
        deviation = np.where(past, np.minimum(deviation, CLIP_SIGMAS * sigma), deviation)
        s_mean, s_weight = ewma_update(
            self.s_mean[r], self.s_weight[r], deviation, dt, self.scale_ms, rate
        )
        self.s_mean[r] = np.where(first, self.s_mean[r], s_mean)
        self.s_weight[r] = np.where(first, self.s_weight[r], s_weight)
        self.b_mean[r], self.b_weight[r] = ewma_update(
            self.b_mean[r], self.b_weight[r], v, dt, self.baseline_ms, np.where(first, 1.0, rate)
        )
        self._quantum(r, v)
        self.window.add(r, t, v)
        gap = np.where(self.has_learnt[r], t - self.learnt_ts[r], 0)
        self.learnt_ts[r], self.has_learnt[r] = t, True
        self._append("pend", r, residual_z[k], residual_ok[k], gap)
        settled = r[self.e_evidence[r] == 0.0]  # not amid a run that may still open an alert
        if len(settled):
            self._replay("pend", settled)

    def _quantum(self, rows: I, values: F) -> None:
        """Quantum.observe per row."""
        delta = np.abs(values - self.q_last[rows])
        step = self.q_step[rows]
        smaller = (
            self.q_has[rows]
            & (delta > 1e-6 * np.maximum(1.0, np.abs(values)))
            & ((step == 0.0) | (delta < step))
        )
        self.q_step[rows] = np.where(smaller, delta, step)
        self.q_last[rows], self.q_has[rows] = values, True

    def _append(self, kind: str, rows: I, z: F, ok: B, gap: I) -> None:
        """Append each row's residuals (level, then outlier, where `ok`) to its pending/onset list."""
        checks, zs, dts = (getattr(self, f"{kind}_{part}") for part in ("check", "z", "dt"))
        count = getattr(self, f"{kind}_n")
        for check in range(len(RESIDUALS)):
            k = np.flatnonzero(ok[:, check])
            r = rows[k]
            slot = count[r]
            if len(slot) and int(slot.max()) >= self.pending_cap:
                raise AssertionError("an alert's onset outgrew its bound")
            checks[r, slot], zs[r, slot], dts[r, slot] = check, z[k, check], gap[k]
            count[r] = slot + 1

    def _replay(self, kind: str, rows: I) -> None:
        """Teach the calibration each row's pending/onset residuals, in order, and empty them."""
        checks, zs, dts = (getattr(self, f"{kind}_{part}") for part in ("check", "z", "dt"))
        count = getattr(self, f"{kind}_n")
        n = count[rows]
        for slot in range(int(n.max()) if len(n) else 0):
            r = rows[n > slot]
            self.calibration.learn(r, checks[r, slot], zs[r, slot], dts[r, slot])
        count[rows] = 0

    def _accept(self, row: int, ts_ms: int) -> str:
        """AutoDetector._accept for one row: the new normal. Returns the reason."""
        one = np.array([row])
        level = float(self.level.median(one)[0])
        self.b_mean[row] = level
        n, head = int(self.rec_n[row]), int(self.rec_head[row])
        recent = [(head + j) % RECENT_CAP for j in range(n)]
        self.window.clear(row)
        self.spread_version[row] = NO_VERSION
        for slot in recent:
            self.window.add(one, self.rec_ts[one, slot], self.rec_v[one, slot])
        self.rec_n[row] = self.rec_head[row] = 0
        held = human_duration(ts_ms - int(self.e_opened[row]))
        self.e_open[row], self.e_calm[row], self.story[row] = False, 0, NONE
        return f"new level {level:.2f}{self.unit} accepted after {held}"

    # -- between readings ---------------------------------------------------------------------

    def idle(self, rows: I, now_ms: int) -> tuple[I, Scores]:
        """AutoDetector.idle for rows that got nothing this poll: the silent ones and their scores."""
        limit, cadence = self._dropout_limit(rows)
        cad = self.dropout_cadence
        with np.errstate(invalid="ignore"):
            silent = cad.has_last[rows] & (now_ms - cad.last_ts[rows] > limit)
        k = np.flatnonzero(silent)
        rows = rows[k]
        out = Scores.empty(len(rows))
        if not len(rows):
            return rows, out
        texts = {}
        for j in range(len(rows)):
            silence, lim = now_ms - int(cad.last_ts[rows[j]]), float(limit[k[j]])
            out.z[j] = check_score(self.threshold, silence / lim)
            every = cadence[k[j]]
            texts[j] = (
                f"no reading for {human_duration(silence)}; this stream reports every "
                f"{human_duration(0.0 if math.isnan(every) else float(every))} "
                f"(limit {human_duration(lim)})"
            )
        is_open, event, evidence = self._events(rows, np.full(len(rows), now_ms), out.z)
        self.story[rows[event == OPENED]] = DROPOUT
        out.score, out.alert, out.event, out.posted = evidence, is_open, event, self.posted(rows)
        out.anomalous[:] = True
        out.check[:] = DROPOUT
        out.reasons = texts
        return rows, out
