# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The off-host section of bench.py: the engine's upload (``_offsite.upload_all``) side by side with
``rclone copy --transfers 8`` and ``rclone sync`` of the same snapshot files to the same S3 endpoint.

The endpoint is moto on 127.0.0.1 (tests/testbed/s3.sh) behind tests/testbed/faultproxy.py, which counts the
request-body bytes that reach it (uploads, whoever sends them). Every measured operation is a child process
(Bench.run). Phases, each on its own bucket:

1. first upload of snapshot S1: engine (plain store), rclone copy --transfers 8, engine (age-encrypted store),
   rclone sync; repeated and interleaved (fastest of each counts);
2. the same snapshot again (a new record: another instance name, identical content) vs rclone sync again;
3. 1,000 Open WebUI-like chats into the live webui.db (bench/piece_study.py), snapshot S2, upload: the DB part
   the engine sent (from its record) vs the changed-pages floor vs what rclone sync sends (the whole file);
4. restore S1: engine restore from the target vs rclone copy down + engine restore from that local copy.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import time
import urllib.request

import gen
import piece_study

HERE = os.path.dirname(os.path.abspath(__file__))
TESTBED = os.path.join(os.path.dirname(HERE), "tests", "testbed")
ACCESS_KEY = "bench-access-key"
SECRET_KEY = "bench-secret-key-not-a-secret"
REMOTE = "benchs3"
CHATS = 1000


