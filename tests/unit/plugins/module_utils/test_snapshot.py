# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _snapshot.run on the real Open WebUI 0.12.4 data directory.

hot mode runs for real; pause and cold use a fake Docker client and the real safety-net watchdog, which
talks to a fake Docker engine on a unix socket (what it sent there is what it did).
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import glob
import os
import sqlite3
import stat

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _files
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _safety
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _snapshot
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _sqlite
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository

from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.fakes import CID, FakeDocker, FakeEngine

T0 = datetime.datetime(2026, 11, 27, 3, 15, 0, tzinfo=datetime.timezone.utc)
SECRET = "owui-fixture-test-secret-0.12.4"


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _tree(root):
    """{rel: (size, mtime_ns, sha256)} of every regular file below root."""
    out = {}
    for dirpath, dummy, files in os.walk(root):
        for n in files:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns, _sha(p))
    return out


@pytest.fixture
def job(fixture_data_dir, tmp_path):
    return {"data_dir": fixture_data_dir, "repository": str(tmp_path / "repo"), "host": "web1",
            "instance": "open-webui", "mode": "hot"}


def _repo(job):
    return Repository(job["repository"], job["host"], job["instance"])


def _leftovers(job):
    p = _repo(job).path
    return [n for n in os.listdir(p) if n.startswith(".tmp-") or n.startswith(".del-")] if os.path.isdir(p) else []


def _chat_ids(db):
    c = sqlite3.connect("file:%s?mode=ro&immutable=1" % db, uri=True)
    try:
        return {r[0] for r in c.execute("SELECT id FROM chat WHERE user_id='app'")}
    finally:
        c.close()


# ---- hot snapshots of the real fixture -------------------------------------------------------------

def test_hot_snapshot_matches_fixture(job, fixture_expected, fixture_data_dir, tmp_path):
    (tmp_path / "secret.key").write_text(SECRET + "\n")
    job["secret_key_file"] = str(tmp_path / "secret.key")
    src_before = _tree(fixture_data_dir)
    listing = sorted(os.listdir(fixture_data_dir))
    res = _snapshot.run(job, now=T0)
    assert res["changed"] and res["snapshot_id"] == "20261127T031500Z" and res["mode"] == "hot"
    snap = res["path"]
    assert snap == os.path.join(_repo(job).path, "20261127T031500Z")
    m = _manifest.load(snap)
    assert m["verification"]["status"] == "verified"
    db = m["databases"]["webui.db"]
    assert db["integrity"] == "ok" and db["alembic_revision"] == fixture_expected["alembic_revision"]
    assert db["row_counts"] == fixture_expected["table_row_counts"]
    assert db["journal_mode"] == "wal"
    chroma = m["databases"]["vector_db/chroma.sqlite3"]
    assert chroma["integrity"] == "ok" and chroma["journal_mode"] == "delete"
    assert chroma["row_counts"]["embeddings"] == fixture_expected["chroma"]["total_vectors"]
    assert chroma["row_counts"]["collections"] == len(fixture_expected["chroma"]["collections"])
    # the copied databases are real, standalone SQLite files with the same content
    c = sqlite3.connect("file:%s?mode=ro&immutable=1" % os.path.join(snap, "data", "webui.db"), uri=True)
    assert c.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0bd252b206fb"
    assert c.execute("SELECT count(*) FROM chat_message").fetchone()[0] == 459
    c.close()
    # every upload is there with the hash Open WebUI recorded
    entries = {e["path"]: e for e in m["files"]}
    for f in fixture_expected["files"]:
        p = os.path.join(snap, "data", f["relative_path"])
        assert _sha(p) == f["sha256"], f["relative_path"]
        assert entries[f["relative_path"]]["sha256"] == f["sha256"]
        assert entries[f["relative_path"]]["size"] == f["size"]
    assert m["uploads_check"]["referenced"] == 12 == len(fixture_expected["files"])
    assert m["uploads_check"]["missing"] == [] and m["uploads_check"]["hash_mismatch"] == []
    # the manifest lists exactly the files of data/, each with its true sha256 and size
    on_disk = _tree(os.path.join(snap, "data"))
    assert set(entries) == set(on_disk)
    for rel, e in entries.items():
        assert e["size"] == on_disk[rel][0] and e["sha256"] == on_disk[rel][2], rel
        assert e["linked"] is False
    # ... and exactly the files of the source (databases copied as one file each)
    assert set(entries) == {rel for rel in src_before if not rel.startswith("webui.db")} | {"webui.db"}
    for rel, (size, mtime, sha) in src_before.items():
        if rel != "webui.db" and rel != "vector_db/chroma.sqlite3":
            assert entries[rel]["sha256"] == sha and entries[rel]["mtime_ns"] == mtime
    assert m["totals"]["files"] == len(entries)
    assert m["totals"]["bytes"] == sum(v[0] for v in on_disk.values())
    assert m["totals"]["new_bytes"] == m["totals"]["bytes"] and m["totals"]["linked_files"] == 0
    # empty directories of the source exist in the snapshot
    assert os.path.isdir(os.path.join(snap, "data", "cache", "audio", "speech"))
    # the secret key, private
    kp = os.path.join(snap, "secret", "webui_secret_key")
    with open(kp, "rb") as f:
        assert f.read() == SECRET.encode()
    assert stat.S_IMODE(os.stat(kp).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(kp)).st_mode) == 0o700
    assert m["secret_key"] == {"captured": True, "source": "file", "sha256": hashlib.sha256(SECRET.encode()).hexdigest()}
    assert SECRET not in open(os.path.join(snap, "manifest.json")).read()
    assert m["warnings"] == [] and res["warnings"] == []
    # the source was not modified (content, sizes, mtimes)
    assert _tree(fixture_data_dir) == src_before
    assert sorted(os.listdir(fixture_data_dir)) == listing  # no webui.db-wal/-shm left behind either
    assert _leftovers(job) == []


