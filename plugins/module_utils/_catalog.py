# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A read-only view of a local repository: open an instance's snapshots, describe them, re-hash them against
their manifests. The work of the snapshot_info module (``info()``); ``open_repository()`` is shared with
``_retention.prune``. Plain Python, no Ansible imports; never takes the lock, never writes.

This is a private module of the sage_open_webui.backup collection; its API may change at any time.
"""

from __future__ import annotations

import os
import stat

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _common, _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils._files import sha256_file
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository

SECRET_FILE = os.path.join("secret", "webui_secret_key")


def describe(ref):
    """The public facts of one snapshot; a damaged manifest gives an ``error`` instead of failing the listing."""
    try:
        entry = ref.summary()
    except BackupError as err:
        return {"id": ref.id, "path": ref.path, "created": ref.created.isoformat(), "size": None, "files": None,
                "mode": None, "app_version": None, "alembic_revision": None, "verified": False,
                "secret_key_captured": False, "error": str(err)}
    entry["size"] = entry.pop("bytes", None)
    if not entry.get("created"):
        entry["created"] = ref.created.isoformat()
    return entry


def check(ref, cache):
    """Re-hash one snapshot against its manifest. ``cache`` maps a file identity to its sha256 (hard links)."""
    try:
        manifest = _manifest.load(ref.path)
        problems = _manifest.verify(ref.path, manifest, deep=False)  # layout, sizes, unexpected files
    except BackupError as err:
        return {"ok": False, "problems": [str(err)], "checked_files": 0, "hashed_bytes": 0}
    data_dir = os.path.join(ref.path, "data")
    hashed = 0
    checked = 0
    entries = [(entry["path"], entry.get("size"), entry.get("sha256"), os.path.join(data_dir, entry["path"]))
               for entry in manifest.get("files", [])]
    secret = manifest.get("secret_key") or {}
    if secret.get("captured"):
        secret_path = os.path.join(ref.path, SECRET_FILE)
        if not os.path.isfile(secret_path):
            problems.append("missing: %s" % SECRET_FILE)
        elif secret.get("sha256"):
            entries.append((SECRET_FILE, None, secret["sha256"], secret_path))
    for rel, size, digest, path in entries:
        try:
            st = os.lstat(path)
        except OSError:
            continue  # reported as missing by _manifest.verify
        if not stat.S_ISREG(st.st_mode) or (size is not None and st.st_size != size):
            continue  # reported by _manifest.verify
        checked += 1
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        actual = cache.get(key)
        if actual is None:
            try:
                actual = sha256_file(path)[1]
            except OSError as err:
                problems.append("unreadable: %s (%s)" % (rel, err.strerror or err))
                continue
            hashed += st.st_size
            cache[key] = actual
        if actual != digest:
            problems.append("sha256 differs: %s" % rel)
    return {"ok": not problems, "problems": problems, "checked_files": checked, "hashed_bytes": hashed}


def info(params):
    """snapshot_info's work, without Ansible: returns the result dict or raises BackupError."""
    repo = open_repository(params["repository"], params.get("host"), params.get("instance") or "open-webui")
    refs = repo.list()
    latest_ref = repo.latest_verified()
    chosen = [repo.get(params["snapshot"])] if params.get("snapshot") else refs

    described = {}
    cache = {}
    failed = []
    for ref in chosen:
        entry = describe(ref)
        if params.get("verify"):
            entry["check"] = check(ref, cache)
            if not entry["check"]["ok"]:
                failed.append(ref.id)
        described[ref.id] = entry

    result = {
        "changed": False,
        "repository_path": repo.path,
        "snapshots": [described[ref.id] for ref in chosen],
        "latest": None,
    }
    if latest_ref is not None:
        result["latest"] = described.get(latest_ref.id) or describe(latest_ref)
    if params.get("verify"):
        result["failed_checks"] = failed
    return result


def _subdirs(path):
    try:
        return sorted(n for n in os.listdir(path) if not n.startswith(".") and os.path.isdir(os.path.join(path, n)))
    except OSError:
        return []


def open_repository(root, host, instance):
    """A ``_repository.Repository`` for ``<root>/<host>/<instance>`` that must already exist.

    Read-only: creates nothing. When a level is missing, the error lists what does exist there.
    """
    repo = Repository(root, host or _common.default_host(), instance)  # validates the names before touching disk
    if not os.path.isdir(root):
        what = "is not a directory" if os.path.exists(root) else "does not exist"
        raise BackupError("repository %s %s" % (root, what),
                          "check the repository path; it is created by the first backup of a host",
                          repository=root)
    host_dir = os.path.join(root, repo.host)
    if not os.path.isdir(host_dir):
        hosts = _subdirs(root)
        raise BackupError(
            "repository %s has no snapshots of host %r (hosts there: %s)" % (root, repo.host, ", ".join(hosts) or "none"),
            "set host to one of the hosts listed (it defaults to the short hostname of the machine that runs "
            "the task), or run a backup of %s first" % repo.host,
            hosts=hosts)
    if not os.path.isdir(repo.path):
        instances = _subdirs(host_dir)
        raise BackupError(
            "repository %s has no instance %r for host %s (instances there: %s)"
            % (root, repo.instance, repo.host, ", ".join(instances) or "none"),
            "set instance to one of the instances listed, or run a backup of %s first" % repo.instance,
            instances=instances)
    return repo
