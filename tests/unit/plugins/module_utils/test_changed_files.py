# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whole hot snapshots (real Open WebUI 0.12.4 data) where files change behind the backup's back: a rewrite
that keeps size and mtime (B6), a damaged previous snapshot (B7), a directory swapped for a link to the host
between the walk and the copy (B8)."""

from __future__ import annotations

import datetime
import glob
import hashlib
import os

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _files
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _snapshot
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError

T0 = datetime.datetime(2026, 11, 27, 3, 15, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture
def job(fixture_data_dir, tmp_path):
    return {"data_dir": fixture_data_dir, "repository": str(tmp_path / "repo"), "host": "web1",
            "instance": "open-webui", "mode": "hot", "verify": "deep"}


def _run(job, hours):
    return _snapshot.run(job, now=T0 + datetime.timedelta(hours=hours))


def _entries(res):
    return {e["path"]: e for e in _manifest.load(res["path"])["files"]}


def _upload(data_dir):
    return "uploads/" + sorted(os.listdir(os.path.join(data_dir, "uploads")))[0]


def test_rewrite_keeping_size_and_mtime_is_copied_again(job):
    r1 = _run(job, 0)
    rel = _upload(job["data_dir"])
    path = os.path.join(job["data_dir"], rel)
    st = os.stat(path)
    new = os.urandom(st.st_size)
    with open(path, "r+b") as f:  # in place: same inode, same size
        f.write(new)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime preserved (touch -r, rsync -t, a same-tick write)
    r2 = _run(job, 1)
    e = _entries(r2)[rel]
    assert e["linked"] is False and e["sha256"] == hashlib.sha256(new).hexdigest()
    with open(os.path.join(r2["path"], "data", rel), "rb") as f:
        assert f.read() == new
    assert _entries(r1)[rel]["sha256"] != e["sha256"]
    assert r2["verification"]["status"] == "verified"


def test_unchanged_files_are_still_linked(job):
    _run(job, 0)
    r2 = _run(job, 1)
    e = _entries(r2)
    assert e[_upload(job["data_dir"])]["linked"] is True
    assert any(v["linked"] for k, v in e.items() if k.startswith("vector_db/") and k.endswith(".bin"))


def test_damaged_previous_snapshot_copies_the_live_files(job):
    r1 = _run(job, 0)
    rel = _upload(job["data_dir"])
    segment = sorted(glob.glob(os.path.join(r1["path"], "data", "vector_db", "*", "*.bin")))[0]
    seg_rel = os.path.relpath(segment, os.path.join(r1["path"], "data"))
    os.unlink(os.path.join(r1["path"], "data", rel))
    os.unlink(segment)
    r2 = _run(job, 1)
    e = _entries(r2)
    assert rel in e and seg_rel in e and e[rel]["linked"] is False and e[seg_rel]["linked"] is False
    assert not [w for w in r2["warnings"] if "disappeared" in w]
    for r in (rel, seg_rel):
        assert _files.sha256_file(os.path.join(r2["path"], "data", r))[1] == \
            _files.sha256_file(os.path.join(job["data_dir"], r))[1]
    assert r2["verification"]["status"] == "verified"


def test_directory_swapped_for_a_link_after_the_walk_is_refused(job, tmp_path, monkeypatch):
    data = job["data_dir"]
    names = os.listdir(os.path.join(data, "uploads"))
    host = tmp_path / "host-secrets"
    host.mkdir()
    for n in names:
        (host / n).write_bytes(b"HOST SECRET")
    real_walk = _files.walk

    def walk(root, *args, **kwargs):
        yield from real_walk(root, *args, **kwargs)
        if root == data and kwargs.get("skip"):  # the data directory's walk is over: swap uploads/
            os.rename(os.path.join(data, "uploads"), os.path.join(data, "uploads.old"))
            os.symlink(str(host), os.path.join(data, "uploads"))

    monkeypatch.setattr(_files, "walk", walk)
    with pytest.raises(BackupError, match="uploads/.* no longer a regular file or directory"):
        _run(job, 0)
    for dirpath, dummy, files in os.walk(job["repository"]):
        for n in files:
            with open(os.path.join(dirpath, n), "rb") as f:
                assert b"HOST SECRET" not in f.read()
