# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ollama's model store on a real Docker engine: an Ollama-like container keeps a named volume at
/root/.ollama. ``include_ollama`` finds it beside a paused sample app; ``components: [ollama]`` puts lost
models back (the container using the volume is stopped around the swap and runs again after), and
recreates the volume on a new host."""

from __future__ import annotations

import hashlib
import json
import os
import uuid

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest, _restore, _snapshot

pytestmark = [pytest.mark.docker]

BASE_IMAGE = os.environ.get("OWB_BASE_IMAGE", "local/owb-debian-systemd:bookworm")


def _model(root, name, size=512 * 1024):
    blobs = os.path.join(root, "models", "blobs")
    os.makedirs(blobs, exist_ok=True)
    digests = []
    for data in (os.urandom(size), json.dumps({"model_format": "gguf"}).encode()):
        h = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, "sha256-" + h), "wb") as f:
            f.write(data)
        digests.append("sha256:" + h)
    mdir = os.path.join(root, "models", "manifests", "registry.ollama.ai", "library", name)
    os.makedirs(mdir, exist_ok=True)
    with open(os.path.join(mdir, "latest"), "w") as f:
        json.dump({"schemaVersion": 2, "layers": [{"digest": digests[0]}], "config": {"digest": digests[1]}}, f)
    return "models/blobs/" + digests[0].replace(":", "-")


@pytest.fixture
def ollama(docker_client):
    """A running container with a fresh named volume at /root/.ollama holding one model."""
    import docker

    tag = uuid.uuid4().hex[:8]
    volume = "owbt-ollama-%s" % tag
    vol = docker_client.volumes.create(volume, labels={"owb-testbed": "1"})
    blob = _model(vol.attrs["Mountpoint"], "tiny")
    c = docker_client.containers.run(
        BASE_IMAGE, ["sleep", "infinity"], detach=True, name="owbt-ollama-%s" % tag, network_mode="host",
        volumes={volume: {"bind": "/root/.ollama", "mode": "rw"}}, labels={"owb-testbed": "1", "owb-test": "1"})
    info = {"container": c, "volume": volume, "mountpoint": vol.attrs["Mountpoint"], "blob": blob}
    yield info
    for obj in (c,):
        try:
            obj.remove(force=True)
        except docker.errors.NotFound:
            pass
    try:
        docker_client.volumes.get(volume).remove(force=True)
    except docker.errors.NotFound:
        pass


def _store(manifest, volume):
    found = [s for s in manifest.get("ollama", []) if s.get("volume") == volume]
    assert len(found) == 1, [s.get("volume") for s in manifest.get("ollama", [])]
    return found[0]


def test_pause_snapshot_includes_the_ollama_volume_and_restore_puts_models_back(sample_app, ollama, tmp_path):
    repo = str(tmp_path / "repo")
    res = _snapshot.run({"container": sample_app.name, "repository": repo, "host": "h1", "mode": "pause",
                         "include_ollama": True})
    m = _manifest.load(res["path"])
    store = _store(m, ollama["volume"])
    assert store["type"] == "volume" and store["container"] == ollama["container"].name
    assert ollama["blob"] in [f["path"] for f in store["files"]]
    assert store["models"] == {"models": 1, "missing_blobs": []}
    assert _manifest.verify(res["path"], m, deep=True) == []
    assert sample_app.status() == "running"

    # the model is lost; the Ollama container keeps running
    lost = os.path.join(ollama["mountpoint"], ollama["blob"])
    with open(lost, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    os.unlink(lost)
    job = {"repository": repo, "host": "h1", "instance": sample_app.name, "components": ["ollama"]}
    out = _restore.run(job)
    (o,) = [s for s in out["ollama"] if s["volume"] == ollama["volume"]]
    assert o["restarted"] == [ollama["container"].name]
    ollama["container"].reload()
    assert ollama["container"].status == "running"
    with open(lost, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == want
    assert os.path.isdir(o["rollback"]) and os.path.dirname(o["rollback"]) == os.path.dirname(ollama["mountpoint"])
    # Open WebUI's data was not touched, and the app never stopped
    assert sample_app.status() == "running"


def test_ollama_restore_on_a_new_host_creates_the_volume(sample_app, ollama, tmp_path, docker_client):
    repo = str(tmp_path / "repo")
    res = _snapshot.run({"container": sample_app.name, "repository": repo, "host": "h1", "mode": "hot",
                         "include_ollama": True})
    expected = {f["path"]: f["sha256"] for f in _store(_manifest.load(res["path"]), ollama["volume"])["files"]}
    ollama["container"].remove(force=True)
    docker_client.volumes.get(ollama["volume"]).remove(force=True)

    job = {"repository": repo, "host": "h1", "instance": sample_app.name, "components": ["ollama"]}
    preview = _restore.run(job, check_mode=True)
    (p,) = [s for s in preview["ollama"] if s["volume"] == ollama["volume"]]
    assert p["would"][0] == "create volume %s" % ollama["volume"]
    out = _restore.run(job)
    (o,) = [s for s in out["ollama"] if s["volume"] == ollama["volume"]]
    mountpoint = docker_client.volumes.get(ollama["volume"]).attrs["Mountpoint"]
    assert o["dir"] == mountpoint
    got = {}
    for dirpath, dummy, files in os.walk(mountpoint):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                got[os.path.relpath(path, mountpoint)] = hashlib.sha256(f.read()).hexdigest()
    assert got == expected


def test_restore_playbook_puts_only_the_models_back(sample_app, ollama, tmp_path):
    """The restore role with restore_components: [ollama]: check mode changes nothing, the run restores."""
    from engine import ansible_playbook

    repo = str(tmp_path / "repo")
    _snapshot.run({"container": sample_app.name, "repository": repo, "host": "h1", "mode": "hot", "include_ollama": True})
    lost = os.path.join(ollama["mountpoint"], ollama["blob"])
    os.unlink(lost)
    ev = {"restore_repository": repo, "restore_host": "h1", "restore_instance": sample_app.name,
          "restore_components": ["ollama"]}
    proc = ansible_playbook("playbooks/restore.yml", ev, check=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert not os.path.exists(lost)
    proc = ansible_playbook("playbooks/restore.yml", ev)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "previous models kept in" in proc.stdout
    assert os.path.exists(lost)
    ollama["container"].reload()
    assert ollama["container"].status == "running" and sample_app.status() == "running"
