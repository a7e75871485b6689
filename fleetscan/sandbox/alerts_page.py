"""`GET /sandbox/alerts`: the sandbox's alerts as a page a person reads in a browser.

Not a Plexus route (it stands in for the Slack or e-mail message Plexus would send): every
`alert.triggered` / `alert.resolved` record, newest first, with the reason fleetscan posted on
the board (`contextSnapshot`, the board's latest `fleetscan.alert` event). The sandbox's keys are
public test keys on loopback, so this page asks for none; it loads nothing but itself.
"""

from __future__ import annotations

from html import escape

from fleetscan.sandbox.backend import Backend
from fleetscan.sandbox.web import Request, Response

_STYLE = (
    "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px}"
    "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;"
    "border-bottom:1px solid #e3e3e3;vertical-align:top}th{background:#f5f5f5}"
    ".triggered{color:#b00020;font-weight:600}.resolved{color:#2e7d32;font-weight:600}"
)


def _cell(value: object) -> str:
    return f"<td>{escape('' if value is None else str(value))}</td>"


def get_alerts_page(backend: Backend, request: Request) -> Response:
    rows = []
    for record in reversed(backend.alert_events()):
        data = record.get("data")
        if not isinstance(data, dict):
            continue
        context = data.get("contextSnapshot")
        why = context if isinstance(context, dict) else {}
        kind = str(record.get("event", ""))
        rows.append(
            "<tr>"
            + _cell(record.get("created_at"))
            + f'<td class="{escape(kind.split(".")[-1])}">{escape(kind)}</td>'
            + _cell(data.get("sourceSlug"))
            + _cell(data.get("metric"))
            + _cell(f"{data.get('value')} vs {data.get('bound')} {data.get('threshold')}")
            + _cell(why.get("status"))
            + _cell(why.get("reason") or data.get("message"))
            + _cell(why.get("alert_id"))
            + "</tr>"
        )
    head = ["when", "event", "source", "metric", "value", "status", "why", "fleetscan alert"]
    table = (
        "<table><thead><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        if rows
        else "<p>No alert yet.</p>"
    )
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Sandbox alerts</title><style>{_STYLE}</style></head><body>"
        f"<h1>Sandbox alerts ({len(rows)})</h1>{table}</body></html>\n"
    )
    return Response(200, page.encode(), {"content-type": "text/html; charset=utf-8"})