def test_second_snapshot_links_unchanged_files(job, fixture_data_dir):
    r1 = _snapshot.run(job, now=T0)
    r2 = _snapshot.run(job, now=T0 + datetime.timedelta(hours=1))
    assert r2["previous"] == r1["snapshot_id"]
    m1 = _manifest.load(r1["path"])
    m2 = _manifest.load(r2["path"])
    dbs = ("webui.db", "vector_db/chroma.sqlite3")
    linked = 0
    for e in m2["files"]:
        p1 = os.path.join(r1["path"], "data", e["path"])
        p2 = os.path.join(r2["path"], "data", e["path"])
        if e["path"] in dbs:
            assert e["linked"] is False
            assert os.stat(p1).st_ino != os.stat(p2).st_ino
            continue
        assert e["linked"] is True, e["path"]
        assert os.stat(p1).st_ino == os.stat(p2).st_ino, e["path"]
        linked += 1
    assert linked == len(m2["files"]) - 2 == m2["totals"]["linked_files"]
    db_bytes = sum(os.path.getsize(os.path.join(r2["path"], "data", d)) for d in dbs)
    assert m2["totals"]["new_bytes"] <= db_bytes * 1.01
    assert m2["totals"]["bytes"] == m1["totals"]["bytes"]
    assert {e["path"]: e["sha256"] for e in m1["files"] if e["path"] not in dbs} == \
        {e["path"]: e["sha256"] for e in m2["files"] if e["path"] not in dbs}
    assert _manifest.verify(r2["path"], m2) == [] and _manifest.verify(r1["path"], m1) == []


@pytest.mark.parametrize("err", [errno.EXDEV, errno.EMLINK, errno.ENOTSUP])
def test_second_snapshot_copies_when_links_are_impossible(job, monkeypatch, err):
    """A repository where hard links fail (another file system, the link limit, a NAS without links): the
    second snapshot copies and hashes the unchanged files instead of failing."""
    r1 = _snapshot.run(job, now=T0)

    def no_link(src, dst, *a, **kw):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(os, "link", no_link)
    r2 = _snapshot.run(job, now=T0 + datetime.timedelta(hours=1))
    m1, m2 = _manifest.load(r1["path"]), _manifest.load(r2["path"])
    assert m2["totals"]["linked_files"] == 0 and not any(e["linked"] for e in m2["files"])
    assert {e["path"]: e["sha256"] for e in m1["files"] if e["path"] != "webui.db"} == \
        {e["path"]: e["sha256"] for e in m2["files"] if e["path"] != "webui.db"}
    assert _manifest.verify(r2["path"], m2, deep=True) == []


def test_changed_upload_is_copied_not_linked(job, fixture_data_dir, fixture_expected):
    r1 = _snapshot.run(job, now=T0)
    f = fixture_expected["files"][0]["relative_path"]
    src = os.path.join(fixture_data_dir, f)
    with open(src, "ab") as fh:
        fh.write(b"\nedited")
    new_sha = _sha(src)
    new_file = os.path.join(fixture_data_dir, "uploads", "new-upload.txt")
    with open(new_file, "wb") as fh:
        fh.write(b"brand new")
    r2 = _snapshot.run(job, now=T0 + datetime.timedelta(hours=1))
    e = {x["path"]: x for x in _manifest.load(r2["path"])["files"]}
    assert e[f]["linked"] is False and e[f]["sha256"] == new_sha
    assert os.stat(os.path.join(r2["path"], "data", f)).st_ino != os.stat(os.path.join(r1["path"], "data", f)).st_ino
    assert _sha(os.path.join(r2["path"], "data", f)) == new_sha
    # the older snapshot is immutable: still the old bytes
    assert _sha(os.path.join(r1["path"], "data", f)) == fixture_expected["files"][0]["sha256"]
    assert e["uploads/new-upload.txt"]["linked"] is False
    # Open WebUI's recorded hash no longer matches the edited upload: reported
    assert r2["uploads_check"]["hash_mismatch"] == [f]
    assert any("differ from the sha256" in w for w in r2["warnings"])


