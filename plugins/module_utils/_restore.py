# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The restore job and the restore drill. Plain Python, no Ansible imports.

Flow of :func:`run` (nothing on the host changes before the new data is verified)::

    pick snapshot (latest | id | newest at or before a time) from a snapshot *source*
      -> check manifest paths, links and every file's sha256 (refused here: app untouched)
      -> read the target image's alembic migrations: a revision the image does not know is newer -> refuse
      -> secret key plan (file into the container, or guidance when WEBUI_SECRET_KEY differs)
      -> copy into a staging directory on the data directory's filesystem, hashing every byte again
      -> stop the app -> rename the current entries into owb-rollback-<ts>/ -> rename the staged ones in
      -> chown/chmod from the manifest -> put the key file -> start -> wait healthy
      -> not healthy: put the previous data and key back, start, wait healthy, fail loudly

Snapshot sources: :class:`LocalSource` reads the local repository. Off-host targets (S3, rclone, NAS,
encrypted copies) implement the same three calls (``list``, ``select``, ``fetch``); ``fetch`` brings the
snapshot into a local directory (extracting archives with :func:`safe_extract`) and everything after it is
shared.

This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import socket
import sqlite3
import stat
import subprocess
import tarfile
import time
import urllib.parse

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import (
    DATA_DIR_IN_CONTAINER,
    SECRET_KEY_FILE_IN_CONTAINER,
    BackupError,
    fsync_path,
    human_bytes,
    is_inside,
    parse_snapshot_id,
    utcnow,
)
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _common
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _files
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _sqlite
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository, check_name

COMPONENTS = ("all", "database", "uploads", "vector_db", "ollama")  # ollama: never part of "all"
# top-level names of the data directory each component replaces (side files are moved aside with the db)
COMPONENT_NAMES = {
    "database": ["webui.db"],
    "uploads": ["uploads"],
    "vector_db": ["vector_db"],
}
DB_SIDE = ("webui.db-wal", "webui.db-shm", "webui.db-journal")
RESERVED_PREFIX = "owb-"  # our sibling dirs: owb-rollback-<ts>, owb-staging-<ts>, owb-failed-<ts>
HIDDEN_PREFIX = ".owb-"  # the same, inside the data dir when no sibling on the same filesystem is usable
DEFAULT_PRESERVE = ["cache/embedding/models", "cache/whisper/models", "cache/tiktoken"]
MIGRATION_DIRS = (
    "/app/backend/open_webui/migrations/versions",
)

DEFAULTS = {
    "repository": None,
    "source": "local",
    "host": None,
    "instance": None,
    "snapshot": "latest",
    "before": None,
    "container": None,
    "data_dir": None,
    "volume": None,
    "image": None,
    "create_container": None,
    "components": ["all"],
    "secret_key": "auto",
    "alembic_check": "strict",
    "migrations_path": None,
    "preserve": list(DEFAULT_PRESERVE),
    "owner": None,
    "rollback_keep_hours": 72.0,
    "health_timeout": 240,
    "health_url": None,
    "stop_timeout": 30,
    "start": True,
    "pre_start_commands": [],
    "lock_timeout": 0.0,
    "docker_host": "unix:///var/run/docker.sock",
    "ollama_dir": None,
}


# ================================================================================= snapshot sources

class LocalSource(object):
    """Snapshots in the local repository ``<root>/<host>/<instance>/``. ``fetch`` reads them in place."""

    kind = "local"

    def __init__(self, root, host, instance):
        self.repo = Repository(root, host, instance)

    @property
    def location(self):
        return self.repo.path

    def list(self):
        """``[(id, created datetime, verified, problem)]`` oldest first; ``problem`` says why a snapshot is not
        usable (manifest damaged, not verified) and is None for a verified one."""
        out = []
        for ref in self.repo.list():
            try:
                status = (ref.manifest.get("verification") or {}).get("status")
                problem = None if status == "verified" else "not verified (status %s)" % status
            except BackupError as e:
                problem = "damaged: %s" % e.problem
            out.append((ref.id, ref.created, problem is None, problem))
        return out

    def select(self, snapshot="latest", before=None, skipped=None):
        return select_snapshot(self.list(), snapshot=snapshot, before=before, where=self.location, skipped=skipped)

    def fetch(self, snapshot_id, workdir=None):
        """Local path of the snapshot (``manifest.json``, ``data/``, ``secret/``)."""
        check_name("snapshot", snapshot_id)
        path = os.path.join(self.repo.path, snapshot_id)
        if os.path.islink(path) or not os.path.isdir(path):
            raise BackupError("snapshot %s is not a directory in %s" % (snapshot_id, self.repo.path),
                              "list the snapshots with snapshot_info and pick an existing one")
        return path

    def lock(self, timeout=0.0):
        return self.repo.lock(timeout=timeout)


SOURCES = {"local": LocalSource}


def open_source(job):
    kind = job.get("source") or "local"
    cls = SOURCES.get(kind)
    if cls is None:
        raise BackupError("snapshot source %r is not available" % kind,
                          "use source 'local' (known: %s); off-host targets plug in here" % ", ".join(sorted(SOURCES)))
    return cls(job["repository"], job["host"], job["instance"])


def parse_time(value):
    """ISO 8601 (``2026-11-27T03:15:00Z``, offsets allowed, naive = UTC) or a snapshot id -> aware datetime."""
    if isinstance(value, datetime.datetime):
        dt = value
    else:
        text = str(value).strip()
        dt = parse_snapshot_id(text) if re.match(r"^\d{8}T\d{6}Z", text) else None
        if dt is None:
            try:
                dt = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
            except ValueError:
                raise BackupError("cannot read the time %r" % (value,),
                                  "give an ISO 8601 time such as 2026-11-27T03:15:00Z, or a snapshot id")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.astimezone(datetime.timezone.utc)


def select_snapshot(snaps, snapshot="latest", before=None, where="the repository", skipped=None):
    """Pick from ``[(id, created, verified[, problem])]``: ``before`` -> the newest verified at or before that
    time; ``latest`` -> the newest verified; else that id (which must be verified).

    Newer snapshots passed over (damaged or unverified) are appended to ``skipped`` as ``"<id>: <problem>"``,
    and named in the error when nothing usable is left."""
    snaps = sorted(snaps, key=lambda s: s[0])
    verified = [s for s in snaps if s[2]]

    def why(s):
        return "%s: %s" % (s[0], s[3] if len(s) > 3 and s[3] else "not verified")

    def passed_over(limit_id):
        out = [why(s) for s in snaps if not s[2] and (limit_id is None or s[0] > limit_id)]
        if skipped is not None:
            skipped.extend(out)
        return out
    if before not in (None, ""):
        if snapshot not in (None, "", "latest"):
            raise BackupError("both snapshot=%s and before=%s were given" % (snapshot, before), "give one of them")
        limit = parse_time(before)
        cands = [s for s in verified if s[1] <= limit]
        if not cands:
            oldest = verified[0][0] if verified else "none"
            bad = [why(s) for s in snaps if not s[2] and s[1] <= limit]
            raise BackupError("no verified snapshot at or before %s in %s%s" % (
                limit.isoformat(), where, " (unusable: %s)" % "; ".join(bad[-3:]) if bad else ""),
                "pick a later time; the oldest verified snapshot is %s" % oldest)
        chosen = cands[-1][0]
        over = [why(s) for s in snaps if not s[2] and s[0] > chosen and s[1] <= limit]
        if skipped is not None:
            skipped.extend(over)
        return chosen
    if snapshot in (None, "", "latest"):
        if not verified:
            bad = passed_over(None)
            if bad:
                raise BackupError("no usable snapshot in %s: %s" % (where, "; ".join(bad[-3:])),
                                  "the snapshots are damaged or tampered with; check the repository disk, "
                                  "take a new backup, or restore a copy from another target")
            raise BackupError("no verified snapshot in %s" % where, "run a backup first (playbooks/backup.yml)")
        passed_over(verified[-1][0])
        return verified[-1][0]
    for s in snaps:
        if s[0] == snapshot:
            if not s[2]:
                reason = why(s).split(": ", 1)[1]
                raise BackupError("snapshot %s in %s is not usable (%s)" % (snapshot, where, reason),
                                  ("the snapshot is damaged or tampered with; " if reason.startswith("damaged") else "")
                                  + "restore a verified snapshot (snapshot_info lists them)")
            return s[0]
    known = ", ".join(s[0] for s in snaps[-5:]) or "none"
    raise BackupError("snapshot %s not found in %s" % (snapshot, where),
                      "pick one of the existing snapshots (newest: %s) or use 'latest'" % known)


