# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Off-host copies of one snapshot: every configured target in turn, each one's outcome on its own.

A failing target is an outcome (``status: failed`` with the error, naming the target, and its fix), never an
exception: the other targets still get the snapshot. Plain Python, no Ansible imports. This is a private
module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import os
import time
import traceback

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, human_bytes
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store_write
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _targets

CACHE_DIR = ".offsite-cache"
KEPT = "the local snapshot is kept; the next run uploads its own new snapshot"


def cache_root(repository):
    """Where index objects of every target are cached: ``<repository>/.offsite-cache`` (one dir per target)."""
    return os.path.join(repository, CACHE_DIR)


def clean(target):
    """A target as the job gives it, without unset options (Ansible fills every sub-option with None)."""
    return {k: v for k, v in target.items() if v is not None} if isinstance(target, dict) else target


def check_targets(targets):
    """The job's ``targets`` checked before anything runs: each one as ``_targets.normalize`` takes it, names
    unique. Returns them without unset options (what :func:`upload_all` takes)."""
    if targets in (None, ""):
        return []
    if not isinstance(targets, list):
        raise BackupError("job option targets must be a list of targets, got %r" % type(targets).__name__,
                          "give a list, e.g. [{name: nas, type: filesystem, path: /mnt/nas/owb}]")
    out, names = [], set()
    for raw in targets:
        target = _targets.normalize(clean(raw))
        if target["name"] in names:
            raise BackupError("two targets are named %s" % target["name"], "give every target its own name")
        names.add(target["name"])
        out.append(clean(raw))
    return out


def plain_warnings(targets):
    """A warning for each enabled target without recipients: it holds the secret key and every chat in clear."""
    out = []
    for raw in targets or []:
        target = _targets.normalize(clean(raw))
        if target["enabled"] and not target["recipients"]:
            out.append("target %s is not encrypted: it holds Open WebUI's secret key and every chat in clear; give it "
                       "recipients (age public keys, docs/OFFSITE.md) unless the target itself is trusted" % target["name"])
    return out


def _blank(target):
    name = target.get("name") if isinstance(target, dict) else None
    kind = target.get("type") if isinstance(target, dict) else None
    return {"name": name, "type": kind, "status": "failed", "error": None, "fix": None, "snapshot_key": None,
            "bytes_sent": 0, "bytes_deduplicated": 0, "objects_sent": 0, "chunks_new": 0, "chunks_reused": 0,
            "duration_s": 0.0, "throughput_bps": 0}


def _scrub(text, target):
    """``text`` without any secret value of ``target`` (a library may echo a key in its error)."""
    return _targets.scrub(text, _targets.secrets_of(target))


def _named(problem, name):
    """Every error names its target."""
    return problem if problem.startswith("target %s" % name) else "target %s: %s" % (name, problem)


def upload_one(raw, snapshot_path, host, instance, root, check_mode=False):
    """One target's outcome dict (see :func:`upload_all`)."""
    out = _blank(raw)
    t0 = time.monotonic()
    backend = None
    try:
        target = _targets.normalize(clean(raw))
        if not target["enabled"]:
            out.update(status="skipped")
            return out
        backend = _targets.open_backend(target)
        if snapshot_path is None:  # check mode of a whole job: no snapshot yet to compare
            out.update(status="skipped", would_upload=True, location=backend.location)
            return out
        res = _store_write.upload(backend, target, snapshot_path, host, instance,
                                  cache_dir=os.path.join(root, target["name"]), check_mode=check_mode)
        out.update(status="ok", snapshot_key=res["snapshot_key"], exists=res["exists"],
                   bytes_deduplicated=res.get("bytes_deduplicated", 0),
                   chunks_new=res.get("chunks_new", 0), chunks_reused=res.get("chunks_reused", 0))
        if check_mode:
            out.update(would_send=res.get("bytes_new", 0))
    except BackupError as e:
        out.update(error=_scrub(_named(e.problem, out["name"]), raw), fix=_scrub(e.fix or KEPT, raw))
    except Exception as e:  # noqa: BLE001 - one target's bug must not stop the other targets
        out.update(error=_scrub(_named("unexpected error: %s" % e, out["name"]), raw),
                   fix="see the traceback in the result; " + KEPT,
                   exception=_scrub(traceback.format_exc(), raw))
    finally:
        if backend is not None:
            out.update(bytes_sent=backend.stats["bytes_sent"], objects_sent=backend.stats["objects_sent"])
            backend.close()
        out["duration_s"] = round(time.monotonic() - t0, 3)
        out["throughput_bps"] = int(out["bytes_sent"] / out["duration_s"]) if out["duration_s"] > 0 else 0
    return out


def upload_all(targets, snapshot_path, host, instance, cache_root, check_mode=False):
    """Upload the local snapshot at ``snapshot_path`` to each target (in order). Returns one outcome per target:
    ``{name, type, status (ok|failed|skipped), error, fix, snapshot_key, bytes_sent, bytes_deduplicated,
    objects_sent, chunks_new, chunks_reused, duration_s, throughput_bps}``. Never raises for a target."""
    return [upload_one(t, snapshot_path, host, instance, cache_root, check_mode) for t in targets or []]


def failed(outcomes):
    return [o for o in outcomes if o["status"] == "failed"]


def summary(outcomes):
    """``"off-host: s3 ok 12.0 MiB sent (98 % deduplicated), nas FAILED"`` (empty without targets)."""
    parts = []
    for o in outcomes:
        if o["status"] == "failed":
            parts.append("%s FAILED" % o["name"])
        elif o.get("would_upload"):
            parts.append("%s would get the new snapshot" % o["name"])
        elif o["status"] == "skipped":
            parts.append("%s skipped" % o["name"])
        elif "would_send" in o:
            parts.append("%s would send %s" % (o["name"], human_bytes(o["would_send"])))
        else:
            total = o["bytes_deduplicated"] + o["bytes_sent"]
            pct = 100.0 * o["bytes_deduplicated"] / total if total else 100.0
            parts.append("%s ok %s sent (%.0f %% deduplicated)" % (o["name"], human_bytes(o["bytes_sent"]), pct))
    return ("off-host: " + ", ".join(parts)) if parts else ""
