"""The contract every per-device detector keeps (one detector per file, river style).

A detector scores one stream (one source, one metric) a sample at a time:

- `update(ts_ms, value)` takes the next finite reading (timestamps non-decreasing) and returns a
  `Score`. It must be O(1) amortised and keep bounded memory, whatever the window.
- `idle(now_ms)` is called while polling finds no new reading; detectors that watch for silence
  (dropout) return a `Score`, the rest return `None`.

`Score.z` is a signed deviation and `Score.score` (≥ 0) the figure compared with the threshold, both in
robust-σ units for the single methods, so `--threshold 3` means the same for every one of them.
`anomalous` says whether this sample counts toward the streak; `check` and `reason` explain it in
one line when it does.

A detector that runs its own alert life (`auto`: calibrated surprise, `events.py`) also sets
`alert` (open or not after this sample), `event` (`opened`/`resolved`), `posted` (what goes out as
`<metric>.zscore`) and, for `auto`, `score` is the onset-marked evidence. With `alert` left None the
runner applies the tutorial's N-in-a-row guard to `anomalous`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Score:
    """A detector's verdict on one sample."""

    z: float
    score: float
    anomalous: bool
    check: str = ""
    reason: str = ""
    alert: bool | None = None
    event: str = ""
    posted: float = 0.0


NORMAL = Score(0.0, 0.0, False)


class Detector(Protocol):
    """One stream's detector; see the module docstring for the contract."""

    name: str

    def update(self, ts_ms: int, value: float) -> Score: ...

    def idle(self, now_ms: int) -> Score | None: ...


class StreakGuard:
    """The tutorial's N-in-a-row guard and its emission convention.

    >>> guard = StreakGuard(consecutive=3)
    >>> [guard.push(True) for _ in range(4)], guard.emitted(5.04)
    ([1, 2, 3, 4], 5.04)
    >>> guard.push(False), guard.emitted(5.04)
    (0, 0.0)
    """

    def __init__(self, consecutive: int) -> None:
        if consecutive < 1:
            raise ValueError("consecutive must be at least 1")
        self.consecutive = consecutive
        self.streak = 0

    def push(self, anomalous: bool) -> int:
        """Count one more sample; returns the current streak."""
        self.streak = self.streak + 1 if anomalous else 0
        return self.streak

    @property
    def firing(self) -> bool:
        """True once the streak has reached `consecutive`."""
        return self.streak >= self.consecutive

    def emitted(self, score: float) -> float:
        """What gets posted as `<metric>.zscore`: the score once the guard is met, else 0.0."""
        return score if self.firing else 0.0
