# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Discovery against the real Docker engine with the sample app (local/owb-sampleapp:latest), which seeds the
real 0.12.4 fixture into /app/backend/data, keeps writing into webui.db and has its key file at
/app/backend/.webui_secret_key.

Covers: a named volume (the volume's Mountpoint is found), a bind mount, no mount (loud warning), a volume
without Open WebUI data (clear failure), a PostgreSQL instance (unsupported, password never shown), the key
file, read_file on running/paused/stopped containers, and the openwebui_info module run the way Ansible runs it.

Containers come from the shared fixtures in tests/integration/conftest.py (sample_app, sample_app_bind,
sample_app_factory), which bring the test bed up and fail (not skip) when it cannot be.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

import ansible_collections.sage_open_webui.backup as _collection
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _discovery
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import DockerClient
from ansible_collections.sage_open_webui.backup.tests import module_runner  # noqa: E402

pytestmark = [pytest.mark.docker]

BASE_IMAGE = os.environ.get("OWB_BASE_IMAGE", "local/owb-debian-systemd:bookworm")
COLLECTION_ROOT = os.path.realpath(_collection.__path__[0])
EXPECTED = json.load(open(os.path.join(COLLECTION_ROOT, "tests", "fixtures", "openwebui-0.12.4", "expected.json")))
KEY_FILE = "/app/backend/.webui_secret_key"


def docker_cli(*args, check=True):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, check=check, timeout=180)


def run_module(tmp_path, **args):
    """The module as Ansible runs it (tests/module_runner.py); returns its result."""
    return module_runner.run_module("openwebui_info", args, tmp_path, timeout=180)[1]


def wait_key_file(client, name, timeout=30):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        data = client.read_file(name, KEY_FILE)
        if data:
            return data
        time.sleep(0.2)
    raise AssertionError("%s never wrote %s" % (name, KEY_FILE))


@pytest.fixture(scope="module")
def client():
    """Our DockerClient (the code under test); the shared fixtures (tests/integration/conftest.py) make the
    containers with the docker SDK directly."""
    return DockerClient()


def test_named_volume_found_described_and_inventoried(client, sample_app, tmp_path):
    name = sample_app.name
    mountpoint = docker_cli("volume", "inspect", "-f", "{{.Mountpoint}}", sample_app.volume).stdout.strip()
    assert name in [s["name"] for s in client.find()]
    assert [s["name"] for s in client.find(name=name)] == [name]
    key = wait_key_file(client, name)
    t0 = time.monotonic()
    d = _discovery.describe_container(client, name)
    print("[discovery] describe_container: %.0f ms" % ((time.monotonic() - t0) * 1000))
    m = d["data_mount"]
    assert (m["type"], m["name"], m["source"]) == ("volume", sample_app.volume, mountpoint)
    assert m["persistent"] and not m["anonymous"] and d["data_dir"] == mountpoint
    assert d["state"] == "running" and d["health"] == "healthy" and d["has_healthcheck"]
    assert (d["app_version"], d["app_version_source"]) == ("0.12.4", "image_label")
    assert d["secret_key"] == dict(d["secret_key"], env_set=False, file_exists=True, file_path=KEY_FILE, source="file")
    assert d["supported"] is True and d["reasons"] == []
    assert d["env"]["database"]["type"] == "sqlite" and d["env"]["vector_db"]["external"] is False
    assert not any("DATA LOSS RISK" in w for w in d["warnings"])
    assert key.strip().decode() not in json.dumps(d)

    t0 = time.monotonic()
    inv = _discovery.inspect_data_dir(mountpoint)      # live: the app keeps committing meanwhile
    print("[discovery] inspect_data_dir on the live volume: %.0f ms" % ((time.monotonic() - t0) * 1000))
    assert inv["alembic_revision"] == EXPECTED["alembic_revision"]
    assert inv["journal_mode"] == "wal" and inv["chroma_journal_mode"] == "delete"
    assert inv["webui_db"]["wal"]["present"] and inv["webui_db"]["shm"]["present"]
    assert inv["uploads"]["files"] >= len(EXPECTED["files"])
    assert inv["vector_db"]["segment_count"] == 9

    res = run_module(tmp_path, container=name)
    assert res.get("failed") is not True, res
    assert res["changed"] is False
    inst = res["instances"][0]
    assert inst["name"] == name and inst["data_dir"] == mountpoint
    assert inst["inventory"]["alembic_revision"] == EXPECTED["alembic_revision"]
    assert key.strip().decode() not in json.dumps(res)
    res = run_module(tmp_path, label="owb-test=1", _ansible_check_mode=True)
    assert res.get("failed") is not True, res
    assert name in [i["name"] for i in res["instances"]]
    res = run_module(tmp_path)                          # no selector: every Open WebUI container
    assert res.get("failed") is not True, res
    assert name in [i["name"] for i in res["instances"]]


