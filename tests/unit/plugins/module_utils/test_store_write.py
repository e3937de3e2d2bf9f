# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_store_write: one local snapshot to the real filesystem target (tmp_path), plain and encrypted with the real
age tool; dedup across snapshots, SQLite pages, an interrupted upload resumed, the record written last."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store_write
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _targets
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, json_text


def make_db(path, rows=3000, page_size=4096):
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA page_size=%d" % page_size)
    conn.execute("CREATE TABLE chat (id TEXT PRIMARY KEY, body TEXT)")
    conn.executemany("INSERT INTO chat VALUES (?, ?)", [("%08d" % i, "chat body %d " % i * 8) for i in range(rows)])
    conn.commit()
    conn.close()


def make_snapshot(root, sid, files=None, db_rows=3000, verified=True):
    """A published local snapshot: manifest.json (with data/ hashes), data/webui.db, other files, secret/."""
    snap = os.path.join(str(root), "h1", "owui", sid)
    os.makedirs(os.path.join(snap, "data", "uploads"))
    os.makedirs(os.path.join(snap, "secret"), mode=0o700)
    make_db(os.path.join(snap, "data", "webui.db"), rows=db_rows)
    files = {"data/uploads/a.txt": b"hello world\n", "data/uploads/big.bin": os.urandom(5 << 20),
             "data/uploads/empty": b"", "secret/webui_secret_key": b"s3cr3t-key\n"} if files is None else files
    for rel, data in files.items():
        path = os.path.join(snap, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    os.chmod(os.path.join(snap, "secret", "webui_secret_key"), 0o600)
    entries = []
    for rel, full in _store_write.local_files(snap):
        if rel.startswith("data/"):
            with open(full, "rb") as f:
                entries.append({"path": rel[5:], "sha256": hashlib.sha256(f.read()).hexdigest()})
    manifest = {"schema_version": 1, "snapshot_id": sid, "created": "2026-12-02T10:00:00+00:00", "host": "h1",
                "instance": "owui", "files": entries, "verification": {"status": "verified" if verified else "failed"}}
    with open(os.path.join(snap, "manifest.json"), "w") as f:
        f.write(json_text(manifest))
    return snap


def copy_snapshot(src, sid):
    dst = os.path.join(os.path.dirname(src), sid)
    shutil.copytree(src, dst)
    with open(os.path.join(dst, "manifest.json")) as f:
        manifest = json.load(f)
    manifest["snapshot_id"] = sid
    with open(os.path.join(dst, "manifest.json"), "w") as f:
        f.write(json_text(manifest))
    return dst


def fs_target(tmp_path, **kw):
    store = tmp_path / "store"
    store.mkdir(exist_ok=True)
    return _targets.normalize(dict({"name": "nas", "type": "filesystem", "path": str(store), "concurrency": 2}, **kw))


def upload(target, snap, tmp_path, **kw):
    backend = _targets.open_backend(target)
    res = _store_write.upload(backend, target, snap, "h1", "owui", cache_dir=str(tmp_path / "cache" / target["name"]), **kw)
    res["sent"] = dict(backend.stats)
    return res


def objects(target):
    return dict(_targets.open_backend(target).list(""))


def read_back(target, sid, identity=None):
    """A tiny reader: the files of a remote snapshot, assembled from the packs (checks every sha256)."""
    backend = _targets.open_backend(target)
    record = _store.load_record(backend, "h1", "owui", sid)
    inner = _store.open_manifest(record, identity)
    packs = {}
    out = {}
    for entry in inner["files"]:
        data = b""
        for pack_id, off, length in entry["chunks"]:
            if pack_id not in packs:
                stored = backend.get(_store.pack_key(pack_id))
                assert hashlib.sha256(stored).hexdigest() == record["packs"][pack_id][1]
                packs[pack_id] = _store._age.decrypt(stored, identity) if record["encrypted"] else stored
            data += packs[pack_id][off:off + length]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        out[entry["path"]] = data
    return out


def local_tree(snap):
    out = {}
    for rel, full in _store_write.local_files(snap):
        with open(full, "rb") as f:
            out[rel] = f.read()
    return out


def test_upload_writes_the_store_and_reads_back(tmp_path):
    snap = make_snapshot(tmp_path / "repo", "20261202T100000Z")
    target = fs_target(tmp_path)
    res = upload(target, snap, tmp_path)
    keys = objects(target)
    assert "owb-store.json" in keys and "snapshots/h1/owui/20261202T100000Z.json" in keys
    assert res["files"] == 5 and res["chunks_reused"] == 0 and res["packs_new"] >= 1
    assert read_back(target, "20261202T100000Z") == local_tree(snap)
    record = _store.load_record(_targets.open_backend(target), "h1", "owui", "20261202T100000Z")
    inner = _store.open_manifest(record)
    assert inner["local"]["snapshot_id"] == "20261202T100000Z"
    modes = {f["path"]: f["mode"] for f in inner["files"]}
    # pieces side by side in a pack are one range: the record does not grow with the piece count
    ranges = {f["path"]: f["chunks"] for f in inner["files"]}
    assert len(ranges["data/webui.db"]) == 1 and ranges["data/webui.db"][0][2] == os.path.getsize(os.path.join(snap, "data", "webui.db"))
    assert modes["secret/webui_secret_key"] == "0600"
    assert set(record["packs"]) == {k.rsplit("/", 1)[1] for k in keys if k.startswith("packs/")}
    index = [k for k in keys if k.startswith("index/")]
    assert len(index) == len(record["packs"])


def test_unchanged_snapshot_sends_only_the_record(tmp_path):
    snap = make_snapshot(tmp_path / "repo", "20261202T100000Z")
    target = fs_target(tmp_path)
    first = upload(target, snap, tmp_path)
    second = upload(target, copy_snapshot(snap, "20261202T110000Z"), tmp_path)
    assert second["sent"]["objects_sent"] == 1  # the record
    assert second["chunks_new"] == 0 and second["bytes_deduplicated"] == first["bytes"]
    assert second["sent"]["bytes_sent"] < 0.01 * first["sent"]["bytes_sent"]
    assert read_back(target, "20261202T110000Z") == local_tree(snap)


def test_the_next_run_reads_no_index_object_this_host_wrote(tmp_path, monkeypatch):
    snap = make_snapshot(tmp_path / "repo", "20261202T100000Z")
    target = fs_target(tmp_path)
    upload(target, snap, tmp_path)
    fetched = []
    real_get = _targets.open_backend(target).__class__.get
    monkeypatch.setattr(_targets.open_backend(target).__class__, "get",
                        lambda self, key: fetched.append(key) or real_get(self, key))
    upload(target, copy_snapshot(snap, "20261202T110000Z"), tmp_path)
    assert not [k for k in fetched if k.startswith("index/")]


def test_files_sent_before_are_not_read_again_unless_their_pack_is_gone(tmp_path, monkeypatch):
    snap = make_snapshot(tmp_path / "repo", "20261202T100000Z")
    target = fs_target(tmp_path)
    upload(target, snap, tmp_path)
    read = []
    real_add = _store_write.add_file
    monkeypatch.setattr(_store_write, "add_file", lambda packer, rel, *a: read.append(rel) or real_add(packer, rel, *a))
    second = upload(target, copy_snapshot(snap, "20261202T110000Z"), tmp_path)
    assert [r for r in read if r.startswith("data/")] == [] and second["sent"]["objects_sent"] == 1
    (tmp_path / "other").mkdir()
    first_pieces = upload(fs_target(tmp_path / "other"), snap, tmp_path / "other")["chunks_new"]
    assert second["chunks_reused"] >= first_pieces - 1 > 0  # (the secret key file is read again: small, no manifest hash)
    assert read_back(target, "20261202T110000Z") == local_tree(snap)
    # a prune marked the packs: the files are read and sent again, never pointed at a pack about to go
    packs = [k.rsplit("/", 1)[1] for k, _size in _targets.open_backend(target).list("packs/")]
    _store.put_json(_targets.open_backend(target), _store.pending_key(),
                    {"version": 1, "created": "2026-12-02T00:00:00+00:00", "packs": packs})
    third = upload(target, copy_snapshot(snap, "20261202T120000Z"), tmp_path)
    assert "data/webui.db" in read and third["chunks_new"] > 0
    record = _store.load_record(_targets.open_backend(target), "h1", "owui", "20261202T120000Z")
    assert not set(record["packs"]) & set(packs)


def test_existing_record_sends_nothing(tmp_path):
    snap = make_snapshot(tmp_path / "repo", "20261202T100000Z")
    target = fs_target(tmp_path)
    upload(target, snap, tmp_path)
    again = upload(target, snap, tmp_path)
    assert again["exists"] is True and again["sent"]["objects_sent"] == 0


def test_changed_sqlite_page_sends_about_one_piece(tmp_path):
    snap = make_snapshot(tmp_path / "repo", "20261202T100000Z", db_rows=20000)
    target = fs_target(tmp_path)
    upload(target, snap, tmp_path)
    snap2 = copy_snapshot(snap, "20261202T110000Z")
    db = os.path.join(snap2, "data", "webui.db")
    conn = sqlite3.connect(db)
    conn.execute("UPDATE chat SET body = 'changed' WHERE id = '00010000'")
    conn.commit()
    conn.close()
    _refresh_manifest(snap2)
    res = upload(target, snap2, tmp_path)
    assert os.path.getsize(db) > 40 * _store_write.SQLITE_PIECE
    # the changed page and the header page (change counter): at most two pieces
    assert 1 <= res["chunks_new"] <= 2
    assert res["bytes_new"] <= 2 * _store_write.SQLITE_PIECE
    assert read_back(target, "20261202T110000Z")["data/webui.db"] == open(db, "rb").read()


def _refresh_manifest(snap):
    with open(os.path.join(snap, "manifest.json")) as f:
        manifest = json.load(f)
    for entry in manifest["files"]:
        with open(os.path.join(snap, "data", entry["path"]), "rb") as f:
            entry["sha256"] = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(snap, "manifest.json"), "w") as f:
        f.write(json_text(manifest))


