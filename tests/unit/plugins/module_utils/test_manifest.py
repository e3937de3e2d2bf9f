# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _manifest: safe paths, write/load, verify."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError


@pytest.mark.parametrize("rel", ["/etc/passwd", "../x", "a/../../x", "", "a\x00b", "..", "a/..", "./a", "a//b", "a/./b",
                                 "uploads/../../etc/shadow", None, 5])
def test_safe_relpath_rejects(rel):
    with pytest.raises(BackupError):
        _manifest.safe_relpath(rel)


@pytest.mark.parametrize("rel", ["webui.db", "uploads/a b.txt", "uploads/café.txt", "vector_db/x/data_level0.bin", "..hidden", "a..b"])
def test_safe_relpath_accepts(rel):
    assert _manifest.safe_relpath(rel) == rel


FILES = {"webui.db": b"db bytes", "uploads/u1.txt": b"hello", "vector_db/seg/data_level0.bin": b"\x00" * 100}


@pytest.fixture
def snapshot(tmp_path):
    snap = tmp_path / "20261127T031500Z"
    entries = []
    for rel, data in sorted(FILES.items()):
        p = snap / "data" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        st = os.stat(str(p))
        entries.append(_manifest.file_entry(rel, st, len(data), hashlib.sha256(data).hexdigest()))
    manifest = {"schema_version": 1, "snapshot_id": snap.name, "files": entries}
    _manifest.write(str(snap / _manifest.MANIFEST), manifest)
    return str(snap), manifest


def test_write_load_roundtrip(snapshot):
    path, manifest = snapshot
    mpath = os.path.join(path, _manifest.MANIFEST)
    assert stat.S_IMODE(os.stat(mpath).st_mode) == 0o600
    assert not os.path.exists(mpath + ".tmp")
    assert _manifest.load(path) == manifest


def test_file_entry_fields(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"x")
    os.chmod(str(p), 0o640)
    e = _manifest.file_entry("f", os.stat(str(p)), 1, "ab", linked=True)
    assert e["mode"] == "0640" and e["linked"] is True and e["size"] == 1 and e["sha256"] == "ab"
    assert e["mtime_ns"] == os.stat(str(p)).st_mtime_ns


def test_verify_clean(snapshot):
    path, manifest = snapshot
    assert _manifest.verify(path, manifest) == []
    assert _manifest.verify(path, manifest, deep=False) == []


def test_verify_missing(snapshot):
    path, manifest = snapshot
    os.unlink(os.path.join(path, "data", "uploads", "u1.txt"))
    assert _manifest.verify(path, manifest) == ["missing: uploads/u1.txt"]


def test_verify_size(snapshot):
    path, manifest = snapshot
    with open(os.path.join(path, "data", "webui.db"), "ab") as f:
        f.write(b"more")
    probs = _manifest.verify(path, manifest, deep=False)
    assert len(probs) == 1 and probs[0].startswith("size differs: webui.db")


@pytest.mark.parametrize("deep,found", [(True, True), (False, False)])
def test_verify_hash_same_size(snapshot, deep, found):
    path, manifest = snapshot
    with open(os.path.join(path, "data", "uploads", "u1.txt"), "r+b") as f:
        f.write(b"J")  # same size, other bytes
    probs = _manifest.verify(path, manifest, deep=deep)
    assert probs == (["sha256 differs: uploads/u1.txt"] if found else [])


def test_verify_extra_file(snapshot):
    path, manifest = snapshot
    with open(os.path.join(path, "data", "uploads", "intruder"), "wb") as f:
        f.write(b"x")
    assert _manifest.verify(path, manifest) == ["not in manifest: uploads/intruder"]


def test_verify_links(snapshot, tmp_path):
    path, manifest = snapshot
    p = os.path.join(path, "data", "uploads", "u1.txt")
    os.unlink(p)
    os.symlink("/etc/hostname", p)  # a listed path replaced by a link
    os.symlink("/etc", os.path.join(path, "data", "etc"))  # a directory link
    probs = _manifest.verify(path, manifest)
    assert "not a regular file: uploads/u1.txt" in probs
    assert "unexpected link: etc" in probs
    assert "unexpected link: uploads/u1.txt" in probs


def test_verify_only_prefix(snapshot):
    path, manifest = snapshot
    os.unlink(os.path.join(path, "data", "webui.db"))
    assert _manifest.verify(path, manifest, only=["uploads/"]) == []
    assert _manifest.verify(path, manifest, only=["webui.db"]) == ["missing: webui.db"]


def test_verify_rejects_unsafe_path(snapshot):
    path, manifest = snapshot
    manifest["files"].append({"path": "../../etc/passwd", "size": 1, "sha256": "x"})
    with pytest.raises(BackupError):
        _manifest.verify(path, manifest)


