# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Off-host copies through ansible-playbook at -vvv: the backup role with backup_targets (an S3 target on moto,
an encrypted filesystem target, a disabled rclone target) and backup_rclone_config, on the Open WebUI 0.12.4
fixture as a plain data directory (no Docker needed). Then the job saved as the schedule role saves it, run by the
host-side runner (the timer's trigger).

Checks: each enabled target holds a complete remote snapshot (its record); the rclone config is deployed 0600;
the saved job is 0600 and holds the same targets (the rclone one with the deployed config as its config_file);
the second trigger uploads through the same job and finds everything there already; and no secret (keys,
rclone config, dedup secret) appears in the playbook's output, the saved job's result or the status file."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tarfile
import uuid

import pytest

pytest.importorskip("ansible")
pytest.importorskip("boto3")

from engine import ROOT, collections_root  # noqa: E402

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "openwebui-0.12.4", "data.tar.gz")
TOKEN = uuid.uuid4().hex[:10]
SECRETS = {
    "access_key_id": "AKIAOWB%s" % TOKEN.upper(),
    "secret_access_key": "owb-secret-access-key-%s" % TOKEN,
    "dedup_secret": "owb-dedup-secret-%s" % TOKEN,
    "rclone_config_pass": "owb-rclone-pass-%s" % TOKEN,
    "rclone_config": "owb-rclone-config-line-%s" % TOKEN,
}
PLAYBOOK = """
- name: Back up with off-host targets, then save the job as the schedule role does
  hosts: localhost
  gather_facts: false
  roles:
    - role: sage_open_webui.backup.backup
  post_tasks:
    - name: Save the job (the schedule role's step)
      ansible.builtin.include_role:
        name: sage_open_webui.backup.backup
        tasks_from: save_job
      vars:
        __backup_action: save
        __backup_job_file: "{{ job_file }}"
"""


@pytest.fixture
def world(tmp_path, s3_client, s3_endpoint):
    data = tmp_path / "srv" / "data"
    data.mkdir(parents=True)
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(str(data), filter="fully_trusted") if hasattr(tarfile, "data_filter") else tar.extractall(str(data))
    identity = tmp_path / "identity.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True).stdout.strip()
    targets = [
        {"name": "s3", "type": "s3", "endpoint_url": s3_endpoint, "region": "us-east-1", "bucket": s3_client.bucket,
         "prefix": "owb", "addressing_style": "path", "access_key_id": SECRETS["access_key_id"],
         "secret_access_key": SECRETS["secret_access_key"]},
        {"name": "nas", "type": "filesystem", "path": str(tmp_path / "nas"), "recipients": [recipient],
         "dedup_secret": SECRETS["dedup_secret"], "concurrency": 2},
        {"name": "offsite-rclone", "type": "rclone", "enabled": False, "remote": "loc:%s" % (tmp_path / "rc"),
         "rclone_config_pass": SECRETS["rclone_config_pass"]},
    ]
    (tmp_path / "nas").mkdir()
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    ev = {"backup_repository": str(tmp_path / "repo"), "backup_data_dir": str(data), "backup_instance": "owui",
          "backup_mode": "hot", "backup_targets": targets,
          "backup_rclone_config": "[loc]\ntype = local\n# %s\n" % SECRETS["rclone_config"],
          "backup_rclone_config_file": str(tmp_path / "etc" / "rclone.conf"),
          "job_file": str(tmp_path / "etc" / "owui.json")}
    return {"tmp": tmp_path, "ev": ev, "targets": targets, "s3": s3_client}


def _playbook(world):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # the target's own keys, nothing from the test env
        env.pop(key, None)
    ev = dict(world["ev"], ansible_python_interpreter=sys.executable)
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-vvv", "-i", "localhost,", "-c", "local",
           str(world["tmp"] / "site.yml"), "-e", json.dumps(ev)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900, check=False)


def _records_s3(world):
    resp = world["s3"].list_objects_v2(Bucket=world["s3"].bucket, Prefix="owb/snapshots/")
    return sorted(o["Key"] for o in resp.get("Contents", []))


def _records_fs(world):
    root = world["tmp"] / "nas" / "snapshots"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.json")) if root.exists() else []


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _no_secret(text, where):
    leaked = [name for name, value in SECRETS.items() if value in text]
    assert not leaked, "%s shows %s" % (where, leaked)


