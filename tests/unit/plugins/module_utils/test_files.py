# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _files: hashing copy, sparse files, hard links, walk rules."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _files
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError

MiB = 1 << 20


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.parametrize("size", [0, 1, 4095, _files.BUF, _files.BUF + 17, 3 * _files.BUF + 5])
def test_copy_file_hash_equals_sha256_of_bytes(tmp_path, size):
    src = tmp_path / "src.bin"
    data = os.urandom(size)
    src.write_bytes(data)
    os.chmod(str(src), 0o640)
    os.utime(str(src), ns=(1_600_000_000_123_456_789, 1_600_000_000_987_654_321))
    dst = tmp_path / "dst.bin"
    n, digest = _files.copy_file(str(src), str(dst))
    assert n == size
    assert digest == hashlib.sha256(data).hexdigest()
    assert dst.read_bytes() == data
    st = os.stat(str(dst))
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_mtime_ns == 1_600_000_000_987_654_321


def test_copy_file_without_hash_is_same_bytes(tmp_path):
    src = tmp_path / "s"
    data = os.urandom(2 * MiB + 3)
    src.write_bytes(data)
    n, digest = _files.copy_file(str(src), str(tmp_path / "d"), want_hash=False)
    assert digest is None and n == len(data)
    assert (tmp_path / "d").read_bytes() == data


def test_copy_file_refuses_existing_destination(tmp_path):
    (tmp_path / "s").write_bytes(b"new")
    (tmp_path / "d").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        _files.copy_file(str(tmp_path / "s"), str(tmp_path / "d"))
    assert (tmp_path / "d").read_bytes() == b"old"


def test_copy_file_refuses_symlink_source(tmp_path):
    (tmp_path / "target").write_bytes(b"secret")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(OSError):
        _files.copy_file(str(tmp_path / "link"), str(tmp_path / "d"))
    assert not (tmp_path / "d").exists()


def _make_sparse(path, size=64 * MiB, chunks=((0, b"head"), (10 * MiB, b"middle" * 1000), (64 * MiB - 5, b"tail!"))):
    with open(path, "wb") as f:
        f.truncate(size)
        for off, data in chunks:
            f.seek(off)
            f.write(data)
    return size


def test_sparse_file_keeps_holes(tmp_path):
    src = str(tmp_path / "sparse.bin")
    size = _make_sparse(src)
    sst = os.stat(src)
    if not _files.is_sparse(sst):
        pytest.skip("filesystem of tmp_path does not keep holes")
    dst = str(tmp_path / "copy.bin")
    n, digest = _files.copy_file(src, dst)
    dst_st = os.stat(dst)
    assert n == size == dst_st.st_size
    assert digest == _sha(src) == _sha(dst)
    # a dense copy would take 64 MiB; the holes stay holes (a few blocks of data only)
    assert dst_st.st_blocks * 512 < 1 * MiB
    assert _files.is_sparse(dst_st)


def test_sparse_file_ending_in_hole(tmp_path):
    src = str(tmp_path / "s.bin")
    _make_sparse(src, size=32 * MiB, chunks=((MiB, b"x" * 100),))
    if not _files.is_sparse(os.stat(src)):
        pytest.skip("filesystem of tmp_path does not keep holes")
    n, digest = _files.copy_file(src, str(tmp_path / "d.bin"))
    assert n == 32 * MiB
    assert digest == _sha(src) == _sha(str(tmp_path / "d.bin"))
    assert os.stat(str(tmp_path / "d.bin")).st_blocks * 512 < MiB


# ---- hard links -----------------------------------------------------------------------------

def test_link_or_copy_links(tmp_path):
    prev = tmp_path / "prev"
    prev.write_bytes(b"same bytes")
    src = tmp_path / "src"
    src.write_bytes(b"same bytes")
    dst = tmp_path / "dst"
    assert _files.link_or_copy(str(prev), str(src), str(dst), os.stat(str(src))) is True
    assert os.stat(str(dst)).st_ino == os.stat(str(prev)).st_ino
    assert os.stat(str(prev)).st_nlink == 2


