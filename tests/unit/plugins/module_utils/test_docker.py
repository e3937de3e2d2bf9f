# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _docker: parsing helpers, and DockerClient logic over a fake low-level API."""

from __future__ import annotations

import io
import sys
import tarfile

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _docker
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import DockerClient

ANON = "f" * 64


class FakeAPIError(Exception):
    def __init__(self, status_code, text):
        super().__init__(text)
        self.status_code = status_code


class NotFound(FakeAPIError):
    def __init__(self, text="not found"):
        super().__init__(404, text)


def tar_of(name, data):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class FakeAPI(object):
    """Just enough of docker.APIClient, answering like Docker 20.10 does."""

    def __init__(self, containers=(), volumes=None, images=None, files=None):
        self._containers = {c["Id"]: c for c in containers}
        self._volumes = volumes or {}
        self._images = images or {}
        self._files = files or {}
        self.calls = []

    def _get(self, ref):
        for cid, c in self._containers.items():
            if ref == cid or cid.startswith(ref) or c["Name"].lstrip("/") == ref:
                return c
        raise NotFound("No such container: %s" % ref)

    def containers(self, all=False, filters=None):
        out = []
        for c in self._containers.values():
            labels = c["Config"].get("Labels") or {}
            if filters and filters.get("label"):
                want = filters["label"][0]
                k, dummy, v = want.partition("=")
                if k not in labels or (v and labels[k] != v):
                    continue
            if filters and filters.get("id") and c["Id"] not in filters["id"]:
                continue
            out.append({"Id": c["Id"], "Names": [c["Name"]], "Image": c["Config"]["Image"], "ImageID": c["Image"],
                        "State": c["State"]["Status"], "Status": "Up", "Labels": labels, "Mounts": c["Mounts"]})
        return out

    def inspect_container(self, ref):
        return self._get(ref)

    def inspect_volume(self, name):
        if name not in self._volumes:
            raise NotFound("no such volume")
        return self._volumes[name]

    def inspect_image(self, ref):
        if ref not in self._images:
            raise NotFound("no such image")
        return self._images[ref]

    def create_host_config(self, **kw):
        return kw

    def remove_container(self, cid, force=False):
        raise NotFound("No such container: %s" % cid)

    def pause(self, cid):
        self.calls.append(("pause", cid))
        c = self._get(cid)
        if c["State"]["Paused"]:
            raise FakeAPIError(500, "Container %s is already paused" % cid)
        c["State"]["Paused"] = True

    def unpause(self, cid):
        self.calls.append(("unpause", cid))
        c = self._get(cid)
        if not c["State"]["Paused"]:
            raise FakeAPIError(500, 'Internal Server Error ("Container %s is not paused")' % cid)
        c["State"]["Paused"] = False

    def stop(self, cid, timeout=None):
        self.calls.append(("stop", cid, timeout))
        self._get(cid)

    def start(self, cid):
        self.calls.append(("start", cid))
        self._get(cid)

    def get_archive(self, cid, path):
        self._get(cid)
        if path not in self._files:
            raise NotFound("Could not find the file %s in container" % path)
        data = self._files[path]
        return iter([tar_of(path.rsplit("/", 1)[-1], data)]), {"size": len(data)}


class FakeSDKClient(object):
    def __init__(self, api):
        self.api = api

    def close(self):
        pass


def container(cid="c" * 64, name="open-webui", image="ghcr.io/open-webui/open-webui:main", mounts=None,
              env=None, labels=None, paused=False, status="running", health=None, healthcheck=None):
    st = {"Status": "paused" if paused else status, "Running": status == "running", "Paused": paused,
          "Restarting": False, "ExitCode": 0, "Pid": 42, "StartedAt": "2026-11-27T00:00:00Z"}
    if health:
        st["Health"] = {"Status": health}
    cfg = {"Image": image, "Env": env or ["PATH=/usr/bin"], "Labels": labels or {}, "WorkingDir": "/app/backend"}
    if healthcheck:
        cfg["Healthcheck"] = {"Test": healthcheck}
    return {"Id": cid, "Name": "/" + name, "Image": "sha256:" + "a" * 64, "State": st, "Config": cfg,
            "Mounts": mounts if mounts is not None else []}


def vol_mount(name="open-webui", dest="/app/backend/data"):
    return {"Type": "volume", "Name": name, "Source": "/var/lib/docker/volumes/%s/_data" % name,
            "Destination": dest, "Driver": "local", "RW": True}


def client_with(*containers, **kw):
    api = FakeAPI(containers, **kw)
    return DockerClient(client=FakeSDKClient(api)), api


