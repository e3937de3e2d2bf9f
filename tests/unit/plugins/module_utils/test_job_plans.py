# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_job with plans (docs/PLANS.md): the plan keys, reuse of a recent snapshot, the run record for both triggers,
the notifications and metrics around it, and the job lock that makes a second plan wait."""

from __future__ import annotations

import datetime
import fcntl
import io
import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _job, _metrics, _notify, _runlog, _snapshot
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository

from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.test_job import env, job, published  # noqa: F401 pylint: disable=unused-import

OPS = [{"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/hook"}]


@pytest.fixture
def signals(monkeypatch):
    """The signals helper's functions, recorded: notifications sent, metrics refreshed."""
    calls = {"send": [], "refresh": []}

    def send(notifiers, event, record):
        calls["send"].append((event, dict(record)))
        return [{"name": n["name"], "type": "webhook", "event": event, "ok": True, "error": None} for n in notifiers]

    def refresh(status_dir, metrics_dir, snapshot_counts=None):
        calls["refresh"].append((status_dir, metrics_dir, [r["plan"] for r in _runlog.read_all(status_dir)]))
        return (os.path.join(metrics_dir, "m.prom") if metrics_dir else None), None
    monkeypatch.setattr(_notify, "send", send)
    monkeypatch.setattr(_metrics, "refresh", refresh)
    return calls


def status_dir(env):
    return str(env["tmp"] / "status")


@pytest.mark.parametrize("kw, problem", [
    ({"plan": "Daily"}, "plan name 'Daily' is not valid"),
    ({"plan": "drill"}, "are reserved"),
    ({"plan": "pull"}, "are reserved"),
    ({"plan": "x" * 33}, "is not valid"),
    ({"reuse_within": -5}, "reuse_within must be 0 or more"),
    ({"reuse_within": "soon"}, "reuse_within has the value 'soon'"),
    ({"status_dir": "relative/dir"}, "status_dir must be an absolute path"),
    ({"status_dir": ""}, "status_dir must be an absolute path"),
    ({"metrics_dir": "prom"}, "metrics_dir must be an absolute path"),
    ({"plans": ["daily", "Weekly"]}, "plan name 'Weekly' is not valid"),
    ({"plans": "daily"}, "plans must be a list of plan names"),
])
def test_bad_plan_keys_are_refused_before_anything(env, signals, kw, problem):
    with pytest.raises(BackupError) as ei:
        _job.backup(job(env, **kw))
    assert problem in str(ei.value) and "Fix:" in str(ei.value)
    with pytest.raises(BackupError):
        _job.save(str(env["tmp"] / "etc" / "j.json"), job(env, **kw))
    assert not os.path.exists(env["repo"]) and not env["log"].exists() and not os.path.exists(status_dir(env))
    assert not os.path.exists(str(env["tmp"] / "etc")) and signals["send"] == []


def test_notify_is_checked_when_the_job_is_saved(env, monkeypatch):
    def normalize(notifiers):
        raise BackupError("notifier ops has no url", "give url")
    monkeypatch.setattr(_notify, "normalize", normalize)
    with pytest.raises(BackupError, match="notifier ops has no url"):
        _job.save(str(env["tmp"] / "j.json"), job(env, notify=OPS))
    assert not (env["tmp"] / "j.json").exists()


def test_the_run_record_notifications_and_metrics_of_a_module_run(env, signals):
    res = _job.backup(job(env, plan="daily", notify=OPS, metrics_dir=str(env["tmp"] / "prom")))
    rec = res["record"]
    assert rec == json.loads((env["tmp"] / "status" / "owui@daily.json").read_text())
    assert (rec["record_schema"], rec["kind"], rec["host"], rec["instance"], rec["plan"], rec["trigger"]) == \
        (1, "backup", "h1", "owui", "daily", "ansible")
    assert rec["status"] == "ok" and rec["error"] is None and rec["last_success"] == rec["finished"]
    snap = rec["snapshot"]
    assert snap["id"] == res["snapshot"]["snapshot_id"] == published(env)[0] and snap["reused"] is False
    assert snap["bytes"] == res["snapshot"]["totals"]["bytes"] > 0 and snap["new_bytes"] == snap["bytes"]
    assert snap["path"] == res["snapshot"]["path"] and snap["mode"] == "hot" and snap["files"] > 0
    assert rec["local"] == {"repository": env["repo"], "count": 1, "newest_id": snap["id"], "newest_created": snap["created"]}
    assert [(e, r["status"]) for e, r in signals["send"]] == [("start", "running"), ("success", "ok")]
    assert [(n["event"], n["ok"]) for n in rec["notifications"]] == [("start", True), ("success", True)]
    assert signals["refresh"] == [(status_dir(env), str(env["tmp"] / "prom"), ["daily"])]
    assert rec["started"] <= rec["finished"] and rec["duration_s"] >= 0