# ================================================================================= safe reading

def safe_extract(tar_path, dest):
    """Extract a tar archive (any compression) into ``dest``, refusing absolute paths, ``..``, links whose
    target leaves ``dest``, hard links to outside names, device files, FIFOs. Checks every member first:
    nothing is written when one member is bad. Returns the number of members."""
    dest = os.path.realpath(dest)
    try:
        tar = tarfile.open(tar_path, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise BackupError("cannot open the archive %s: %s" % (tar_path, e), "the download is damaged; fetch it again")
    with tar:
        members = tar.getmembers()
        for m in members:
            _check_member(m, dest)
        for m in members:
            target = os.path.join(dest, m.name)
            # never write through a link: every parent must be a real directory inside dest
            parent = os.path.dirname(target)
            if not is_inside(parent, dest) or (os.path.lexists(parent) and os.path.islink(parent)):
                raise BackupError("archive member %r would be written through a link" % m.name,
                                  "the archive is damaged or tampered with; use another snapshot")
            if m.isdir():
                os.makedirs(target, exist_ok=True)
                os.chmod(target, (m.mode & 0o7777) | 0o700)
            elif m.isfile():
                os.makedirs(parent, exist_ok=True)
                src = tar.extractfile(m)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.chmod(target, m.mode & 0o7777)
            elif m.issym():
                os.makedirs(parent, exist_ok=True)
                os.symlink(m.linkname, target)
            elif m.islnk():
                os.makedirs(parent, exist_ok=True)
                os.link(os.path.join(dest, m.linkname), target, follow_symlinks=False)
    return len(members)


def _check_member(m, dest):
    name = m.name
    bad = "the archive is damaged or tampered with; use another snapshot"
    if not name or "\x00" in name or name.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", name):
        raise BackupError("archive member %r has an absolute path" % name, bad)
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        raise BackupError("archive member %r leaves the target directory (..)" % name, bad)
    target = os.path.normpath(os.path.join(dest, name))
    if not is_inside(target, dest):
        raise BackupError("archive member %r leaves the target directory" % name, bad)
    if m.ischr() or m.isblk() or m.isfifo() or m.isdev():
        raise BackupError("archive member %r is a device or FIFO" % name, bad)
    if m.issym():
        if os.path.isabs(m.linkname):
            raise BackupError("archive link %r points to the absolute path %r" % (name, m.linkname), bad)
        resolved = os.path.normpath(os.path.join(os.path.dirname(target), m.linkname))
        if not is_inside(resolved, dest):
            raise BackupError("archive link %r -> %r escapes the target directory" % (name, m.linkname), bad)
    elif m.islnk():
        if os.path.isabs(m.linkname) or ".." in m.linkname.split("/"):
            raise BackupError("archive hard link %r -> %r escapes the target directory" % (name, m.linkname), bad)
    elif not (m.isfile() or m.isdir()):
        raise BackupError("archive member %r has an unsupported type" % name, bad)


def check_snapshot_tree(snap_path, manifest, only=None):
    """No link anywhere on the way to a listed file, nothing but regular files and dirs under ``data/``."""
    problems = []
    data = os.path.join(snap_path, "data")
    for p in (snap_path, data, os.path.join(snap_path, "secret")):
        if os.path.islink(p):
            problems.append("%s is a link" % os.path.relpath(p, os.path.dirname(snap_path)))
    if problems:
        return problems
    real_data = os.path.realpath(data)
    for entry in manifest.get("files", []):
        rel = _manifest.safe_relpath(entry["path"])
        if only and not _selected(rel, only):
            continue
        parts = rel.split("/")
        cur = data
        for part in parts[:-1]:
            cur = os.path.join(cur, part)
            if os.path.islink(cur):
                problems.append("link on the path of %s: %s" % (rel, os.path.relpath(cur, data)))
                break
        full = os.path.join(data, rel)
        if os.path.lexists(full) and not is_inside(full, real_data):
            problems.append("%s resolves outside the snapshot" % rel)
    if os.path.isdir(data):
        for dirpath, dirnames, filenames in os.walk(data):
            for name in dirnames + filenames:
                full = os.path.join(dirpath, name)
                st = os.lstat(full)
                if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                    rel = os.path.relpath(full, data)
                    if only and not _selected(rel, only):
                        continue
                    kind = "link" if stat.S_ISLNK(st.st_mode) else "device or special file"
                    problems.append("%s in the snapshot: %s" % (kind, rel))
    return problems


def _selected(rel, prefixes):
    return any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in prefixes)


# ================================================================================= alembic vs image

_REV_RE = re.compile(r"^revision(?:\s*:\s*[\w\[\]| .]+)?\s*=\s*['\"]([0-9A-Za-z_]+)['\"]", re.M)
_DOWN_RE = re.compile(r"^down_revision(?:\s*:\s*[^=]+)?\s*=\s*(.+)$", re.M)


def parse_migrations(files):
    """``{filename: text}`` of alembic version scripts -> ``{"revisions": {rev: [down...]}, "heads": [...]}``."""
    revs = {}
    for name, text in files.items():
        m = _REV_RE.search(text)
        if not m:
            continue
        d = _DOWN_RE.search(text)
        downs = re.findall(r"['\"]([0-9A-Za-z_]+)['\"]", d.group(1)) if d else []
        revs[m.group(1)] = downs
    referenced = set(x for downs in revs.values() for x in downs)
    heads = sorted(r for r in revs if r not in referenced)
    return {"revisions": revs, "heads": heads}


