# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The drill timer's job, end to end on the real Docker engine: the job saved by openwebui_restore (action=drill,
job_file; what the schedule role does), run by the rendered owb-drill runner (what the timer starts), which
restores the newest snapshot of the real Open WebUI 0.12.4 fixture into scratch and boots the real image on it.
Checked: the run record (status ok, rto_s, the newest snapshot's id), the webhook notification, the metrics file;
then a corrupt snapshot and an image that does not exist each give a failed record with a clear error, and the
runner exits 1; so does a source that cannot be listed, for each instance drilled before. Last, the schedule
role (schedule_drill) on a systemd host: the timer is installed on its calendar and its hardened service runs the
drill and records it."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import tarfile
import threading

import jinja2
import pytest

import offsite_bed as bed
import owui_client as oc

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _snapshot
from ansible_collections.sage_open_webui.backup.tests import module_runner

pytestmark = [pytest.mark.docker, pytest.mark.openwebui]

RUNNER_TEMPLATE = os.path.join(oc.REPO_ROOT, "roles", "schedule", "templates", "owb-drill.py.j2")
IMAGE = oc.DEFAULT_IMAGE
NO_IMAGE = "local/owb-no-such-image:0"


class Hooks(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):  # noqa: N802 - http.server's name
        Hooks.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("drill-timer")
    data = tmp / "srv" / "data"
    data.mkdir(parents=True)
    with tarfile.open(os.path.join(oc.FIXTURE_DIR, "data.tar.gz")) as tar:
        tar.extractall(str(data), filter="fully_trusted") if hasattr(tarfile, "data_filter") else tar.extractall(str(data))
    key = tmp / "srv" / ".webui_secret_key"
    key.write_text(oc.FIXTURE_SECRET_KEY + "\n")
    repo = str(tmp / "repo")
    snaps = {}
    for instance in ("owui", "owui", "broken"):  # owui twice: the drill takes the newest
        snaps[instance] = _snapshot.run({"data_dir": str(data), "repository": repo, "host": "h1", "instance": instance,
                                         "secret_key_file": str(key)})["snapshot_id"]
    db = os.path.join(repo, "h1", "broken", snaps["broken"], "data", "webui.db")
    os.chmod(db, 0o600)
    with open(db, "r+b") as f:  # a flipped byte the manifest's sha256 catches
        f.seek(5000)
        f.write(b"\xff")
    runner = tmp / "owb-drill"
    with open(RUNNER_TEMPLATE, encoding="utf-8") as f:
        runner.write_text(jinja2.Template(f.read()).render(schedule_python=sys.executable, ansible_managed="test",
                                                           schedule_lib_dir=module_runner.COLLECTIONS_PATH))
    runner.chmod(0o755)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"tmp": tmp, "repo": repo, "snaps": snaps, "runner": str(runner), "status": str(tmp / "status"),
           "metrics": str(tmp / "metrics"), "hook": "http://127.0.0.1:%d/hook" % server.server_address[1]}
    server.shutdown()


def _save_and_run(world, tmp_path, **args):
    """The job saved as the schedule role saves it, then run as the timer runs it: ``(exit code, output, records)``."""
    job_file = str(tmp_path / "jobs" / "owb-drill.json")
    os.makedirs(world["metrics"], exist_ok=True)
    args = dict({"action": "drill", "repository": world["repo"], "scratch": str(tmp_path / "scratch"), "host": "h1",
                 "job_file": job_file, "status_dir": world["status"], "metrics_dir": world["metrics"],
                 "notify": [{"name": "ops", "type": "webhook", "url": world["hook"], "events": ["success", "failure"]}]},
                **args)
    rc, res = module_runner.run_module("openwebui_restore", args, tmp_path)
    assert rc == 0 and res["changed"] and res["job_file"] == job_file, res
    assert world["hook"] not in json.dumps(res)  # the notifier URL is a secret
    proc = subprocess.run([world["runner"], job_file], capture_output=True, text=True, timeout=900, check=False)
    records = {}
    for name in sorted(os.listdir(world["status"])):
        with open(os.path.join(world["status"], name), encoding="utf-8") as f:
            records[name] = json.load(f)
    return proc.returncode, proc.stdout + proc.stderr, records


def test_the_timer_job_drills_and_boots_the_newest_snapshot(world, tmp_path):
    Hooks.received.clear()
    rc, out, records = _save_and_run(world, tmp_path, instance="owui", image=IMAGE, boot="always", health_timeout=600)
    assert rc == 0, out
    rec = records["h1.owui@drill.json"]  # h1 is not this machine: a drill of another host's snapshots
    assert rec["status"] == "ok" and rec["kind"] == "drill" and rec["plan"] == "drill" and rec["trigger"] == "timer", rec
    assert rec["snapshot"]["id"] == world["snaps"]["owui"] and rec["rto_s"] > 0 and rec["source"] == "local"
    assert rec["checks"]["booted_image"] == IMAGE and rec["checks"]["boot_to_healthy_s"] > 0
    assert rec["last_success"] == rec["finished"] and rec["notifications"][0]["ok"], rec["notifications"]
    assert [(h["event"], h["instance"], h["status"]) for h in Hooks.received] == [("success", "owui", "ok")]
    with open(os.path.join(world["metrics"], "sage_open_webui_backup.prom"), encoding="utf-8") as f:
        prom = f.read()
    assert 'owb_drill_rto_seconds{openwebui="owui",plan="drill",host="h1"} %s' % rec["rto_s"] in prom, prom
    assert "h1/owui %s: ok, RTO" % world["snaps"]["owui"] in out
    print("[drill timer] RTO %.1f s (boot to healthy %.1f s)" % (rec["rto_s"], rec["checks"]["boot_to_healthy_s"]))


