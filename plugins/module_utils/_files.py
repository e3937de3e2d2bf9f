# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""File copies for snapshots: hashing while copying, sparse-aware, hard links against the previous
snapshot, include/exclude rules. Plain Python, no Ansible imports.

This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import stat

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError

BUF = 1 << 20
_ZEROS = bytes(BUF)

# Re-downloadable or noisy content Open WebUI keeps in DATA_DIR. Everything else is kept, in particular
# cache/audio/transcriptions, cache/image/generations, cache/functions and cache/tools.
DEFAULT_EXCLUDE = [
    "cache/embedding/models/**",
    "cache/whisper/models/**",
    "cache/tiktoken/**",
    "audit.log",
    "audit.log.*",
    "*.zip-audit",
]
# Handled by the database logic, never copied as plain files.
ALWAYS_SKIP = ["webui.db", "webui.db-wal", "webui.db-shm", "webui.db-journal", "vector_db/**", "vector_db"]


def _match(rel, patterns):
    for pat in patterns:
        if fnmatch.fnmatchcase(rel, pat):
            return True
        # "dir/**" also matches "dir" itself
        if pat.endswith("/**") and rel == pat[:-3]:
            return True
    return False


def is_excluded(rel, exclude, include):
    """``include`` wins over ``exclude``. Patterns are shell globs on the path relative to the data dir."""
    if _match(rel, include):
        return False
    return _match(rel, exclude)


def walk(root, exclude=(), include=(), skip=()):
    """Yield ``(rel, kind, st)`` below ``root`` (kind: dir, file, symlink, other), sorted, not following links.

    Excluded directories are not descended into (unless an include pattern starts below them).
    """
    def excluded(rel):
        return _match(rel, skip) or is_excluded(rel, exclude, include)

    def include_below(rel):
        prefix = rel + "/"
        return any(p.startswith(prefix) for p in include)

    stack = [""]
    while stack:
        base = stack.pop()
        path = os.path.join(root, base) if base else root
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except FileNotFoundError:
            continue  # a directory removed while we walked
        except PermissionError as e:
            raise BackupError("cannot read directory %s: %s" % (path, e.strerror),
                              "run the backup as root (become: true) or fix the permissions")
        subdirs = []
        for entry in entries:
            rel = base + "/" + entry.name if base else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # vanished since the listing (a -journal, a temp file): nothing to copy

            if stat.S_ISDIR(st.st_mode):
                if excluded(rel) and not include_below(rel):
                    continue
                yield rel, "dir", st
                subdirs.append(rel)
            elif excluded(rel):
                continue
            elif stat.S_ISREG(st.st_mode):
                yield rel, "file", st
            elif stat.S_ISLNK(st.st_mode):
                yield rel, "symlink", st
            else:
                yield rel, "other", st
        stack.extend(reversed(subdirs))


def same_stat(a, b):
    """Two stats of one path describe the same unchanged file: size, mtime, ctime and inode (a rewrite that
    keeps size and mtime still moves the ctime)."""
    return (a.st_size, a.st_mtime_ns, a.st_ctime_ns, a.st_ino) == (b.st_size, b.st_mtime_ns, b.st_ctime_ns, b.st_ino)


def is_sparse(st):
    return st.st_size > 0 and st.st_blocks * 512 < st.st_size


def _data_ranges(fd, size):
    """(start, end) ranges that hold data, using SEEK_DATA/SEEK_HOLE; one range when unsupported."""
    seek_data = getattr(os, "SEEK_DATA", None)
    seek_hole = getattr(os, "SEEK_HOLE", None)
    if seek_data is None:
        return [(0, size)]
    ranges = []
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, seek_data)
        except OSError as e:
            if e.errno == errno.ENXIO:
                break
            return [(0, size)]
        end = os.lseek(fd, start, seek_hole)
        ranges.append((start, min(end, size)))
        pos = end
    return ranges


def _hash_zeros(h, n):
    while n > 0:
        k = min(n, BUF)
        h.update(_ZEROS[:k])
        n -= k


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _refuse_link(rel, root):
    return BackupError("%s in %s is no longer a regular file or directory (replaced by a link during the backup?)"
                       % (rel, root),
                       "the backup never follows links out of the data directory; check what replaced it (a "
                       "compromised app can try this) and run the backup again; nothing was published")


def open_beneath(root, rel):
    """Open ``root/rel`` for reading without following a link anywhere below ``root``: each directory is
    opened relative to its parent with O_NOFOLLOW|O_DIRECTORY, then the file with O_NOFOLLOW. A component
    swapped for a link since the walk raises a BackupError instead of reading outside ``root``."""
    parts = rel.split("/")
    if not rel or any(p in ("", ".", "..") for p in parts):
        raise BackupError("%r is not a plain relative path" % rel, "this is a bug: report it")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in parts[:-1]:
            try:
                nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise _refuse_link(rel, root)
                raise
            os.close(fd)
            fd = nfd
        try:
            sfd = os.open(parts[-1], os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise _refuse_link(rel, root)
            raise
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(sfd).st_mode):
        os.close(sfd)
        raise _refuse_link(rel, root)
    return sfd


