# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_job: the whole backup job (hooks, snapshot, retention) on the real 0.12.4 fixture, and its host-side
trigger (owb-backup JOB.json) running the job file the module saves."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import tarfile

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _job
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _safety
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository

from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.fakes import CID, FakeDocker

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "openwebui-0.12.4")


@pytest.fixture
def env(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with tarfile.open(os.path.join(FIXTURE, "data.tar.gz")) as tar:
        tar.extractall(str(data), **({"filter": "tar"} if hasattr(tarfile, "data_filter") else {}))
    log = tmp_path / "hooks.log"
    hook = tmp_path / "hook.sh"
    hook.write_text('#!/bin/sh\necho "$1 status=$OWB_STATUS snap=$OWB_SNAPSHOT inst=$OWB_INSTANCE" >> %s\n' % log)
    hook.chmod(0o755)
    return {"data": str(data), "repo": str(tmp_path / "repo"), "log": log, "hook": str(hook), "tmp": tmp_path}


def job(env, **kw):
    j = {"data_dir": env["data"], "repository": env["repo"], "host": "h1", "instance": "owui", "secret_key": "skip",
         "pre_hooks": ["%s pre" % env["hook"]], "post_hooks": ["%s post" % env["hook"]],
         "keep_last": 1, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0, "status_dir": str(env["tmp"] / "status")}
    j.update(kw)
    return j


def published(env):
    return [r.id for r in Repository(env["repo"], "h1", "owui").list()]


def test_hooks_snapshot_and_retention_in_order(env):
    first = _job.backup(job(env))
    second = _job.backup(job(env))
    lines = env["log"].read_text().splitlines()
    assert lines[0] == "pre status= snap= inst=owui"
    assert lines[1] == "post status=ok snap=%s inst=owui" % first["snapshot"]["path"]
    assert lines[3] == "post status=ok snap=%s inst=owui" % second["snapshot"]["path"]
    assert second["prune"]["deleted"] == [first["snapshot"]["snapshot_id"]]
    assert published(env) == [second["snapshot"]["snapshot_id"]]
    assert [h["rc"] for h in second["hooks"]["pre"] + second["hooks"]["post"]] == [0, 0]
    assert "retention deleted 1" in second["summary"]


def test_failed_snapshot_still_runs_post_hooks_with_failed_status(env):
    with open(os.path.join(env["data"], "webui.db"), "wb") as f:
        f.write(b"this is not a database" * 100)
    with pytest.raises(BackupError) as ei:
        _job.backup(job(env))
    assert "not a SQLite database" in str(ei.value) or "SQLite" in str(ei.value)
    assert env["log"].read_text().splitlines()[-1] == "post status=failed snap= inst=owui"
    assert ei.value.details["hooks"]["post"][0]["rc"] == 0
    assert not os.path.isdir(os.path.join(env["repo"], "h1", "owui")) or published(env) == []


def test_failing_pre_hook_stops_before_anything(env):
    with pytest.raises(BackupError) as ei:
        _job.backup(job(env, pre_hooks=["false"]))
    assert "pre hook 'false' failed (exit 1)" in str(ei.value) and "nothing was backed up" in str(ei.value)
    assert not env["log"].exists(), "no post hook after a failed pre hook"
    assert not os.path.exists(env["repo"])


def test_missing_hook_program_is_named(env):
    with pytest.raises(BackupError) as ei:
        _job.backup(job(env, pre_hooks=["/nonexistent/owb-hook --x"]))
    assert "exit 127" in str(ei.value) and "cannot run it" in str(ei.value)


def test_failing_post_hook_after_publish_says_so(env):
    with pytest.raises(BackupError) as ei:
        _job.backup(job(env, post_hooks=["sh -c 'echo boom; exit 3'"]))
    assert "was published, but post hook" in str(ei.value) and "boom" in str(ei.value)
    assert len(published(env)) == 1


def test_check_mode_runs_no_hook_and_writes_nothing(env):
    res = _job.backup(job(env), check_mode=True)
    assert res["hooks"]["would_run"]["pre"] == ["%s pre" % env["hook"]]
    assert res["snapshot"]["snapshot_id"] is None and not env["log"].exists()
    assert not os.path.exists(env["repo"])


def test_retention_that_keeps_nothing_is_refused_before_anything(env):
    with pytest.raises(BackupError) as ei:
        _job.backup(job(env, keep_last=0))
    assert "retention policy keeps nothing" in str(ei.value)
    assert not os.path.exists(env["repo"]) and not env["log"].exists()


# ---- the job resumes what it paused or stopped, and nothing else (B1) ------------------------------

def _container_job(env, mode, **kw):
    return job(env, data_dir=None, container="open-webui", mode=mode, pre_hooks=[], post_hooks=[], **kw)


@pytest.fixture
def docker_env(env, monkeypatch, tmp_path):
    log = []
    monkeypatch.setattr(_safety, "LOCK_DIRS", (str(tmp_path),))
    d = FakeDocker(env["data"], log)
    yield env, d, log
    d.close()


def test_container_stopped_on_purpose_stays_stopped(docker_env):
    """A container the admin stopped is backed up as it is; the job does not start it afterwards."""
    env, docker, log = docker_env
    docker.states[CID] = "exited"
    res = _job.backup(_container_job(env, "cold"), docker=docker)
    assert res["snapshot"]["mode"] == "offline" and res["snapshot"]["databases"]["webui.db"]["integrity"] == "ok"
    assert any("backed up as is, not started" in w for w in res["warnings"])
    assert docker.state == "exited"
    assert not any(x.startswith(("stop", "start", "pause", "unpause")) for x in log)


@pytest.mark.parametrize("state, mode, locked, problem", [
    ("paused", "pause", True, "another backup or restore"),   # a restore (or backup) holds the lock
    ("exited", "cold", True, "another backup or restore"),    # a restore's switch stopped the app
    ("paused", "pause", False, "is paused"),                  # another backup's freeze, another repository
])
def test_failed_run_resumes_nothing_it_did_not_pause_or_stop(docker_env, state, mode, locked, problem):
    env, docker, log = docker_env
    docker.states[CID] = state
    holder = Repository(env["repo"], "h1", "owui")
    if locked:
        with holder.lock():
            with pytest.raises(BackupError) as ei:
                _job.backup(_container_job(env, mode), docker=docker)
    else:
        with pytest.raises(BackupError) as ei:
            _job.backup(_container_job(env, mode), docker=docker)
    assert problem in str(ei.value)
    assert docker.state == state
    assert not any(x.startswith(("stop", "start", "pause", "unpause")) for x in log)


@pytest.mark.parametrize("kw, problem", [
    ({"keep_daily": "many"}, "keep_daily"),
    ({"frobnicate": 1}, "unknown backup job option: frobnicate"),
    ({"workers": 8, "hot_retries": 1}, "unknown backup job options: hot_retries, workers"),  # internal constants
    ({"pre_hooks": ["echo 'unbalanced"]}, "cannot be parsed"),
    ({"include_ollama": "perhaps"}, "not a bool"),
    ({"keep_last": -1}, "keep_last"),
])
def test_bad_job_options_fail_clearly_and_change_nothing(env, kw, problem):
    with pytest.raises(BackupError) as ei:
        _job.backup(job(env, **kw))
    assert problem in str(ei.value) and "Fix:" in str(ei.value)
    assert not os.path.exists(env["repo"]) and not env["log"].exists()


def test_hand_edited_values_are_coerced(env):
    given = job(env, keep_last="3", keep_daily="0", include_ollama="no", freeze_timeout="2.5", pre_hooks="true")
    snap, hooks, policy, _targets, _run = _job.split(given)
    assert policy["keep_last"] == 3 and snap["include_ollama"] is False and snap["freeze_timeout"] == 2.5
    assert hooks["pre"] == ["true"]


# ------------------------------------------------------------------------------ owb-backup JOB.json

def write_job(path, content, mode=0o600):
    path.write_text(json.dumps(content))
    path.chmod(mode)
    return str(path)


def test_main_runs_the_job_file_and_records_the_status(env):
    jf = write_job(env["tmp"] / "owui.json", dict(job(env), job_schema=1))
    status = str(env["tmp"] / "owui.status.json")
    out = io.StringIO()
    assert _job.main([jf, "--status", status], out=out) == 0
    rec = json.loads(open(status).read())
    assert rec["status"] in ("ok", "warning") and rec["snapshot"]["id"] == published(env)[0] and rec["trigger"] == "timer"
    assert rec == json.loads((env["tmp"] / "status" / "owui@default.json").read_text())
    assert stat.S_IMODE(os.stat(status).st_mode) == 0o600
    assert out.getvalue().startswith("owb-backup: %s: " % rec["snapshot"]["id"])


def test_main_reports_a_failed_backup_with_exit_1(env):
    os.unlink(os.path.join(env["data"], "webui.db"))
    jf = write_job(env["tmp"] / "owui.json", job(env))
    status = str(env["tmp"] / "st.json")
    out = io.StringIO()
    assert _job.main([jf, "--status", status], out=out) == 1
    assert "FAILED" in out.getvalue() and json.loads(open(status).read())["status"] == "failed"


@pytest.mark.parametrize("mode, content, problem", [
    (0o644, {"repository": "/r", "data_dir": "/d"}, "readable by others"),
    (0o600, ["not", "an", "object"], "does not hold a JSON object"),
    (0o600, {"job_schema": 99, "repository": "/r", "data_dir": "/d"}, "job_schema 99"),
])
def test_main_refuses_a_bad_job_file_with_exit_2(env, mode, content, problem):
    jf = write_job(env["tmp"] / "bad.json", content, mode)
    out = io.StringIO()
    assert _job.main([jf], out=out) == 2
    assert problem in out.getvalue()
    assert not os.path.exists(env["repo"])


def test_main_usage_and_missing_file(env):
    out = io.StringIO()
    assert _job.main([], out=out) == 2 and "usage" in out.getvalue()
    out = io.StringIO()
    assert _job.main([str(env["tmp"] / "nope.json")], out=out) == 2 and "does not exist" in out.getvalue()


def test_the_saved_job_is_the_job_the_module_runs(env, tmp_path):
    """openwebui_backup action=save writes the job; owb-backup runs it: same engine, same values."""
    pytest.importorskip("ansible")
    from ansible_collections.sage_open_webui.backup.tests.module_runner import run_module

    jf = str(tmp_path / "etc" / "owui.json")
    args = dict(job(env), action="save", job_file=jf)
    rc, out = run_module("openwebui_backup", dict(args, _ansible_check_mode=True), tmp_path)
    assert rc == 0 and out["changed"] and not os.path.exists(jf)
    rc, out = run_module("openwebui_backup", args, tmp_path)
    assert rc == 0 and out["changed"], out
    assert stat.S_IMODE(os.stat(jf).st_mode) == 0o600 and stat.S_IMODE(os.stat(os.path.dirname(jf)).st_mode) == 0o700
    rc, again = run_module("openwebui_backup", args, tmp_path)
    assert rc == 0 and again["changed"] is False
    saved = json.loads(open(jf).read())
    assert saved["job_schema"] == 1 and saved["keep_last"] == 1 and saved["pre_hooks"] == ["%s pre" % env["hook"]]
    # the timer's trigger runs it
    assert _job.main([jf], out=io.StringIO()) == 0
    (by_timer,) = published(env)
    # and the playbook's trigger (action=run) runs the same job: its retention (keep_last 1) removes the other
    rc, ran = run_module("openwebui_backup", dict(job(env)), tmp_path)
    assert rc == 0 and ran["prune"]["deleted"] == [by_timer], ran
    assert published(env) == [ran["snapshot"]["snapshot_id"]]
    assert env["log"].read_text().count("post status=ok") == 2


def test_save_refuses_a_job_that_could_never_run(env, tmp_path):
    pytest.importorskip("ansible")
    from ansible_collections.sage_open_webui.backup.tests.module_runner import run_module

    jf = str(tmp_path / "owui.json")
    rc, out = run_module("openwebui_backup", dict(job(env), mode="cold", action="save", job_file=jf), tmp_path)
    assert rc != 0 and "needs a container" in out["msg"] and not os.path.exists(jf)
    rc, out = run_module("openwebui_backup", dict(job(env), action="save"), tmp_path)
    assert rc != 0 and "needs job_file" in out["msg"]


def test_rendered_runner_runs_the_job_from_the_installed_engine(env, tmp_path):
    """The schedule role's runner template, rendered as the role renders it, with the engine copied where the
    role installs it: run as a program it backs up (exit 0), and a failed backup exits 1."""
    jinja2 = pytest.importorskip("jinja2")
    import glob
    import shutil
    import subprocess

    lib = tmp_path / "lib"
    engine = lib / "ansible_collections" / "sage_open_webui" / "backup" / "plugins" / "module_utils"
    engine.mkdir(parents=True)
    for path in glob.glob(os.path.join(ROOT, "plugins", "module_utils", "*.py")):
        shutil.copy(path, str(engine))
    with open(os.path.join(ROOT, "roles", "schedule", "templates", "owb-backup.py.j2")) as f:
        text = jinja2.Template(f.read(), keep_trailing_newline=True).render(
            schedule_python=sys.executable, schedule_lib_dir=str(lib), ansible_managed="Ansible managed")
    runner = tmp_path / "owb-backup"
    runner.write_text(text)
    runner.chmod(0o755)
    assert text.startswith("#!%s\n" % sys.executable)
    jf = write_job(tmp_path / "owui.json", job(env))
    clean_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # no PYTHONPATH: only the installed engine
    proc = subprocess.run([str(runner), jf], capture_output=True, text=True, env=clean_env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("owb-backup: %s: " % published(env)[0])
    os.unlink(os.path.join(env["data"], "webui.db"))
    proc = subprocess.run([str(runner), jf], capture_output=True, text=True, env=clean_env, timeout=300, check=False)
    assert proc.returncode == 1 and "FAILED" in proc.stdout


def test_hooks_run_without_a_shell_as_documented():
    """The documented way to use a variable in a hook is sh -c; a bare $VAR reaches the program literally."""
    env = {"OWB_INSTANCE": "owui", "OWB_STATUS": "ok"}
    res, err = _job.run_hooks("post", ["echo \"backup of $OWB_INSTANCE\"",
                                       "sh -c 'echo \"backup of $OWB_INSTANCE: $OWB_STATUS\"'"], env)
    assert err is None
    assert [r["output"] for r in res] == ["backup of $OWB_INSTANCE\n", "backup of owui: ok\n"]


# ------------------------------------------------------------------------------ off-host copies (issue 9)

def _store_dir(env, name="nas"):
    path = env["tmp"] / ("store-" + name)
    path.mkdir(exist_ok=True)
    return path


def _fs(env, name="nas", **kw):
    return dict({"name": name, "type": "filesystem", "path": str(_store_dir(env, name))}, **kw)


def test_uploads_run_after_retention_and_before_post_hooks(env):
    store = _store_dir(env)
    hook = env["tmp"] / "post.sh"  # what the post hook sees on the target: the record is there already
    hook.write_text('#!/bin/sh\nls %s/snapshots/h1/owui >> %s\n' % (store, env["log"]))
    hook.chmod(0o755)
    first = _job.backup(job(env, targets=[_fs(env)], post_hooks=[str(hook)]))
    sid = first["snapshot"]["snapshot_id"]
    assert env["log"].read_text().splitlines()[-1] == sid + ".json"
    (out,) = first["targets"]
    assert out["status"] == "ok" and out["snapshot_key"] == "snapshots/h1/owui/%s.json" % sid
    assert "; off-host: nas ok " in first["summary"] and "retention deleted 0" in first["summary"]
    assert [w for w in first["warnings"] if "target nas is not encrypted" in w and "secret key" in w]
    second = _job.backup(job(env, targets=[_fs(env)], post_hooks=[str(hook)]))
    (out2,) = second["targets"]
    assert second["prune"]["deleted"] == [sid] and out2["objects_sent"] <= 2
    assert out2["bytes_sent"] <= 0.01 * out["bytes_sent"]
    assert os.listdir(os.path.join(env["repo"], ".offsite-cache", "nas"))  # the index, cached
    assert published(env) == [second["snapshot"]["snapshot_id"]]


def test_an_encrypted_target_gets_no_clear_text_warning(env):
    target = dict(_fs(env), recipients=["age1" + "q" * 58])
    res = _job.backup(job(env, targets=[target]), check_mode=True)
    assert not [w for w in res["warnings"] if "not encrypted" in w]
    assert [w for w in _job.backup(job(env, targets=[_fs(env)]), check_mode=True)["warnings"] if "not encrypted" in w]


def test_a_failed_target_fails_the_run_keeps_the_snapshot_and_the_other_target(env):
    not_a_dir = env["tmp"] / "not-a-dir"
    not_a_dir.write_text("x")
    targets = [{"name": "broken", "type": "filesystem", "path": str(not_a_dir)}, _fs(env)]
    with pytest.raises(BackupError) as ei:
        _job.backup(job(env, targets=targets))
    msg = str(ei.value)
    assert "is kept locally, but its off-host copy failed: target broken" in msg and "Fix: mount the share" in msg
    assert env["log"].read_text().splitlines()[-1].startswith("post status=failed snap=%s" % env["repo"])
    (sid,) = published(env)
    assert ei.value.details["snapshot_id"] == sid
    assert [o["status"] for o in ei.value.details["targets"]] == ["failed", "ok"]
    assert (_store_dir(env) / "snapshots" / "h1" / "owui" / (sid + ".json")).is_file()


def test_main_records_each_target_in_the_status_file(env):
    not_a_dir = env["tmp"] / "not-a-dir"
    not_a_dir.write_text("x")
    jf = write_job(env["tmp"] / "owui.json", job(env, targets=[_fs(env)]))
    status = str(env["tmp"] / "st.json")
    out = io.StringIO()
    assert _job.main([jf, "--status", status], out=out) == 0
    rec = json.loads(open(status).read())
    assert [t["name"] for t in rec["targets"]] == ["nas"] and rec["targets"][0]["status"] == "ok"
    assert "off-host: nas ok" in out.getvalue()
    jf = write_job(env["tmp"] / "owui.json", job(env, targets=[{"name": "usb", "type": "filesystem", "path": str(not_a_dir)}]))
    assert _job.main([jf, "--status", status], out=io.StringIO()) == 1
    rec = json.loads(open(status).read())
    assert rec["status"] == "failed" and rec["targets"][0]["status"] == "failed" and rec["snapshot"]["id"]


@pytest.mark.parametrize("targets, problem", [
    ([{"name": "nas", "type": "filesystem"}], "has no path"),
    ([{"name": "nas", "type": "filesystem", "path": "/x", "recipients": ["not-a-key"]}], "not an age public key"),
    ({"name": "nas"}, "must be a list"),
])
def test_a_bad_target_is_refused_before_anything_runs(env, targets, problem):
    with pytest.raises(BackupError) as ei:
        _job.backup(job(env, targets=targets))
    assert problem in str(ei.value)
    assert not os.path.exists(env["repo"]) and not env["log"].exists()


def test_check_mode_lists_the_targets_and_sends_nothing(env):
    res = _job.backup(job(env, targets=[_fs(env), _fs(env, "off", enabled=False)]), check_mode=True)
    assert [(o["name"], o["status"], o.get("would_upload")) for o in res["targets"]] == [
        ("nas", "skipped", True), ("off", "skipped", None)]
    assert res["summary"].endswith("; off-host: nas would get the new snapshot, off skipped")
    assert not list(_store_dir(env).iterdir()) and not os.path.exists(env["repo"])


def test_save_never_shows_a_target_secret(env, tmp_path):
    s3 = {"name": "b2", "type": "s3", "bucket": "bk", "access_key_id": "AKIAEXAMPLEKEY",
          "secret_access_key": "VERYSECRETVALUE", "dedup_secret": "DEDUPSECRET"}
    jf = str(tmp_path / "etc" / "owui.json")
    res = _job.save(jf, job(env, targets=[s3]))
    assert res["changed"]
    res = _job.save(jf, job(env, targets=[dict(s3, bucket="other")]))
    shown = json.dumps(res)
    for secret in ("AKIAEXAMPLEKEY", "VERYSECRETVALUE", "DEDUPSECRET"):
        assert secret not in shown
        assert secret in open(jf).read()  # the job file keeps them (0600): the timer needs them
    assert '"bucket": "bk"' in res["diff"]["before"] and '"bucket": "other"' in res["diff"]["after"]
    assert stat.S_IMODE(os.stat(jf).st_mode) == 0o600
    with pytest.raises(BackupError, match="has no bucket"):
        _job.save(jf, job(env, targets=[{"name": "b2", "type": "s3"}]))


def test_a_retention_failure_still_uploads_and_runs_post_hooks(env, monkeypatch):
    from ansible_collections.sage_open_webui.backup.plugins.module_utils import _retention

    def broken(*a, **kw):
        raise BackupError("retention broke", "fix retention")
    monkeypatch.setattr(_retention, "prune", broken)
    with pytest.raises(BackupError) as ei:
        _job.backup(job(env, targets=[_fs(env)]))
    assert str(ei.value) == "retention broke. Fix: fix retention"
    (sid,) = published(env)
    assert env["log"].read_text().splitlines()[-1].startswith("post status=failed snap=")
    assert (_store_dir(env) / "snapshots" / "h1" / "owui" / (sid + ".json")).is_file()
