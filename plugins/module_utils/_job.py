# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One backup job, two triggers.

``backup(job)`` is the whole backup of one instance: pre hooks, the snapshot (which resumes exactly what it
paused or stopped, nothing else; or the newest verified one when it is younger than ``reuse_within``), local
retention (this ``plan``'s policy), the off-host copies (``targets``: after the app runs again), post hooks
(also after a failure, with ``OWB_STATUS``); all of it under the instance's job lock, so two plans of one
instance run one after the other. Then the run record (``status_dir``), the metrics (``metrics_dir``) and the
notifications (``notify``). The
``openwebui_backup`` module runs it for ``ansible-playbook``; a systemd timer or cron runs the very same
function on the host through ``main()`` (``owb-backup <job.json>``), with the job file that module wrote
(``action: save``) from the same role variables. No Ansible imports.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import re
import shlex
import subprocess
import sys
import time
import traceback

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import (
    BackupError, check_known, json_text, read_json, save_json, utcnow, write_json)
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _jobrecord
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _metrics
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _notify
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _offsite
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _retention
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _runlog
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _snapshot
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _targets
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository

HOOK_TIMEOUT = 3600
KEEP = ("keep_last", "keep_daily", "keep_weekly", "keep_monthly")
STATUS_DIR = "/var/lib/sage-open-webui-backup"
EXTRA = {"pre_hooks": [], "post_hooks": [], "keep_last": 7, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6,
         "targets": [], "plan": "default", "plans": None, "reuse_within": 0, "notify": [], "status_dir": STATUS_DIR,
         "metrics_dir": ""}
JOB_SCHEMA = 1
PLAN_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
RESERVED_PLANS = ("drill", "pull")
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
    """``(snapshot job, hooks, retention policy, targets, run settings)`` from one job dict; unknown keys are
    refused."""
    defaults = dict(_snapshot.DEFAULTS)
    defaults.update(EXTRA)
    check_known({k: v for k, v in job.items() if k != "job_schema"}, defaults, "backup job")
    values = {k: _coerce(k, job[k], defaults[k]) for k in job if k in defaults and k not in ("targets", "notify")}
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
    return snap, hooks, policy, _offsite.check_targets(job.get("targets")), _run_settings(values, job.get("notify"))


def _run_settings(values, notify):
    """The plan of the job and where its run record, metrics and notifications go (docs/PLANS.md)."""
    run = {k: EXTRA[k] if values.get(k) is None else values[k]
           for k in ("plan", "plans", "reuse_within", "status_dir", "metrics_dir")}
    if run["plans"] is not None and not isinstance(run["plans"], list):
        raise BackupError("plans must be a list of plan names, got %r" % (run["plans"],), "give e.g. [daily, weekly], or leave it out")
    for plan in [run["plan"]] + (run["plans"] or []):
        if not isinstance(plan, str) or not PLAN_RE.match(plan) or plan in RESERVED_PLANS:
            raise BackupError("plan name %r is not valid (lower-case letters, digits, - and _, at most 32, starting with a "
                              "letter or digit; %s are reserved)" % (plan, " and ".join(RESERVED_PLANS)),
                              "name the plan e.g. daily or weekly-nas")
    if run["reuse_within"] < 0:
        raise BackupError("reuse_within must be 0 or more seconds, got %r" % run["reuse_within"],
                          "set reuse_within to 0 (always take a new snapshot) or a number of seconds, e.g. 21600")
    for key, example in (("status_dir", STATUS_DIR), ("metrics_dir", '/var/lib/prometheus/node-exporter (or "" for none)')):
        value = run[key]
        if not isinstance(value, str) or (value or key == "status_dir") and not os.path.isabs(value):
            raise BackupError("%s must be an absolute path, got %r" % (key, value), "set %s to e.g. %s" % (key, example))
    run["notify"] = _notify.normalize(notify or [])
    return run


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
    """``(normalized snapshot job, hooks, retention policy, targets, run settings)``: every check a run makes
    before it starts."""
    snap, hooks, policy, targets, run = split(job)
    return _snapshot.normalize(snap), hooks, policy, targets, run


@contextlib.contextmanager
def job_lock(status_dir, instance, plan, log):
    """Two jobs (plans) of one instance never run at the same time: an exclusive flock on
    ``<status_dir>/<instance>.job.lock`` for the whole job. A second job WAITS for it (``log``: "waiting for plan
    X", the holder's name, waited for when the holder has only just taken the lock); the kernel drops the lock
    when its holder dies."""
    os.makedirs(status_dir, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(status_dir, "%s.job.lock" % instance), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        if not _try_lock(fd):
            log("waiting for plan %s of %s to finish" % (_holder(fd), instance))
            fcntl.flock(fd, fcntl.LOCK_EX)
        name = ("%s (pid %d)\n" % (plan, os.getpid())).encode()
        os.pwrite(fd, name, 0)
        os.ftruncate(fd, len(name))
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # no stale name for the next waiter
    finally:
        os.close(fd)  # closing drops the lock


def _try_lock(fd):
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder(fd, patience=2.0):
    """The plan named in a held lock file. A holder that has just taken the lock (two timers firing together, the
    file new) names itself a moment later: wait up to ``patience`` seconds for the name."""
    deadline = time.monotonic() + patience
    while True:
        name = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        if name or time.monotonic() >= deadline:
            return name or "(unknown)"
        time.sleep(0.05)


def reusable(repo, reuse_within, now=None):
    """The newest verified snapshot when it is younger than ``reuse_within`` seconds (0: never), else None."""
    ref = repo.latest_verified() if reuse_within > 0 else None
    if ref is None or (now or utcnow()) - ref.created > datetime.timedelta(seconds=reuse_within):
        return None
    return ref


def _reused(ref, reuse_within):
    """The snapshot result of a run that reuses ``ref`` (no freeze, nothing new written)."""
    m = ref.manifest
    age = int((utcnow() - ref.created).total_seconds())
    return {"changed": False, "reused": True, "snapshot_id": ref.id, "path": ref.path, "mode": m.get("mode"),
            "previous": None, "totals": m.get("totals", {}), "timing_ms": {"total": 0, "freeze": 0, "downtime": 0},
            "warnings": [], "summary": "%s reused (verified, %d s old, reuse_within %d s): no freeze, no new snapshot"
            % (ref.id, age, reuse_within)}


def _summary(text, outcomes):
    off = _offsite.summary(outcomes)
    return "%s; %s" % (text, off) if off else text


def backup(job, check_mode=False, docker=None, trigger="ansible", log=None):
    """The whole backup of one instance, under the instance's job lock (a second plan waits). Returns
    ``{changed, snapshot, prune, targets, hooks, summary, warnings, record}``; raises BackupError (after the post
    hooks ran, with the run ``record`` in its details) when it failed. Outside check mode the run record goes to
    ``status_dir``, the metrics to ``metrics_dir``, and ``notify`` hears of the start and the end: a failure of
    any of those is a warning, never a lost backup."""
    snap, hooks, policy, targets, run = check(job)
    if check_mode:
        return _preview(snap, hooks, policy, targets, run, docker)
    repo = Repository(snap["repository"], snap["host"], snap["instance"])
    result = {"changed": False, "snapshot": None, "prune": None, "targets": [], "hooks": {"pre": [], "post": []},
              "warnings": []}
    with job_lock(run["status_dir"], snap["instance"], run["plan"], log or (lambda line: None)):
        record = _jobrecord.start(snap, run, trigger)
        sent = _notify.send(run["notify"], "start", record)
        failure = None
        try:
            _execute(result, snap, hooks, dict(policy, repository=snap["repository"], host=snap["host"],
                                               instance=snap["instance"]), targets, run, docker, repo)
        except BackupError as e:
            failure = e
        except Exception as e:  # noqa: BLE001 - the run is recorded and notified like any failure
            failure = BackupError("unexpected error: %s" % e, "see the traceback in the result", exception=traceback.format_exc())
        record, problems = _signal(run, _jobrecord.finish(record, result, failure, repo), sent)
    if failure is not None:
        raise BackupError(failure.problem, failure.fix, **dict(failure.details, record=record,
                                                               warnings_list=record["warnings"] + problems))
    result["warnings"] += problems
    result["record"] = record
    return result


def _signal(run, record, sent):
    """Write the run record, refresh the metrics, notify the end. Returns ``(record as written, warnings)``: what
    failed here is a warning, never an exception."""
    problems = []

    def write(rec):
        try:  # read back: the run log completes it (last_success)
            return read_json(_runlog.write(run["status_dir"], rec), "run record", "", "")
        except (OSError, BackupError) as e:
            problems.append("the run record could not be written to %s: %s" % (run["status_dir"], e))
            return rec
    record = write(record)
    count = (record.get("local") or {}).get("count")  # after this run's prune: the other plans' records too
    _path, error = _metrics.refresh(run["status_dir"], run["metrics_dir"],
                                    {record["instance"]: count} if count is not None else None)
    if error:
        problems.append("the metrics could not be written to %s: %s" % (run["metrics_dir"], error))
    sent = sent + _notify.send(run["notify"], _runlog.event_of(record), record)
    problems += ["notification %s (%s) failed: %s" % (n.get("name"), n.get("event"), n.get("error")) for n in sent if not n.get("ok")]
    if sent:
        record = write(dict(record, notifications=sent))
    return record, problems


def _preview(snap, hooks, policy, targets, run, docker):
    """Check mode: what a run would do; nothing is written, nobody is notified."""
    repo = Repository(snap["repository"], snap["host"], snap["instance"])
    ref = reusable(repo, run["reuse_within"])
    result = {"changed": True, "prune": None, "hooks": {"would_run": hooks},
              "snapshot": _reused(ref, run["reuse_within"]) if ref else _snapshot.run(snap, docker=docker, check_mode=True)}
    if ref or result["snapshot"].get("previous"):
        result["prune"] = _retention.prune(dict(policy, repository=snap["repository"], host=snap["host"],
                                                instance=snap["instance"]), check_mode=True,
                                           protect=[ref.id] if ref else [], plan_name=run["plan"],
                                           current_plans=run["plans"])
    result["targets"] = _offsite.upload_all(targets, None, snap["host"], snap["instance"],
                                            _offsite.cache_root(snap["repository"]), check_mode=True)
    result["warnings"] = list(result["snapshot"].get("warnings", [])) + list((result["prune"] or {}).get("warnings", [])) \
        + _offsite.plain_warnings(targets)
    result["summary"] = _summary(result["snapshot"]["summary"], result["targets"])
    return result


def _execute(result, snap, hooks, retention, targets, run, docker, repo):
    """Pre hooks, the snapshot (or the reused one), retention and uploads, post hooks; fills ``result`` as it
    goes and raises BackupError when the run failed."""
    env = {"OWB_INSTANCE": snap["instance"], "OWB_PLAN": run["plan"]}
    result["hooks"]["pre"], error = run_hooks("pre", hooks["pre"], env)
    if error:
        raise BackupError("%s; nothing was backed up" % error, "fix the hook (it runs on the managed host as root)",
                          hooks=result["hooks"])
    failure = None
    try:  # the snapshot resumes what it paused or stopped itself (and its safety net, if it cannot)
        ref = reusable(repo, run["reuse_within"])
        result["snapshot"] = _reused(ref, run["reuse_within"]) if ref else _snapshot.run(snap, docker=docker)
    except BackupError as e:
        failure = e
    except Exception as e:  # noqa: BLE001 - still run the post hooks
        failure = BackupError("unexpected error: %s" % e, "see the traceback in the result",
                              exception=traceback.format_exc())
    if failure is None:
        result["changed"] = True
        failure = _after_snapshot(result, snap, retention, targets, run)
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
    forgot = result["prune"].get("forgotten_plans")
    result["summary"] = _summary("%s; retention deleted %d%s" % (result["snapshot"]["summary"], len(result["prune"]["deleted"]),
                                                                 " (forgot plan %s)" % ", ".join(forgot) if forgot else ""),
                                 result["targets"])


def _after_snapshot(result, snap, retention, targets, run):
    """Local retention (this plan's policy, claiming the snapshot for it), then the off-host copies of the
    snapshot (the app runs again by now). Returns the failure (a BackupError naming the failed targets, the local
    snapshot kept) or None."""
    sid = result["snapshot"]["snapshot_id"]
    result["warnings"] += result["snapshot"].get("warnings", [])
    retention_error = None
    try:
        result["prune"] = _retention.prune(retention, protect=[sid], plan_name=run["plan"], current_plans=run["plans"])
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
    changed, before = save_json(path, record, check_mode)
    what = snap["container"] or snap["data_dir"]
    if not changed:
        summary = "job for %s in %s is up to date" % (what, path)
    else:
        summary = "job for %s %s %s" % (what, "would be saved to" if check_mode else "saved to", path)
    return {"changed": changed, "job_file": path, "job": redacted(job), "warnings": [], "summary": summary,
            "diff": {"before": _redacted_text(before), "after": json_text(redacted(record)),
                     "before_header": path, "after_header": path}}


def redacted(job):
    """The job safe to show: the secrets of every target and notifier replaced by ``********`` (the job file keeps
    them, 0600)."""
    out = dict(job)
    if isinstance(job.get("targets"), list):
        out["targets"] = [_targets.redact(t) if isinstance(t, dict) else t for t in job["targets"]]
    if isinstance(job.get("notify"), list):
        out["notify"] = [{k: "********" if k in _notify.SECRET_OPTIONS and v else v for k, v in n.items()} if isinstance(n, dict) else n
                         for n in job["notify"]]
    return out


def _redacted_text(text):
    if not text:
        return text
    try:
        job = json.loads(text)
    except ValueError:
        return "(not JSON)\n"
    return json_text(redacted(job)) if isinstance(job, dict) else text


def main(argv=None, out=None):
    """``owb-backup JOB.json [--status FILE] [--check]``: run the job (trigger ``timer``), print a summary. The run
    record goes to the job's status_dir, and also to FILE when given. Exit 0 on success, 1 when the backup
    failed, 2 on bad usage or a bad job file."""
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

    def say(line):
        out.write("owb-backup: %s\n" % line)
        out.flush()
    try:
        job = load_job(argv[0])
    except BackupError as e:
        say(str(e))
        return 2
    try:
        res = backup(job, check_mode=check, trigger="timer", log=say)
        rc, record = 0, res.get("record")
        say(res["summary"])
        for w in res["warnings"]:
            say("warning: %s" % w)
    except BackupError as e:
        rc, record = 1, e.details.get("record")
        say("FAILED: %s" % e)
        for w in e.details.get("warnings_list", []):
            say("warning: %s" % w)
    if status_path and record:
        try:
            write_json(status_path, record)
        except OSError as e:
            say("cannot write the status file %s: %s" % (status_path, e.strerror))
    return rc