def test_read_file_running_paused_stopped(client, sample_app):
    name = sample_app.name
    running = wait_key_file(client, name)
    client.pause(name)
    try:
        assert client.state(name)["status"] == "paused"
        assert client.read_file(name, KEY_FILE) == running
        assert client.read_file(name, "/no/such/file") is None
    finally:
        client.unpause(name)
    t0 = time.monotonic()
    client.stop(name, timeout=10)
    print("[discovery] stop: %.1f s" % (time.monotonic() - t0))
    assert client.state(name)["status"] == "exited"
    assert client.read_file(name, KEY_FILE) == running
    client.start(name)
    res = client.wait_healthy(name, timeout=120)
    print("[discovery] start -> %s after %.1f s" % (res["health"], res["seconds"]))
    assert res["health"] == "healthy"


def test_bind_mount(client, sample_app_bind):
    d = _discovery.describe_container(client, sample_app_bind.name)
    assert d["data_mount"]["type"] == "bind" and d["data_mount"]["source"] == sample_app_bind.data_dir
    assert d["persistent"] and d["supported"]
    inv = _discovery.inspect_data_dir(sample_app_bind.data_dir)
    assert inv["alembic_revision"] == EXPECTED["alembic_revision"]


def test_no_volume_warns_loudly(client, sample_app_factory, tmp_path):
    app = sample_app_factory(mount=None)
    d = _discovery.describe_container(client, app.name)
    assert d["persistent"] is False
    assert any(w.startswith("DATA LOSS RISK") for w in d["warnings"]), d["warnings"]
    if d["data_mount"]["type"] == "none":       # no VOLUME in the image: the data is in the container layer
        assert d["supported"] is False and d["data_dir"] is None
        assert "container's writable layer" in d["reasons"][0]
    else:                                       # VOLUME in the image: an anonymous volume
        assert d["data_mount"]["anonymous"] is True
    res = run_module(tmp_path, container=app.name)
    assert res.get("failed") is not True, res
    assert any("DATA LOSS RISK" in w for w in res["discovery_warnings"])


def test_module_missing_container_lists_what_it_saw(sample_app, tmp_path):
    res = run_module(tmp_path, container="owbt-no-such-container")
    assert res["failed"] is True
    assert "container owbt-no-such-container not found" in res["msg"] and sample_app.name in res["msg"]


def test_volume_without_openwebui_data_fails_clearly(client, sample_app_factory, tmp_path):
    app = sample_app_factory(mount="volume", image=BASE_IMAGE, command=["sleep", "infinity"], wait=False)
    with pytest.raises(BackupError) as err:
        _discovery.inspect_data_dir(app.data_dir)
    assert "does not look like an Open WebUI data directory" in str(err.value)
    res = run_module(tmp_path, container=app.name)
    assert res["failed"] is True
    assert "does not look like an Open WebUI data directory" in res["msg"] and "Fix:" in res["msg"]


def test_postgres_instance_is_reported_unsupported(client, sample_app_factory):
    app = sample_app_factory(mount="volume", env={"DATABASE_URL": "postgresql://owui:pw-not-shown@127.0.0.1:1/owui"},
                             wait=False)
    d = _discovery.describe_container(client, app.name)
    assert d["supported"] is False and "PostgreSQL" in d["reasons"][0]
    assert "pw-not-shown" not in json.dumps(d)
