# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ollama model stores in a snapshot (opt-in: ``include_ollama`` or ``ollama_dir``).

An Ollama store (``/root/.ollama`` in the container: ``models/blobs/sha256-<hex>`` content-addressed,
write-once blobs and ``models/manifests/<registry>/<ns>/<model>/<tag>`` JSON files naming them) needs no
freeze: Ollama downloads into ``*-partial`` files and renames them when complete, and writes a model's
manifest after its blobs. So the manifests are listed first and the blobs after: every listed manifest's
blobs were complete when it was listed. Partial downloads are skipped. Unchanged blobs are hard links into
the previous snapshot, so a store of many GB costs nothing the second time.

In the snapshot: ``ollama/<label>/...`` beside ``data/``, and ``manifest["ollama"]``, a list of stores
(label, type, volume, container, source, files, dirs, models). No Ansible imports.
"""

from __future__ import annotations

import json
import os
import re
import stat

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _files
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest

TREE = "ollama"
MANIFESTS = "models/manifests"
PARTIAL = ["*-partial", "*-partial-*"]  # fnmatch: * also matches "/"


def _label(name, taken):
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", name or "").lstrip(".") or "ollama"
    label, n = base, 1
    while label in taken:
        n += 1
        label = "%s-%d" % (base, n)
    taken.add(label)
    return label


def resolve(job, source, docker, warnings):
    """The stores to back up: ``ollama_dir`` when given, else (``include_ollama``) every Ollama store Docker
    knows on this host (containers mounting /root/.ollama, volumes named like ollama). Checked before
    anything is written."""
    if job.get("ollama_dir"):
        path = job["ollama_dir"]
        if not os.path.isabs(path):
            raise BackupError("ollama_dir %r is not an absolute path" % path,
                              "give the absolute path of Ollama's model store (the directory holding models/)")
        if not os.path.isdir(path):
            raise BackupError("ollama_dir %s does not exist" % path,
                              "give the directory Ollama keeps its models in (usually ~/.ollama, /root/.ollama in its container)")
        return [{"label": _label(os.path.basename(path.rstrip("/")), set()), "type": "bind", "volume": None,
                 "container": None, "source": path}]
    if not job.get("include_ollama"):
        return []
    if docker is None:
        raise BackupError("include_ollama needs Docker to find the Ollama store",
                          "name the Open WebUI container, or give ollama_dir (the directory holding Ollama's models/)")
    from ansible_collections.sage_open_webui.backup.plugins.module_utils import _discovery
    stores, seen, taken = [], set(), set()
    for found in _discovery.ollama_mounts(docker, True):
        src = found.get("source")
        if not src or src in seen:
            continue
        if not os.path.isdir(src):
            warnings.append("Ollama store %s (%s) is not readable on this host: not backed up"
                            % (found.get("volume") or src, src))
            continue
        seen.add(src)
        stores.append({"label": _label(found.get("volume") or os.path.basename(src.rstrip("/")), taken),
                       "type": found.get("type") or "volume", "volume": found.get("volume") or None,
                       "container": found.get("container"), "source": src})
    if not stores:
        warnings.append("include_ollama: no Ollama model store on this host (no container or volume at /root/.ollama)")
    return stores


def _listing(root, warnings, label):
    """``(dirs, files)`` of a store: model manifests first, then everything else (blobs), each listed once."""
    dirs, files = [], []
    first = os.path.join(root, MANIFESTS)
    walks = [(first, MANIFESTS + "/", PARTIAL)] if os.path.isdir(first) else []
    walks.append((root, "", PARTIAL + [MANIFESTS + "/*"]))  # the manifests' subtree was listed first
    for base, prefix, exclude in walks:
        for rel, kind, st in _files.walk(base, exclude=exclude):
            rel = prefix + rel
            if kind == "dir":
                dirs.append((rel, st))
            elif kind == "file":
                files.append((rel, st))
            else:
                warnings.append("skipped %s %s/%s (only regular files and directories are backed up)" % (kind, label, rel))
    return dirs, files


def check_models(root):
    """Every blob a model manifest names is present: ``{"models", "missing_blobs"}``."""
    models, missing = 0, []
    mdir = os.path.join(root, MANIFESTS)
    for dirpath, dummy, filenames in os.walk(mdir):
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                with open(path, "rb") as f:
                    doc = json.loads(f.read(1 << 20).decode("utf-8"))
            except (OSError, ValueError):
                continue
            if not isinstance(doc, dict):
                continue
            models += 1
            layers = list(doc.get("layers") or []) + [doc.get("config") or {}]
            for layer in layers:
                digest = (layer or {}).get("digest") or ""
                if digest and not os.path.exists(os.path.join(root, "models", "blobs", digest.replace(":", "-"))):
                    missing.append("%s: %s" % (os.path.relpath(path, mdir), digest))
    return {"models": models, "missing_blobs": sorted(missing)}


def copy(stores, staging, prev, pool, warnings):
    """Copy each store into ``<staging>/ollama/<label>``, linking files unchanged since ``prev``. Returns the
    manifest entries of the stores."""
    out = []
    prev_stores = {}
    if prev is not None:
        try:
            prev_stores = {s.get("label"): s for s in (prev.manifest.get(TREE) or [])}
        except BackupError:
            prev_stores = {}
    for store in stores:
        label = store["label"]
        src_root = store["source"]
        dst_root = os.path.join(staging, TREE, label)
        os.makedirs(dst_root, mode=0o700)
        before = prev_stores.get(label) or {}
        prev_index = {f["path"]: f for f in before.get("files", [])}
        prev_root = os.path.join(prev.path, TREE, label) if prev is not None else None
        dirs, files = _listing(src_root, warnings, label)
        for rel, st in dirs:
            os.makedirs(os.path.join(dst_root, rel), exist_ok=True)

        def one(item, src_root=src_root, dst_root=dst_root, prev_index=prev_index, prev_root=prev_root):
            rel, st = item
            try:
                return _manifest.take_file(rel, os.path.join(src_root, rel), os.path.join(dst_root, rel), st,
                                           os.path.join(prev_root, rel) if prev_root else None, prev_index.get(rel))
            except FileNotFoundError:
                return None  # a blob removed (ollama rm) while we copied

        entries = [e for e in pool.map(one, files) if e is not None]
        entries.sort(key=lambda e: e["path"])
        models = check_models(dst_root)
        if models["missing_blobs"]:
            warnings.append("Ollama store %s: %d model(s) name blobs that are not in the store: %s"
                            % (label, len(models["missing_blobs"]), ", ".join(models["missing_blobs"][:3])))
        out.append(dict(store, files=entries, models=models,
                        dirs=sorted(({"path": rel, "mode": "%04o" % stat.S_IMODE(st.st_mode), "uid": st.st_uid,
                                      "gid": st.st_gid} for rel, st in dirs), key=lambda d: d["path"])))
    return out


def totals(stores):
    files = [e for s in stores for e in s.get("files", [])]
    return {"files": len(files), "bytes": sum(e["size"] for e in files),
            "new_bytes": sum(e["size"] for e in files if not e["linked"]),
            "linked_files": sum(1 for e in files if e["linked"])}
