# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _repository: names, lock across processes, staging/publish, list, delete, leftovers."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository

HOLDER = textwrap.dedent("""
    import sys, time
    from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository
    repo = Repository(sys.argv[1], "web1", "open-webui")
    with repo.lock():
        print("locked", flush=True)
        time.sleep(120)
""")


@pytest.fixture
def repo(tmp_path):
    return Repository(str(tmp_path / "repo"), "web1", "open-webui")


@pytest.fixture
def holder(tmp_path):
    """A second process holding the repository lock; yields the Popen."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "repo")], stdout=subprocess.PIPE, env=env)
    try:
        line = p.stdout.readline()
        assert line.strip() == b"locked", line
        yield p
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        p.stdout.close()


def _publish(repo, sid, manifest=None, files=None):
    st = repo.staging(sid)
    for rel, data in (files or {"webui.db": b"x"}).items():
        p = os.path.join(st, "data", rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    m = {"schema_version": 1, "snapshot_id": sid, "files": [], "verification": {"status": "verified"}}
    m.update(manifest or {})
    _manifest.write(os.path.join(st, _manifest.MANIFEST), m)
    return repo.publish(st, sid)


# ---- names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("host,instance", [
    ("", "x"), ("web1", ""), ("..", "x"), ("web1", "."), ("a/b", "x"), ("web1", "../etc"), (".hidden", "x"),
    ("web 1", "x"), ("web1", "x\x00"), (None, "x"), ("-rf", "x"), ("a" * 129, "x"),
])
def test_invalid_names_rejected(tmp_path, host, instance):
    with pytest.raises(BackupError) as ei:
        Repository(str(tmp_path), host, instance)
    assert "not a valid name" in str(ei.value)
    assert os.listdir(str(tmp_path)) == []


def test_relative_root_rejected():
    with pytest.raises(BackupError):
        Repository("backups", "web1", "x")


def test_valid_names(tmp_path):
    r = Repository(str(tmp_path), "web-1.example_com", "open-webui")
    assert r.path == os.path.join(str(tmp_path), "web-1.example_com", "open-webui")


# ---- lock ----------------------------------------------------------------------------------

def test_lock_excludes_other_process(repo, holder):
    with pytest.raises(BackupError) as ei:
        with repo.lock():
            pytest.fail("got the lock although another process holds it")
    assert "pid %d" % holder.pid in str(ei.value)
    assert "another backup or restore" in str(ei.value)


def test_lock_waits_up_to_timeout(repo, holder):
    t = time.monotonic()
    with pytest.raises(BackupError):
        with repo.lock(timeout=0.5):
            pass
    assert 0.4 <= time.monotonic() - t < 5


def test_lock_released_when_holder_killed(repo, holder):
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with repo.lock(timeout=5):
        with open(os.path.join(repo.path, ".lock")) as f:
            assert "pid %d " % os.getpid() in f.read()


def test_lock_is_reusable_and_files_private(repo):
    with repo.lock():
        pass
    with repo.lock():
        assert os.stat(os.path.join(repo.path, ".lock")).st_mode & 0o777 == 0o600
    assert os.stat(repo.path).st_mode & 0o777 == 0o700


def test_writing_requires_lock(repo):
    with pytest.raises(RuntimeError):
        repo.staging("20261127T031500Z")
    with repo.lock():
        st = repo.staging("20261127T031500Z")
    with pytest.raises(RuntimeError):
        repo.publish(st, "20261127T031500Z")
    with pytest.raises(RuntimeError):
        repo.delete("20261127T031500Z")


# ---- staging, publish, list ----------------------------------------------------------------------

def test_staging_publish_list(repo):
    with repo.lock():
        st = repo.staging("20261127T031500Z")
        assert os.path.basename(st) == ".tmp-20261127T031500Z"
        assert os.path.isdir(os.path.join(st, "data"))
        assert os.stat(st).st_mode & 0o777 == 0o700
        _manifest.write(os.path.join(st, _manifest.MANIFEST),
                        {"schema_version": 1, "files": [], "verification": {"status": "verified"}})
        assert repo.list() == []  # staging is invisible
        ino = os.stat(st).st_ino
        final = repo.publish(st, "20261127T031500Z")
    assert final == os.path.join(repo.path, "20261127T031500Z")
    assert os.stat(final).st_ino == ino  # one rename, not a copy
    assert not os.path.exists(st)
    snaps = repo.list()
    assert [s.id for s in snaps] == ["20261127T031500Z"]
    assert snaps[0].created == datetime.datetime(2026, 11, 27, 3, 15, tzinfo=datetime.timezone.utc)
    assert snaps[0].verified is True
    assert repo.latest_verified().id == "20261127T031500Z"
    assert repo.get("latest").id == "20261127T031500Z"


def test_publish_refuses_existing(repo):
    with repo.lock():
        _publish(repo, "20261127T031500Z", files={"webui.db": b"first"})
        st = repo.staging("20261127T031500Z-2")
        with pytest.raises(BackupError):
            repo.publish(st, "20261127T031500Z")
    with open(os.path.join(repo.path, "20261127T031500Z", "data", "webui.db"), "rb") as f:
        assert f.read() == b"first"


def test_list_ignores_staging_trash_and_unfinished(repo):
    with repo.lock():
        _publish(repo, "20261127T031500Z")
        _publish(repo, "20261128T031500Z", manifest={"verification": {"status": "failed"}})
    os.makedirs(os.path.join(repo.path, ".tmp-20261129T000000Z", "data"))
    os.makedirs(os.path.join(repo.path, ".del-20261126T000000Z", "data"))
    os.makedirs(os.path.join(repo.path, "20261130T000000Z", "data"))  # no manifest: not a snapshot
    os.makedirs(os.path.join(repo.path, "notes"))
    with open(os.path.join(repo.path, "20261201T000000Z"), "w") as f:  # a file, not a dir
        f.write("x")
    assert [s.id for s in repo.list()] == ["20261127T031500Z", "20261128T031500Z"]
    assert repo.latest_verified().id == "20261127T031500Z"  # the failed one is never "latest"
    with pytest.raises(BackupError):
        repo.get("20261130T000000Z")


def test_list_oldest_first_and_new_id_collision(repo):
    when = datetime.datetime(2026, 11, 27, 3, 15, 0, tzinfo=datetime.timezone.utc)
    with repo.lock():
        ids = []
        for dummy in range(3):
            sid = repo.new_id(when)
            ids.append(sid)
            _publish(repo, sid)
        _publish(repo, repo.new_id(when - datetime.timedelta(days=1)))
    assert ids == ["20261127T031500Z", "20261127T031500Z-2", "20261127T031500Z-3"]
    assert [s.id for s in repo.list()] == ["20261126T031500Z"] + ids


def test_list_order_with_ten_collisions(repo):
    when = datetime.datetime(2026, 11, 27, 3, 15, 0, tzinfo=datetime.timezone.utc)
    with repo.lock():
        ids = []
        for dummy in range(11):
            sid = repo.new_id(when)
            ids.append(sid)
            _publish(repo, sid)
    assert [s.id for s in repo.list()] == ids
    assert repo.latest_verified().id == "20261127T031500Z-11"


def test_empty_repository(repo):
    assert repo.list() == []
    assert repo.latest_verified() is None
    with pytest.raises(BackupError):
        repo.get("latest")


# ---- delete, leftovers ---------------------------------------------------------------------------

def test_delete(repo):
    with repo.lock():
        _publish(repo, "20261127T031500Z")
        _publish(repo, "20261128T031500Z")
        repo.delete("20261127T031500Z")
        with pytest.raises(BackupError):
            repo.delete("20261127T031500Z")
        with pytest.raises(BackupError):
            repo.delete("../open-webui")
    assert [s.id for s in repo.list()] == ["20261128T031500Z"]
    assert sorted(os.listdir(repo.path)) == [".lock", "20261128T031500Z"]


def test_delete_keeps_hard_linked_content(repo):
    with repo.lock():
        a = _publish(repo, "20261127T031500Z", files={"uploads/u": b"shared"})
        st = repo.staging("20261128T031500Z")
        os.makedirs(os.path.join(st, "data", "uploads"))
        os.link(os.path.join(a, "data", "uploads", "u"), os.path.join(st, "data", "uploads", "u"))
        _manifest.write(os.path.join(st, _manifest.MANIFEST), {"schema_version": 1, "files": []})
        b = repo.publish(st, "20261128T031500Z")
        repo.delete("20261127T031500Z")
    with open(os.path.join(b, "data", "uploads", "u"), "rb") as f:
        assert f.read() == b"shared"


def test_leftovers_cleaned_on_next_lock(repo):
    with repo.lock():
        _publish(repo, "20261127T031500Z")
    stale = os.path.join(repo.path, ".tmp-20261128T000000Z")
    trash = os.path.join(repo.path, ".del-20261126T000000Z")
    for d in (stale, trash):
        os.makedirs(os.path.join(d, "data", "uploads"))
        with open(os.path.join(d, "data", "uploads", "x"), "wb") as f:
            f.write(b"partial")
    with repo.lock():
        assert not os.path.exists(stale) and not os.path.exists(trash)
    assert sorted(os.listdir(repo.path)) == [".lock", "20261127T031500Z"]


def test_leftovers_of_killed_run_cleaned(repo, tmp_path):
    """A run killed while staging leaves .tmp-*: the next run (after the kernel dropped the lock) removes it."""
    script = textwrap.dedent("""
        import os, sys, time
        from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository
        repo = Repository(sys.argv[1], "web1", "open-webui")
        with repo.lock():
            st = repo.staging("20261127T031500Z")
            open(os.path.join(st, "data", "webui.db"), "wb").write(b"half")
            print("staged", flush=True)
            time.sleep(120)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    p = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "repo")], stdout=subprocess.PIPE, env=env)
    try:
        assert p.stdout.readline().strip() == b"staged"
        assert os.path.isdir(os.path.join(repo.path, ".tmp-20261127T031500Z"))
        p.kill()
        p.wait()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
    with repo.lock(timeout=5):
        assert not os.path.exists(os.path.join(repo.path, ".tmp-20261127T031500Z"))
    assert repo.list() == []
