# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup job: one point-in-time snapshot of an Open WebUI data directory into a local repository.

Flow (the freeze window holds only what needs it)::

    validate -> lock repository -> capture secret key -> [hold the container, arm safety net -> pause|stop]
      -> pin webui.db (WAL) / copy it (rollback journal) -> copy vector_db (link unchanged segments)
      -> [resume|start -> disarm (-> cold: wait healthy)] -> copy webui.db from the pinned snapshot
      -> link or copy the rest -> integrity checks, row counts, upload check -> manifest -> publish

Plain Python: the Ansible module and the scheduled runner both call :func:`run` with the same job.

This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import errno
import hashlib
import os
import shutil
import stat
import time

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import (
    DATA_DIR_IN_CONTAINER,
    SECRET_KEY_FILE_IN_CONTAINER,
    BackupError,
    failpoint,
    human_bytes,
    is_inside,
    utcnow,
)
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _common
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _docker
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _files
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _freeze
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _ollama
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _sqlite
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository

WORKERS = 4       # copy threads after the thaw (the databases and the files in parallel)
HOT_RETRIES = 5   # hot mode: how often vector_db is copied again when it changed during the copy

DEFAULTS = {
    "data_dir": None,
    "container": None,
    "repository": None,
    "host": None,
    "instance": None,
    "mode": None,
    "docker_host": "unix:///var/run/docker.sock",
    "exclude": list(_files.DEFAULT_EXCLUDE),
    "include": [],
    "sqlite_method": "backup_api",
    "integrity": "quick",
    "verify": "quick",
    "secret_key": "auto",
    "secret_key_file": None,
    "freeze_timeout": 10.0,
    "stop_timeout": 10,
    "health_timeout": 180,
    "dependents": [],
    "lock_timeout": 0.0,
    "include_ollama": False,
    "ollama_dir": None,
}


def normalize(job):
    _common.check_known(job, DEFAULTS, "snapshot job")
    j = dict(DEFAULTS, **{k: v for k, v in job.items() if v is not None})
    if not j["repository"]:
        raise BackupError("no repository given", "set repository to an absolute path outside the data directory, e.g. /var/backups/open-webui")
    j["repository"] = os.path.abspath(j["repository"])
    if not j["data_dir"] and not j["container"]:
        raise BackupError("neither data_dir nor container given", "name the Open WebUI container, or give the data directory path")
    j["mode"] = _freeze.effective_mode(j["mode"], j["container"], None)
    for key, choices in (("verify", ("quick", "deep")), ("integrity", ("quick", "full", "none")),
                         ("sqlite_method", ("backup_api", "vacuum_into")), ("secret_key", ("auto", "skip"))):
        if j[key] not in choices:
            raise BackupError("%s %r is not one of %s" % (key, j[key], ", ".join(choices)),
                              "set %s to one of %s" % (key, ", ".join(choices)))
    if j["host"] is None:
        j["host"] = _common.default_host()
    if j["instance"] is None:
        j["instance"] = j["container"] or "open-webui"
    for key in ("freeze_timeout", "stop_timeout", "health_timeout"):
        if not isinstance(j[key], (int, float)) or j[key] <= 0:
            raise BackupError("%s must be a positive number, got %r" % (key, j[key]), "set %s to a number of seconds" % key)
    return j


def argument_spec():
    """The options of a snapshot job as an Ansible argument spec (documented by the _snapshot doc fragment)."""
    return dict(
        repository=dict(type="path", required=True),
        container=dict(type="str"),
        data_dir=dict(type="path"),
        host=dict(type="str"),
        instance=dict(type="str"),
        mode=dict(type="str", choices=list(_freeze.MODES)),
        dependents=dict(type="list", elements="str", default=[]),
        exclude=dict(type="list", elements="str", default=list(_files.DEFAULT_EXCLUDE)),
        include=dict(type="list", elements="str", default=[]),
        sqlite_method=dict(type="str", choices=["backup_api", "vacuum_into"], default="backup_api"),
        integrity=dict(type="str", choices=["quick", "full", "none"], default="quick"),
        verify=dict(type="str", choices=["quick", "deep"], default="quick"),
        secret_key=dict(type="str", choices=["auto", "skip"], default="auto", no_log=False),
        secret_key_file=dict(type="path", no_log=False),
        freeze_timeout=dict(type="float", default=10),
        stop_timeout=dict(type="int", default=10),
        health_timeout=dict(type="int", default=180),
        lock_timeout=dict(type="float", default=0),
        docker_host=_docker.docker_host_option(),
        include_ollama=dict(type="bool", default=False),
        ollama_dir=dict(type="path"),
    )


