# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One host's backup status, read-only: its run records (``_runlog.read_all``), its local snapshots (through
``_catalog``, the engine of snapshot_info) and the last outcome of each off-host target. The work of the
backup_status module; ``_fleet`` turns what every host returns into the fleet report.
Plain Python, no Ansible imports; never takes a lock, never writes.

This is a private module of the sage_open_webui.backup collection; its API may change at any time.
"""

from __future__ import annotations

import os

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _catalog, _common, _runlog
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError

STATUS_DIR = "/var/lib/sage-open-webui-backup"


def _instances(root, host):
    host_dir = os.path.join(root, host)
    try:
        names = os.listdir(host_dir)
    except OSError:
        return []
    return sorted(n for n in names if not n.startswith(".") and os.path.isdir(os.path.join(host_dir, n)))


def snapshots(root, host, instance=None):
    """The snapshots of every instance of ``host`` in repository ``root`` (or of ``instance`` only), oldest
    first per instance: id, created, bytes, files, mode, verified; a damaged manifest gives ``error``."""
    out = []
    for name in _instances(root, host):
        if instance and name != instance:
            continue
        repo = _catalog.open_repository(root, host, name)
        for ref in repo.list():
            entry = _catalog.describe(ref)
            item = {"instance": name, "repository": root, "id": entry["id"], "created": entry["created"],
                    "bytes": entry["size"], "files": entry["files"], "mode": entry["mode"],
                    "verified": entry["verified"]}
            if entry.get("error"):
                item["error"] = entry["error"]
            out.append(item)
    return out


def targets(records):
    """The last outcome of each off-host target, per instance and plan, from the backup records."""
    out = []
    for rec in records:
        if rec.get("kind") != "backup":
            continue
        for target in rec.get("targets") or []:
            out.append({"instance": rec.get("instance"), "plan": rec.get("plan"), "name": target.get("name"),
                        "type": target.get("type"), "status": target.get("status"),
                        "bytes_sent": target.get("bytes_sent"), "error": target.get("error"),
                        "finished": rec.get("finished")})
    return out


def _repositories(records, repository):
    roots = {repository} if repository else set()
    for rec in records:
        if rec.get("kind") != "pull" and (rec.get("local") or {}).get("repository"):
            roots.add(rec["local"]["repository"])
    return sorted(roots)


def gather(status_dir=STATUS_DIR, repository=None, host=None, instance=None):
    """The whole work of backup_status: ``{records, snapshots, targets, ...}`` of this host."""
    if repository and not os.path.isabs(repository):
        raise BackupError("repository path %r is not absolute" % (repository,),
                          "give the absolute path of the local repository, e.g. /var/backups/open-webui")
    host = host or _common.default_host()
    records = [r for r in _runlog.read_all(status_dir) if not instance or r.get("instance") == instance]
    warnings = []
    listed = []
    for root in _repositories(records, repository):
        try:
            listed.extend(snapshots(root, host, instance))
        except BackupError as err:
            warnings.append("snapshots of %s not listed: %s" % (root, err))
    if not os.path.isdir(status_dir):
        warnings.append("no status directory %s: no run has been recorded on this host yet" % status_dir)
    return {"changed": False, "host": host, "status_dir": status_dir, "records": records, "snapshots": listed,
            "targets": targets(records), "warnings": warnings}
