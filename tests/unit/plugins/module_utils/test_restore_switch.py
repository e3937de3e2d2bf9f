# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The switch of a restore against a fake Docker engine: the safety net with start: false and through a
rollback (with the real watchdog process, the restore in a child that exits or is killed), check mode that
creates nothing, work directories of sibling data directories, removal of the containers a restore makes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import types

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _docker, _restore, _restore_app, _safety, _snapshot
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.tests.tree import tree_state
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.fakes import FakeEngine

CID = "c" * 64


class FakeAPI(object):
    """The low-level calls a restore makes through ``docker.api``."""

    def __init__(self, log):
        self.log = log
        self.remove_error = None

    def create_container(self, image, **kw):
        self.log.append(("create_container", image, kw))
        return {"Id": "p" * 64}

    def create_host_config(self, **kw):
        self.log.append(("create_host_config", kw))
        return kw

    def create_volume(self, name, **kw):
        self.log.append(("create_volume", name))

    def remove_container(self, cid, force=False):
        self.log.append(("remove_container", cid))
        if self.remove_error is not None:
            raise self.remove_error

    def put_archive(self, cid, path, data):
        self.log.append(("put_archive", cid, path))
        return True

    def start(self, cid):
        self.log.append(("api.start", cid))

    def logs(self, cid, tail=20):
        return b"fake log"

    def inspect_image(self, image):
        return {"Id": image}


class FakeDocker(object):
    """Answers like _docker.DockerClient for one container ``open-webui`` whose data is a bind mount of
    ``data_dir``. ``healthy``: whether it becomes healthy after a start; ``die_on_stop``: SIGKILL this
    process at that call of stop (1 = the switch's, 2 = the rollback's)."""

    def __init__(self, data_dir, running=True, healthy=True, die_on_stop=None, exited=False):
        self.data_dir = data_dir
        self.running = running
        self.healthy = healthy
        self.die_on_stop = die_on_stop
        self.exited = exited
        self.log = []
        self.api = FakeAPI(self.log)
        self.stops = 0
        # create/remove/put_archive/... run the real DockerClient code over the fake engine API
        self._real = _docker.DockerClient(client=types.SimpleNamespace(api=self.api, close=lambda: None))

    def __getattr__(self, name):
        if name in ("create", "remove", "put_archive", "create_volume", "has_image", "logs", "read_tar"):
            return getattr(self._real, name)
        raise AttributeError(name)

    def inspect(self, name):
        if name != "open-webui":
            raise BackupError("no container %s" % name, "check the name")
        return {"Id": CID, "Name": "/open-webui", "Config": {"Image": "img:1", "Env": []},
                "State": {"Running": self.running}}

    def data_mount(self, ins):
        return {"type": "bind", "name": None, "source": self.data_dir, "destination": "/app/backend/data"}

    def env(self, ins):
        return {}

    def inspect_volume(self, name):
        return None

    def stop(self, cid, timeout=30):
        self.stops += 1
        self.log.append(("stop", cid))
        if self.die_on_stop == self.stops:
            os.kill(os.getpid(), 9)

    def start(self, cid):
        self.log.append(("start", cid))

    def wait_healthy(self, cid, timeout=120):
        if not self.healthy:
            raise BackupError("container %s is unhealthy" % cid, "read its log")
        return {"status": "healthy"}

    def state(self, cid):
        return {"status": "exited" if self.exited else "running", "exit_code": 1 if self.exited else None}

    def read_file(self, cid, path):
        return None


class FakeNet(object):
    def __init__(self):
        self.disarmed = False

    def disarm(self):
        self.disarmed = True


@pytest.fixture
def env(tmp_path):
    data = tmp_path / "srv" / "data"
    (data / "uploads").mkdir(parents=True)
    conn = sqlite3.connect(str(data / "webui.db"))
    conn.execute("CREATE TABLE chat (id TEXT)")
    conn.executemany("INSERT INTO chat VALUES (?)", [("c%d" % i,) for i in range(5)])
    conn.commit()
    conn.close()
    (data / "uploads" / "a.txt").write_text("upload")
    repo = str(tmp_path / "repo")
    snap = _snapshot.run({"data_dir": str(data), "repository": repo, "host": "h1", "instance": "owui", "mode": "hot"})
    return {"data": str(data), "repo": repo, "snap": snap, "tmp": tmp_path}