def _docker_client(job):
    from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import DockerClient
    return DockerClient(socket=job["docker_host"])


def resolve_source(job, docker=None):
    """Where the data is, what the container is, and the facts that go into the manifest."""
    source = {"data_dir": job["data_dir"], "container": None, "container_id": None, "image": None,
              "image_digest": None, "app_version": None, "mount": None, "state": None, "env": {}}
    if job["container"]:
        docker = docker or _docker_client(job)
        info = docker.inspect(job["container"])
        mount = docker.data_mount(info)
        image = docker.image_info(info)
        env = docker.env(info)
        source.update({
            "container": info.get("Name", "").lstrip("/") or job["container"],
            "container_id": info.get("Id"),
            "image": image.get("name"),
            "image_digest": image.get("digest"),
            "app_version": image.get("version"),
            "mount": {"type": mount.get("type"), "name": mount.get("name")},
            "state": _freeze.container_state(info),
            "env": env,
        })
        if not job["data_dir"]:
            if mount.get("type") in (None, "none") or not mount.get("source"):
                raise BackupError(
                    "container %s has no mount at %s: its data lives in the container layer and is lost on recreate"
                    % (source["container"], DATA_DIR_IN_CONTAINER),
                    "recreate it with a named volume (-v open-webui:%s) after copying the data out with docker cp" % DATA_DIR_IN_CONTAINER,
                )
            source["data_dir"] = mount["source"]
        db_url = env.get("DATABASE_URL", "")
        if db_url and not db_url.startswith("sqlite"):
            raise BackupError(
                "container %s uses an external database (%s); this collection backs up SQLite only for now"
                % (source["container"], db_url.split(":", 1)[0]),
                "back the database up with its own tools (pg_dump) and use this collection for uploads only later",
            )
    data_dir = source["data_dir"]
    if not os.path.isabs(data_dir):
        raise BackupError("data_dir %r is not an absolute path" % data_dir, "give the absolute path of Open WebUI's data directory")
    if not os.path.isdir(data_dir):
        raise BackupError("data directory %s does not exist" % data_dir,
                          "check the path; for Docker use openwebui_info to find the volume's Mountpoint")
    if not os.path.exists(os.path.join(data_dir, "webui.db")):
        hint = "uploads/ exists but webui.db does not" if os.path.isdir(os.path.join(data_dir, "uploads")) else "no webui.db, no uploads/"
        raise BackupError("%s does not look like an Open WebUI data directory (%s)" % (data_dir, hint),
                          "point data_dir (or the container) at the directory mounted at %s" % DATA_DIR_IN_CONTAINER)
    _sqlite.header_info(os.path.join(data_dir, "webui.db"))
    repo = job["repository"]
    if is_inside(repo, data_dir):
        raise BackupError("repository %s is inside the data directory %s" % (repo, data_dir),
                          "put the repository outside the data directory, or every backup would contain the previous ones")
    if is_inside(data_dir, repo):
        raise BackupError("data directory %s is inside the repository %s" % (data_dir, repo), "use separate directories")
    return source, docker