def test_deleted_upload_reported_missing(job, fixture_data_dir, fixture_expected):
    f = fixture_expected["files"][3]["relative_path"]
    os.unlink(os.path.join(fixture_data_dir, f))
    res = _snapshot.run(job, now=T0)
    assert res["uploads_check"]["missing"] == [f]
    assert res["uploads_check"]["referenced"] == 12
    assert any("not in the data directory" in w for w in res["warnings"])


def test_exclude_defaults_and_include(job, fixture_data_dir):
    models = os.path.join(fixture_data_dir, "cache", "embedding", "models", "m")
    os.makedirs(models)
    with open(os.path.join(models, "model.bin"), "wb") as f:
        f.write(b"weights")
    tr = os.path.join(fixture_data_dir, "cache", "audio", "transcriptions")
    os.makedirs(tr)
    with open(os.path.join(tr, "t.json"), "w") as f:
        f.write("{}")
    res = _snapshot.run(job, now=T0)
    paths = {e["path"] for e in _manifest.load(res["path"])["files"]}
    assert "cache/audio/transcriptions/t.json" in paths
    assert "cache/embedding/models/m/model.bin" not in paths
    job["include"] = ["cache/embedding/models/**"]
    res = _snapshot.run(job, now=T0 + datetime.timedelta(hours=1))
    assert "cache/embedding/models/m/model.bin" in {e["path"] for e in _manifest.load(res["path"])["files"]}


# ---- secret key ---------------------------------------------------------------------------

def test_secret_key_beside_data_dir_found(job, fixture_data_dir):
    with open(os.path.join(os.path.dirname(fixture_data_dir), ".webui_secret_key"), "w") as f:
        f.write(SECRET)
    res = _snapshot.run(job, now=T0)
    assert res["secret_key"]["captured"] is True
    with open(os.path.join(res["path"], "secret", "webui_secret_key")) as f:
        assert f.read() == SECRET


def test_secret_key_absent_warns(job):
    res = _snapshot.run(job, now=T0)
    assert res["secret_key"] == {"captured": False, "source": None}
    assert any("secret key not captured" in w for w in res["warnings"])
    assert not os.path.exists(os.path.join(res["path"], "secret"))
    assert _manifest.load(res["path"])["warnings"] == res["warnings"]


def test_secret_key_file_missing_is_error(job, tmp_path):
    job["secret_key_file"] = str(tmp_path / "nope")
    with pytest.raises(BackupError) as ei:
        _snapshot.run(job, now=T0)
    assert "secret_key_file" in str(ei.value)
    assert _repo(job).list() == [] and _leftovers(job) == []


def test_secret_key_skip(job, tmp_path):
    (tmp_path / "k").write_text(SECRET)
    job.update(secret_key="skip", secret_key_file=str(tmp_path / "k"))
    res = _snapshot.run(job, now=T0)
    assert res["secret_key"]["captured"] is False
    assert not os.path.exists(os.path.join(res["path"], "secret"))


# ---- refusals -------------------------------------------------------------------------------

def test_repository_inside_data_dir_rejected(job, fixture_data_dir):
    job["repository"] = os.path.join(fixture_data_dir, "backups")
    with pytest.raises(BackupError) as ei:
        _snapshot.run(job, now=T0)
    assert "inside the data directory" in str(ei.value)
    assert not os.path.exists(job["repository"])


def test_data_dir_inside_repository_rejected(fixture_data_dir, tmp_path):
    job = {"data_dir": fixture_data_dir, "repository": str(tmp_path), "host": "web1", "instance": "x", "mode": "hot"}
    with pytest.raises(BackupError):
        _snapshot.run(job, now=T0)
    assert not os.path.exists(os.path.join(str(tmp_path), "web1"))


