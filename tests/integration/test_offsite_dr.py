# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Disaster recovery from an off-host target, on the REAL Open WebUI 0.12.4 image and the golden fixture.

The fixture app is backed up once (the backup job, pause mode) to three targets encrypted with age: ``s3`` (moto
on loopback), ``rclone`` (a local remote) and ``filesystem`` (a directory standing in for the NAS). Then, per
target type, a FRESH host -- a new systemd container from the base image, an empty repository, no snapshot, only
the target (its mount or credentials) and the age identity -- restores through ``ansible-playbook
playbooks/restore.yml`` with ``restore_source``: the image is created as a new container on a new volume, the
three users sign in, chats and files match expected.json, JWTs issued before the backup still work (the key came
back). The same with the self-contained restore tool alone (``python3 -I tools/owb-restore-*.py`` downloaded from
the target, no Ansible, no collection) and ``docker run`` of the image on its result. The drill
(``playbooks/verify.yml``) restores from a target into a scratch directory and boots the image there.

Restore time (acceptance: <= 1.3x ``rclone copy --transfers 8`` of the same bytes down plus the local restore of the
same snapshot) is measured on the data path, interleaved and best of three, for the restore and for the tool; the
fresh-host runs record theirs too. The figures go to .cache/testbed/offsite-dr-timings.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

import owui_client as oc
import offsite_bed as bed
from test_restore_real import _check_users

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _job, _restore
from ansible_collections.sage_open_webui.backup.plugins.module_utils._files import sha256_file

pytestmark = [pytest.mark.docker, pytest.mark.openwebui]

IMAGE = oc.DEFAULT_IMAGE
KINDS = ("s3", "rclone", "filesystem")
TIMINGS_FILE = os.path.join(oc.REPO_ROOT, ".cache", "testbed", "offsite-dr-timings.json")
_T = {}
MAX_RATIO = 1.3
REPEAT = 3


def _record(key, value):
    _T[key] = round(value, 3) if isinstance(value, float) else value
    print("[offsite dr] %s = %s" % (key, _T[key]))
    os.makedirs(os.path.dirname(TIMINGS_FILE), exist_ok=True)
    with open(TIMINGS_FILE, "w", encoding="utf-8") as fh:
        json.dump(_T, fh, indent=2, sort_keys=True)


@pytest.fixture(scope="module")
def expected():
    return oc.load_expected()


@pytest.fixture(scope="module")
def world(docker_client, s3_endpoint, tmp_path_factory, expected):
    """The fixture app, backed up once to the three targets (encrypted); its local repository stays here only
    (the fresh hosts never see it)."""
    root = tmp_path_factory.mktemp("offsite-dr")
    identity, recipient = bed.age_keypair(root)
    b = bed.Bed(root, s3_endpoint, [recipient])
    a = oc.start_openwebui(docker_client, seed_fixture=True, secret_key=oc.FIXTURE_SECRET_KEY)
    try:
        tokens = {u["email"]: a.client().signin(u["email"], u["password"]) for u in expected["users"]}
        repo = str(root / "repo")
        t0 = time.monotonic()
        res = _job.backup({"container": a.container.name, "repository": repo, "host": bed.HOST,
                           "instance": bed.INSTANCE, "mode": "pause", "targets": [b.targets[k] for k in KINDS]})
        _record("backup_with_three_targets_s", time.monotonic() - t0)
        outcomes = {o["name"]: o for o in res["targets"]}
        assert all(o["status"] == "ok" for o in outcomes.values()), outcomes
        for kind in KINDS:
            _record("upload_%s_s" % kind, outcomes[kind]["duration_s"])
            _record("upload_%s_bytes" % kind, outcomes[kind]["bytes_sent"])
        sid = res["snapshot"]["snapshot_id"]
        for kind in KINDS:
            assert b.listed(kind) == [sid], kind
        yield {"app": a, "bed": b, "repo": repo, "sid": sid, "tokens": tokens, "identity": identity,
               "root": str(root), "snapshot": res["snapshot"]}
    finally:
        a.remove()


def _fresh_host(docker_client, testbed, systemd_run_kwargs, world, kind, mounts=None):
    """A new host with only what DR gives it for target ``kind``: its mount (a NAS, the rclone remote's files)
    or S3 credentials (in the target options), the rclone config, and the age identity."""
    b = world["bed"]
    mounts = dict(mounts or {})
    if kind in bed.HOST_MOUNTS:
        mounts[b.dirs[kind]] = bed.HOST_MOUNTS[kind]
    host = bed.FreshHost(docker_client, testbed["base_image"], systemd_run_kwargs, mounts)
    with open(world["identity"], "rb") as f:
        host.put("/root/owb/identity.txt", f.read())
    if kind == "rclone":
        with open(b.rclone_conf, "rb") as f:
            host.put("/root/owb/rclone.conf", f.read())
    # nothing local: no repository, no snapshot, no collection
    code, out = host.sh("ls /var/backups/open-webui /usr/share/ansible 2>&1; command -v ansible", check=False)
    assert code != 0 and "No such file" in out, out
    return host


