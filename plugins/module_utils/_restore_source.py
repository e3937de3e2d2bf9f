# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a restore reads a snapshot from, which one it picks, and the checks on the snapshot tree before any
byte of it is used. Plain Python, no Ansible imports.

A snapshot *source* has five calls: ``list()`` -> ``[(id, created, verified, problem)]``, ``select(snapshot,
before, skipped)`` -> id, ``fetch(id, only, ollama)`` -> a local directory holding ``manifest.json``, ``data/`` and
``secret/``, ``lock(timeout, read_only)``, ``keep(path, rel)`` (a file that must outlive the work copy) and
``close()``. :class:`LocalSource` reads the local repository in
place; an off-host target (``_store_read.RemoteSource``, opened by :func:`open_source` from a target name)
downloads the snapshot into a work directory, and everything after ``fetch`` is shared.

This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import stat
import tarfile
import uuid

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, is_inside, parse_snapshot_id
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository, check_name


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

    def fetch(self, snapshot_id, only=None, ollama=True):
        """Local path of the snapshot (``manifest.json``, ``data/``, ``secret/``): all of it, in place (``only`` and
        ``ollama`` say what a remote source must bring)."""
        check_name("snapshot", snapshot_id)
        path = os.path.join(self.repo.path, snapshot_id)
        if os.path.islink(path) or not os.path.isdir(path):
            raise BackupError("snapshot %s is not a directory in %s" % (snapshot_id, self.repo.path),
                              "list the snapshots with snapshot_info and pick an existing one")
        return path

    def lock(self, timeout=0.0, read_only=False):
        """The repository lock; ``read_only`` (check mode) creates and cleans up nothing."""
        if read_only:
            return self.repo.read_lock(timeout=timeout)
        return self.repo.lock(timeout=timeout)

    def keep(self, snap_path, rel):
        """The path of ``rel`` of the fetched snapshot that stays after :meth:`close` (here: in place)."""
        return os.path.join(snap_path, rel)

    def close(self):
        """Nothing to clean up: the snapshot was read in place."""


SOURCES = {"local": LocalSource}
FETCH_DIR = ".offsite-fetch"


def open_source(kind, repository, host, instance, targets=None, identity_file=None):
    """The source ``kind`` for the snapshots of ``host``/``instance``: ``local`` (the repository), or the name of
    one of ``targets`` (target dicts as ``_targets.normalize`` takes): a ``_store_read.RemoteSource`` whose
    fetched copy goes to a fresh ``<repository>/.offsite-fetch/<name>-<random>/`` that ``close()`` removes."""
    kind = kind or "local"
    cls = SOURCES.get(kind)
    if cls is not None:
        return cls(repository, host, instance)
    from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import normalize
    named = [t for t in targets or [] if isinstance(t, dict) and t.get("name") == kind]
    if not named:
        known = sorted(SOURCES) + [str(t.get("name")) for t in targets or [] if isinstance(t, dict)]
        raise BackupError("snapshot source %r is not available (no target of that name)" % kind,
                          "use source 'local' or the name of one of the targets given (known: %s)" % ", ".join(known))
    from ansible_collections.sage_open_webui.backup.plugins.module_utils._store_read import RemoteSource
    workdir = os.path.join(repository, FETCH_DIR, "%s-%s" % (kind, uuid.uuid4().hex[:12]))
    return RemoteSource(normalize(named[0]), host, instance, identity_file=identity_file, workdir=workdir)


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
        if only and not selected(rel, only):
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
                    if only and not selected(rel, only):
                        continue
                    kind = "link" if stat.S_ISLNK(st.st_mode) else "device or special file"
                    problems.append("%s in the snapshot: %s" % (kind, rel))
    return problems


def selected(rel, prefixes):
    """True when the relative path ``rel`` is one of ``prefixes`` or lies below one."""
    return any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in prefixes)


def pick(source, snapshot, before, warnings, only=None, ollama=True):
    """The snapshot to restore (``snapshot`` / ``before``), fetched (``only``/``ollama``: the parts needed) and its
    manifest loaded: ``(sid, path, manifest)``."""
    skipped = []
    sid = source.select(snapshot, before, skipped=skipped)
    if skipped:
        warnings.append("newer snapshots were passed over: %s" % "; ".join(skipped[-5:]))
    snap_path = source.fetch(sid, only=only, ollama=ollama)
    manifest = _manifest.load(snap_path)
    if (manifest.get("verification") or {}).get("status") != "verified":
        raise BackupError("snapshot %s is not verified" % sid, "restore a verified snapshot")
    return sid, snap_path, manifest
