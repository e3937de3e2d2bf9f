# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A host's repository with real snapshots (manifest with sizes and sha256), and the signals modules faked:
shared by the unit tests of _pull and the restricted-key integration test."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import types

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _runlog
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import json_text, parse_snapshot_id

SIGNALS = ("_runlog", "_metrics", "_notify")
PKG = "ansible_collections.sage_open_webui.backup.plugins.module_utils"


def make_snapshot(repo, sid, files=None, host="web1", instance="open-webui", verified=True, key=b"k3y\n"):
    """A published snapshot in ``<repo>/<host>/<instance>/<sid>/``, like the backup writes it."""
    snap = os.path.join(str(repo), host, instance, sid)
    files = {"webui.db": b"db " * 1000, "uploads/a.txt": b"hello\n", "uploads/big.bin": b"x" * 200000} if files is None else files
    entries = []
    for rel, data in sorted(files.items()):
        path = os.path.join(snap, "data", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, ns=(1764000000 * 10 ** 9, 1764000000 * 10 ** 9))
        entries.append({"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "mode": "0644"})
    os.makedirs(os.path.join(snap, "secret"), mode=0o700)
    with open(os.path.join(snap, "secret", "webui_secret_key"), "wb") as f:
        f.write(key)
    os.chmod(os.path.join(snap, "secret", "webui_secret_key"), 0o600)
    manifest = {"schema_version": 1, "snapshot_id": sid, "created": parse_snapshot_id(sid).isoformat(), "host": host,
                "instance": instance, "mode": "pause", "files": entries,
                "secret_key": {"captured": True, "sha256": hashlib.sha256(key).hexdigest()},
                "totals": {"files": len(entries), "bytes": sum(e["size"] for e in entries)},
                "verification": {"status": "verified" if verified else "failed"}}
    with open(os.path.join(snap, "manifest.json"), "w") as f:
        f.write(json_text(manifest))
    return snap


class Signals(object):
    """Fakes of _runlog / _metrics / _notify (another helper writes them) that record what the pull asks."""

    def __init__(self):
        self.records = []
        self.sent = []
        self.refreshed = []

    def load_pull(self, monkeypatch):
        """A fresh import of _pull bound to these fakes (the real modules need not exist yet)."""
        runlog = types.SimpleNamespace(
            write=lambda status_dir, record: self.records.append(json.loads(json.dumps(record))) or "%s/%s.%s@pull.json" % (
                status_dir, record["host"], record["instance"]),
            event_of=lambda r: {"ok": "success", "warning": "warning"}.get(r["status"], "failure"),
            new_record=_runlog.new_record)
        metrics = types.SimpleNamespace(refresh=lambda s, m, snapshot_counts=None: self.refreshed.append((s, m)) or (None, None))
        notify = types.SimpleNamespace(
            send=lambda notifiers, event, record: self.sent.append((event, record["host"], record["instance"])) or [],
            normalize=lambda n: list(n or []))
        fakes = dict(zip(SIGNALS, (runlog, metrics, notify)))
        for name, fake in fakes.items():
            monkeypatch.setitem(sys.modules, "%s.%s" % (PKG, name), fake)
        monkeypatch.delitem(sys.modules, PKG + "._pull", raising=False)
        module = importlib.import_module(PKG + "._pull")
        for name, fake in fakes.items():
            monkeypatch.setattr(module, name, fake)
        return module

    def final(self):
        """The last record written for each host.instance."""
        out = {}
        for record in self.records:
            out["%s.%s" % (record["host"], record["instance"])] = record
        return out
