"""Helpers every command shares: exit codes, one-line errors, output formats, signal handling."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum, StrEnum
from types import FrameType
from typing import NoReturn

import typer

from fleetscan.errors import FleetscanError, UsageError, redact


class ExitCode(IntEnum):
    """Every command's exit codes: the monitoring-plugin convention (Nagios, Icinga, Sensu), and
    EX_USAGE for a bad command line. A sweep's alert severity maps onto 0-2 in
    `sweep_cli.exit_code`; the other commands use 1 for "a check found something".

    | code | meaning                                                                              |
    |------|--------------------------------------------------------------------------------------|
    | 0    | OK: no alert open; the command did what it was asked                                 |
    | 1    | WARNING: alerts open, none critical, or a storm or cohort event; for other commands, |
    |      | what was checked was not right (`config check` problems, nothing matched, ...)       |
    | 2    | CRITICAL: an open alert's fleet_z reached `--critical`                               |
    | 3    | UNKNOWN: fleetscan could not judge: Plexus unreachable, key missing or refused,      |
    |      | state locked or unreadable, a sweep that watched nothing, or an unexpected error     |
    | 64   | USAGE (EX_USAGE): a bad command line; click's own 2 would read as CRITICAL           |
    """

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3
    USAGE = 64


class OutputFormat(StrEnum):
    text = "text"
    jsonl = "jsonl"


def fail(message: str, code: ExitCode = ExitCode.WARNING) -> NoReturn:
    """Print one redacted line on stderr and exit with `code`; no traceback."""
    typer.echo(f"fleetscan: error: {redact(message)}", err=True)
    raise typer.Exit(code=code)


def code_for(exc: FleetscanError, default: ExitCode) -> ExitCode:
    """The exit code for `exc`: USAGE for a malformed command-line value, else `default`."""
    return ExitCode.USAGE if isinstance(exc, UsageError) else default


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