def _capture_secret(job, source, docker, staging, warnings):
    if job["secret_key"] == "skip":
        return {"captured": False, "source": None, "reason": "skipped by request"}
    value = None
    origin = None
    if source["env"].get("WEBUI_SECRET_KEY"):
        value = source["env"]["WEBUI_SECRET_KEY"].encode()
        origin = "env"
    elif docker is not None and source["container_id"]:
        data = docker.read_file(source["container_id"], SECRET_KEY_FILE_IN_CONTAINER)
        if data:
            value = data.strip()
            origin = "file"
    if value is None:
        candidates = [job["secret_key_file"]] if job["secret_key_file"] else [
            os.path.join(os.path.dirname(os.path.abspath(source["data_dir"])), ".webui_secret_key")]
        for path in candidates:
            if path and os.path.isfile(path):
                with open(path, "rb") as f:
                    value = f.read().strip()
                origin = "file"
                break
        if value is None and job["secret_key_file"]:
            raise BackupError("secret_key_file %s does not exist" % job["secret_key_file"],
                              "give the path of .webui_secret_key, or remove the option")
    if not value:
        warnings.append("secret key not captured: neither WEBUI_SECRET_KEY nor %s was found; after a restore "
                        "every user is logged out and encrypted settings are unreadable. Set WEBUI_SECRET_KEY or "
                        "secret_key_file." % SECRET_KEY_FILE_IN_CONTAINER)
        return {"captured": False, "source": None}
    sdir = os.path.join(staging, "secret")
    os.makedirs(sdir, mode=0o700)
    os.chmod(sdir, 0o700)
    path = os.path.join(sdir, "webui_secret_key")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, value)
        os.fsync(fd)
    finally:
        os.close(fd)
    return {"captured": True, "source": origin, "sha256": hashlib.sha256(value).hexdigest()}


def _prev_index(prev):
    if prev is None:
        return {}
    try:
        return {f["path"]: f for f in prev.manifest.get("files", [])}
    except BackupError:
        return {}


_unchanged = _manifest.unchanged


def _stage_segments(src_root, dst_root, prev, prev_index, staged=None):
    """Copy (fast, no hashing) or link Chroma's segment files: everything in vector_db/ but chroma.sqlite3*.

    Called once before the freeze (the bulk of the bytes), then again inside it with ``staged``: only files
    whose size, mtime or inode changed since are copied again, and files gone since are removed, so the
    freeze does not grow with the size of the HNSW indexes. Returns {rel: {"st", "size", "sha256", "linked"}}.
    """
    out = {}
    if not os.path.isdir(src_root):
        return out
    os.makedirs(dst_root, exist_ok=True)
    started, data_root = time.time_ns(), os.path.dirname(src_root)  # (files B6, B8) racy reference; no link below the data dir
    for rel, kind, st in _files.walk(src_root):
        if rel.startswith("chroma.sqlite3"):
            continue
        drel = "vector_db/" + rel
        d = os.path.join(dst_root, rel)
        if kind == "dir":
            os.makedirs(d, exist_ok=True)
            os.chmod(d, stat.S_IMODE(st.st_mode))
            continue
        if kind != "file":
            continue
        old = (staged or {}).get(drel)
        if old is not None and _files.same_stat(old["st"], st):
            out[drel] = old
            continue
        if old is not None or os.path.lexists(d):
            os.unlink(d)
        entry = prev_index.get(drel)
        s = os.path.join(src_root, rel)
        if prev is not None and _unchanged(entry, st):
            linked = _files.link_or_copy(os.path.join(prev.path, "data", drel), s, d, st, root=data_root)
            out[drel] = {"st": st, "size": st.st_size, "sha256": entry["sha256"] if linked else None, "linked": linked,
                         "copied_ns": started}
        else:
            size = _files.copy_file(s, d, st=st, want_hash=False, root=data_root)[0]
            out[drel] = {"st": st, "size": size, "sha256": None, "linked": False, "copied_ns": started}
    for drel in set(staged or {}) - set(out):
        path = os.path.join(dst_root, drel[len("vector_db/"):])
        if os.path.lexists(path):
            os.unlink(path)
    return out


def _pin_or_copy_chroma(src, dst, pin_timeout):
    """Inside the freeze: pin chroma.sqlite3 (rollback journal: a SHARED lock, Chroma's writers wait until
    the copy after the thaw is done) or, when a frozen writer holds its lock, copy it crash-consistently."""
    if not os.path.exists(src):
        return None
    try:
        return _sqlite.pin(src, timeout=pin_timeout)
    except BackupError:
        _copy_raw_db(src, dst)
        return None


def _tree_signature(root):
    sig = []
    if os.path.isdir(root):
        for rel, kind, st in _files.walk(root):
            if kind == "file":
                sig.append((rel, st.st_size, st.st_mtime_ns))
    return sig


