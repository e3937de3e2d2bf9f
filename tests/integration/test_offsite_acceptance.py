# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 9's measured acceptance, through the real engine (``owb-backup JOB.json``, the host run the timer
starts) to an encrypted s3 target: moto on 127.0.0.1 behind the fault proxy, which counts what reaches the
endpoint.

One scenario (module scope), three host runs of one sample app whose webui.db is grown first to ~100 MB (so
the scattered index writes of random UUID keys show, as in bench/piece_study.py):
  run 1  first upload;  run 2  the same data again (the app's writer is idle: an unchanged snapshot);
  1,000 Open WebUI-like chats written into the live webui.db;  run 3.
Each test checks one acceptance line and prints its figures.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "tests", "testbed"))

import gen  # noqa: E402  bench/gen.py: the Open WebUI-like chat rows
import piece_study  # noqa: E402  bench/piece_study.py: the changed-pages floor
from faultproxy import FaultProxy  # noqa: E402

pytestmark = [pytest.mark.docker]

SAMPLE_IMAGE = os.environ.get("OWB_SAMPLE_IMAGE", "local/owb-sampleapp:latest")
HOST, INSTANCE = "acc", "owb"
GROW_BYTES = 100 * 1000 * 1000
CHATS = 1000
HOST_RUN = r"""
import sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _job
sys.exit(_job.main(sys.argv[2:]))
"""


