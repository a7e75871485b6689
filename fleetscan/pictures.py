"""From a replay to pictures: which alerts a window held, and a PNG of each.

`replay_window` runs the cron sweep over stored history (the same `sweeps.replay` engine as
`fleetscan replay`), and returns the alerts it would have raised (`Summary.episodes`) with the
last verdict of every series. `board_chart` draws one board against its peers over the window,
shading its alerts and captioning the reason. Drawing needs the `plot` extra (matplotlib).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

from fleetscan.chartdata import board_view
from fleetscan.errors import InputError
from fleetscan.overrides import NO_ADJUSTMENTS, Adjustments
from fleetscan.plot import Span, board_png
from fleetscan.sweeps.replay import Episode, History, Summary, replay, sweep_times
from fleetscan.sweeps.step import SeriesVerdict, StepOptions
from fleetscan.timeutil import human_duration, iso_z


@dataclass
class ReplayedWindow:
    """What a replay over `[from_ms, to_ms]` found."""

    history: History
    from_ms: int
    to_ms: int
    summary: Summary
    last: dict[tuple[str, str], SeriesVerdict] = field(default_factory=dict)
    baseline_ms: int = 0  # history before `from_ms` the charts learn each board's usual gap from

    def episodes(self, source_id: str, metric: str) -> list[Episode]:
        return [e for e in self.summary.episodes if e.source_id == source_id and e.metric == metric]


def replay_window(
    history: History,
    *,
    from_ms: int,
    to_ms: int,
    every_ms: int,
    options: StepOptions,
    progress: Callable[[list[int]], Iterable[int]] = iter,
    adjustments: Adjustments = NO_ADJUSTMENTS,
) -> ReplayedWindow:
    """Replay sweeps every `every_ms` over `[from_ms, to_ms]`; `progress` wraps the sweep times
    (the CLI's progress bar); `adjustments` are the config file's thresholds and silences."""
    window = ReplayedWindow(history, from_ms, to_ms, Summary(), baseline_ms=baseline_span(options))
    times = progress(sweep_times(from_ms, to_ms, every_ms))
    adjust = partial(adjustments.apply, options=options)
    for outcome in replay(history, times, options, adjust=adjust):
        window.summary.add(outcome)
        for v in outcome.verdicts:
            window.last[(v.result.source_id, v.result.metric)] = v
    return window


def baseline_span(options: StepOptions) -> int:
    """How much history a chart learns a board's usual gap from: the sweeps' baseline, if any."""
    return options.sweep.baseline_span_ms if options.use_baseline else 0


def caption(window: ReplayedWindow, source_id: str, metric: str) -> str:
    """The reason under the chart: the alerts' reasons, or the last verdict's."""
    episodes = window.episodes(source_id, metric)
    if episodes:
        return "  ".join(episode_line(e, window.to_ms) for e in episodes[-3:])
    last = window.last.get((source_id, metric))
    if last is None:
        return "no sweep judged this series in the window"
    return f"no alert in this window; last sweep: {last.result.status}: {last.result.reason}"


def episode_line(e: Episode, end_ms: int) -> str:
    """`drifting from 2026-…Z for 35m (peak fleet_z 9.1): gap to peers moved …`."""
    until = (e.resolved_ms if e.resolved_ms is not None else end_ms) - e.opened_ms
    still = "" if e.resolved_ms is not None else ", still open"
    return (
        f"{e.status} from {iso_z(e.opened_ms)} for {human_duration(until)}{still} "
        f"(peak fleet_z {e.peak:.1f}): {e.reason}"
    )


def board_chart(
    window: ReplayedWindow,
    source_id: str,
    metric: str,
    *,
    threshold: float,
    spans: Sequence[Episode] | None = None,
) -> bytes:
    """The PNG of one board against its peers over the window, its alerts shaded."""
    history = window.history.metrics.get(metric)
    if history is None or source_id not in history.source_ids:
        raise InputError(f"no {metric} readings from {source_id} in the history")
    view = board_view(
        history,
        source_id,
        from_ms=window.from_ms,
        to_ms=window.to_ms,
        threshold=threshold,
        baseline_ms=window.baseline_ms,
    )
    episodes = window.episodes(source_id, metric) if spans is None else spans
    return board_png(
        view,
        spans=[Span(e.opened_ms, e.resolved_ms, e.status) for e in episodes],
        caption=caption(window, source_id, metric),
        threshold=threshold,
    )


def chart_name(e: Episode) -> str:
    """A file name for one alert's chart: `<source>-<metric>-<opened, compact UTC>.png`."""
    stamp = iso_z(e.opened_ms).replace("-", "").replace(":", "").split(".")[0]
    return f"{e.source_id}-{e.metric}-{stamp}Z.png"