def _tar_py_files(tar_bytes):
    out = {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
        for m in tar:
            if m.isfile() and m.name.endswith(".py") and m.size < 1 << 20:
                f = tar.extractfile(m)
                if f is not None:
                    out[os.path.basename(m.name)] = f.read().decode("utf-8", "replace")
    return out


def _migration_candidates(env_path, extra=None):
    cands = []
    if extra:
        cands.append(extra)
    cands.extend(MIGRATION_DIRS)
    prefixes = []
    for d in (env_path or "").split(":"):
        d = d.rstrip("/")
        if d.endswith("/bin"):
            prefixes.append(d[:-4] or "/")
    for p in ("/usr/local", "/usr", "/opt/venv", "/app/.venv", "/app/backend/.venv"):
        if p not in prefixes:
            prefixes.append(p)
    for prefix in prefixes:
        for minor in range(14, 7, -1):
            for sp in ("site-packages", "dist-packages"):
                cands.append("%s/lib/python3.%d/%s/open_webui/migrations/versions" % (prefix.rstrip("/"), minor, sp))
    cands.append("/usr/lib/python3/dist-packages/open_webui/migrations/versions")
    return cands


def image_migrations(docker, container_id=None, image=None, path=None):
    """Read the alembic versions Open WebUI ships in a container (or in ``image``, through a created and
    removed, never started, container). Returns ``{"path", "revisions", "heads", "image"}``."""
    api = docker.api
    temp = None
    try:
        if container_id is None:
            try:
                temp = api.create_container(image, entrypoint=["/bin/true"], command=[], labels={"io.sage-open-webui.probe": "1"},
                                            network_disabled=True)["Id"]
            except Exception as e:
                raise BackupError("cannot create a probe container from image %s: %s" % (image, str(e)[:300]),
                                  "pull the image first (docker pull %s) or check its name" % image)
            container_id = temp
        ins = api.inspect_container(container_id)
        env = docker.env(ins)
        for cand in _migration_candidates(env.get("PATH"), path):
            if not docker.path_exists(container_id, cand):
                continue
            stream = api.get_archive(container_id, cand)[0]
            files = _tar_py_files(b"".join(stream))
            parsed = parse_migrations(files)
            if parsed["revisions"]:
                parsed["path"] = cand
                parsed["image"] = (ins.get("Config") or {}).get("Image") or image
                return parsed
        raise BackupError(
            "found no open_webui/migrations/versions in %s" % ((ins.get("Config") or {}).get("Image") or image),
            "give migrations_path (the directory inside the image, e.g. <venv>/lib/python3.11/site-packages/open_webui/"
            "migrations/versions), or alembic_check=warn to restore without this check")
    finally:
        if temp is not None:
            try:
                api.remove_container(temp, force=True)
            except Exception:
                pass


def alembic_verdict(snapshot_rev, migrations, snapshot_version=None, image_version=None):
    """``{"status": ok|older|unknown_revision|no_revision, "message"}``. ``unknown_revision`` = newer: refuse."""
    heads = migrations.get("heads") or []
    head = ",".join(heads) or "?"
    img = "%s%s" % (migrations.get("image") or "the image", " (Open WebUI %s)" % image_version if image_version else "")
    snap = "alembic revision %s%s" % (snapshot_rev, " (Open WebUI %s)" % snapshot_version if snapshot_version else "")
    if not snapshot_rev:
        return {"status": "no_revision", "message": "the snapshot's webui.db records no alembic revision"}
    if snapshot_rev not in migrations.get("revisions", {}):
        return {"status": "unknown_revision",
                "message": "the snapshot's webui.db is at %s, which %s does not know (its newest is %s): the "
                           "database is newer than the image and the app would not start on it" % (snap, img, head)}
    if snapshot_rev in heads:
        return {"status": "ok", "message": "snapshot %s is the head of %s" % (snap, img)}
    return {"status": "older", "message": "snapshot %s is older than %s (head %s): the app migrates it forward at "
                                          "start; an older image cannot open it afterwards" % (snap, img, head)}


# ================================================================================= staging and swap

def _now_tag():
    return utcnow().strftime("%Y%m%dT%H%M%SZ")


def _unique_tag(base, prefix):
    """Time tag no staging/rollback/failed directory of an earlier restore uses (``-N`` on collision)."""
    tag = base_tag = _now_tag()
    n = 1
    while any(os.path.lexists(os.path.join(base, prefix + kind + tag)) for kind in ("staging-", "rollback-", "failed-")):
        n += 1
        tag = "%s-%d" % (base_tag, n)
    return tag


def work_base(data_dir):
    """Directory beside the data directory on the same filesystem (renames stay atomic), else the data dir
    itself (our entries are then hidden names, skipped when moving the current data aside)."""
    parent = os.path.dirname(data_dir.rstrip("/")) or "/"
    try:
        if parent != "/" and os.stat(parent).st_dev == os.stat(data_dir).st_dev and os.access(parent, os.W_OK):
            return parent, RESERVED_PREFIX
    except OSError:
        pass
    return data_dir, HIDDEN_PREFIX


def work_dirs(target, snap_path, job, what, link_fix):
    """Make ``target`` ready to be restored into: it must not overlap the snapshot nor be a link; our old
    rollback/failed/staging directories beside it are pruned (``rollback_keep_hours``), and a new empty
    staging directory is made. Returns ``{removed, staging, rollback, failed}`` (paths of this restore)."""
    if is_inside(target, snap_path) or is_inside(snap_path, target):
        raise BackupError("%s %s and the snapshot %s overlap" % (what, target, snap_path), "use separate directories")
    os.makedirs(target, exist_ok=True)
    if os.path.islink(target):
        raise BackupError("%s %s is a link" % (what, target), link_fix)
    base, prefix = work_base(target)
    removed = prune_rollbacks(base, prefix, float(job["rollback_keep_hours"]))
    tag = _unique_tag(base, prefix)
    out = {"removed": removed}
    for kind in ("staging", "rollback", "failed"):
        out[kind] = os.path.join(base, prefix + kind + "-" + tag)
    os.makedirs(out["staging"], mode=0o700)
    return out


def stage(snap_path, manifest, staging, only=None, owner=None, label="snapshot", workers=4, tree="data"):
    """Copy the selected files of a snapshot into ``staging`` hashing every byte, and compare with the manifest.

    Never follows links (O_NOFOLLOW on every file, parents checked beforehand). Sets mode, owner and mtime
    from the manifest (``owner`` = ``(uid, gid)`` overrides). Returns ``{"files", "bytes"}``.
    """
    data = os.path.join(snap_path, tree)
    files = [e for e in manifest.get("files", []) if not only or _selected(e["path"], only)]
    dirs = [d for d in manifest.get("dirs", []) if not only or _selected(d["path"], only)]
    for entry in files:  # every path checked before anything is written
        _manifest.safe_relpath(entry["path"])

    def one(entry):
        rel = entry["path"]
        dst = os.path.join(staging, rel)
        os.makedirs(os.path.dirname(dst), mode=0o755, exist_ok=True)
        src = os.path.join(data, rel)
        st = os.lstat(src)
        if not stat.S_ISREG(st.st_mode):
            raise BackupError("%s in the snapshot is not a regular file" % rel, "the snapshot is damaged; use another one")
        size, digest = _files.copy_file(src, dst, st=st)
        if digest != entry["sha256"] or size != entry["size"]:
            return rel, None
        _apply_meta(dst, entry, owner)
        return rel, size

    total = 0
    mismatched = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for rel, size in pool.map(one, files):
            if size is None:
                mismatched.append(rel)
            else:
                total += size
    if mismatched:
        raise BackupError("%s failed verification: sha256 differs from the manifest for %d file(s): %s"
                          % (label, len(mismatched), ", ".join(mismatched[:5])),
                          "the snapshot or its disk is damaged; nothing was changed (the app was not stopped). "
                          "Restore another snapshot (snapshot_info lists them)", problems=["sha256 differs: %s" % m for m in mismatched[:50]])
    for d in sorted(dirs, key=lambda d: d["path"].count("/"), reverse=True):
        rel = _manifest.safe_relpath(d["path"])
        p = os.path.join(staging, rel)
        os.makedirs(p, exist_ok=True)
        _apply_meta(p, d, owner, is_dir=True)
    return {"files": len(files), "bytes": total}


def _apply_meta(path, entry, owner, is_dir=False):
    uid = entry.get("uid")
    gid = entry.get("gid")
    if owner is not None:
        uid, gid = owner
    if uid is not None and gid is not None:
        try:
            os.chown(path, int(uid), int(gid), follow_symlinks=False)
        except PermissionError:
            pass
    if entry.get("mode"):
        os.chmod(path, int(entry["mode"], 8))
    if not is_dir and entry.get("mtime_ns"):
        os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]), follow_symlinks=False)


def plan_names(data_dir, staging, components, preserve, hidden_prefix=None):
    """Top-level names to move aside (current) and to move in (staged)."""
    current = sorted(n for n in os.listdir(data_dir) if not n.startswith(HIDDEN_PREFIX)) if os.path.isdir(data_dir) else []
    staged = sorted(os.listdir(staging))
    if "all" in components:
        aside = current
        move_in = staged
    else:
        names = set()
        for c in components:
            names.update(COMPONENT_NAMES[c])
            if c == "database":
                names.update(DB_SIDE)
        aside = [n for n in current if n in names]
        move_in = [n for n in staged if n in names]
    keep = []
    if "all" in components:
        for p in preserve or []:
            p = _manifest.safe_relpath(p.strip("/"))
            if _has_link(data_dir, p):
                continue  # never carry over anything reached through a link (it could point out of the data dir)
            if os.path.lexists(os.path.join(data_dir, p)) and not os.path.lexists(os.path.join(staging, p)):
                keep.append(p)
    scope = None if "all" in components else sorted(names)
    return {"aside": aside, "move_in": move_in, "preserve": keep, "scope": scope}


def _db_last(names):
    """The database (and its side files) after everything else: moved aside last, moved in first (reversed)."""
    db = [n for n in names if n == "webui.db" or n in DB_SIDE]
    return [n for n in names if n not in db] + sorted(db, key=lambda n: n == "webui.db")


def _has_link(root, rel):
    cur = root
    for part in rel.split("/"):
        cur = os.path.join(cur, part)
        if os.path.islink(cur):
            return True
        if not os.path.lexists(cur):
            return False
    return False


def swap(data_dir, staging, rollback, plan):
    """Rename the current entries into ``rollback`` and the staged ones into ``data_dir``. Same filesystem:
    every step is one rename(2). Returns a journal for :func:`undo`."""
    journal = {"aside": [], "preserved": [], "moved_in": [], "scope": plan.get("scope")}
    os.makedirs(rollback, mode=0o700, exist_ok=True)
    for name in _db_last(plan["aside"]):
        os.rename(os.path.join(data_dir, name), os.path.join(rollback, name))
        journal["aside"].append(name)
    for p in plan["preserve"]:
        src = os.path.join(rollback, p)
        if os.path.lexists(src):
            dst = os.path.join(staging, p)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.rename(src, dst)
            journal["preserved"].append(p)
    move_in = plan["move_in"]
    if journal["scope"] is None:  # full restore: whatever is staged (preserved paths may add a top-level dir)
        move_in = sorted(os.listdir(staging))
    for name in reversed(_db_last(move_in)):
        os.rename(os.path.join(staging, name), os.path.join(data_dir, name))
        journal["moved_in"].append(name)
    fsync_path(data_dir)
    fsync_path(rollback)
    return journal


