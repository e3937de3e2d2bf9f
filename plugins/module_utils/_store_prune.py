# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Retention on an off-host target, run where the delete-capable credential lives (hosts never delete).

One run of :func:`prune`:

1. **Records.** For each host/instance (optionally only ``host``/``instance``), ``_retention.plan`` with the
   target's ``keep_last/daily/weekly/monthly`` decides which snapshot records go (every listed record is
   complete, so all count as verified; the newest one of each host/instance is always kept). They are deleted.
2. **Marking.** Every pack and index object referenced by no remaining record (the plaintext ``packs`` of
   every record of every host, not only the filtered ones) and not marked yet is listed in a new
   ``prune/pending-<time>-<rand>.json``. Uploads never reuse a marked pack.
3. **Deleting.** A pack marked by a pending record older than the grace (``grace_hours``) and *still*
   referenced by no record is deleted: its index object first (so no index ever names a missing pack),
   then the pack. A pack without an index object (an upload interrupted between the two) or an index object
   without its pack is unreferenced like any other and goes the same two-phase way.
4. **Pending records** whose every pack is gone or referenced again are removed.

A delete the target refuses because the object is under Object Lock is a warning naming its retain-until
date, not a failure: the object stays (still counted as present) and a later prune retries. Check mode
decides the same and changes nothing.

Why a concurrent upload is safe. A host run reads ``pending_packs`` *before* it lists the index, reuses
only packs that are indexed and not pending, and writes its record last; assume a run lasts less than the
grace. Let pack P be marked at time M and deleted by a prune whose ``now`` is D >= M + grace; that prune
lists the records after D and found P referenced by none. Take any upload U whose record references P:

- U read the pending records before M: U's record was written before M + grace <= D, so the prune saw it
  and kept P. Contradiction.
- U read them after M and before the pending record was removed: P was pending, U did not reuse it.
- U read them after the removal: the removal follows the deletion of P's index object, and U lists the
  index after that, so P was not in U's index, and U did not reuse it.

So no upload references a deleted pack. The same holds for packs uploaded by a run still in flight: they
are unreferenced (their record is not written yet), may be marked, and are referenced again by the time
the grace has passed. Marking never deletes anything, so marking too early is harmless. The grace must
exceed the longest upload (and the clock skew between the machines that prune).

Plain Python, no Ansible imports. This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _retention, _store, _targets
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, human_bytes, utcnow

_LOCKED = re.compile(r"object.?lock|locked|retention|WORM", re.I)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
_PACK_KEY = re.compile(r"^packs/[0-9a-f]{2}/([0-9a-f]{32})$")
_INDEX_KEY = re.compile(r"^index/[0-9a-f]{2}/([0-9a-f]{32})\.json$")


def prune(target, check_mode=False, grace_hours=24, now=None, host=None, instance=None):
    """Apply the target's retention and collect unreferenced content (see the module docstring).

    Returns ``{"changed", "target", "deleted": [record keys], "kept": [{host, instance, id, key, reasons}],
    "marked": n, "waiting": n, "packs_deleted": n, "pending_removed": n, "bytes_freed": n, "warnings": [...]}``;
    in check mode what would happen. Raises BackupError (naming the target) when a step fails.
    """
    target = _targets.normalize(target)
    if isinstance(grace_hours, bool) or not isinstance(grace_hours, (int, float)) or grace_hours < 0:
        raise BackupError("grace_hours=%r is not a number of hours" % (grace_hours,),
                          "give hours (default 24), longer than the longest upload to the target")
    policy = _retention.validate_policy({k: target[k] for k in _retention.COUNT_OPTIONS})
    policy.pop("keep_within")
    now = now or utcnow()
    backend = _targets.open_backend(target)
    try:
        _store.open_store(backend, target)
        run = _Run(backend, target, check_mode, now, datetime.timedelta(hours=grace_hours))
        return run.run(policy, host, instance)
    finally:
        backend.close()


