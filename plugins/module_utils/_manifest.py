# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The snapshot manifest: schema, safe paths, load/write, verification. Plain Python.

This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import os
import posixpath
import stat
import time

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, read_json, write_json
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _files
from ansible_collections.sage_open_webui.backup.plugins.module_utils._files import sha256_file

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


def safe_relpath(rel):
    """Reject paths that could escape the snapshot: absolute, ``..``, empty, NUL, backslashes tricks."""
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise BackupError("manifest path %r is empty or invalid" % (rel,), "the snapshot is damaged or tampered with; use another snapshot")
    if rel.startswith("/") or posixpath.isabs(rel):
        raise BackupError("manifest path %r is absolute" % rel, "the snapshot is damaged or tampered with; use another snapshot")
    norm = posixpath.normpath(rel)
    if norm != rel or norm == ".." or norm.startswith("../") or "/../" in "/" + rel + "/":
        raise BackupError("manifest path %r leaves the snapshot (..)" % rel, "the snapshot is damaged or tampered with; use another snapshot")
    return rel


# A file whose mtime or ctime is this close to the moment it was copied may be rewritten in the same
# timestamp tick without its metadata changing (git's "racy clean" case): its entry gets no ctime_ns, so
# the next run copies it again instead of trusting the link. 20 ms cover the kernel's coarse clock (file
# times advance in jiffies); whole-second timestamps (a file system with 1 s or 2 s granularity) get 2 s.
RACY_NS = 20 * 10**6
RACY_WHOLE_SECONDS_NS = 2 * 10**9


def _racy(st, copied_ns):
    if copied_ns is None:
        return True
    whole = st.st_mtime_ns % 10**9 == 0 and st.st_ctime_ns % 10**9 == 0
    return max(st.st_mtime_ns, st.st_ctime_ns) >= copied_ns - (RACY_WHOLE_SECONDS_NS if whole else RACY_NS)


def file_entry(rel, st, size, digest, linked=False, copied_ns=None):
    """A manifest entry for ``st`` (the stat the walk took). ``copied_ns`` (time.time_ns() before the copy
    started) makes the entry trusted by :func:`unchanged` later unless the file was modified within
    the racy margin of it; without it the entry is never trusted (the next run copies the file again)."""
    return {
        "path": rel,
        "size": size,
        "sha256": digest,
        "mode": "%04o" % stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": None if _racy(st, copied_ns) else st.st_ctime_ns,
        "ino": st.st_ino,
        "linked": linked,
    }


def unchanged(entry, st):
    """``entry`` (a manifest file entry of the previous snapshot) still describes the file ``st`` stats: same
    size, mode, mtime, ctime and inode. An entry without ``ctime_ns`` (an older manifest, or a file modified
    while it was copied) never does."""
    return entry is not None and entry.get("ctime_ns") is not None \
        and (entry["size"], entry.get("mtime_ns"), entry["ctime_ns"], entry.get("ino"), entry.get("mode")) \
        == (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, "%04o" % stat.S_IMODE(st.st_mode))


def take_file(rel, src, dst, st, prev_file=None, prev_entry=None):
    """One file of a new snapshot and its entry: a hard link to ``prev_file`` (the same path in the previous
    snapshot) when ``prev_entry`` still describes ``st``, else a copy hashed while it is written (also when
    the link is impossible or ``prev_file`` is missing). ``src`` ends with ``rel``: the part before it is
    the trusted root, and no link below it is followed (a BackupError if one appeared since the walk)."""
    started = time.time_ns()
    if prev_file is not None and unchanged(prev_entry, st) and _files.try_link(prev_file, dst):
        return file_entry(rel, st, st.st_size, prev_entry["sha256"], linked=True, copied_ns=started)
    root = src[:-len(rel)] if src.endswith("/" + rel) else None
    if root is None:
        raise BackupError("%s does not end with %s" % (src, rel), "this is a bug: report it")
    size, digest = _files.copy_file(src, dst, st=st, root=root)
    return file_entry(rel, st, size, digest, copied_ns=started)


def store_label(label):
    """A store's folder name under ``ollama/``: one plain path component."""
    if not isinstance(label, str) or not label or "/" in label or label in (".", "..") or "\x00" in label:
        raise BackupError("manifest store label %r is invalid" % (label,), "the snapshot is damaged or tampered with; use another snapshot")
    return label


def write(path, manifest):
    write_json(path, manifest)


def load(snapshot_path):
    path = os.path.join(snapshot_path, MANIFEST)
    data = read_json(path, "manifest", "this is not a finished snapshot; choose another one (snapshot_info lists them)",
                     "the snapshot is damaged; use another snapshot")
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        found = data.get("schema_version") if isinstance(data, dict) else None
        raise BackupError("manifest %s has schema_version %r, expected %d" % (path, found, SCHEMA_VERSION),
                          "use a version of sage_open_webui.backup that knows this snapshot format")
    for entry in data.get("files", []):
        safe_relpath(entry.get("path"))
    for store in data.get("ollama") or []:
        store_label(store.get("label"))
        for entry in store.get("files", []):
            safe_relpath(entry.get("path"))
    return data


def verify(snapshot_path, manifest, deep=True, only=None):
    """Check every file of the manifest under ``<snapshot>/data``. Returns a list of problems (empty = ok).

    ``deep`` re-hashes every file; otherwise sizes only. ``only`` limits to paths starting with one of
    the given prefixes (selective restore). Links inside ``data/`` and files the manifest does not list
    are problems too: a snapshot must hold exactly what its manifest says.
    """
    problems = verify_tree(os.path.join(snapshot_path, "data"), manifest.get("files", []), deep, only)
    if only is None or "ollama" in only:
        for store in manifest.get("ollama") or []:
            label = store_label(store.get("label"))
            problems += verify_tree(os.path.join(snapshot_path, "ollama", label), store.get("files", []), deep,
                                    None, prefix="ollama/%s/" % label)
    return problems


def verify_tree(root, files, deep=True, only=None, prefix=""):
    """The problems of one tree of a snapshot (``data/`` or an Ollama store) against its file entries."""
    problems = []
    listed = set()
    for entry in files:
        rel = safe_relpath(entry["path"])
        if only and not any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in only):
            continue
        listed.add(rel)
        path = os.path.join(root, rel)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            problems.append("missing: %s%s" % (prefix, rel))
            continue
        if not stat.S_ISREG(st.st_mode):
            problems.append("not a regular file: %s%s" % (prefix, rel))
            continue
        if st.st_size != entry["size"]:
            problems.append("size differs: %s%s (%d, manifest %d)" % (prefix, rel, st.st_size, entry["size"]))
            continue
        if deep:
            digest = sha256_file(path)[1]
            if digest != entry["sha256"]:
                problems.append("sha256 differs: %s%s" % (prefix, rel))
    if only is None and os.path.isdir(root):
        for dirpath, dirnames, filenames in os.walk(root):
            for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                if os.path.islink(full):
                    problems.append("unexpected link: %s%s" % (prefix, rel))
                elif rel not in listed:
                    problems.append("not in manifest: %s%s" % (prefix, rel))
    return problems