@pytest.mark.parametrize("layout,needle", [
    ("empty", "does not look like an Open WebUI data directory"),
    ("uploads-only", "uploads/ exists but webui.db does not"),
    ("text-db", "not a SQLite database"),
    ("missing", "does not exist"),
])
def test_not_openwebui_rejected(tmp_path, layout, needle):
    d = tmp_path / "data"
    if layout != "missing":
        d.mkdir()
    if layout == "uploads-only":
        (d / "uploads").mkdir()
    if layout == "text-db":
        (d / "webui.db").write_text("hello")
    job = {"data_dir": str(d), "repository": str(tmp_path / "repo"), "host": "web1", "instance": "x", "mode": "hot"}
    with pytest.raises(BackupError) as ei:
        _snapshot.run(job, now=T0)
    assert needle in str(ei.value)
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize("bad", [{"mode": "warm"}, {"repository": None}, {"data_dir": None}, {"mode": "pause"},
                                 {"freeze_timeout": 0}, {"bogus": 1}, {"data_dir": "relative/path"}])
def test_bad_jobs_rejected(job, bad):
    job.update(bad)
    with pytest.raises(BackupError):
        _snapshot.run(job, now=T0)
    assert not os.path.exists(job["repository"] or "/nonexistent-repo")


# ---- failures leave nothing behind -----------------------------------------------------------

def _corrupt_leaves(path, table="chat_message"):
    c = sqlite3.connect("file:%s?mode=ro&immutable=1" % path, uri=True)
    try:
        try:
            pages = c.execute("SELECT pageno FROM dbstat WHERE name=? AND pagetype='leaf'", (table,)).fetchall()
        except sqlite3.OperationalError:
            pytest.skip("this SQLite build has no dbstat")
    finally:
        c.close()
    with open(path, "r+b") as f:
        for (pg,) in pages:
            f.seek((pg - 1) * 4096 + 8)
            f.write(b"\xff" * 3996)


def test_corrupt_webui_db_publishes_nothing(job, fixture_data_dir):
    r1 = _snapshot.run(job, now=T0)
    m1 = _manifest.load(r1["path"])
    before = _tree(r1["path"])
    db = os.path.join(fixture_data_dir, "webui.db")
    with open(db, "rb") as f:
        good = f.read()
    _corrupt_leaves(db)
    with pytest.raises(BackupError) as ei:
        _snapshot.run(job, now=T0 + datetime.timedelta(hours=1))
    assert "integrity" in str(ei.value)
    repo = _repo(job)
    assert [s.id for s in repo.list()] == [r1["snapshot_id"]]
    assert _tree(r1["path"]) == before and _manifest.verify(r1["path"], m1) == []
    assert _leftovers(job) == []
    # a run killed hard would leave its staging: the next run removes it
    os.makedirs(os.path.join(repo.path, ".tmp-20261127T041500Z", "data"))
    for s in ("-wal", "-shm"):
        if os.path.exists(db + s):
            os.unlink(db + s)
    with open(db, "wb") as f:
        f.write(good)
    r3 = _snapshot.run(job, now=T0 + datetime.timedelta(hours=2))
    assert _leftovers(job) == []
    assert [s.id for s in repo.list()] == [r1["snapshot_id"], r3["snapshot_id"]]


def test_check_mode_writes_nothing(job, fixture_data_dir):
    before = _tree(fixture_data_dir)
    listing = sorted(os.listdir(fixture_data_dir))
    res = _snapshot.run(job, check_mode=True, now=T0)
    assert res["changed"] is True and res["snapshot_id"] is None
    assert res["plan"]["copy_files"] > 0 and res["plan"]["link_files"] == 0
    assert res["plan"]["databases"] == ["webui.db", "vector_db/chroma.sqlite3"]
    assert not os.path.exists(job["repository"])
    assert _tree(fixture_data_dir) == before and sorted(os.listdir(fixture_data_dir)) == listing
    # with a previous snapshot the plan links the unchanged files
    r1 = _snapshot.run(job, now=T0)
    repo_before = _tree(job["repository"])
    res = _snapshot.run(job, check_mode=True, now=T0 + datetime.timedelta(hours=1))
    assert res["previous"] == r1["snapshot_id"]
    assert res["plan"]["copy_files"] == 0
    assert res["plan"]["link_files"] >= 12  # the uploads at least
    assert _tree(job["repository"]) == repo_before


def test_check_mode_plan_counts_like_the_run(job):
    plan = _snapshot.run(job, check_mode=True, now=T0)["plan"]
    r1 = _snapshot.run(job, now=T0)
    assert plan["copy_files"] == len(_manifest.load(r1["path"])["files"]) - 2  # minus the two databases
    plan = _snapshot.run(job, check_mode=True, now=T0 + datetime.timedelta(hours=1))["plan"]
    assert plan["link_files"] == r1["totals"]["files"] - 2


# ---- pause and cold with a fake Docker ------------------------------------------------------------

