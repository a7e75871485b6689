"""PNG charts of `fleetscan.chartdata` views, drawn with matplotlib's Agg canvas (no display).

matplotlib is an extra (`pip install 'fleetscan[plot]'`): it is imported only when a chart is
drawn, and its absence is a one-line `ConfigError`. Figures are built with `Figure` and
`FigureCanvasAgg` directly, not pyplot, so no global state or GUI backend is involved.

- `board_png`: the board's readings (red) against its peers' median (blue) and robust band
  (light blue), with a baseline its own usual gap to them (grey dashes), alert spans shaded
  orange, the reason as the caption.
- `gap_png`: every board's gap to its peers as a heat map (blue below, red above, ±6 σ).
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleetscan.chartdata import BoardView, GapMap
from fleetscan.errors import ConfigError
from fleetscan.sensors import profile_for

BOARD_COLOUR = "#d62728"
PEER_COLOUR = "#1f77b4"
BAND_COLOUR = "#aec7e8"
ALERT_COLOUR = "#ff7f0e"
USUAL_COLOUR = "#555555"
GAP_LIMIT = 6.0  # the heat map's colour scale, in robust σ either side


@dataclass(frozen=True)
class Span:
    """An alert on the chart: from `start_ms` to `end_ms` (None: still open at the end)."""

    start_ms: int
    end_ms: int | None
    label: str


def _figure(width_in: float, height_in: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("charts need matplotlib: pip install 'fleetscan[plot]'") from None
    figure = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _times(ms: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.asarray(ms, dtype="datetime64[ms]")


def board_png(
    view: BoardView, *, spans: Sequence[Span] = (), caption: str = "", threshold: float = 3.0
) -> bytes:
    """The board against its peers as a PNG (1000 × 420 px)."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    figure = _figure(10.0, 4.2)
    axes = figure.add_axes((0.07, 0.28, 0.91, 0.62))
    buckets = _times(view.bucket_ms)
    axes.fill_between(
        buckets,
        view.band_low,
        view.band_high,
        color=BAND_COLOUR,
        alpha=0.6,
        linewidth=0,
        label=f"peers ± {threshold:g} robust σ",
    )
    axes.plot(buckets, view.peer_median, color=PEER_COLOUR, linewidth=1.5, label="peers' median")
    if math.isfinite(view.usual_gap):
        axes.plot(
            buckets,
            view.peer_median + view.usual_gap,
            color=USUAL_COLOUR,
            linewidth=1.2,
            linestyle="--",
            label=f"peers + its usual gap ({view.usual_gap:+.2f})",
        )
    axes.plot(
        _times(view.ts_ms), view.value, color=BOARD_COLOUR, linewidth=1.6, label=view.source_id
    )
    end = int(view.bucket_ms[-1]) if len(view.bucket_ms) else 0
    for i, span in enumerate(spans):
        stop = span.end_ms if span.end_ms is not None else end
        axes.axvspan(
            _times(np.array([span.start_ms]))[0],
            _times(np.array([stop]))[0],
            color=ALERT_COLOUR,
            alpha=0.25,
            linewidth=0,
            label="alert" if i == 0 else None,
        )
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    unit = profile_for(view.metric).unit
    axes.set_ylabel(f"{view.metric} ({unit})" if unit else view.metric)
    where = f"cohort {view.cohort}" if view.cohort else "the fleet"
    axes.set_title(
        f"{view.source_id} {view.metric} against its {view.peers} peers in {where} (UTC)",
        fontsize=11,
        loc="left",
    )
    axes.grid(True, color="#dddddd", linewidth=0.6)
    axes.legend(loc="upper left", fontsize=8, framealpha=0.8)
    if caption:
        figure.text(0.07, 0.03, textwrap.fill(caption, 130), fontsize=9, va="bottom")
    return _png(figure)


def gap_png(gaps: GapMap) -> bytes:
    """Every board's gap to its peers as a heat map PNG (one row per board)."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num

    rows = max(1, len(gaps.source_ids))
    height = min(16.0, 1.2 + 0.18 * rows)
    figure = _figure(10.0, height)
    axes = figure.add_axes((0.16, 0.9 / height, 0.76, 1 - 1.5 / height))
    times = _times(gaps.bucket_ms)
    half = (gaps.bucket_ms[1] - gaps.bucket_ms[0]) / 2 if len(gaps.bucket_ms) > 1 else 30_000
    left = date2num(_times(np.array([gaps.bucket_ms[0] - half]))[0]) if len(times) else 0.0
    right = date2num(_times(np.array([gaps.bucket_ms[-1] + half]))[0]) if len(times) else 1.0
    image = axes.imshow(
        np.clip(gaps.gap, -GAP_LIMIT, GAP_LIMIT),
        aspect="auto",
        cmap="RdBu_r",
        vmin=-GAP_LIMIT,
        vmax=GAP_LIMIT,
        interpolation="nearest",
        extent=(left, right, rows - 0.5, -0.5),
    )
    axes.xaxis_date()
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.set_yticks(range(len(gaps.source_ids)), list(gaps.source_ids), fontsize=7)
    axes.set_title(
        f"{gaps.metric}: each board's gap to its peers (robust σ, UTC)", fontsize=11, loc="left"
    )
    colour_axes = figure.add_axes((0.935, 0.9 / height, 0.015, 1 - 1.5 / height))
    figure.colorbar(image, cax=colour_axes)
    return _png(figure)
