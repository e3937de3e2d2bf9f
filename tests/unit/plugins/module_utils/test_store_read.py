# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The read side of the store (RemoteSource) on the real filesystem target and the real age tool, with a real
snapshot of the Open WebUI 0.12.4 fixture put into a store written from the format (storefixture)."""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _drill_job, _manifest, _offsite, _restore, _store
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils._store_read import RemoteSource
from ansible_collections.sage_open_webui.backup.plugins.module_utils._target_fs import FilesystemBackend
from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import normalize
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils import storefixture
from ansible_collections.sage_open_webui.backup.tests.tree import tree_state


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    return storefixture.local_snapshot(tmp_path_factory.mktemp("snap"))


@pytest.fixture
def store(tmp_path, snap):
    """An encrypted filesystem store holding the snapshot: ``{target, identity, record, root}``."""
    identity, recipient = storefixture.keypair(tmp_path)
    target = storefixture.fs_target(tmp_path / "nas", [recipient])
    os.makedirs(target["path"])
    record = storefixture.upload(target, snap["path"], "h1", "owui")
    raw = {"name": "nas", "type": "filesystem", "path": target["path"], "recipients": [recipient]}  # as a job gives it
    return {"target": target, "raw": raw, "identity": identity, "record": record, "root": target["path"]}


@pytest.fixture
def gets(monkeypatch):
    """Every key the filesystem backend reads."""
    seen = []
    real = FilesystemBackend.get

    def counting(self, key):
        seen.append(key)
        return real(self, key)
    monkeypatch.setattr(FilesystemBackend, "get", counting)
    return seen


def _source(store, tmp_path, **kw):
    kw.setdefault("identity_file", store["identity"])
    return RemoteSource(store["target"], "h1", "owui", workdir=str(tmp_path / "work" / "x"), **kw)


def _files(root):
    """``{relative path: (mode, sha256)}`` of every regular file below ``root`` (what a fetch must give back)."""
    return {k: (v[0], v[-1]) for k, v in tree_state(root, content=True).items() if stat.S_ISREG(v[0])}


def _packs_of(record, identity, prefixes):
    inner = _store.open_manifest(record, identity)
    return {c[0] for e in inner["files"] if any(e["path"].startswith(p) for p in prefixes) for c in e["chunks"]}


def test_fetch_gives_back_the_local_snapshot_byte_for_byte(store, snap, tmp_path, gets):
    src = _source(store, tmp_path)
    assert src.list() == [(snap["id"], src.list()[0][1], True, None)]
    path = src.fetch(src.select("latest"))
    assert _files(path) == _files(snap["path"]) and len(_files(path)) > 20
    manifest = _manifest.load(path)
    assert manifest == _manifest.load(snap["path"])
    assert _manifest.verify(path, manifest) == []
    packs = [k for k in gets if k.startswith("packs/")]
    assert len(packs) == len(set(packs)) == len(store["record"]["packs"]) > 3  # each needed pack once
    src.close()
    assert not os.path.exists(str(tmp_path / "work" / "x"))


def test_selective_fetch_downloads_only_the_packs_of_the_database(store, snap, tmp_path, gets):
    src = _source(store, tmp_path)
    path = src.fetch(snap["id"], only=["webui.db"], ollama=False)
    want = _packs_of(store["record"], store["identity"], ["data/webui.db", "secret/"])
    got = {k.rsplit("/", 1)[1] for k in gets if k.startswith("packs/")}
    assert got == want and len(want) < len(store["record"]["packs"])
    assert os.listdir(os.path.join(path, "data")) == ["webui.db"]
    assert _manifest.verify(path, _manifest.load(path), only=["webui.db"]) == []
    assert src.stats["packs"] == len(want)


def test_tampered_pack_is_refused_before_decryption_and_nothing_is_left(store, snap, tmp_path, monkeypatch):
    pack_id = sorted(store["record"]["packs"])[0]
    path = os.path.join(store["root"], _store.pack_key(pack_id))
    with open(path, "r+b") as f:
        f.seek(200)
        b = f.read(1)
        f.seek(200)
        f.write(bytes([b[0] ^ 1]))
    with open(path, "rb") as f:
        tampered = _store.sha256_hex(f.read())
    decrypted = []
    real = _store._age.decrypt
    monkeypatch.setattr(_store._age, "decrypt", lambda data, ident: decrypted.append(_store.sha256_hex(data)) or real(data, ident))
    src = _source(store, tmp_path)
    with pytest.raises(BackupError, match=r"target nas \(.*\): pack packs/../%s is damaged or tampered with.*Fix: " % pack_id):
        src.fetch(snap["id"])
    assert decrypted and tampered not in decrypted  # checked against the record before age saw it
    assert not os.path.exists(str(tmp_path / "work" / "x"))


def test_wrong_identity_is_a_clear_message_before_any_pack_is_read(store, snap, tmp_path, gets):
    other, _pub = storefixture.keypair(tmp_path)
    src = _source(store, tmp_path, identity_file=other)
    with pytest.raises(BackupError, match=r"target nas .*does not match this snapshot's recipients. Fix: use the identity"):
        src.fetch(snap["id"])
    assert not [k for k in gets if k.startswith("packs/")]
    with pytest.raises(BackupError, match="no age identity was given"):
        _source(store, tmp_path, identity_file=None).fetch(snap["id"])


def test_a_file_that_does_not_match_its_sha256_is_refused(store, snap, tmp_path):
    """A record whose inner manifest lies about a file (consistent packs): caught after assembly."""
    plain = storefixture.fs_target(tmp_path / "plain")
    os.makedirs(plain["path"])
    record = storefixture.upload(plain, snap["path"], "h1", "owui")
    key = _store.snapshot_key("h1", "owui", snap["id"])
    os.unlink(os.path.join(plain["path"], key))
    entry = [e for e in record["manifest"]["files"] if e["path"] == "data/webui.db"][0]
    entry["sha256"] = "0" * 64
    _store.put_json(FilesystemBackend(plain), key, record)
    src = RemoteSource(plain, "h1", "owui", workdir=str(tmp_path / "w"))
    with pytest.raises(BackupError, match=r"differ from the manifest after download: data/webui.db"):
        src.fetch(snap["id"])
    assert not os.path.exists(str(tmp_path / "w"))


def test_unknown_snapshot_and_empty_target(store, tmp_path):
    src = _source(store, tmp_path)
    with pytest.raises(BackupError, match=r"snapshot 20990101T000000Z not found in target nas"):
        src.select("20990101T000000Z")
    empty = storefixture.fs_target(tmp_path / "empty", name="usb")
    os.makedirs(empty["path"])
    with pytest.raises(BackupError, match=r"target usb .*no backup store here"):
        RemoteSource(empty, "h1", "owui").list()


def test_restore_from_a_target_end_to_end(store, snap, tmp_path):
    """_restore.run with source = the target's name: the data comes back, the work copy is removed."""
    data = str(tmp_path / "restored")
    os.makedirs(data)
    repo = str(tmp_path / "repo")
    res = _restore.run({"repository": repo, "host": "h1", "instance": "owui", "data_dir": data,
                        "source": "nas", "targets": [store["raw"]], "age_identity": store["identity"]})
    assert res["snapshot_id"] == snap["id"]
    assert res["source"]["target"] == "nas" and res["source"]["removed"] is True
    assert tree_state(data, content=True).keys() >= {"webui.db"}
    with open(os.path.join(data, "webui.db"), "rb") as a, open(os.path.join(snap["path"], "data", "webui.db"), "rb") as b:
        assert a.read() == b.read()
    # the work copy is gone; the key the guidance names is kept (root-only), as a local snapshot keeps it
    [kept] = res["source"]["kept"]
    assert os.listdir(os.path.join(repo, ".offsite-fetch")) == [os.path.basename(kept)]
    assert kept in " ".join(res["guidance"]) and kept in res["summary"]
    with open(kept, "rb") as a, open(os.path.join(snap["path"], "secret", "webui_secret_key"), "rb") as b:
        assert a.read() == b.read()
    assert os.stat(os.path.join(repo, ".offsite-fetch")).st_mode & 0o777 == 0o700