def collections_root():
    for p in sys.path:
        if os.path.isdir(os.path.join(p, "ansible_collections", "sage_open_webui", "backup", "plugins")):
            return p
    raise RuntimeError("collection not on sys.path (tests/conftest.py puts it there)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_app(client, port):
    """A sample app on a fresh volume whose writer stays idle (WRITE_INTERVAL 1 h): nothing changes by itself."""
    tag = uuid.uuid4().hex[:8]
    vol = client.volumes.create("owbt-acc-%s" % tag, labels={"owb-testbed": "1"})
    app = client.containers.run(SAMPLE_IMAGE, detach=True, name="owbt-acc-%s" % tag, network_mode="host",
                                environment={"PORT": str(port), "WRITE_INTERVAL": "3600"},
                                volumes={vol.name: {"bind": "/app/backend/data", "mode": "rw"}},
                                labels={"owb-testbed": "1", "owb-test": "1"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/writer" % port, timeout=2) as r:
                if json.load(r)["seq"] >= 1:
                    return app, vol
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("sample app not writing after 60 s:\n%s" % app.logs().decode(errors="replace")[-2000:])


def host_run(job_path, status_path):
    """One ``owb-backup JOB --status FILE`` in its own process with no AWS_* variables (credentials come from
    the job only). Returns (returncode, output, status text)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    p = subprocess.run([sys.executable, "-c", HOST_RUN, collections_root(), job_path, "--status", status_path],
                       capture_output=True, text=True, env=env, timeout=900, check=False)
    with open(status_path) as f:
        return p.returncode, p.stdout + p.stderr, f.read()


def db_bytes_sent(s3, bucket, record_key, before_packs, identity):
    """Plaintext bytes of data/webui.db that went into packs this run made (each (pack, offset) once)."""
    record = json.loads(s3.get_object(Bucket=bucket, Key=record_key)["Body"].read())
    inner = _store.open_manifest(record, identity)
    db = [f for f in inner["files"] if f["path"] == "data/webui.db"][0]
    sent = {(p, off): n for p, off, n in db["chunks"] if p not in before_packs}
    return sum(sent.values()), set(record["packs"]), record


@pytest.fixture(scope="module")
def scenario(docker_client, s3_endpoint, tmp_path_factory):
    import boto3

    work = tmp_path_factory.mktemp("offsite-acc")
    identity = str(work / "identity.txt")
    subprocess.run(["age-keygen", "-o", identity], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", identity], check=True, capture_output=True, text=True).stdout.strip()
    with open(identity) as f:
        identity_text = [line for line in f.read().splitlines() if line.startswith("AGE-SECRET-KEY-")][0]
    secrets = {"access key": "AKIAOWBACC" + uuid.uuid4().hex[:10].upper(), "secret key": uuid.uuid4().hex + uuid.uuid4().hex[:8],
               "age identity": identity_text}
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      aws_access_key_id=secrets["access key"], aws_secret_access_key=secrets["secret key"])
    bucket = "owbt-acc-%s" % uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket)
    proxy = FaultProxy(s3_endpoint)
    proxy.start()
    app, vol = start_app(docker_client, free_port())
    try:
        db = os.path.join(vol.attrs["Mountpoint"], "webui.db")
        users = [r[0] for r in sqlite3.connect(db).execute("SELECT id FROM user ORDER BY created_at")]
        gen._grow_webui_db(db, GROW_BYTES, users, b"owb-acceptance")
        repo = str(work / "repo")
        target = {"name": "offsite", "type": "s3", "bucket": bucket, "endpoint_url": proxy.url, "region": "us-east-1",
                  "addressing_style": "path", "access_key_id": secrets["access key"],
                  "secret_access_key": secrets["secret key"], "recipients": [recipient]}
        job = {"container": app.name, "repository": repo, "host": HOST, "instance": INSTANCE, "mode": "pause",
               "targets": [target]}
        job_path = str(work / "job.json")
        with open(os.open(job_path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            json.dump(job, f)
        runs = []

        def run(label):
            proxy.reset_counters()
            t0 = time.monotonic()
            rc, out, status = host_run(job_path, str(work / ("status-%d.json" % len(runs))))
            counters = proxy.counters()
            doc = json.loads(status)
            assert rc == 0 and doc["status"] == "ok", "%s failed (rc %s):\n%s\n%s" % (label, rc, out[-3000:], status[-3000:])
            sid = doc["snapshot"]["id"]
            runs.append({"label": label, "seconds": round(time.monotonic() - t0, 1), "counters": counters, "output": out,
                         "status": status, "sid": sid, "outcome": doc["targets"][0],
                         "path": os.path.join(repo, HOST, INSTANCE, sid)})
            return runs[-1]

        run("first upload")
        run("unchanged")
        conn = piece_study.write_chats(db, users, CHATS, "turns", b"owb-acceptance/new")
        conn.close()
        run("after %d chats" % CHATS)
        yield {"runs": runs, "s3": s3, "bucket": bucket, "identity": identity, "secrets": secrets, "repo": repo,
               "work": str(work)}
    finally:
        proxy.stop()
        app.remove(force=True, v=True)
        vol.remove(force=True)


def test_second_upload_of_unchanged_snapshot_sends_at_most_1_percent(scenario):
    first, second = scenario["runs"][0], scenario["runs"][1]
    b1, b2 = first["counters"]["body_bytes"], second["counters"]["body_bytes"]
    print("[acceptance] first upload %d B at the endpoint (%s s), unchanged second %d B = %.3f %% (%s s)"
          % (b1, first["seconds"], b2, 100.0 * b2 / b1, second["seconds"]))
    assert first["sid"] != second["sid"]
    assert b1 > GROW_BYTES / 2, first["counters"]
    assert b2 <= 0.01 * b1, (first["counters"], second["counters"], second["outcome"])


def test_db_part_after_1000_chats_at_most_twice_the_changed_pages(scenario):
    runs, s3, bucket = scenario["runs"], scenario["s3"], scenario["bucket"]
    floor = piece_study.compare(os.path.join(runs[1]["path"], "data", "webui.db"),
                                os.path.join(runs[2]["path"], "data", "webui.db"))
    dummy, before, dummy2 = db_bytes_sent(s3, bucket, _store.snapshot_key(HOST, INSTANCE, runs[1]["sid"]), set(),
                                          scenario["identity"])
    sent, dummy, record = db_bytes_sent(s3, bucket, runs[2]["outcome"]["snapshot_key"], before, scenario["identity"])
    endpoint = runs[2]["counters"]["body_bytes"]
    print("[acceptance] %d chats: webui.db %d -> %d B, floor %d B (%d pages); DB part sent %d B = %.2fx floor; "
          "whole run at the endpoint %d B (rclone sync would send the whole %d B file)"
          % (CHATS, floor["size_a"], floor["size_b"], floor["floor"], floor["pages_changed"], sent,
             sent / floor["floor"], endpoint, floor["size_b"]))
    assert floor["floor"] > 10 * 1000 * 1000, floor  # the chats really landed in the snapshot
    assert sent <= 2 * floor["floor"], floor
    # what the endpoint received agrees: the new DB pieces (age adds < 1 %) plus small files and metadata
    assert sent <= endpoint <= 1.02 * sent + 4 * 1000 * 1000, runs[2]["counters"]


def test_host_run_never_deletes_or_overwrites(scenario):
    for r in scenario["runs"]:
        c = r["counters"]
        print("[acceptance] %s: requests %s, deletes %d, overwrites %d" % (r["label"], c["requests"], c["deletes"], c["overwrites"]))
        assert c["deletes"] == 0 and c["delete_keys"] == 0 and not c["requests"].get("DELETE"), c
        assert c["overwrites"] == 0, c


def test_no_secret_in_any_output_status_record_or_object(scenario):
    texts = {}
    for r in scenario["runs"]:
        texts["output of %s" % r["label"]] = r["output"].encode()
        texts["status of %s" % r["label"]] = r["status"].encode()
    s3, bucket = scenario["s3"], scenario["bucket"]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            texts["object %s" % obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    for base, dummy, files in os.walk(scenario["repo"]):
        for name in files:
            with open(os.path.join(base, name), "rb") as f:
                texts["local %s" % os.path.relpath(os.path.join(base, name), scenario["repo"])] = f.read()
    assert any(k.startswith("object snapshots/") for k in texts) and any(".offsite-cache" in k for k in texts), sorted(texts)
    leaks = [(what, where) for what, secret in scenario["secrets"].items() for where, data in texts.items()
             if secret.encode() in data]
    print("[acceptance] searched %d outputs, status files, objects and local files (%d bytes) for 3 secrets"
          % (len(texts), sum(len(v) for v in texts.values())))
    assert not leaks, leaks
