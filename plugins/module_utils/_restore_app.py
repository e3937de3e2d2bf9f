# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The app side of a restore: the container that runs the data (stop, start, wait until healthy, the safety
net that starts it again if this process dies while it is down), the secret key file inside it, and the
containers a restore creates and removes. Plain Python, no Ansible imports.

This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import tarfile
import time
import urllib.parse

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import (
    DATA_DIR_IN_CONTAINER,
    SECRET_KEY_FILE_IN_CONTAINER,
    BackupError,
)
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _safety
from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import socket_path


def docker_client(docker_host):
    """A Docker client for ``docker_host`` (the SDK is imported only when a restore needs the engine)."""
    from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import DockerClient
    return DockerClient(socket=docker_host)


class App(object):
    """The container ``cid`` (``name``) that runs the data directory; ``was_running`` before the restore."""

    def __init__(self, docker, cid, name, was_running, stop_timeout=30, health_timeout=240, health_url=None,
                 docker_host=None):
        self.docker = docker
        self.cid = cid
        self.name = name or cid
        self.was_running = was_running
        self.stop_timeout = stop_timeout
        self.health_timeout = health_timeout
        self.health_url = health_url
        self.docker_host = docker_host
        self.net = None

    def arm(self, deadline):
        """A detached watchdog starts the container when this process dies (or after ``deadline`` seconds)."""
        if self.net is None:
            self.net = _safety.arm(self.cid, "start", deadline, docker_socket=socket_path(self.docker_host) or self.docker_host)

    def disarm(self):
        net, self.net = self.net, None
        if net is not None:
            try:
                net.disarm()
            except Exception:  # noqa: BLE001 - the watchdog only starts a container that runs already
                pass

    def stop(self):
        self.docker.stop(self.cid, timeout=self.stop_timeout)

    def start_healthy(self):
        """Start and wait until healthy (Docker healthcheck, else running; and ``health_url`` when given)."""
        self.docker.start(self.cid)
        return wait_app(self.docker, self.cid, self.health_timeout, self.health_url)


def wait_app(docker, cid, timeout, health_url=None):
    """Container healthy (Docker healthcheck, else running) and, when given, ``health_url`` answering 200."""
    t0 = time.monotonic()
    res = docker.wait_healthy(cid, timeout=timeout)
    if health_url:
        while not health_url_ok(health_url):
            st = docker.state(cid)
            if st["status"] in ("exited", "dead"):
                raise BackupError("container %s exited (code %s) instead of serving %s" % (cid, st["exit_code"], health_url),
                                  "read 'docker logs %s'" % cid)
            if time.monotonic() - t0 > timeout:
                raise BackupError("%s did not answer within %ss" % (health_url, timeout),
                                  "read 'docker logs %s'; raise health_timeout if the app is slow" % cid)
            time.sleep(0.25)
    res["seconds"] = round(time.monotonic() - t0, 3)
    return res


def _tar_one(name, data, mode=0o600, uid=0, gid=0):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime, ti.uid, ti.gid = len(data), mode, int(time.time()), uid, gid
        tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def read_snapshot_key(snap_path, manifest):
    """Bytes of the snapshot's key (checked against the manifest's sha256) or None when not captured."""
    info = manifest.get("secret_key") or {}
    if not info.get("captured"):
        return None
    p = os.path.join(snap_path, "secret", "webui_secret_key")
    fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as f:
        value = f.read(1 << 16)
    if info.get("sha256") and hashlib.sha256(value).hexdigest() != info["sha256"]:
        raise BackupError("the snapshot's secret key does not match the sha256 in its manifest",
                          "the snapshot is damaged or tampered with; use another snapshot")
    return value


def put_key(docker, cid, value, uid=0, gid=0):
    d, name = os.path.split(SECRET_KEY_FILE_IN_CONTAINER)
    docker.put_archive(cid, d, _tar_one(name, value, 0o600, uid, gid))


def health_url_ok(url, timeout=3):
    """GET ``url`` (Open WebUI's /health): 200 and not {"status": false}. Plain http.client, no redirects."""
    try:
        parts = urllib.parse.urlsplit(url)
        conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(parts.hostname, parts.port, timeout=timeout)
        try:
            conn.request("GET", (parts.path or "/") + ("?" + parts.query if parts.query else ""))
            r = conn.getresponse()
            body = r.read(4096)
        finally:
            conn.close()
        if r.status != 200:
            return False
        try:
            return json.loads(body or b"{}").get("status", True) is not False
        except ValueError:
            return True
    except (OSError, ValueError, http.client.HTTPException):
        return False


def create_container(docker, image, name, spec, mount_source, sid):
    """Create (not start) container ``name`` from ``image`` on ``mount_source`` (volume name or directory)
    with the ``create_container`` settings ``spec``. Returns its id."""
    spec = dict(spec or {})
    ports = spec.get("ports") or {}
    labels = dict(spec.get("labels") or {})
    labels["io.sage-open-webui.restored-from"] = sid
    return docker.create(image, name=name, binds={mount_source: {"bind": DATA_DIR_IN_CONTAINER, "mode": "rw"}},
                         env=dict(spec.get("env") or {}), labels=labels,
                         network_mode=spec.get("network_mode") or ("host" if not ports else "bridge"),
                         port_bindings={int(k): v for k, v in ports.items()},
                         restart_policy={"Name": spec.get("restart_policy", "unless-stopped")})


def remove_container(docker, cid, warnings):
    """Remove a container this run created; one already gone is fine, any other failure becomes a warning."""
    try:
        docker.remove(cid)
    except BackupError as e:
        warnings.append("%s; remove it with 'docker rm -f %s'" % (e.problem, cid[:12]))