@dataclasses.dataclass
class _Run(object):
    """What the steps of one run share (set once in ``run``, read by the steps)."""
    job: dict
    source: dict
    docker: object
    repo: Repository
    prev: object
    sid: str
    staging: str
    clock: object
    warnings: list
    stores: list
    created: datetime.datetime = None

    def __post_init__(self):
        self.prev_index = _prev_index(self.prev)
        self.sdata = os.path.join(self.staging, "data")
        self.webui = (os.path.join(self.source["data_dir"], "webui.db"), os.path.join(self.sdata, "webui.db"))
        self.vector_db = (os.path.join(self.source["data_dir"], "vector_db"), os.path.join(self.sdata, "vector_db"))
        self.chroma = tuple(os.path.join(d, "chroma.sqlite3") for d in self.vector_db)


@dataclasses.dataclass
class _Copied(object):
    """What the critical section and the copy after it produced."""
    databases: dict
    vector: dict
    pinned: object = None      # webui.db pinned inside the freeze, copied after it
    chroma_pin: object = None
    raw_webui: bool = False    # webui.db copied raw inside the freeze, checked after it
    db_ms: int = 0
    entries: list = None
    dirs: list = None
    files_ms: int = 0
    ollama: list = ()

    def close_pins(self):
        for conn in (self.pinned, self.chroma_pin):
            if conn is not None:
                conn.close()


def run(job, docker=None, check_mode=False, now=None):
    """Take one snapshot. Returns the result dict (what the module returns)."""
    job = normalize(job)
    clock = _common.Clock()
    warnings = []
    source, docker = resolve_source(job, docker)
    clock.note("source %s (%s)" % (source["data_dir"], source["container"] or "no container"))
    stores = _ollama.resolve(job, source, docker, warnings)
    for store in stores:
        if is_inside(job["repository"], store["source"]):
            raise BackupError("repository %s is inside the Ollama store %s" % (job["repository"], store["source"]),
                              "put the repository outside it")
    repo = Repository(job["repository"], job["host"], job["instance"])
    if check_mode:
        return _preview(job, source, repo, warnings, stores)
    _check_repository_writable(job["repository"])
    with repo.lock(timeout=job["lock_timeout"]):
        sid = repo.new_id(now or utcnow())
        r = _Run(job, source, docker, repo, repo.latest_verified(), sid, repo.staging(sid), clock, warnings, stores)
        try:
            return _build(r)
        except OSError as e:
            shutil.rmtree(r.staging, ignore_errors=True)
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise BackupError("no space left on the device of %s (%s)" % (job["repository"], e.strerror),
                                  "free space there or point the repository at a larger disk; nothing was published")
            raise
        except BaseException:
            shutil.rmtree(r.staging, ignore_errors=True)
            raise


def _check_repository_writable(root):
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
    except OSError as e:
        raise BackupError("cannot create repository %s: %s" % (root, e.strerror),
                          "create it or pick a writable path (become: true)")
    if not os.access(root, os.W_OK):
        raise BackupError("repository %s is not writable" % root, "run as root (become: true) or fix its permissions")


def _build(r):
    """Secret key, the freeze with the critical section, the copy after it, then checks and publish."""
    r.created = utcnow()
    secret = _capture_secret(r.job, r.source, r.docker, r.staging, r.warnings)
    freezer = _freeze.Freezer(r.job, r.source, r.docker, r.clock, r.warnings)
    staged = None
    if freezer.effective != "hot":
        # the bulk of vector_db (HNSW segment files) before the freeze; only changes are copied inside it
        staged = _stage_segments(r.vector_db[0], r.vector_db[1], r.prev, r.prev_index)
    t_db = time.monotonic()
    with freezer:
        failpoint("frozen")
        copied = _critical_section(r, freezer.effective, staged)
        try:
            freezer.thaw()
        except BaseException:
            copied.close_pins()
            raise
    failpoint("thawed")
    _copy_after_thaw(r, copied, t_db)
    return _finish(r, freezer, secret, copied)