class Endpoint(object):
    """moto + the counting proxy in front of it, and a boto3 client straight to moto for the bench's own calls."""

    def __init__(self, port):
        self.port = port
        out = subprocess.run(["bash", os.path.join(TESTBED, "s3.sh"), str(port)], check=True, stdout=subprocess.PIPE,
                             text=True).stdout
        self.moto = out.strip().splitlines()[-1]
        self.proxy_proc = subprocess.Popen(["python3", os.path.join(TESTBED, "faultproxy.py"), "--upstream", self.moto],
                                           stdout=subprocess.PIPE, text=True, start_new_session=True)
        words = self.proxy_proc.stdout.readline().split()   # "proxy URL control URL"
        self.url, self.control = words[1], words[3]
        import boto3
        self.s3 = boto3.client("s3", endpoint_url=self.moto, region_name="us-east-1",
                               aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def counters(self):
        with urllib.request.urlopen(self.control + "/counters", timeout=10) as r:
            return json.load(r)

    def reset(self):
        req = urllib.request.Request(self.control + "/control", data=b'{"reset_counters": true}', method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def bucket(self, name):
        self.s3.create_bucket(Bucket=name)
        return name

    def drop(self, name):
        """Empty and remove a bucket (moto keeps objects in memory / temp files)."""
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.s3.delete_objects(Bucket=name, Delete={"Objects": keys})
        self.s3.delete_bucket(Bucket=name)

    def stop(self):
        self.proxy_proc.terminate()
        self.proxy_proc.wait(10)
        subprocess.run(["bash", os.path.join(TESTBED, "s3.sh"), "stop", str(self.port)], check=False)


def target(ep, bucket, recipients=None):
    t = {"name": "bench-s3", "type": "s3", "bucket": bucket, "endpoint_url": ep.url, "region": "us-east-1",
         "addressing_style": "path", "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY}
    if recipients:
        t["recipients"] = recipients
    return t


def rclone_env(ep):
    """The rclone remote through environment variables (provider Other, path style, no config file)."""
    p = "RCLONE_CONFIG_%s_" % REMOTE.upper()
    return {p + "TYPE": "s3", p + "PROVIDER": "Other", p + "ENDPOINT": ep.url, p + "REGION": "us-east-1",
            p + "ACCESS_KEY_ID": ACCESS_KEY, p + "SECRET_ACCESS_KEY": SECRET_KEY, p + "FORCE_PATH_STYLE": "true",
            "RCLONE_CONFIG": "/dev/null", "AWS_CA_BUNDLE": None}


class Offhost(object):
    def __init__(self, bench, host, instance, port, log):
        self.b = bench
        self.log = log
        self.host, self.instance = host, instance
        self.ep = Endpoint(port)
        self.env = rclone_env(self.ep)
        self.work = os.path.join(bench.work, "offhost")
        self.b.rm(self.work)
        os.makedirs(self.work)
        ident = os.path.join(self.work, "identity.txt")
        subprocess.run(["age-keygen", "-o", ident], check=True, stderr=subprocess.DEVNULL)
        self.recipients = [subprocess.run(["age-keygen", "-y", ident], check=True, stdout=subprocess.PIPE,
                                          text=True).stdout.strip()]
        self.rows = []

    # ------------------------------------------------------------------ one measured operation each
    def measure(self, row, cmd=None, engine=None, phase=None):
        """Run one child (a tool command, or an engine call (kind, arg)); record seconds, CPU and the bytes that
        reached the endpoint (proxy counters)."""
        self.ep.reset()
        if engine:
            r = self.b.engine(engine[0], engine[1])
            ok = r["ok"] and all(o["status"] == "ok" for o in ((r.get("engine") or {}).get("outcomes") or [{"status": "ok"}]))
        else:
            r = self.b.tool(cmd, env=self.env)
            ok = r["rc"] == 0
        c = self.ep.counters()
        row.update({"phase": phase, "seconds": r["seconds"], "cpu": r["cpu"], "ok": ok, "load1": r["load1"],
                    "endpoint_bytes": c["body_bytes"], "requests": c["requests"], "deletes": c["deletes"],
                    "overwrites": c["overwrites"]})
        if not ok:
            row["error"] = (r.get("error") or r.get("stderr") or json.dumps(r.get("engine"))[-600:])
            self.log("  !! %s: %s" % (row["tool"], row["error"][-600:]))
        self.rows.append(row)
        self.log("  %-34s %-11s %8.2f s  %s at the endpoint%s" % (
            row["tool"], phase, r["seconds"], gen.human(c["body_bytes"]), "" if ok else "  FAILED"))
        return r

    def upload(self, snap, bucket, phase, recipients=None, instance=None, label=None):
        arg = {"targets": [target(self.ep, bucket, recipients)], "snapshot_path": snap, "host": self.host,
               "instance": instance or self.instance, "cache_root": os.path.join(self.work, "cache-" + bucket)}
        row = {"tool": label or ("engine upload (age)" if recipients else "engine upload"), "bucket": bucket}
        r = self.measure(row, engine=("upload", arg), phase=phase)
        row["outcome"] = ((r.get("engine") or {}).get("outcomes") or [None])[0]
        return row

    def rclone(self, verb, src, dest, phase, label=None):
        row = {"tool": label or ("rclone %s --transfers 8" % verb if verb == "copy" else "rclone sync"), "dest": dest}
        self.measure(row, cmd=["rclone", verb, "--transfers", "8", src, "%s:%s" % (REMOTE, dest)], phase=phase)
        return row

    # ------------------------------------------------------------------ the phases
    def first(self, s1, repeat):
        for rep in range(repeat):
            for kind in ("engine", "copy", "engine-age", "sync"):
                b = self.ep.bucket("oh-%s-%d" % (kind, rep))
                if kind == "engine":
                    self.upload(s1, b, "first")
                elif kind == "engine-age":
                    self.upload(s1, b, "first", recipients=self.recipients)
                else:
                    self.rclone(kind, s1, "%s/%s" % (b, os.path.basename(s1)) if kind == "copy" else b + "/current", "first")
                if rep:
                    self.ep.drop(b)

    def unchanged(self, s1):
        self.upload(s1, "oh-engine-0", "unchanged", instance=self.instance + "-again",
                    label="engine upload (same content, new record)")
        self.rclone("sync", s1, "oh-sync-0/current", "unchanged", label="rclone sync (again)")

    def chats(self, data_dir):
        db = os.path.join(data_dir, "webui.db")
        conn = sqlite3.connect(db, timeout=30)
        users = [r[0] for r in conn.execute("SELECT id FROM user ORDER BY created_at")]
        conn.close()
        t0 = time.monotonic()
        piece_study.write_chats(db, users, CHATS, "turns", b"owb-bench/offhost/%d" % random.getrandbits(32)).close()
        return round(time.monotonic() - t0, 1)

    def after_chats(self, s1, s2):
        row = self.upload(s2, "oh-engine-0", "after-chats")
        floor = piece_study.compare(os.path.join(s1, "data", "webui.db"), os.path.join(s2, "data", "webui.db"))
        row["db"] = {"floor": floor["floor"], "pages_changed": floor["pages_changed"], "size": floor["size_b"],
                     "sent": self.db_part(s1, s2)}
        sync = self.rclone("sync", s2, "oh-sync-0/current", "after-chats")
        sync["db"] = {"size": floor["size_b"]}
        return row

    def db_part(self, s1, s2):
        """Plaintext bytes of data/webui.db in packs made by S2's upload (each (pack, offset) once)."""
        def record(sid):
            key = "snapshots/%s/%s/%s.json" % (self.host, self.instance, sid)
            return json.loads(self.ep.s3.get_object(Bucket="oh-engine-0", Key=key)["Body"].read())
        before = set(record(os.path.basename(s1))["packs"])
        files = record(os.path.basename(s2))["manifest"]["files"]
        db = [f for f in files if f["path"] == "data/webui.db"][0]
        return sum({(p, off): n for p, off, n in db["chunks"] if p not in before}.values())

    def restore(self, s1):
        sid = os.path.basename(s1)
        base = {"host": self.host, "instance": self.instance, "snapshot": sid, "start": False, "alembic_check": "skip"}
        out = os.path.join(self.work, "restored")
        self.b.rm(out)
        job = dict(base, repository=os.path.join(self.work, "fetch-repo"), data_dir=out, source="bench-s3",
                   targets=[target(self.ep, "oh-engine-0")])
        row = {"tool": "engine restore from the target", "bucket": "oh-engine-0"}
        r = self.measure(row, engine=("restore", job), phase="restore")
        row["source"] = (r.get("engine") or {}).get("source")
        self.b.rm(out, job["repository"])
        local = os.path.join(self.work, "rc-repo")
        dest = os.path.join(local, self.host, self.instance, sid)
        row = {"tool": "rclone copy --transfers 8 (down)"}
        self.measure(row, cmd=["rclone", "copy", "--transfers", "8", "%s:oh-copy-0/%s" % (REMOTE, sid), dest], phase="restore")
        row = {"tool": "engine restore from the local copy"}
        self.measure(row, engine=("restore", dict(base, repository=local, data_dir=out)), phase="restore")
        self.b.rm(out, local)

    def close(self):
        self.ep.stop()
        self.b.rm(self.work)


def run(bench, host, instance, data_dir, snapshot, repeat, log):
    """The whole section; returns its result dict. ``snapshot(label)`` takes an engine snapshot -> path."""
    oh = Offhost(bench, host, instance, int(os.environ.get("BENCH_S3_PORT", "18632")), log)
    try:
        s1 = snapshot("S1")
        oh.first(s1, repeat)
        oh.unchanged(s1)
        chat_seconds = oh.chats(data_dir)
        s2 = snapshot("S2 (after %d chats)" % CHATS)
        oh.after_chats(s1, s2)
        oh.restore(s1)
        return {"rows": oh.rows, "chats": CHATS, "chat_seconds": chat_seconds, "endpoint": "moto (127.0.0.1) behind "
                "tests/testbed/faultproxy.py", "snapshot_bytes": _tree_bytes(s1)}
    finally:
        oh.close()


def _tree_bytes(path):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)