# -- pure helpers -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("given,expected", [
    (None, "unix:///var/run/docker.sock"),
    ("/run/docker.sock", "unix:///run/docker.sock"),
    ("unix:///x.sock", "unix:///x.sock"),
    ("tcp://127.0.0.1:2375", "tcp://127.0.0.1:2375"),
])
def test_normalize_socket(given, expected):
    assert _docker.normalize_socket(given) == expected


def test_socket_path():
    assert _docker.socket_path("unix:///var/run/docker.sock") == "/var/run/docker.sock"
    assert _docker.socket_path("tcp://127.0.0.1:2375") is None


def test_parse_env_keeps_equal_signs_and_bare_names():
    assert _docker.parse_env(["A=1", "URL=postgresql://u:p@h/db?x=y", "BARE", "EMPTY="]) == {
        "A": "1", "URL": "postgresql://u:p@h/db?x=y", "BARE": "", "EMPTY": ""}
    assert _docker.parse_env(None) == {}


@pytest.mark.parametrize("mounts,target,dest,sub", [
    ([vol_mount()], "/app/backend/data", "/app/backend/data", ""),
    ([vol_mount(dest="/app/backend/data/")], "/app/backend/data", "/app/backend/data/", ""),
    ([vol_mount(dest="/app")], "/app/backend/data", "/app", "backend/data"),
    ([vol_mount(dest="/app"), vol_mount("b", dest="/app/backend")], "/app/backend/data", "/app/backend", "data"),
    ([vol_mount(dest="/root/.ollama")], "/app/backend/data", None, None),
    ([vol_mount(dest="/app/backend/data2")], "/app/backend/data", None, None),
    ([], "/app/backend/data", None, None),
])
def test_find_mount(mounts, target, dest, sub):
    m, subpath = _docker.find_mount(mounts, target)
    assert (m["Destination"] if m else None) == dest
    assert subpath == sub


def test_looks_like_openwebui():
    assert _docker.looks_like_openwebui({"Image": "ghcr.io/open-webui/open-webui:main", "Mounts": []})
    assert _docker.looks_like_openwebui({"Image": "mine:1", "Mounts": [vol_mount()]})
    assert not _docker.looks_like_openwebui({"Image": "nginx", "Mounts": [vol_mount(dest="/data")]})


def test_anonymous_volume_name():
    assert _docker.is_anonymous_volume_name(ANON)
    assert not _docker.is_anonymous_volume_name("open-webui")
    assert not _docker.is_anonymous_volume_name("")


def test_state_from_inspect_paused_and_health():
    st = _docker.state_from_inspect(container(paused=True, health="healthy", healthcheck=["CMD", "true"]))
    assert st["status"] == "paused" and st["paused"] and not st["running"]
    assert st["health"] == "healthy" and st["has_healthcheck"]
    st = _docker.state_from_inspect(container(status="exited"))
    assert st["status"] == "exited" and st["health"] == "none" and not st["has_healthcheck"]
    st = _docker.state_from_inspect(container(healthcheck=["NONE"]))
    assert not st["has_healthcheck"]


def test_version_from_labels():
    assert _docker.version_from_labels({"org.opencontainers.image.version": "0.12.4"}) == "0.12.4"
    assert _docker.version_from_labels({}) is None


def test_extract_single_file():
    assert _docker._extract_single_file(tar_of("key", b"secret\n")) == b"secret\n"


# -- client logic over the fake API -------------------------------------------------------------------------
def test_data_mount_volume_uses_volume_mountpoint():
    c, dummy = client_with(
        container(mounts=[vol_mount()]),
        volumes={"open-webui": {"Name": "open-webui", "Mountpoint": "/srv/docker/volumes/open-webui/_data",
                                "Driver": "local", "Labels": None}})
    m = c.data_mount(c.inspect("open-webui"))
    assert m == {"type": "volume", "name": "open-webui", "source": "/srv/docker/volumes/open-webui/_data", "rw": True,
                 "destination": "/app/backend/data", "subpath": "", "anonymous": False, "persistent": True,
                 "driver": "local"}


def test_data_mount_anonymous_volume_is_not_persistent():
    c, dummy = client_with(
        container(mounts=[vol_mount(ANON)]),
        volumes={ANON: {"Name": ANON, "Mountpoint": "/var/lib/docker/volumes/%s/_data" % ANON}})
    m = c.data_mount(c.inspect("open-webui"))
    assert m["type"] == "volume" and m["anonymous"] and not m["persistent"]


