"""A threshold alert engine with the semantics of Plexus's houston service (docs/plexus-contract.md §3).

    IDLE --breach--> OPEN --ok--> CLOSING --ok, >= 30 s after closing began--> COOLDOWN (60 s)
                      ^              |                                            |
                      +---breach-----+          evaluations ignored, then IDLE <--+

- A point triggers when `value < min` or `value > max` (strict; a missing bound is no check).
  NaN and ±inf never trigger. Opening has no delay: the first breach emits `open`.
- The first non-breaching point moves OPEN to CLOSING; a breach while CLOSING goes back to OPEN
  without a new `open`. Only a non-breaching evaluation that arrives ≥ 30 s after closing began
  emits `closed`; there is no timer, so a silent device leaves its alert open.
- After a close, evaluations are ignored for 60 s. The first evaluation after that re-opens at
  once if it breaches.
- Removing a rule closes its OPEN or CLOSING alert with reason `rule_deleted`.

Time is the *evaluation's* wall clock (`now`, epoch seconds), never the point's timestamp, as in
houston. The engine is pure state: no clock, no I/O; callers pass `now` in.
"""

from __future__ import annotations

import enum
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass

HYSTERESIS_S = 30.0
COOLDOWN_S = 60.0


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """One threshold monitor as houston sees it: keyed by source *slug* and metric."""

    rule_id: str
    source_slug: str
    metric: str
    min: float | None
    max: float | None
    severity: str = "warning"
    message: str | None = None  # the monitor's own message, which the webhook carries
    targets: tuple[str, ...] = ()  # notification target ids (empty: the org's default fan-out)


@dataclass(frozen=True, slots=True)
class HoustonTransition:
    """An `open` or `closed` transition. `value` is the breaching value (the last one seen while
    the alert was breaching, for a close); `bound` says which side was crossed."""

    state: str  # "open" or "closed"
    rule: ThresholdRule
    value: float
    threshold: float
    bound: str  # "min" or "max"
    opened_at: float
    at: float
    reason: str | None = None


class _State(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"
    COOLDOWN = "cooldown"


@dataclass
class _Instance:
    rule: ThresholdRule
    state: _State
    opened_at: float
    value: float
    threshold: float
    bound: str
    closing_start: float = 0.0
    closed_at: float = 0.0


def breach(rule: ThresholdRule, value: float) -> tuple[float, str] | None:
    """The violated `(bound value, "min"|"max")`, or None.

    >>> rule = ThresholdRule("r", "esp32", "temperature", min=0.0, max=40.0)
    >>> breach(rule, 40.0), breach(rule, 40.5), breach(rule, -1.0), breach(rule, math.nan)
    (None, (40.0, 'max'), (0.0, 'min'), None)
    """
    if not math.isfinite(value):
        return None
    if rule.min is not None and value < rule.min:
        return rule.min, "min"
    if rule.max is not None and value > rule.max:
        return rule.max, "max"
    return None


class AlertEngine:
    """Per-rule alert state. Thread-safe; every method takes `now` in epoch seconds.

    >>> engine = AlertEngine()
    >>> engine.set_rules([ThresholdRule("r1", "esp32", "temperature", min=None, max=40.0)], now=0)
    []
    >>> [t.state for t in engine.evaluate("esp32", "temperature", 41.0, now=0)]
    ['open']
    >>> engine.evaluate("esp32", "temperature", 20.0, now=1)  # OPEN → CLOSING
    []
    >>> [t.state for t in engine.evaluate("esp32", "temperature", 20.0, now=31)]
    ['closed']
    """

    def __init__(
        self, *, hysteresis_s: float = HYSTERESIS_S, cooldown_s: float = COOLDOWN_S
    ) -> None:
        self.hysteresis_s = hysteresis_s
        self.cooldown_s = cooldown_s
        self._rules: dict[tuple[str, str], ThresholdRule] = {}
        self._instances: dict[str, _Instance] = {}  # by rule id
        self._lock = threading.Lock()

    def set_rules(self, rules: Iterable[ThresholdRule], *, now: float) -> list[HoustonTransition]:
        """Swap in the full rule set (houston's per-org push). Alerts of removed rules close."""
        with self._lock:
            self._rules = {(r.source_slug, r.metric): r for r in rules}
            live = {r.rule_id: r for r in self._rules.values()}
            closes: list[HoustonTransition] = []
            for rule_id, inst in list(self._instances.items()):
                if rule_id in live:
                    inst.rule = live[rule_id]
                    continue
                del self._instances[rule_id]
                if inst.state in (_State.OPEN, _State.CLOSING):
                    closes.append(self._transition("closed", inst, now, reason="rule_deleted"))
            return closes

    def evaluate(
        self, source_slug: str, metric: str, value: float, *, now: float
    ) -> list[HoustonTransition]:
        """Feed one metric point; returns the transitions it caused (zero or one)."""
        with self._lock:
            rule = self._rules.get((source_slug, metric))
            if rule is None:
                return []
            hit = breach(rule, value)
            inst = self._instances.get(rule.rule_id)
            if inst is not None and inst.state is _State.COOLDOWN:
                if now - inst.closed_at < self.cooldown_s:
                    return []
                del self._instances[rule.rule_id]
                inst = None
            if inst is None:
                if hit is None:
                    return []
                inst = _Instance(rule, _State.OPEN, now, value, hit[0], hit[1])
                self._instances[rule.rule_id] = inst
                return [self._transition("open", inst, now)]
            if hit is not None:
                inst.state, inst.value = _State.OPEN, value
                return []
            if inst.state is _State.OPEN:
                inst.state, inst.closing_start = _State.CLOSING, now
                return []
            if now - inst.closing_start >= self.hysteresis_s:
                inst.state, inst.closed_at = _State.COOLDOWN, now
                return [self._transition("closed", inst, now)]
            return []

    def state_of(self, source_slug: str, metric: str) -> str:
        """`idle`, `open`, `closing` or `cooldown` (for tests and debugging)."""
        with self._lock:
            rule = self._rules.get((source_slug, metric))
            inst = None if rule is None else self._instances.get(rule.rule_id)
            return "idle" if inst is None else inst.state.value

    @staticmethod
    def _transition(
        state: str, inst: _Instance, now: float, reason: str | None = None
    ) -> HoustonTransition:
        return HoustonTransition(
            state=state,
            rule=inst.rule,
            value=inst.value,
            threshold=inst.threshold,
            bound=inst.bound,
            opened_at=inst.opened_at,
            at=now,
            reason=reason,
        )
