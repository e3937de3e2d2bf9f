# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The drill job, the host-side trigger of the restore drill.

``openwebui_restore action=drill job_file=...`` (the verify role's drill task, included by the schedule role)
checks the drill options and saves them with ``status_dir``, ``metrics_dir`` and ``notify`` to a 0600 JSON file;
``owb-drill JOB.json`` (a weekly systemd timer) runs ``main()``: for each host/instance, the drill the verify role
runs (``_drill.plan`` / ``_drill.drill_one``: restore the newest snapshot from the source into scratch, check
it, boot the image), then one run record (kind ``drill``, plan ``drill``), the metrics, the notifications.
No Ansible imports.

This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import datetime
import os
import sys

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import (
    BackupError,
    check_known,
    default_host,
    is_inside,
    read_json,
    save_json,
)
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _drill
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _metrics
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _notify
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _offsite
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _runlog

JOB_SCHEMA = 1
PLAN = "drill"
DEFAULTS = {"repository": None, "source": "local", "targets": [], "age_identity": None, "host": None, "instance": None,
            "scratch": "/var/tmp/owb-drill", "image": None, "boot": "auto", "health_timeout": 240, "lock_timeout": 60.0,
            "docker_host": _drill.DEFAULT_DOCKER_HOST, "status_dir": "", "metrics_dir": "", "notify": []}
DRILL_OPTIONS = ("image", "boot", "docker_host", "health_timeout", "lock_timeout")
BOOT = ("auto", "always", "never")


def normalize(job):
    """The drill job with its defaults, every value checked (a bad job is refused when it is saved, not on Sunday)."""
    check_known({k: v for k, v in job.items() if k != "job_schema"}, DEFAULTS, "drill job")
    out = dict(DEFAULTS)
    out.update({k: v for k, v in job.items() if k != "job_schema" and v is not None})
    for key in ("repository", "scratch", "status_dir", "metrics_dir"):
        optional = key in ("status_dir", "metrics_dir")
        if not isinstance(out[key], str) or not (os.path.isabs(out[key]) or optional and out[key] == ""):
            raise BackupError("drill job option %s must be an absolute path, got %r" % (key, out[key]),
                              "give an absolute directory%s" % (", or empty (off)" if optional else ""))
    if is_inside(out["scratch"], out["repository"]):
        raise BackupError("scratch %s lies inside the repository %s" % (out["scratch"], out["repository"]),
                          "give a scratch directory outside the repository (e.g. /var/tmp/owb-drill)")
    if out["boot"] not in BOOT:
        raise BackupError("boot %r is not one of %s" % (out["boot"], ", ".join(BOOT)), "set boot to auto, always or never")
    try:
        out["health_timeout"], out["lock_timeout"] = int(out["health_timeout"]), float(out["lock_timeout"])
    except (TypeError, ValueError):
        raise BackupError("health_timeout and lock_timeout must be numbers (got %r, %r)" % (job.get("health_timeout"), job.get("lock_timeout")),
                          "give seconds")
    out["targets"] = _offsite.check_targets(out["targets"])
    names = [t["name"] for t in out["targets"]]
    if out["source"] != "local" and out["source"] not in names:
        raise BackupError("drill source %r is neither local nor one of the targets (%s)" % (out["source"], ", ".join(names) or "none"),
                          "set source to local or to the name of one of the targets")
    out["notify"] = _notify.normalize(out["notify"])
    return out


def save(path, job, check_mode=False):
    """Check the drill job, then write it (0600, directory 0700) unless the file already holds it. The result
    names the file only: the job holds target keys and notifier URLs."""
    if not isinstance(path, str) or not os.path.isabs(path):
        raise BackupError("job_file %r is not an absolute path" % path, "give e.g. /etc/sage-open-webui-backup/owb-drill.json")
    record = dict(normalize(job), job_schema=JOB_SCHEMA)
    changed, _before = save_json(path, record, check_mode)
    verb = "is up to date in" if not changed else "would be saved to" if check_mode else "saved to"
    return {"changed": changed, "job_file": path, "warnings": [], "summary": "drill job (source %s) %s %s" % (record["source"], verb, path)}


def load(path):
    """The drill job in ``path`` (root-only, this schema), normalized."""
    fix = "deploy it again with the schedule role (schedule_drill: true)"
    job = read_json(path, "drill job file", fix, fix)
    if not isinstance(job, dict):
        raise BackupError("drill job file %s does not hold a JSON object" % path, fix)
    if os.stat(path).st_mode & 0o077:
        raise BackupError("drill job file %s is readable by others" % path, "chmod 600 %s (it holds target keys)" % path)
    if job.get("job_schema", JOB_SCHEMA) != JOB_SCHEMA:
        raise BackupError("drill job file %s has job_schema %r, this engine knows %d" % (path, job.get("job_schema"), JOB_SCHEMA), fix)
    return normalize(job)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _record(job, host, instance, trigger, started):
    return _runlog.new_record("drill", host, instance, PLAN, trigger, started, source=job["source"], rto_s=None, checks={})


def _finish(record, d, started):
    """Fill ``record`` from one drill's result ``d``."""
    finished = _now()
    problems = d.get("problems") or []
    record.update(finished=finished.isoformat(), duration_s=round((finished - started).total_seconds(), 3),
                  status="failed" if not d["ok"] else "warning" if d.get("warnings") else "ok",
                  summary=_drill.summary_line(d), error="; ".join(problems) if problems else None,
                  warnings=list(d.get("warnings") or []), rto_s=d.get("rto_s"),
                  snapshot={"id": d["snapshot_id"]} if d.get("snapshot_id") else None,
                  checks={k: d[k] for k in ("databases", "uploads_checked", "files", "bytes", "booted_image",
                                            "boot_to_healthy_s", "restore_s", "check_s") if k in d})
    return record


def _failed(host, instance, problem):
    """The result of a drill that did not get to a snapshot."""
    return {"host": host, "instance": instance, "ok": False, "rto_s": None, "warnings": [], "problems": [problem]}


def _drill_one(job, host, instance, open_one, options):
    try:
        return _drill.drill_one(job["repository"], job["scratch"], host, instance, open_one, **options)
    except Exception as e:  # noqa: BLE001 - a bug met by one instance must not stop the drills of the others
        return _failed(host, instance, "unexpected error: %s: %s" % (type(e).__name__, e))


def _known_pairs(job):
    """The pairs a drill that cannot list its source still reports on: the job's own host/instance when it names
    both, else those of the earlier drill records in ``status_dir`` (so their records and metrics turn failed)."""
    if job["host"] and job["instance"]:
        return [(job["host"], job["instance"])]
    records = _runlog.read_all(job["status_dir"]) if job["status_dir"] else []
    return sorted({(r["host"], r["instance"]) for r in records
                   if r.get("kind") == "drill" and (not job["host"] or r["host"] == job["host"])
                   and (not job["instance"] or r["instance"] == job["instance"])})


def run(job, trigger="timer", check_mode=False):
    """Drill every host/instance of the (normalized) job, one after the other: the start notification, the drill,
    the result's notification, its run record in ``status_dir`` (``<instance>@drill.json``; none when empty),
    then the metrics. A failed drill does not stop the others. Returns ``{"drills", "records", "failed",
    "summary", "warnings", "error"}``. Check mode lists the pairs; it writes and notifies nothing.

    A source that cannot be listed (down, or nothing to drill) is the ``error`` (a BackupError) and the failure
    of every pair :func:`_known_pairs` names, recorded and notified like any failed drill; with no known pair
    the failure is still notified (for ``<host>/*``), and no record is written."""
    try:
        pairs, open_one = _drill.plan(job["repository"], job["host"], job["instance"], job["source"], job["targets"],
                                      job["age_identity"])
        unlisted = None
    except BackupError as e:
        if check_mode:
            raise
        unlisted, open_one = e, None
        pairs = _known_pairs(job) or [(job["host"] or default_host(), job["instance"] or "*")]
    if check_mode:
        return {"drills": [{"host": h, "instance": i} for h, i in pairs], "records": [], "failed": 0, "warnings": [],
                "summary": "check mode: would drill %s" % ", ".join("%s/%s" % p for p in pairs), "error": None}
    options = {k: job[k] for k in DRILL_OPTIONS}
    drills, records, warnings = [], [], []
    for host, instance in pairs:
        started = _now()
        record = _record(job, host, instance, trigger, started)
        outcomes = _notify.send(job["notify"], "start", record)
        drills.append(_failed(host, instance, str(unlisted)) if unlisted else _drill_one(job, host, instance, open_one, options))
        _finish(record, drills[-1], started)
        record["notifications"] = outcomes + _notify.send(job["notify"], _runlog.event_of(record), record)
        if job["status_dir"] and instance != "*":
            try:
                _runlog.write(job["status_dir"], record)
            except BackupError as e:  # the drill's result is still returned and notified
                warnings.append(str(e))
        records.append(record)
    error = _metrics.refresh(job["status_dir"], job["metrics_dir"])[1] if job["status_dir"] else None
    if error:
        warnings.append("metrics not written: %s" % error)
    return {"drills": drills, "records": records, "failed": sum(r["status"] == "failed" for r in records),
            "warnings": warnings + [w for d in drills for w in d.get("warnings") or []],
            "summary": "; ".join(r["summary"] for r in records), "error": unlisted}


def drill_now(job, check_mode=False):
    """The drill of ``openwebui_restore action=drill`` (trigger ``ansible``): :func:`run`, raising when a drill
    failed (every drill, with its problems, in the error's ``drills``) or, with its own error, when the source
    could not be listed (after that failure was recorded and notified)."""
    res = run(normalize(job), trigger="ansible", check_mode=check_mode)
    if res["error"]:
        raise res["error"]
    if res["failed"]:
        raise BackupError("restore drill failed for %d of %d: %s" % (res["failed"], len(res["drills"]), res["summary"]),
                          "read the problems of each drill; the snapshot does not restore as it is", drills=res["drills"])
    return {"changed": False, "drills": res["drills"], "failed": 0, "summary": res["summary"], "warnings": res["warnings"]}


def main(argv=None, out=None):
    """``owb-drill JOB.json [--check]``: run the drill job, print one line per drill (the error of a failed one).
    Exit 0 when every drill passed, 1 when one failed, 2 on bad usage or a bad job file."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    check = "--check" in argv
    argv = [a for a in argv if a != "--check"]
    if len(argv) != 1:
        out.write("usage: owb-drill JOB.json [--check]\n")
        return 2
    try:
        job = load(argv[0])
    except BackupError as e:
        out.write("owb-drill: %s\n" % e)
        return 2
    try:
        res = run(job, check_mode=check)
    except BackupError as e:  # check mode: nothing to drill, or the source cannot be listed
        out.write("owb-drill: FAILED: %s\n" % e)
        return 1
    if res["error"]:
        out.write("owb-drill: FAILED: %s\n" % res["error"])
    for r in res["records"]:
        out.write("owb-drill: %s%s\n" % (r["summary"], ": %s" % r["error"] if r["error"] else ""))
    if check:
        out.write("owb-drill: %s\n" % res["summary"])
    for w in res["warnings"]:
        out.write("owb-drill: warning: %s\n" % w)
    out.flush()
    return 1 if res["failed"] else 0
