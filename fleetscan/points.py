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

    def wire(self) -> dict[str, Any]:
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