def test_data_mount_bind_of_parent_dir():
    bind = {"Type": "bind", "Source": "/srv/owui", "Destination": "/app/backend", "RW": False}
    c, dummy = client_with(container(mounts=[bind]))
    m = c.data_mount(c.inspect("open-webui"))
    assert m["type"] == "bind" and m["source"] == "/srv/owui/data" and m["subpath"] == "data"
    assert m["persistent"] and not m["rw"]


def test_data_mount_none():
    c, dummy = client_with(container(mounts=[]))
    m = c.data_mount(c.inspect("open-webui"))
    assert m["type"] == "none" and not m["persistent"] and m["source"] == ""


def test_find_selectors():
    owui = container("1" * 64, "open-webui", mounts=[vol_mount()])
    other = container("2" * 64, "nginx", image="nginx:1", labels={"team": "web"})
    custom = container("3" * 64, "mychat", image="registry/me/chat:2", mounts=[vol_mount("x")], labels={"app": "owui"})
    c, dummy = client_with(owui, other, custom)
    assert sorted(s["name"] for s in c.find()) == ["mychat", "open-webui"]
    assert [s["name"] for s in c.find(name="nginx")] == ["nginx"]          # explicit choice wins
    assert [s["name"] for s in c.find(label="app=owui")] == ["mychat"]
    assert [s["name"] for s in c.find(label="team")] == ["nginx"]
    assert [s["name"] for s in c.find(image="me/chat")] == ["mychat"]
    assert c.find(label="nope") == []


def test_inspect_missing_names_what_was_seen():
    c, dummy = client_with(container(name="open-webui"))
    with pytest.raises(BackupError) as err:
        c.inspect("owui")
    text = str(err.value)
    assert "container owui not found" in text and "Fix:" in text and "open-webui (" in text


def test_seen_is_capped_and_lists_openwebui_first():
    many = [container("%064d" % i, "zz-app-%02d" % i, image="nginx") for i in range(20)]
    c, dummy = client_with(*(many + [container("f" * 64, "open-webui", mounts=[vol_mount()])]))
    text = c.seen(limit=5)
    assert text.startswith("open-webui (") and text.endswith("and 16 more ('docker ps -a')")


def test_pause_unpause_idempotent_with_engine_500():
    c, api = client_with(container())
    c.pause("open-webui")
    c.pause("open-webui")        # already paused: no error
    c.unpause("open-webui")
    c.unpause("open-webui")      # "is not paused" answered with 500 by Docker 20.10: no error
    assert [x[0] for x in api.calls] == ["pause", "pause", "unpause", "unpause"]


def test_stop_timeout_is_whole_seconds():
    c, api = client_with(container())
    c.stop("open-webui", timeout=2.2)
    assert api.calls[-1] == ("stop", "open-webui", 3) and isinstance(api.calls[-1][2], int)


def test_control_error_is_backup_error():
    c, api = client_with(container())

    def broken(cid):
        raise FakeAPIError(500, "cannot pause: cgroup freezer missing")
    api.pause = broken
    with pytest.raises(BackupError) as err:
        c.pause("open-webui")
    assert "cannot pause container open-webui" in str(err.value) and "docker unpause" in str(err.value)


def test_control_missing_container():
    c, dummy = client_with(container())
    with pytest.raises(BackupError) as err:
        c.start("gone")
    assert "does not exist" in str(err.value)


def test_read_file_and_missing_file():
    c, dummy = client_with(container(), files={"/app/backend/.webui_secret_key": b"k3y\n"})
    assert c.read_file("open-webui", "/app/backend/.webui_secret_key") == b"k3y\n"
    assert c.read_file("open-webui", "/app/package.json") is None
    with pytest.raises(BackupError):
        c.read_file("gone", "/x")


def test_image_info_digest_and_labels():
    img = {"RepoDigests": ["ghcr.io/open-webui/open-webui@sha256:" + "d" * 64], "RepoTags": ["x:main"],
           "Config": {"Labels": {"org.opencontainers.image.version": "0.12.4"}}}
    ins = container()
    c, dummy = client_with(ins, images={ins["Image"]: img})
    info = c.image_info(c.inspect("open-webui"))
    assert info["digest"] == "sha256:" + "d" * 64 and info["version"] == "0.12.4"
    assert info["name"] == "ghcr.io/open-webui/open-webui:main"


def test_image_info_when_image_is_gone():
    c, dummy = client_with(container())
    info = c.image_info(c.inspect("open-webui"))
    assert info["digest"] is None and info["version"] is None


