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
from engine import collections_root
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _job, _restore, _store
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository
from ansible_collections.sage_open_webui.backup.tests.tree import tree_state
# this module's own moto (its authentication is switched on for one test) and its IAM users, from the s3 target's
# tests; the fault proxy from the test bed
from test_target_s3 import FaultProxy, moto_auth, moto_url  # noqa: F401 # pylint: disable=unused-import

pytestmark = [pytest.mark.docker]

KINDS = ("s3", "rclone", "filesystem")
SMALLFS = os.path.join(bed.ROOT, "tests", "testbed", "smallfs.sh")
# a quiet app: the fixture data, one writer commit, then nothing changes (so "data unchanged" is exact)
QUIET = {"WRITE_INTERVAL": "3600"}


@pytest.fixture
def world(sample_app_factory, moto_url, tmp_path):  # noqa: F811 (fixture)
    """A quiet sample app, the three targets (encrypted to a fresh age key), an empty local repository."""
    identity, recipient = bed.age_keypair(tmp_path)
    b = bed.Bed(tmp_path, moto_url, [recipient])
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

@pytest.fixture
def proxy(moto_url):  # noqa: F811 (fixture)
    """The fault proxy (tests/testbed/faultproxy.py) in front of this module's moto, counters at zero."""
    p = FaultProxy(moto_url).start()
    yield p
    p.stop()


def _backup_fails(world, bad, good):
    """One run with a failing target ``bad`` and a working ``good``: the run fails, ``bad`` is named with a fix,
    nothing is listed there, the local snapshot is published and ``good`` lists it. Returns (error, outcome)."""
    b = world["bed"]
    with pytest.raises(BackupError) as ei:
        _job.backup(_job_dict(world["app"], world["repo"], [bad, good]))
    err = ei.value
    outcomes = {o["name"]: o for o in err.details["targets"]}
    out = outcomes[bad["name"]]
    assert out["status"] == "failed" and outcomes[good["name"]]["status"] == "ok", outcomes
    _assert_named(str(err), bad["name"])
    assert "kept locally" in str(err) and out["error"] in str(err), str(err)
    snaps = Repository(world["repo"], bed.HOST, bed.INSTANCE).list()
    assert len(snaps) == 1 and snaps[0].verified, "the local snapshot is published"
    assert b.listed(good) == [snaps[0].id], "the other target got its copy"
    return err, out


def _direct(world, bad):
    """The failed s3 target read straight from moto (no proxy): nothing incomplete may be listed there."""
    return world["bed"].listed(dict(bad, endpoint_url=world["bed"].endpoint))


def test_endpoint_down(world, proxy):
    b = world["bed"]
    bad = b.s3_target("s3-down", url=proxy.url)
    proxy.refuse()
    err, out = _backup_fails(world, bad, b.targets["filesystem"])
    assert "unreachable" in out["error"] and "endpoint_url" in out["fix"], out
    assert _direct(world, bad) == []


def test_burst_of_503_longer_than_the_retries(world, proxy):
    b = world["bed"]
    bad = b.s3_target("s3-burst", url=proxy.url)
    proxy.fail_next(1000, 503)
    err, out = _backup_fails(world, bad, b.targets["filesystem"])
    assert "503" in out["error"] and "run again" in out["fix"], out
    proxy.restore()
    assert _direct(world, bad) == [] and proxy.counters()["deletes"] == 0


def test_short_burst_of_500_and_503_and_a_reset_mid_multipart_are_retried(world, proxy):
    """A short burst and a reset inside a part of a multipart pack upload: retried, the run ends ok on both
    targets, nothing sent twice over an existing object."""
    b = world["bed"]
    target = b.s3_target("s3-flaky", url=proxy.url)
    proxy.fail_next(3, 503)
    proxy.fail_next(2, 500)
    proxy.reset_after(10 << 20)  # inside the second 8 MiB part of the first 16 MiB pack
    res = _job.backup(_job_dict(world["app"], world["repo"], [target, b.targets["filesystem"]]))
    assert [o["status"] for o in res["targets"]] == ["ok", "ok"], res["targets"]
    c = proxy.counters()
    assert c["failed"] == 5 and c["resets"] == 1 and c["overwrites"] == 0 and c["deletes"] == 0, c
    assert _direct(world, target) == [res["snapshot"]["snapshot_id"]]


