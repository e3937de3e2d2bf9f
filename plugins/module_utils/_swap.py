# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Staging, swap and undo of a restore: the work directories beside the target (staging, rollback, failed copy;
each named after the target so that sibling data directories never touch each other's), the verified copy into
staging, the rename(2) swap with its journal, and its undo. Plain Python, no Ansible imports.

This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import stat

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import (
    BackupError,
    fsync_path,
    is_inside,
    parse_snapshot_id,
    utcnow,
    write_json,
)
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _files
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils._restore_source import selected

# top-level names of the data directory each component replaces (side files are moved aside with the db)
COMPONENT_NAMES = {
    "database": ["webui.db"],
    "uploads": ["uploads"],
    "vector_db": ["vector_db"],
}
DB_SIDE = ("webui.db-wal", "webui.db-shm", "webui.db-journal")
RESERVED_PREFIX = "owb-"  # sibling dirs: owb-<target name>-{rollback,staging,failed}-<ts>
HIDDEN_PREFIX = ".owb-"  # inside the target when no sibling on the same filesystem is usable: .owb-rollback-<ts>
WORK_KINDS = ("staging-", "rollback-", "failed-")
_TAG = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")


def _now_tag():
    return utcnow().strftime("%Y%m%dT%H%M%SZ")


def _unique_tag(base, prefix):
    """Time tag no staging/rollback/failed directory of an earlier restore uses (``-N`` on collision)."""
    tag = base_tag = _now_tag()
    n = 1
    while any(os.path.lexists(os.path.join(base, prefix + kind + tag)) for kind in WORK_KINDS):
        n += 1
        tag = "%s-%d" % (base_tag, n)
    return tag


def work_base(data_dir):
    """``(directory, name prefix)`` of the work directories of ``data_dir``: beside it on the same filesystem
    (renames stay atomic), named ``owb-<its name>-`` so that a sibling data directory (another instance, under
    another lock) never sees them as its own; else inside it, as hidden names skipped when moving the current
    data aside."""
    parent, name = os.path.split(data_dir.rstrip("/"))
    try:
        if parent not in ("", "/") and os.stat(parent).st_dev == os.stat(data_dir).st_dev and os.access(parent, os.W_OK):
            return parent, "%s%s-" % (RESERVED_PREFIX, name)
    except OSError:
        pass
    return data_dir, HIDDEN_PREFIX


def work_dirs(target, snap_path, keep_hours, what, link_fix):
    """Make ``target`` ready to be restored into: it must not overlap the snapshot nor be a link; our old
    rollback/failed/staging directories of ``target`` are pruned (older than ``keep_hours``), and a new empty
    staging directory is made. Returns ``{removed, staging, rollback, failed}`` (paths of this restore)."""
    if is_inside(target, snap_path) or is_inside(snap_path, target):
        raise BackupError("%s %s and the snapshot %s overlap" % (what, target, snap_path), "use separate directories")
    os.makedirs(target, exist_ok=True)
    if os.path.islink(target):
        raise BackupError("%s %s is a link" % (what, target), link_fix)
    base, prefix = work_base(target)
    removed = prune_rollbacks(base, prefix, float(keep_hours))
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
    files = [e for e in manifest.get("files", []) if not only or selected(e["path"], only)]
    dirs = [d for d in manifest.get("dirs", []) if not only or selected(d["path"], only)]
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


def plan_names(data_dir, staging, components, preserve):
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
    """Remove the rollback/failed directories named ``<prefix><kind>-<time>`` older than ``keep_hours``, and
    staging directories of runs that died. Only exact names: another target's prefix never matches, since what
    follows the kind must be a time. Returns the removed names."""
    now = now or utcnow()
    removed = []
    for name in sorted(os.listdir(base)):
        for kind in WORK_KINDS:
            if name.startswith(prefix + kind):
                tag = name[len(prefix + kind):]
                when = parse_snapshot_id(tag) if _TAG.match(tag) else None
                if when is None:
                    continue
                age_h = (now - when).total_seconds() / 3600.0
                if kind == "staging-" or age_h >= keep_hours:
                    # a staging dir of this target left by a restore that died (not one just made)
                    if kind == "staging-" and age_h < 0.01:
                        continue
                    p = os.path.join(base, name)
                    if not os.path.islink(p):
                        shutil.rmtree(p)
                        removed.append(name)
    return removed


def partial_journal(data_dir, staging, rollback, plan):
    """What a swap that raised half-way did (entries already in ``rollback`` / already moved in)."""
    aside = [n for n in plan["aside"] if os.path.lexists(os.path.join(rollback, n))]
    moved = [n for n in plan["move_in"] if not os.path.lexists(os.path.join(staging, n))
             and os.path.lexists(os.path.join(data_dir, n))]
    preserved = [p for p in plan["preserve"] if os.path.lexists(os.path.join(staging, p))
                 and not os.path.lexists(os.path.join(rollback, p))]
    pending = [n for n in plan["aside"] if n not in aside]  # current entries never moved: they stay
    return {"aside": aside, "preserved": preserved, "moved_in": moved, "scope": plan.get("scope"), "pending": pending}


def write_rollback_info(rollback, sid, data_dir, container, plan, staging):
    """The note in ``rollback`` that says how to roll back by hand (written before the first rename)."""
    info = {"restored_snapshot": sid, "when": utcnow().isoformat(), "data_dir": data_dir,
            "container": container, "moved_aside": plan["aside"], "staging": staging,
            "how_to_roll_back": "stop the container; move the restored entries (%s) out of the data directory; move the "
                                "entries listed in moved_aside from this directory back into it; start the container"
                                % ", ".join(plan["move_in"] if plan.get("scope") is not None else ["all entries"])}
    write_json(os.path.join(rollback, "owb-rollback.json"), info)
