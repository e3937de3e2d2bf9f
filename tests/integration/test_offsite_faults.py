# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Off-host faults at the job level, with real parts: the sample Open WebUI app (real 0.12.4 data) in Docker,
moto on loopback behind the fault proxy (tests/testbed/faultproxy.py), an rclone local remote, a directory
target, a small mount for "target full", age.

Each fault asserts: a clear message naming the target and the fix; no incomplete remote snapshot listed; the
local snapshot and the other targets unaffected (the run ends failed when one target failed):

- restore side: one tampered object (refused before the app stops: same StartedAt, data unchanged), a wrong
  age identity;
- backup side: kill -9 during an upload (the next run sends nothing that is there, counted at the endpoint),
  endpoint down, a 500/503 burst, a reset in the middle of a multipart upload, wrong credentials, a missing
  bucket, a full target.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

import pytest

import offsite_bed as bed
import owui_client as oc
from engine import collections_root
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _job, _restore, _store
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository
from ansible_collections.sage_open_webui.backup.tests.tree import tree_state

pytestmark = [pytest.mark.docker]

KINDS = ("s3", "rclone", "filesystem")
FAULTPROXY = os.path.join(bed.ROOT, "tests", "testbed", "faultproxy.py")
SMALLFS = os.path.join(bed.ROOT, "tests", "testbed", "smallfs.sh")
# a quiet app: the fixture data, one writer commit, then nothing changes (so "data unchanged" is exact)
QUIET = {"WRITE_INTERVAL": "3600"}


@pytest.fixture
def world(sample_app_factory, s3_endpoint, tmp_path):
    """A quiet sample app, the three targets (encrypted to a fresh age key), an empty local repository."""
    identity, recipient = bed.age_keypair(tmp_path)
    b = bed.Bed(tmp_path, s3_endpoint, [recipient])
    app = sample_app_factory(mount="volume", env=QUIET)
    app.wait_seq(0)
    return {"app": app, "bed": b, "repo": str(tmp_path / "repo"), "identity": identity, "root": str(tmp_path)}


def _backed_up(world, kind):
    """One backup of the app to target ``kind``; returns the snapshot id."""
    res = _job.backup(_job_dict(world["app"], world["repo"], [world["bed"].targets[kind]]))
    assert res["targets"][0]["status"] == "ok", res["targets"]
    return res["snapshot"]["snapshot_id"]


def _job_dict(app, repo, targets, **kw):
    j = {"container": app.name, "repository": repo, "host": bed.HOST, "instance": bed.INSTANCE, "mode": "pause",
         "targets": targets}
    j.update(kw)
    return j


def _restore_job(world, target, identity=None):
    return {"repository": str(os.path.join(world["root"], "empty-repo")), "source": target["name"], "targets": [target],
            "age_identity": identity or world["identity"], "host": bed.HOST, "instance": bed.INSTANCE,
            "container": world["app"].name, "alembic_check": "skip", "health_timeout": 60}


def _app_state(world):
    """(StartedAt, status) of the app and the content of its volume (data dir and the restore's work dirs beside it)."""
    app = world["app"]
    attrs = app.reload()
    return attrs["State"]["StartedAt"], attrs["State"]["Status"], tree_state(os.path.dirname(app.data_dir))


def _assert_named(msg, name):
    assert ("target %s" % name) in msg and "Fix:" in msg, msg


# ------------------------------------------------------------------------------------------ restore side

def _tamper(b, kind, key):
    """Flip one byte of object ``key`` on target ``kind`` behind the collection's back; returns the undo."""
    if kind == "s3":
        import boto3

        c = boto3.client("s3", endpoint_url=b.endpoint, region_name="us-east-1", aws_access_key_id="testing",
                         aws_secret_access_key="testing")
        full = "owb/" + key
        body = c.get_object(Bucket=b.bucket, Key=full)["Body"].read()
        c.put_object(Bucket=b.bucket, Key=full, Body=body[:100] + bytes([body[100] ^ 1]) + body[101:])
        return lambda: c.put_object(Bucket=b.bucket, Key=full, Body=body)
    path = os.path.join(b.dirs[kind], *key.split("/"))
    with open(path, "rb") as f:
        body = f.read()
    with open(path, "wb") as f:
        f.write(body[:100] + bytes([body[100] ^ 1]) + body[101:])

    def undo():
        with open(path, "wb") as f:
            f.write(body)
    return undo