def test_link_or_copy_copies_across_filesystems(tmp_path):
    shm = "/dev/shm"
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(str(tmp_path)).st_dev:
        pytest.skip("no second filesystem to link across")
    import tempfile
    other = tempfile.mkdtemp(dir=shm)
    try:
        prev = os.path.join(other, "prev")
        with open(prev, "wb") as f:
            f.write(b"content")
        src = tmp_path / "src"
        src.write_bytes(b"content")
        dst = tmp_path / "dst"
        assert _files.link_or_copy(prev, str(src), str(dst), os.stat(str(src))) is False  # EXDEV -> copy
        assert dst.read_bytes() == b"content"
        assert os.stat(str(dst)).st_nlink == 1
    finally:
        import shutil
        shutil.rmtree(other)


def test_link_or_copy_missing_previous_copies_the_live_file(tmp_path):
    """A damaged previous snapshot (its file is gone) must not lose the file: copy the live one (B7)."""
    (tmp_path / "src").write_bytes(b"live")
    assert _files.link_or_copy(str(tmp_path / "gone"), str(tmp_path / "src"), str(tmp_path / "dst"),
                               os.stat(str(tmp_path / "src"))) is False
    assert (tmp_path / "dst").read_bytes() == b"live"


def test_try_link_missing_destination_dir_still_raises(tmp_path):
    (tmp_path / "prev").write_bytes(b"x")
    with pytest.raises(FileNotFoundError):
        _files.try_link(str(tmp_path / "prev"), str(tmp_path / "no-such-dir" / "dst"))


def test_sha256_file(tmp_path):
    data = os.urandom(_files.BUF * 2 + 11)
    (tmp_path / "f").write_bytes(data)
    assert _files.sha256_file(str(tmp_path / "f")) == (len(data), hashlib.sha256(data).hexdigest())


# ---- walk ---------------------------------------------------------------------------------

TREE = [
    "webui.db", "webui.db-wal", "webui.db-shm", "webui.db-journal",
    "vector_db/chroma.sqlite3", "vector_db/seg/data_level0.bin",
    "uploads/a_b.txt", "uploads/café menu.txt",
    "cache/embedding/models/m/model.safetensors", "cache/embedding/models/m/config.json",
    "cache/whisper/models/w.bin", "cache/tiktoken/enc",
    "cache/audio/transcriptions/t1.json", "cache/audio/speech/s.mp3", "cache/image/generations/g.png",
    "cache/functions/f.py", "audit.log", "audit.log.1", "export.zip-audit", "notes/keep.md",
]


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "data"
    for rel in TREE:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rel.encode())
    (root / "uploads" / "link").symlink_to("a_b.txt")
    return str(root)


def _files_of(root, **kw):
    return [rel for rel, kind, dummy in _files.walk(root, **kw) if kind == "file"]


def test_walk_defaults(tree):
    got = _files_of(tree, exclude=_files.DEFAULT_EXCLUDE, skip=_files.ALWAYS_SKIP)
    assert set(got) == {
        "uploads/a_b.txt", "uploads/café menu.txt",
        "cache/audio/transcriptions/t1.json", "cache/audio/speech/s.mp3", "cache/image/generations/g.png",
        "cache/functions/f.py", "notes/keep.md",
    }
    dirs = [rel for rel, kind, dummy in _files.walk(tree, exclude=_files.DEFAULT_EXCLUDE, skip=_files.ALWAYS_SKIP) if kind == "dir"]
    assert "cache/embedding/models" not in dirs and "vector_db" not in dirs
    assert "cache/embedding" in dirs  # only models/ below it is excluded


def test_walk_always_skip(tree):
    got = set(_files_of(tree, skip=_files.ALWAYS_SKIP))
    for rel in ("webui.db", "webui.db-wal", "webui.db-shm", "webui.db-journal",
                "vector_db/chroma.sqlite3", "vector_db/seg/data_level0.bin"):
        assert rel not in got
    # without the skip list the databases are there
    assert {"webui.db", "webui.db-wal", "vector_db/chroma.sqlite3"} <= set(_files_of(tree))


def test_walk_include_overrides_exclude(tree):
    got = set(_files_of(tree, exclude=_files.DEFAULT_EXCLUDE, include=["cache/embedding/models/**"], skip=_files.ALWAYS_SKIP))
    assert {"cache/embedding/models/m/model.safetensors", "cache/embedding/models/m/config.json"} <= got
    assert "cache/whisper/models/w.bin" not in got
    got = set(_files_of(tree, exclude=["uploads/**"], include=["uploads/a_b.txt"]))
    assert "uploads/a_b.txt" in got and "uploads/café menu.txt" not in got