def test_wait_healthy_times_out_with_backup_error():
    c, dummy = client_with(container(health="starting", healthcheck=["CMD", "true"]))
    with pytest.raises(BackupError) as err:
        c.wait_healthy("open-webui", timeout=0.3, poll=0.05)
    assert "did not become healthy" in str(err.value)


def test_wait_healthy_without_healthcheck_needs_a_settled_run():
    c, dummy = client_with(container())
    res = c.wait_healthy("open-webui", timeout=5, poll=0.05, settle=0.2)
    assert res["seconds"] >= 0.2 and res["status"] == "running"


def test_missing_sdk_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "docker", None)
    with pytest.raises(BackupError) as err:
        DockerClient()
    assert "python3-docker" in str(err.value) and "pip install docker" in str(err.value)


def test_unreachable_daemon_names_the_socket(tmp_path):
    pytest.importorskip("docker")
    sock = tmp_path / "nothing.sock"
    with pytest.raises(BackupError) as err:
        DockerClient(socket="unix://%s" % sock, timeout=3)
    assert str(sock) in str(err.value) and "Fix:" in str(err.value)


# -- every .api call: an SDK or transport error is a BackupError naming the call and the container -------------
def _dropped(*args, **kwargs):
    raise ConnectionError("('Connection aborted.', RemoteDisconnected('Remote end closed connection'))")


def _broken_stream(*args, **kwargs):
    def chunks():
        yield b"partial"
        _dropped()
    return chunks(), {"size": 10}


@pytest.mark.parametrize("attr,action,words", [
    ("containers", lambda c: c.find(), "cannot list containers"),
    ("inspect_container", lambda c: c.inspect("open-webui"), "cannot inspect container open-webui"),
    ("inspect_volume", lambda c: c.data_mount(container(mounts=[vol_mount()])), "cannot inspect volume open-webui"),
    ("inspect_image", lambda c: c.image_info(container()), "cannot inspect image sha256:"),
    ("pause", lambda c: c.pause("open-webui"), "cannot pause container open-webui"),
    ("unpause", lambda c: c.unpause("open-webui"), "cannot unpause container open-webui"),
    ("stop", lambda c: c.stop("open-webui"), "cannot stop container open-webui"),
    ("start", lambda c: c.start("open-webui"), "cannot start container open-webui"),
    ("get_archive", lambda c: c.read_file("open-webui", "/k"), "cannot read /k from container open-webui"),
    ("head", lambda c: c.path_exists("open-webui", "/k"), "cannot stat /k in container open-webui"),
    ("put_archive", lambda c: c.put_archive("open-webui", "/app", b""), "cannot write into /app of container open-webui"),
    ("volumes", lambda c: c.volumes(), "cannot list volumes"),
    ("create_volume", lambda c: c.create_volume("v1"), "cannot create volume v1"),
    ("inspect_image", lambda c: c.has_image("img:1"), "cannot inspect image img:1"),
    ("create_container", lambda c: c.create("img:1", name="web"), "cannot create container web from image img:1"),
    ("remove_container", lambda c: c.remove("c" * 64), "cannot remove container cccccccccccc"),
    ("get_archive", lambda c: c.read_tar("open-webui", "/d"), "cannot read /d from container open-webui"),
])
def test_every_api_error_is_a_backup_error_naming_call_and_cause(attr, action, words):
    c, api = client_with(container())
    api._url = lambda template, *args: template.format(*args)
    setattr(api, attr, _dropped)
    with pytest.raises(BackupError) as err:
        action(c)
    text = str(err.value)
    assert words in text and "Connection aborted" in text
    assert "did not answer" in text and "systemctl status docker" in text   # the likely cause


def test_a_missing_image_or_container_is_an_answer_not_an_error():
    c, api = client_with(container())
    assert c.has_image("not-here:1") is False
    assert c.remove("c" * 64) is False


def test_an_error_while_reading_the_archive_stream_is_a_backup_error():
    c, api = client_with(container())
    api.get_archive = _broken_stream
    with pytest.raises(BackupError, match="cannot read /k from container open-webui"):
        c.read_file("open-webui", "/k")


@pytest.mark.parametrize("code,cause", [(409, "state that does not allow it"), (500, "journalctl -u docker")])
def test_api_error_fix_follows_the_status(code, cause):
    c, api = client_with(container())

    def refused(cid, timeout=None):
        raise FakeAPIError(code, "engine says no")
    api.stop = refused
    with pytest.raises(BackupError) as err:
        c.stop("open-webui")
    assert "cannot stop container open-webui: engine says no" in str(err.value) and cause in str(err.value)
    assert err.value.details["container"] == "open-webui"
