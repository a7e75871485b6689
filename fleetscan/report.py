"""`fleetscan report`: one self-contained HTML page a person opens.

The page needs nothing but itself: charts are PNGs inlined as `data:` URIs, styles are inline,
and there is no script, font, image or link to fetch, so it opens offline, from a mail
attachment or a CI artifact. It holds:

1. the findings table: every alert the replayed cron sweep raised in the window (board,
   metric, status, opened, how long, peak fleet_z, the reason), each linking to its chart;
2. a chart per finding (`pictures.board_chart`): the board against its peers, the alert shaded;
3. the fleet at a glance, per metric: every board's gap to its peers as a heat map.

Text is escaped with `html.escape`; nothing from the data becomes markup.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from fleetscan.chartdata import gap_map
from fleetscan.pictures import ReplayedWindow, board_chart
from fleetscan.plot import gap_png
from fleetscan.sweeps.replay import Episode
from fleetscan.timeutil import human_duration, iso_z

MAX_CHARTS = 60  # findings beyond this are listed in the table without a chart

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1060px; color: #222; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; }
h3 { font-size: 15px; margin: 24px 0 6px; }
.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e3e3; vertical-align: top; }
th { background: #f5f5f5; }
.status { font-weight: 600; } .open { color: #b00020; } .resolved { color: #2e7d32; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.none { color: #2e7d32; font-weight: 600; }
"""


@dataclass(frozen=True)
class Finding:
    """One alert of the report, numbered for its anchor (`#finding-N`)."""

    number: int
    episode: Episode

    @property
    def anchor(self) -> str:
        return f"finding-{self.number}"


def findings(window: ReplayedWindow) -> list[Finding]:
    """The window's alerts, oldest first, numbered from 1."""
    ordered = sorted(window.summary.episodes, key=lambda e: (e.opened_ms, e.metric, e.source_id))
    return [Finding(i + 1, e) for i, e in enumerate(ordered)]


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _row(f: Finding, end_ms: int) -> str:
    e = f.episode
    still_open = e.resolved_ms is None
    lasted = human_duration((end_ms if still_open else e.resolved_ms or end_ms) - e.opened_ms)
    state = (
        '<span class="open">still open</span>'
        if still_open
        else (f'<span class="resolved">resolved {escape(iso_z(e.resolved_ms or 0))}</span>')
    )
    cells = [
        f'<a href="#{f.anchor}">{f.number}</a>',
        escape(e.source_id),
        escape(e.metric),
        f'<span class="status">{escape(e.status)}</span>',
        escape(iso_z(e.opened_ms)),
        f"{escape(lasted)}, {state}",
        f"{e.peak:.1f}",
        escape(e.reason),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render(
    window: ReplayedWindow, *, metrics: Sequence[str], threshold: float, title: str, options: str
) -> str:
    """The whole page as text."""
    found = findings(window)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">{escape(iso_z(window.from_ms))} → {escape(iso_z(window.to_ms))} · '
        f"{window.summary.sweeps} sweeps replayed over {len(window.summary.series)} series · "
        f"{escape(options)}</p>",
        f'<h2 id="findings">Findings ({len(found)})</h2>',
    ]
    if found:
        head = ["#", "board", "metric", "status", "opened", "for", "peak fleet_z", "reason"]
        parts.append(
            "<table><thead><tr>"
            + "".join(f"<th>{h}</th>" for h in head)
            + "</tr></thead><tbody>"
            + "".join(_row(f, window.to_ms) for f in found)
            + "</tbody></table>"
        )
    else:
        parts.append('<p class="none">No alert in this window: every board in line.</p>')
    for f in found[:MAX_CHARTS]:
        e = f.episode
        png = board_chart(window, e.source_id, e.metric, threshold=threshold, spans=[e])
        alt = f"{e.source_id} {e.metric} against its peers, {e.status} from {iso_z(e.opened_ms)}"
        parts.append(
            f'<section id="{f.anchor}"><h3>{f.number}. {escape(e.source_id)} {escape(e.metric)}'
            f": {escape(e.status)}</h3>"
            f'<img alt="{escape(alt)}" src="{_data_uri(png)}"></section>'
        )
    if len(found) > MAX_CHARTS:
        parts.append(f"<p>{len(found) - MAX_CHARTS} more findings are listed above, not drawn.</p>")
    parts.append('<h2 id="fleet">The fleet at a glance</h2>')
    for metric in metrics:
        history = window.history.metrics.get(metric)
        if history is None or not len(history.ts_ms):
            parts.append(f"<p>No {escape(metric)} readings in the window.</p>")
            continue
        gaps = gap_map(history, from_ms=window.from_ms, to_ms=window.to_ms)
        parts.append(
            f'<section id="fleet-{escape(metric)}"><h3>{escape(metric)}</h3>'
            f'<img alt="{escape(metric)}: every board\'s gap to its peers" '
            f'src="{_data_uri(gap_png(gaps))}"></section>'
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