def _cleanup(docker_client, name):
    for call in (lambda: docker_client.containers.get(name).remove(force=True),
                 lambda: docker_client.volumes.get(name).remove(force=True)):
        try:
            call()
        except Exception:  # noqa: BLE001 - already gone
            pass


@pytest.mark.parametrize("kind", KINDS)
def test_fresh_host_restores_with_the_playbook(kind, world, expected, docker_client, testbed, systemd_run_kwargs):
    b = world["bed"]
    host = _fresh_host(docker_client, testbed, systemd_run_kwargs, world, kind)
    name = "owbt-dr-%s-%s" % (kind, uuid.uuid4().hex[:6])
    port = oc.free_loopback_port()
    target = b.on_fresh_host(kind)
    try:
        # list, pick: snapshot_info on the fresh host lists what the target holds
        listed = host.module("snapshot_info", {"target": target, "host": bed.HOST, "instance": bed.INSTANCE})
        assert [s["id"] for s in listed["snapshots"]] == [world["sid"]], listed
        picked = listed["snapshots"][-1]
        assert picked["encrypted"] and picked["host"] == bed.HOST and picked["instance"] == bed.INSTANCE, picked
        ev = {"owb_hosts": host.name, "restore_source": target["name"], "restore_targets": [target],
              "restore_age_identity": "/root/owb/identity.txt", "restore_host": bed.HOST,
              "restore_instance": bed.INSTANCE, "restore_snapshot": picked["id"], "restore_container": name,
              "restore_volume": name, "restore_image": IMAGE, "restore_health_timeout": 300,
              "restore_create_container": {"env": {"PORT": str(port)}, "network_mode": "host",
                                           "labels": {oc.TEST_LABEL: "1"}}}
        t0 = time.monotonic()
        proc, results = host.playbook("restore.yml", ev)
        wall = time.monotonic() - t0
        assert proc.returncode == 0, bed.failed_message(proc, results)
        res = next(r for r in results.values() if isinstance(r.get("timing_ms"), dict) and r.get("snapshot_id"))
        assert res["snapshot_id"] == world["sid"]
        assert res["volume_created"] and res["container_created"]
        inst = oc.OpenWebUIInstance(docker_client, docker_client.containers.get(name), name, port, IMAGE, {})
        assert oc.health(inst.base_url)
        assert inst.read_secret_key() == oc.FIXTURE_SECRET_KEY
        _check_users(inst, expected, world["tokens"])
        # nothing of the snapshot is left on the fresh host (the download went to a work dir that was removed)
        code, out = host.sh("find /var/backups /root /tmp /var/tmp -name webui.db 2>/dev/null", check=False)
        assert out.strip() == "", out
        _record("fresh_host_%s_playbook_wall_s" % kind, wall)
        _record("fresh_host_%s_restore_timing_ms" % kind, res["timing_ms"])
    finally:
        _cleanup(docker_client, name)
        host.remove()


def _assert_same_files(snapshot_path, data_dir):
    """Every file of the local snapshot's manifest is in ``data_dir`` with its sha256."""
    with open(os.path.join(snapshot_path, "manifest.json"), encoding="utf-8") as f:
        files = json.load(f)["files"]
    assert files
    for e in files:
        size, digest = sha256_file(os.path.join(data_dir, e["path"]))
        assert (size, digest) == (e["size"], e["sha256"]), e["path"]


