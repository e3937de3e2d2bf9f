# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _restore on the real Open WebUI 0.12.4 fixture (no Docker: plain data directories).

Snapshots are taken with the real engine (_snapshot.run), restored with _restore.run, and checked against
tests/fixtures/openwebui-0.12.4/expected.json.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import (
    _alembic, _drill, _restore, _restore_source, _snapshot, _swap)
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "openwebui-0.12.4")
MIGRATIONS = "/opt/owb-openwebui-venv/lib/python3.11/site-packages/open_webui/migrations/versions"


@pytest.fixture(scope="module")
def expected():
    with open(os.path.join(FIXTURE, "expected.json"), encoding="utf-8") as f:
        return json.load(f)


def _extract_fixture(dest):
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(os.path.join(FIXTURE, "data.tar.gz"), "r:gz") as tf:
        tf.extractall(dest, filter="fully_trusted") if hasattr(tarfile, "data_filter") else tf.extractall(dest)


@pytest.fixture
def env(tmp_path):
    data = str(tmp_path / "srv" / "data")
    _extract_fixture(data)
    keyfile = str(tmp_path / "srv" / ".webui_secret_key")
    with open(keyfile, "w") as f:
        f.write("owui-fixture-test-secret-0.12.4\n")
    repo = str(tmp_path / "repo")
    snap = _snapshot.run({"data_dir": data, "repository": repo, "host": "h1", "instance": "owui",
                          "secret_key_file": keyfile, "mode": "hot"})
    return {"data": data, "repo": repo, "snap": snap, "tmp": tmp_path}


def _job(env, **kw):
    j = {"repository": env["repo"], "host": "h1", "instance": "owui", "data_dir": env["data"]}
    j.update(kw)
    return j


def _counts(db):
    """Row count of every table; a damaged database raises. count(*) may read an index and never touch the table's
    own pages, so the whole file is checked first, and a table SQLite cannot read is never left out."""
    conn = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        check = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if check != ["ok"]:
            raise sqlite3.DatabaseError("%s is damaged: %s" % (db, "; ".join(check[:5])))
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        return {n: conn.execute('SELECT count(*) FROM "%s"' % n).fetchone()[0] for n in names}
    finally:
        conn.close()