def test_a_corrupt_snapshot_and_a_missing_image_fail_clearly(world, tmp_path):
    Hooks.received.clear()
    rc, out, records = _save_and_run(world, tmp_path, image=NO_IMAGE, boot="always")
    assert rc == 1, out
    broken, owui = records["h1.broken@drill.json"], records["h1.owui@drill.json"]
    assert broken["status"] == "failed" and broken["snapshot"]["id"] == world["snaps"]["broken"] and broken["rto_s"] is None
    assert "snapshot %s failed verification" % world["snaps"]["broken"] in broken["error"] and "webui.db" in broken["error"]
    assert owui["status"] == "failed" and owui["error"] == "image %s is not on this host" % NO_IMAGE
    assert owui["snapshot"]["id"] == world["snaps"]["owui"]
    assert sorted((h["event"], h["instance"]) for h in Hooks.received) == [("failure", "broken"), ("failure", "owui")]
    assert "h1/broken %s: FAILED: drill h1/broken" % world["snaps"]["broken"] in out
    assert "h1/owui %s: FAILED: image %s is not on this host" % (world["snaps"]["owui"], NO_IMAGE) in out


def test_a_source_that_cannot_be_listed_fails_the_drills_it_had(world, tmp_path):
    """The drill's source (a NAS share) is gone on Sunday: the instances drilled before (h1/owui, h1/broken, from
    their records) turn failed in their records and the metrics, the failure is notified, the runner exits 1."""
    Hooks.received.clear()
    gone = str(tmp_path / "nas-not-mounted")
    rc, out, records = _save_and_run(world, tmp_path, source="nas", boot="never",
                                     targets=[{"name": "nas", "type": "filesystem", "path": gone}])
    assert rc == 1, out
    assert "owb-drill: FAILED: " in out and gone in out, out
    for instance in ("broken", "owui"):
        rec = records["h1.%s@drill.json" % instance]
        assert rec["status"] == "failed" and rec["source"] == "nas" and gone in rec["error"], rec
        assert rec["snapshot"] is None and rec["rto_s"] is None
    assert sorted((h["event"], h["instance"]) for h in Hooks.received) == [("failure", "broken"), ("failure", "owui")]
    with open(os.path.join(world["metrics"], "sage_open_webui_backup.prom"), encoding="utf-8") as f:
        prom = f.read()
    assert 'owb_last_run_status{openwebui="owui",plan="drill",host="h1"} 2' in prom, prom


PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - name: The drill timer, as a backup server would install it
      ansible.builtin.include_role:
        name: sage_open_webui.backup.schedule
        tasks_from: drill
"""


def test_the_timer_on_a_systemd_host(world, docker_client, testbed, systemd_run_kwargs, tmp_path):
    scratch = str(world["tmp"] / "host-scratch")  # the host's Docker engine is this machine's: same paths on both
    os.makedirs(scratch, mode=0o700)
    host = bed.FreshHost(docker_client, testbed["base_image"], systemd_run_kwargs,
                         {world["repo"]: world["repo"], scratch: scratch})
    play = tmp_path / "drill-timer.yml"
    play.write_text(PLAY)
    try:
        ev = {"schedule_drill": True, "verify_repository": world["repo"], "verify_scratch": scratch,
              "verify_host": "h1", "verify_instance": "owui", "verify_image": IMAGE, "verify_boot": "always",
              "verify_health_timeout": 600}
        proc = host._ansible("ansible-playbook", [str(play), "-e", json.dumps(ev)], 900)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        assert host.sh("systemctl is-enabled owb-drill.timer")[1].strip() == "enabled"
        assert "Sun *-*-* 05:30:00" in host.sh("systemctl cat owb-drill.timer")[1]
        assert host.sh("stat -c %a /etc/sage-open-webui-backup/owb-drill.json")[1].strip() == "600"
        code, out = host.sh("systemctl start owb-drill.service", check=False)  # oneshot: returns when it is done
        journal = host.sh("journalctl -u owb-drill.service --no-pager | tail -20", check=False)[1]
        assert code == 0, out + journal
        rec = json.loads(host.sh("cat /var/lib/sage-open-webui-backup/h1.owui@drill.json")[1])
        assert rec["status"] == "ok" and rec["trigger"] == "timer" and rec["snapshot"]["id"] == world["snaps"]["owui"], rec
        assert rec["rto_s"] > 0 and rec["checks"]["booted_image"] == IMAGE
        assert "h1/owui %s: ok, RTO" % world["snaps"]["owui"] in journal
    finally:
        host.remove()
