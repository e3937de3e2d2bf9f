# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Thin wrapper around the Docker SDK (``docker`` Python package): find Open WebUI containers, read their
mounts, environment and state, pause/unpause/stop/start them, wait for health, read a file out of them.

Plain Python, no Ansible imports. The SDK is imported lazily: importing this module never fails, creating a
``DockerClient`` without the SDK raises a ``BackupError`` that names the package to install.

``read_file`` uses the archive endpoint (``docker cp``): it works on running, paused and stopped (exited /
created) containers; the integration tests check all three states on the Docker engine of the test bed.

This is a private module of the sage_open_webui.backup collection; its API may change at any time.
"""

from __future__ import annotations

import collections
import io
import re
import tarfile
import time

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import (
    DATA_DIR_IN_CONTAINER,
    BackupError,
)

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
VERSION_LABELS = ("org.opencontainers.image.version", "org.label-schema.version", "version")
OPENWEBUI_IMAGE_HINT = "open-webui"
_ANON_VOLUME_RE = re.compile(r"^[0-9a-f]{64}$")


def docker_host_option():
    """The ``docker_host`` option's argument spec (documented by the _docker doc fragment)."""
    return dict(type="str", default=DEFAULT_SOCKET)


def normalize_socket(socket):
    """``/var/run/docker.sock`` -> ``unix:///var/run/docker.sock``; URLs are kept as they are."""
    socket = (socket or DEFAULT_SOCKET).strip()
    if socket.startswith("/"):
        return "unix://" + socket
    return socket


def socket_path(socket):
    """Filesystem path of a ``unix://`` docker host (None for tcp:// and other schemes)."""
    socket = normalize_socket(socket)
    if socket.startswith("unix://"):
        return socket[len("unix://"):]
    return None


def _load_sdk():
    try:
        import docker  # noqa: F401  (lazy: the module must import without the SDK)
        import docker.errors  # noqa: F401
    except ImportError as exc:
        raise BackupError(
            "the Docker SDK for Python (module 'docker') is not importable by %s (%s)" % (_python(), exc),
            "install it on the managed host: 'apt install python3-docker' (Debian/Ubuntu) or "
            "'pip install docker' for the Python interpreter Ansible uses",
        )
    return docker


def _python():
    import sys

    return sys.executable or "python3"


def container_name(summary_or_inspect):
    """Name without the leading slash from a list summary (``Names``) or an inspect dict (``Name``)."""
    if summary_or_inspect.get("Name"):
        return summary_or_inspect["Name"].lstrip("/")
    names = summary_or_inspect.get("Names") or []
    return names[0].lstrip("/") if names else summary_or_inspect.get("Id", "")[:12]


def is_anonymous_volume_name(name):
    """Docker names anonymous volumes with 64 hex characters."""
    return bool(name) and bool(_ANON_VOLUME_RE.match(name))


def parse_env(env_list):
    """``["A=1", "B=x=y", "C"]`` -> ``{"A": "1", "B": "x=y", "C": ""}``."""
    env = {}
    for item in env_list or []:
        key, sep, value = item.partition("=")
        env[key] = value if sep else ""
    return env


def find_mount(mounts, target=DATA_DIR_IN_CONTAINER):
    """The mount that holds ``target`` inside the container: the exact destination, else the deepest
    mount whose destination is a parent of ``target``. Returns ``(mount, subpath)`` or ``(None, None)``.

    ``mounts`` is the ``Mounts`` list of an inspect dict or of a list summary (same keys).
    """
    target = "/" + target.strip("/")
    best, best_len = None, -1
    for mount in mounts or []:
        dest = "/" + (mount.get("Destination") or "").strip("/")
        if dest == target:
            return mount, ""
        if dest != "/" and target.startswith(dest + "/") and len(dest) > best_len:
            best, best_len = mount, len(dest)
    if best is None:
        return None, None
    dest = "/" + best["Destination"].strip("/")
    return best, target[len(dest) + 1:]