class _Run(object):
    """One prune of one target: the state shared by its steps."""

    def __init__(self, backend, target, check_mode, now, grace):
        self.backend = backend
        self.target = target
        self.check_mode = check_mode
        self.now = now
        self.grace = grace
        self.warnings = []
        self.freed = 0
        self.sizes = {}  # object key -> stored size, of the packs and index objects listed

    def run(self, policy, host, instance):
        snaps = _store.list_snapshots(self.backend)
        kept, doomed = self.plan(snaps, policy, host, instance)
        gone = self.delete([(s["key"], s["size"]) for s in doomed])
        remaining = [s for s in snaps if s["key"] not in gone]
        referenced = self.referenced(remaining)
        packs, index = self.stored()
        pending = _store.pending_records(self.backend)
        deleted_packs = self.collect(pending, referenced, packs, index)
        present = (set(packs) | set(index)) - deleted_packs
        removed = self.remove_pending(pending, present, referenced)
        marked, waiting = self.mark(pending, present - referenced)
        changed = bool(gone or deleted_packs or removed or marked)
        return {"changed": changed, "target": self.target["name"], "deleted": sorted(gone), "kept": kept,
                "marked": len(marked), "waiting": waiting, "packs_deleted": len(deleted_packs),
                "pending_removed": len(removed), "bytes_freed": self.freed, "warnings": self.warnings,
                "summary": self.summary(gone, marked, deleted_packs)}

    def plan(self, snaps, policy, host, instance):
        """(kept, doomed): the records the keep words keep (with reasons) and the ones they delete."""
        groups = {}
        for snap in snaps:
            if (host is None or snap["host"] == host) and (instance is None or snap["instance"] == instance):
                groups.setdefault((snap["host"], snap["instance"]), []).append(snap)
        kept, doomed = [], []
        for (h, i), group in sorted(groups.items()):
            decision = _retention.plan([(s["id"], s["created"], True) for s in group], now=self.now, **policy)
            by_id = {s["id"]: s for s in group}
            kept += [{"host": h, "instance": i, "id": sid, "key": by_id[sid]["key"], "reasons": reasons}
                     for sid, reasons in decision["keep"].items()]
            doomed += [by_id[sid] for sid in decision["delete"]]
        return kept, doomed

    def delete(self, objects):
        """Delete ``[(key, size)]`` (in check mode: pretend); returns the set of keys gone. A refusal by Object
        Lock is a warning; any other failure raises."""
        if not objects:
            return set()
        sizes = dict(objects)
        failed = {} if self.check_mode else dict(self.backend.delete([k for k, _s in objects]))
        locked = {k: p for k, p in failed.items() if _LOCKED.search(str(p))}
        other = {k: p for k, p in failed.items() if k not in locked}
        for key, problem in sorted(locked.items()):
            date = _DATE.search(str(problem))
            self.warnings.append("target %s: %s is under Object Lock until %s, so it stays; a prune after that date "
                                 "deletes it" % (self.target["name"], key, date.group(0) if date else "its retain-until date"))
        gone = set(sizes) - set(failed)
        self.freed += sum(sizes[k] for k in gone)
        if other:
            key, problem = sorted(other.items())[0]
            raise self.backend.error(
                "deleting %d object(s) failed, e.g. %s: %s" % (len(other), key, problem),
                "prune with the delete-capable credential (docs/OFFSITE.md, Bucket policies), then run it again",
                deleted=sorted(gone))
        return gone

    def referenced(self, snaps):
        """Pack ids named by the records of ``snaps`` (a record deleted meanwhile by another prune is skipped)."""
        out = set()
        for snap in snaps:
            try:
                record = _store.get_json(self.backend, snap["key"], "snapshot record")
            except BackupError as e:
                if getattr(e, "missing", False):
                    continue
                raise
            packs = record.get("packs")
            if not isinstance(packs, dict):
                raise self.backend.error("snapshot record %s has no packs table" % snap["key"],
                                         "the record is damaged; delete it by hand if it cannot be restored")
            out.update(packs)
        return out

    def stored(self):
        """``({pack id: size}, {pack id: size of its index object})`` of what the target holds."""
        packs, index = {}, {}
        for prefix, pattern, into in ((_store.PACKS, _PACK_KEY, packs), (_store.INDEX, _INDEX_KEY, index)):
            for key, size in self.backend.list(prefix):
                m = pattern.match(key)
                if m:
                    into[m.group(1)] = size
        self.sizes = {_store.pack_key(p): s for p, s in packs.items()}
        self.sizes.update({_store.index_key(p): s for p, s in index.items()})
        return packs, index

    def collect(self, pending, referenced, packs, index):
        """Delete the packs marked longer than the grace ago and still unreferenced; returns their ids."""
        due = set()
        for rec in pending:
            if self.now - rec["created"] >= self.grace:
                due |= rec["packs"]
        due = sorted((due - referenced) & (set(packs) | set(index)))
        if not due:
            return set()
        unindexed = self.delete([(_store.index_key(p), self.sizes[_store.index_key(p)]) for p in due if p in index])
        free = [p for p in due if p not in index or _store.index_key(p) in unindexed]
        gone = self.delete([(_store.pack_key(p), self.sizes[_store.pack_key(p)]) for p in free if p in packs])
        return {p for p in free if p not in packs or _store.pack_key(p) in gone}

    def remove_pending(self, pending, present, referenced):
        """Remove the pending records whose every pack is gone or referenced again; returns their keys."""
        done = [(rec["key"], rec["size"]) for rec in pending if not (rec["packs"] & present) - referenced]
        return self.delete(done)

    def mark(self, pending, unreferenced):
        """Write one pending record for the unreferenced packs no record marks yet; returns (marked, waiting)."""
        marked_before = set().union(*[rec["packs"] for rec in pending]) if pending else set()
        new = sorted(unreferenced - marked_before)
        if new and not self.check_mode:
            _store.put_json(self.backend, _store.pending_key(self.now),
                            {"version": _store.VERSION, "created": self.now.isoformat(), "packs": new})
        return new, len(unreferenced & marked_before)

    def summary(self, gone, marked, deleted_packs):
        verb = "would delete" if self.check_mode else "deleted"
        return "target %s: %s %d snapshot(s) and %d pack(s), %s freed; %d pack(s) newly marked unreferenced" % (
            self.target["name"], verb, len(gone), len(deleted_packs), human_bytes(self.freed), len(marked))