def _tool_args(kind, b):
    """``(target argument, extra arguments, environment)`` of the tool on the fresh host."""
    if kind == "s3":
        return ("s3://%s/owb" % b.bucket, ["--endpoint-url", b.endpoint],
                {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
    if kind == "rclone":
        return "rclone:%s:%s" % (b.remote, bed.HOST_MOUNTS[kind]), ["--rclone-config", "/root/owb/rclone.conf"], {}
    return bed.HOST_MOUNTS[kind], [], {}


_DOWNLOAD_TOOL = {
    # what an operator types on the fresh host to get the tool, with only the target's access
    "s3": "python3 -c \"import boto3, os; c = boto3.client('s3', endpoint_url='%(endpoint)s'); "
          "k = [o['Key'] for o in c.list_objects_v2(Bucket='%(bucket)s', Prefix='owb/tools/')['Contents']][0]; "
          "c.download_file('%(bucket)s', k, '/root/tool/' + os.path.basename(k))\"",
    "rclone": "rclone --config /root/owb/rclone.conf copy %(remote)s:%(mount)s/tools /root/tool",
    "filesystem": "cp %(mount)s/tools/owb-restore-*.py /root/tool/",
}


@pytest.mark.parametrize("kind", KINDS)
def test_fresh_host_restores_with_the_tool_alone(kind, world, expected, docker_client, testbed, systemd_run_kwargs,
                                                 tmp_path):
    b = world["bed"]
    out_dir = str(tmp_path / "restored")
    os.makedirs(out_dir)
    # the tool writes into /srv/restored, a directory of this machine, where docker run picks the data up
    host = _fresh_host(docker_client, testbed, systemd_run_kwargs, world, kind, {out_dir: "/srv/restored"})
    target, extra, env = _tool_args(kind, b)
    inst = None
    try:
        host.sh("mkdir -p /root/tool && " + _DOWNLOAD_TOOL[kind] % {
            "endpoint": b.endpoint, "bucket": b.bucket, "remote": b.remote, "mount": bed.HOST_MOUNTS.get(kind)}, env=env)
        tool = host.sh("ls /root/tool/owb-restore-*.py")[1].strip()
        assert tool and "\n" not in tool, tool
        # no Ansible and no collection on this host: the tool stands alone (-I: no site dirs, no PYTHONPATH)
        assert host.sh("python3 -c 'import ansible_collections'", check=False)[0] != 0
        args = "--target %s %s" % (target, " ".join(extra))
        listing = host.sh("python3 -I %s list %s" % (tool, args), env=env)[1]
        assert world["sid"] in listing and bed.HOST in listing and bed.INSTANCE in listing, listing
        t0 = time.monotonic()
        dummy, said = host.sh("python3 -I %s fetch %s %s --identity /root/owb/identity.txt --host %s --instance %s "
                              "--to /srv/restored/data --key-file /srv/restored/key" % (
                                  tool, world["sid"], args, bed.HOST, bed.INSTANCE), env=env)
        fetch_s = time.monotonic() - t0
        assert "docker run" in said, said
        with open(os.path.join(out_dir, "key"), encoding="utf-8") as f:
            key = f.read().strip()
        assert key == oc.FIXTURE_SECRET_KEY
        _assert_same_files(world["snapshot"]["path"], os.path.join(out_dir, "data"))
        # docker run of the real image on the result (its data/ as the data directory, the key in its layer)
        t1 = time.monotonic()
        inst = oc.start_openwebui(docker_client, volume=os.path.join(out_dir, "data"), seed_fixture=False, secret_key=key,
                                  timeout=300)
        boot_s = time.monotonic() - t1
        _check_users(inst, expected, world["tokens"])
        _record("fresh_host_%s_tool_fetch_s" % kind, fetch_s)
        _record("fresh_host_%s_tool_docker_run_to_healthy_s" % kind, boot_s)
    finally:
        if inst is not None:
            inst.remove(keep_volume=True)
        host.remove()
        shutil.rmtree(out_dir, ignore_errors=True)


def test_drill_from_a_target(world, expected, docker_client, testbed, systemd_run_kwargs):
    """playbooks/verify.yml on a fresh host with only the s3 target and the identity: restores the newest remote
    snapshot into a scratch directory, checks it, boots the image on it and reports success."""
    # the host's Docker engine is this machine's: the scratch copy it boots must be at the same path on both
    scratch = os.path.join(world["root"], "drill-scratch")
    os.makedirs(scratch, mode=0o700)
    host = _fresh_host(docker_client, testbed, systemd_run_kwargs, world, "s3", mounts={scratch: scratch})
    target = world["bed"].on_fresh_host("s3")
    try:
        ev = {"owb_hosts": host.name, "verify_source": target["name"], "verify_targets": [target],
              "verify_age_identity": "/root/owb/identity.txt", "verify_host": bed.HOST, "verify_instance": bed.INSTANCE,
              "verify_scratch": scratch, "verify_image": IMAGE, "verify_boot": "always",
              "verify_health_timeout": 300}
        proc, results = host.playbook("verify.yml", ev)
        assert proc.returncode == 0, bed.failed_message(proc, results)
        drills = [d for r in results.values() for d in (r.get("drills") or [])]
        assert len(drills) == 1 and drills[0]["ok"], drills
        d = drills[0]
        assert d["snapshot_id"] == world["sid"] and d["booted_image"] == IMAGE and d["boot_to_healthy_s"] > 0
        got = d["databases"]["webui.db"]["row_counts"]
        assert got and got == {k: v for k, v in expected["table_row_counts"].items() if k in got}
        _record("drill_from_s3_rto_s", d["rto_s"])
        # the scratch copy is gone afterwards
        assert host.sh("ls -A %s" % scratch, check=False)[1].strip() == ""
    finally:
        host.remove()


# ------------------------------------------------------------------------------------------ restore time

def _timed_restore(world, dest, **source):
    """Seconds of one restore of the snapshot into a new, empty data directory ``dest`` (no app: the data path)."""
    os.makedirs(dest)
    t0 = time.monotonic()
    _restore.run(dict({"repository": world["repo"], "host": bed.HOST, "instance": bed.INSTANCE, "data_dir": dest,
                       "alembic_check": "skip"}, **source))
    return time.monotonic() - t0


def _timed_tool(world, kind, dest):
    """Seconds of ``python3 -I owb-restore-*.py fetch`` (Debian's python3, the tool as the target holds it)."""
    b = world["bed"]
    backend = b.backend(kind)
    key = [k for k, _size in backend.list("tools/")][0]
    tool = os.path.join(os.path.dirname(dest), os.path.basename(key))
    with open(tool, "wb") as f:
        f.write(backend.get(key))
    target, extra = {"s3": ("s3://%s/owb" % b.bucket, ["--endpoint-url", b.endpoint]),
                     "rclone": ("rclone:" + b.targets["rclone"]["remote"], ["--rclone-config", b.rclone_conf]),
                     "filesystem": (b.dirs["filesystem"], [])}[kind]
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    t0 = time.monotonic()
    subprocess.run(["/usr/bin/python3", "-I", tool, "fetch", world["sid"], "--target", target] + extra + [
        "--identity", world["identity"], "--host", bed.HOST, "--instance", bed.INSTANCE, "--to", dest,
        "--key-file", dest + ".key"], env=env, check=True, capture_output=True)
    return time.monotonic() - t0


@pytest.fixture(scope="module")
def app_start_s(world, docker_client, tmp_path_factory):
    """Seconds from ``docker start`` to healthy of the image on data restored from a target: the step every restore
    ends with, the same on both sides of the comparison (measured once: it is the noisiest on a shared machine)."""
    dest = str(tmp_path_factory.mktemp("boot") / "data")
    _timed_restore(world, dest, repository=dest + "-repo", source="filesystem", targets=[world["bed"].targets["filesystem"]],
                   age_identity=world["identity"])
    inst = oc.start_openwebui(docker_client, volume=dest, seed_fixture=False, secret_key=oc.FIXTURE_SECRET_KEY, timeout=300)
    try:
        _record("app_start_to_healthy_s", inst.timings["start_to_healthy_s"])
        return inst.timings["start_to_healthy_s"]
    finally:
        inst.remove(keep_volume=True)


@pytest.mark.parametrize("kind", KINDS)
def test_restore_time_vs_rclone_copy_down_plus_local_restore(kind, world, app_start_s, tmp_path):
    """Acceptance: a restore from the target takes <= 1.3x ``rclone copy --transfers 8`` of the same bytes down plus
    the local restore of the same snapshot. The data paths are measured interleaved, best of three (the machine is
    shared); both restores end with the same app start, added to both sides. The data path alone is recorded too."""
    times = {"remote": [], "tool": [], "copy": [], "local": []}
    for i in range(REPEAT):
        d = str(tmp_path / str(i))
        times["remote"].append(_timed_restore(world, os.path.join(d, "remote"), repository=os.path.join(d, "repo"),
                                              source=kind, targets=[world["bed"].targets[kind]],
                                              age_identity=world["identity"]))
        times["copy"].append(world["bed"].rclone_copy_s(kind, os.path.join(d, "copy")))
        times["local"].append(_timed_restore(world, os.path.join(d, "local")))
        times["tool"].append(_timed_tool(world, kind, os.path.join(d, "tool")))
        shutil.rmtree(d)
    best = {k: min(v) for k, v in times.items()}
    baseline = best["copy"] + best["local"]
    _record("%s_data_path_best_of_%d_s" % (kind, REPEAT), best)
    _record("%s_data_path_ratio_restore" % kind, best["remote"] / baseline)
    _record("%s_data_path_ratio_tool" % kind, best["tool"] / baseline)
    ratios = [(best[k] + app_start_s) / (baseline + app_start_s) for k in ("remote", "tool")]
    _record("%s_restore_ratio" % kind, ratios[0])
    _record("%s_tool_ratio" % kind, ratios[1])
    assert max(ratios) <= MAX_RATIO, _T