def test_wrong_credentials(world, proxy, moto_auth):  # noqa: F811 (fixture)
    b = world["bed"]
    bad = b.s3_target("s3-wrongkey", url=proxy.url, access_key_id="AKIAOWBWRONGKEY00001",
                      secret_access_key="owb-wrong-secret-0123456789")
    err, out = _backup_fails(world, bad, b.targets["filesystem"])
    assert "InvalidAccessKeyId" in out["error"] and "access_key_id" in out["fix"], out
    text = json.dumps(err.details, default=str) + str(err)
    assert "owb-wrong-secret-0123456789" not in text and "AKIAOWBWRONGKEY00001" not in text


def test_missing_bucket(world, proxy):
    b = world["bed"]
    bad = b.s3_target("s3-nobucket", url=proxy.url, bucket="owbt-missing-%s" % uuid.uuid4().hex[:8])
    err, out = _backup_fails(world, bad, b.targets["filesystem"])
    assert bad["bucket"] in out["error"] and "does not exist" in out["error"], out


def test_target_full(world, tmp_path):
    b = world["bed"]
    small = str(tmp_path / "small")
    subprocess.run(["bash", SMALLFS, "mount", small, "4m"], check=True, capture_output=True)
    try:
        bad = dict(b.targets["filesystem"], name="nas-full", path=small)
        err, out = _backup_fails(world, bad, b.targets["s3"])
        assert "full" in out["error"] and "free space" in out["fix"], out
        assert b.listed(bad) == [], "nothing incomplete listed on the full target"
    finally:
        subprocess.run(["bash", SMALLFS, "umount", small], check=False, capture_output=True)


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


def test_kill_9_during_upload_then_the_next_run_sends_only_what_is_missing(world, proxy, tmp_path):
    app, b = world["app"], world["bed"]
    with open(os.path.join(app.data_dir, "uploads", "big-random.bin"), "wb") as f:
        f.write(os.urandom(40 << 20))  # several 16 MiB packs
    target = b.s3_target("s3-kill", url=proxy.url, concurrency=1)
    direct = b.backend(dict(target, endpoint_url=b.endpoint))
    job_file = str(tmp_path / "job.json")
    with open(job_file, "w", encoding="utf-8") as f:
        json.dump(_job_dict(app, world["repo"], [target, b.targets["filesystem"]]), f)
    os.chmod(job_file, 0o600)
    first = _owb_backup(job_file, str(tmp_path / "status1.json"), failpoints="upload_pack=kill")
    assert first.returncode == -signal.SIGKILL, first.stdout + first.stderr
    local = Repository(world["repo"], bed.HOST, bed.INSTANCE).list()
    assert len(local) == 1 and local[0].verified, "the local snapshot was published before the upload"
    assert _store.list_snapshots(direct, bed.HOST, bed.INSTANCE) == [], "the interrupted upload is not listed"
    there = dict(direct.list(""))
    packs_there = [k for k in there if k.startswith(_store.PACKS)]
    assert packs_there, there
    proxy.reset_counters()
    second = _owb_backup(job_file, str(tmp_path / "status2.json"))
    assert second.returncode == 0, second.stdout + second.stderr
    c = proxy.counters()
    after = dict(direct.list(""))
    new_bytes = sum(size for k, size in after.items() if k not in there)
    print("\n[offsite faults] kill -9: %d packs (%d bytes) were there; the next run sent %d bytes for %d new bytes"
          % (len(packs_there), sum(there[k] for k in packs_there), c["body_bytes"], new_bytes))
    assert c["puts_to_existing"] == 0 and c["overwrites"] == 0 and c["deletes"] == 0, c
    assert all(after[k] == there[k] for k in there), "what was there is unchanged"
    assert c["body_bytes"] <= new_bytes * 1.02 + (64 << 10), (c, new_bytes)
    listed = _store.list_snapshots(direct, bed.HOST, bed.INSTANCE)
    assert len(listed) == 1
    record = _store.load_record(direct, bed.HOST, bed.INSTANCE, listed[0]["id"])
    reused = {k.rsplit("/", 1)[-1] for k in packs_there}
    assert reused <= set(record["packs"]), "the packs the killed run left are used, not sent again under new names"
    with open(str(tmp_path / "status2.json"), encoding="utf-8") as f:
        assert json.load(f)["status"] in ("ok", "warning")  # warning: e.g. a target without encryption