def test_a_failed_run_is_recorded_and_notified_as_a_failure(env, signals):
    os.unlink(os.path.join(env["data"], "webui.db"))
    with pytest.raises(BackupError) as ei:
        _job.backup(job(env, notify=OPS))
    rec = ei.value.details["record"]
    assert rec["status"] == "failed" and rec["error"] == rec["summary"] == str(ei.value)
    assert rec["snapshot"] is None and rec["last_success"] is None
    assert [e for e, _r in signals["send"]] == ["start", "failure"]
    assert json.loads((env["tmp"] / "status" / "owui@default.json").read_text())["status"] == "failed"


def test_a_broken_notifier_or_metrics_dir_is_a_warning_not_a_lost_backup(env, monkeypatch):
    def send(notifiers, event, record):
        return [{"name": "ops", "type": "webhook", "event": event, "ok": False, "error": "connection refused"}]
    monkeypatch.setattr(_notify, "send", send)
    monkeypatch.setattr(_metrics, "refresh", lambda s, m, snapshot_counts=None: (None, "permission denied"))
    res = _job.backup(job(env, notify=OPS, metrics_dir="/nonexistent"))
    assert len(published(env)) == 1 and res["record"]["status"] == "ok"
    assert "notification ops (success) failed: connection refused" in res["warnings"]
    assert "the metrics could not be written to /nonexistent: permission denied" in res["warnings"]


def test_check_mode_writes_no_record_and_notifies_nobody(env, signals):
    res = _job.backup(job(env, notify=OPS, metrics_dir=str(env["tmp"] / "prom")), check_mode=True)
    assert "record" not in res and signals == {"send": [], "refresh": []}
    assert not os.path.exists(status_dir(env)) and not os.path.exists(env["repo"])