def undo(data_dir, staging, rollback, journal):
    """Reverse :func:`swap`: restored entries back into ``staging``, previous ones back into ``data_dir``."""
    for name in reversed(journal["moved_in"]):
        src = os.path.join(data_dir, name)
        if os.path.lexists(src):
            os.rename(src, os.path.join(staging, name))
    for p in reversed(journal["preserved"]):
        src = os.path.join(staging, p)
        if os.path.lexists(src):
            os.makedirs(os.path.dirname(os.path.join(rollback, p)), exist_ok=True)
            os.rename(src, os.path.join(rollback, p))
    # the app may have created files (e.g. a fresh webui.db-wal) after the swap: keep them with the failed copy
    scope = journal.get("scope")
    for name in os.listdir(data_dir):
        if name.startswith(HIDDEN_PREFIX) or (scope is not None and name not in scope) or name in journal.get("pending", ()):
            continue
        dst = os.path.join(staging, name)
        n = 1
        while os.path.lexists(dst):  # never rename onto something (a directory rename would fail half-way)
            n += 1
            dst = os.path.join(staging, "%s.owb-%d" % (name, n))
        os.rename(os.path.join(data_dir, name), dst)
    for name in reversed(journal["aside"]):
        os.rename(os.path.join(rollback, name), os.path.join(data_dir, name))
    fsync_path(data_dir)


def prune_rollbacks(base, prefix, keep_hours, now=None):
    """Remove our rollback/failed/staging directories older than ``keep_hours``. Returns the removed names."""
    now = now or utcnow()
    removed = []
    for name in sorted(os.listdir(base)):
        for kind in ("rollback-", "failed-", "staging-"):
            if name.startswith(prefix + kind):
                when = parse_snapshot_id(name[len(prefix + kind):])
                if when is None:
                    continue
                age_h = (now - when).total_seconds() / 3600.0
                if kind == "staging-" or age_h >= keep_hours:
                    # staging dirs belong to runs that died (we hold the repository lock)
                    if kind == "staging-" and age_h < 0.01:
                        continue
                    p = os.path.join(base, name)
                    if not os.path.islink(p):
                        shutil.rmtree(p)
                        removed.append(name)
    return removed


# ================================================================================= secret key

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
    if not docker.api.put_archive(cid, d, _tar_one(name, value, 0o600, uid, gid)):
        raise BackupError("could not write %s into container %s" % (SECRET_KEY_FILE_IN_CONTAINER, cid),
                          "check the container exists; write it by hand with docker cp")


# ================================================================================= the job

def normalize(job):
    j = dict(DEFAULTS)
    for k, v in job.items():
        if k not in DEFAULTS:
            raise BackupError("unknown restore option %r" % k, "remove it; known options: %s" % ", ".join(sorted(DEFAULTS)))
        if v is not None:
            j[k] = v
    if not j["repository"]:
        raise BackupError("no repository given", "set repository to the absolute path of the snapshot repository")
    j["repository"] = os.path.abspath(j["repository"])
    comps = j["components"]
    if isinstance(comps, str):
        comps = [comps]
    bad = [c for c in comps if c not in COMPONENTS]
    if bad or not comps:
        raise BackupError("unknown component(s) %s" % ", ".join(bad or ["(none)"]),
                          "use 'all' or any of database, uploads, vector_db (and ollama, for a snapshot that holds Ollama models)")
    # the Ollama store is restored on its own (into its volume), never as part of "all"
    j["ollama"] = "ollama" in comps
    data_comps = [c for c in comps if c != "ollama"]
    j["components"] = (["all"] if "all" in data_comps else sorted(set(data_comps)))
    if j["ollama_dir"] is not None and not os.path.isabs(j["ollama_dir"]):
        raise BackupError("ollama_dir %r is not an absolute path" % j["ollama_dir"], "give the absolute path of Ollama's model store")
    if j["components"] and not j["container"] and not j["data_dir"] and not j["volume"]:
        raise BackupError("no restore target given", "name the container (or the volume for a new host), or give data_dir")
    if j["host"] is None:
        j["host"] = _common.default_host()
    if j["instance"] is None:
        j["instance"] = j["container"] or j["volume"] or "open-webui"
    if j["secret_key"] not in ("auto", "skip"):
        raise BackupError("secret_key must be auto or skip, got %r" % j["secret_key"], "use auto or skip")
    if j["alembic_check"] not in ("strict", "warn", "skip"):
        raise BackupError("alembic_check must be strict, warn or skip", "use strict (default)")
    if j["owner"] is not None:
        try:
            uid, gid = str(j["owner"]).split(":")
            j["owner"] = (int(uid), int(gid))
        except ValueError:
            raise BackupError("owner %r is not uid:gid" % j["owner"], "give numeric ids such as 1000:1000")
    return j



def _docker(job):
    from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import DockerClient
    return DockerClient(socket=job["docker_host"])


def resolve_target(job, docker):
    """Where the data goes and which container runs it: ``{data_dir, container_id, container, image, env,
    mount, created_volume, running, new_container_needed}``."""
    t = {"data_dir": job["data_dir"], "container_id": None, "container": job["container"], "image": job["image"],
         "env": {}, "mount": None, "volume_created": False, "running": False, "key_owner": (0, 0)}
    if job["container"] and docker is not None:
        try:
            ins = docker.inspect(job["container"])
        except BackupError:
            ins = None
            if not (job["volume"] or job["data_dir"]):
                raise
        if ins is not None:
            mount = docker.data_mount(ins)
            t.update({"container_id": ins["Id"], "container": ins.get("Name", "").lstrip("/"),
                      "image": (ins.get("Config") or {}).get("Image"), "env": docker.env(ins), "mount": mount,
                      "running": bool((ins.get("State") or {}).get("Running"))})
            if not t["data_dir"]:
                if mount["type"] in ("none", "tmpfs") or not mount["source"]:
                    raise BackupError("container %s has no volume or bind mount at %s" % (t["container"], DATA_DIR_IN_CONTAINER),
                                      "recreate it with -v open-webui:%s, then restore into that volume" % DATA_DIR_IN_CONTAINER)
                t["data_dir"] = mount["source"]
            if job["image"] and job["image"] != t["image"]:
                t["image_requested"] = job["image"]
    if not t["data_dir"] and job["volume"]:
        vol = docker.inspect_volume(job["volume"])
        t["volume"] = job["volume"]
        t["data_dir"] = vol.get("Mountpoint") if vol else None
        t["volume_missing"] = vol is None
    if t["data_dir"] and not os.path.isabs(t["data_dir"]):
        raise BackupError("data_dir %r is not absolute" % t["data_dir"], "give an absolute path")
    return t


def _health_url_ok(url, timeout=3):
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


def wait_app(docker, cid, job, timeout):
    """Container healthy (Docker healthcheck, else running) and, when given, ``health_url`` answering 200."""
    t0 = time.monotonic()
    res = docker.wait_healthy(cid, timeout=timeout)
    if job.get("health_url"):
        while not _health_url_ok(job["health_url"]):
            st = docker.state(cid)
            if st["status"] in ("exited", "dead"):
                raise BackupError("container %s exited (code %s) instead of serving %s" % (cid, st["exit_code"], job["health_url"]),
                                  "read 'docker logs %s'" % cid)
            if time.monotonic() - t0 > timeout:
                raise BackupError("%s did not answer within %ss" % (job["health_url"], timeout),
                                  "read 'docker logs %s'; raise health_timeout if the app is slow" % cid)
            time.sleep(0.25)
    res["seconds"] = round(time.monotonic() - t0, 3)
    return res


def pick(job, source, warnings):
    """The snapshot to restore (``snapshot`` / ``before``), fetched and its manifest loaded: ``(sid, path, manifest)``."""
    skipped = []
    sid = source.select(job["snapshot"], job["before"], skipped=skipped)
    if skipped:
        warnings.append("newer snapshots were passed over: %s" % "; ".join(skipped[-5:]))
    snap_path = source.fetch(sid)
    manifest = _manifest.load(snap_path)
    if (manifest.get("verification") or {}).get("status") != "verified":
        raise BackupError("snapshot %s is not verified" % sid, "restore a verified snapshot")
    return sid, snap_path, manifest


