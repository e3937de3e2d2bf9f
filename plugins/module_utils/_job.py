# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One backup job, two triggers.

``backup(job)`` is the whole backup of one instance: pre hooks, the snapshot (which resumes exactly what it
paused or stopped, nothing else), local retention, the off-host copies (``targets``: after the app runs again),
post hooks (also after a failure, with ``OWB_STATUS``). The
``openwebui_backup`` module runs it for ``ansible-playbook``; a systemd timer or cron runs the very same
function on the host through ``main()`` (``owb-backup <job.json>``), with the job file that module wrote
(``action: save``) from the same role variables. No Ansible imports.
"""

from __future__ import annotations

import datetime
import json
import os
import shlex
import subprocess
import sys
import time
import traceback

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, check_known, json_text, read_json, write_json
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _offsite
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _retention
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _snapshot
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _targets

HOOK_TIMEOUT = 3600
KEEP = ("keep_last", "keep_daily", "keep_weekly", "keep_monthly")
EXTRA = {"pre_hooks": [], "post_hooks": [], "keep_last": 7, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6,
         "targets": []}
JOB_SCHEMA = 1
_BOOL = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def _coerce(key, value, default):
    """Job files are JSON written by the module, but may be edited by hand: accept "7" for 7, "yes" for True."""
    if value is None or value == "" and default is None:
        return None
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            return _BOOL[str(value).strip().lower()]
        if isinstance(default, int) and not isinstance(value, bool):
            return int(value)
        if isinstance(default, float) and not isinstance(value, bool):
            return float(value)
    except (KeyError, ValueError, TypeError):
        raise BackupError("job option %s has the value %r, which is not a %s" % (key, value, type(default).__name__),
                          "set %s to a %s" % (key, "boolean (true/false)" if isinstance(default, bool) else "number"))
    if isinstance(default, list):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise BackupError("job option %s must be a list of strings, got %r" % (key, value), "give a list, e.g. [\"cmd arg\"]")
        return list(value)
    return value


def split(job):
    """``(snapshot job, hooks, retention policy, targets)`` from one job dict; unknown keys are refused."""
    defaults = dict(_snapshot.DEFAULTS)
    defaults.update(EXTRA)
    check_known({k: v for k, v in job.items() if k != "job_schema"}, defaults, "backup job")
    values = {k: _coerce(k, job[k], defaults[k]) for k in job if k in defaults and k != "targets"}
    snap = {k: v for k, v in values.items() if k in _snapshot.DEFAULTS}
    hooks = {"pre": values.get("pre_hooks") or [], "post": values.get("post_hooks") or []}
    for kind, cmds in hooks.items():
        for cmd in cmds:
            try:
                if not shlex.split(cmd):
                    raise ValueError("empty command")
            except ValueError as e:
                raise BackupError("%s hook %r cannot be parsed (%s)" % (kind, cmd, e),
                                  "give each hook as a command line (quoted like a shell would; no pipes or redirections, "
                                  "wrap those in sh -c '...')")
    policy = _retention.validate_policy({k: values.get(k, EXTRA[k]) for k in KEEP})
    policy.pop("keep_within", None)
    return snap, hooks, policy, _offsite.check_targets(job.get("targets"))


def run_hooks(kind, cmds, env):
    """Run each command (no shell, like ansible.builtin.command) in order; stop at the first failure.
    Returns ``(results, error or None)``."""
    results = []
    for cmd in cmds:
        t0 = time.monotonic()
        try:
            res = subprocess.run(shlex.split(cmd), env=dict(os.environ, **env), stdin=subprocess.DEVNULL,  # pylint: disable=ansible-bad-function
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=HOOK_TIMEOUT, check=False)
            rc, out = res.returncode, res.stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            rc, out = -1, "timed out after %d s" % HOOK_TIMEOUT
        except OSError as e:
            rc, out = 127, "cannot run it: %s" % e.strerror
        results.append({"cmd": cmd, "rc": rc, "output": out[-2000:], "ms": int((time.monotonic() - t0) * 1000)})
        if rc != 0:
            tail = out.strip()[-300:]
            return results, "%s hook %r failed (exit %d)%s" % (kind, cmd, rc, (": " + tail) if tail else "")
    return results, None


def check(job):
    """``(normalized snapshot job, hooks, retention policy, targets)``: every check a run makes before it starts."""
    snap, hooks, policy, targets = split(job)
    return _snapshot.normalize(snap), hooks, policy, targets


def _summary(text, outcomes):
    off = _offsite.summary(outcomes)
    return "%s; %s" % (text, off) if off else text


def backup(job, check_mode=False, docker=None):
    """The whole backup of one instance. Returns ``{changed, snapshot, prune, targets, hooks, summary, warnings}``;
    raises BackupError (after the post hooks ran) when it failed."""
    snap, hooks, policy, targets = check(job)
    env = {"OWB_INSTANCE": snap["instance"]}
    retention = dict(policy, repository=snap["repository"], host=snap["host"], instance=snap["instance"])
    result = {"changed": False, "snapshot": None, "prune": None, "targets": [], "hooks": {"pre": [], "post": []},
              "warnings": []}
    if check_mode:
        result["snapshot"] = _snapshot.run(snap, docker=docker, check_mode=True)
        result["hooks"] = {"would_run": hooks}
        if result["snapshot"].get("previous"):
            result["prune"] = _retention.prune(retention, check_mode=True)
        result["targets"] = _offsite.upload_all(targets, None, snap["host"], snap["instance"],
                                                _offsite.cache_root(snap["repository"]), check_mode=True)
        result["changed"] = True
        result["warnings"] = list(result["snapshot"].get("warnings", [])) + list((result["prune"] or {}).get("warnings", [])) \
            + _offsite.plain_warnings(targets)
        result["summary"] = _summary(result["snapshot"]["summary"], result["targets"])
        return result

    result["hooks"]["pre"], error = run_hooks("pre", hooks["pre"], env)
    if error:
        raise BackupError("%s; nothing was backed up" % error, "fix the hook (it runs on the managed host as root)",
                          hooks=result["hooks"])
    failure = None
    try:  # the snapshot resumes what it paused or stopped itself (and its safety net, if it cannot)
        result["snapshot"] = _snapshot.run(snap, docker=docker)
    except BackupError as e:
        failure = e
    except Exception as e:  # noqa: BLE001 - still run the post hooks
        failure = BackupError("unexpected error: %s" % e, "see the traceback in the result",
                              exception=traceback.format_exc())
    if failure is None:
        result["changed"] = True
        failure = _after_snapshot(result, snap, retention, targets)
    post_env = dict(env, OWB_STATUS="failed" if failure else "ok",
                    OWB_SNAPSHOT=(result["snapshot"] or {}).get("path") or "")
    result["hooks"]["post"], post_error = run_hooks("post", hooks["post"], post_env)
    if failure is not None:
        details = dict(failure.details, hooks=result["hooks"])
        raise BackupError(failure.problem + (" (and %s)" % post_error if post_error else ""), failure.fix, **details)
    if post_error:
        raise BackupError("snapshot %s was published, but %s" % (result["snapshot"]["snapshot_id"], post_error),
                          "fix the post hook", snapshot_id=result["snapshot"]["snapshot_id"], hooks=result["hooks"],
                          targets=result["targets"])
    result["summary"] = _summary("%s; retention deleted %d" % (result["snapshot"]["summary"], len(result["prune"]["deleted"])),
                                 result["targets"])
    return result


def _after_snapshot(result, snap, retention, targets):
    """Local retention, then the off-host copies of the new snapshot (the app runs again by now). Returns the
    failure (a BackupError naming the failed targets, the local snapshot kept) or None."""
    sid = result["snapshot"]["snapshot_id"]
    result["warnings"] += result["snapshot"].get("warnings", [])
    retention_error = None
    try:
        result["prune"] = _retention.prune(retention, protect=[sid])
        result["warnings"] += result["prune"].get("warnings", [])
    except BackupError as e:  # the new snapshot still goes off-host
        retention_error = e
    result["targets"] = _offsite.upload_all(targets, result["snapshot"]["path"], snap["host"], snap["instance"],
                                            _offsite.cache_root(snap["repository"]))
    result["warnings"] += _offsite.plain_warnings(targets)
    bad = _offsite.failed(result["targets"])
    if not bad:
        return retention_error
    also = " (and %s)" % retention_error.problem if retention_error else ""
    return BackupError("snapshot %s was published and is kept locally, but its off-host copy failed: %s%s"
                       % (sid, "; ".join(o["error"] for o in bad), also),
                       "; ".join(o["fix"] for o in bad),
                       snapshot_id=sid, targets=result["targets"])


# ======================================================================== the host-side trigger

def load_job(path):
    job = read_json(path, "job file",
                    "deploy it with the sage_open_webui.backup.schedule role (or openwebui_backup action=save)",
                    "deploy it again with the schedule role")
    st = os.stat(path)
    if not isinstance(job, dict):
        raise BackupError("job file %s does not hold a JSON object" % path, "deploy it again with the schedule role")
    if st.st_mode & 0o077:
        raise BackupError("job file %s is readable by others (mode %04o)" % (path, st.st_mode & 0o7777),
                          "chmod 600 %s (it may name hooks and paths only root should see)" % path)
    schema = job.pop("job_schema", JOB_SCHEMA)
    if schema != JOB_SCHEMA:
        raise BackupError("job file %s has job_schema %r, this engine knows %d" % (path, schema, JOB_SCHEMA),
                          "deploy the job again with the same version of the collection as the engine")
    return job


def save(path, job, check_mode=False):
    """``action: save``: check the job as a run would, then write it (0600, directory 0700) unless the file
    already holds it. Returns the module's result, with the file's text before and after for a diff."""
    if not os.path.isabs(path):
        raise BackupError("job_file %r is not an absolute path" % path, "give e.g. /etc/sage-open-webui-backup/open-webui.json")
    snap = check(job)[0]  # a bad job is refused now, not at 3 in the morning
    record = dict(job, job_schema=JOB_SCHEMA)
    text = json_text(record)
    try:
        with open(path, encoding="utf-8") as f:
            before = f.read()
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        before, mode = "", None
    changed = before != text or mode != 0o600
    what = snap["container"] or snap["data_dir"]
    if changed and not check_mode:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        write_json(path, record)
    if not changed:
        summary = "job for %s in %s is up to date" % (what, path)
    else:
        summary = "job for %s %s %s" % (what, "would be saved to" if check_mode else "saved to", path)
    return {"changed": changed, "job_file": path, "job": redacted(job), "warnings": [], "summary": summary,
            "diff": {"before": _redacted_text(before), "after": json_text(redacted(record)),
                     "before_header": path, "after_header": path}}


def redacted(job):
    """The job safe to show: every target's secrets replaced by ``********`` (the job file keeps them, 0600)."""
    targets = job.get("targets")
    if not isinstance(targets, list):
        return job
    return dict(job, targets=[_targets.redact(t) if isinstance(t, dict) else t for t in targets])


