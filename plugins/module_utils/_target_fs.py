# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``filesystem`` target: a mounted directory (NFS/SMB NAS, USB disk). Each object is a file under
``path``; a put writes a temporary file, fsyncs it, then ``link()``s it to its name, which fails when the
name exists: no object is ever overwritten, and no half-written object ever has its final name.

Plain Python, no Ansible imports. This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import errno
import os
import uuid

from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import Backend, TargetError

_CHUNK = 1 << 20


class FilesystemBackend(Backend):
    kind = "filesystem"

    def __init__(self, target):
        super().__init__(target)
        self.root = os.path.normpath(target["path"])

    @property
    def location(self):
        return self.root

    def _path(self, key):
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise TargetError("object key %r is not valid" % key, "this is a bug: report it")
        return os.path.join(self.root, *parts)

    def _os_error(self, e, what):
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            return self.error("the target is full while writing %s" % what,
                              "free space on %s or make it bigger; the local snapshot is kept" % self.root)
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return self.error("cannot write %s: %s" % (what, e.strerror),
                              "let root write to %s (mounted read-write?)" % self.root)
        if e.errno in (errno.ENOENT, errno.ENOTDIR) and not os.path.isdir(self.root):
            return self.error("the directory does not exist (not mounted?)",
                              "mount the share at %s, or create the directory" % self.root)
        return self.error("%s: %s" % (what, e.strerror), "check the mount at %s" % self.root,
                          transient=e.errno in (errno.EIO, errno.ETIMEDOUT, errno.ESTALE, errno.EAGAIN))

    def _check_root(self):
        if not os.path.isdir(self.root):
            raise self.error("the directory does not exist (not mounted?)",
                             "mount the share at %s, or create the directory" % self.root)

    def put(self, key, data, sha256=None):
        self._check_root()
        path = self._path(key)
        if os.path.lexists(path):
            return False
        tmp = "%s.tmp-%s" % (path, uuid.uuid4().hex[:12])
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                for off in range(0, len(view), _CHUNK):
                    piece = view[off:off + _CHUNK]
                    self.limit.take(len(piece))
                    os.write(fd, piece)
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise self._os_error(e, key)
        self.count(sent=len(data), objects=1)
        return True

    def get(self, key):
        try:
            with open(self._path(key), "rb") as f:
                self.count()
                return f.read()
        except FileNotFoundError:
            raise self.error("object %s is missing" % key, "the target lost it; restore another snapshot", missing=True)
        except OSError as e:
            raise self._os_error(e, key)

    def get_to(self, key, dest):
        data = self.get(key)
        with open(dest, "wb") as f:
            f.write(data)
        return len(data)

    def exists(self, key):
        self.count()
        return os.path.lexists(self._path(key))

    def list(self, prefix=""):
        self._check_root()
        out = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in sorted(filenames):
                if ".tmp-" in name:
                    continue
                full = os.path.join(dirpath, name)
                key = os.path.relpath(full, self.root).replace(os.sep, "/")
                if key.startswith(prefix):
                    try:
                        out.append((key, os.lstat(full).st_size))
                    except FileNotFoundError:
                        continue
        self.count()
        return out

    def delete(self, keys):
        failed = []
        for key in keys:
            try:
                os.unlink(self._path(key))
                self.count()
            except FileNotFoundError:
                pass
            except OSError as e:
                failed.append((key, e.strerror))
        return failed