def test_piece_size_is_never_below_the_page_size(tmp_path):
    db = str(tmp_path / "big-pages.db")
    make_db(db, rows=10, page_size=65536)
    with open(db, "rb") as f:
        assert _store_write.piece_size(f.read(100), os.path.getsize(db)) == 65536
    assert _store_write.piece_size(b"x" * 100, 10) == 10
    assert _store_write.piece_size(b"x" * 100, 5 << 20) == _store_write.PIECE


def test_interrupted_upload_resends_only_missing_packs(tmp_path, monkeypatch):
    monkeypatch.setattr(_store_write, "PACK_TARGET", 1 << 20)
    files = {"data/uploads/f%d.bin" % i: os.urandom(600 << 10) for i in range(8)}
    files["secret/webui_secret_key"] = b"k\n"
    snap = make_snapshot(tmp_path / "repo", "20261202T100000Z", files=files, db_rows=10)
    target = fs_target(tmp_path, concurrency=1)
    monkeypatch.setenv("OWB_FAILPOINTS", "upload_pack=raise")
    with pytest.raises(RuntimeError):
        upload(target, snap, tmp_path)
    done = {k for k in objects(target) if k.startswith("packs/")}
    assert done and not any(k.startswith("snapshots/") for k in objects(target))  # nothing incomplete listed
    monkeypatch.delenv("OWB_FAILPOINTS")
    res = upload(target, snap, tmp_path)
    after = {k for k in objects(target) if k.startswith("packs/")}
    assert done < after
    assert res["packs_new"] == len(after) - len(done)
    assert res["bytes_deduplicated"] > 0
    assert read_back(target, "20261202T100000Z") == local_tree(snap)