def prune_all(targets, check_mode=False, grace_hours=24, now=None, host=None, instance=None):
    """:func:`prune` on each target in turn (disabled ones skipped); one failing target does not stop the
    others. Returns ``{"changed", "targets": [outcome], "summary", "warnings"}``, an outcome being prune's
    result plus ``status`` (ok, failed or skipped); raises BackupError after the last target when any failed."""
    outcomes, warnings = [], []
    for target in targets:
        name = target.get("name") if isinstance(target, dict) else None
        if isinstance(target, dict) and target.get("enabled") is False:
            outcomes.append({"target": name, "status": "skipped", "changed": False, "summary": "target %s: disabled" % name})
            continue
        try:
            outcome = prune(target, check_mode, grace_hours, now, host, instance)
        except BackupError as e:
            outcomes.append({"target": name, "status": "failed", "changed": False, "error": e.problem, "fix": e.fix,
                             "summary": "target %s: FAILED" % name})
            continue
        warnings += outcome.pop("warnings")
        outcomes.append(dict(outcome, status="ok"))
    result = {"changed": any(o["changed"] for o in outcomes), "targets": outcomes, "warnings": warnings,
              "summary": "; ".join(o["summary"] for o in outcomes)}
    failed = [o for o in outcomes if o["status"] == "failed"]
    if failed:
        raise BackupError("pruning failed on %s: %s" % (", ".join(str(o["target"]) for o in failed), failed[0]["error"]),
                          failed[0]["fix"], changed=result["changed"], targets=outcomes, warnings_list=warnings)
    return result
