"""Helpers every command shares: one-line errors, output formats, signal handling."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from types import FrameType
from typing import NoReturn

import typer

from fleetscan.errors import FleetscanError, UsageError, redact

EXIT_UNKNOWN = 3  # UNKNOWN in the monitoring-plugin convention: fleetscan could not judge
EXIT_USAGE = 64  # EX_USAGE: a bad command line (click's own 2 would read as CRITICAL)


class OutputFormat(StrEnum):
    text = "text"
    jsonl = "jsonl"


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one redacted line on stderr and exit with `code`; no traceback."""
    typer.echo(f"fleetscan: error: {redact(message)}", err=True)
    raise typer.Exit(code=code)


def code_for(exc: FleetscanError, default: int) -> int:
    """The exit code for `exc`: 64 for a malformed command-line value, else `default`."""
    return EXIT_USAGE if isinstance(exc, UsageError) else default


def note(message: str) -> None:
    """A one-line notice on stderr (kept off stdout so `--format jsonl` stays parseable)."""
    typer.echo(f"fleetscan: {redact(message)}", err=True)


def emit_json(record: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(record, allow_nan=False, default=_json_default) + "\n")


def _json_default(value: object) -> object:
    return str(value)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT while the block runs, so loops finish their step, flush
    and exit 0; the previous handlers come back afterwards."""
    stop = threading.Event()

    def _handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