@pytest.mark.parametrize("kind", KINDS)
def test_tampered_object_refused_before_the_app_stops(kind, world):
    b = world["bed"]
    sid = _backed_up(world, kind)
    packs = [k for k, _size in b.backend(kind).list(_store.PACKS)]
    assert packs
    undo = _tamper(b, kind, packs[0])
    before = _app_state(world)
    with pytest.raises(BackupError) as ei:
        _restore.run(_restore_job(world, b.targets[kind]))
    msg = str(ei.value)
    _assert_named(msg, kind)
    assert packs[0] in msg and "tampered" in msg, msg
    assert _app_state(world) == before and before[1] == "running"
    assert b.listed(kind) == [sid]
    # the control: the same restore with the object as it was goes through (the refusal was the object's)
    undo()
    res = _restore.run(_restore_job(world, b.targets[kind]))
    assert res["snapshot_id"] == sid and world["app"].status() == "running"


def test_wrong_identity_refused_before_the_app_stops(world):
    _backed_up(world, "filesystem")
    other, dummy = bed.age_keypair(world["root"], "other-identity.txt")
    before = _app_state(world)
    with pytest.raises(BackupError) as ei:
        _restore.run(_restore_job(world, world["bed"].targets["filesystem"], identity=other))
    msg = str(ei.value)
    _assert_named(msg, "filesystem")
    assert other in msg and "age-keygen -y" in msg, msg
    assert _app_state(world) == before


# ------------------------------------------------------------------------------------------ backup side

