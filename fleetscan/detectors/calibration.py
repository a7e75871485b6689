"""How rare a residual is *for this stream*: a calibrated surprise, the same units on every series.

A robust z of 6 is a once-a-year event on a quiet thermometer and an hourly one on a bursty counter,
so `auto` does not compare robust z with the threshold directly. Each check learns the tail of its
own |z| (peaks over a threshold, with an exponential tail):

    P(|z| > x) = rate · exp(−(x − 2) / excess)      for x > 2
    surprise   = −log10 P                            (capped at MAX_SURPRISE)

`rate` is the stream's share of |z| beyond 2 robust σ and `excess` its mean |z| − 2 over those,
both time-weighted running means over the last week of learnt readings (a normal distribution's
values are the prior, worth a day of readings). Weighing by time rather than by reading keeps the
calibration a matter of days at any cadence: at 2 s an hour-long drift is 1,800 readings, and it
must not teach the stream that drifting is normal. For Gaussian noise a 3σ reading scores 2.5 (the exact 2.57);
for a stream whose |z| often reaches 10 it scores well under 1. So `--threshold 3` means "rarer
than one reading in 1,000 for this stream" everywhere. Below 2σ the tail falls linearly from 1 to
`rate`; nothing there comes near a threshold. O(1) per sample, three floats.
"""

from __future__ import annotations

import math

TAIL_FROM = 2.0  # |z| above which the tail is modelled (robust σ)
PRIOR_RATE = 0.0455  # a normal distribution's share beyond 2σ
PRIOR_EXCESS = 0.373  # a normal distribution's mean excess beyond 2σ
PRIOR_MS = 86_400_000.0  # the prior counts as a day of readings
HORIZON_MS = 7 * 86_400_000.0  # the running means remember about a week
MAX_STEP_MS = 3_600_000.0  # one reading never weighs more than an hour (after a gap)
MIN_EXCESS = 0.2  # a tail never thinner than this (σ), so one quiet week cannot make 3σ absurd
MAX_EXCESS_STEP = 10.0  # one sample moves the mean excess by at most this many current excesses
MAX_SURPRISE = 10.0  # 1 in 10^10: beyond that, rarer means nothing more


class TailCalibrator:
    """The tail of one check's |z| on one stream, and the surprise of a new |z| against it.

    >>> cal = TailCalibrator()
    >>> round(cal.surprise(3.0), 2), round(cal.surprise(0.5), 2)
    (2.5, 0.1)
    >>> for k in range(3000): cal.learn(12.0 * (k % 2), 300_000)  # often 12σ, every 5 min
    >>> cal.surprise(12.0) < 1.0
    True
    """

    def __init__(self) -> None:
        self.weight_ms = PRIOR_MS
        self.rate = PRIOR_RATE
        self.beyond_ms = PRIOR_MS * PRIOR_RATE  # the weight of the exceedances
        self.excess = PRIOR_EXCESS

    def tail(self, z: float) -> float:
        """P(|z| > x) under this stream's learnt tail."""
        x = abs(z)
        if x <= TAIL_FROM:
            return 1.0 - (1.0 - self.rate) * x / TAIL_FROM
        return self.rate * math.exp(-(x - TAIL_FROM) / max(self.excess, MIN_EXCESS))

    def surprise(self, z: float) -> float:
        """−log10 of the tail probability, in [0, MAX_SURPRISE]."""
        tail = self.tail(z)
        return MAX_SURPRISE if tail <= 10.0**-MAX_SURPRISE else min(-math.log10(tail), MAX_SURPRISE)

    def learn(self, z: float, dt_ms: float) -> None:
        """Count one more residual of normal data, `dt_ms` after the previous one learnt."""
        x = abs(z)
        dt = min(max(dt_ms, 0.0), MAX_STEP_MS)
        if not math.isfinite(x) or dt <= 0.0:
            return
        self.weight_ms = min(self.weight_ms + dt, HORIZON_MS)
        beyond = x > TAIL_FROM
        self.rate += ((1.0 if beyond else 0.0) - self.rate) * dt / self.weight_ms
        if beyond:
            self.beyond_ms = min(self.beyond_ms + dt, HORIZON_MS * max(self.rate, PRIOR_RATE))
            step = min(x - TAIL_FROM, MAX_EXCESS_STEP * max(self.excess, MIN_EXCESS))
            self.excess += (step - self.excess) * dt / self.beyond_ms
