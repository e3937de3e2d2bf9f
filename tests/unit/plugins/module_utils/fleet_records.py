# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run records in the record_schema 1 format of the fleet design (docs/FLEET.md), written by hand, and a stand-in
for ``_runlog.read_all`` (the signals part writes the real one): the fleet report's tests read what a host would
hold without depending on the writer."""

from __future__ import annotations

import datetime
import glob
import json
import os
import sys
import types

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RUNLOG = "ansible_collections.sage_open_webui.backup.plugins.module_utils._runlog"


def iso(hours_ago, now=NOW):
    return (now - datetime.timedelta(hours=hours_ago)).isoformat()


def record(host="web1", instance="open-webui", plan="daily", status="ok", hours_ago=3.0, last_success_ago=None,
           error=None, targets=(("s3", "ok"),), kind="backup", snapshot_bytes=73400320, repository=None, now=NOW):
    """One run record of the fleet design, ``hours_ago`` before ``now``; ``last_success_ago`` None = this run
    (when ok)."""
    finished = iso(hours_ago, now)
    ok = status in ("ok", "warning")
    last = finished if ok else (iso(last_success_ago, now) if last_success_ago is not None else None)
    snap = None
    if ok:
        snap = {"id": (now - datetime.timedelta(hours=hours_ago)).strftime("%Y%m%dT%H%M%SZ"), "reused": False,
                "created": finished, "path": "/var/backups/x", "mode": "pause", "bytes": snapshot_bytes,
                "new_bytes": 1024, "files": 214, "freeze_s": 0.12, "downtime_s": 0.12}
    return {"record_schema": 1, "kind": kind, "host": host, "instance": instance, "plan": plan, "trigger": "timer",
            "check_mode": False, "started": iso(hours_ago + 0.01, now), "finished": finished, "duration_s": 36.0,
            "status": status, "summary": "summary of %s@%s" % (instance, plan), "error": error,
            "warnings": ["slow upload"] if status == "warning" else [], "snapshot": snap,
            "local": {"repository": repository or "/var/backups/open-webui", "count": 5,
                      "newest_id": snap and snap["id"], "newest_created": snap and snap["created"]},
            "targets": [{"name": n, "type": "s3", "status": s, "bytes_sent": 10, "error": None if s == "ok" else "HTTP 503"}
                        for n, s in targets],
            "last_success": last, "notifications": []}


def write_records(status_dir, records):
    os.makedirs(status_dir, mode=0o700, exist_ok=True)
    for rec in records:
        name = ("%s.%s@pull" % (rec["host"], rec["instance"]) if rec["kind"] == "pull"
                else "%s@%s" % (rec["instance"], rec["plan"]))
        with open(os.path.join(status_dir, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(rec, f)


def read_all(status_dir):
    """What the design says ``_runlog.read_all`` does: every ``*@*.json`` record, sorted by path."""
    out = []
    for path in sorted(glob.glob(os.path.join(status_dir, "*@*.json"))):
        with open(path, encoding="utf-8") as f:
            out.append(json.load(f))
    return out


def fake_runlog(monkeypatch):
    """Install the stand-in ``_runlog`` (whether or not the real one exists) and return ``_status`` using it."""
    import importlib
    from ansible_collections.sage_open_webui.backup.plugins import module_utils
    fake = types.ModuleType(RUNLOG)
    fake.read_all = read_all
    monkeypatch.setitem(sys.modules, RUNLOG, fake)
    monkeypatch.setattr(module_utils, "_runlog", fake, raising=False)
    status = importlib.import_module("ansible_collections.sage_open_webui.backup.plugins.module_utils._status")
    monkeypatch.setattr(status, "_runlog", fake)
    return status