def test_restore_from_a_tampered_target_changes_nothing(store, snap, tmp_path):
    data = str(tmp_path / "restored")
    shutil.copytree(snap["data"], data)
    before = tree_state(data, content=True)
    pack_id = sorted(store["record"]["packs"])[-1]
    with open(os.path.join(store["root"], _store.pack_key(pack_id)), "ab") as f:
        f.write(b"x")
    repo = str(tmp_path / "repo")
    with pytest.raises(BackupError, match="is damaged or tampered with"):
        _restore.run({"repository": repo, "host": "h1", "instance": "owui", "data_dir": data,
                      "source": "nas", "targets": [store["raw"]], "age_identity": store["identity"]})
    assert tree_state(data, content=True) == before
    assert os.listdir(os.path.join(repo, ".offsite-fetch")) == []


def test_drill_from_a_target(store, snap, tmp_path):
    """The drill takes the same source: the newest snapshot on the target, restored into scratch and checked."""
    repo = str(tmp_path / "repo")
    job = {"repository": repo, "scratch": str(tmp_path / "scratch"), "source": "nas", "targets": [store["raw"]], "boot": "never"}
    res = _drill_job.drill_now(dict(job, age_identity=store["identity"]))
    assert [(d["host"], d["instance"], d["snapshot_id"], d["ok"]) for d in res["drills"]] == [("h1", "owui", snap["id"], True)]
    assert res["drills"][0]["databases"]["webui.db"]["integrity"] == "ok"
    assert os.listdir(os.path.join(repo, ".offsite-fetch")) == []
    with pytest.raises(BackupError, match="drill failed"):
        _drill_job.drill_now(job)


