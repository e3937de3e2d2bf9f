# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Restore of the Ollama model stores a snapshot holds (opt-in, beside :mod:`_ollama` which backs them up):
verify every byte, stage beside each store, stop the containers that use it, swap, start them again. Plain
Python, no Ansible imports.

This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import collections
import os
import shutil
import time

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, human_bytes
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _files
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _swap
from ansible_collections.sage_open_webui.backup.plugins.module_utils._restore_app import docker_client


OllamaOptions = collections.namedtuple("OllamaOptions", "ollama_dir owner stop_timeout keep_hours docker_host")
OllamaOptions.__doc__ = """The restore options an Ollama store restore uses (``owner``: ``(uid, gid)`` or None)."""


def ollama_targets(ollama_dir, docker, manifest):
    """Where each Ollama store of the snapshot goes: ``ollama_dir``, else its volume (created when
    missing), else the directory it was backed up from."""
    stores = manifest.get("ollama") or []
    if not stores:
        raise BackupError("snapshot %s holds no Ollama store" % manifest.get("snapshot_id"),
                          "take snapshots with include_ollama: true (or ollama_dir) to back models up; nothing was changed")
    if ollama_dir:
        if len(stores) > 1:
            raise BackupError("the snapshot holds %d Ollama stores (%s) and ollama_dir names one directory"
                              % (len(stores), ", ".join(s.get("label", "?") for s in stores)),
                              "leave ollama_dir out: each store goes back to its own volume; nothing was changed")
        return [{"store": stores[0], "dir": ollama_dir, "volume": None, "create": False}]
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


def restore_ollama(opts, docker, sid, snap_path, manifest, clock, check_mode):
    """Verify every byte of the snapshot's Ollama store(s) first, then for each: stage the copy beside the
    store, stop the containers that use it, move the current content aside (kept like a data rollback),
    move the restored one in, start them again. Returns one dict per store."""
    if docker is None and any(s.get("volume") for s in manifest.get("ollama") or []) and not opts.ollama_dir:
        docker = docker_client(opts.docker_host)
    targets = ollama_targets(opts.ollama_dir, docker, manifest)
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
                ["move the current content of %s aside (kept %s h)" % (t["dir"] or t["volume"], opts.keep_hours),
                 "put %d files (%s) in place" % (len(files), human_bytes(info["bytes"]))] + \
                (["start %s" % ", ".join(u["name"] for u in users)] if users else [])
            out.append(info)
            continue
        if t["create"]:
            docker.create_volume(t["volume"], labels={"io.sage-open-webui.restored-from": sid})
            t["dir"] = info["dir"] = docker.inspect_volume(t["volume"])["Mountpoint"]
            clock.note("created volume %s" % t["volume"])
        out.append(_swap_store(opts, docker, sid, snap_path, t, info, clock))
    return out


def _swap_store(opts, docker, sid, snap_path, t, info, clock):
    d = t["dir"]
    label = t["store"]["label"]
    work = _swap.work_dirs(d, snap_path, opts.keep_hours, "the Ollama store", "give the real path in ollama_dir")
    staging, rollback = work["staging"], work["rollback"]
    t0 = time.monotonic()
    try:
        _swap.stage(snap_path, {"files": t["store"].get("files", []), "dirs": t["store"].get("dirs", [])}, staging,
                    owner=opts.owner, label="the Ollama store %s of snapshot %s" % (label, sid), tree="ollama/" + label)
        _files.syncfs(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    clock.note("Ollama store %s staged and verified (%d ms)" % (label, clock.ms(t0)))
    users = _store_users(docker, d)
    stopped = []
    try:
        for u in users:
            docker.stop(u["id"], timeout=opts.stop_timeout)
            stopped.append(u)
        plan = _swap.plan_names(d, staging, ["all"], [])
        try:
            _swap.swap(d, staging, rollback, plan)
        except BaseException:
            _swap.undo(d, staging, rollback, _swap.partial_journal(d, staging, rollback, plan))
            raise
    finally:
        for u in stopped:
            docker.start(u["id"])
    shutil.rmtree(staging, ignore_errors=True)
    clock.note("Ollama store %s restored into %s%s" % (label, d, (" (restarted %s)" % ", ".join(u["name"] for u in stopped)) if stopped else ""))
    info.update({"rollback": rollback, "restarted": [u["name"] for u in stopped]})
    return info