@pytest.mark.parametrize("content,needle", [
    (None, "manifest.json does not exist"),
    ("{not json", "not valid JSON"),
    (json.dumps({"schema_version": 2, "files": []}), "schema_version"),
    (json.dumps([1, 2]), "schema_version"),
    (json.dumps({"schema_version": 1, "files": [{"path": "/etc/passwd"}]}), "absolute"),
])
def test_load_errors(tmp_path, content, needle):
    if content is not None:
        (tmp_path / _manifest.MANIFEST).write_text(content)
    with pytest.raises(BackupError) as ei:
        _manifest.load(str(tmp_path))
    assert needle in str(ei.value)


# ---- unchanged files (B6) and a damaged previous snapshot (B7) ----------------------------------


def _take(tmp_path, name, st, prev=None):
    src = tmp_path / "data" / "f"
    dst = tmp_path / name / "f"
    dst.parent.mkdir()
    prev_file, prev_entry = (str(tmp_path / prev[0] / "f"), prev[1]) if prev else (None, None)
    return _manifest.take_file("f", str(src), str(dst), st, prev_file, prev_entry), dst


def test_same_tick_rewrite_is_copied_again(tmp_path):
    """A rewrite in the timestamp tick of the copy leaves size, mtime, ctime and inode as they were: the stat
    the next run takes is the same (reused here). The entry made next to the copy must not be trusted."""
    (tmp_path / "data").mkdir()
    src = tmp_path / "data" / "f"
    src.write_bytes(b"old content")
    st = os.stat(str(src))
    e1, dummy = _take(tmp_path, "s1", st)
    assert e1.get("ctime_ns") is None  # modified within the racy margin of its copy
    with open(str(src), "r+b") as f:
        f.write(b"new content")
    e2, dst = _take(tmp_path, "s2", st, prev=("s1", e1))
    assert e2["linked"] is False and dst.read_bytes() == b"new content"
    assert e2["sha256"] == hashlib.sha256(b"new content").hexdigest()


def test_old_file_is_linked_and_its_entry_trusted(tmp_path):
    (tmp_path / "data").mkdir()
    src = tmp_path / "data" / "f"
    src.write_bytes(b"content")
    os.utime(str(src), ns=(10**18, 10**18))
    st = os.stat(str(src))
    e1, dummy = _take(tmp_path, "s1", st)
    e1["ctime_ns"] = st.st_ctime_ns  # as if copied long after its last change
    e2, dst = _take(tmp_path, "s2", st, prev=("s1", e1))
    assert e2["linked"] is True and os.stat(str(dst)).st_ino == os.stat(str(tmp_path / "s1" / "f")).st_ino


@pytest.mark.parametrize("field,value", [("ctime_ns", 1), ("ino", 1), ("mtime_ns", 1), ("size", 99), ("mode", "0777")])
def test_unchanged_compares_every_field(tmp_path, field, value):
    p = tmp_path / "f"
    p.write_bytes(b"x")
    st = os.stat(str(p))
    entry = _manifest.file_entry("f", st, 1, "ab", copied_ns=st.st_ctime_ns + 10**10)
    assert _manifest.unchanged(entry, st)
    entry[field] = value
    assert not _manifest.unchanged(entry, st)


def test_unchanged_old_manifest_entry_means_changed(tmp_path):
    """Manifests written before ctime_ns/ino existed stay readable; their entries are never trusted."""
    p = tmp_path / "f"
    p.write_bytes(b"x")
    st = os.stat(str(p))
    entry = _manifest.file_entry("f", st, 1, "ab", copied_ns=st.st_ctime_ns + 10**10)
    del entry["ctime_ns"], entry["ino"]
    assert not _manifest.unchanged(entry, st)


def test_take_file_missing_link_source_copies(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f").write_bytes(b"live")
    (tmp_path / "s1").mkdir()
    st = os.stat(str(tmp_path / "data" / "f"))
    entry = _manifest.file_entry("f", st, 4, hashlib.sha256(b"live").hexdigest(), copied_ns=st.st_ctime_ns + 10**10)
    e, dst = _take(tmp_path, "s2", st, prev=("s1", entry))  # s1/f is missing: a damaged snapshot
    assert e["linked"] is False and dst.read_bytes() == b"live"


def test_take_file_refuses_a_directory_swapped_for_a_link(tmp_path):
    (tmp_path / "data" / "uploads").mkdir(parents=True)
    (tmp_path / "data" / "uploads" / "f").write_bytes(b"upload")
    st = os.stat(str(tmp_path / "data" / "uploads" / "f"))
    (tmp_path / "host").mkdir()
    (tmp_path / "host" / "f").write_bytes(b"HOST SECRET")
    os.rename(str(tmp_path / "data" / "uploads"), str(tmp_path / "data" / "x"))
    os.symlink(str(tmp_path / "host"), str(tmp_path / "data" / "uploads"))
    dst = tmp_path / "snap" / "f"
    dst.parent.mkdir()
    with pytest.raises(BackupError, match="uploads/f in .* no longer a regular file or directory"):
        _manifest.take_file("uploads/f", str(tmp_path / "data" / "uploads" / "f"), str(dst), st)
    assert not dst.exists()