def looks_like_openwebui(summary, target=DATA_DIR_IN_CONTAINER):
    """An Open WebUI container: image name contains "open-webui", or something is mounted at the data dir."""
    image = (summary.get("Image") or "") + " " + ((summary.get("Config") or {}).get("Image") or "")
    if OPENWEBUI_IMAGE_HINT in image.lower():
        return True
    mounts = summary.get("Mounts") or []
    target = "/" + target.strip("/")
    return any("/" + (m.get("Destination") or "").strip("/") == target for m in mounts)


def summarize(summary):
    """Normalized, JSON-friendly view of a container list entry (``docker ps -a``)."""
    return {
        "id": summary.get("Id", ""),
        "name": container_name(summary),
        "image": summary.get("Image", ""),
        "image_id": summary.get("ImageID", ""),
        "state": summary.get("State", ""),
        "status": summary.get("Status", ""),
        "labels": dict(summary.get("Labels") or {}),
        "mounts": [
            {
                "type": m.get("Type", ""),
                "name": m.get("Name", ""),
                "source": m.get("Source", ""),
                "destination": m.get("Destination", ""),
                "rw": bool(m.get("RW", True)),
            }
            for m in summary.get("Mounts") or []
        ],
        "openwebui": looks_like_openwebui(summary),
    }


def state_from_inspect(inspect):
    st = inspect.get("State") or {}
    health = st.get("Health") or {}
    status = st.get("Status") or ("running" if st.get("Running") else "exited")
    return {
        "status": status,
        "running": bool(st.get("Running")) and not st.get("Paused"),
        "paused": bool(st.get("Paused")),
        "restarting": bool(st.get("Restarting")),
        "health": health.get("Status") or "none",
        "has_healthcheck": bool(((inspect.get("Config") or {}).get("Healthcheck") or {}).get("Test"))
        and ((inspect.get("Config") or {}).get("Healthcheck") or {}).get("Test") != ["NONE"],
        "started_at": st.get("StartedAt"),
        "finished_at": st.get("FinishedAt"),
        "exit_code": st.get("ExitCode"),
        "pid": st.get("Pid") or 0,
    }


def version_from_labels(labels):
    for key in VERSION_LABELS:
        value = (labels or {}).get(key)
        if value:
            return value
    return None


def _extract_single_file(tar_bytes):
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
        for member in tar:
            if member.isfile():
                fh = tar.extractfile(member)
                return fh.read() if fh else b""
            if member.issym() or member.islnk():
                return None
    return None


