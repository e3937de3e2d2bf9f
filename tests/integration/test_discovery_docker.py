# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Discovery against the real Docker engine with the sample app (local/owb-sampleapp:latest), which seeds the
real 0.12.4 fixture into /app/backend/data, keeps writing into webui.db and has its key file at
/app/backend/.webui_secret_key.

Covers: a named volume (the volume's Mountpoint is found), a bind mount, no mount (loud warning), a volume
without Open WebUI data (clear failure), the key file, read_file on running/paused/stopped containers, and the
openwebui_info module run the way Ansible runs it.

Needs a Docker engine (skips without one) and the sample image (fails without it: build it first).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

import ansible_collections.sage_open_webui.backup as _collection
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _discovery
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import DockerClient

pytestmark = [pytest.mark.docker]

SAMPLE_IMAGE = os.environ.get("OWB_SAMPLE_IMAGE", "local/owb-sampleapp:latest")
PLAIN_IMAGE = os.environ.get("OWB_PLAIN_IMAGE", "local/owb-debian-systemd:bookworm")
COLLECTION_ROOT = os.path.realpath(_collection.__path__[0])
SYS_PATH_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(_collection.__path__[0])))
MODULE = os.path.join(COLLECTION_ROOT, "plugins", "modules", "openwebui_info.py")
EXPECTED = json.load(open(os.path.join(COLLECTION_ROOT, "tests", "fixtures", "openwebui-0.12.4", "expected.json")))
PREFIX = "owbt-disc-"


def docker_cli(*args, check=True):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, check=check, timeout=180)


def free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_module(tmp_path, **args):
    args_file = tmp_path / ("args-%s.json" % uuid.uuid4().hex[:6])
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=SYS_PATH_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, MODULE, str(args_file)], capture_output=True, text=True, env=env, check=False,
                          timeout=180)
    out = proc.stdout.strip()
    assert out, proc.stderr
    return json.loads(out[out.index("{"):])