def _redacted_text(text):
    if not text:
        return text
    try:
        job = json.loads(text)
    except ValueError:
        return "(not JSON)\n"
    return json_text(redacted(job)) if isinstance(job, dict) else text


def main(argv=None, out=None):
    """``owb-backup JOB.json [--status FILE] [--check]``: run the job, print a summary, write a status record.
    Exit 0 on success, 1 when the backup failed, 2 on bad usage or a bad job file."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    check = "--check" in argv
    argv = [a for a in argv if a != "--check"]
    status_path = None
    if "--status" in argv:
        i = argv.index("--status")
        status_path = argv[i + 1] if i + 1 < len(argv) else None
        del argv[i:i + 2]
    if len(argv) != 1 or status_path == "":
        out.write("usage: owb-backup JOB.json [--status FILE] [--check]\n")
        return 2
    started = datetime.datetime.now(datetime.timezone.utc)
    record = {"job": argv[0], "started": started.isoformat(), "check_mode": check, "trigger": "host"}
    rc = 0
    try:
        job = load_job(argv[0])
    except BackupError as e:
        out.write("owb-backup: %s\n" % e)
        return 2
    try:
        res = backup(job, check_mode=check)
        record.update(status="ok", summary=res["summary"], warnings=res["warnings"],
                      snapshot_id=(res["snapshot"] or {}).get("snapshot_id"),
                      deleted=(res["prune"] or {}).get("deleted", []), targets=res["targets"])
        out.write("owb-backup: %s\n" % res["summary"])
        for w in res["warnings"]:
            out.write("owb-backup: warning: %s\n" % w)
    except BackupError as e:
        rc = 1
        record.update(status="failed", error=str(e), snapshot_id=e.details.get("snapshot_id"),
                      targets=e.details.get("targets", []))
        out.write("owb-backup: FAILED: %s\n" % e)
    record["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    if status_path:
        try:
            write_json(status_path, record)
        except OSError as e:
            out.write("owb-backup: cannot write the status file %s: %s\n" % (status_path, e.strerror))
    out.flush()
    return rc
