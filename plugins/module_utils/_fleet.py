# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report, on the controller: what every host returned (backup_status, or a backup run's result) ->
one row per host and plan, coloured by freshness, as a plain-text table and a JSON document. The HTML page is
``_fleet_page``. Plain Python, no Ansible imports.

Freshness of a row: red when the last run failed or there never was a success; green while the last success is
younger than ``fresh_hours`` (default 26; amber when the run ended with warnings); amber up to twice that; red
after.

This is a private module of the sage_open_webui.backup collection; its API may change at any time.
"""

from __future__ import annotations

import datetime

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import human_bytes, parse_snapshot_id

FRESH_HOURS = 26.0
PLAN_FRESH_HOURS = {"drill": 8 * 24.0}  # a weekly drill is fresh for 8 days
COLOURS = ("green", "amber", "red")


def parse_time(text):
    """An ISO 8601 time as an aware datetime (naive = UTC), None when missing or unreadable."""
    if not text:
        return None
    try:
        when = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


def hours_since(text, now):
    when = parse_time(text)
    return None if when is None else round((now - when).total_seconds() / 3600.0, 2)


def colour(status, last_success, now, fresh_hours=FRESH_HOURS):
    """green, amber or red for a row whose last run ended ``status`` and last succeeded at ``last_success``.
    ``fresh_hours`` None: by the result alone (a backup run's own table)."""
    if status not in ("ok", "warning"):
        return "red"
    if fresh_hours is None:
        return "amber" if status == "warning" else "green"
    age = hours_since(last_success, now)
    if age is None:
        return "red"
    if age < fresh_hours:
        return "amber" if status == "warning" else "green"
    return "amber" if age < 2 * fresh_hours else "red"


def _newest(snapshots, instance):
    mine = [s for s in snapshots if s.get("instance") == instance and s.get("verified") and parse_time(s.get("created"))]
    return max(mine, key=lambda s: parse_time(s["created"])) if mine else None


def _snapshot_facts(rec, snapshots):
    """Newest snapshot (listed on the host, else the record's ``local``) and the run's own snapshot."""
    snap = rec.get("snapshot") or {}
    newest = _newest(snapshots, rec.get("instance")) if rec.get("kind") != "pull" else None
    local = rec.get("local") or {}
    return {
        "snapshot": snap.get("id"),
        "newest": newest["id"] if newest else (local.get("newest_id") or snap.get("id")),
        "newest_created": newest["created"] if newest else (local.get("newest_created") or snap.get("created")),
        "bytes": snap.get("bytes") if snap.get("bytes") is not None else (newest or {}).get("bytes"),
        "new_bytes": snap.get("new_bytes"),
        "mode": snap.get("mode"),
        "freeze_s": snap.get("freeze_s"),
        "downtime_s": snap.get("downtime_s"),
        "count": local.get("count"),
    }


def record_row(host, rec, snapshots, now, thresholds):
    """One row from one run record of ``host`` (a pull record's row is the pulled host's, via ``host``)."""
    pulled = rec.get("kind") == "pull"
    plan = rec.get("plan") or "default"
    fresh = thresholds.get(plan, thresholds["*"])
    row = {"host": rec.get("host") if pulled else host, "via": host if pulled else None,
           "instance": rec.get("instance"), "plan": plan, "kind": rec.get("kind"), "status": rec.get("status"),
           "trigger": rec.get("trigger"), "finished": rec.get("finished"), "last_success": rec.get("last_success"),
           "error": rec.get("error"), "warnings": len(rec.get("warnings") or []), "fresh_hours": fresh,
           "targets": [{"name": t.get("name"), "status": t.get("status"), "error": t.get("error")}
                       for t in rec.get("targets") or []]}
    row.update(_snapshot_facts(rec, snapshots))
    row["snapshot_age_h"] = hours_since(row["newest_created"], now)
    row["colour"] = colour(row["status"], row["last_success"], now, fresh)
    return row


def empty_row(host, status, error):
    """The row of a host without a record: unreachable, failed to answer, never ran, or not run yet."""
    row = {key: None for key in ("via", "instance", "kind", "trigger", "finished", "last_success", "snapshot",
                                 "newest", "newest_created", "bytes", "new_bytes", "mode", "freeze_s",
                                 "downtime_s", "count", "snapshot_age_h")}
    row.update({"host": host, "plan": "-", "status": status, "error": error, "warnings": 0, "targets": [],
                "fresh_hours": None, "colour": "red"})
    return row


def _no_record_row(host, data, now):
    """A host without a record: red, with its newest verified local snapshot when it has one."""
    row = empty_row(host, "no runs", "no run record on this host (status_dir %s)" % (data.get("status_dir") or "?"))
    listed = [s for s in data.get("snapshots") or [] if s.get("verified") and parse_time(s.get("created"))]
    if listed:
        newest = max(listed, key=lambda s: parse_time(s["created"]))
        row.update(instance=newest.get("instance"), newest=newest["id"], newest_created=newest["created"],
                   bytes=newest.get("bytes"), snapshot_age_h=hours_since(newest["created"], now))
    return row


def rows(hosts, now, fresh_hours=FRESH_HOURS, plan_fresh_hours=None):
    """One row per host and plan from what every host returned: ``[{host, reachable, error, records,
    snapshots}]``. A host that did not answer, or has no record, still gets a (red) row.
    ``fresh_hours`` None colours by the result alone (the table at the end of a backup run)."""
    thresholds = {}
    if fresh_hours is not None:
        thresholds = dict(PLAN_FRESH_HOURS, **{k: float(v) for k, v in (plan_fresh_hours or {}).items()})
    thresholds["*"] = fresh_hours
    out = []
    for data in hosts:
        host = data.get("host")
        if not data.get("reachable", True) or data.get("error"):
            out.append(empty_row(host, "unreachable" if not data.get("reachable", True) else "failed",
                                 data.get("error") or "no answer"))
            continue
        if data.get("not_run"):
            out.append(empty_row(host, "not run", "not reached: in a later batch, or the run stopped first "
                                                  "(max_fail_percentage, a whole batch failed)"))
            continue
        records = data.get("records") or []
        if not records:
            out.append(_no_record_row(host, data, now))
        out.extend(record_row(host, rec, data.get("snapshots") or [], now, thresholds) for rec in records)
    return out


def summary(table_rows):
    counts = {c: sum(1 for r in table_rows if r["colour"] == c) for c in COLOURS}
    counts.update(rows=len(table_rows), hosts=len({r["host"] for r in table_rows}),
                  failed=sum(1 for r in table_rows if r["status"] not in ("ok", "warning", "not run")))
    return counts


def document(hosts, now, fresh_hours=FRESH_HOURS, plan_fresh_hours=None, title="Open WebUI backups"):
    """The JSON document of the report (what status.json holds and the page shows)."""
    table_rows = rows(hosts, now, fresh_hours, plan_fresh_hours)
    return {"report_schema": 1, "title": title, "generated": now.isoformat(), "fresh_hours": fresh_hours,
            "summary": summary(table_rows), "rows": table_rows,
            "hosts": [{"host": h.get("host"), "reachable": h.get("reachable", True), "error": h.get("error"),
                       "snapshots": h.get("snapshots") or []} for h in hosts]}


def _age(hours):
    if hours is None:
        return "-"
    return "%.1f h" % hours if hours < 48 else "%.1f d" % (hours / 24.0)


def _seconds(value):
    return "-" if value is None else "%.2f s" % value


def cells(row, now):
    """The text of one row's columns (HEADER)."""
    targets = ", ".join("%s %s" % (t["name"], t["status"]) for t in row["targets"]) or "-"
    error = (row["error"] or "").replace("\n", " ")
    return [row["colour"], row["host"] + (" (via %s)" % row["via"] if row.get("via") else ""),
            row["instance"] or "-", row["plan"], row["status"] or "-",
            _age(hours_since(row["last_success"], now)) + " ago" if row["last_success"] else "-",
            row["newest"] or row["snapshot"] or "-", _age(row["snapshot_age_h"]),
            "-" if row["bytes"] is None else human_bytes(row["bytes"]),
            "%s / %s" % (_seconds(row["freeze_s"]), _seconds(row["downtime_s"])), targets,
            error if len(error) <= 80 else error[:77] + "..."]


HEADER = ["", "HOST", "INSTANCE", "PLAN", "RESULT", "LAST SUCCESS", "NEWEST SNAPSHOT", "AGE", "SIZE", "FREEZE / DOWN",
          "TARGETS", "ERROR"]


def table(table_rows, now):
    """The rows as a plain-text table (one line per row, columns padded), as a list of lines."""
    lines = [HEADER] + [cells(r, now) for r in table_rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines]


def backup_host(host, result, error=None, reachable=True, instance=None, check_mode=False):
    """What the fleet report needs from one host's backup run (openwebui_backup's registered result): its
    ``record`` when the module returns one, else a record built from the result. No result and no error: the
    run never reached the host."""
    if not reachable:
        return {"host": host, "reachable": False, "error": error or "unreachable"}
    if not result and not error:
        return {"host": host, "not_run": True}
    record = (result or {}).get("record") or _record_of(host, result or {}, error, instance, check_mode)
    if error and record.get("status") != "failed":
        record = dict(record, status="failed", error=error)
    return {"host": host, "records": [record], "snapshots": []}


def _record_of(host, result, error, instance, check_mode):
    snap = result.get("snapshot") or {}
    timing = snap.get("timing_ms") or {}
    totals = snap.get("totals") or {}
    taken = None
    if snap.get("snapshot_id") and not check_mode:
        created = parse_snapshot_id(snap["snapshot_id"])
        taken = {"id": snap["snapshot_id"], "created": created and created.isoformat(), "mode": snap.get("mode"),
                 "bytes": totals.get("bytes"), "new_bytes": totals.get("new_bytes"),
                 "freeze_s": timing["freeze"] / 1000.0 if "freeze" in timing else None,
                 "downtime_s": timing["downtime"] / 1000.0 if "downtime" in timing else None}
    status = "failed" if error else ("warning" if result.get("warnings_list") else "ok")
    return {"kind": "backup", "host": host, "instance": instance, "plan": result.get("plan") or "default",
            "status": status, "error": error, "last_success": None, "snapshot": taken,
            "targets": result.get("targets") or [], "warnings": result.get("warnings_list") or []}