class RecordingNet(object):
    """The real SafetyNet, with its disarm recorded in the test's log."""

    def __init__(self, net, log, containers, deadline_s):
        self.net = net
        self.log = log
        self.containers = containers
        self.deadline_s = deadline_s
        self.disarmed = False

    def fired(self):
        return self.net.fired()

    def disarm(self, **kw):
        self.disarmed = True
        self.log.append("disarm")
        return self.net.disarm(**kw)


class Spy(object):
    def __init__(self, log, nets, engine):
        self.log, self.nets, self.engine = log, nets, engine
        self.deadline_cap = None  # seconds: arm the real net with a shorter deadline than the engine asks

    def __iter__(self):
        return iter((self.log, self.nets))


@pytest.fixture
def spy(monkeypatch, tmp_path):
    """Record (without changing) the engine's calls in the same log as the fake Docker; the safety net is
    the real watchdog, against a fake Docker engine (``spy.engine.requests``: what the net did)."""
    log = []
    nets = []
    engine = FakeEngine(str(tmp_path / "engine.sock"))
    rec = Spy(log, nets, engine)
    real_arm = _safety.arm

    def arm(containers, action, deadline_s, docker_socket=None, **kw):
        containers = [containers] if isinstance(containers, str) else list(containers)
        log.append("arm %s" % action)
        assert containers[0] == CID and deadline_s > 0
        deadline = min(deadline_s, rec.deadline_cap or deadline_s)
        n = RecordingNet(real_arm(containers, action, deadline, docker_socket=engine.path, log_dir=str(tmp_path)),
                         log, containers, deadline_s)
        nets.append(n)
        return n

    real_pin, real_backup, real_copy = _sqlite.pin, _sqlite.backup, _files.copy_file

    def pin(path, *a, **kw):
        log.append("pin %s" % os.path.basename(path))
        return real_pin(path, *a, **kw)

    def backup(src, dest, *a, **kw):
        log.append("backup %s" % os.path.basename(src))
        return real_backup(src, dest, *a, **kw)

    def copy_file(src, dst, *a, **kw):
        log.append("copy %s" % src)
        return real_copy(src, dst, *a, **kw)

    monkeypatch.setattr(_safety, "arm", arm)
    monkeypatch.setattr(_safety, "LOCK_DIRS", (str(tmp_path),))
    monkeypatch.setattr(_sqlite, "pin", pin)
    monkeypatch.setattr(_sqlite, "backup", backup)
    monkeypatch.setattr(_files, "copy_file", copy_file)
    yield rec
    for n in nets:  # a test that left a net armed: it must not fire at the next test's engine
        n.net.disarm(timeout=1)
    engine.close()


def _first(log, pred):
    for i, x in enumerate(log):
        if pred(x):
            return i
    raise AssertionError("no matching event in %r" % log)


def _pjob(tmp_path, mode):
    return {"container": "open-webui", "repository": str(tmp_path / "repo"), "host": "web1", "mode": mode}


def test_pause_mode_order_and_content(fixture_data_dir, tmp_path, spy):
    log, nets = spy
    docker = FakeDocker(fixture_data_dir, log, env={"WEBUI_SECRET_KEY": SECRET})
    try:
        res = _snapshot.run(_pjob(tmp_path, "pause"), docker=docker, now=T0)
    finally:
        docker.close()
    assert res["mode"] == "pause"
    i_pause, i_pin, i_unpause = log.index("pause"), log.index("pin webui.db"), log.index("unpause")
    i_main = log.index("backup webui.db")
    i_upload = _first(log, lambda x: x.startswith("copy ") and "/uploads/" in x)
    i_seg = _first(log, lambda x: x.startswith("copy ") and "/vector_db/" in x)
    i_pin_chroma = log.index("pin chroma.sqlite3")
    # segment files are staged before the freeze; both databases are pinned inside it and copied after it
    assert i_seg < log.index("arm unpause") < i_pause < i_pin < i_pin_chroma < i_unpause
    assert i_unpause < log.index("backup chroma.sqlite3") < i_main
    assert not any(x.startswith("copy ") for x in log[i_pause:i_unpause])  # nothing changed: no copy frozen
    assert i_unpause < i_upload
    assert log.index("disarm") > i_unpause and nets[0].disarmed
    assert "stop open-webui" not in log
    # the pinned snapshot: the commit before the freeze is in, the one after the thaw is not
    assert _chat_ids(os.path.join(res["path"], "data", "webui.db")) == {"at-pause"}
    assert _chat_ids(os.path.join(fixture_data_dir, "webui.db")) == {"at-pause", "after-unpause"}
    t = res["timing_ms"]
    assert t["freeze"] >= 50 and t["freeze"] < 10000
    assert t["downtime"] == 0
    m = _manifest.load(res["path"])
    assert m["mode"] == "pause" and m["timing_ms"]["freeze"] == t["freeze"]
    assert m["source"]["container"] == "open-webui" and m["source"]["container_id"] == CID
    assert m["source"]["app_version"] == "0.12.4" and m["source"]["mount"] == {"type": "volume", "name": "open-webui"}
    assert m["secret_key"]["captured"] is True and m["secret_key"]["source"] == "env"
    assert m["databases"]["webui.db"]["integrity"] == "ok"
    assert m["uploads_check"]["referenced"] == 12 and m["uploads_check"]["missing"] == []
    assert _manifest.verify(res["path"], m) == []