def test_reuse_within_reuses_the_recent_snapshot_and_still_uploads_it(env, signals, monkeypatch, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    first = _job.backup(job(env, plan="daily", keep_last=3))
    sid = first["snapshot"]["snapshot_id"]
    monkeypatch.setattr(_snapshot, "run", lambda *a, **kw: pytest.fail("a reusing run must not take a snapshot"))
    nas = {"name": "nas", "type": "filesystem", "path": str(store)}
    second = _job.backup(job(env, plan="weekly", reuse_within=3600, keep_last=3, targets=[nas]))
    assert second["snapshot"]["snapshot_id"] == sid and second["snapshot"]["reused"] is True
    assert published(env) == [sid]
    rec = second["record"]
    assert rec["snapshot"]["reused"] is True and rec["snapshot"]["id"] == sid and rec["snapshot"]["new_bytes"] == 0
    assert rec["snapshot"]["freeze_s"] == 0 and rec["targets"][0]["name"] == "nas" and rec["targets"][0]["status"] == "ok"
    assert (store / "snapshots" / "h1" / "owui" / (sid + ".json")).is_file()
    claims = json.loads((tmp_path / "repo" / "h1" / "owui" / ".plans.json").read_text())["claims"]
    assert claims == {sid: ["daily", "weekly"]}
    assert env["log"].read_text().splitlines()[-1] == "post status=ok snap=%s inst=owui" % first["snapshot"]["path"]


def test_the_current_plans_make_the_retention_forget_a_removed_plan(env, signals, tmp_path):
    """The job file of a scheduled plan lists the instance's plans; weekly taken off: daily's next run forgets it
    and its snapshot falls under daily's keep_last 1."""
    weekly = _job.backup(job(env, plan="weekly", plans=["daily", "weekly"], keep_last=5))["snapshot"]["snapshot_id"]
    daily = _job.backup(job(env, plan="daily", plans=["daily", "weekly"], keep_last=1))
    assert daily["prune"]["deleted"] == [] and published(env) == [weekly, daily["snapshot"]["snapshot_id"]]
    after = _job.backup(job(env, plan="daily", plans=["daily"], keep_last=1))
    assert after["prune"]["forgotten_plans"] == ["weekly"] and weekly in after["prune"]["deleted"]
    assert published(env) == [after["snapshot"]["snapshot_id"]]
    assert "retention deleted 2 (forgot plan weekly)" in after["summary"], after["summary"]
    state = json.loads((tmp_path / "repo" / "h1" / "owui" / ".plans.json").read_text())
    assert sorted(state["plans"]) == ["daily"]


def test_reuse_within_takes_a_new_snapshot_when_the_newest_is_too_old(env, signals, monkeypatch):
    first = _job.backup(job(env, keep_last=3))["snapshot"]["snapshot_id"]
    ref = Repository(env["repo"], "h1", "owui").latest_verified()
    later = ref.created + datetime.timedelta(seconds=601)
    monkeypatch.setattr(_job, "utcnow", lambda: later)
    assert _job.reusable(Repository(env["repo"], "h1", "owui"), 600) is None
    assert _job.reusable(Repository(env["repo"], "h1", "owui"), 602).id == first
    assert _job.reusable(Repository(env["repo"], "h1", "owui"), 0) is None


def test_main_is_the_timer_trigger_and_keeps_status_file(env, signals):
    jf = env["tmp"] / "owui@weekly.json"
    jf.write_text(json.dumps(job(env, plan="weekly")))
    jf.chmod(0o600)
    out = io.StringIO()
    assert _job.main([str(jf)], out=out) == 0
    rec = json.loads((env["tmp"] / "status" / "owui@weekly.json").read_text())
    assert rec["trigger"] == "timer" and rec["plan"] == "weekly" and rec["status"] == "ok"
    assert _job.main([str(jf), "--check"], out=io.StringIO()) == 0
    assert json.loads((env["tmp"] / "status" / "owui@weekly.json").read_text()) == rec, "check mode wrote a record"


def test_a_second_job_waits_for_the_lock_and_says_for_whom(tmp_path):
    lines = []
    holder = os.open(str(tmp_path / "owui.job.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    os.write(holder, b"daily (pid 1)\n")
    fcntl.flock(holder, fcntl.LOCK_EX)
    done = threading.Event()

    def second():
        with _job.job_lock(str(tmp_path), "owui", "weekly", lines.append):
            done.set()
    t = threading.Thread(target=second)
    t.start()
    assert not done.wait(0.5), "the second job did not wait"
    assert lines == ["waiting for plan daily (pid 1) of owui to finish"]
    os.close(holder)
    assert done.wait(5)
    t.join()


def test_a_waiter_names_a_holder_that_has_only_just_taken_the_lock(tmp_path):
    """Two timers firing together on a new lock file: the holder takes the lock before it writes its name; the
    waiter must still name it (CI once logged "waiting for plan (unknown)")."""
    lines = []
    holder = os.open(str(tmp_path / "owui.job.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    named = threading.Timer(0.3, os.write, (holder, b"daily (pid 1)\n"))
    named.start()
    done = threading.Event()

    def second():
        with _job.job_lock(str(tmp_path), "owui", "weekly", lines.append):
            done.set()
    t = threading.Thread(target=second, daemon=True)
    t.start()
    try:
        named.join()
        assert not done.wait(0.5), "the second job did not wait"
        assert lines == ["waiting for plan daily (pid 1) of owui to finish"]
    finally:
        os.close(holder)
    assert done.wait(5)
    t.join()
    assert (tmp_path / "owui.job.lock").read_text() == "", "the released lock still names a holder"


RUNNER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from ansible_collections.sage_open_webui.backup.plugins.module_utils._job import main
    sys.exit(main(sys.argv[2:]))
""")


def test_two_plans_started_together_run_one_after_the_other(env):
    """Two real owb-backup processes of one instance, started at the same moment: their records do not overlap,
    and the one that waited said so."""
    root = _job.__file__
    for _level in range(6):  # <root>/ansible_collections/sage_open_webui/backup/plugins/module_utils/_job.py
        root = os.path.dirname(root)
    files = []
    for plan in ("daily", "weekly"):
        path = env["tmp"] / ("owui@%s.json" % plan)
        path.write_text(json.dumps(job(env, plan=plan, keep_last=5, pre_hooks=["sleep 1"], post_hooks=[])))
        path.chmod(0o600)
        files.append(str(path))
    procs = [subprocess.Popen([sys.executable, "-c", RUNNER, root, f], stdout=subprocess.PIPE, text=True) for f in files]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    recs = sorted((json.loads((env["tmp"] / "status" / ("owui@%s.json" % p)).read_text()) for p in ("daily", "weekly")),
                  key=lambda r: r["started"])
    assert recs[0]["finished"] <= recs[1]["started"], recs
    assert sum("waiting for plan" in o for o in outs) == 1, outs
    assert len(published(env)) == 2


def test_save_never_shows_a_notifier_secret(env, tmp_path):
    notify = [{"name": "ops", "type": "email", "smtp_host": "127.0.0.1", "username": "ops", "password": "SMTPSECRET", "to": ["ops@example.org"]},
              {"name": "hook", "type": "webhook", "url": "https://hooks.example/SECRETPATH"}]
    jf = str(tmp_path / "etc" / "owui@daily.json")
    _job.save(jf, job(env, plan="daily", notify=notify))
    res = _job.save(jf, job(env, plan="daily", notify=[dict(notify[0], to=["other@example.org"]), notify[1]]))
    shown = json.dumps(res)
    for secret in ("SECRETPATH", "SMTPSECRET"):
        assert secret not in shown and secret in open(jf).read()
    assert "other@example.org" in res["diff"]["after"] and res["job"]["notify"][1]["url"] == "********"
