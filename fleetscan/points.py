"""`Point`: one metric point fleetscan posts, as the sweep builds it (the emitter posts it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fleetscan.telemetry import NO_TAGS


@dataclass(frozen=True, slots=True)
class Point:
    """One metric point to post: `ts_ms` is epoch ms UTC."""

    source_id: str
    metric: str
    value: float
    ts_ms: int
    tags: Mapping[str, str] = field(default_factory=lambda: NO_TAGS)

    def to_dict(self) -> dict[str, Any]:
        """The point as fleetscan keeps it on disk (`fleetscan.outbox`); `from_dict` reads it."""
        return {
            "source_id": self.source_id,
            "metric": self.metric,
            "value": self.value,
            "ts_ms": self.ts_ms,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Point:
        """`to_dict`'s inverse; `KeyError`, `TypeError` or `ValueError` on a malformed one.

        >>> p = Point("b1", "t.fleet_z", 4.5, 1_000, {"status": "stuck"})
        >>> Point.from_dict(p.to_dict()) == p
        True
        """
        tags = d.get("tags") or {}
        return cls(d["source_id"], d["metric"], float(d["value"]), int(d["ts_ms"]), tags)

    def wire(self) -> dict[str, Any]:
        """The point as the gateway's ingest API takes it."""
        point: dict[str, Any] = {
            "source_id": self.source_id,
            "class": "metric",
            "metric": self.metric,
            "value": self.value,
            "timestamp": self.ts_ms,
        }
        if self.tags:
            point["tags"] = dict(self.tags)
        return point
