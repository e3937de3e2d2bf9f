# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The run record of one backup job (record_schema 1): what the status page, the metrics and the notifications
read. Built by ``_job.backup`` for both triggers (the module: ``ansible``, owb-backup: ``timer``).

This is a private module of the sage_open_webui.backup collection. No Ansible imports.
"""

from __future__ import annotations

import datetime

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _runlog
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import parse_snapshot_id, utcnow


def start(snap, run, trigger):
    """The record of a run that starts now (what the ``start`` notification carries)."""
    return _runlog.new_record("backup", snap["host"], snap["instance"], run["plan"], trigger, utcnow(), status="running")


def finish(record, result, failure, repo):
    """The finished record: ``result`` is the job's result so far (filled also when it failed), ``failure`` the
    BackupError or None, ``repo`` the local repository (counted now)."""
    finished = utcnow()
    warnings = list(result["warnings"])
    status = "failed" if failure is not None else ("warning" if warnings else "ok")
    started = datetime.datetime.fromisoformat(record["started"])
    return dict(record, finished=finished.isoformat(), duration_s=round((finished - started).total_seconds(), 3),
                status=status, summary=str(failure) if failure is not None else result.get("summary", ""),
                error=str(failure) if failure is not None else None, warnings=warnings,
                snapshot=snapshot(result["snapshot"]), local=local(repo),
                targets=[target(o) for o in result["targets"]])


def snapshot(res):
    """The record's ``snapshot`` from the job's snapshot result (a new one or a reused one); None without one."""
    if not res or not res.get("snapshot_id"):
        return None
    totals, timing = res.get("totals") or {}, res.get("timing_ms") or {}
    created = parse_snapshot_id(res["snapshot_id"])
    reused = bool(res.get("reused"))
    return {"id": res["snapshot_id"], "reused": reused, "created": created.isoformat() if created else None,
            "path": res.get("path"), "mode": res.get("mode"), "bytes": totals.get("bytes", 0),
            "new_bytes": 0 if reused else totals.get("new_bytes", 0), "files": totals.get("files", 0),
            "freeze_s": timing.get("freeze", 0) / 1000.0, "downtime_s": timing.get("downtime", 0) / 1000.0}


def local(repo):
    """The local repository now: how many snapshots, the newest verified one."""
    refs = repo.list()
    verified = [r for r in refs if r.verified]
    newest = verified[-1] if verified else None
    return {"repository": repo.root, "count": len(refs), "newest_id": newest.id if newest else None,
            "newest_created": newest.created.isoformat() if newest else None}


def target(outcome):
    """One target's outcome as the job returns it (scrubbed of secrets), with the record's keys always present."""
    return dict(outcome, bytes_sent=outcome.get("bytes_sent", 0), error=outcome.get("error"))
