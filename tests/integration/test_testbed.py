# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The test bed is real: a Docker engine, the sample Open WebUI app writing continuously on the real 0.12.4
data, the key file in the container layer only, both journal modes, pause/unpause and SIGTERM, a systemd host
that drives sibling containers, and an S3 endpoint that boto3 and rclone both talk to.

Timings are printed (-s).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import time
import uuid

import pytest


pytestmark = [pytest.mark.docker]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPECTED = json.load(open(os.path.join(REPO, "tests", "fixtures", "openwebui-0.12.4", "expected.json")))


def read_max_seq(db_path):
    conn = ro(db_path)
    try:
        return conn.execute("SELECT max(CAST(substr(id, 8) AS INTEGER)) FROM chat WHERE id LIKE 'writer-%'").fetchone()[0] or 0
    finally:
        conn.close()


def ro(db_path):
    return sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=10)


def test_writer_commits_chats_and_uploads_continuously(sample_app_factory):
    t0 = time.monotonic()
    app = sample_app_factory(env={"WRITE_INTERVAL": "0.02", "UPLOAD_EVERY": "5"})
    print("\n[testbed] sample app on a fresh volume healthy in %.2fs" % (time.monotonic() - t0))
    s1 = app.wait_seq(0)
    s2 = app.wait_seq(s1 + 20)
    assert s2 > s1 + 20
    assert app.writer()["seq"] >= s2  # the app's own counter agrees with the database
    time.sleep(0.3)
    conn = ro(app.db_path)
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM chat WHERE id LIKE 'writer-%'")]
        seqs = sorted(int(i.split("-", 1)[1]) for i in ids)
        top = seqs[-1]
        assert seqs == list(range(1, top + 1)), "writer seqs must be gapless 1..N"
        title = conn.execute("SELECT title FROM chat WHERE id = ?", ("writer-%d" % top,)).fetchone()[0]
        assert title == "Writer chat %d" % top
        per_chat = conn.execute("SELECT count(*) FROM chat_message WHERE chat_id = ?", ("writer-%d" % top,)).fetchone()
        assert per_chat[0] == 2
        files = conn.execute("SELECT id, filename, meta, path FROM file WHERE filename LIKE 'writer-%'").fetchall()
        fixture_chats = conn.execute("SELECT count(*) FROM chat WHERE id NOT LIKE 'writer-%'").fetchone()[0]
    finally:
        conn.close()
    assert fixture_chats == EXPECTED["chats"]["total"]
    assert len(files) >= top // 5 - 1 and files, "every 5th chat writes an upload"
    for fid, filename, meta, path in files:
        meta = json.loads(meta)
        assert path == "/app/backend/data/uploads/%s_%s" % (fid, filename)
        with open(os.path.join(app.data_dir, "uploads", "%s_%s" % (fid, filename)), "rb") as f:
            body = f.read()
        assert hashlib.sha256(body).hexdigest() == meta["file_hash"]
        assert len(body) == meta["size"]
    leftovers = [n for n in os.listdir(os.path.join(app.data_dir, "uploads")) if n.startswith(".tmp-")]
    assert len(leftovers) <= 1  # at most the one being written right now


def test_seeded_from_the_real_fixture(sample_app):
    d = sample_app.data_dir
    for f in EXPECTED["files"]:
        with open(os.path.join(d, f["relative_path"]), "rb") as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == f["sha256"], f["relative_path"]
    assert os.path.isfile(os.path.join(d, "vector_db", "chroma.sqlite3"))
    assert os.path.isdir(os.path.join(d, "cache"))
    conn = ro(sample_app.db_path)
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == EXPECTED["alembic_revision"]
        assert conn.execute("SELECT count(*) FROM user").fetchone()[0] == len(EXPECTED["users"])
    finally:
        conn.close()
    assert sample_app.http_json("/health") == {"status": True}


def test_survives_pause_and_unpause(sample_app):
    before = sample_app.wait_seq(0)
    t0 = time.monotonic()
    sample_app.pause()
    paused_s = time.monotonic() - t0
    try:
        assert sample_app.status() == "paused"
        frozen = read_max_seq(sample_app.db_path)
        time.sleep(1.0)
        assert read_max_seq(sample_app.db_path) == frozen, "a paused app must not commit"
        assert frozen >= before
    finally:
        t1 = time.monotonic()
        sample_app.unpause()
        unpaused_s = time.monotonic() - t1
    print("\n[testbed] pause %.3fs, unpause %.3fs" % (paused_s, unpaused_s))
    after = sample_app.wait_seq(frozen + 5)
    assert after > frozen
    assert sample_app.status() == "running"
    sample_app.wait_healthy(20)
    assert sample_app.writer()["errors"] == 0