def test_cold_mode_order_and_content(fixture_data_dir, tmp_path, spy):
    log, nets = spy
    docker = FakeDocker(fixture_data_dir, log, secret=(SECRET + "\n").encode())
    job = _pjob(tmp_path, "cold")
    job["dependents"] = ["pipelines"]
    try:
        res = _snapshot.run(job, docker=docker, now=T0)
    finally:
        docker.close()
    assert res["mode"] == "cold"
    i_stop = log.index("stop %s" % CID)
    i_dep_stop = log.index("stop pipelines")
    i_pin_db = log.index("pin webui.db")  # WAL: pinned while stopped, copied after the start
    i_copy_chroma = _first(log, lambda x: x.startswith("copy ") and x.endswith("/chroma.sqlite3"))
    i_copy_vec = _first(log, lambda x: x.startswith("copy ") and "/vector_db/" in x)
    i_start = log.index("start %s" % CID)
    assert log.index("arm start") < i_dep_stop < i_stop < i_pin_db < i_start < log.index("backup webui.db")
    assert i_stop < i_copy_chroma < i_start
    assert i_copy_vec < log.index("arm start")  # segment files staged before the stop
    # the net guards the stopped window: disarmed once both started, before the wait for the app's health
    assert i_start < log.index("start pipelines") < log.index("disarm") < log.index("wait_healthy")
    assert nets[0].disarmed and nets[0].containers == [CID, "pipelines"] and spy.engine.requests == []
    assert "pause" not in log
    # the pinned snapshot holds the -wal's commit; the commit after the start is not in the snapshot
    assert _chat_ids(os.path.join(res["path"], "data", "webui.db")) == {"before-stop"}
    t = res["timing_ms"]
    assert t["downtime"] >= 30 and t["freeze"] == t["downtime"]
    m = _manifest.load(res["path"])
    assert m["databases"]["webui.db"]["integrity"] == "ok"
    assert m["databases"]["webui.db"]["method"] == "backup_api"
    assert m["databases"]["vector_db/chroma.sqlite3"]["method"] == "file_copy_frozen"
    assert m["secret_key"]["source"] == "file"
    with open(os.path.join(res["path"], "secret", "webui_secret_key"), "rb") as f:
        assert f.read() == SECRET.encode()
    assert not any(os.path.exists(os.path.join(res["path"], "data", "webui.db" + s)) for s in ("-wal", "-shm"))
    assert _manifest.verify(res["path"], m) == []


def test_pause_resumes_when_copy_fails(fixture_data_dir, tmp_path, spy):
    log, nets = spy
    docker = FakeDocker(fixture_data_dir, log)
    job = _pjob(tmp_path, "pause")
    docker.close()
    docker.app = None
    db = os.path.join(fixture_data_dir, "webui.db")
    with open(db, "r+b") as f:  # sqlite_master unreadable: the pin inside the freeze fails
        f.seek(100)
        f.write(b"\xa5" * 3000)
    docker.pause = lambda cid: log.append("pause")
    docker.unpause = lambda cid: log.append("unpause")
    with pytest.raises(BackupError) as ei:
        _snapshot.run(job, docker=docker, now=T0)
    assert "corrupt" in str(ei.value)
    assert log.index("pause") < log.index("unpause")
    assert nets[0].disarmed
    assert _repo(dict(job, instance="open-webui")).list() == []
    assert _leftovers(dict(job, instance="open-webui")) == []


@pytest.mark.parametrize("mode,resume", [("pause", ["unpause"]), ("cold", ["start %s" % CID, "wait_healthy"])])
def test_resume_when_vector_copy_raises(fixture_data_dir, tmp_path, spy, monkeypatch, mode, resume):
    log, nets = spy
    docker = FakeDocker(fixture_data_dir, log)

    real_stage = _snapshot._stage_segments

    def broken(*a, **kw):
        if kw.get("staged") is None:  # the pre-stage before the freeze works
            return real_stage(*a, **kw)
        log.append("vector copy fails")  # the re-sync inside the freeze fails
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(_snapshot, "_stage_segments", broken)
    job = _pjob(tmp_path, mode)
    try:
        with pytest.raises(OSError):
            _snapshot.run(job, docker=docker, now=T0)
    finally:
        docker.close()
    i_fail = log.index("vector copy fails")
    for ev in resume:
        assert log.index(ev) > i_fail, ev
    assert nets[0].disarmed
    j = dict(job, instance="open-webui")
    assert _repo(j).list() == [] and _leftovers(j) == []