KILLED_RUN = """
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store_write, _targets
_store_write.PACK_TARGET = 1 << 20
target = _targets.normalize(json.loads(sys.argv[2]))
_store_write.upload(_targets.open_backend(target), target, sys.argv[3], "h1", "owui", cache_dir=sys.argv[4])
"""


def test_kill_9_mid_upload_then_the_next_run_sends_only_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(_store_write, "PACK_TARGET", 1 << 20)
    files = {"data/uploads/f%d.bin" % i: os.urandom(600 << 10) for i in range(8)}
    files["secret/webui_secret_key"] = b"k\n"
    snap = make_snapshot(tmp_path / "repo", "20261202T100000Z", files=files, db_rows=10)
    target = fs_target(tmp_path, concurrency=1)
    base = _store_write.__file__
    for _round in range(6):
        base = os.path.dirname(base)
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN, base, json.dumps({k: target[k] for k in ("name", "type", "path", "concurrency")}),
                           snap, str(tmp_path / "cache" / "nas")], env=dict(os.environ, OWB_FAILPOINTS="upload_pack=kill"),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == -9, proc.stderr
    keys = objects(target)
    done = {k for k in keys if k.startswith("packs/")}
    assert len(done) == 1 and len([k for k in keys if k.startswith("index/")]) == 1
    assert not any(k.startswith("snapshots/") for k in keys)
    res = upload(target, snap, tmp_path)
    new = set(objects(target)) - set(keys)
    after = {k for k in objects(target) if k.startswith("packs/")}
    assert done < after and res["packs_new"] == len(after) - 1
    assert res["sent"]["objects_sent"] == len(new)  # nothing that was there was sent again
    kinds = [k.split("/")[0] for k in new if not k.startswith("tools/")]  # (+ the restore tool, when built)
    assert sorted(kinds) == sorted(["index", "packs"] * res["packs_new"] + ["snapshots"])
    assert read_back(target, "20261202T100000Z") == local_tree(snap)


