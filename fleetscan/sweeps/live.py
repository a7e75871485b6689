"""A live cron sweep: fetch what the plan asks for, step, post (outbox first), commit.

The order is what makes a sweep safe to kill and to repeat:

1. load the state and its outbox (under the state lock, held by the caller);
2. fetch the rows `plan.plan_fetch` asks for: the window, plus history only on the first sweep
   or after missed ones. If Plexus fails here nothing has been written: the state is unchanged;
3. `step_lifecycle` (pure), then the firmware's `sensor.ok` (one more fetch over the window: a board
   that reports its sensor missing is not "stale", `fleetscan.health`), the config file's
   thresholds and the active silences (`fleetscan.overrides`, `fleetscan.silences`, pure);
4. post the alert events not delivered by earlier sweeps, then this sweep's (`fleetscan.events`:
   the reason travels with the alert), then the outbox, then this sweep's points, in one
   `Emitter.send`;
5. commit the new state together with the new outboxes (what was not delivered) in ONE
   transaction. Killed before it, the previous state and outbox stand and the next sweep
   re-sends the outbox; nothing is lost, and only points already posted by the killed sweep
   can be posted twice.

A dry run posts nothing and writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from fleetscan import silence_store
from fleetscan.client import PlexusClient
from fleetscan.columns import RowColumns, batches
from fleetscan.config import Settings
from fleetscan.emitter import Emitter, Point
from fleetscan.errors import EmitError, InputError, StateError, UnavailableError
from fleetscan.events import alert_events
from fleetscan.fleet.batch import SeriesBatch
from fleetscan.health import SENSOR_OK, apply_health, latest_reports
from fleetscan.outbox import load_outbox, save_outbox
from fleetscan.overrides import NO_ADJUSTMENTS, Adjustments
from fleetscan.pages import fetch_columns
from fleetscan.state import Store, cap_outbox, open_state, outbox_merge
from fleetscan.sweeps.plan import FetchPlan, HistoryKind
from fleetscan.sweeps.replay import History
from fleetscan.sweeps.rollups import rollup_baseline
from fleetscan.sweeps.step import LifecycleStep, StepOptions, SweepState, plan_sweep, step_lifecycle
from fleetscan.telemetry import ParsedRows
from fleetscan.timeutil import iso_z

MIN_VANISHED = 2  # known sources that must all vanish at once to doubt an empty answer


@dataclass(frozen=True)
class SweepReport:
    """What one live sweep did, beyond its outcome."""

    outcome: LifecycleStep
    posted: int = 0  # points the gateway accepted
    from_outbox: int = 0  # of the points sent, how many were pending from earlier sweeps
    rejected: int = 0  # points the gateway refused as invalid (dropped)
    undelivered: list[Point] = field(default_factory=list)  # kept for the next sweep
    dropped: int = 0  # oldest pending points dropped because the outbox was full
    error: str = ""  # why points were not delivered
    refusal: str = ""  # which points the gateway refused, and why ("" if none)
    skipped: str = ""  # rows Plexus returned that could not be parsed
    dry_run: bool = False
    duration_s: float = 0.0
    events: int = 0  # alert events (`fleetscan.alert`) the gateway accepted
    events_error: str = ""  # why alert events were not posted
    events_kept: int = 0  # alert events kept in the state's outbox for the next sweep
    events_lost: int = 0  # alert events not delivered and not kept (no state, or refused)
    window: Mapping[str, SeriesBatch] = field(default_factory=dict)  # the rows judged (`-v` charts)


def fetch_rows(
    client: PlexusClient,
    plan: FetchPlan,
    metrics: Sequence[str],
    *,
    group_by: Sequence[str],
    upper_ms: int,
) -> tuple[dict[str, SeriesBatch], str]:
    """The rows `plan` asks for, as one batch per metric, and a note on unparseable rows.

    `upper_ms` bounds the window fetch: the sweep time for `--at` and replay, far in the future
    for wall-clock sweeps, so rows a device stamped with a broken clock show up as invalid.
    """
    keys = tuple(group_by)
    history = [
        fetch_columns(client, metrics=group, from_ms=from_ms, to_ms=to_ms, group_by=keys)
        for ranges, group in plan.history_groups()
        for from_ms, to_ms in ranges
    ]
    window = fetch_columns(
        client, metrics=list(metrics), from_ms=plan.window_from_ms, to_ms=upper_ms, group_by=keys
    )
    rows = RowColumns.concat([*history, window])
    found = batches(rows, metrics, dropped=window.skipped_by_series)
    return found, window.skipped_summary()


def run_live_sweep(
    metrics: Sequence[str],
    *,
    settings: Settings,
    api_url: str,
    options: StepOptions,
    adjustments: Adjustments,
    now_ms: int,
    upper_ms: int,
    state_path: Path | None,
    lock_wait_s: float,
    outbox_file: Path | None,
    dry_run: bool,
) -> tuple[SweepReport, str]:
    """`fleetscan fleet`'s live sweep with its edges opened and closed: the read clients (the
    rollups' on `api_url`), the emitter, and the state under its lock (`state_path`) or, for a
    one-off sweep, the `outbox_file`. Returns the report and, when the outbox file could not be
    written after the sweep, what was lost ("" otherwise)."""
    key = settings.require_key()
    rollups = options.baseline_rollups
    lost = ""
    with (
        PlexusClient(endpoint=settings.endpoint, api_key=key) as client,
        PlexusClient(endpoint=api_url if rollups else settings.endpoint, api_key=key) as api,
        Emitter(api_key=key, gateway_url=settings.gateway_url, dry_run=dry_run) as emitter,
    ):
        # With state, the store holds the outbox; a one-off sweep may keep one in a file.
        one_off_outbox = outbox_file if state_path is None and not dry_run else None
        pending = load_outbox(one_off_outbox) if one_off_outbox is not None else []
        locked_state = (
            open_state(state_path, lock_wait_s=lock_wait_s)
            if state_path is not None
            else nullcontext(None)
        )
        with locked_state as store:
            report = live_sweep(
                client=client,
                emitter=emitter,
                store=store,
                metrics=metrics,
                now_ms=now_ms,
                upper_ms=upper_ms,
                options=options,
                pending=pending,
                adjustments=adjustments,
                api_client=api if rollups else None,
            )
        if one_off_outbox is not None:
            try:
                save_outbox(one_off_outbox, report.undelivered)
            except InputError as exc:
                lost = f"{exc}: {len(report.undelivered)} undelivered points lost"
    return report, lost


def live_sweep(
    *,
    client: PlexusClient,
    emitter: Emitter,
    store: Store | None,
    metrics: Sequence[str],
    now_ms: int,
    upper_ms: int,
    options: StepOptions,
    pending: Sequence[Point] = (),
    adjustments: Adjustments = NO_ADJUSTMENTS,
    api_client: PlexusClient | None = None,
) -> SweepReport:
    """One sweep at `now_ms`. With a `store`, its state and outbox are used and committed;
    without one the state starts empty and `pending` are the points to send first. With
    `options.baseline_rollups`, baselines to learn come from `api_client`'s /v1/fleet/metrics.
    The config file's `adjustments` (thresholds, standing silences) and the store's silences
    apply after the step."""
    started = time.monotonic()
    state = store.load() if store is not None else SweepState()
    if store is not None:
        pending = store.outbox()
    if state.last_sweep_ms is not None and now_ms <= state.last_sweep_ms:
        where = store.path if store is not None else "the state"
        raise StateError(
            f"{where} already holds a sweep at {iso_z(state.last_sweep_ms)}, not before this "
            f"one at {iso_z(now_ms)}: is the clock (or --at) right?"
        )
    plan = plan_sweep(state, metrics, now_ms, options)
    rollups = [m for m, k in plan.kinds.items() if k is HistoryKind.LEARN]
    if options.baseline_rollups and api_client is not None and rollups:
        plan = replace(plan, history={m: r for m, r in plan.history.items() if m not in rollups})
    else:
        rollups = []
    window, skipped = fetch_rows(
        client, plan, metrics, group_by=options.sweep.group_by, upper_ms=upper_ms
    )
    _check_not_vanished(state, window, plan.window_from_ms, options)
    learned = {}
    for metric in rollups:
        assert api_client is not None
        batch = window[metric]
        learned[metric], _ = rollup_baseline(
            api_client, metric, now_ms=now_ms, options=options.sweep,
            cohorts=dict(zip(batch.source_ids, batch.cohorts, strict=True)),
        )  # fmt: skip
    outcome = step_lifecycle(state, window, now_ms, options, learned=learned)
    health = client.fetch(
        metrics=[SENSOR_OK], sources=None, from_ms=plan.window_from_ms, to_ms=upper_ms
    )
    outcome = apply_health(outcome, latest_reports(health.readings))
    stored_silences = silence_store.stored(store.connection) if store is not None else []
    outcome = adjustments.apply(state, outcome, options, stored_silences)
    if emitter.dry_run:
        return SweepReport(
            outcome, skipped=skipped, dry_run=True, duration_s=_since(started), window=window
        )
    earlier_events = store.pending_events() if store is not None else []
    alerts = [*earlier_events, *(e.wire() for e in alert_events(outcome.events()))]
    posted_events = emitter.send_events(alerts)  # first: stored before fleet_z opens the alert
    kept_events = posted_events.kept_events if store is not None else []
    points = outbox_merge(pending, outcome.emissions())
    try:
        sent = emitter.send(points)
        delivered, rejected, undelivered, error = (
            sent.delivered,
            sent.rejected,
            sent.undelivered,
            sent.error,
        )
        refusal = sent.refusal
    except EmitError as exc:  # the gateway refused the key: keep everything for later
        delivered, rejected, undelivered, error, refusal = 0, 0, points, str(exc), ""
    kept, dropped = cap_outbox(undelivered)
    if store is not None:
        store.commit(outcome.state, kept, events=kept_events)
    return SweepReport(
        outcome,
        posted=delivered,
        from_outbox=len(pending),
        rejected=rejected,
        undelivered=kept,
        dropped=dropped,
        error=error,
        refusal=refusal,
        skipped=skipped,
        duration_s=_since(started),
        events=posted_events.delivered,
        events_error=posted_events.error,
        events_kept=len(kept_events),
        events_lost=len(alerts) - posted_events.delivered - len(kept_events),
        window=window,
    )


def _check_not_vanished(
    state: SweepState, window: Mapping[str, SeriesBatch], from_ms: int, options: StepOptions
) -> None:
    """Raise `UnavailableError` when every source of a metric that reported in the last sweep's
    window is missing from this one: Plexus answers `200 {"data": []}` when its ClickHouse query
    times out, and scoring that empty answer would say all is well. Nothing is committed, so the
    next sweep asks again for everything since the last good one."""
    if state.last_sweep_ms is None:
        return
    recent = state.last_sweep_ms - options.sweep.window_ms
    for metric, batch in window.items():
        known = sum(1 for (_, m), t in state.last_seen.items() if m == metric and t > recent)
        came_back = int(np.count_nonzero(batch.ts_ms >= from_ms)) + int(batch.dropped.sum())
        if known >= MIN_VANISHED and came_back == 0:
            raise UnavailableError(
                f"Plexus answered no {metric} rows since {iso_z(from_ms)} although {known} "
                f"sources sent some before the last sweep ({iso_z(state.last_sweep_ms)}): it "
                "answers so when its query times out (or every board went silent at once); "
                "nothing judged, state kept for the next sweep"
            )


def _since(started: float) -> float:
    return time.monotonic() - started


def fetch_history(
    client: PlexusClient,
    metrics: Sequence[str],
    *,
    options: StepOptions,
    from_ms: int,
    to_ms: int,
) -> History:
    """What replaying sweeps from `from_ms` to `to_ms` needs (`replay`, `plot`, `report`): the
    history the first sweep learns from, then every row from its window on (later sweeps select
    from these), with the firmware's `sensor.ok` rows."""
    wanted = [*metrics, SENSOR_OK]
    first = plan_sweep(SweepState(), metrics, from_ms, options)
    history, window = _fetch_planned(client, first, wanted, upper_ms=to_ms)
    readings = [r for parsed in [*history, window] for r in parsed.readings]
    return History.from_readings(readings, wanted, group_by=options.sweep.group_by)


def _fetch_planned(
    client: PlexusClient, plan: FetchPlan, metrics: Sequence[str], *, upper_ms: int
) -> tuple[list[ParsedRows], ParsedRows]:
    """The history ranges `plan` asks for (one fetch each), then its window up to `upper_ms`."""
    history = [
        client.fetch(metrics=group, sources=None, from_ms=from_ms, to_ms=to_ms)
        for ranges, group in plan.history_groups()
        for from_ms, to_ms in ranges
    ]
    window = client.fetch(
        metrics=list(metrics), sources=None, from_ms=plan.window_from_ms, to_ms=upper_ms
    )
    return history, window
