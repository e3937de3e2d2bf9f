# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Two plans on one systemd host (docs/PLANS.md), deployed by the schedule role through a real playbook: plan 1
(daily, pause, to the test bed's S3 endpoint, keep 7 daily / 4 weekly) and plan 2 (weekly, cold, kept locally for
the NAS, keep 8 weekly / 12 monthly). Both timers' services started at the same moment run one after the other;
a plan taken off the list goes from the host, its snapshots stay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

pytest.importorskip("ansible")
pytest.importorskip("boto3")

from engine import ROOT  # noqa: E402
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _pull  # noqa: E402

pytestmark = pytest.mark.docker

REPO = "/var/backups/owb-plans"
STATUS = "/var/lib/sage-open-webui-backup"


@pytest.fixture
def host(docker_client, testbed, systemd_run_kwargs):
    """A booted systemd host (the test bed's base image) that drives sibling containers."""
    kwargs = dict(systemd_run_kwargs)
    kwargs["volumes"] = dict(kwargs["volumes"], **{
        "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
        "/var/lib/docker/volumes": {"bind": "/var/lib/docker/volumes", "mode": "rw"}})
    c = docker_client.containers.run(testbed["base_image"], detach=True, name="owbt-plans-%s" % uuid.uuid4().hex[:8],
                                     labels={"owb-testbed": "1", "owb-test": "1"}, **kwargs)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if c.exec_run(["systemctl", "is-system-running"]).output.decode().strip() in ("running", "degraded"):
                break
            time.sleep(0.2)
        yield c
    finally:
        c.remove(force=True, v=True)


def sh(host, cmd):
    res = host.exec_run(["sh", "-c", cmd])
    return res.exit_code, res.output.decode("utf-8", "replace")