def prepare(job, source, docker, clock, warnings, deep=True):
    """Everything that happens before the host changes: pick, check, verify, alembic, key plan."""
    sid, snap_path, manifest = pick(job, source, warnings)
    only = None if "all" in job["components"] else [n for c in job["components"] for n in COMPONENT_NAMES[c]]
    t = time.monotonic()
    problems = check_snapshot_tree(snap_path, manifest, only)
    # deep=False when the staging copy hashes every byte anyway (before the app is stopped)
    problems += _manifest.verify(snap_path, manifest, deep=deep, only=only)
    if only:
        listed = [e["path"] for e in manifest.get("files", [])]
        for p in only:
            if not any(_selected(x, [p]) for x in listed) and p == "webui.db":
                problems.append("missing: webui.db (not in the manifest)")
    if problems:
        more = " (+%d more)" % (len(problems) - 5) if len(problems) > 5 else ""
        raise BackupError("snapshot %s failed verification: %s%s" % (sid, "; ".join(problems[:5]), more),
                          "nothing was changed (the app was not stopped); restore another snapshot (snapshot_info lists them)",
                          snapshot_id=sid, problems=problems[:50])
    clock.note("snapshot %s verified (%d ms)" % (sid, clock.ms(t)))
    return sid, snap_path, manifest, only, clock.ms(t)


def check_alembic(job, docker, target, manifest, warnings):
    db = (manifest.get("databases") or {}).get("webui.db") or {}
    rev = db.get("alembic_revision")
    if job["alembic_check"] == "skip":
        return {"status": "skipped"}
    image = target.get("image_requested") or target.get("image") or job["image"]
    if docker is None or not (target.get("container_id") or image):
        # nothing runs the data yet (new host without an image): say which image it needs
        msg = "no image to compare the snapshot's alembic revision %s with" % rev
        warnings.append(msg + ": start it with an image at least as new as Open WebUI %s" % (manifest.get("source", {}).get("app_version") or "of the backup"))
        return {"status": "unchecked", "snapshot_revision": rev}
    try:
        cid = target.get("container_id") if not target.get("image_requested") else None
        migr = image_migrations(docker, container_id=cid, image=image, path=job["migrations_path"])
    except BackupError as e:
        if job["alembic_check"] == "strict":
            raise
        warnings.append(str(e))
        return {"status": "unchecked", "snapshot_revision": rev}
    verdict = alembic_verdict(rev, migr, manifest.get("source", {}).get("app_version"), None)
    verdict.update({"snapshot_revision": rev, "image_heads": migr["heads"], "image": migr.get("image"), "path": migr["path"]})
    if verdict["status"] == "unknown_revision":
        if job["alembic_check"] == "strict":
            raise BackupError("refusing to restore: " + verdict["message"],
                              "restore onto an image at least as new as the one that wrote the snapshot (Open WebUI %s), "
                              "or pick an older snapshot; nothing was changed" % (manifest.get("source", {}).get("app_version") or "?"),
                              alembic=verdict)
        warnings.append(verdict["message"])
    elif verdict["status"] == "older":
        warnings.append(verdict["message"])
    return verdict


def plan_key(job, target, snap_key, manifest, warnings):
    """``{"action": put|none|guidance|skip, "message"}``; raises when the env key differs and would log everyone out."""
    if job["secret_key"] == "skip":
        return {"action": "skip", "message": "secret key not restored (secret_key=skip)"}
    if snap_key is None:
        warnings.append("the snapshot holds no secret key: users must sign in again and settings encrypted with the old key are unreadable")
        return {"action": "none", "message": "snapshot has no key"}
    env_key = target["env"].get("WEBUI_SECRET_KEY") or target["env"].get("WEBUI_JWT_SECRET_KEY")
    if env_key:
        if env_key.encode() == snap_key:
            return {"action": "none", "message": "WEBUI_SECRET_KEY in the container environment already equals the snapshot's key"}
        raise BackupError(
            "container %s sets WEBUI_SECRET_KEY in its environment and it differs from the key in the snapshot "
            "(sha256 %s…): after the restore every user would be logged out and encrypted settings unreadable"
            % (target["container"], (manifest.get("secret_key") or {}).get("sha256", "")[:12]),
            "recreate the container with WEBUI_SECRET_KEY set to the content of %s (e.g. in your compose file or "
            "an env file), then run the restore again; or set secret_key=skip to restore without the key. Nothing was changed"
            % "<snapshot>/secret/webui_secret_key")
    if not target.get("container_id") and not job["image"]:
        return {"action": "guidance", "message": "no container: copy the key in before its first start"}
    return {"action": "put", "message": "key file written to %s" % SECRET_KEY_FILE_IN_CONTAINER}


def run(job, check_mode=False, docker=None):
    job = normalize(job)
    clock = _common.Clock()
    warnings = []
    source = open_source(job)
    use_docker = bool(job["container"] or job["volume"] or job["image"])
    if use_docker and docker is None:
        docker = _docker(job)
    with source.lock(timeout=job["lock_timeout"]):
        if not job["components"]:  # only the Ollama store
            return restore_ollama_only(job, source, docker, clock, warnings, check_mode)
        result, snap_path, manifest = _run_data(job, source, docker, use_docker, clock, warnings, check_mode)
        if not job["ollama"]:
            return result
        # after a restore of the data that succeeded (a failed or rolled-back one raised): the same snapshot
        result["ollama"] = restore_ollama(job, docker, result["snapshot_id"], snap_path, manifest, warnings, clock,
                                          check_mode)
    if check_mode:
        result["would"] += ["Ollama store %s: %s" % (o["label"], w) for o in result["ollama"] for w in o["would"]]
    else:
        result["summary"] += "; Ollama: %s" % ", ".join("%s -> %s (%d files)" % (o["label"], o["dir"], o["files"])
                                                        for o in result["ollama"])
    result["warnings"] = warnings
    return result