def wait_seeded(client, name, path_on_host=None, timeout=90):
    """Until the app runs and webui.db exists in its data dir (seeded from the fixture)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        st = client.state(name)
        if st["status"] in ("exited", "dead"):
            raise AssertionError("%s exited: %s" % (name, docker_cli("logs", name, check=False).stderr[-2000:]))
        if st["running"] and (path_on_host is None or os.path.exists(os.path.join(path_on_host, "webui.db"))):
            if not st["has_healthcheck"] or st["health"] == "healthy":
                return time.monotonic() - t0
        time.sleep(0.2)
    raise AssertionError("%s not ready after %ss" % (name, timeout))


@pytest.fixture(scope="module")
def client():
    try:
        c = DockerClient()
    except Exception as exc:  # noqa: BLE001
        pytest.skip("no Docker engine: %s" % exc)
    if docker_cli("image", "inspect", SAMPLE_IMAGE, check=False).returncode != 0:
        pytest.fail("image %s missing: build the sample app image first" % SAMPLE_IMAGE)
    return c


class Apps(object):
    def __init__(self, client):
        self.client = client
        self.containers, self.volumes, self.dirs = [], [], []

    def run(self, mount=None, image=SAMPLE_IMAGE, cmd=(), env=None):
        name = PREFIX + uuid.uuid4().hex[:8]
        args = ["run", "-d", "--name", name, "--network", "host", "--label", "owb-test=1",
                "-e", "PORT=%d" % free_port()]
        for k, v in (env or {}).items():
            args += ["-e", "%s=%s" % (k, v)]
        if mount:
            args += ["-v", mount]
        docker_cli(*(args + [image] + list(cmd)))
        self.containers.append(name)
        return name

    def volume(self):
        name = PREFIX + "vol-" + uuid.uuid4().hex[:8]
        docker_cli("volume", "create", "--label", "owb-test=1", name)
        self.volumes.append(name)
        return name

    def bind_dir(self):
        d = tempfile.mkdtemp(prefix=PREFIX + "bind-")
        os.chmod(d, 0o777)
        self.dirs.append(d)
        return d

    def cleanup(self):
        for c in self.containers:
            docker_cli("rm", "-f", "-v", c, check=False)
        for v in self.volumes:
            docker_cli("volume", "rm", "-f", v, check=False)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def apps(client):
    a = Apps(client)
    yield a
    a.cleanup()


@pytest.fixture(scope="module")
def on_volume(client, apps):
    vol = apps.volume()
    name = apps.run(mount="%s:/app/backend/data" % vol)
    mountpoint = docker_cli("volume", "inspect", "-f", "{{.Mountpoint}}", vol).stdout.strip()
    waited = wait_seeded(client, name, mountpoint)
    print("[discovery] sample app on a named volume ready after %.1f s" % waited)
    return name, vol, mountpoint


def test_find_and_describe_named_volume(client, on_volume):
    name, vol, mountpoint = on_volume
    assert name in [s["name"] for s in client.find()]
    assert [s["name"] for s in client.find(name=name)] == [name]
    d = _discovery.describe_container(client, name)
    m = d["data_mount"]
    assert (m["type"], m["name"], m["source"]) == ("volume", vol, mountpoint)
    assert m["persistent"] and not m["anonymous"] and d["data_dir"] == mountpoint
    assert d["state"] == "running" and d["running"]
    assert d["secret_key"]["file_exists"] is True
    assert d["secret_key"]["file_path"] == "/app/backend/.webui_secret_key"
    assert d["supported"] is True and d["reasons"] == []
    assert d["env"]["database"]["type"] == "sqlite" and d["env"]["vector_db"]["external"] is False
    assert not any("DATA LOSS RISK" in w for w in d["warnings"])
    key = client.read_file(name, "/app/backend/.webui_secret_key")
    assert key and key.strip().decode() not in json.dumps(d)
    print("[discovery] app_version=%s (%s), image=%s" % (d["app_version"], d["app_version_source"], d["image"]))


def test_inventory_of_the_live_volume(client, on_volume):
    name, vol, mountpoint = on_volume
    t0 = time.monotonic()
    inv = _discovery.inspect_data_dir(mountpoint)
    print("[discovery] inspect_data_dir on the live volume: %.1f ms" % ((time.monotonic() - t0) * 1000))
    assert inv["alembic_revision"] == EXPECTED["alembic_revision"]
    assert inv["journal_mode"] == "wal" and inv["chroma_journal_mode"] == "delete"
    assert inv["uploads"]["files"] >= len(EXPECTED["files"])
    assert inv["vector_db"]["segment_count"] >= 9


def test_read_file_running_paused_stopped(client, apps):
    name = apps.run()
    wait_seeded(client, name)
    path = "/app/backend/.webui_secret_key"
    t0 = time.monotonic()
    while client.read_file(name, path) is None and time.monotonic() - t0 < 30:
        time.sleep(0.2)
    running = client.read_file(name, path)
    assert running
    client.pause(name)
    try:
        assert client.state(name)["status"] == "paused"
        assert client.read_file(name, path) == running
        assert client.read_file(name, "/no/such/file") is None
    finally:
        client.unpause(name)
    client.stop(name, timeout=10)
    assert client.state(name)["status"] == "exited"
    assert client.read_file(name, path) == running
    client.start(name)
    res = client.wait_healthy(name, timeout=120)
    print("[discovery] start -> %s after %.1f s" % (res["health"], res["seconds"]))


def test_bind_mount(client, apps):
    d = apps.bind_dir()
    name = apps.run(mount="%s:/app/backend/data" % d)
    wait_seeded(client, name, d)
    desc = _discovery.describe_container(client, name)
    assert desc["data_mount"]["type"] == "bind" and desc["data_mount"]["source"] == d
    assert desc["persistent"] and desc["supported"]
    inv = _discovery.inspect_data_dir(d)
    assert inv["alembic_revision"] == EXPECTED["alembic_revision"]


def test_no_volume_warns_loudly(client, apps, tmp_path):
    name = apps.run()
    wait_seeded(client, name)
    d = _discovery.describe_container(client, name)
    assert d["persistent"] is False
    assert any(w.startswith("DATA LOSS RISK") for w in d["warnings"]), d["warnings"]
    if d["data_mount"]["type"] == "none":       # no VOLUME in the image: the data is in the container layer
        assert d["supported"] is False and d["data_dir"] is None
    else:                                       # VOLUME in the image: an anonymous volume
        assert d["data_mount"]["anonymous"] is True
    res = run_module(tmp_path, container=name)
    assert res.get("failed") is not True, res
    assert any("DATA LOSS RISK" in w for w in res["discovery_warnings"])


def test_module_on_the_named_volume(client, on_volume, tmp_path):
    name, vol, mountpoint = on_volume
    res = run_module(tmp_path, container=name)
    assert res.get("failed") is not True, res
    assert res["changed"] is False
    inst = res["instances"][0]
    assert inst["name"] == name and inst["data_dir"] == mountpoint
    assert inst["inventory"]["alembic_revision"] == EXPECTED["alembic_revision"]
    res = run_module(tmp_path, label="owb-test=1", _ansible_check_mode=True)
    assert res.get("failed") is not True, res
    assert name in [i["name"] for i in res["instances"]]


def test_module_missing_container_lists_what_it_saw(client, on_volume, tmp_path):
    name = on_volume[0]
    res = run_module(tmp_path, container="owbt-no-such-container")
    assert res["failed"] is True
    assert "container owbt-no-such-container not found" in res["msg"] and name in res["msg"]


def test_volume_without_openwebui_data_fails_clearly(client, apps, tmp_path):
    vol = apps.volume()
    name = apps.run(mount="%s:/app/backend/data" % vol, image=PLAIN_IMAGE, cmd=["sleep", "infinity"])
    mountpoint = docker_cli("volume", "inspect", "-f", "{{.Mountpoint}}", vol).stdout.strip()
    with pytest.raises(BackupError) as err:
        _discovery.inspect_data_dir(mountpoint)
    assert "does not look like an Open WebUI data directory" in str(err.value)
    res = run_module(tmp_path, container=name)
    assert res["failed"] is True
    assert "does not look like an Open WebUI data directory" in res["msg"] and "Fix:" in res["msg"]
