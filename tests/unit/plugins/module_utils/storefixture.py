# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A store written by hand from docs/STORE-FORMAT.md (not with the collection's uploader), so the read side is
tested against the format itself: small pieces and small packs, so a snapshot spans many packs."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import tarfile

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _age, _snapshot, _store
from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import normalize, open_backend


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "openwebui-0.12.4")
SECRET = "owui-fixture-test-secret-0.12.4\n"


def local_snapshot(tmp):
    """A real local snapshot of the Open WebUI 0.12.4 fixture with its secret key: ``{repo, path, id, data}``."""
    data = os.path.join(str(tmp), "srv", "data")
    os.makedirs(data)
    with tarfile.open(os.path.join(FIXTURE, "data.tar.gz"), "r:gz") as tf:
        tf.extractall(data, filter="fully_trusted") if hasattr(tarfile, "data_filter") else tf.extractall(data)
    key = os.path.join(str(tmp), "srv", ".webui_secret_key")
    with open(key, "w") as f:
        f.write(SECRET)
    repo = os.path.join(str(tmp), "repo")
    res = _snapshot.run({"data_dir": data, "repository": repo, "host": "h1", "instance": "owui",
                         "secret_key_file": key, "mode": "hot"})
    return {"repo": repo, "path": res["path"], "id": res["snapshot_id"], "data": data}


def keypair(tmp):
    """``(identity file, recipient)`` made with age-keygen."""
    path = os.path.join(str(tmp), "id-%d.txt" % len(os.listdir(str(tmp))))
    subprocess.run(["age-keygen", "-o", path], check=True, capture_output=True)
    pub = subprocess.run(["age-keygen", "-y", path], check=True, capture_output=True, text=True).stdout.strip()
    return path, pub


def fs_target(path, recipients=(), name="nas", **kw):
    return normalize(dict({"name": name, "type": "filesystem", "path": str(path), "recipients": list(recipients)}, **kw))


def upload(target, snap_dir, host, instance, piece=64 * 1024, pack_target=256 * 1024):
    """Put the local snapshot ``snap_dir`` into the store; returns the record."""
    backend = open_backend(target)
    _store.open_store(backend, target, create=True)
    recipients = target["recipients"]
    key = _store.dedup_key(target)
    local = _read_json(os.path.join(snap_dir, "manifest.json"))
    known, packs, files = {}, {}, []
    pending = []  # [(chunk id, bytes)] of the pack being filled

    def flush():
        if not pending:
            return
        pack_id, plain, chunks = _store.new_pack_id(), b"", []
        for cid, data in pending:
            chunks.append([cid, len(plain), len(data)])
            known[cid] = (pack_id, len(plain), len(data))
            plain += data
        stored = _age.encrypt(plain, recipients) if recipients else plain
        backend.put(_store.pack_key(pack_id), stored, _store.sha256_hex(stored))
        _store.put_json(backend, _store.index_key(pack_id), {
            "version": 1, "pack": pack_id, "size": len(stored), "sha256": _store.sha256_hex(stored),
            "encrypted": bool(recipients), "chunks": chunks})
        packs[pack_id] = [len(stored), _store.sha256_hex(stored)]
        del pending[:]

    for rel in _files(snap_dir):
        with open(os.path.join(snap_dir, rel), "rb") as f:
            data = f.read()
        entry = {"path": rel, "size": len(data), "sha256": _store.sha256_hex(data),
                 "mode": "%04o" % (os.stat(os.path.join(snap_dir, rel)).st_mode & 0o7777), "chunks": []}
        for off in range(0, len(data), piece):
            part = data[off:off + piece]
            cid = _store.chunk_id(part, key)
            if cid not in known and cid not in {c for c, _data in pending}:
                pending.append((cid, part))
                if sum(len(p) for _cid, p in pending) >= pack_target:
                    flush()
            entry["chunks"].append(cid)
        files.append(entry)
    flush()
    for entry in files:
        entry["chunks"] = [list(known[cid]) for cid in entry["chunks"]]
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    record = {"version": 1, "host": host, "instance": instance, "snapshot_id": local["snapshot_id"],
              "created": local.get("created", now), "uploaded": now, "encrypted": bool(recipients),
              "files": len(files), "bytes": sum(e["size"] for e in files), "packs": packs, "tool": None}
    _store.seal_manifest(record, {"local": local, "files": files}, recipients)
    _store.put_json(backend, _store.snapshot_key(host, instance, local["snapshot_id"]), record)
    return record


def _files(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
            if rel != "manifest.json":
                out.append(rel)
    return sorted(out)


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