def test_key_file_in_container_not_in_volume(sample_app_factory):
    app = sample_app_factory()
    key = app.exec(["cat", "/app/backend/.webui_secret_key"]).strip()
    assert len(key) >= 12
    for root, _dirs, files in os.walk(app.data_dir):
        assert ".webui_secret_key" not in files, root
        for name in files:
            if name.endswith((".txt", ".md", ".csv", ".json")):
                with open(os.path.join(root, name), "rb") as fh:
                    assert key.encode() not in fh.read(), name
    # the key is not in the container's configuration either (it lives only in the file)
    env = app.reload()["Config"]["Env"]
    assert not any(e.startswith("WEBUI_SECRET_KEY=") and e != "WEBUI_SECRET_KEY=" for e in env)
    # WEBUI_SECRET_KEY set -> no file generated (like start.sh)
    app2 = sample_app_factory(env={"WEBUI_SECRET_KEY": "from-env-%s" % uuid.uuid4().hex})
    res = app2.container.exec_run(["test", "-e", "/app/backend/.webui_secret_key"])
    assert res.exit_code == 1


@pytest.mark.parametrize("wal, expected", [("true", "wal"), ("false", "delete")])
def test_journal_mode_knob(sample_app_factory, wal, expected):
    app = sample_app_factory(env={"DATABASE_ENABLE_SQLITE_WAL": wal})
    seq = app.wait_seq(app.wait_seq(0) + 3)
    conn = ro(app.db_path)
    try:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()
    assert mode == expected
    assert app.writer()["journal_mode"] == expected
    assert os.path.exists(app.db_path + "-wal") is (expected == "wal")
    assert seq > 3


def test_sigterm_stops_cleanly_and_restart_resumes(sample_app):
    sample_app.wait_seq(10)
    t0 = time.monotonic()
    sample_app.stop(timeout=10)
    stop_s = time.monotonic() - t0
    state = sample_app.reload()["State"]
    assert state["ExitCode"] == 0, sample_app.logs()[-1500:]
    assert "stopped cleanly" in sample_app.logs()
    assert stop_s < 5, "SIGTERM must stop the writer promptly (took %.1fs)" % stop_s
    # like the real server: the -wal stays after docker stop; the database is consistent
    assert os.path.exists(sample_app.db_path + "-wal")
    stopped_at = read_max_seq(sample_app.db_path)
    conn = ro(sample_app.db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    t1 = time.monotonic()
    sample_app.start(wait=True)
    print("\n[testbed] docker stop %.2fs, start -> healthy %.2fs" % (stop_s, time.monotonic() - t1))
    assert sample_app.wait_seq(stopped_at) > stopped_at  # monotonic across restarts, same data
    assert "resume_seq=%d" % stopped_at in sample_app.logs()


def test_bind_mount_variant(sample_app_bind):
    assert sample_app_bind.mount == "bind" and sample_app_bind.volume is None
    mounts = sample_app_bind.reload()["Mounts"]
    assert [(m["Type"], m["Source"], m["Destination"]) for m in mounts] == [
        ("bind", sample_app_bind.data_dir, "/app/backend/data")]
    assert os.path.isfile(os.path.join(sample_app_bind.data_dir, "webui.db"))
    assert sample_app_bind.wait_seq(sample_app_bind.wait_seq(0)) > 0


def test_named_volume_mountpoint(sample_app, docker_client):
    vol = docker_client.volumes.get(sample_app.volume)
    assert vol.attrs["Mountpoint"] == sample_app.data_dir
    assert [(m["Type"], m["Name"], m["Destination"]) for m in sample_app.reload()["Mounts"]] == [
        ("volume", sample_app.volume, "/app/backend/data")]


@pytest.fixture
def systemd_host(docker_client, testbed, systemd_run_kwargs):
    name = "owbt-host-%s" % uuid.uuid4().hex[:8]
    kwargs = dict(systemd_run_kwargs)
    kwargs["volumes"] = dict(kwargs["volumes"], **{
        "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
        "/var/lib/docker/volumes": {"bind": "/var/lib/docker/volumes", "mode": "rw"}})
    t0 = time.monotonic()
    c = docker_client.containers.run(testbed["base_image"], detach=True, name=name,
                                     labels={"owb-testbed": "1", "owb-test": "1"}, **kwargs)
    try:
        state = ""
        while time.monotonic() - t0 < 60:
            res = c.exec_run(["systemctl", "is-system-running"])
            state = res.output.decode().strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.2)
        c.boot_state = state
        c.boot_s = time.monotonic() - t0
        yield c
    finally:
        c.remove(force=True, v=True)