def test_unpause_failure_leaves_safety_net_armed(fixture_data_dir, tmp_path, spy):
    log, nets = spy
    docker = FakeDocker(fixture_data_dir, log)
    docker.unpause_error = RuntimeError("conflict: container is not paused")
    try:
        with pytest.raises(BackupError) as ei:
            _snapshot.run(_pjob(tmp_path, "pause"), docker=docker, now=T0)
    finally:
        docker.close()
    assert "could not bring open-webui back" in str(ei.value)
    assert not nets[0].disarmed and "disarm" not in log
    j = dict(_pjob(tmp_path, "pause"), instance="open-webui")
    assert _repo(j).list() == [] and _leftovers(j) == []


def test_paused_container_refused(fixture_data_dir, tmp_path, spy):
    log, nets = spy
    docker = FakeDocker(fixture_data_dir, log, state="paused")
    try:
        with pytest.raises(BackupError) as ei:
            _snapshot.run(_pjob(tmp_path, "pause"), docker=docker, now=T0)
    finally:
        docker.close()
    assert "is paused" in str(ei.value)
    assert nets == [] and "pause" not in log and "unpause" not in log


def test_pause_recopies_segment_files_changed_before_the_freeze(fixture_data_dir, tmp_path, spy):
    """A segment file written between the pre-stage and the freeze is copied again inside the freeze."""
    log, nets = spy
    seg = sorted(glob.glob(os.path.join(fixture_data_dir, "vector_db", "*", "header.bin")))[0]
    rel = os.path.relpath(seg, fixture_data_dir)

    class Docker(FakeDocker):
        def pause(self, cid):
            with open(seg, "ab") as f:  # Chroma persisted its index just before the pause
                f.write(b"new-bytes")
            super().pause(cid)

    docker = Docker(fixture_data_dir, log, env={"WEBUI_SECRET_KEY": SECRET})
    try:
        res = _snapshot.run(_pjob(tmp_path, "pause"), docker=docker, now=T0)
    finally:
        docker.close()
    i_pause, i_unpause = log.index("pause"), log.index("unpause")
    assert "copy %s" % seg in log[i_pause:i_unpause]
    with open(os.path.join(res["path"], "data", rel), "rb") as a, open(seg, "rb") as b:
        assert a.read() == b.read()
    assert _manifest.verify(res["path"], _manifest.load(res["path"]), deep=True) == []


def test_pause_retried_when_the_freezer_fails_transiently(fixture_data_dir, tmp_path, spy):
    """'unable to freeze' (cgroup freezer under load) is retried; the snapshot is taken, the app resumed."""
    log, nets = spy

    class Docker(FakeDocker):
        failures = 1

        def pause(self, cid):
            if self.failures:
                self.failures -= 1
                log.append("pause failed")
                raise BackupError("cannot pause container %s: OCI runtime pause failed: unable to freeze" % cid, "retry")
            super().pause(cid)

    docker = Docker(fixture_data_dir, log, env={"WEBUI_SECRET_KEY": SECRET})
    try:
        res = _snapshot.run(_pjob(tmp_path, "pause"), docker=docker, now=T0)
    finally:
        docker.close()
    assert log.index("pause failed") < log.index("pause") < log.index("unpause")
    assert any("retried" in w for w in res["warnings"])
    assert nets[0].disarmed
    assert _manifest.verify(res["path"], _manifest.load(res["path"])) == []


def test_nothing_published_when_the_safety_net_fired_during_the_freeze(fixture_data_dir, tmp_path, spy):
    """A docker pause slower than the net's deadline (overloaded engine): the watchdog resumed the app, so
    the critical section would not be consistent: refuse, publish nothing, leave the app running."""
    log, nets = spy
    spy.deadline_cap = 0.2
    docker = FakeDocker(fixture_data_dir, log, env={"WEBUI_SECRET_KEY": SECRET}, pause_s=1.0)
    job = _pjob(tmp_path, "pause")
    try:
        with pytest.raises(BackupError) as ei:
            _snapshot.run(job, docker=docker, now=T0)
    finally:
        docker.close()
    assert "freeze_timeout" in str(ei.value) and "nothing was published" in str(ei.value)
    assert "pin webui.db" not in log  # the critical section never ran
    assert spy.engine.requests == ["POST /containers/%s/unpause HTTP/1.1" % CID]  # the net acted
    assert log.index("pause") < log.index("unpause")
    j = dict(job, instance="open-webui")
    assert _repo(j).list() == [] and _leftovers(j) == []