def test_unverified_or_damaged_snapshot_is_refused(tmp_path):
    target = fs_target(tmp_path)
    snap = make_snapshot(tmp_path / "repo", "20261202T100000Z", verified=False)
    with pytest.raises(BackupError, match="not verified"):
        upload(target, snap, tmp_path)
    snap2 = make_snapshot(tmp_path / "repo", "20261202T110000Z")
    with open(os.path.join(snap2, "data", "uploads", "a.txt"), "wb") as f:
        f.write(b"bit rot\n")
    with pytest.raises(BackupError, match="does not match its manifest"):
        upload(target, snap2, tmp_path)
    snap3 = make_snapshot(tmp_path / "repo", "20261202T120000Z",
                          files={"ollama/default/blobs/sha256-1": b"model", "secret/webui_secret_key": b"k\n"})
    with open(os.path.join(snap3, "manifest.json")) as f:
        manifest = json.load(f)
    manifest["ollama"] = [{"label": "default", "files": [{"path": "blobs/sha256-1", "sha256": "0" * 64}]}]
    with open(os.path.join(snap3, "manifest.json"), "w") as f:
        f.write(json_text(manifest))
    with pytest.raises(BackupError, match="ollama/default/blobs/sha256-1 does not match its manifest"):
        upload(target, snap3, tmp_path)
    assert not any(k.startswith("snapshots/") for k in objects(target))


def test_pending_packs_are_not_reused(tmp_path):
    snap = make_snapshot(tmp_path / "repo", "20261202T100000Z")
    target = fs_target(tmp_path)
    first = upload(target, snap, tmp_path)
    packs = [k.rsplit("/", 1)[1] for k in objects(target) if k.startswith("packs/")]
    backend = _targets.open_backend(target)
    _store.put_json(backend, _store.pending_key(), {"version": 1, "created": "2026-12-02T10:30:00+00:00", "packs": packs})
    res = upload(target, copy_snapshot(snap, "20261202T110000Z"), tmp_path)
    assert res["chunks_reused"] == 0 and res["bytes_new"] == first["bytes_new"]
    record = _store.load_record(backend, "h1", "owui", "20261202T110000Z")
    assert not set(record["packs"]) & set(packs)


def test_check_mode_sends_nothing_and_counts(tmp_path):
    snap = make_snapshot(tmp_path / "repo", "20261202T100000Z")
    target = fs_target(tmp_path)
    res = upload(target, snap, tmp_path, check_mode=True)
    assert res["sent"]["objects_sent"] == 0 and objects(target) == {}
    assert res["bytes_new"] == res["bytes"] > 5 << 20


def age_keys(tmp_path):
    ident = tmp_path / "identity.txt"
    subprocess.run(["age-keygen", "-o", str(ident)], check=True, capture_output=True)
    pub = subprocess.run(["age-keygen", "-y", str(ident)], check=True, capture_output=True, text=True).stdout.strip()
    return str(ident), pub