def _job(env, **kw):
    j = {"repository": env["repo"], "host": "h1", "instance": "owui", "container": "open-webui",
         "alembic_check": "skip", "health_timeout": 5, "stop_timeout": 1}
    j.update(kw)
    return j


def _chats(data):
    conn = sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "webui.db"), uri=True)
    try:
        return conn.execute("SELECT count(*) FROM chat").fetchone()[0]
    finally:
        conn.close()


def _delete_chats(data):
    conn = sqlite3.connect(os.path.join(data, "webui.db"))
    conn.execute("DELETE FROM chat")
    conn.commit()
    conn.close()


# ---- B3: start: false ----------------------------------------------------------------------------------

def test_start_false_disarms_the_safety_net(env, monkeypatch):
    nets = []
    monkeypatch.setattr(_safety, "arm", lambda *a, **k: nets.append(FakeNet()) or nets[-1])
    docker = FakeDocker(env["data"])
    _delete_chats(env["data"])
    res = _restore.run(_job(env, start=False), docker=docker)
    assert _chats(env["data"]) == 5 and res["health"] is None
    assert [c for c in docker.log if c[0] == "start"] == []
    assert len(nets) == 1 and nets[0].disarmed


def test_a_backup_freezing_the_app_keeps_the_restore_out(env, monkeypatch):
    """A backup into another repository holds the container's freeze lock: the restore waits for it and, when
    it does not end in time, changes nothing (it never stops the app inside another run's freeze)."""
    monkeypatch.setattr(_safety, "arm", lambda *a, **k: FakeNet())
    docker = FakeDocker(env["data"])
    _delete_chats(env["data"])
    with _safety.hold(CID):
        with pytest.raises(BackupError, match="another run is pausing or stopping container"):
            _restore.run(_job(env, lock_timeout=0.3), docker=docker)
    assert _chats(env["data"]) == 0 and [c for c in docker.log if c[0] in ("stop", "start")] == []
    assert [n for n in os.listdir(os.path.dirname(env["data"])) if "staging" in n] == []
    _restore.run(_job(env, lock_timeout=0.3), docker=docker)
    assert _chats(env["data"]) == 5


CHILD = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _restore
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.test_restore_switch import FakeDocker
job, fake = json.loads(sys.argv[2]), json.loads(sys.argv[3])
try:
    _restore.run(job, docker=FakeDocker(**fake))
    print("done")
except BackupError as e:
    print("failed: %s" % e)
