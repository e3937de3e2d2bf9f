# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_store_prune on real filesystem targets in tmp_path. The stores are written object by object in the store
format (docs/STORE-FORMAT.md) through the real FilesystemBackend, so every step can be staged: a pack
without its index (an interrupted upload), an upload whose record lands after a prune marked its pack."""

from __future__ import annotations

import datetime
import hashlib

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store, _store_prune, _targets
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, snapshot_id_for
from ansible_collections.sage_open_webui.backup.plugins.module_utils._target_fs import FilesystemBackend
from ansible_collections.sage_open_webui.backup.tests.tree import tree_state

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)
NONE = {"keep_last": 0, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0}


class Store(object):
    """A plain store on a filesystem target, written by hand: one pack per upload holding its new chunks."""

    def __init__(self, root, **keep):
        self.target = dict({"name": "nas", "type": "filesystem", "path": str(root)}, **dict(NONE, **keep))
        self.backend = FilesystemBackend(_targets.normalize(self.target))
        _store.open_store(self.backend, self.target, create=True)
        self.chunks = {}  # chunk id -> (pack id, offset, length), what the index says

    def upload(self, host, when, files, instance="open-webui", index=True, record=True, reuse=None):
        """Upload ``files`` ({path: bytes}) as snapshot ``when``: new chunks into one new pack, then its index,
        then the record. ``reuse``: the chunk table this upload decided from (default: the current one)."""
        known = dict(self.chunks if reuse is None else reuse)
        pack_id, plain, entries = _store.new_pack_id(), b"", []
        for path, data in sorted(files.items()):
            cid = _store.chunk_id(data, None)
            if cid not in known:
                known[cid] = (pack_id, len(plain), len(data))
                plain += data
            entries.append({"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                            "mode": "0644", "chunks": [list(known[cid])]})
        if plain:
            self.backend.put(_store.pack_key(pack_id), plain, _store.sha256_hex(plain))
            if index:
                chunks = [[cid, off, ln] for cid, (pid, off, ln) in known.items() if pid == pack_id]
                _store.put_json(self.backend, _store.index_key(pack_id), {
                    "version": 1, "pack": pack_id, "size": len(plain), "sha256": _store.sha256_hex(plain),
                    "encrypted": False, "chunks": chunks})
                self.chunks.update({c[0]: (pack_id, c[1], c[2]) for c in chunks})
        if not record:
            return pack_id
        sid = snapshot_id_for(when)
        packs = {}
        for entry in entries:
            for pid, _off, _ln in entry["chunks"]:
                data = self.backend.get(_store.pack_key(pid))
                packs[pid] = [len(data), _store.sha256_hex(data)]
        _store.put_json(self.backend, _store.snapshot_key(host, instance, sid), {
            "version": 1, "host": host, "instance": instance, "snapshot_id": sid, "created": when.isoformat(),
            "uploaded": when.isoformat(), "encrypted": False, "files": len(entries),
            "bytes": sum(e["size"] for e in entries), "packs": packs, "tool": "tools/owb-restore-000000000000.py",
            "manifest": {"local": {"snapshot_id": sid}, "files": entries}})
        return sid

    def restore(self, host, sid, instance="open-webui"):
        """Every file of a snapshot from the target, each pack and file checked against the record."""
        record = _store.load_record(self.backend, host, instance, sid)
        out = {}
        for entry in _store.open_manifest(record)["files"]:
            data = b""
            for pid, off, length in entry["chunks"]:
                pack = self.backend.get(_store.pack_key(pid))
                assert [len(pack), _store.sha256_hex(pack)] == record["packs"][pid]
                data += pack[off:off + length]
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            out[entry["path"]] = data
        return out

    def keys(self, prefix=""):
        return sorted(k for k, _s in self.backend.list(prefix))

    def prune(self, **kw):
        kw.setdefault("now", NOW)
        return _store_prune.prune(self.target, **kw)


def db(n):
    return {"data/webui.db": b"database %d " % n * 50, "data/uploads/a.txt": b"shared upload"}


def test_keep_words_per_host_and_instance(tmp_path):
    store = Store(tmp_path, keep_daily=2)
    for day in range(4):  # two a day on four days, on two hosts
        for hour in (1, 9):
            store.upload("web1", NOW - (4 - day) * DAY + hour * HOUR, db(day * 10 + hour))
    store.upload("web2", NOW - 10 * DAY, db(99))
    store.upload("web2", NOW - 9 * DAY, db(98), instance="second")
    result = store.prune()
    kept = {(k["host"], k["instance"], k["id"]): k["reasons"] for k in result["kept"]}
    assert kept == {
        ("web1", "open-webui", "20261201T210000Z"): ["newest verified", "daily 2026-12-01"],
        ("web1", "open-webui", "20261130T210000Z"): ["daily 2026-11-30"],
        ("web2", "open-webui", "20261122T120000Z"): ["newest verified", "daily 2026-11-22"],
        ("web2", "second", "20261123T120000Z"): ["newest verified", "daily 2026-11-23"],
    }
    assert result["deleted"] == sorted(_store.snapshot_key("web1", "open-webui", snapshot_id_for(NOW - (4 - d) * DAY + h * HOUR))
                                       for d, h in ((0, 1), (0, 9), (1, 1), (1, 9), (2, 1), (3, 1)))
    assert [s["id"] for s in _store.list_snapshots(store.backend)] == [
        "20261130T210000Z", "20261201T210000Z", "20261122T120000Z", "20261123T120000Z"]
    assert result["changed"] and result["marked"] == 5 and result["packs_deleted"] == 0  # the first pack holds a.txt


def test_the_newest_of_each_host_is_kept_and_the_filter_limits_retention(tmp_path):
    store = Store(tmp_path, keep_last=1)
    old = store.upload("old", NOW - 300 * DAY, db(1))  # the only snapshot of this host: older than all of web1's
    for n in range(3):
        store.upload("web1", NOW - (3 - n) * DAY, db(10 + n))
    result = store.prune(host="old")
    assert result["deleted"] == [] and not result["changed"]
    result = store.prune(host="web1")
    assert [k["id"] for k in result["kept"]] == ["20261201T120000Z"]
    assert len(result["deleted"]) == 2
    assert store.restore("old", old) == db(1)
    assert [s["host"] for s in _store.list_snapshots(store.backend)] == ["old", "web1"]


def test_two_phase_grace_then_delete(tmp_path):
    store = Store(tmp_path, keep_last=1)
    first = store.upload("web1", NOW - 2 * DAY, db(1))
    second = store.upload("web1", NOW - DAY, db(2))  # shares a.txt with the first (in the first pack)
    first_pack = store.keys("packs/")[0]
    shared = set(store.keys())
    result = store.prune()
    assert result["deleted"] == [_store.snapshot_key("web1", "open-webui", first)]
    assert result["marked"] == 0 and result["packs_deleted"] == 0  # the first pack still holds a.txt
    third = store.upload("web1", NOW, db(3))
    result = store.prune()  # second goes; its pack (webui.db 2 only) is now unreferenced: marked only
    assert result["marked"] == 1 and result["packs_deleted"] == 0
    [pending] = store.keys("prune/")
    assert _store.pending_packs(store.backend) != {}
    assert first_pack in store.keys()

    early = store.prune(now=NOW + 23 * HOUR)
    assert (early["packs_deleted"], early["waiting"], early["changed"]) == (0, 1, False)
    late = store.prune(now=NOW + 25 * HOUR)
    assert late["packs_deleted"] == 1 and late["pending_removed"] == 1 and late["changed"]
    assert late["bytes_freed"] > 0
    gone = {k for k in shared if k not in store.keys()}
    assert len([k for k in gone if k.startswith("packs/")]) == 1 and len([k for k in gone if k.startswith("index/")]) == 1
    assert pending not in store.keys()
    assert store.restore("web1", third) == db(3)
    assert second not in [s["id"] for s in _store.list_snapshots(store.backend)]
    assert store.prune(now=NOW + 50 * HOUR)["changed"] is False


def test_interrupted_uploads_are_collected_after_the_grace(tmp_path):
    store = Store(tmp_path, keep_last=3)
    kept = store.upload("web1", NOW - DAY, db(1))
    no_index = store.upload("web1", NOW, db(2), index=False, record=False)  # killed between pack and index
    no_record = store.upload("web1", NOW, db(3), record=False)  # killed before the record
    no_pack = _store.new_pack_id()  # an index object whose pack is gone
    _store.put_json(store.backend, _store.index_key(no_pack), {"version": 1, "pack": no_pack, "size": 1,
                                                               "sha256": "0" * 64, "encrypted": False, "chunks": []})
    before = set(store.keys())
    result = store.prune()
    assert (result["marked"], result["packs_deleted"]) == (3, 0)
    assert _store.pending_packs(store.backend).keys() == {no_index, no_record, no_pack}
    result = store.prune(now=NOW + 25 * HOUR)
    assert (result["packs_deleted"], result["pending_removed"], result["marked"]) == (3, 1, 0)
    left = set(store.keys())
    assert before - left == {_store.pack_key(no_index), _store.pack_key(no_record), _store.index_key(no_record),
                             _store.index_key(no_pack)}
    assert not store.keys("prune/")
    assert store.restore("web1", kept) == db(1)


def test_an_upload_reusing_a_pack_a_prune_just_marked_stays_restorable(tmp_path):
    store = Store(tmp_path, keep_last=1)
    store.upload("web1", NOW - 2 * DAY, {"data/webui.db": b"old db", "data/model.bin": b"big model" * 100})
    store.upload("web1", NOW - DAY, {"data/webui.db": b"new db"})
    # An upload on another host starts: it reads the pending records (none) and the index, and will reuse
    # the model chunk in the first pack. Meanwhile the prune deletes the first snapshot and marks that pack.
    decided_from = dict(store.chunks)
    assert _store.pending_packs(store.backend) == {}
    result = store.prune()
    assert result["marked"] == 1
    # The upload finishes after the mark: its record references the marked pack.
    sid = store.upload("web2", NOW, {"data/webui.db": b"web2 db", "data/model.bin": b"big model" * 100},
                       reuse=decided_from)
    marked_pack = next(iter(_store.pending_packs(store.backend)))
    assert marked_pack in _store.load_record(store.backend, "web2", "open-webui", sid)["packs"]
    result = store.prune(now=NOW + 25 * HOUR)
    assert result["packs_deleted"] == 0 and result["pending_removed"] == 1
    assert store.restore("web2", sid)["data/model.bin"] == b"big model" * 100
    assert _store.pending_packs(store.backend) == {}


class LockedBackend(FilesystemBackend):
    """A filesystem target whose objects under ``locked`` prefixes refuse deletion as S3 Object Lock does."""

    locked = ()

    def delete(self, keys):
        refused = [k for k in keys if k.startswith(self.locked)]
        failed = super().delete([k for k in keys if k not in refused])
        return failed + [(k, "AccessDenied: Access Denied because object protected by object lock "
                             "(COMPLIANCE, retain until 2027-01-31T00:00:00Z)") for k in refused]


def test_object_lock_refusal_is_a_warning_and_a_later_prune_retries(tmp_path, monkeypatch):
    store = Store(tmp_path, keep_last=1)
    old = store.upload("web1", NOW - 2 * DAY, db(1))
    newest = store.upload("web1", NOW - DAY, {"data/webui.db": b"other"})
    backend = LockedBackend(_targets.normalize(store.target))
    monkeypatch.setattr(_targets, "open_backend", lambda target: backend)
    backend.locked = ("snapshots/",)
    result = store.prune()
    assert result["deleted"] == [] and not result["changed"]
    assert result["warnings"] == ["target nas: %s is under Object Lock until 2027-01-31T00:00:00Z, so it stays; "
                                  "a prune after that date deletes it" % _store.snapshot_key("web1", "open-webui", old)]
    assert result["marked"] == 0  # the locked record still references its packs
    backend.locked = ()
    assert store.prune(now=NOW + HOUR)["marked"] == 1  # the record goes now; its pack is marked
    backend.locked = ("index/",)  # the index object stays, so its pack must stay too
    result = store.prune(now=NOW + 26 * HOUR)
    assert result["packs_deleted"] == 0 and len(result["warnings"]) == 1
    assert len(store.keys("index/")) == 2 and len(store.keys("packs/")) == 2
    backend.locked = ("packs/",)
    result = store.prune(now=NOW + 26 * HOUR)
    assert result["packs_deleted"] == 0 and result["pending_removed"] == 0
    assert len(result["warnings"]) == 1 and "until 2027-01-31T00:00:00Z" in result["warnings"][0]
    assert len(store.keys("index/")) == 1 and len(store.keys("packs/")) == 2 and store.keys("prune/")
    backend.locked = ()
    result = store.prune(now=NOW + 27 * HOUR)
    assert result["packs_deleted"] == 1 and result["pending_removed"] == 1 and not result["warnings"]
    assert store.restore("web1", newest) == {"data/webui.db": b"other"}


def test_a_delete_the_target_denies_fails_naming_the_prune_credential(tmp_path, monkeypatch):
    store = Store(tmp_path, keep_last=1)
    store.upload("web1", NOW - 2 * DAY, db(1))
    store.upload("web1", NOW - DAY, db(2))
    backend = FilesystemBackend(_targets.normalize(store.target))
    monkeypatch.setattr(backend, "delete", lambda keys: [(k, "AccessDenied: Access Denied") for k in keys])
    monkeypatch.setattr(_targets, "open_backend", lambda target: backend)
    with pytest.raises(BackupError, match=r"target nas \(.*\): deleting 1 object\(s\) failed.*Fix: prune with the "
                                          r"delete-capable credential"):
        store.prune()


def test_check_mode_changes_nothing_and_tells_what_a_run_does(tmp_path):
    store = Store(tmp_path, keep_last=1)
    for n in (1, 2, 3):
        store.upload("web1", NOW - (4 - n) * DAY, db(n))
    assert store.prune()["marked"] == 1  # db(2)'s pack; db(1)'s still holds a.txt
    store.upload("web1", NOW, db(4), record=False)
    before = tree_state(str(tmp_path), content=True)
    preview = store.prune(now=NOW + 25 * HOUR, check_mode=True)
    assert tree_state(str(tmp_path), content=True) == before
    assert "would delete" in preview["summary"]
    real = store.prune(now=NOW + 25 * HOUR)
    assert real["summary"] == preview["summary"].replace("would delete", "deleted")
    assert {k: real[k] for k in real if k != "summary"} == {k: preview[k] for k in preview if k != "summary"}
    assert real["changed"] and real["packs_deleted"] == 1 and real["marked"] == 1


def test_refusals_before_anything_is_touched(tmp_path):
    with pytest.raises(BackupError, match="there is no backup store here"):
        _store_prune.prune({"name": "nas", "type": "filesystem", "path": str(tmp_path)})
    (tmp_path / "s").mkdir()
    store = Store(tmp_path / "s", keep_last=1)
    with pytest.raises(BackupError, match="grace_hours=-1 is not a number of hours"):
        store.prune(grace_hours=-1)
    with pytest.raises(BackupError, match="retention policy keeps nothing"):
        _store_prune.prune(dict(store.target, keep_last=0))


def test_a_real_upload_racing_a_prune_that_deletes_a_pack_it_listed_stays_restorable(tmp_path, monkeypatch):
    """The writer (_store_write) against a prune that runs between its two reads of the target (the pending
    records and the index): whatever the interleaving, the new snapshot must not reference a deleted pack."""
    from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils import test_store_write as w
    (tmp_path / "store").mkdir()
    raw = dict(NONE, name="nas", type="filesystem", path=str(tmp_path / "store"), keep_last=1)
    target = _targets.normalize(raw)
    first = w.make_snapshot(tmp_path / "repo", "20261130T100000Z")
    w.upload(target, first, tmp_path)
    w.upload(target, w.make_snapshot(tmp_path / "repo2", "20261201T100000Z", db_rows=10,
                                     files={"data/b.txt": b"other", "secret/webui_secret_key": b"k\n"}), tmp_path)
    assert _store_prune.prune(raw, now=NOW)["marked"] >= 1  # the first snapshot goes, its packs are marked
    during = []

    def prune_after(read):
        def call(*args, **kwargs):
            out = read(*args, **kwargs)
            if not during:  # the first of the two reads: the grace has passed, the marked packs go now
                during.append(_store_prune.prune(raw, now=NOW + 25 * HOUR))
            return out
        return call
    monkeypatch.setattr(_store, "load_index", prune_after(_store.load_index))
    monkeypatch.setattr(_store, "pending_packs", prune_after(_store.pending_packs))
    again = w.copy_snapshot(first, "20261202T100000Z")  # the same content as the deleted snapshot
    w.upload(target, again, tmp_path)
    assert during[0]["packs_deleted"] >= 1 and during[0]["pending_removed"] == 1
    assert w.read_back(target, "20261202T100000Z") == w.local_tree(again)
