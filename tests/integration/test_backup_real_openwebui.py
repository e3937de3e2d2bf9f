"""Acceptance with the REAL Open WebUI 0.12.4 image (issue: consistent snapshots).

* A ``pause`` backup while a client keeps creating chats through the HTTP API: no request fails, and the
  snapshot holds every chat whose creation returned before the snapshot began.
* A ``cold`` backup of the same instance brings the app back healthy (users can sign in again).
"""

import os
import sqlite3
import threading
import time

import pytest

import owui_client as oc
from engine import wait_for
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _snapshot
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError

pytestmark = [pytest.mark.docker, pytest.mark.openwebui]


@pytest.fixture(scope="module")
def owui(docker_client):
    inst = oc.start_openwebui(docker_client, seed_fixture=True, secret_key=oc.FIXTURE_SECRET_KEY)
    try:
        yield inst
    finally:
        inst.remove()


class ChatLoad(object):
    """Creates chats continuously through the API; records when each creation returned."""

    def __init__(self, client):
        self.client = client
        self.done = []          # (monotonic time the call returned, chat id)
        self.failures = []
        self.latencies = []
        self._stop = threading.Event()
        self._th = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        i = 0
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                r = self.client.create_chat(title="backup-load %d" % i, turns=[("q %d" % i, "a %d" % i)])
                now = time.monotonic()
                self.done.append((now, r["id"]))
                self.latencies.append(now - t)
            except Exception as e:  # noqa: BLE001 - counted and asserted
                self.failures.append(repr(e))
            i += 1

    def __enter__(self):
        self._th.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._th.join(timeout=120)


def _snapshot_chat_ids(snapshot_path):
    db = os.path.join(snapshot_path, "data", "webui.db")
    conn = sqlite3.connect("file:%s?mode=ro&immutable=1" % db, uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {r[0] for r in conn.execute("SELECT id FROM chat")}
    finally:
        conn.close()


def _user(owui):
    admin = owui.client()
    admin.signin("admin@example.com", "Fixture-Admin-Pass-1")
    return admin


def test_pause_backup_under_http_load(owui, tmp_path):
    client = _user(owui)
    repo = str(tmp_path / "repo")
    with ChatLoad(client) as load:
        assert wait_for(lambda: len(load.done) >= 5, timeout=60)
        time.sleep(1.0)
        began = time.monotonic()
        before = {cid for t, cid in load.done if t < began}
        job = {"container": owui.container.name, "repository": repo, "host": "e2e", "mode": "pause"}
        try:
            res = _snapshot.run(job)
        except BackupError as e:
            # an overloaded Docker engine made docker pause outlive freeze_timeout: the engine refuses to
            # publish (that is the product's answer, tested in unit tests) and says to run again: do so once
            if "freeze_timeout" not in str(e):
                raise
            print("pause e2e: first attempt refused (%s); running again" % e)
            res = _snapshot.run(job)
        time.sleep(1.0)   # keep the load on after the thaw
    assert load.failures == [], load.failures[:3]
    assert len(before) >= 5
    print("pause e2e: freeze %d ms, total %d ms, %d chats before, %d during/after, p99 create %.0f ms" % (
        res["timing_ms"]["freeze"], res["timing_ms"]["total"], len(before), len(load.done) - len(before),
        1000 * sorted(load.latencies)[int(len(load.latencies) * 0.99) - 1]))
    assert res["mode"] == "pause"
    # a functional bound only (a freeze that outlives the safety net is refused anyway); the 0.5 s goal is
    # measured by bench/run, not by a timed test on a loaded CI machine
    assert 0 < res["timing_ms"]["freeze"] < 5000
    ids = _snapshot_chat_ids(res["path"])
    missing = before - ids
    assert not missing, "chats created before the snapshot are missing: %s" % sorted(missing)[:5]
    assert res["secret_key"]["captured"] and res["secret_key"]["source"] == "file"
    with open(os.path.join(res["path"], "secret", "webui_secret_key")) as f:
        assert f.read().strip() == oc.FIXTURE_SECRET_KEY
    assert res["uploads_check"]["referenced"] == 12 and res["uploads_check"]["missing"] == []
    assert res["databases"]["webui.db"]["alembic_revision"] == "0bd252b206fb"
    assert res["databases"]["vector_db/chroma.sqlite3"]["integrity"] == "ok"
    owui.container.reload()
    assert owui.container.status == "running"
    assert oc.health(owui.base_url)


def test_cold_backup_brings_app_back_healthy(owui, tmp_path):
    repo = str(tmp_path / "repo")
    res = _snapshot.run({"container": owui.container.name, "repository": repo, "host": "e2e", "mode": "cold",
                         "stop_timeout": 20})
    t = res["timing_ms"]
    extra = t["downtime"] - t["app_stop"] - t["app_start"]
    print("cold e2e: downtime %d ms = stop %d + copy %d + start->healthy %d" % (t["downtime"], t["app_stop"], extra, t["app_start"]))
    assert res["mode"] == "cold"
    assert extra <= 2000
    owui.container.reload()
    assert owui.container.status == "running"
    assert oc.health(owui.base_url)
    client = _user(owui)
    assert client.me()["email"] == "admin@example.com"
    ids = _snapshot_chat_ids(res["path"])
    assert len(ids) >= 40
