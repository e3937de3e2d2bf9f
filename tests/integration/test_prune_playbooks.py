# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/prune.yml on the controller for the targets of a fleet (inventory variables, the prune credential
merged over them), and playbooks/examples/s3-bucket.yml (amazon.aws, community.aws) against the moto S3/IAM
endpoint on 127.0.0.1. No Docker needed."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import uuid

import pytest

pytest.importorskip("ansible")

from engine import ROOT, collections_root  # noqa: E402
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store  # noqa: E402
from ansible_collections.sage_open_webui.backup.tests.tree import tree_state  # noqa: E402
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.test_store_prune import Store, db  # noqa: E402

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
SECRET = "prune-dedup-secret-%s" % uuid.uuid4().hex[:8]


def _playbook(path, args, env=None):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", **(env or {}))
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), os.path.join(ROOT, "playbooks", path),
           "-e", "ansible_python_interpreter=%s" % sys.executable] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)


@pytest.fixture
def fleet(tmp_path):
    """Two hosts backing up to one NAS (mounted at /mnt/nas on them, at <tmp>/nas on the controller)."""
    (tmp_path / "nas").mkdir()
    store = Store(tmp_path / "nas", keep_last=1)
    for host in ("web1", "web2"):
        for n in (1, 2, 3):
            store.upload(host, NOW - (4 - n) * DAY, db(n * 10 + len(host)))
    target = dict(store.target, path="/mnt/nas/owb")
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"openwebui": {"hosts": {"web1": None, "web2": None},
                                                   "vars": {"backup_targets": [target]}}}))
    secrets = tmp_path / "prune-vars.json"  # what a vaulted vars file holds
    secrets.write_text(json.dumps({"prune_credentials": {"nas": {"path": str(tmp_path / "nas"), "dedup_secret": SECRET}}}))
    return {"store": store, "args": ["-i", str(inventory), "-e", "@%s" % secrets], "tmp": tmp_path}


def test_prune_playbook_check_mode_then_run(fleet):
    before = tree_state(str(fleet["tmp"] / "nas"), content=True)
    r = _playbook("prune.yml", fleet["args"] + ["--check", "-vvv"])
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "Targets to prune: nas" in out and "target nas: would delete 4 snapshot(s)" in out, out[-3000:]
    assert tree_state(str(fleet["tmp"] / "nas"), content=True) == before
    r = _playbook("prune.yml", fleet["args"] + ["-vvv"])
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "target nas: deleted 4 snapshot(s)" in out, out[-3000:]
    assert SECRET not in out
    assert [(s["host"], s["id"]) for s in _store.list_snapshots(fleet["store"].backend)] == [
        ("web1", (NOW - DAY).strftime("%Y%m%dT%H%M%SZ")), ("web2", (NOW - DAY).strftime("%Y%m%dT%H%M%SZ"))]


def test_prune_playbook_without_the_prune_credential_reaches_nothing(fleet):
    r = _playbook("prune.yml", fleet["args"][:2])  # the hosts' view of the target: /mnt/nas/owb is not here
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "pruning failed on nas: target nas (/mnt/nas/owb): there is no backup store here" in out, out[-3000:]


@pytest.fixture
def aws(s3_endpoint, monkeypatch):
    import boto3
    for k, v in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(k, v)
    return {"s3": boto3.client("s3", endpoint_url=s3_endpoint), "iam": boto3.client("iam", endpoint_url=s3_endpoint),
            "args": ["-e", "owb_s3_endpoint_url=%s" % s3_endpoint]}


def test_s3_bucket_example_creates_versioning_lock_lifecycle_and_policies(aws):
    bucket = "owb-%s" % uuid.uuid4().hex[:10]
    r = _playbook("examples/s3-bucket.yml", aws["args"] + ["-e", "owb_s3_bucket=%s" % bucket, "--check"])
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert bucket not in [b["Name"] for b in aws["s3"].list_buckets()["Buckets"]]

    r = _playbook("examples/s3-bucket.yml", aws["args"] + ["-e", "owb_s3_bucket=%s" % bucket])
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    s3 = aws["s3"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled" and lock["Rule"]["DefaultRetention"]["Mode"] == "GOVERNANCE"
    assert lock["Rule"]["DefaultRetention"]["Days"] == 30
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Filter"] == {"Prefix": "owb/"} and rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 2
    policies = {p["PolicyName"]: p for p in aws["iam"].list_policies(Scope="Local")["Policies"]}
    docs = {}
    for role in ("host", "prune"):
        p = policies["owb-%s-%s" % (role, bucket)]
        doc = aws["iam"].get_policy_version(PolicyArn=p["Arn"], VersionId=p["DefaultVersionId"])["PolicyVersion"]["Document"]
        docs[role] = doc if isinstance(doc, dict) else json.loads(doc)
    actions = {role: {a for st in doc["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
               for role, doc in docs.items()}
    assert actions["host"] == {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:PutObjectRetention"}
    assert actions["prune"] == {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    assert {st["Resource"] for st in docs["host"]["Statement"]} == {"arn:aws:s3:::%s" % bucket, "arn:aws:s3:::%s/owb/*" % bucket}