"""


def _child(env, job, fake):
    root = _restore.__file__
    while os.path.basename(root) != "ansible_collections":
        root = os.path.dirname(root)
    root = os.path.dirname(root)  # the directory holding ansible_collections/ (tests/conftest.py made it)
    return subprocess.run([sys.executable, "-c", CHILD, root, json.dumps(job), json.dumps(fake)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_start_false_the_watchdog_leaves_the_app_stopped_after_the_run(env, tmp_path):
    """The real watchdog: the restore (start: false) ends normally; the app must stay stopped."""
    engine = FakeEngine(str(tmp_path / "docker.sock"))
    try:
        p = _child(env, _job(env, start=False, docker_host="unix://" + engine.path), {"data_dir": env["data"]})
        assert p.stdout.strip() == "done", p.stdout + p.stderr
        time.sleep(1.5)  # an armed watchdog fires within a few hundred ms of its parent's end
        assert engine.requests == []
    finally:
        engine.close()


# ---- the rollback keeps the safety net armed -----------------------------------------------------------

def test_rollback_keeps_the_safety_net_armed(env, monkeypatch):
    events = []

    class Net(FakeNet):
        def disarm(self):
            events.append("disarm")

    monkeypatch.setattr(_safety, "arm", lambda *a, **k: events.append("arm") or Net())
    docker = FakeDocker(env["data"], healthy=False)
    real_stop = docker.stop
    docker.stop = lambda cid, timeout=30: events.append("stop") or real_stop(cid, timeout)
    _delete_chats(env["data"])
    with pytest.raises(BackupError, match="rolled back"):
        _restore.run(_job(env), docker=docker)
    assert _chats(env["data"]) == 0  # the previous data is back
    assert events == ["arm", "stop", "stop", "disarm"]  # the rollback's stop ran under the net


def test_killed_during_the_rollback_the_watchdog_starts_the_app(env, tmp_path):
    """The real watchdog: the app does not become healthy, and the restore is killed inside its rollback
    (the app is down): the watchdog must start it."""
    engine = FakeEngine(str(tmp_path / "docker.sock"))
    try:
        p = _child(env, _job(env, docker_host="unix://" + engine.path),
                   {"data_dir": env["data"], "healthy": False, "die_on_stop": 2})
        assert p.returncode == -9, p.stdout + p.stderr
        assert engine.wait_for(1, 5) == ["POST /containers/%s/start HTTP/1.1" % CID]
    finally:
        engine.close()


# ---- B11: check mode creates and deletes nothing -----------------------------------------------------

def test_check_mode_creates_and_deletes_nothing(env):
    inst = os.path.join(env["repo"], "h1", "owui")
    os.makedirs(os.path.join(inst, ".tmp-20200101T000000Z", "data"))  # a leftover of a backup that died
    os.unlink(os.path.join(inst, ".lock"))  # as on a repository copied from elsewhere
    _delete_chats(env["data"])
    before = tree_state(str(env["tmp"]))
    docker = FakeDocker(env["data"])
    res = _restore.run(_job(env), check_mode=True, docker=docker)
    assert res["snapshot_id"] == env["snap"]["snapshot_id"] and res["would"]
    with pytest.raises(BackupError, match="no verified snapshot"):
        _restore.run(_job(env, host="h1-mistyped"), check_mode=True, docker=docker)
    assert tree_state(str(env["tmp"])) == before
    assert docker.log == []


def test_check_mode_creates_no_probe_container(env):
    """A new host (volume and image given): the real run reads the image's migrations through a probe
    container; check mode must not create one (and says the check is left to the real run)."""
    docker = FakeDocker(env["data"])
    res = _restore.run(_job(env, container=None, volume="owui-new", image="img:2", alembic_check="strict"),
                       check_mode=True, docker=docker)
    assert res["alembic"]["status"] == "unchecked"
    assert any("probe" in w for w in res["warnings"])
    assert [c for c in docker.log if c[0] in ("create_container", "create_volume")] == []


def test_check_mode_waits_for_a_running_backup(env):
    """The read-only lock still waits for (and here refuses during) a run that holds the repository."""
    from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository
    with Repository(env["repo"], "h1", "owui").lock():
        with pytest.raises(BackupError, match="another backup or restore"):
            _restore.run(_job(env), check_mode=True, docker=FakeDocker(env["data"]))


# ---- B5: sibling data directories ---------------------------------------------------------------------

def test_a_sibling_data_directorys_work_dirs_are_never_pruned(env):
    """/srv/data and /srv/other share /srv: a restore into data prunes only data's own leftovers."""
    srv = os.path.dirname(env["data"])
    other = ["owb-staging-20200101T000000Z", "owb-rollback-20200101T000000Z",  # names another restore used
             "owb-other-staging-20200101T000000Z", "owb-other-rollback-20200101T000000Z",
             "owb-data-rollback-20200101T000000Z-staging-20200101T000000Z"]
    mine = ["owb-data-staging-20200101T000000Z", "owb-data-rollback-20200101T000000Z"]
    for n in other + mine:
        os.makedirs(os.path.join(srv, n))
    res = _restore.run({"repository": env["repo"], "host": "h1", "instance": "owui", "data_dir": env["data"],
                        "rollback_keep_hours": 1})
    assert sorted(res["rollbacks_pruned"]) == sorted(mine)
    for n in other:
        assert os.path.isdir(os.path.join(srv, n)), n
    assert os.path.basename(res["rollback_path"]).startswith("owb-data-rollback-")


# ---- containers this run made -----------------------------------------------------------------------

class NotFound(Exception):
    status_code = 404


class ServerError(Exception):
    status_code = 500


def test_removing_a_container_gone_already_is_fine_other_errors_are_warnings(env):
    docker = FakeDocker(env["data"])
    warnings = []
    docker.api.remove_error = NotFound("No such container")
    _restore_app.remove_container(docker, "p" * 64, warnings)
    assert warnings == []
    docker.api.remove_error = ServerError("driver failed to remove root filesystem")
    _restore_app.remove_container(docker, "p" * 64, warnings)
    assert len(warnings) == 1 and "driver failed" in warnings[0] and "docker rm -f" in warnings[0]