def test_check_mode_from_a_target_downloads_verifies_and_leaves_nothing(store, snap, tmp_path):
    data = str(tmp_path / "live")
    shutil.copytree(snap["data"], data)
    before = tree_state(data, content=True)
    repo = str(tmp_path / "repo")
    res = _restore.run({"repository": repo, "host": "h1", "instance": "owui", "data_dir": data, "source": "nas",
                        "targets": [store["raw"]], "age_identity": store["identity"], "components": ["database"]},
                       check_mode=True)
    assert res["snapshot_id"] == snap["id"] and res["source"]["removed"] is True
    assert res["source"]["packs"] == len(_packs_of(store["record"], store["identity"], ["data/webui.db", "secret/"]))
    assert tree_state(data, content=True) == before
    assert os.listdir(os.path.join(repo, ".offsite-fetch")) == []


def test_reads_what_the_uploader_writes(snap, tmp_path, gets):
    """The collection's own upload (_offsite) read back: every file, and the tool it put on the target."""
    identity, recipient = storefixture.keypair(tmp_path)
    raw = {"name": "usb", "type": "filesystem", "path": str(tmp_path / "usb"), "recipients": [recipient]}
    os.makedirs(raw["path"])
    [outcome] = _offsite.upload_all([raw], snap["path"], "h1", "owui", str(tmp_path / "cache"))
    assert outcome["status"] == "ok", outcome
    src = RemoteSource(normalize(raw), "h1", "owui", identity_file=identity, workdir=str(tmp_path / "w"))
    path = src.fetch(src.select("latest"))
    assert _files(path) == _files(snap["path"])
    record = _store.load_record(src.backend, "h1", "owui", snap["id"])
    assert sorted(k for k in gets if k.startswith("packs/")) == sorted(_store.pack_key(p) for p in record["packs"])
    assert os.path.isfile(os.path.join(raw["path"], record["tool"]))
    src.close()