def test_walk_exclude_user_pattern(tree):
    got = set(_files_of(tree, exclude=["*.mp3", "notes/**"]))
    assert "cache/audio/speech/s.mp3" not in got and "notes/keep.md" not in got
    assert "uploads/a_b.txt" in got


def test_walk_survives_vanishing_entry(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "a.txt").write_bytes(b"a")
    (root / "webui.db-journal").write_bytes(b"j")  # exists while SQLite commits, deleted right after
    it = _files.walk(str(root), skip=_files.ALWAYS_SKIP)
    assert next(it)[0] == "a.txt"  # the directory is listed now
    os.unlink(str(root / "webui.db-journal"))
    assert list(it) == []  # a vanished (and anyway skipped) entry is not an error


def test_walk_reports_symlinks_without_following(tree):
    kinds = {rel: kind for rel, kind, dummy in _files.walk(tree)}
    assert kinds["uploads/link"] == "symlink"
    assert kinds["uploads"] == "dir"


def test_walk_is_sorted_within_directory(tree):
    got = [rel for rel, kind, dummy in _files.walk(tree) if rel.startswith("uploads/")]
    assert got == sorted(got)


@pytest.mark.parametrize("rel,exclude,include,want", [
    ("cache/embedding/models/x", _files.DEFAULT_EXCLUDE, [], True),
    ("cache/embedding/models", _files.DEFAULT_EXCLUDE, [], True),
    ("cache/audio/transcriptions/x.json", _files.DEFAULT_EXCLUDE, [], False),
    ("audit.log.3", _files.DEFAULT_EXCLUDE, [], True),
    ("cache/tiktoken/a", _files.DEFAULT_EXCLUDE, ["cache/tiktoken/**"], False),
])
def test_is_excluded(rel, exclude, include, want):
    assert _files.is_excluded(rel, exclude, include) is want


def test_walk_unreadable_dir_is_backup_error(tmp_path, monkeypatch):
    """Root reads every directory, so the refusal is injected: the kernel's EACCES on listing ``x``."""
    d = tmp_path / "d"
    (d / "x").mkdir(parents=True)
    real = os.scandir

    def scandir(path):
        if os.path.basename(path) == "x":
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(BackupError, match="cannot read directory .*x: Permission denied"):
        list(_files.walk(str(d)))


# ---- never follow a link below the root (B8) ------------------------------------------------


@pytest.fixture
def swapped(tmp_path):
    """A data dir whose uploads/ was swapped for a link to an outside directory after the walk."""
    data, outside = tmp_path / "data", tmp_path / "host"
    (data / "uploads").mkdir(parents=True)
    (data / "uploads" / "f.txt").write_bytes(b"user upload")
    outside.mkdir()
    (outside / "f.txt").write_bytes(b"HOST SECRET")
    st = os.stat(str(data / "uploads" / "f.txt"))
    os.rename(str(data / "uploads"), str(data / "old-uploads"))
    os.symlink(str(outside), str(data / "uploads"))
    return str(data), st


def test_copy_file_below_root_refuses_a_swapped_directory(swapped, tmp_path):
    data, st = swapped
    dst = str(tmp_path / "dst")
    with pytest.raises(BackupError, match="uploads/f.txt in .* no longer a regular file or directory"):
        _files.copy_file(os.path.join(data, "uploads", "f.txt"), dst, st=st, root=data)
    assert not os.path.exists(dst)


def test_copy_file_below_root_refuses_a_swapped_file_and_a_fifo(tmp_path):
    data = tmp_path / "data"
    (data / "d").mkdir(parents=True)
    (tmp_path / "host").write_bytes(b"HOST SECRET")
    os.symlink(str(tmp_path / "host"), str(data / "d" / "link"))
    os.mkfifo(str(data / "d" / "fifo"))
    for name in ("link", "fifo"):
        with pytest.raises(BackupError, match="no longer a regular file"):
            _files.copy_file(str(data / "d" / name), str(tmp_path / name), root=str(data))


def test_copy_file_below_root_copies_a_plain_tree(tmp_path):
    data = tmp_path / "data"
    (data / "a" / "b").mkdir(parents=True)
    (data / "a" / "b" / "f").write_bytes(b"ok")
    assert _files.copy_file(str(data / "a" / "b" / "f"), str(tmp_path / "dst"), root=str(data))[0] == 2
    assert (tmp_path / "dst").read_bytes() == b"ok"