class Proxy(object):
    """tests/testbed/faultproxy.py in front of moto, on its own loopback port."""

    def __init__(self, upstream):
        self.port = oc.free_loopback_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = subprocess.Popen([sys.executable, FAULTPROXY, "--listen", str(self.port), "--upstream", upstream],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        bed.wait_port(self.port)

    def control(self, **command):
        return bed.http_json(self.url + "/__proxy__", command)

    def stats(self):
        return self.control(op="stats")

    def close(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def proxy(s3_endpoint):
    p = Proxy(s3_endpoint)
    yield p
    p.close()


def _backup_fails(world, app, repo, bad, good):
    """One run with a failing target ``bad`` and a working ``good``: returns the error (the run fails)."""
    with pytest.raises(BackupError) as ei:
        _job.backup(_job_dict(app, repo, [bad, good]))
    err = ei.value
    outcomes = {o["name"]: o for o in err.details["targets"]}
    assert outcomes[bad["name"]]["status"] == "failed" and outcomes[good["name"]]["status"] == "ok", outcomes
    _assert_named(str(err) + " " + outcomes[bad["name"]]["error"] + " Fix: " + (outcomes[bad["name"]]["fix"] or ""),
                  bad["name"])
    snaps = Repository(repo, bed.HOST, bed.INSTANCE).list()
    assert snaps and snaps[-1].verified, "the local snapshot is published"
    sid = snaps[-1].id
    assert sid in world["bed"].listed(good), "the other target got its copy"
    return err, outcomes[bad["name"]], sid


@pytest.fixture
def run_app(world):
    return world["app"], world["repo"]


def test_endpoint_down(world, run_app):
    app, repo = run_app
    b = world["bed"]
    bad = b.s3_target("s3-down", url="http://127.0.0.1:%d" % oc.free_loopback_port(), prefix="down-%s" % uuid.uuid4().hex[:6])
    err, out, dummy = _backup_fails(world, app, repo, bad, b.targets["filesystem"])
    assert "127.0.0.1" in out["error"], out


def test_missing_bucket(world, run_app):
    app, repo = run_app
    b = world["bed"]
    bad = b.s3_target("s3-nobucket", bucket="owbt-missing-%s" % uuid.uuid4().hex[:8])
    err, out, dummy = _backup_fails(world, app, repo, bad, b.targets["filesystem"])
    assert bad["bucket"] in out["error"] and "bucket" in (out["fix"] or ""), out


def test_target_full(world, run_app, tmp_path):
    app, repo = run_app
    b = world["bed"]
    small = str(tmp_path / "small")
    subprocess.run(["bash", SMALLFS, "mount", small, "2m"], check=True, capture_output=True)
    try:
        bad = dict(b.targets["filesystem"], name="nas-full", path=small)
        good = dict(b.targets["s3"], prefix="full-%s" % uuid.uuid4().hex[:6])
        err, out, sid = _backup_fails(world, app, repo, bad, good)
        assert "full" in out["error"] and "free space" in (out["fix"] or ""), out
        assert b.listed(bad) == [], "nothing incomplete listed on the full target"
    finally:
        subprocess.run(["bash", SMALLFS, "umount", small], check=False, capture_output=True)


def test_wrong_credentials(world, run_app, proxy):
    app, repo = run_app
    b = world["bed"]
    proxy.control(op="deny", access_key="wrong-key")
    bad = b.s3_target("s3-wrongkey", url=proxy.url, prefix="cred-%s" % uuid.uuid4().hex[:6], access_key_id="wrong-key",
                      secret_access_key="wrong-secret")
    err, out, dummy = _backup_fails(world, app, repo, bad, b.targets["filesystem"])
    assert "credential" in (out["error"] + out["fix"]).lower(), out
    assert "wrong-secret" not in json.dumps(err.details) + str(err)


@pytest.mark.parametrize("fault", ["burst_503_long", "reset_multipart_always"])
def test_persistent_endpoint_faults_fail_the_target_only(fault, world, run_app, proxy):
    app, repo = run_app
    b = world["bed"]
    prefix = "fault-%s" % uuid.uuid4().hex[:6]
    bad = b.s3_target("s3-faulty", url=proxy.url, prefix=prefix)
    if fault == "burst_503_long":
        proxy.control(op="burst", status=503, count=1000)
    else:
        proxy.control(op="reset", after_bytes=1 << 20, count=1000, multipart=True)
    err, out, sid = _backup_fails(world, app, repo, bad, b.targets["filesystem"])
    assert b.listed(b.s3_target("s3-direct", prefix=prefix)) == [], "no incomplete snapshot listed"
    assert proxy.stats()["deletes"] == 0


@pytest.mark.parametrize("fault", ["burst_500_short", "burst_503_short", "reset_multipart_once"])
def test_short_endpoint_faults_are_retried(fault, world, run_app, proxy):
    """A short burst or one reset is retried: the run ends ok on every target, the snapshot is listed."""
    app, repo = run_app
    b = world["bed"]
    prefix = "retry-%s" % uuid.uuid4().hex[:6]
    target = b.s3_target("s3-flaky", url=proxy.url, prefix=prefix)
    if fault.startswith("burst"):
        proxy.control(op="burst", status=int(fault[6:9]), count=3)
    else:
        proxy.control(op="reset", after_bytes=1 << 20, count=1, multipart=True)
    res = _job.backup(_job_dict(app, repo, [target, b.targets["filesystem"]]))
    assert [o["status"] for o in res["targets"]] == ["ok", "ok"], res["targets"]
    sid = res["snapshot"]["snapshot_id"]
    assert sid in b.listed(b.s3_target("s3-direct", prefix=prefix))
    assert proxy.stats()["injected"] >= 1, "the fault really happened"


# ------------------------------------------------------------------------------------------ kill -9

RUNNER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _job
sys.exit(_job.main(sys.argv[2:]))
"""


def _owb_backup(job_file, status_file, failpoints=None):
    """``owb-backup JOB --status FILE`` as the timer runs it, in its own process (so it can be killed -9)."""
    env = dict(os.environ)
    env.pop("OWB_FAILPOINTS", None)
    if failpoints:
        env["OWB_FAILPOINTS"] = failpoints
    return subprocess.run([sys.executable, "-c", RUNNER, collections_root(), job_file, "--status", status_file],
                          capture_output=True, text=True, env=env, timeout=600, check=False)


def test_kill_9_during_upload_then_the_next_run_sends_only_what_is_missing(world, run_app, proxy, tmp_path):
    app, repo = run_app
    b = world["bed"]
    with open(os.path.join(app.data_dir, "uploads", "big-random.bin"), "wb") as f:
        f.write(os.urandom(40 << 20))  # three packs or more
    prefix = "kill-%s" % uuid.uuid4().hex[:6]
    target = b.s3_target("s3-kill", url=proxy.url, prefix=prefix, concurrency=1)
    direct = b.backend(b.s3_target("s3-direct", prefix=prefix))
    job_file = str(tmp_path / "job.json")
    with open(job_file, "w", encoding="utf-8") as f:
        json.dump(_job_dict(app, repo, [target, b.targets["filesystem"]]), f)
    os.chmod(job_file, 0o600)
    first = _owb_backup(job_file, str(tmp_path / "status1.json"), failpoints="upload_pack=kill")
    assert first.returncode == -signal.SIGKILL, first.stdout + first.stderr
    local = Repository(repo, bed.HOST, bed.INSTANCE).list()
    assert len(local) == 1 and local[0].verified, "the local snapshot was published before the upload"
    assert _store.list_snapshots(direct, bed.HOST, bed.INSTANCE) == [], "the interrupted upload is not listed"
    there = dict(direct.list(""))
    assert any(k.startswith(_store.PACKS) for k in there), there
    proxy.control(op="reset_stats")
    second = _owb_backup(job_file, str(tmp_path / "status2.json"))
    assert second.returncode == 0, second.stdout + second.stderr
    stats = proxy.stats()
    after = dict(direct.list(""))
    resent = [k for k in stats["put_keys"] if k.split("/", 1)[-1] in there or k in there]
    assert resent == [], "sent again: %s" % resent
    new_bytes = sum(size for k, size in after.items() if k not in there)
    assert stats["bytes_in"] <= new_bytes * 1.02 + (256 << 10), (stats["bytes_in"], new_bytes)
    assert stats["overwrites"] == 0 and stats["deletes"] == 0
    assert len(_store.list_snapshots(direct, bed.HOST, bed.INSTANCE)) == 1
    status = json.load(open(str(tmp_path / "status2.json")))
    assert status["status"] == "ok"