def _run_data(job, source, docker, use_docker, clock, warnings, check_mode):
    """The data directory part of a restore (the caller holds the repository lock). Returns
    ``(result, snapshot path, manifest)``."""
    target = resolve_target(job, docker if use_docker else None)
    sid, snap_path, manifest, only, verify_ms = prepare(job, source, docker, clock, warnings, deep=check_mode)
    snap_key = read_snapshot_key(snap_path, manifest)
    alembic = check_alembic(job, docker, target, manifest, warnings)
    key_plan = plan_key(job, target, snap_key, manifest, warnings)
    if target.get("volume_missing") and not check_mode:
        docker.api.create_volume(job["volume"], labels={"io.sage-open-webui.restored-from": sid})
        target["data_dir"] = docker.inspect_volume(job["volume"])["Mountpoint"]
        target["volume_created"] = True
        clock.note("created volume %s" % job["volume"])
    if check_mode:
        return _preview(job, target, sid, snap_path, manifest, alembic, key_plan, warnings, clock), snap_path, manifest
    if not target["data_dir"]:
        raise BackupError("cannot tell where the data goes", "give data_dir, a container with a data mount, or volume")
    data_dir = target["data_dir"]
    work = work_dirs(data_dir, snap_path, job, "the data directory", "give the real path")
    removed, staging, rollback, failed = work["removed"], work["staging"], work["rollback"], work["failed"]
    t = time.monotonic()
    try:
        staged = stage(snap_path, manifest, staging, only=only, owner=job["owner"], label="snapshot %s" % sid)
        _files.syncfs(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    stage_ms = clock.ms(t)
    clock.note("staged %d files, %s, copy verified (%d ms)" % (staged["files"], human_bytes(staged["bytes"]), stage_ms))
    result = _switch(job, docker, target, sid, snap_path, manifest, snap_key, key_plan, alembic, staging, rollback,
                     failed, data_dir, staged, verify_ms, stage_ms, removed, warnings, clock)
    return result, snap_path, manifest


def _switch(job, docker, target, sid, snap_path, manifest, snap_key, key_plan, alembic, staging, rollback, failed,
            data_dir, staged, verify_ms, stage_ms, removed, warnings, clock):
    cid = target.get("container_id")
    created_container = False
    old_key = None
    plan = plan_names(data_dir, staging, job["components"], job["preserve"])
    t_down = time.monotonic()
    stop_ms = 0
    net = None
    if cid and target["running"]:
        # a restore killed while the app is down must not leave it down: a detached watchdog starts it when this
        # process dies (or after a generous deadline). The swap moves webui.db aside last and in first, so
        # whenever it fires the app finds a complete database (old or restored) and never creates an empty one.
        from ansible_collections.sage_open_webui.backup.plugins.module_utils import _safety
        sock = job["docker_host"][len("unix://"):] if job["docker_host"].startswith("unix://") else job["docker_host"]
        deadline = job["stop_timeout"] + job["health_timeout"] + 600 * max(1, len(job["pre_start_commands"])) + 120
        net = _safety.arm(cid, "start", deadline, docker_socket=sock)
        t = time.monotonic()
        docker.stop(cid, timeout=job["stop_timeout"])
        stop_ms = clock.ms(t)
        clock.note("stopped %s (%d ms)" % (target["container"], stop_ms))
    journal = None
    key_written = False
    try:
        # the note comes first: if this process is killed mid-way, it tells what to move back
        os.makedirs(rollback, mode=0o700, exist_ok=True)
        _write_rollback_info(rollback, sid, target, plan, staging)
        journal = swap(data_dir, staging, rollback, plan)
        clock.note("moved %d entries aside to %s, %d restored entries in place" % (len(journal["aside"]), rollback, len(journal["moved_in"])))
        if not cid and job["image"] and job["container"] and job["start"]:
            cid = _create_container(docker, job, target, sid)
            created_container = True
            clock.note("created container %s from %s" % (job["container"], job["image"]))
        if cid and key_plan["action"] == "put":
            old_key = docker.read_file(cid, SECRET_KEY_FILE_IN_CONTAINER)
            put_key(docker, cid, snap_key)
            key_written = True
            clock.note("secret key written to %s" % SECRET_KEY_FILE_IN_CONTAINER)
        for cmd in job["pre_start_commands"]:
            _run_hook(cmd, data_dir, sid)
    except BaseException as e:
        if journal is None and os.path.isdir(rollback):
            journal = _partial_journal(data_dir, staging, rollback, plan)
        if journal is not None:
            undo(data_dir, staging, rollback, journal)
            if key_written and old_key is not None:
                put_key(docker, cid, old_key)
        shutil.rmtree(staging, ignore_errors=True)
        if created_container:
            try:
                docker.api.remove_container(cid, force=True)
            except Exception:
                pass
        elif cid and target["running"]:
            docker.start(cid)
            _disarm(net)
        if isinstance(e, BackupError):
            raise BackupError(e.problem + " (the previous data was put back)", e.fix)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    health = None
    start_ms = 0
    if cid and job["start"]:
        t = time.monotonic()
        try:
            docker.start(cid)
            health = wait_app(docker, cid, job, job["health_timeout"])
            start_ms = clock.ms(t)
            clock.note("%s healthy after %d ms" % (target["container"] or cid, start_ms))
            _disarm(net)
        except BackupError as e:
            clock.note("not healthy: %s" % e.problem)
            _disarm(net)  # the rollback stops, restores and starts the app itself
            rb = _roll_back(job, docker, cid, target, data_dir, failed, rollback, journal, old_key, key_written,
                            created_container, clock)
            raise BackupError(
                "restored snapshot %s but %s did not become healthy (%s); rolled back to the previous data: %s"
                % (sid, target["container"] or cid, e.problem, rb),
                "read 'docker logs %s'; the restored copy is kept in %s for inspection" % (target["container"] or cid, failed),
                rollback=rb, snapshot_id=sid, events=clock.events)
    downtime_ms = clock.ms(t_down)
    guidance = None
    if not cid:
        guidance = _guidance(job, target, snap_path, key_plan, (manifest.get("source") or {}).get("app_version"))
    result = {
        "changed": True,
        "snapshot_id": sid,
        "snapshot_path": snap_path,
        "data_dir": data_dir,
        "components": job["components"],
        "container": target["container"],
        "container_created": created_container,
        "volume_created": target["volume_created"],
        "rollback_path": rollback,
        "rollback_keep_hours": job["rollback_keep_hours"],
        "rollbacks_pruned": removed,
        "moved_aside": journal["aside"],
        "restored": journal["moved_in"],
        "preserved": journal["preserved"],
        "files": staged["files"],
        "bytes": staged["bytes"],
        "alembic": alembic,
        "secret_key": {"action": key_plan["action"], "message": key_plan["message"]},
        "health": health,
        "guidance": guidance,
        "timing_ms": {"total": clock.ms(), "verify": verify_ms, "stage": stage_ms, "stop": stop_ms,
                      "start_to_healthy": start_ms, "downtime": downtime_ms},
        "warnings": warnings,
        "events": clock.events,
    }
    result["summary"] = "restored %s into %s (%d files, %s): verify %d ms, stage %d ms, downtime %d ms%s" % (
        sid, data_dir, staged["files"], human_bytes(staged["bytes"]), verify_ms, stage_ms, downtime_ms,
        ", healthy after %d ms" % start_ms if health else "")
    return result


def _disarm(net):
    if net is not None:
        try:
            net.disarm()
        except Exception:  # noqa: BLE001 - the watchdog only starts a container that runs already
            pass


def _partial_journal(data_dir, staging, rollback, plan):
    """What a swap that raised half-way did (entries already in ``rollback`` / already moved in)."""
    aside = [n for n in plan["aside"] if os.path.lexists(os.path.join(rollback, n))]
    moved = [n for n in plan["move_in"] if not os.path.lexists(os.path.join(staging, n))
             and os.path.lexists(os.path.join(data_dir, n))]
    preserved = [p for p in plan["preserve"] if os.path.lexists(os.path.join(staging, p))
                 and not os.path.lexists(os.path.join(rollback, p))]
    pending = [n for n in plan["aside"] if n not in aside]  # current entries never moved: they stay
    return {"aside": aside, "preserved": preserved, "moved_in": moved, "scope": plan.get("scope"), "pending": pending}


def _roll_back(job, docker, cid, target, data_dir, failed, rollback, journal, old_key, key_written, created, clock):
    try:
        docker.stop(cid, timeout=job["stop_timeout"])
    except BackupError:
        pass
    os.makedirs(failed, mode=0o700, exist_ok=True)
    undo(data_dir, failed, rollback, journal)
    if key_written and old_key is not None:
        put_key(docker, cid, old_key)
    clock.note("previous data back in place (restored copy moved to %s)" % failed)
    if created:
        try:
            docker.api.remove_container(cid, force=True)
        except Exception:
            pass
        return "the new container was removed, the volume holds its previous content again"
    if not target["running"]:
        return "the previous data is back; the container was not running before and was left stopped"
    docker.start(cid)
    try:
        h = wait_app(docker, cid, job, job["health_timeout"])
    except BackupError as e:
        return "the previous data is back but the app is not healthy either (%s)" % e.problem
    clock.note("previous data healthy again after %.1f s" % h["seconds"])
    return "the app is healthy again on the previous data (%.1f s)" % h["seconds"]


def _write_rollback_info(rollback, sid, target, plan, staging):
    info = {"restored_snapshot": sid, "when": utcnow().isoformat(), "data_dir": target["data_dir"],
            "container": target["container"], "moved_aside": plan["aside"], "staging": staging,
            "how_to_roll_back": "stop the container; move the restored entries (%s) out of the data directory; move the "
                                "entries listed in moved_aside from this directory back into it; start the container"
                                % ", ".join(plan["move_in"] if plan.get("scope") is not None else ["all entries"])}
    path = os.path.join(rollback, "owb-rollback.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


def _create_container(docker, job, target, sid):
    spec = dict(job["create_container"] or {})
    binds = {target.get("volume") or target["data_dir"]: {"bind": DATA_DIR_IN_CONTAINER, "mode": "rw"}}
    env = dict(spec.get("env") or {})
    ports = spec.get("ports") or {}
    host_config = docker.api.create_host_config(
        binds=binds, network_mode=spec.get("network_mode") or ("host" if not ports else "bridge"),
        port_bindings={int(k): v for k, v in ports.items()} or None,
        restart_policy={"Name": spec.get("restart_policy", "unless-stopped")})
    labels = dict(spec.get("labels") or {})
    labels["io.sage-open-webui.restored-from"] = sid
    res = docker.api.create_container(job["image"], name=job["container"], environment=env, host_config=host_config,
                                      labels=labels, ports=[int(k) for k in ports] or None)
    target["container_id"] = res["Id"]
    target["container"] = job["container"]
    return res["Id"]


def _guidance(job, target, snap_path, key_plan, app_version=None):
    if not (job["volume"] or job["container"] or job["image"]):
        lines = ["start Open WebUI with DATA_DIR=%s" % target["data_dir"]]
        if key_plan["action"] in ("guidance", "put"):
            lines.append("and WEBUI_SECRET_KEY set to the content of %s/secret/webui_secret_key "
                         "(or copy that file to .webui_secret_key in its working directory)" % snap_path)
        return lines
    vol = target.get("volume") or target["data_dir"]
    name = job["container"] or "open-webui"
    image = job["image"] or "ghcr.io/open-webui/open-webui:%s" % (
        "v%s (or newer)" % app_version if app_version else "<the version that wrote the backup, or newer>")
    lines = ["docker create --name %s -p 3000:8080 -v %s:%s --restart unless-stopped %s" % (name, vol, DATA_DIR_IN_CONTAINER, image)]
    if key_plan["action"] in ("guidance", "put"):
        lines.append("docker cp %s/secret/webui_secret_key %s:%s" % (snap_path, name, SECRET_KEY_FILE_IN_CONTAINER))
    lines.append("docker start %s" % name)
    return lines


def _run_hook(cmd, data_dir, sid):
    env = dict(os.environ, OWB_DATA_DIR=data_dir, OWB_SNAPSHOT=sid)
    # plain Python (no AnsibleModule here): the module's run_command is not available
    res = subprocess.run(cmd, shell=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,  # pylint: disable=ansible-bad-function
                         timeout=600, check=False)
    if res.returncode != 0:
        raise BackupError("pre-start command %r failed (exit %d): %s" % (cmd, res.returncode, res.stdout.decode("utf-8", "replace")[-300:]),
                          "fix the command")


def _preview(job, target, sid, snap_path, manifest, alembic, key_plan, warnings, clock):
    files = [e for e in manifest.get("files", []) if "all" in job["components"] or
             _selected(e["path"], [n for c in job["components"] for n in COMPONENT_NAMES[c]])]
    would = ["verify %d files of snapshot %s (done: ok)" % (len(files), sid)]
    if target.get("volume_missing"):
        would.append("create volume %s" % job["volume"])
    if target.get("container_id") and target["running"]:
        would.append("stop %s" % target["container"])
    would.append("move the current %s of %s aside (kept %s h)"
                 % (", ".join(job["components"]), target["data_dir"] or job["volume"], job["rollback_keep_hours"]))
    would.append("put %d files (%s) in place" % (len(files), human_bytes(sum(e["size"] for e in files))))
    would.append("secret key: %s" % key_plan["message"])
    if target.get("container_id") or (job["image"] and job["container"]):
        would.append("start and wait until healthy; roll back when it is not")
    return {"changed": True, "snapshot_id": sid, "snapshot_path": snap_path, "data_dir": target["data_dir"],
            "components": job["components"], "alembic": alembic, "secret_key": {"action": key_plan["action"], "message": key_plan["message"]},
            "would": would, "warnings": warnings, "events": clock.events,
            "summary": "check mode: would restore %s (%d files) into %s" % (sid, len(files), target["data_dir"] or job["volume"])}


# ================================================================================= the drill

def check_restored(data_dir, manifest):
    """Integrity of both databases, row counts and upload hashes against the manifest. Returns (facts, problems)."""
    problems = []
    facts = {"databases": {}, "uploads": {"checked": 0, "mismatch": []}}
    for name, want in (manifest.get("databases") or {}).items():
        p = os.path.join(data_dir, name)
        if not os.path.exists(p):
            problems.append("%s missing after restore" % name)
            continue
        uri = _sqlite._uri(p, mode="ro", immutable="1")
        conn = sqlite3.connect(uri, uri=True)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
            integrity = "ok" if rows == ["ok"] else "; ".join(rows[:5])
            counts = _sqlite.row_counts(conn, tables=list((want.get("row_counts") or {}).keys()) or None)
        except sqlite3.DatabaseError as e:
            integrity, counts = "error: %s" % e, {}
        finally:
            conn.close()
        facts["databases"][name] = {"integrity": integrity, "row_counts": counts}
        if integrity != "ok":
            problems.append("%s integrity_check: %s" % (name, integrity))
        for table, n in (want.get("row_counts") or {}).items():
            if counts.get(table) != n:
                problems.append("%s table %s has %s rows, manifest %s" % (name, table, counts.get(table), n))
    by_path = {e["path"]: e for e in manifest.get("files", [])}
    for rel, e in sorted(by_path.items()):
        if not rel.startswith("uploads/"):
            continue
        p = os.path.join(data_dir, rel)
        try:
            digest = _files.sha256_file(p)[1]
        except OSError:
            digest = None
        facts["uploads"]["checked"] += 1
        if digest != e["sha256"]:
            facts["uploads"]["mismatch"].append(rel)
            problems.append("upload %s differs from the manifest" % rel)
    # uploads webui.db references, against Open WebUI's own file_hash
    db = os.path.join(data_dir, "webui.db")
    if os.path.exists(db):
        conn = sqlite3.connect(_sqlite._uri(db, mode="ro", immutable="1"), uri=True)
        try:
            try:
                rows = conn.execute("SELECT path, meta FROM file").fetchall()
            except sqlite3.DatabaseError:
                rows = []
        finally:
            conn.close()
        prefix = DATA_DIR_IN_CONTAINER + "/"
        for path, meta in rows:
            if not path or not path.startswith(prefix):
                continue
            rel = path[len(prefix):]
            try:
                want = (json.loads(meta) if meta else {}).get("file_hash")
            except (ValueError, AttributeError):
                want = None
            p = os.path.join(data_dir, rel)
            if not os.path.isfile(p):
                problems.append("upload %s referenced by webui.db is missing" % rel)
            elif want and _files.sha256_file(p)[1] != want:
                problems.append("upload %s does not match file.meta.file_hash" % rel)
    return facts, problems


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def boot_check(docker, image, data_dir, key, timeout=240):
    """Boot ``image`` on ``data_dir`` (bind mount, host network, loopback, a free port), with the snapshot's key,
    until /health answers. Returns seconds; the container is always removed."""
    port = _free_port()
    api = docker.api
    hc = api.create_host_config(binds={data_dir: {"bind": DATA_DIR_IN_CONTAINER, "mode": "rw"}}, network_mode="host")
    cid = api.create_container(image, environment={"PORT": str(port), "HOST": "127.0.0.1"}, host_config=hc,
                               labels={"io.sage-open-webui.drill": "1"})["Id"]
    try:
        if key is not None:
            put_key(docker, cid, key)
        t0 = time.monotonic()
        api.start(cid)
        url = "http://127.0.0.1:%d/health" % port
        while not _health_url_ok(url):
            st = docker.state(cid)
            if st["status"] in ("exited", "dead"):
                logs = api.logs(cid, tail=20).decode("utf-8", "replace")
                raise BackupError("Open WebUI (%s) exited with code %s on the restored data: %s" % (image, st["exit_code"], logs[-600:]),
                                  "the snapshot does not boot; investigate before you need it")
            if time.monotonic() - t0 > timeout:
                raise BackupError("Open WebUI (%s) did not answer %s within %ss on the restored data" % (image, url, timeout),
                                  "raise the timeout or investigate the container log")
            time.sleep(0.25)
        return round(time.monotonic() - t0, 3)
    finally:
        try:
            api.remove_container(cid, force=True)
        except Exception:
            pass


def drill(job, docker=None):
    """Restore the newest verified snapshot of one host/instance into ``scratch`` and prove it works.

    ``job``: repository, host, instance, scratch (directory, emptied after), image (optional: boot it),
    boot ("auto"|"always"|"never"), docker_host, health_timeout, keep (leave the scratch copy).
    """
    source = LocalSource(job["repository"], job["host"], job["instance"])
    scratch = job["scratch"]
    if not os.path.isabs(scratch):
        raise BackupError("scratch %r is not absolute" % scratch, "give an absolute directory for the drill")
    t0 = time.monotonic()
    with source.lock(timeout=job.get("lock_timeout", 0.0)):
        sid = source.select("latest")
        snap = source.fetch(sid)
        manifest = _manifest.load(snap)
        problems = check_snapshot_tree(snap, manifest) + _manifest.verify(snap, manifest, deep=True)
        if problems:
            raise BackupError("drill %s/%s: snapshot %s failed verification: %s" % (job["host"], job["instance"], sid, "; ".join(problems[:5])),
                              "this snapshot cannot be restored; check the repository disk and take a new backup", problems=problems)
        key = read_snapshot_key(snap, manifest)
        target = os.path.join(scratch, "%s-%s-%s" % (job["host"], job["instance"], sid))
        if os.path.lexists(target):
            shutil.rmtree(target)
        os.makedirs(target, mode=0o700)
        try:
            staged = stage(snap, manifest, target)
            restore_s = round(time.monotonic() - t0, 3)
            facts, problems = check_restored(target, manifest)
            check_s = round(time.monotonic() - t0 - restore_s, 3)
            boot_s = None
            image = job.get("image") or (manifest.get("source") or {}).get("image")
            boot = job.get("boot", "auto")
            booted_image = None
            if not problems and boot != "never" and image:
                docker = docker or _docker({"docker_host": job.get("docker_host") or DEFAULTS["docker_host"]})
                have = True
                try:
                    docker.api.inspect_image(image)
                except Exception:
                    have = False
                if have:
                    boot_s = boot_check(docker, image, target, key, timeout=job.get("health_timeout", 240))
                    booted_image = image
                elif boot == "always":
                    problems.append("image %s is not on this host" % image)
            elif boot == "always" and not image:
                problems.append("no image known to boot")
        finally:
            if not job.get("keep"):
                shutil.rmtree(target, ignore_errors=True)
    rto_s = round(time.monotonic() - t0, 3)
    result = {"host": job["host"], "instance": job["instance"], "snapshot_id": sid, "files": staged["files"],
              "bytes": staged["bytes"], "databases": facts["databases"], "uploads_checked": facts["uploads"]["checked"],
              "booted_image": booted_image, "boot_to_healthy_s": boot_s, "restore_s": restore_s, "check_s": check_s,
              "rto_s": rto_s, "problems": problems, "ok": not problems, "when": utcnow().isoformat()}
    try:
        with open(os.path.join(source.location, ".drill-last.json"), "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1, sort_keys=True)
    except OSError:
        pass
    return result


def drill_targets(repository):
    """Every ``(host, instance)`` with at least one snapshot in a local repository."""
    out = []
    if not os.path.isdir(repository):
        return out
    for host in sorted(os.listdir(repository)):
        hp = os.path.join(repository, host)
        if host.startswith(".") or not os.path.isdir(hp) or os.path.islink(hp):
            continue
        for inst in sorted(os.listdir(hp)):
            ip = os.path.join(hp, inst)
            if inst.startswith(".") or not os.path.isdir(ip) or os.path.islink(ip):
                continue
            if any(parse_snapshot_id(n) for n in os.listdir(ip)):
                out.append((host, inst))
    return out


# ================================================================================= Ollama stores

def restore_ollama_only(job, source, docker, clock, warnings, check_mode):
    """``components: [ollama]``: the snapshot's Ollama store(s) back into their volume(s); Open WebUI's data
    is not touched."""
    sid, snap_path, manifest = pick(job, source, warnings)
    stores = restore_ollama(job, docker, sid, snap_path, manifest, warnings, clock, check_mode)
    would = ["Ollama store %s: %s" % (o["label"], w) for o in stores for w in o.get("would", [])]
    return {"changed": True, "snapshot_id": sid, "snapshot_path": snap_path, "components": ["ollama"],
            "ollama": stores, "would": would, "warnings": warnings, "events": clock.events,
            "summary": "%s %d Ollama store(s) of snapshot %s: %s" % (
                "check mode: would restore" if check_mode else "restored", len(stores), sid,
                ", ".join("%s -> %s" % (o["label"], o["dir"] or o["volume"]) for o in stores))}


def ollama_targets(job, docker, manifest):
    """Where each Ollama store of the snapshot goes: ``ollama_dir``, else its volume (created when
    missing), else the directory it was backed up from."""
    stores = manifest.get("ollama") or []
    if not stores:
        raise BackupError("snapshot %s holds no Ollama store" % manifest.get("snapshot_id"),
                          "take snapshots with include_ollama: true (or ollama_dir) to back models up; nothing was changed")
    if job["ollama_dir"]:
        if len(stores) > 1:
            raise BackupError("the snapshot holds %d Ollama stores (%s) and ollama_dir names one directory"
                              % (len(stores), ", ".join(s.get("label", "?") for s in stores)),
                              "leave ollama_dir out: each store goes back to its own volume; nothing was changed")
        return [{"store": stores[0], "dir": job["ollama_dir"], "volume": None, "create": False}]
    out = []
    for st in stores:
        if st.get("volume"):  # the caller made a Docker client for stores that are volumes
            vol = docker.inspect_volume(st["volume"])
            out.append({"store": st, "dir": vol.get("Mountpoint") if vol else None, "volume": st["volume"], "create": vol is None})
        else:
            out.append({"store": st, "dir": st.get("source"), "volume": None, "create": False})
    for t in out:
        if t["dir"] is not None and not os.path.isabs(t["dir"]):
            raise BackupError("Ollama store %s would go to %r, which is not absolute" % (t["store"]["label"], t["dir"]),
                              "give ollama_dir")
    return out


def _store_users(docker, path):
    """Running containers that mount ``path`` (they are stopped around the swap)."""
    if docker is None:
        return []
    real = os.path.realpath(path)
    users = []
    for c in docker.list_containers():
        if c.get("state") != "running":
            continue
        if any(m.get("source") and os.path.realpath(m["source"]) == real for m in c.get("mounts", [])):
            users.append(c)
    return users


def restore_ollama(job, docker, sid, snap_path, manifest, warnings, clock, check_mode):
    """Verify every byte of the snapshot's Ollama store(s) first, then for each: stage the copy beside the
    store, stop the containers that use it, move the current content aside (kept like a data rollback),
    move the restored one in, start them again. Returns one dict per store."""
    if docker is None and any(s.get("volume") for s in manifest.get("ollama") or []) and not job["ollama_dir"]:
        docker = _docker(job)
    targets = ollama_targets(job, docker, manifest)
    problems = []
    for t in targets:
        label = _manifest.store_label(t["store"]["label"])
        for p in (os.path.join(snap_path, "ollama"), os.path.join(snap_path, "ollama", label)):
            if os.path.islink(p):
                problems.append("%s is a link" % os.path.relpath(p, snap_path))
        if not problems:
            problems += _manifest.verify_tree(os.path.join(snap_path, "ollama", label), t["store"].get("files", []),
                                              deep=True, prefix="ollama/%s/" % label)
    if problems:
        raise BackupError("the Ollama store of snapshot %s failed verification: %s" % (sid, "; ".join(problems[:5])),
                          "nothing was changed; restore the models from another snapshot (snapshot_info lists them)",
                          problems=problems[:50])
    out = []
    for t in targets:
        st = t["store"]
        files = st.get("files", [])
        info = {"label": st["label"], "volume": t["volume"], "dir": t["dir"], "files": len(files),
                "bytes": sum(e["size"] for e in files)}
        if check_mode:
            users = _store_users(docker, t["dir"]) if t["dir"] else []
            info["would"] = (["create volume %s" % t["volume"]] if t["create"] else []) + \
                (["stop %s" % ", ".join(u["name"] for u in users)] if users else []) + \
                ["move the current content of %s aside (kept %s h)" % (t["dir"] or t["volume"], job["rollback_keep_hours"]),
                 "put %d files (%s) in place" % (len(files), human_bytes(info["bytes"]))] + \
                (["start %s" % ", ".join(u["name"] for u in users)] if users else [])
            out.append(info)
            continue
        if t["create"]:
            docker.api.create_volume(t["volume"], labels={"io.sage-open-webui.restored-from": sid})
            t["dir"] = info["dir"] = docker.inspect_volume(t["volume"])["Mountpoint"]
            clock.note("created volume %s" % t["volume"])
        out.append(_swap_store(job, docker, sid, snap_path, t, info, clock))
    return out


def _swap_store(job, docker, sid, snap_path, t, info, clock):
    d = t["dir"]
    label = t["store"]["label"]
    work = work_dirs(d, snap_path, job, "the Ollama store", "give the real path in ollama_dir")
    staging, rollback = work["staging"], work["rollback"]
    t0 = time.monotonic()
    try:
        stage(snap_path, {"files": t["store"].get("files", []), "dirs": t["store"].get("dirs", [])}, staging,
              owner=job["owner"], label="the Ollama store %s of snapshot %s" % (label, sid), tree="ollama/" + label)
        _files.syncfs(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    clock.note("Ollama store %s staged and verified (%d ms)" % (label, clock.ms(t0)))
    users = _store_users(docker, d)
    stopped = []
    try:
        for u in users:
            docker.stop(u["id"], timeout=job["stop_timeout"])
            stopped.append(u)
        plan = plan_names(d, staging, ["all"], [])
        try:
            swap(d, staging, rollback, plan)
        except BaseException:
            undo(d, staging, rollback, _partial_journal(d, staging, rollback, plan))
            raise
    finally:
        for u in stopped:
            docker.start(u["id"])
    shutil.rmtree(staging, ignore_errors=True)
    clock.note("Ollama store %s restored into %s%s" % (label, d, (" (restarted %s)" % ", ".join(u["name"] for u in stopped)) if stopped else ""))
    info.update({"rollback": rollback, "restarted": [u["name"] for u in stopped]})
    return info