def _damage_table(db, table):
    """Overwrite the root page of ``table`` with garbage (the rest of the file stays readable)."""
    conn = sqlite3.connect(db)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()[0]
    finally:
        conn.close()
    with open(db, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\xff" * page_size)


def test_counts_fail_loudly_on_a_damaged_table(tmp_path):
    """The row-count helper must not drop a table it cannot read (a comparison would then pass on it)."""
    db = str(tmp_path / "webui.db")
    with tarfile.open(os.path.join(FIXTURE, "data.tar.gz"), "r:gz") as tf:
        with open(db, "wb") as out:
            out.write(tf.extractfile("webui.db").read())
    assert _counts(db)["chat"] > 0
    _damage_table(db, "chat")
    with pytest.raises(sqlite3.DatabaseError):
        _counts(db)


def _sha(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _damage_live(data):
    """Make the live data different from the snapshot: drop users, delete an upload, add a stray file."""
    conn = sqlite3.connect(os.path.join(data, "webui.db"))
    conn.execute("DELETE FROM chat")
    conn.commit()
    conn.close()
    up = sorted(os.listdir(os.path.join(data, "uploads")))[0]
    os.unlink(os.path.join(data, "uploads", up))
    with open(os.path.join(data, "stray.txt"), "w") as f:
        f.write("new since the backup")


def test_round_trip_matches_expected(env, expected):
    _damage_live(env["data"])
    res = _restore.run(_job(env))
    assert res["snapshot_id"] == env["snap"]["snapshot_id"]
    counts = _counts(os.path.join(env["data"], "webui.db"))
    want = expected["table_row_counts"]
    for table, n in want.items():
        assert counts.get(table) == n, table
    for f in expected["files"]:
        assert _sha(os.path.join(env["data"], f["relative_path"])) == f["sha256"], f["filename"]
    assert not os.path.exists(os.path.join(env["data"], "stray.txt"))
    # the previous data is kept aside, intact
    rb = res["rollback_path"]
    assert os.path.exists(os.path.join(rb, "stray.txt"))
    assert _counts(os.path.join(rb, "webui.db"))["chat"] == 0
    # modes from the manifest
    m = json.load(open(os.path.join(env["snap"]["path"], "manifest.json")))
    for e in m["files"]:
        st = os.stat(os.path.join(env["data"], e["path"]))
        assert "%04o" % (st.st_mode & 0o7777) == e["mode"], e["path"]


def test_one_changed_byte_is_refused_and_nothing_changes(env):
    m = json.load(open(os.path.join(env["snap"]["path"], "manifest.json")))
    up = next(e["path"] for e in m["files"] if e["path"].startswith("uploads/"))
    p = os.path.join(env["snap"]["path"], "data", up)
    with open(p, "r+b") as f:
        b = f.read(1)
        f.seek(0)
        f.write(bytes([b[0] ^ 1]))
    _damage_live(env["data"])
    before = sorted(os.listdir(env["data"]))
    with pytest.raises(BackupError) as ei:
        _restore.run(_job(env))
    assert "sha256 differs" in str(ei.value) and up in str(ei.value)
    assert "nothing was changed" in str(ei.value)
    assert sorted(os.listdir(env["data"])) == before
    assert not [n for n in os.listdir(os.path.dirname(env["data"])) if n.startswith("owb-")]


def test_selective_restore_database_only(env):
    _damage_live(env["data"])
    # a stale -wal of the current database must not end up beside the restored one
    with open(os.path.join(env["data"], "webui.db-wal"), "wb") as f:
        f.write(b"stale")
    res = _restore.run(_job(env, components=["database"]))
    assert res["restored"] == ["webui.db"]
    assert sorted(res["moved_aside"]) == ["webui.db", "webui.db-wal"]
    assert _counts(os.path.join(env["data"], "webui.db"))["chat"] == 40
    assert os.path.exists(os.path.join(env["data"], "stray.txt"))  # untouched
    assert len(os.listdir(os.path.join(env["data"], "uploads"))) == 11  # untouched (one was deleted)


def test_selective_restore_uploads_only(env, expected):
    _damage_live(env["data"])
    _restore.run(_job(env, components=["uploads"]))
    assert _counts(os.path.join(env["data"], "webui.db"))["chat"] == 0  # database untouched
    for f in expected["files"]:
        assert _sha(os.path.join(env["data"], f["relative_path"])) == f["sha256"]


def test_select_before_time(env):
    snaps = [("20261101T000000Z", datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc), True),
             ("20261102T000000Z", datetime.datetime(2026, 11, 2, tzinfo=datetime.timezone.utc), True),
             ("20261103T000000Z", datetime.datetime(2026, 11, 3, tzinfo=datetime.timezone.utc), False)]
    assert _restore_source.select_snapshot(snaps, before="2026-11-02T12:00:00Z") == "20261102T000000Z"
    assert _restore_source.select_snapshot(snaps, before="2026-11-02T00:00:00+00:00") == "20261102T000000Z"
    assert _restore_source.select_snapshot(snaps, before="2026-11-01T23:59:59Z") == "20261101T000000Z"
    assert _restore_source.select_snapshot(snaps, before="2026-11-05") == "20261102T000000Z"  # 03 is not verified
    assert _restore_source.select_snapshot(snaps) == "20261102T000000Z"
    with pytest.raises(BackupError, match="no verified snapshot at or before"):
        _restore_source.select_snapshot(snaps, before="2026-10-01T00:00:00Z")
    with pytest.raises(BackupError, match="not verified"):
        _restore_source.select_snapshot(snaps, snapshot="20261103T000000Z")
    with pytest.raises(BackupError, match="not found"):
        _restore_source.select_snapshot(snaps, snapshot="20261104T000000Z")


def _tar(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for ti, data in members:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _ti(name, type_=tarfile.REGTYPE, data=b"x", linkname=""):
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.size = len(data) if type_ == tarfile.REGTYPE else 0
    ti.linkname = linkname
    return (ti, data if type_ == tarfile.REGTYPE else None)


@pytest.mark.parametrize("member,why", [
    (_ti("../evil.txt"), "leaves"),
    (_ti("data/../../evil.txt"), "leaves"),
    (_ti("/etc/evil.txt"), "absolute"),
    (_ti("data/link", tarfile.SYMTYPE, linkname="../../etc/passwd"), "escapes"),
    (_ti("data/link", tarfile.SYMTYPE, linkname="/etc/passwd"), "absolute"),
    (_ti("data/hl", tarfile.LNKTYPE, linkname="../x"), "escapes"),
    (_ti("data/dev", tarfile.CHRTYPE), "device"),
    (_ti("data/fifo", tarfile.FIFOTYPE), "device"),
])
def test_safe_extract_rejects(tmp_path, member, why):
    arc = tmp_path / "a.tar"
    arc.write_bytes(_tar([_ti("data/ok.txt"), member]))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(BackupError, match=why):
        _restore_source.safe_extract(str(arc), str(dest))
    assert os.listdir(dest) == []  # all members are checked before anything is written
    assert not (tmp_path / "evil.txt").exists()


def test_safe_extract_accepts_inner_links(tmp_path):
    arc = tmp_path / "a.tar"
    arc.write_bytes(_tar([_ti("data/ok.txt", data=b"hello"), _ti("data/l", tarfile.SYMTYPE, linkname="ok.txt")]))
    dest = tmp_path / "out"
    dest.mkdir()
    assert _restore_source.safe_extract(str(arc), str(dest)) == 2
    assert (dest / "data" / "ok.txt").read_bytes() == b"hello"


def test_link_escaping_the_data_dir_in_a_snapshot_is_rejected(env, tmp_path):
    snap = env["snap"]["path"]
    outside = tmp_path / "secret.txt"
    outside.write_text("outside")
    # replace an upload by a link pointing out of the snapshot; keep the manifest unchanged
    m = json.load(open(os.path.join(snap, "manifest.json")))
    up = next(e["path"] for e in m["files"] if e["path"].startswith("uploads/"))
    p = os.path.join(snap, "data", up)
    os.unlink(p)
    os.symlink(str(outside), p)
    before = sorted(os.listdir(env["data"]))
    with pytest.raises(BackupError, match="link"):
        _restore.run(_job(env, components=["uploads"]))
    assert sorted(os.listdir(env["data"])) == before
    # a linked parent directory is refused too
    os.unlink(p)
    up_dir = os.path.join(snap, "data", "uploads")
    os.rename(up_dir, up_dir + ".real")
    os.symlink(up_dir + ".real", up_dir)
    with pytest.raises(BackupError, match="link"):
        _restore.run(_job(env, components=["uploads"]))


def test_hook_failure_puts_previous_data_back(env):
    _damage_live(env["data"])
    before = {n: os.stat(os.path.join(env["data"], n)).st_ino for n in os.listdir(env["data"])}
    with pytest.raises(BackupError, match="previous data was put back"):
        _restore.run(_job(env, pre_start_commands=["test -f \"$OWB_DATA_DIR/webui.db\" && exit 3"]))
    after = {n: os.stat(os.path.join(env["data"], n)).st_ino for n in os.listdir(env["data"])}
    assert before == after


def test_preserve_keeps_model_cache(env):
    models = os.path.join(env["data"], "cache", "embedding", "models")
    os.makedirs(models)
    with open(os.path.join(models, "m.bin"), "wb") as f:
        f.write(b"model")
    res = _restore.run(_job(env))
    assert res["preserved"] == ["cache/embedding/models"]
    assert open(os.path.join(models, "m.bin"), "rb").read() == b"model"


def test_preserve_never_follows_a_link_out_of_the_data_dir(env, tmp_path):
    outside = tmp_path / "outside"
    (outside / "embedding" / "models").mkdir(parents=True)
    (outside / "embedding" / "models" / "precious.bin").write_bytes(b"keep me here")
    shutil.rmtree(os.path.join(env["data"], "cache"))
    os.symlink(str(outside), os.path.join(env["data"], "cache"))
    res = _restore.run(_job(env))
    assert res["preserved"] == []
    assert (outside / "embedding" / "models" / "precious.bin").read_bytes() == b"keep me here"
    assert not os.path.islink(os.path.join(env["data"], "cache"))  # the restored cache/ is a real directory
    assert os.path.islink(os.path.join(res["rollback_path"], "cache"))  # the link itself was moved aside


def test_rollback_dirs_are_pruned(env):
    base = os.path.dirname(env["data"])
    old = os.path.join(base, "owb-data-rollback-20200101T000000Z")
    os.makedirs(old)
    res = _restore.run(_job(env, rollback_keep_hours=1))
    assert "owb-data-rollback-20200101T000000Z" in res["rollbacks_pruned"]
    assert not os.path.exists(old)
    assert os.path.isdir(res["rollback_path"])


def test_parse_migrations_and_verdict():
    files = {
        "a.py": "revision = 'aaa'\ndown_revision = None\n",
        "b.py": "revision: str = 'bbb'\ndown_revision: Union[str, None] = 'aaa'\n",
        "c.py": 'revision = "ccc"\ndown_revision = ("bbb",)\n',
    }
    m = _alembic.parse_migrations(files)
    assert m["heads"] == ["ccc"]
    m["image"] = "img:1"
    assert _alembic.alembic_verdict("ccc", m)["status"] == "ok"
    assert _alembic.alembic_verdict("aaa", m)["status"] == "older"
    v = _alembic.alembic_verdict("zzz", m, "0.13.0")
    assert v["status"] == "unknown_revision"
    assert "zzz" in v["message"] and "ccc" in v["message"] and "0.13.0" in v["message"]


@pytest.mark.skipif(not os.path.isdir(MIGRATIONS), reason="Open WebUI venv of the test bed not installed")
def test_real_migrations_know_fixture_revision(expected):
    files = {n: open(os.path.join(MIGRATIONS, n), encoding="utf-8").read() for n in os.listdir(MIGRATIONS) if n.endswith(".py")}
    m = _alembic.parse_migrations(files)
    assert len(m["revisions"]) > 20
    assert expected["alembic_revision"] in m["revisions"]
    assert m["heads"] and len(m["heads"]) == 1


def test_drill_on_fixture(env, expected):
    res = _drill.drill(env["repo"], "h1", "owui", str(env["tmp"] / "scratch"), boot="never")
    assert res["ok"], res["problems"]
    assert res["databases"]["webui.db"]["integrity"] == "ok"
    assert res["databases"]["webui.db"]["row_counts"]["chat"] == expected["chats"]["total"]
    assert res["uploads_checked"] == len(expected["files"])
    assert os.listdir(str(env["tmp"] / "scratch")) == []
    assert _drill.drill_targets(env["repo"]) == [("h1", "owui")]


def test_drill_fails_loudly_on_a_row_count_mismatch(env):
    snap = env["snap"]["path"]
    mp = os.path.join(snap, "manifest.json")
    m = json.load(open(mp))
    m["databases"]["webui.db"]["row_counts"]["chat"] = 41
    json.dump(m, open(mp, "w"))
    res = _drill.drill(env["repo"], "h1", "owui", str(env["tmp"] / "scratch"), boot="never")
    assert not res["ok"]
    assert any("table chat has 40 rows, manifest 41" in p for p in res["problems"])


def test_check_mode_changes_nothing(env):
    _damage_live(env["data"])
    before = sorted(os.listdir(env["data"]))
    res = _restore.run(_job(env), check_mode=True)
    assert res["snapshot_id"] == env["snap"]["snapshot_id"]
    assert sorted(os.listdir(env["data"])) == before


def test_unknown_component_and_source():
    with pytest.raises(BackupError, match="unknown component"):
        _restore.normalize({"repository": "/r", "data_dir": "/d", "components": ["chats"]})
    with pytest.raises(BackupError, match="not available"):
        _restore_source.open_source("s3", "/r", "h", "i")


def test_swap_order_keeps_a_database_in_place():
    assert _swap._db_last(["webui.db", "uploads", "webui.db-wal", "cache"]) == ["uploads", "cache", "webui.db-wal", "webui.db"]


@pytest.mark.parametrize("fail_at", [3, 5, 6, 8])  # moving aside, last aside, the preserved cache, moving in
def test_failure_in_the_middle_of_the_swap_puts_everything_back(env, monkeypatch, fail_at):
    _damage_live(env["data"])
    models = os.path.join(env["data"], "cache", "embedding", "models")
    os.makedirs(models)
    with open(os.path.join(models, "m.bin"), "wb") as f:
        f.write(b"model")
    before = sorted(os.listdir(env["data"]))
    real = os.rename
    calls = {"n": 0}

    def flaky(a, b):
        real(a, b)
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise OSError(5, "I/O error (injected)")
    monkeypatch.setattr(_swap.os, "rename", flaky)
    with pytest.raises(OSError):
        _restore.run(_job(env))
    monkeypatch.setattr(_swap.os, "rename", real)
    assert sorted(os.listdir(env["data"])) == before
    assert open(os.path.join(models, "m.bin"), "rb").read() == b"model"
    assert _counts(os.path.join(env["data"], "webui.db"))["chat"] == 0


def test_latest_names_damaged_snapshots(env):
    snap = env["snap"]["path"]
    m = json.load(open(os.path.join(snap, "manifest.json")))
    m["files"][0]["path"] = "../../../../etc/owb-escape"
    json.dump(m, open(os.path.join(snap, "manifest.json"), "w"))
    with pytest.raises(BackupError) as ei:
        _restore.run(_job(env))
    msg = str(ei.value)
    assert "no usable snapshot" in msg and env["snap"]["snapshot_id"] in msg and "leaves the snapshot" in msg, msg
    with pytest.raises(BackupError) as ei:
        _restore.run(_job(env, snapshot=env["snap"]["snapshot_id"]))
    assert "leaves the snapshot" in str(ei.value) and "tampered" in str(ei.value)


def test_latest_falls_back_with_a_warning():
    snaps = [("20261101T000000Z", datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc), True, None),
             ("20261102T000000Z", datetime.datetime(2026, 11, 2, tzinfo=datetime.timezone.utc), False, "damaged: x")]
    skipped = []
    assert _restore_source.select_snapshot(snaps, skipped=skipped) == "20261101T000000Z"
    assert skipped == ["20261102T000000Z: damaged: x"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_owners_come_back_from_the_manifest_or_the_override(tmp_path):
    data = str(tmp_path / "srv" / "data")
    _extract_fixture(data)
    for dirpath, dirnames, filenames in os.walk(data):
        for n in dirnames + filenames:
            os.chown(os.path.join(dirpath, n), 1000, 1001)
    repo = str(tmp_path / "repo")
    _snapshot.run({"data_dir": data, "repository": repo, "host": "h1", "instance": "owui", "mode": "hot"})
    for dirpath, dirnames, filenames in os.walk(data):
        for n in dirnames + filenames:
            os.chown(os.path.join(dirpath, n), 0, 0)
    job = {"repository": repo, "host": "h1", "instance": "owui", "data_dir": data}
    _restore.run(job)
    for rel in ("webui.db", "uploads", "vector_db", "vector_db/chroma.sqlite3"):
        st = os.stat(os.path.join(data, rel))
        assert (st.st_uid, st.st_gid) == (1000, 1001), rel
    _restore.run(dict(job, owner="2000:2001"))
    for dirpath, dirnames, filenames in os.walk(data):
        for n in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, n))
            assert (st.st_uid, st.st_gid) == (2000, 2001), os.path.join(dirpath, n)