def test_backup_role_uploads_saves_the_same_targets_and_shows_no_secret(world):
    r = _playbook(world)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    _no_secret(out, "ansible-playbook -vvv")

    s3_records, fs_records = _records_s3(world), _records_fs(world)
    assert len(s3_records) == 1 and s3_records[0].endswith(".json"), s3_records
    assert len(fs_records) == 1 and fs_records[0].split("/")[1] == "owui", fs_records
    assert "off-host: s3 ok" in out and "nas ok" in out and "offsite-rclone skipped" in out, out[-4000:]

    # the restore tool the module run put on the target (built inside Ansible's payload) is the whole tool
    nas = world["targets"][1]["path"]
    tools = sorted(os.listdir(os.path.join(nas, "tools")))
    assert len(tools) == 1, tools
    listed = subprocess.run(["/usr/bin/python3", "-I", os.path.join(nas, "tools", tools[0]), "list", "--target", nas],
                            capture_output=True, text=True, timeout=120, check=False, cwd=str(world["tmp"]))
    assert listed.returncode == 0 and fs_records[0].rsplit("/", 1)[1][:-len(".json")] in listed.stdout, listed

    rclone_conf = world["ev"]["backup_rclone_config_file"]
    assert _mode(rclone_conf) == 0o600 and os.stat(rclone_conf).st_uid == 0
    with open(rclone_conf, encoding="utf-8") as f:
        assert f.read() == world["ev"]["backup_rclone_config"]

    job_file = world["ev"]["job_file"]
    assert _mode(job_file) == 0o600
    with open(job_file, encoding="utf-8") as f:
        job = json.load(f)
    expected = [dict(t, config_file=rclone_conf) if t["type"] == "rclone" else t for t in world["targets"]]
    assert job["targets"] == expected

    status = world["tmp"] / "status.json"
    runner = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "from ansible_collections.sage_open_webui.backup.plugins.module_utils._job import main; sys.exit(main(sys.argv[2:]))",
         collections_root(), job_file, "--status", str(status)],
        capture_output=True, text=True, timeout=600, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")})
    assert runner.returncode == 0, runner.stdout + runner.stderr
    _no_secret(runner.stdout + runner.stderr, "the runner's output")
    status_text = status.read_text()
    _no_secret(status_text, "the status file")
    outcomes = {t["name"]: t for t in json.loads(status_text)["targets"]}
    assert (outcomes["s3"]["status"], outcomes["nas"]["status"], outcomes["offsite-rclone"]["status"]) == ("ok", "ok", "skipped")
    assert len(_records_s3(world)) == 2 and len(_records_fs(world)) == 2
    assert outcomes["s3"]["chunks_reused"] > 0 and outcomes["s3"]["bytes_deduplicated"] > 0


def test_restore_role_from_an_encrypted_target_with_the_identity_as_text(tmp_path):
    """A host with an empty repository restores from an encrypted filesystem target (playbooks/restore.yml,
    -vvv) with restore_age_identity_content: the data comes back, the identity's text is never shown, and the
    0600 temporary file it was written to is gone afterwards."""
    import sqlite3
    import tempfile

    from ansible_collections.sage_open_webui.backup.plugins.module_utils import _job

    data = tmp_path / "srv" / "data"
    data.mkdir(parents=True)
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(str(data), filter="fully_trusted") if hasattr(tarfile, "data_filter") else tar.extractall(str(data))
    identity = tmp_path / "identity.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True).stdout.strip()
    secret_line = [line for line in identity.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-")][0]
    (tmp_path / "nas").mkdir()
    target = {"name": "nas", "type": "filesystem", "path": str(tmp_path / "nas"), "recipients": [recipient]}
    _job.backup({"data_dir": str(data), "repository": str(tmp_path / "old-host-repo"), "host": "web1",
                 "instance": "owui", "mode": "hot", "targets": [target]})

    def chats():
        conn = sqlite3.connect(str(data / "webui.db"))
        try:
            return conn.execute("SELECT count(*) FROM chat").fetchone()[0]
        finally:
            conn.close()
    before = chats()
    conn = sqlite3.connect(str(data / "webui.db"))
    conn.execute("DELETE FROM chat")
    conn.commit()
    conn.close()
    temp_dir = tempfile.gettempdir()
    leftovers = set(n for n in os.listdir(temp_dir) if n.startswith("owb-identity-"))

    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[openwebui]\nnewhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    ev = {"restore_repository": str(tmp_path / "new-host-repo"), "restore_source": "nas", "restore_targets": [target],
          "restore_age_identity_content": identity.read_text(), "restore_host": "web1", "restore_instance": "owui",
          "restore_data_dir": str(data)}
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-vvv", "-i", str(inventory),
           os.path.join(ROOT, "playbooks", "restore.yml"), "-e", json.dumps(ev)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900, check=False)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert secret_line not in out, "the identity is shown at -vvv"
    assert chats() == before > 0
    assert "from target nas" in out
    assert set(n for n in os.listdir(temp_dir) if n.startswith("owb-identity-")) == leftovers, "the identity file stays"
    assert not os.path.exists(tmp_path / "new-host-repo" / ".offsite-fetch") or not os.listdir(tmp_path / "new-host-repo" / ".offsite-fetch")