def deploy(host, tmp_path, extra):
    """playbook: the schedule role on the container (connection community.docker.docker)."""
    play = tmp_path / "plans.yml"
    play.write_text("- hosts: all\n  gather_facts: false\n  roles:\n    - role: sage_open_webui.backup.schedule\n")
    ev = dict({"ansible_python_interpreter": "/usr/bin/python3", "backup_repository": REPO,
               "schedule_randomized_delay": "0"}, **extra)
    # collections/ holds a link to this checkout (engine.collections_root() may find another checkout's link first)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "collections"), ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1")
    exe = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.run([exe, "-i", "%s," % host.name, "-c", "community.docker.docker", str(play), "-e", json.dumps(ev)],
                          capture_output=True, text=True, env=env, timeout=900, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return proc.stdout


def plans(app, s3_client, s3_endpoint):
    s3 = {"name": "s3", "type": "s3", "bucket": s3_client.bucket, "endpoint_url": s3_endpoint, "region": "us-east-1",
          "addressing_style": "path", "access_key_id": "testing", "secret_access_key": "testing"}
    return [{"name": "daily", "on_calendar": "*-*-* 03:00:00", "mode": "pause", "targets": [s3],
             "keep_last": 0, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 0},
            {"name": "weekly", "on_calendar": "Sun *-*-* 04:00:00", "mode": "cold", "targets": [],
             "keep_last": 0, "keep_daily": 0, "keep_weekly": 8, "keep_monthly": 12, "backup_health_timeout": 120}]


def record(host, inst, plan):
    code, out = sh(host, "cat %s/%s@%s.json" % (STATUS, inst, plan))
    assert code == 0, out
    return json.loads(out)


class DockerRemote(object):
    """The host's repository read by rsync through ``docker exec`` (the test's stand-in for ssh)."""

    def __init__(self, container):
        self.label = container.name
        self.rsync_args = ["-e", "docker exec -i"]
        self._prefix = "%s:%s/" % (container.name, REPO)

    def source(self, rel):
        return self._prefix + rel


def pull_to_server(host, repo, name, inst):
    """The backup server's pull of both plans' snapshots (count 2), keeping 8 weekly / 12 monthly."""
    config = _pull.normalize({"config_schema": 1, "repository": str(repo), "status_dir": str(repo) + "-status",
                              "hosts": [{"name": name, "instances": [inst]}], "count": 2,
                              "keep_last": 0, "keep_daily": 0, "keep_weekly": 8, "keep_monthly": 12})
    records = _pull.run_host(config, config["hosts"][0], remote=DockerRemote(host))
    assert len(records) == 1, records
    return records[0]


def test_two_plans_on_one_host_run_one_after_the_other(host, sample_app, s3_client, s3_endpoint, tmp_path):
    inst = sample_app.name
    extra = {"backup_container": inst, "schedule_plans": plans(sample_app, s3_client, s3_endpoint)}
    deploy(host, tmp_path, extra)
    units = ["owb-backup-%s@%s" % (inst, p) for p in ("daily", "weekly")]
    files = ["/etc/systemd/system/%s.%s" % (u, k) for u in units for k in ("service", "timer")]
    code, out = sh(host, "systemd-analyze verify %s" % " ".join(files))
    assert code == 0, out
    code, out = sh(host, "systemctl is-enabled %s" % " ".join(u + ".timer" for u in units))
    assert code == 0, out
    code, out = sh(host, "stat -c '%%a %%n' /etc/sage-open-webui-backup/%s@daily.json /etc/sage-open-webui-backup/%s@weekly.json"
                   % (inst, inst))
    assert out.split() == ["600", "/etc/sage-open-webui-backup/%s@daily.json" % inst,
                           "600", "/etc/sage-open-webui-backup/%s@weekly.json" % inst], out

    # both timers' services at the same moment
    code, out = sh(host, "systemctl start --no-block %s" % " ".join(u + ".service" for u in units))
    assert code == 0, out
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        states = sh(host, "systemctl is-active %s" % " ".join(u + ".service" for u in units))[1].split()
        if all(state in ("inactive", "failed") for state in states):
            break
        time.sleep(1)
    daily, weekly = record(host, inst, "daily"), record(host, inst, "weekly")
    journal = sh(host, "journalctl -u '%s@*' --no-pager" % ("owb-backup-" + inst))[1]
    for rec in (daily, weekly):
        assert rec["status"] in ("ok", "warning") and rec["trigger"] == "timer", (rec, journal[-4000:])
    first, second = sorted((daily, weekly), key=lambda r: r["started"])
    assert first["finished"] <= second["started"], (daily, weekly)
    assert "waiting for plan %s" % first["plan"] in journal, journal[-4000:]
    print("\n[plans] %s %s..%s, %s %s..%s" % (first["plan"], first["started"], first["finished"],
                                              second["plan"], second["started"], second["finished"]))

    # plan 1 landed in S3, plan 2 stayed local (cold), each claimed by its plan
    assert daily["snapshot"]["mode"] == "pause" and weekly["snapshot"]["mode"] == "cold"
    assert [t["name"] for t in daily["targets"]] == ["s3"] and daily["targets"][0]["status"] == "ok"
    assert weekly["targets"] == []
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_client.bucket).get("Contents", [])]
    assert "snapshots/%s/%s/%s.json" % (daily["host"], inst, daily["snapshot"]["id"]) in keys, keys
    code, out = sh(host, "cat %s/%s/%s/.plans.json" % (REPO, daily["host"], inst))
    claims = json.loads(out)["claims"]
    assert claims == {daily["snapshot"]["id"]: ["daily"], weekly["snapshot"]["id"]: ["weekly"]}, out

    # plan 2 on the backup server: its pull (the engine of owb-pull; rsync through `docker exec` instead of the
    # rrsync -ro key, which test_pull_restricted.py and molecule/nas cover) lands it, verified, with its own retention
    server = pull_to_server(host, tmp_path / "nas", daily["host"], inst)
    assert server["status"] == "ok", server
    landed = sorted(os.listdir(str(tmp_path / "nas" / daily["host"] / inst)))
    assert weekly["snapshot"]["id"] in landed and daily["snapshot"]["id"] in landed, landed

    # weekly off the list: its timer, job and record go, its snapshot stays
    deploy(host, tmp_path, dict(extra, schedule_plans=extra["schedule_plans"][:1]))
    code, out = sh(host, "ls /etc/systemd/system /etc/sage-open-webui-backup %s" % STATUS)
    assert "%s@weekly" % inst not in out and "%s@daily.timer" % inst in out, out
    code, out = sh(host, "ls %s/%s/%s" % (REPO, daily["host"], inst))
    assert weekly["snapshot"]["id"] in out.split(), out

    # ...and daily's next run, whose job lists the plans now, forgets weekly: its snapshot falls under daily's
    # retention (7 daily / 4 weekly: one per day, so only daily's new snapshot stays)
    job = json.loads(sh(host, "cat /etc/sage-open-webui-backup/%s@daily.json" % inst)[1])
    assert job["plans"] == ["daily"], job
    code, out = sh(host, "systemctl start owb-backup-%s@daily.service" % inst)
    assert code == 0, out + sh(host, "journalctl -u 'owb-backup-%s@*' --no-pager | tail -20" % inst)[1]
    again = record(host, inst, "daily")
    assert "(forgot plan weekly)" in again["summary"], again
    code, out = sh(host, "ls %s/%s/%s; cat %s/%s/%s/.plans.json" % (REPO, daily["host"], inst, REPO, daily["host"], inst))
    assert weekly["snapshot"]["id"] not in out and again["snapshot"]["id"] in out, out
