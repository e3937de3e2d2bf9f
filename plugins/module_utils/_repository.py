# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The local snapshot repository: layout, lock, staging, atomic publish, listing, deletion.

``<root>/<host>/<instance>/<snapshot_id>/{manifest.json,data/,secret/}``. Off-host targets implement
the same small interface (list, put, get, delete) beside this class.

The lock is an ``fcntl.flock`` on ``.lock``: the kernel drops it when the process dies, so a killed
run never leaves a stale lock behind.

This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import time

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import (
    BackupError,
    fsync_path,
    parse_snapshot_id,
)
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
STAGING_PREFIX = ".tmp-"
TRASH_PREFIX = ".del-"


def check_name(kind, value):
    if not isinstance(value, str) or not _NAME.match(value) or value in (".", ".."):
        raise BackupError("%s %r is not a valid name" % (kind, value),
                          "use letters, digits, '.', '_' and '-' only (it becomes a directory name)")
    return value


class SnapshotRef(object):
    __slots__ = ("id", "path", "created", "_manifest")

    def __init__(self, snapshot_id, path, created):
        self.id = snapshot_id
        self.path = path
        self.created = created
        self._manifest = None

    @property
    def manifest(self):
        if self._manifest is None:
            self._manifest = _manifest.load(self.path)
        return self._manifest

    @property
    def verified(self):
        try:
            return self.manifest.get("verification", {}).get("status") == "verified"
        except BackupError:
            return False

    def summary(self):
        m = self.manifest
        return {
            "id": self.id,
            "path": self.path,
            "created": m.get("created"),
            "mode": m.get("mode"),
            "verified": self.verified,
            "files": m.get("totals", {}).get("files"),
            "bytes": m.get("totals", {}).get("bytes"),
            "app_version": m.get("source", {}).get("app_version"),
            "alembic_revision": (m.get("databases", {}).get("webui.db") or {}).get("alembic_revision"),
            "secret_key_captured": bool(m.get("secret_key", {}).get("captured")),
        }


class Repository(object):
    def __init__(self, root, host, instance):
        if not root or not os.path.isabs(root):
            raise BackupError("repository path %r is not absolute" % (root,), "give an absolute path such as /var/backups/open-webui")
        self.root = root
        self.host = check_name("host", host)
        self.instance = check_name("instance", instance)
        self.path = os.path.join(root, host, instance)
        self._lock_fd = None

    # -- listing -----------------------------------------------------------------------------
    def list(self):
        """Published snapshots, oldest first."""
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        out = []
        for name in sorted(names, key=_id_order):
            created = parse_snapshot_id(name)
            if created is None:
                continue
            p = os.path.join(self.path, name)
            if os.path.isfile(os.path.join(p, _manifest.MANIFEST)):
                out.append(SnapshotRef(name, p, created))
        return out

    def get(self, snapshot_id):
        if snapshot_id in (None, "", "latest"):
            snaps = [s for s in self.list() if s.verified]
            if not snaps:
                raise BackupError("no verified snapshot in %s" % self.path, "run a backup first (playbooks/backup.yml)")
            return snaps[-1]
        for s in self.list():
            if s.id == snapshot_id:
                return s
        known = ", ".join(s.id for s in self.list()[-5:]) or "none"
        raise BackupError("snapshot %s not found in %s" % (snapshot_id, self.path),
                          "pick one of the existing snapshots (newest: %s) or use 'latest'" % known)

    def latest_verified(self):
        snaps = [s for s in self.list() if s.verified]
        return snaps[-1] if snaps else None

    # -- lock --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, timeout=0.0):
        """Exclusive lock for a run that writes (creates the instance directory and ``.lock``, records the
        holder, removes leftovers of runs that died)."""
        os.makedirs(self.path, mode=0o700, exist_ok=True)
        fd = os.open(os.path.join(self.path, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        self._flock(fd, fcntl.LOCK_EX, timeout)
        os.ftruncate(fd, 0)
        os.pwrite(fd, ("pid %d since %s\n" % (os.getpid(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))).encode(), 0)
        self._lock_fd = fd
        try:
            self._cleanup_leftovers()
            yield self
        finally:
            self._lock_fd = None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextlib.contextmanager
    def read_lock(self, timeout=0.0):
        """Shared lock for a run that only reads (check mode): waits for a writing run like :meth:`lock`, but
        creates, writes and removes nothing. No ``.lock`` yet: no run ever wrote here, nothing to wait for."""
        try:
            fd = os.open(os.path.join(self.path, ".lock"), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            yield self
            return
        self._flock(fd, fcntl.LOCK_SH, timeout)  # closes fd when it gives up
        try:
            yield self
        finally:
            os.close(fd)  # closing drops the lock

    def _flock(self, fd, kind, timeout):
        """``flock(fd, kind)`` within ``timeout`` seconds; else close ``fd`` and raise naming the holder."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, kind | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise BackupError(
                        "another backup or restore of %s/%s is running (%s)" % (self.host, self.instance, holder),
                        "wait for it to finish; the lock is released automatically when that process ends",
                    )
                time.sleep(0.1)

    def _cleanup_leftovers(self):
        """Staging and trash directories of runs that died (safe: we hold the lock)."""
        for name in os.listdir(self.path):
            if name.startswith(STAGING_PREFIX) or name.startswith(TRASH_PREFIX):
                shutil.rmtree(os.path.join(self.path, name), ignore_errors=True)

    def _require_lock(self):
        if self._lock_fd is None:
            raise RuntimeError("repository lock not held")

    # -- writing -----------------------------------------------------------------------------
    def new_id(self, when):
        from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import snapshot_id_for
        base = snapshot_id_for(when)
        sid = base
        n = 1
        while os.path.exists(os.path.join(self.path, sid)) or os.path.exists(os.path.join(self.path, STAGING_PREFIX + sid)):
            n += 1
            sid = "%s-%d" % (base, n)
        return sid

    def staging(self, snapshot_id):
        self._require_lock()
        p = os.path.join(self.path, STAGING_PREFIX + snapshot_id)
        os.makedirs(os.path.join(p, "data"), mode=0o700)
        os.chmod(p, 0o700)
        return p

    def publish(self, staging_path, snapshot_id):
        self._require_lock()
        final = os.path.join(self.path, snapshot_id)
        if os.path.exists(final):
            raise BackupError("snapshot %s already exists" % final, "this should not happen; retry the backup")
        fsync_path(staging_path)
        os.rename(staging_path, final)
        fsync_path(self.path)
        return final

    def delete(self, snapshot_id):
        """Remove a published snapshot: one rename makes it disappear, then the tree is removed."""
        self._require_lock()
        check_name("snapshot", snapshot_id)
        p = os.path.join(self.path, snapshot_id)
        if not os.path.isdir(p):
            raise BackupError("snapshot %s not found" % p, "list snapshots with snapshot_info")
        trash = os.path.join(self.path, TRASH_PREFIX + snapshot_id)
        os.rename(p, trash)
        fsync_path(self.path)
        shutil.rmtree(trash)


def _id_order(name):
    """Sort key of snapshot ids: time first, then the numeric collision suffix ('-2' < '-10')."""
    base, _sep, suffix = name.partition("-")
    return (base, int(suffix) if suffix.isdigit() else 0, name)


def _read_holder(fd):
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "holder unknown"
    except OSError:
        return "holder unknown"


def repository_argument_spec():
    """Options that name an instance's snapshots, documented by the ``_repository`` doc fragment."""
    return dict(
        repository=dict(type="path", required=True),
        host=dict(type="str"),
        instance=dict(type="str", default="open-webui"),
    )
