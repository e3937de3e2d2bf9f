# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet status page: one self-contained HTML file (inline CSS, inline SVG, no script, no external asset)
from ``_fleet.document()``: a row per host and plan coloured by freshness, then per host and instance a chart
of snapshot size (bars) and newest-snapshot age (a saw tooth against the freshness line) over time.
Every string from the hosts is escaped. Plain Python, no Ansible imports.

This is a private module of the sage_open_webui.backup collection; its API may change at any time.
"""

from __future__ import annotations

import datetime
import html
import os

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _fleet
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, human_bytes, utcnow, write_json

CSS = """
body{font:12.5px/1.35 system-ui,sans-serif;margin:20px;color:#1d2330;background:#fafbfc}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 6px}h3{font-size:13px;margin:0 0 4px}
.meta{color:#5b6372;margin-bottom:8px}.pill{display:inline-block;padding:1px 9px;border-radius:9px;margin-right:6px}
table{border-collapse:collapse;width:100%;background:#fff}th,td{padding:4px 7px;border-bottom:1px solid #e3e6ea;
text-align:left;vertical-align:top;white-space:nowrap}th{background:#eef1f4;font-weight:600;white-space:normal}
tr.green td:first-child{border-left:6px solid #2e9e4f}tr.amber td:first-child{border-left:6px solid #e0a100}
tr.red td:first-child{border-left:6px solid #d23a3a}tr.red{background:#fdf1f1}
span.green{color:#1f7a3a}span.amber{color:#8a6300}span.red{color:#b02a2a;font-weight:600}
.pill.green{background:#dff3e5}.pill.amber{background:#fdf0c8}.pill.red{background:#f9d6d6}
td.wrap{white-space:normal;min-width:90px}.err{color:#b02a2a;min-width:180px;white-space:normal;word-break:break-word}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{background:#fff;border:1px solid #e3e6ea;padding:8px}
svg text{font:11px system-ui,sans-serif;fill:#5b6372}
"""
W, H = 520, 170          # chart size
PAD_L, PAD_R = 56, 10
SIZE_TOP, SIZE_H = 8, 60  # size bars panel
AGE_TOP, AGE_H = 84, 60  # age saw tooth panel


def esc(value):
    return html.escape("" if value is None else str(value), quote=True)


def _cells(row, now):
    cells = _fleet.cells(row, now)
    status = '<span class="%s">%s</span>' % (esc(row["colour"]), esc(cells[4]))
    targets = ", ".join('<span class="%s">%s %s</span>'
                        % ("red" if t["status"] == "failed" else "green", esc(t["name"]), esc(t["status"]))
                        for t in row["targets"]) or "-"
    out = [esc(c) for c in cells]
    out[0] = '<span class="pill %s">%s</span>' % (esc(row["colour"]), esc(row["colour"]))
    out[4], out[10] = status, targets
    out[11] = '<div class="err">%s</div>' % esc(row["error"] or "")
    return out


def table(doc, now):
    head = "".join("<th>%s</th>" % esc(h) for h in _fleet.HEADER)
    body = []
    for row in doc["rows"]:
        attrs = 'class="%s" data-host="%s" data-plan="%s" data-status="%s"' % (
            esc(row["colour"]), esc(row["host"]), esc(row["plan"]), esc(row["status"]))
        tds = ["<td%s>%s</td>" % (' class="wrap"' if i in (1, 10) else "", c) for i, c in enumerate(_cells(row, now))]
        body.append("<tr %s>%s</tr>" % (attrs, "".join(tds)))
    return '<table id="fleet"><thead><tr>%s</tr></thead><tbody>%s</tbody></table>' % (head, "".join(body))


def _series(snapshots, instance):
    points = []
    for snap in snapshots:
        when = _fleet.parse_time(snap.get("created"))
        if snap.get("instance") == instance and when is not None:
            points.append((when, snap.get("bytes") or 0, bool(snap.get("verified"))))
    return sorted(points)


def _x(when, start, span):
    return PAD_L + (W - PAD_L - PAD_R) * (when - start).total_seconds() / span


def chart(host, instance, points, now, fresh_hours):
    """An inline SVG: size of each snapshot (bars; grey = not verified) and the age of the newest snapshot
    over time (saw tooth) with the freshness limit (dashed)."""
    start = min(points[0][0], now - datetime.timedelta(days=1))
    span = max((now - start).total_seconds(), 1.0)
    top_bytes = max(p[1] for p in points) or 1
    parts = []
    for when, size, verified in points:
        h = SIZE_H * size / top_bytes
        parts.append('<rect x="%.1f" y="%.1f" width="4" height="%.1f" fill="%s"><title>%s: %s</title></rect>'
                     % (_x(when, start, span) - 2, SIZE_TOP + SIZE_H - h, h, "#3b6fd4" if verified else "#a9b0bb",
                        esc(when.isoformat()), esc(human_bytes(size))))
    ages = [((b[0] - a[0]).total_seconds() / 3600.0) for a, b in zip(points, points[1:])]
    ages.append((now - points[-1][0]).total_seconds() / 3600.0)
    top_age = max(ages + [fresh_hours * 1.25])

    def y_age(hours):
        return AGE_TOP + AGE_H - AGE_H * hours / top_age

    line = []
    times = [p[0] for p in points]
    for when, nxt in zip(times, times[1:] + [now]):
        line.append("%.1f,%.1f %.1f,%.1f" % (_x(when, start, span), y_age(0), _x(nxt, start, span),
                                             y_age((nxt - when).total_seconds() / 3600.0)))
    limit = y_age(fresh_hours)
    parts.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/>'
                 % (" ".join(line), "#d23a3a" if ages[-1] >= fresh_hours else "#2e9e4f"))
    parts.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#d23a3a" stroke-dasharray="4 3"/>'
                 % (PAD_L, W - PAD_R, limit, limit))
    labels = [(4, SIZE_TOP + 10, "size"), (4, SIZE_TOP + 24, human_bytes(top_bytes)), (4, AGE_TOP + AGE_H, "age"),
              (4, limit + 4, "%g h" % fresh_hours), (PAD_L, H - 6, start.strftime("%Y-%m-%d %H:%M")),
              (W - PAD_R - 150, H - 6, "now %s" % now.strftime("%Y-%m-%d %H:%M"))]
    parts.extend('<text x="%d" y="%.1f">%s</text>' % (x, y, esc(t)) for x, y, t in labels)
    title = "%s / %s: %d snapshots, newest %.1f h old" % (host, instance, len(points), ages[-1])
    return ('<div class="chart" data-host="%s"><h3>%s</h3><svg xmlns="http://www.w3.org/2000/svg" width="%d" '
            'height="%d" role="img" aria-label="%s">%s</svg></div>'
            % (esc(host), esc(title), W, H, esc(title), "".join(parts)))


def charts(doc, now):
    out = []
    for data in doc["hosts"]:
        snaps = data.get("snapshots") or []
        for instance in sorted({s.get("instance") for s in snaps if s.get("instance")}):
            points = _series(snaps, instance)
            if points:
                out.append(chart(data["host"], instance, points, now, doc["fresh_hours"] or _fleet.FRESH_HOURS))
    return '<div class="charts">%s</div>' % "".join(out) if out else "<p>No local snapshot listed.</p>"


def render(doc):
    """The whole page, a str."""
    now = _fleet.parse_time(doc["generated"])
    s = doc["summary"]
    pills = "".join('<span class="pill %s">%d %s</span>' % (c, s[c], c) for c in _fleet.COLOURS)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title>"
            "<style>%s</style></head><body><h1>%s</h1><div class=\"meta\">%d hosts, %d rows, %d failed; "
            "generated %s; fresh while the last success is younger than %g h</div><div>%s</div>"
            "<h2>Hosts and plans</h2>%s<h2>Snapshots over time</h2>%s</body></html>\n"
            % (esc(doc["title"]), CSS, esc(doc["title"]), s["hosts"], s["rows"], s["failed"], esc(doc["generated"]),
               doc["fresh_hours"] or _fleet.FRESH_HOURS, pills, table(doc, now), charts(doc, now)))


def write(path, text):
    """Write the page atomically (temp file + rename), 0644: a report meant to be opened or served."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def report(hosts, json_path=None, html_path=None, fresh_hours=_fleet.FRESH_HOURS, plan_fresh_hours=None,
           title="Open WebUI backups", check_mode=False, now=None):
    """fleet_report's work: the document, its table, and the JSON and HTML files written (not in check mode)."""
    now = now or utcnow()
    doc = _fleet.document(hosts, now, fresh_hours, plan_fresh_hours, title)
    written = []
    if not check_mode:  # a check run writes nothing (and status.yml's has not created the directory)
        for path in (json_path, html_path):
            if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
                raise BackupError("the directory of %s does not exist" % path, "create it, or give another path")
        if json_path:
            write_json(json_path, doc)
            written.append(json_path)
        if html_path:
            write(html_path, render(doc))
            written.append(html_path)
    return {"changed": bool(json_path or html_path), "table": _fleet.table(doc["rows"], now), "rows": doc["rows"],
            "summary": doc["summary"], "written": written}
