"""The `--outbox FILE` of one-off sweeps (`fleet --no-state`): points the gateway did not take,
kept on disk and sent first next run. One JSON object a line (`Point.to_dict`), written whole to a
temporary file and renamed over the old one, so a killed run leaves the previous outbox.

(With state, the state database keeps the outbox: `fleetscan.state`.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from fleetscan.errors import InputError
from fleetscan.points import Point


def load_outbox(path: Path) -> list[Point]:
    """The points kept in `path` (none if it does not exist); `InputError` if it cannot be read."""
    if not path.exists():
        return []
    try:
        return [
            Point.from_dict(json.loads(line))
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read outbox {path}: {exc}") from None


def save_outbox(path: Path, points: Sequence[Point]) -> None:
    """Replace `path` with `points` (an empty file when none); `InputError` if it cannot be."""
    text = "".join(json.dumps(p.to_dict()) + "\n" for p in points)
    try:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise InputError(f"cannot write outbox {path}: {exc}") from None