def _critical_section(r, mode, staged):
    """Inside the freeze (or, hot, without one): pin or copy the databases, copy the changed segment files."""
    job = r.job
    (webui_src, webui_dst), (vsrc, vdst), (chroma_src, chroma_dst) = r.webui, r.vector_db, r.chroma
    c = _Copied(databases={}, vector={})
    webui_wal = _sqlite.header_info(webui_src)["wal"]
    if mode == "hot":
        c.databases["webui.db"] = _sqlite.backup(webui_src, webui_dst, method=job["sqlite_method"], integrity=job["integrity"])
        if os.path.isdir(vsrc):
            c.vector = _copy_vector_hot(vsrc, vdst, r.prev, r.prev_index, job, c.databases)
        return c
    try:
        if mode == "pause":
            if webui_wal and job["sqlite_method"] == "backup_api":
                c.pinned = _sqlite.pin(webui_src, timeout=min(2.0, job["freeze_timeout"]))
        elif webui_wal and job["sqlite_method"] == "backup_api" and mode == "cold":
            # Nothing writes. webui.db in WAL mode: pin its snapshot now and copy it after the start (the app
            # writes new WAL frames meanwhile; a checkpoint cannot overwrite what the pin still reads).
            try:
                c.pinned = _sqlite.pin(webui_src, timeout=0.5)
            except BackupError:
                c.pinned = None
        if c.pinned is None:  # otherwise a raw copy (with its -wal/-journal), checked after the thaw
            _copy_raw_db(webui_src, webui_dst)
            c.raw_webui = True
        if mode == "pause":
            c.chroma_pin = _pin_or_copy_chroma(chroma_src, chroma_dst, pin_timeout=0.05)
        elif os.path.exists(chroma_src):
            _copy_raw_db(chroma_src, chroma_dst)
        c.vector = _stage_segments(vsrc, vdst, r.prev, r.prev_index, staged=staged)
    except BaseException:
        c.close_pins()
        raise
    return c


def _copy_after_thaw(r, c, t_db):
    """After the thaw, in parallel: chroma.sqlite3 first (while it is pinned Chroma's writers wait), webui.db,
    the files and the Ollama stores."""
    job = r.job
    (webui_src, webui_dst), (chroma_src, chroma_dst) = r.webui, r.chroma
    db_done = []

    def copy_chroma():
        if c.chroma_pin is not None:
            try:
                return _sqlite.backup(chroma_src, chroma_dst, source_conn=c.chroma_pin, integrity=job["integrity"])
            finally:
                c.chroma_pin.close()
        if "vector_db/chroma.sqlite3" in c.databases:  # hot: already copied through the backup API
            return c.databases["vector_db/chroma.sqlite3"]
        if os.path.exists(chroma_dst):
            return _finish_raw_db(chroma_src, chroma_dst, job)
        return None

    def copy_webui():
        try:
            if c.pinned is not None:
                try:
                    return _sqlite.backup(webui_src, webui_dst, source_conn=c.pinned, integrity=job["integrity"])
                finally:
                    c.pinned.close()
            if c.raw_webui:
                return _finish_raw_db(webui_src, webui_dst, job)
            return c.databases["webui.db"]
        finally:
            db_done.append(time.monotonic())

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS)
    try:
        chroma_future = pool.submit(copy_chroma)
        webui_future = pool.submit(copy_webui)
        c.entries, c.dirs, c.files_ms = _copy_rest(r, c.vector, pool)
        c.ollama = _ollama.copy(r.stores, r.staging, r.prev, pool, r.warnings) if r.stores else []
        c.databases["webui.db"] = webui_future.result()
        chroma_facts = chroma_future.result()
    finally:
        pool.shutdown(wait=True)
    if chroma_facts is not None:
        c.databases["vector_db/chroma.sqlite3"] = chroma_facts
        c.entries.append(_manifest.file_entry("vector_db/chroma.sqlite3", os.stat(chroma_src), chroma_facts["bytes"],
                                              chroma_facts["sha256"]))
    c.db_ms = int((db_done[0] - t_db) * 1000)


