# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The drill job (owb-drill): saved and loaded like the backup job, one run record per instance, a failed drill
does not stop the others, the notifications and the metrics. _runlog, _notify and _metrics are stand-ins here
(their own tests cover them); the real drill runs on small snapshots (boot never). The real boot through the
runner is tests/integration/test_drill_timer.py."""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
import types

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _runlog, _snapshot
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, write_json
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils import test_restore_switch as switch_tests

PKG = "ansible_collections.sage_open_webui.backup.plugins.module_utils"
env = switch_tests.env  # the fixture: a small data directory and its snapshot (h1/owui)


class Signals(object):
    """Stand-ins for _runlog, _notify and _metrics (fleet.md interfaces) that remember their calls."""

    def __init__(self):
        self.sent, self.written, self.refreshed = [], [], []
        self.runlog = types.SimpleNamespace(write=self.write, event_of=self.event_of, new_record=_runlog.new_record,
                                            read_all=_runlog.read_all)
        self.notify = types.SimpleNamespace(normalize=self.normalize, send=self.send)
        self.metrics = types.SimpleNamespace(refresh=self.refresh)

    def write(self, status_dir, record):
        path = os.path.join(status_dir, "%s@%s.json" % (record["instance"], record["plan"]))
        os.makedirs(status_dir, mode=0o700, exist_ok=True)
        write_json(path, record)
        self.written.append(path)
        return path

    @staticmethod
    def event_of(record):
        return {"ok": "success", "warning": "warning"}.get(record["status"], "failure")

    @staticmethod
    def normalize(notifiers):
        if not isinstance(notifiers, list):
            raise BackupError("notify must be a list", "give a list")
        return notifiers

    def send(self, notifiers, event, record):
        self.sent.append((event, record["instance"], record["status"]))
        return [{"name": n["name"], "type": n["type"], "event": event, "ok": True, "error": None} for n in notifiers]

    def refresh(self, status_dir, metrics_dir, snapshot_counts=None):
        self.refreshed.append((status_dir, metrics_dir))
        return None, None


@pytest.fixture
def dj(monkeypatch):
    """``_drill_job`` wired to the stand-ins; ``dj.signals`` holds their calls."""
    signals = Signals()
    for name, fake in (("_runlog", signals.runlog), ("_notify", signals.notify), ("_metrics", signals.metrics)):
        monkeypatch.setitem(sys.modules, "%s.%s" % (PKG, name), fake)
    mod = importlib.import_module(PKG + "._drill_job")
    for name, fake in (("_runlog", signals.runlog), ("_notify", signals.notify), ("_metrics", signals.metrics)):
        monkeypatch.setattr(mod, name, fake)
    mod.signals = signals
    return mod


def _job(env, **kw):
    job = {"repository": env["repo"], "scratch": str(env["tmp"] / "scratch"), "boot": "never",
           "status_dir": str(env["tmp"] / "status"), "notify": [{"name": "ops", "type": "webhook"}]}
    job.update(kw)
    return job


def _second_instance(env, corrupt=False):
    """h1/other with two snapshots (the newest is drilled); ``corrupt``: a byte of the newest changed."""
    data = env["tmp"] / "srv" / "data"
    first = _snapshot.run({"data_dir": str(data), "repository": env["repo"], "host": "h1", "instance": "other", "mode": "hot"})
    (data / "uploads" / "a.txt").write_text("upload, changed")
    newest = _snapshot.run({"data_dir": str(data), "repository": env["repo"], "host": "h1", "instance": "other", "mode": "hot"})
    assert newest["snapshot_id"] > first["snapshot_id"]
    if corrupt:
        up = os.path.join(newest["path"], "data", "uploads", "a.txt")
        os.chmod(up, 0o600)
        with open(up, "r+b") as f:
            f.write(b"X")
    return newest["snapshot_id"]


def test_each_instance_gets_a_record_and_a_failure_does_not_stop_the_others(dj, env):
    bad_id = _second_instance(env, corrupt=True)
    job = dj.normalize(_job(env))
    res = dj.run(job)
    by = {r["instance"]: r for r in res["records"]}
    assert res["failed"] == 1 and sorted(by) == ["other", "owui"]
    ok, bad = by["owui"], by["other"]
    assert ok["status"] == "ok" and ok["kind"] == "drill" and ok["plan"] == "drill" and ok["trigger"] == "timer"
    assert ok["snapshot"] == {"id": env["snap"]["snapshot_id"]} and ok["rto_s"] > 0 and ok["source"] == "local"
    assert ok["checks"]["databases"]["webui.db"]["integrity"] == "ok" and ok["error"] is None
    assert bad["status"] == "failed" and bad["snapshot"] == {"id": bad_id} and bad["rto_s"] is None
    assert "failed verification" in bad["error"] and "uploads/a.txt" in bad["error"]
    # one record file per instance, written as the stand-in _runlog writes it, with the notification outcomes
    status = os.path.join(job["status_dir"], "other@drill.json")
    assert sorted(dj.signals.written) == [status, os.path.join(job["status_dir"], "owui@drill.json")]
    with open(status) as f:
        assert json.load(f)["notifications"] == [
            {"name": "ops", "type": "webhook", "event": e, "ok": True, "error": None} for e in ("start", "failure")]
    assert dj.signals.sent == [("start", "other", None), ("failure", "other", "failed"),
                               ("start", "owui", None), ("success", "owui", "ok")]
    assert dj.signals.refreshed == [(job["status_dir"], "")]


def test_an_unexpected_error_in_one_drill_is_its_failure_only(dj, env, monkeypatch):
    _second_instance(env)
    real = dj._drill.drill

    def drill(repository, host, instance, *a, **kw):
        if instance == "other":
            raise KeyError("boom")
        return real(repository, host, instance, *a, **kw)
    monkeypatch.setattr(dj._drill, "drill", drill)
    res = dj.run(dj.normalize(_job(env)))
    assert [(r["instance"], r["status"]) for r in res["records"]] == [("other", "failed"), ("owui", "ok")]
    assert "unexpected error: KeyError" in res["records"][0]["error"]


def test_save_load_and_the_runner(dj, env, tmp_path):
    path = str(tmp_path / "jobs" / "owb-drill.json")
    res = dj.save(path, _job(env, health_timeout="30"), check_mode=True)
    assert res["changed"] and not os.path.exists(path)
    assert dj.save(path, _job(env, health_timeout="30"))["changed"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600" and oct(os.stat(os.path.dirname(path)).st_mode & 0o777) == "0o700"
    assert not dj.save(path, _job(env, health_timeout="30"))["changed"]
    assert dj.load(path)["health_timeout"] == 30
    out = io.StringIO()
    assert dj.main([path], out=out) == 0
    assert "h1/owui %s: ok, RTO" % env["snap"]["snapshot_id"] in out.getvalue()
    out = io.StringIO()
    assert dj.main([path, "--check"], out=out) == 0 and "would drill h1/owui" in out.getvalue()
    assert len(dj.signals.written) == 1  # check mode wrote and sent nothing more
    os.chmod(path, 0o644)
    out = io.StringIO()
    assert dj.main([path], out=out) == 2 and "readable by others" in out.getvalue()
    assert dj.main([], out=io.StringIO()) == 2


def test_a_failed_drill_makes_the_runner_exit_1(dj, env, tmp_path):
    bad_id = _second_instance(env, corrupt=True)
    path = str(tmp_path / "owb-drill.json")
    dj.save(path, _job(env))
    out = io.StringIO()
    assert dj.main([path], out=out) == 1
    assert "h1/other %s: FAILED: drill h1/other: snapshot %s failed verification" % (bad_id, bad_id) in out.getvalue()
    out = io.StringIO()
    dj.save(path, _job(env, instance="nothing-here"))
    assert dj.main([path], out=out) == 1 and "no snapshots to drill" in out.getvalue()


@pytest.mark.parametrize("change, message", [
    ({"colour": "red"}, "unknown"),
    ({"repository": "relative/repo"}, "repository must be an absolute path"),
    ({"source": "s3"}, "neither local nor one of the targets"),
    ({"boot": "sometimes"}, "boot 'sometimes'"),
    ({"health_timeout": "soon"}, "must be numbers"),
    ({"metrics_dir": "metrics"}, "metrics_dir must be an absolute path, got 'metrics'"),
    ({"notify": "ops"}, "notify must be a list"),
])
def test_a_bad_job_is_refused_when_saved(dj, env, tmp_path, change, message):
    path = str(tmp_path / "owb-drill.json")
    with pytest.raises(BackupError, match=message):
        dj.save(path, _job(env, **change))
    assert not os.path.exists(path)


def test_scratch_inside_the_repository_is_refused(dj, env):
    with pytest.raises(BackupError, match="lies inside the repository"):
        dj.normalize(_job(env, scratch=os.path.join(env["repo"], "scratch")))


def test_a_target_source_is_checked_against_the_targets(dj, env, tmp_path):
    target = {"name": "nas", "type": "filesystem", "path": str(tmp_path / "nas")}
    job = dj.normalize(_job(env, source="nas", targets=[target]))
    assert job["source"] == "nas" and job["targets"][0]["name"] == "nas"


def test_the_module_drill_records_as_ansible_and_fails_naming_each_drill(dj, env):
    bad_id = _second_instance(env, corrupt=True)
    with pytest.raises(BackupError, match="restore drill failed for 1 of 2: h1/other %s: FAILED; h1/owui" % bad_id) as err:
        dj.drill_now(_job(env))
    assert [d["ok"] for d in err.value.details["drills"]] == [False, True]
    with open(os.path.join(str(env["tmp"] / "status"), "owui@drill.json")) as f:
        assert json.load(f)["trigger"] == "ansible"
    res = dj.drill_now(_job(env, instance="owui", status_dir=""))  # no status_dir: no record, still notified
    assert res["drills"][0]["ok"] and res["failed"] == 0 and len(dj.signals.written) == 2
    assert dj.signals.sent[-2:] == [("start", "owui", None), ("success", "owui", "ok")]


def test_a_source_with_nothing_to_drill_fails_each_drill_it_had_before(dj, env, tmp_path):
    """Sunday's drill cannot list its source (down, or emptied): the instances drilled before turn failed in
    their records (so the metrics and the status page show it) and the failure is notified."""
    assert dj.run(dj.normalize(_job(env)))["failed"] == 0
    empty = str(tmp_path / "empty-repo")
    os.makedirs(empty)
    res = dj.run(dj.normalize(_job(env, repository=empty)))
    assert "no snapshots to drill" in str(res["error"]) and res["failed"] == 1
    with open(os.path.join(str(env["tmp"] / "status"), "owui@drill.json")) as f:
        rec = json.load(f)
    assert rec["status"] == "failed" and "no snapshots to drill in %s" % empty in rec["error"] and rec["snapshot"] is None
    assert dj.signals.sent[-2:] == [("start", "owui", None), ("failure", "owui", "failed")]
    assert len(dj.signals.refreshed) == 2
    path = str(tmp_path / "owb-drill.json")
    dj.save(path, _job(env, repository=empty))
    out = io.StringIO()
    assert dj.main([path], out=out) == 1
    assert "owb-drill: FAILED: no snapshots to drill" in out.getvalue() and "h1/owui -: FAILED" in out.getvalue()
    with pytest.raises(BackupError, match="no snapshots to drill"):
        dj.drill_now(_job(env, repository=empty))


def test_with_no_drill_before_the_failure_names_the_jobs_pair_or_is_only_notified(dj, env, tmp_path):
    empty = str(tmp_path / "empty-repo")
    os.makedirs(empty)
    res = dj.run(dj.normalize(_job(env, repository=empty, host="h9", instance="owui")))
    assert res["failed"] == 1 and [(r["host"], r["instance"]) for r in res["records"]] == [("h9", "owui")]
    assert dj.signals.written == [os.path.join(str(env["tmp"] / "status"), "owui@drill.json")]
    res = dj.run(dj.normalize(_job(env, repository=empty, status_dir=str(tmp_path / "new-status"))))
    assert res["failed"] == 1 and res["records"][0]["instance"] == "*"
    assert dj.signals.sent[-2:] == [("start", "*", None), ("failure", "*", "failed")]
    assert len(dj.signals.written) == 1 and not os.path.exists(str(tmp_path / "new-status")), "a record for no instance"
