"""Cron sweeps: the fleet scorer run every few minutes, with state, an alert lifecycle and replay.

Data flow (one module per arrow):

    state.db ─load─▶ SweepState ─plan─▶ FetchPlan ─live.fetch_rows / replay.History─▶ rows
    rows + SweepState ─step.step_lifecycle─▶ LifecycleStep (verdicts, storms, new state, emissions)
    LifecycleStep ─live─▶ Emitter (outbox first) ─▶ state.db (state + outbox, one transaction)
               └─render / prom─▶ text, jsonl, Prometheus textfile

- `plan`: what a sweep fetches (its window; history only on the first sweep or after missed
  ones) and how that history joins the stored baseline. Pure.
- `step`: `step_lifecycle(state, window, now_ms, options)`, the one function both the cron sweep and
  `fleetscan replay` call. Pure: no clock, network or disk.
- `live`: one cron sweep against Plexus (fetch, step, post, commit), under the state lock.
- `replay`, `replay_input`: stored history as arrays, replayed as if cron had run every N min.
- `render`, `prom`: human output and Prometheus text exposition.

The state store is `fleetscan.state`; the per-series lifecycle is `fleetscan.lifecycle`.
"""