def _copy_rest(r, vector, pool):
    """Everything but the databases: link unchanged files, copy new ones (the app is running again).
    Returns ``(entries, dirs, files_ms)``."""
    t_files = time.monotonic()
    failpoint("copying")
    data_dir, sdata, vsrc = r.source["data_dir"], r.sdata, r.vector_db[0]
    prev, prev_index = r.prev, r.prev_index
    entries = []
    dirs = []
    jobs = []
    for rel, kind, st in _files.walk(data_dir, exclude=r.job["exclude"], include=r.job["include"], skip=_files.ALWAYS_SKIP):
        if kind == "dir":
            os.makedirs(os.path.join(sdata, rel), exist_ok=True)
            dirs.append({"path": rel, "mode": "%04o" % stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid})
        elif kind == "file":
            jobs.append((rel, st))
        else:
            r.warnings.append("skipped %s %s (only regular files and directories are backed up)" % (kind, rel))
    # vector_db directories
    for rel, kind, st in _files.walk(vsrc) if os.path.isdir(vsrc) else []:
        if kind == "dir":
            dirs.append({"path": "vector_db/" + rel, "mode": "%04o" % stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid})
    if os.path.isdir(vsrc):
        st = os.stat(vsrc)
        dirs.append({"path": "vector_db", "mode": "%04o" % stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid})

    def one(item):
        rel, st = item
        src = os.path.join(data_dir, rel)
        dst = os.path.join(sdata, rel)
        try:
            return _manifest.take_file(rel, src, dst, st, os.path.join(prev.path, "data", rel) if prev else None,
                                       prev_index.get(rel))
        except FileNotFoundError:
            return ("vanished", rel)
        except PermissionError as e:
            raise BackupError("cannot read %s in the data directory: %s" % (rel, e.strerror),
                              "run the backup as root (become: true) or make the file readable; nothing was published")

    # hash what was copied fast around the freeze, in the same pool
    hashed = {rel: pool.submit(_files.sha256_file, os.path.join(sdata, rel))
              for rel, v in vector.items() if v["sha256"] is None}
    for res in pool.map(one, jobs):
        if isinstance(res, tuple):
            r.warnings.append("%s disappeared during the backup (skipped)" % res[1])
        else:
            entries.append(res)
    for rel, v in vector.items():
        size, digest = hashed[rel].result() if rel in hashed else (v["size"], v["sha256"])
        entries.append(_manifest.file_entry(rel, v["st"], size, digest, linked=v["linked"], copied_ns=v["copied_ns"]))
    files_ms = int((time.monotonic() - t_files) * 1000)
    return entries, dirs, files_ms