def _open_source(src, root):
    if root is None:
        return os.open(src, os.O_RDONLY | _NOFOLLOW)
    rel = os.path.relpath(src, root)
    return open_beneath(root, rel.replace(os.sep, "/"))


def copy_file(src, dst, st=None, want_hash=True, root=None):
    """Copy one regular file to ``dst`` (created 0600, must not exist), hashing the bytes written.

    Sparse files keep their holes. Returns ``(size, sha256)``. Mode and mtime are copied. With ``root`` (a
    trusted directory holding ``src``), no link below ``root`` is followed (see :func:`open_beneath`).
    """
    if st is None:
        st = os.stat(src, follow_symlinks=False)
    h = hashlib.sha256() if want_hash else None
    size = 0
    sfd = _open_source(src, root)
    try:
        dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        os.close(sfd)
        raise
    try:
        try:
            fst = os.fstat(sfd)
            ranges = _data_ranges(sfd, fst.st_size) if is_sparse(fst) else None
            if ranges is None and h is None and hasattr(os, "copy_file_range"):
                size = _copy_range(sfd, dfd)
            elif ranges is None:
                buf = bytearray(BUF)
                view = memoryview(buf)
                while True:
                    n = os.readv(sfd, [buf])
                    if not n:
                        break
                    chunk = view[:n]
                    if h is not None:
                        h.update(chunk)
                    _write_all(dfd, chunk)
                    size += n
            else:
                pos = 0
                for start, end in ranges:
                    if h is not None:
                        _hash_zeros(h, start - pos)
                    os.lseek(sfd, start, os.SEEK_SET)
                    os.lseek(dfd, start, os.SEEK_SET)
                    left = end - start
                    while left > 0:
                        chunk = os.read(sfd, min(BUF, left))
                        if not chunk:
                            break
                        if h is not None:
                            h.update(chunk)
                        _write_all(dfd, chunk)
                        left -= len(chunk)
                    pos = end
                if h is not None:
                    _hash_zeros(h, fst.st_size - pos)
                os.ftruncate(dfd, fst.st_size)
                size = fst.st_size
            os.fchmod(dfd, stat.S_IMODE(st.st_mode))
            start_writeback(dfd)
        finally:
            os.close(dfd)
    except OSError as e:
        _unlink_quiet(dst)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise BackupError("no space left on the device while writing %s" % dst,
                              "free space on the repository disk or point the repository at a larger one; nothing was published")
        raise
    finally:
        os.close(sfd)
    _copy_owner_times(dst, st)
    return size, (h.hexdigest() if h is not None else None)


_LIBC = {}


def _libc(name, argtypes):
    """A libc function through ctypes, or None where it does not exist (looked up once)."""
    if name not in _LIBC:
        try:
            import ctypes
            fn = getattr(ctypes.CDLL(None, use_errno=True), name)
            fn.argtypes = [getattr(ctypes, t) for t in argtypes]
            _LIBC[name] = fn
        except (OSError, AttributeError):
            _LIBC[name] = None
    return _LIBC[name]


def start_writeback(fd):
    """Ask the kernel to start writing this file's dirty pages now (async, Linux sync_file_range WRITE), so
    the final sync before a snapshot is published has little left to wait for. No-op where unsupported."""
    fn = _libc("sync_file_range", ("c_int", "c_longlong", "c_longlong", "c_uint"))
    if fn is not None:
        fn(fd, 0, 0, 2)  # SYNC_FILE_RANGE_WRITE


def syncfs(path):
    """Flush the file system holding ``path`` (syncfs(2)); sync(2) where syncfs is missing or fails."""
    fn = _libc("syncfs", ("c_int",))
    fd = os.open(path, os.O_RDONLY)
    try:
        if fn is None or fn(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _copy_range(sfd, dfd):
    """In-kernel copy (no hashing): the fastest way to take a copy inside a freeze."""
    size = 0
    try:
        while True:
            n = os.copy_file_range(sfd, dfd, 1 << 30)
            if n == 0:
                return size
            size += n
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    # fall back to read/write from where the kernel stopped
    while True:
        chunk = os.read(sfd, BUF)
        if not chunk:
            return size
        _write_all(dfd, chunk)
        size += len(chunk)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _copy_owner_times(dst, st):
    try:
        os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    except (PermissionError, OSError):
        pass
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _unlink_quiet(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def try_link(prev, dst):
    """Hard-link ``prev`` to ``dst``. False (nothing created) when linking is impossible: another file system,
    the link limit, a file system without hard links, or ``prev`` missing (a damaged previous snapshot: the
    caller copies the live file instead)."""
    try:
        os.link(prev, dst)
        return True
    except FileNotFoundError:
        if os.path.lexists(prev):
            raise  # the destination's directory is missing: a real error
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM, errno.ENOTSUP):
            raise
    return False


def link_or_copy(prev, src, dst, st, root=None):
    """Hard-link ``prev`` (identical file of the previous snapshot) to ``dst``; copy ``src`` (not hashed) when
    linking is impossible. Returns True when linked."""
    if try_link(prev, dst):
        return True
    copy_file(src, dst, st=st, want_hash=False, root=root)
    return False


def sha256_file(path):
    h = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(BUF)
        view = memoryview(buf)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            size += n
    return size, h.hexdigest()
