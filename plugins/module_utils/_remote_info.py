# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""snapshot_info on an off-host target: the complete remote snapshots (those whose record is there), described
from their records, and optionally checked for the presence and size of every pack they need.

Read-only: lists and gets, never needs the age identity (the record's envelope is plaintext; only the inner
manifest of an encrypted store is not). Plain Python, no Ansible imports. This is a private module of the
sage_open_webui.backup collection.
"""

from __future__ import annotations

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store, _targets
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError


def info(target, host=None, instance=None, snapshot=None, verify=False):
    """The result of snapshot_info with a target. ``host``/``instance`` filter (None: all); ``snapshot`` is an
    id or ``latest`` (the newest listed)."""
    target = _targets.normalize(target)
    backend = _targets.open_backend(target)
    try:
        store = _store.open_store(backend, target)
        listed = _store.list_snapshots(backend, host, instance)
        chosen = _choose(listed, snapshot, backend)
        packs = dict(backend.list(_store.PACKS)) if verify else None
        described = [describe(backend, ref, packs) for ref in chosen]
        latest = None
        if listed:
            newest = max(listed, key=lambda s: s["id"])
            latest = next((d for d in described if d["key"] == newest["key"]), None) or describe(backend, newest, None)
        result = {"changed": False, "target": target["name"], "location": backend.location,
                  "encrypted": bool(store.get("encrypted")), "snapshots": described, "latest": latest}
        if verify:
            result["failed_checks"] = [d["key"] for d in described if not d.get("check", {}).get("ok")]
        return result
    finally:
        backend.close()


def _choose(listed, snapshot, backend):
    if not snapshot:
        return listed
    if snapshot == "latest":
        return [max(listed, key=lambda s: s["id"])] if listed else []
    chosen = [s for s in listed if s["id"] == snapshot]
    if not chosen:
        raise backend.error("no complete snapshot %s here" % snapshot,
                            "list the target's snapshots (snapshot_info with target, without snapshot) and pick one")
    return chosen


def describe(backend, ref, packs):
    """One remote snapshot from its record; with ``packs`` (``{key: size}`` of packs/), a check that every pack
    the record needs is there with its stored size."""
    entry = {"id": ref["id"], "host": ref["host"], "instance": ref["instance"], "key": ref["key"],
             "created": ref["created"].isoformat()}
    try:
        record = _store.load_record(backend, ref["host"], ref["instance"], ref["id"])
    except BackupError as e:
        entry["error"] = str(e)
        if packs is not None:
            entry["check"] = {"ok": False, "problems": [str(e)], "checked_packs": 0}
        return entry
    record_packs = record.get("packs") or {}
    inner = record.get("manifest") if not record.get("encrypted") else None
    source = ((inner or {}).get("local") or {}).get("source") or {}
    entry.update(created=record.get("created") or entry["created"], uploaded=record.get("uploaded"),
                 encrypted=bool(record.get("encrypted")), files=record.get("files"), bytes=record.get("bytes"),
                 packs=len(record_packs), stored_bytes=sum(int(v[0]) for v in record_packs.values()),
                 app_version=source.get("app_version"), tool=record.get("tool"))
    if packs is not None:
        entry["check"] = _check(record_packs, packs)
    return entry


def _check(record_packs, packs):
    problems = []
    for pack_id, (size, _sha) in sorted(record_packs.items()):
        found = packs.get(_store.pack_key(pack_id))
        if found is None:
            problems.append("pack missing: %s" % pack_id)
        elif int(found) != int(size):
            problems.append("pack %s has %d bytes, the record says %d" % (pack_id, found, size))
    return {"ok": not problems, "problems": problems, "checked_packs": len(record_packs)}