def _finish(r, freezer, secret, c):
    """Checks, manifest, verification, publish."""
    job, sid, staging, clock, warnings, entries, databases = r.job, r.sid, r.staging, r.clock, r.warnings, c.entries, c.databases
    webui_src, webui_dst = r.webui
    wst = os.stat(webui_dst)
    entries.append(_manifest.file_entry("webui.db", os.stat(webui_src), wst.st_size, databases["webui.db"]["sha256"]))
    entries[-1]["mtime_ns"] = wst.st_mtime_ns
    entries.sort(key=lambda e: e["path"])
    n_linked = sum(1 for e in entries if e["linked"])
    clock.note("databases copied (%d ms); %d files: %d linked, %d copied (%d ms)"
               % (c.db_ms, len(entries), n_linked, len(entries) - n_linked, c.files_ms))

    # ---- checks ----
    t_verify = time.monotonic()
    uploads_check = _check_uploads(webui_dst, entries)
    if uploads_check["missing"]:
        warnings.append("%d upload(s) referenced by webui.db are not in the data directory: %s"
                        % (len(uploads_check["missing"]), ", ".join(uploads_check["missing"][:5])))
    if uploads_check["hash_mismatch"]:
        warnings.append("%d upload(s) differ from the sha256 recorded by Open WebUI: %s"
                        % (len(uploads_check["hash_mismatch"]), ", ".join(uploads_check["hash_mismatch"][:5])))
    manifest = {
        "schema_version": _manifest.SCHEMA_VERSION,
        "snapshot_id": sid,
        "created": r.created.isoformat(),
        "host": job["host"],
        "instance": job["instance"],
        "source": {k: v for k, v in r.source.items() if k not in ("env", "state")},
        "mode": freezer.effective,
        "databases": {},
        "secret_key": secret,
        "uploads_check": uploads_check,
        "files": entries,
        "dirs": sorted(c.dirs, key=lambda d: d["path"]),
        "warnings": warnings,
    }
    if c.ollama:
        manifest["ollama"] = list(c.ollama)
    for name, facts in databases.items():
        counts = facts.get("row_counts", {})
        keys = ("journal_mode", "method", "pages", "page_size", "bytes", "sha256", "integrity", "alembic_revision")
        manifest["databases"][name] = {k: facts.get(k) for k in keys}
        manifest["databases"][name]["row_counts"] = counts
    problems = _manifest.verify(staging, manifest, deep=(job["verify"] == "deep"))
    if problems:
        raise BackupError("the new snapshot failed verification: %s" % "; ".join(problems[:5]),
                          "nothing was published; check the disk and run the backup again")
    verify_ms = int((time.monotonic() - t_verify) * 1000)
    new_bytes = sum(e["size"] for e in entries if not e["linked"])
    manifest["totals"] = {"files": len(entries), "bytes": sum(e["size"] for e in entries), "new_bytes": new_bytes,
                          "linked_files": sum(1 for e in entries if e["linked"])}
    if c.ollama:
        extra = _ollama.totals(c.ollama)
        manifest["totals"]["ollama"] = extra
        for key in ("files", "bytes", "new_bytes", "linked_files"):
            manifest["totals"][key] += extra[key]
    manifest["verification"] = {"status": "verified", "checked_files": len(entries), "deep": job["verify"] == "deep",
                                "databases": {k: v["integrity"] for k, v in databases.items()}}
    failpoint("before_publish")
    t_sync = time.monotonic()
    _files.syncfs(staging)  # every byte on disk before the manifest and the rename make the snapshot visible
    manifest["timing_ms"] = {"total": clock.ms(), "freeze": freezer.freeze_ms, "downtime": freezer.downtime_ms,
                             "app_stop": freezer.stop_ms, "app_start": freezer.start_ms,
                             "databases": c.db_ms, "files": c.files_ms, "verify": verify_ms,
                             "sync": int((time.monotonic() - t_sync) * 1000)}
    _manifest.write(os.path.join(staging, _manifest.MANIFEST), manifest)
    failpoint("manifest_written")
    final = r.repo.publish(staging, sid)
    failpoint("published")
    clock.note("published %s" % final)
    return {
        "changed": True,
        "snapshot_id": sid,
        "path": final,
        "mode": freezer.effective,
        "previous": r.prev.id if r.prev else None,
        "totals": manifest["totals"],
        "timing_ms": manifest["timing_ms"],
        "databases": manifest["databases"],
        "secret_key": secret,
        "uploads_check": dict(uploads_check),
        "verification": manifest["verification"],
        "warnings": warnings,
        "events": clock.events,
        "summary": _summary_line(sid, manifest),
    }


def _summary_line(sid, m):
    t = m["totals"]
    return "%s: %d files, %s (%s new), mode %s, freeze %d ms, downtime %d ms, total %d ms, %s" % (
        sid, t["files"], human_bytes(t["bytes"]), human_bytes(t["new_bytes"]), m["mode"],
        m["timing_ms"]["freeze"], m["timing_ms"]["downtime"], m["timing_ms"]["total"], m["verification"]["status"])


def _copy_raw_db(src, dst):
    """Crash-consistent copy of a database file (and its hot journal) while nothing writes to it."""
    _files.copy_file(src, dst, want_hash=False)
    for suffix in ("-journal", "-wal"):
        if os.path.exists(src + suffix):
            _files.copy_file(src + suffix, dst + suffix, want_hash=False)


def _finish_raw_db(src, dst, job, tables=None):
    """Check a raw copy (rolls back a hot journal / applies a WAL), return facts like _sqlite.backup."""
    facts = _sqlite.inspect_copy(dst, integrity=job["integrity"], tables=tables)
    if facts["integrity"] not in ("ok", "skipped"):
        raise BackupError("the copy of %s failed its integrity check: %s" % (src, facts["integrity"]),
                          "the source database is damaged; restore it from an earlier snapshot (nothing was published)")
    for suffix in ("-journal", "-wal", "-shm"):
        if os.path.exists(dst + suffix):
            os.unlink(dst + suffix)
    size, digest = _files.sha256_file(dst)
    info = _sqlite.header_info(src)
    facts.update({"method": "file_copy_frozen", "bytes": size, "sha256": digest,
                  "journal_mode": "wal" if info["wal"] else "delete"})
    return facts


