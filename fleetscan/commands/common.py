"""Helpers every command shares: one-line errors, output formats, signal handling."""

from __future__ import annotations

import json
import signal
import sys
import threading
from enum import StrEnum
from types import FrameType
from typing import NoReturn

import typer

from fleetscan.errors import redact


class OutputFormat(StrEnum):
    text = "text"
    jsonl = "jsonl"


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one redacted line on stderr and exit with `code`; no traceback."""
    typer.echo(f"fleetscan: error: {redact(message)}", err=True)
    raise typer.Exit(code=code)


def note(message: str) -> None:
    """A one-line notice on stderr (kept off stdout so `--format jsonl` stays parseable)."""
    typer.echo(f"fleetscan: {redact(message)}", err=True)


def emit_json(record: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(record, allow_nan=False, default=_json_default) + "\n")


def _json_default(value: object) -> object:
    return str(value)


def stop_event_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so loops finish their step, flush and exit 0."""
    stop = threading.Event()

    def _handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)
    return stop
