"""The device command's two ways of running a `Runner`: over a file, and polling Plexus live.

`score_file` scores a history file's readings in time order; `poll` fetches each stream's new
readings every `poll_s`, scores them, hands the samples to `show`, and posts `<metric>.zscore`
points through the emitter, keeping undelivered points (bounded) and backing off while the API
or the gateway fails. Output goes through the `show` and `note` callbacks the command passes in,
and failures are raised as `FleetscanError`s the command maps to exit codes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fleetscan.device import Runner, Sample
from fleetscan.errors import FleetscanError
from fleetscan.inputs import read_rows
from fleetscan.timeutil import EPOCH_MS_CUTOFF, human_duration, now_ms

if TYPE_CHECKING:  # the --input path imports neither httpx nor plexus-python
    from fleetscan.client import PlexusClient
    from fleetscan.device_metrics import DeviceMetrics
    from fleetscan.emitter import Emitter
    from fleetscan.points import Point

MAX_BACKOFF_S = 30.0
MAX_PENDING = 100_000  # points kept in memory while the gateway is down (newest kept)
CLOCK_TOLERANCE_MS = 86_400_000  # readings stamped further ahead of now are a clock fault

Show = Callable[[Sequence[Sample]], None]
Note = Callable[[str], None]


class NothingScored(FleetscanError):
    """Nothing was watched: a file with no readable row, or a `--once` poll with no readings."""


class PollFailed(FleetscanError):
    """`--once` and the one poll failed."""


class Undelivered(FleetscanError):
    """Points the gateway had not taken when the run ended (the device mode keeps no outbox)."""


@dataclass(frozen=True, slots=True)
class FileRun:
    """What `score_file` did: the samples, and the summary line to print."""

    samples: list[Sample]
    summary: str


def score_file(
    runner: Runner, path: Path, *, sources: Sequence[str], metrics: Sequence[str], note: Note
) -> FileRun:
    """Score every reading of `path` (of the given sources/metrics, if any) through `runner`."""
    default_source = sources[0] if len(sources) == 1 else "input"
    default_metric = metrics[0] if len(metrics) == 1 else "value"
    parsed = read_rows(path, default_source=default_source, default_metric=default_metric)
    if not parsed.readings:
        raise NothingScored(
            f"no row of {path} could be read ({parsed.skipped_summary() or 'no rows'})"
        )
    wanted = [
        r
        for r in parsed.readings
        if (not sources or r.source_id in sources) and (not metrics or r.metric in metrics)
    ]
    latest = now_ms() + CLOCK_TOLERANCE_MS
    readings = [r for r in wanted if EPOCH_MS_CUTOFF <= r.ts_ms <= latest]
    early = sum(r.ts_ms < EPOCH_MS_CUTOFF for r in wanted)
    if len(readings) < len(wanted):
        late = len(wanted) - len(readings) - early
        note(
            f"{path}: not scored: {early} readings stamped before 2001 (clock not set?), "
            f"{late} stamped in the future (device clock?)"
        )
    samples = runner.process(readings)
    anomalies = sum(s.anomaly for s in samples)
    summary = f"{path}: {len(samples)} samples in {len(runner)} streams, {anomalies} anomalous"
    skipped = parsed.skipped_summary()
    return FileRun(samples, f"{summary}; {skipped}" if skipped else summary)


def poll(
    runner: Runner,
    client: PlexusClient,
    emitter: Emitter,
    stop: threading.Event,
    *,
    sources: list[str],
    metrics: list[str],
    poll_s: float,
    lookback_ms: int,
    once: bool,
    exported: DeviceMetrics,
    show: Show,
    note: Note,
) -> None:
    """Poll, score, show, post until `stop`; a failing API or gateway logs one line, backs off."""
    pending: list[Point] = []
    backoff_s = poll_s
    post_error, post_backoff_s, post_after = "", 0.0, 0.0
    empty_said = False
    while not stop.is_set():
        now = now_ms()
        seen_ts = [ts for ts in runner.last_seen() if ts is not None]
        since = min(seen_ts) if len(seen_ts) == len(sources) * len(metrics) else now - lookback_ms
        try:
            parsed = client.fetch(
                metrics=metrics, sources=sources, from_ms=min(since, now - 1), to_ms=now
            )
        except FleetscanError as exc:
            exported.poll_errors.inc()
            if once:
                raise PollFailed(f"poll failed: {exc}") from None
            note(f"poll failed: {exc}; retrying in {backoff_s:.0f}s")
            stop.wait(backoff_s)
            backoff_s = min(backoff_s * 2, MAX_BACKOFF_S)
            continue
        backoff_s = poll_s
        if parsed.skipped:
            note(parsed.skipped_summary())
        if not parsed.readings and not empty_said and not len(runner):
            note(
                f"no readings yet for {', '.join(sources)} / {', '.join(metrics)} "
                "(an empty answer can also mean Plexus timed out)"
            )
            empty_said = True
            if once:  # one poll that found nothing watched nothing: not OK
                raise NothingScored(
                    f"no readings for {', '.join(sources)} / {', '.join(metrics)} in the last "
                    f"{human_duration(lookback_ms)}: check --source / --metric or widen --lookback"
                )
        samples = runner.process(parsed.readings)
        seen = {(s.source_id, s.metric) for s in samples}
        samples += runner.idle(now, seen)
        show(samples)
        pending += [s.point() for s in samples]
        if pending and (once or time.monotonic() >= post_after):
            result = emitter.send(pending)
            pending = result.undelivered[-MAX_PENDING:]
            if result.refusal:
                note(result.refusal)
            if result.undelivered:
                if not post_error:  # said once per outage, not every poll
                    note(f"{result.error}; keeping points, retrying with backoff")
                post_error = result.error
                post_backoff_s = min(max(post_backoff_s * 2, poll_s), MAX_BACKOFF_S)
                post_after = time.monotonic() + post_backoff_s
            elif post_error:
                note(f"posting again: {result.delivered} points delivered")
                post_error, post_backoff_s = "", 0.0
        exported.observe(samples, pending=len(pending))
        if once:
            break
        stop.wait(poll_s)
    if pending and not once:
        result = emitter.send(pending)
        pending, post_error = result.undelivered, result.error or post_error
    if pending:
        raise Undelivered(
            f"{len(pending)} points not delivered (device keeps no outbox, so they are lost): "
            f"{post_error}"
        )