def test_encrypted_store_hides_names_and_hashes_and_decrypts(tmp_path):
    ident, pub = age_keys(tmp_path)
    snap = make_snapshot(tmp_path / "repo", "20261202T100000Z")
    target = fs_target(tmp_path, recipients=[pub])
    upload(target, snap, tmp_path)
    tree = local_tree(snap)
    hashes = {hashlib.sha256(d).hexdigest() for d in tree.values()}
    store = tmp_path / "store"
    for key in objects(target):
        assert not any(os.path.basename(rel) in key for rel in tree)
        assert not any(h in key for h in hashes)
        if key.startswith("tools/"):  # the restore tool is this collection's code: public, not backed-up data
            continue
        text = (store / key).read_bytes()
        assert b"webui_secret_key" not in text and b"s3cr3t-key" not in text and b"chat body" not in text
        assert not any(h.encode() in text for h in hashes)
    record = json.loads((store / "snapshots/h1/owui/20261202T100000Z.json").read_text())
    assert record["encrypted"] and "manifest" not in record and base64.b64decode(record["manifest_age"])
    assert read_back(target, "20261202T100000Z", ident) == tree
    # dedup still works in an encrypted store
    second = upload(target, copy_snapshot(snap, "20261202T110000Z"), tmp_path)
    assert second["chunks_new"] == 0 and second["sent"]["objects_sent"] == 1


def test_encryption_must_match_the_store(tmp_path):
    _ident, pub = age_keys(tmp_path)
    snap = make_snapshot(tmp_path / "repo", "20261202T100000Z")
    upload(fs_target(tmp_path), snap, tmp_path)
    with pytest.raises(BackupError, match="not encrypted but this target has recipients"):
        upload(fs_target(tmp_path, recipients=[pub]), copy_snapshot(snap, "20261202T110000Z"), tmp_path)


def test_the_restore_tool_is_written_once_before_the_record(tmp_path, monkeypatch):
    text = "#!/usr/bin/env python3\nprint('owb-restore')\n"
    monkeypatch.setattr(_store_write._bundle, "tool_text", lambda here=None: text)
    _store_write._tool_object.cache_clear()
    snap = make_snapshot(tmp_path / "repo", "20261202T100000Z")
    target = fs_target(tmp_path)
    upload(target, snap, tmp_path)
    key = "tools/owb-restore-%s.py" % hashlib.sha256(text.encode()).hexdigest()[:12]
    assert (tmp_path / "store" / key).read_text() == text
    record = _store.load_record(_targets.open_backend(target), "h1", "owui", "20261202T100000Z")
    assert record["tool"] == key
    second = upload(target, copy_snapshot(snap, "20261202T110000Z"), tmp_path)
    assert second["sent"]["objects_sent"] == 1  # the tool is there already: only the record
    _store_write._tool_object.cache_clear()


def test_memory_stays_bounded_when_a_few_pieces_of_a_big_database_change(tmp_path):
    """One new piece in every read block of a 64 MiB database: the pack being filled holds those pieces, not
    the read blocks they came from."""
    import tracemalloc
    size = 64 << 20
    db = bytearray(os.urandom(size))
    db[:100] = b"SQLite format 3\0" + b"\x40\x00" + b"\x01" * 82  # a SQLite header, 16 KiB pages
    snap = make_snapshot(tmp_path / "repo", "20261202T100000Z", files={"data/webui.db": bytes(db), "secret/webui_secret_key": b"k\n"}, db_rows=0)
    target = fs_target(tmp_path)
    upload(target, snap, tmp_path)
    for off in range(_store_write.READ_BLOCK // 2, size, _store_write.READ_BLOCK):
        db[off:off + 16] = os.urandom(16)
    snap2 = copy_snapshot(snap, "20261202T110000Z")
    with open(os.path.join(snap2, "data", "webui.db"), "wb") as f:
        f.write(db)
    _refresh_manifest(snap2)
    del db
    tracemalloc.start()
    try:
        res = upload(target, snap2, tmp_path, check_mode=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res["chunks_new"] == size // _store_write.READ_BLOCK
    assert peak < 4 * _store_write.READ_BLOCK, peak