def test_cold_app_slow_to_become_healthy_is_not_a_failed_freeze(fixture_data_dir, tmp_path, spy):
    """B2: the net guards the stopped window only. An app that needs longer than the net's deadline to
    become healthy after its start (embedding models loading) must not make the net fire and the run fail."""
    log, nets = spy
    spy.deadline_cap = 1.0  # the real net, with the deadline of a fast machine
    docker = FakeDocker(fixture_data_dir, log, secret=(SECRET + "\n").encode(), health_s=2.0)
    try:
        res = _snapshot.run(_pjob(tmp_path, "cold"), docker=docker, now=T0)
    finally:
        docker.close()
    assert res["mode"] == "cold" and res["verification"]["status"] == "verified"
    assert spy.engine.requests == []  # the watchdog never started the app behind the run's back
    assert log.index("start %s" % CID) < log.index("disarm") < log.index("wait_healthy")
    assert res["timing_ms"]["downtime"] >= 2000


def test_cold_stops_and_starts_only_the_running_dependents(fixture_data_dir, tmp_path, spy):
    """B1/B4: a dependent the admin stopped is left stopped; the net covers exactly what the run stopped."""
    log, nets = spy
    docker = FakeDocker(fixture_data_dir, log, states={"pipelines": "running", "old-worker": "exited"})
    job = dict(_pjob(tmp_path, "cold"), dependents=["pipelines", "old-worker"])
    try:
        res = _snapshot.run(job, docker=docker, now=T0)
    finally:
        docker.close()
    assert nets[0].containers == [CID, "pipelines"]
    assert "stop old-worker" not in log and "start old-worker" not in log
    assert docker.states == {CID: "running", "pipelines": "running", "old-worker": "exited"}
    assert any("old-worker not running: left as they are" in w for w in res["warnings"])


def test_check_mode_refuses_a_paused_container_like_the_run(fixture_data_dir, tmp_path, spy):
    """E: check mode's preview promised an offline copy of a paused container that a real run refuses."""
    log, nets = spy
    docker = FakeDocker(fixture_data_dir, log, state="paused")
    try:
        for check_mode in (True, False):
            with pytest.raises(BackupError) as ei:
                _snapshot.run(_pjob(tmp_path, "pause"), docker=docker, check_mode=check_mode, now=T0)
            assert "is paused" in str(ei.value)
    finally:
        docker.close()
    assert nets == [] and docker.state == "paused"


def test_second_run_of_the_same_container_into_another_repository_is_refused(fixture_data_dir, tmp_path, spy):
    """Two runs of one container into two repositories hold two repository locks: the second one must not
    pause (or stop) the container and thaw it in the middle of the first one's freeze."""
    log, nets = spy
    inner = {}

    class Docker(FakeDocker):
        def pause(self, cid):
            super().pause(cid)
            if not inner:  # inside the first run's freeze; the second run saw the container running
                inner["started"] = True
                self.states[CID] = "running"
                try:
                    inner["result"] = _snapshot.run(dict(_pjob(tmp_path, "pause"), repository=str(tmp_path / "repo2")),
                                                    docker=self, now=T0)
                except BackupError as e:
                    inner["error"] = e
                self.states[CID] = "paused"

    docker = Docker(fixture_data_dir, log, env={"WEBUI_SECRET_KEY": SECRET})
    try:
        res = _snapshot.run(_pjob(tmp_path, "pause"), docker=docker, now=T0)
    finally:
        docker.close()
    assert "another run is pausing or stopping container %s" % CID in str(inner.get("error"))
    assert log.count("pause") == 1 and log.count("unpause") == 1  # the first run's freeze was not broken
    assert _chat_ids(os.path.join(res["path"], "data", "webui.db")) == {"at-pause"}


def test_container_frozen_by_someone_else_after_the_run_looked_is_left_alone(fixture_data_dir, tmp_path, spy):
    """The state is read again under the container's hold: a container paused since the run looked at it (by
    another tool or run) is refused, not 'paused' (a no-op) and then unpaused in the middle of that freeze."""
    log, nets = spy

    class Docker(FakeDocker):
        def inspect(self, name):
            info = super().inspect(name)
            self.states[CID] = "paused"  # frozen right after the run's first look
            return info

    docker = Docker(fixture_data_dir, log)
    try:
        with pytest.raises(BackupError) as ei:
            _snapshot.run(_pjob(tmp_path, "pause"), docker=docker, now=T0)
    finally:
        docker.close()
    assert "is paused" in str(ei.value)
    assert nets == [] and "unpause" not in log and docker.state == "paused"