class DockerClient(object):
    """Docker engine access for the collection.

    ``socket``: ``unix:///var/run/docker.sock`` (default), a plain socket path, or any URL the SDK accepts.
    ``client``: an already built ``docker.DockerClient`` (tests inject fakes here).
    """

    def __init__(self, socket=DEFAULT_SOCKET, client=None, timeout=60):
        self.socket = normalize_socket(socket)
        if client is not None:
            self._client = client
            self._errors = None
            return
        docker = _load_sdk()
        self._errors = docker.errors
        try:
            self._client = docker.DockerClient(base_url=self.socket, version="auto", timeout=timeout)
            self._client.ping()
        except docker.errors.DockerException as exc:
            path = socket_path(self.socket)
            fix = "start the Docker engine ('systemctl start docker') and check that %s exists and that this user " \
                  "may use it (root or the 'docker' group), or set docker_host to the right socket" % (path or self.socket)
            raise BackupError("cannot reach the Docker engine at %s: %s" % (self.socket, _short(exc)), fix)

    # -- error helpers -----------------------------------------------------------------------------
    def _is(self, exc, name):
        if self._errors is not None:
            cls = getattr(self._errors, name, None)
            return cls is not None and isinstance(exc, cls)
        return type(exc).__name__ == name or any(c.__name__ == name for c in type(exc).__mro__)

    def _status(self, exc):
        code = getattr(exc, "status_code", None)
        if code is None:
            resp = getattr(exc, "response", None)
            code = getattr(resp, "status_code", None)
        return code

    def _missing(self, exc):
        return self._is(exc, "NotFound") or self._status(exc) == 404

    def _call(self, what, container, call, accept=None):
        """The one place a Docker API call runs: returns ``call()``; ``None`` when ``accept(exc)`` says the error
        is an expected answer; any other SDK or transport error becomes a BackupError naming the call
        (``what``, e.g. "pause container web") and, through the fix, its likely cause."""
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - docker.errors.*, requests and urllib3 errors all end here
            if accept is not None and accept(exc):
                return None
            raise self._error(what, container, exc) from exc

    def _error(self, what, container, exc):
        code = self._status(exc)
        resume = ""
        if container:
            resume = "; a paused container can be resumed with 'docker unpause %s', a stopped one with " \
                     "'docker start %s'" % (container, container)
        if self._missing(exc):
            return BackupError("cannot %s: it does not exist (any more)" % what,
                               "check that nothing removed or recreated it; containers seen: %s" % self.seen(),
                               container=container)
        if code is None:
            fix = "the Docker engine at %s did not answer or dropped the connection: check that it runs " \
                  "('systemctl status docker') and is not overloaded, then run again" % self.socket
        elif code == 409:
            fix = "the container is in a state that does not allow it: look at 'docker inspect %s'%s" % (container, resume)
        else:
            fix = "the Docker engine failed (HTTP %s): read its log ('journalctl -u docker') and 'docker inspect %s'%s" \
                  % (code, container or "", resume)
        return BackupError("cannot %s: %s" % (what, _short(exc)), fix, container=container)

    @property
    def api(self):
        return self._client.api

    # -- listing -----------------------------------------------------------------------------------
    def list_containers(self, filters=None):
        """Every container (running or not) as normalized summaries."""
        found = self._call("list containers", None, lambda: self.api.containers(all=True, filters=filters or {}))
        return [summarize(s) for s in found]

    def find(self, name=None, label=None, image=None):
        """Container summaries (see ``summarize``).

        - ``name``: that one container (name or id/prefix); chosen explicitly, so returned even when it does
          not look like Open WebUI. Missing -> BackupError listing the containers seen.
        - ``label``: ``key`` or ``key=value``; ``image``: substring of the image name (or an image id).
          Containers matching are returned (explicit choice).
        - no selector: every container that looks like Open WebUI (image name contains "open-webui" or a
          mount at /app/backend/data).
        """
        if name:
            ins = self.inspect(name)
            found = [s for s in self.list_containers({"id": [ins["Id"]]}) if s["id"] == ins["Id"]]
            return found
        filters = {}
        if label:
            filters["label"] = [label]
        found = self.list_containers(filters)
        if image:
            needle = image.lower()
            found = [
                s for s in found
                if needle in s["image"].lower() or s["image_id"].lower().startswith(needle)
                or s["image_id"].lower().startswith("sha256:" + needle)
            ]
        if not label and not image:
            found = [s for s in found if s["openwebui"]]
        return found

    def seen(self, limit=15):
        """Short text listing the containers (for error messages), Open WebUI-looking ones first."""
        try:
            items = self.list_containers()
        except BackupError:  # only used to enrich an error
            return "(could not list containers)"
        if not items:
            return "no containers at all"
        items.sort(key=lambda s: (not s["openwebui"], s["name"]))     # Open WebUI-looking ones first
        text = ", ".join("%s (%s, %s)" % (s["name"], s["image"], s["state"]) for s in items[:limit])
        if len(items) > limit:
            text += " and %d more ('docker ps -a')" % (len(items) - limit)
        return text

    # -- inspect -----------------------------------------------------------------------------------
    def inspect(self, id_or_name):
        if isinstance(id_or_name, dict):
            id_or_name = id_or_name.get("Id") or id_or_name.get("id")
        found = self._call("inspect container %s" % id_or_name, id_or_name,
                           lambda: self.api.inspect_container(id_or_name), accept=self._missing)
        if found is None:
            raise BackupError(
                "container %s not found on %s" % (id_or_name, self.socket),
                "give the name or id of an existing container; containers seen: %s" % self.seen(),
                container=id_or_name,
            )
        return found

    def inspect_volume(self, name):
        return self._call("inspect volume %s" % name, None, lambda: self.api.inspect_volume(name), accept=self._missing)

    def data_mount(self, inspect, target=DATA_DIR_IN_CONTAINER):
        """Where ``target`` (default /app/backend/data) lives on the host.

        Returns ``{"type": "volume"|"bind"|"tmpfs"|"none", "name", "source", "rw", "destination",
        "subpath", "anonymous", "persistent", "driver"}``. ``source`` is the host path (for volumes the
        ``Mountpoint`` from volume inspect; for a mount of a parent directory, the path of ``target`` below
        it). ``type`` is ``none`` when nothing is mounted: the data then lives in the container layer.
        """
        if not isinstance(inspect, dict) or "Mounts" not in inspect:
            inspect = self.inspect(inspect)
        mount, subpath = find_mount(inspect.get("Mounts"), target)
        if mount is None:
            return {"type": "none", "name": "", "source": "", "rw": True, "destination": target, "subpath": "",
                    "anonymous": False, "persistent": False, "driver": ""}
        mtype = mount.get("Type") or ("volume" if mount.get("Name") else "bind")
        source = mount.get("Source") or ""
        name = mount.get("Name") or ""
        driver = mount.get("Driver") or ""
        anonymous = False
        if mtype == "volume" and name:
            vol = self.inspect_volume(name)
            if vol:
                source = vol.get("Mountpoint") or source
                driver = vol.get("Driver") or driver
                labels = vol.get("Labels") or {}
                anonymous = "com.docker.volume.anonymous" in labels or is_anonymous_volume_name(name)
            else:
                anonymous = is_anonymous_volume_name(name)
        if subpath:
            source = source.rstrip("/") + "/" + subpath if source else ""
        return {
            "type": mtype,
            "name": name,
            "source": source,
            "rw": bool(mount.get("RW", True)),
            "destination": mount.get("Destination") or target,
            "subpath": subpath,
            "anonymous": anonymous,
            "persistent": mtype in ("volume", "bind") and not anonymous,
            "driver": driver,
        }

    @staticmethod
    def env(inspect):
        return parse_env(((inspect or {}).get("Config") or {}).get("Env"))

    def image_info(self, inspect):
        """``{"name", "id", "digest", "repo_tags", "labels", "version"}`` of the container's image."""
        config = inspect.get("Config") or {}
        image_id = inspect.get("Image") or ""
        info = {"name": config.get("Image") or "", "id": image_id, "digest": None, "repo_digests": [],
                "repo_tags": [], "labels": dict(config.get("Labels") or {}), "version": None}
        ref = image_id or info["name"]
        img = self._call("inspect image %s" % ref, None, lambda: self.api.inspect_image(ref), accept=self._missing)
        if img:
            info["repo_digests"] = list(img.get("RepoDigests") or [])
            info["repo_tags"] = list(img.get("RepoTags") or [])
            labels = dict(((img.get("Config") or {}).get("Labels")) or {})
            labels.update(info["labels"])
            info["labels"] = labels
            if info["repo_digests"]:
                info["digest"] = info["repo_digests"][0].split("@", 1)[-1]
        info["version"] = version_from_labels(info["labels"])
        return info

    # -- state and control -------------------------------------------------------------------------
    def state(self, id_or_name):
        ins = id_or_name if isinstance(id_or_name, dict) and "State" in id_or_name else self.inspect(id_or_name)
        return state_from_inspect(ins)

    def pause(self, cid):
        """Freeze every process of the container (cgroup freezer). Already paused: no error."""
        self._control(cid, "pause", lambda: self.api.pause(cid), ok_409=("already paused",))

    def unpause(self, cid):
        """Thaw a paused container. Not paused: no error."""
        self._control(cid, "unpause", lambda: self.api.unpause(cid), ok_409=("not paused",))

    def stop(self, cid, timeout=30):
        """Stop (SIGTERM/StopSignal, then SIGKILL after ``timeout`` s). Already stopped: no error."""
        timeout = int(-(-float(timeout) // 1))   # the engine wants whole seconds ("3.0" is a 500)
        self._control(cid, "stop", lambda: self.api.stop(cid, timeout=timeout), ok_409=())

    def start(self, cid):
        """Start a stopped container. Already running: no error (the engine answers 304)."""
        self._control(cid, "start", lambda: self.api.start(cid), ok_409=("already running",))

    def _control(self, cid, action, call, ok_409):
        def already_done(exc):
            code = self._status(exc)
            # "already paused" / "is not paused" come as 409 from recent engines, 500 from 20.10
            return code == 304 or (code in (409, 500) and any(s in _short(exc).lower() for s in ok_409))
        self._call("%s container %s" % (action, cid), cid, call, accept=already_done)

    def wait_healthy(self, cid, timeout=120, poll=0.2, settle=1.0):
        """Wait until the container serves again.

        With a healthcheck: until its health is ``healthy``. Without one: until it has been running (not
        paused, not restarting) for ``settle`` seconds. Returns ``{"seconds", "health", "status"}``; raises
        BackupError when ``timeout`` passes or the container exits.
        """
        t0 = time.monotonic()
        running_since = None
        last = None
        while True:
            last = self.state(cid)
            now = time.monotonic()
            if last["has_healthcheck"]:
                if last["health"] == "healthy" and last["running"]:
                    return {"seconds": round(now - t0, 3), "health": "healthy", "status": last["status"]}
            elif last["running"] and not last["restarting"]:
                if running_since is None:
                    running_since = now
                if now - running_since >= settle:
                    return {"seconds": round(now - t0, 3), "health": last["health"], "status": last["status"]}
            else:
                running_since = None
            if last["status"] in ("exited", "dead") and now - t0 > settle:
                raise BackupError(
                    "container %s is %s (exit code %s) instead of coming up" % (cid, last["status"], last["exit_code"]),
                    "read 'docker logs %s' for the reason, fix it and start it with 'docker start %s'" % (cid, cid),
                )
            if now - t0 >= timeout:
                raise BackupError(
                    "container %s did not become %s within %ss (status %s, health %s)"
                    % (cid, "healthy" if last["has_healthcheck"] else "running", timeout, last["status"], last["health"]),
                    "read 'docker logs %s' and 'docker inspect %s'; raise the timeout if the app is just slow to start"
                    % (cid, cid),
                )
            time.sleep(poll)

    # -- files -------------------------------------------------------------------------------------
    def read_file(self, cid, path, max_bytes=16 * 1024 * 1024):
        """Bytes of a regular file inside the container, or None when it does not exist (or is not a regular
        file). Uses the archive endpoint, so it works on running, paused and stopped containers."""
        what = "read %s from container %s" % (path, cid)
        archive = self._call(what, cid, lambda: self.api.get_archive(cid, path), accept=self._missing)
        if archive is None:
            self.inspect(cid)  # a missing container is an error, a missing file is None
            return None
        stream, stat = archive
        size = int((stat or {}).get("size") or 0)
        if size > max_bytes:
            self._call(what, cid, lambda: collections.deque(stream, maxlen=0))  # drain the response
            raise BackupError(
                "%s in container %s is %d bytes, more than the %d this reader accepts" % (path, cid, size, max_bytes),
                "copy it with 'docker cp' instead",
            )
        return _extract_single_file(self._call(what, cid, lambda: b"".join(stream)))

    def read_tar(self, cid, path):
        """The tar archive (bytes) of ``path`` (a file or a directory) in the container."""
        what = "read %s from container %s" % (path, cid)
        stream = self._call(what, cid, lambda: self.api.get_archive(cid, path)[0])
        return self._call(what, cid, lambda: b"".join(stream))

    def path_exists(self, cid, path):
        """True when ``path`` exists in the container (any type), using the archive HEAD request."""
        def head():
            res = self.api.head(self.api._url("/containers/{0}/archive", cid), params={"path": path})
            self.api._raise_for_status(res)
            return True
        return bool(self._call("stat %s in container %s" % (path, cid), cid, head, accept=self._missing))

    def exec_read(self, cid, cmd):
        """Output (str) of a command run in a running container, or None when it fails."""
        try:
            res = self._client.containers.get(cid).exec_run(cmd, stdout=True, stderr=False, demux=False)
        except Exception:
            return None
        if getattr(res, "exit_code", 1) != 0:
            return None
        out = res.output
        return out.decode("utf-8", "replace") if isinstance(out, bytes) else out

    def put_archive(self, cid, path, data):
        """Unpack the tar ``data`` into directory ``path`` of the container (running or not)."""
        if not self._call("write into %s of container %s" % (path, cid), cid, lambda: self.api.put_archive(cid, path, data)):
            raise BackupError("the engine refused to write into %s of container %s" % (path, cid),
                              "check that the container exists and %s is a directory in it" % path)

    # -- create and remove (restore, drill) -----------------------------------------------------------
    def volumes(self):
        """Every volume the engine knows (``docker volume ls``), as the engine lists them."""
        return (self._call("list volumes", None, self.api.volumes) or {}).get("Volumes") or []

    def create_volume(self, name, labels=None):
        self._call("create volume %s" % name, None, lambda: self.api.create_volume(name, labels=labels or {}))

    def has_image(self, image):
        """True when ``image`` is on this host (never pulled)."""
        return self._call("inspect image %s" % image, None, lambda: self.api.inspect_image(image),
                          accept=self._missing) is not None

    def create(self, image, name=None, binds=None, env=None, labels=None, network_mode=None, port_bindings=None,
               restart_policy=None, entrypoint=None, command=None, network_disabled=False):
        """Create (not start) a container; ``binds`` maps a volume name or host path to a bind spec, ``port_bindings``
        a container port to a host port or (address, port). Returns its id."""
        def create():
            hc = self.api.create_host_config(binds=binds, network_mode=network_mode, port_bindings=port_bindings or None,
                                             restart_policy=restart_policy)
            return self.api.create_container(image, name=name, environment=env or {}, host_config=hc, labels=labels or {},
                                             ports=[int(p) for p in port_bindings or {}] or None, entrypoint=entrypoint,
                                             command=command, network_disabled=network_disabled)["Id"]
        return self._call("create container %s from image %s" % (name or "(unnamed)", image), name, create)

    def remove(self, cid):
        """Remove a container (forced). True when removed, False when it was gone already."""
        return self._call("remove container %s" % cid[:12], cid[:12],
                          lambda: self.api.remove_container(cid, force=True) or True, accept=self._missing) is not None

    def logs(self, cid, tail=20):
        """The last ``tail`` lines of a container's log, as text ("" when the engine cannot give them)."""
        try:
            raw = self._call("read the log of container %s" % cid[:12], cid[:12], lambda: self.api.logs(cid, tail=tail))
        except BackupError as e:
            return "(no log: %s)" % e.problem
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)

    # -- misc --------------------------------------------------------------------------------------
    def close(self):
        self._client.close()


def _short(exc):
    text = str(exc).strip().replace("\n", " ")
    return text[:400]