def test_base_image_boots_systemd_and_drives_siblings(systemd_host, sample_app):
    print("\n[testbed] systemd host booted to %r in %.2fs" % (systemd_host.boot_state, systemd_host.boot_s))
    assert systemd_host.boot_state in ("running", "degraded"), systemd_host.logs().decode()[-2000:]
    assert systemd_host.exec_run(["cat", "/proc/1/comm"]).output.decode().strip() == "systemd"
    # what Ansible-managed hosts and the collection's modules need
    res = systemd_host.exec_run(["python3", "-c", "import docker, boto3, jmespath, requests, yaml, apt, sqlite3; "
                                                  "print(docker.__version__)"])
    assert res.exit_code == 0, res.output.decode()
    for tool in ("sqlite3", "rsync", "rclone", "curl", "crontab", "ps", "ip"):
        assert systemd_host.exec_run(["sh", "-c", "command -v %s" % tool]).exit_code == 0, tool
    # the host under test pauses/unpauses a sibling app through the mounted socket (python3-docker)
    script = ("import docker, sys; c = docker.from_env().containers.get(sys.argv[1]); c.pause(); c.reload(); "
              "s = c.status; c.unpause(); c.reload(); print(s, c.status)")
    res = systemd_host.exec_run(["python3", "-c", script, sample_app.name])
    assert res.exit_code == 0, res.output.decode()
    assert res.output.decode().split() == ["paused", "running"]
    # and sees the volume's Mountpoint at the same path
    res = systemd_host.exec_run(["test", "-f", os.path.join(sample_app.data_dir, "webui.db")])
    assert res.exit_code == 0
    sample_app.wait_seq(read_max_seq(sample_app.db_path))


def test_s3_endpoint_answers_boto3_and_rclone(s3_client, s3_endpoint, docker_client, testbed):
    body = os.urandom(256 * 1024)
    s3_client.put_object(Bucket=s3_client.bucket, Key="probe/one.bin", Body=body)
    assert s3_client.get_object(Bucket=s3_client.bucket, Key="probe/one.bin")["Body"].read() == body
    assert s3_endpoint.startswith("http://127.0.0.1:")  # loopback only
    env = {"RCLONE_CONFIG": "/dev/null", "RCLONE_CONFIG_OWBT_TYPE": "s3", "RCLONE_CONFIG_OWBT_PROVIDER": "Other",
           "RCLONE_CONFIG_OWBT_ENDPOINT": s3_endpoint, "RCLONE_CONFIG_OWBT_ACCESS_KEY_ID": "testing",
           "RCLONE_CONFIG_OWBT_SECRET_ACCESS_KEY": "testing", "RCLONE_CONFIG_OWBT_REGION": "us-east-1"}
    out = docker_client.containers.run(testbed["base_image"], ["rclone", "lsf", "owbt:%s/probe" % s3_client.bucket],
                                       network_mode="host", remove=True, environment=env)
    assert out.decode().split() == ["one.bin"]


def test_up_sh_is_cached_and_fast():
    """A second run of the whole bed (without the real Open WebUI image) is a cache hit."""
    t0 = time.monotonic()
    proc = subprocess.run(["bash", os.path.join(REPO, "tests", "testbed", "up.sh")], capture_output=True, text=True,
                          env=dict(os.environ, SKIP_OPENWEBUI="1"), timeout=600, check=False)
    took = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "exists (cached)" in proc.stderr
    print("\n[testbed] cached up.sh %.2fs" % took)
    assert took < 30


def test_waiting_fails_on_a_dead_app(sample_app_factory):
    """The bed's own helpers can fail: an app that exits is reported with its code, not waited on forever."""
    t0 = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match=r"exited \(code 3\)"):
        sample_app_factory(command=["python3", "-c", "raise SystemExit(3)"], timeout=20)
    assert time.monotonic() - t0 < 15