def _copy_vector_hot(vsrc, vdst, prev, prev_index, job, databases):
    """Hot copy of Chroma: chroma.sqlite3 through the backup API, then the segment files; accepted only when
    the folder did not change during the whole copy (retried, else the run fails and says to use pause)."""
    chroma_src = os.path.join(vsrc, "chroma.sqlite3")
    chroma_dst = os.path.join(vdst, "chroma.sqlite3")
    for attempt in range(HOT_RETRIES + 1):
        before = _tree_signature(vsrc)
        os.makedirs(vdst, exist_ok=True)
        if os.path.exists(chroma_src):
            databases["vector_db/chroma.sqlite3"] = _sqlite.backup(chroma_src, chroma_dst, integrity=job["integrity"],
                                                                   fsync=False)
        vector = _stage_segments(vsrc, vdst, prev, prev_index)
        if before == _tree_signature(vsrc):
            return vector
        shutil.rmtree(vdst, ignore_errors=True)
        databases.pop("vector_db/chroma.sqlite3", None)
        time.sleep(0.2 * (attempt + 1))
    raise BackupError("vector_db kept changing during %d hot copies" % (HOT_RETRIES + 1),
                      "use mode 'pause' (freezes the app for well under a second) so Chroma is quiet while it is copied")


def _check_uploads(db_path, entries):
    """Every upload webui.db references must be in the snapshot; sha256 must match file.meta.file_hash."""
    present = {e["path"]: e for e in entries}
    out = {"referenced": 0, "missing": [], "hash_mismatch": [], "external": 0}
    for rel, want in _sqlite.upload_refs(db_path):
        if rel is None:
            out["external"] += 1
            continue
        out["referenced"] += 1
        entry = present.get(rel)
        if entry is None:
            out["missing"].append(rel)
        elif want and want != entry["sha256"]:
            out["hash_mismatch"].append(rel)
    return out


def _preview(job, source, repo, warnings, stores=()):
    """Check mode: what a run would do, changing nothing."""
    prev = repo.latest_verified()
    prev_index = _prev_index(prev)
    copy_n = link_n = 0
    copy_b = link_b = 0
    vsrc = os.path.join(source["data_dir"], "vector_db")
    segments = [("vector_db/" + rel, kind, st) for rel, kind, st in (_files.walk(vsrc) if os.path.isdir(vsrc) else [])
                if not rel.startswith("chroma.sqlite3")]
    for rel, kind, st in list(_files.walk(source["data_dir"], exclude=job["exclude"], include=job["include"],
                                          skip=_files.ALWAYS_SKIP)) + segments:
        if kind != "file":
            continue
        if prev is not None and _unchanged(prev_index.get(rel), st):
            link_n += 1
            link_b += st.st_size
        else:
            copy_n += 1
            copy_b += st.st_size
    mode = _freeze.effective_mode(job["mode"], source["container"], source["state"])  # as the run decides
    action = {"pause": "pause %s for well under a second" % source["container"],
              "cold": "stop %s, copy the databases and vector store, start and wait until healthy" % ", ".join(job["dependents"] + [source["container"] or ""]),
              "hot": "no interruption", "offline": "container not running: copy as is"}[mode]
    return {
        "changed": True,
        "snapshot_id": None,
        "mode": mode,
        "would": action,
        "data_dir": source["data_dir"],
        "repository": repo.path,
        "previous": prev.id if prev else None,
        "plan": {"copy_files": copy_n, "copy_bytes": copy_b, "link_files": link_n, "link_bytes": link_b,
                 "databases": ["webui.db"] + (["vector_db/chroma.sqlite3"] if os.path.exists(os.path.join(vsrc, "chroma.sqlite3")) else []),
                 "ollama": [{"label": st["label"], "source": st["source"], "volume": st["volume"]} for st in stores]},
        "warnings": warnings,
        "summary": "check mode: would snapshot %s into %s (%s; copy %d files / %s, link %d files)" % (
            source["data_dir"], repo.path, action, copy_n, human_bytes(copy_b), link_n),
    }
