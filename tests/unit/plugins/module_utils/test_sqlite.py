# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _sqlite on real databases (the Open WebUI 0.12.4 fixture's webui.db and small ones)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _files
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _sqlite
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError


def _conn(path):
    """A connection like Open WebUI's (WAL is per-file; synchronous NORMAL, busy_timeout 5 s)."""
    c = sqlite3.connect(path, isolation_level=None, timeout=5)
    c.execute("PRAGMA synchronous=NORMAL")
    c.execute("PRAGMA busy_timeout=5000")
    return c


def _dir_state(d):
    return {n: (os.stat(os.path.join(d, n)).st_size, os.stat(os.path.join(d, n)).st_mtime_ns) for n in sorted(os.listdir(d))}


def _insert_chat(conn, i):
    conn.execute(
        "INSERT INTO chat (id, user_id, title, chat, created_at, updated_at, archived, pinned, meta) "
        "VALUES (?, 'unit', ?, '{}', ?, ?, 0, 0, '{}')", ("unit-%d" % i, "t%d" % i, i, i))


def _chat_ids(path):
    c = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return {r[0] for r in c.execute("SELECT id FROM chat WHERE user_id='unit'")}
    finally:
        c.close()


@pytest.fixture
def webui_db(fixture_data_dir):
    return os.path.join(fixture_data_dir, "webui.db")


@pytest.fixture(params=["wal", "delete"])
def journal_db(request, webui_db):
    """The fixture's webui.db in WAL mode (as shipped) or converted to DELETE (rollback journal)."""
    if request.param == "delete":
        c = sqlite3.connect(webui_db, isolation_level=None)
        assert c.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
        c.close()
    return webui_db, request.param


@pytest.fixture
def out_dir(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    return str(d)


# ---- header_info ------------------------------------------------------------------------------

def test_header_info_of_fixture(webui_db):
    info = _sqlite.header_info(webui_db)
    assert info["page_size"] == 4096
    assert info["wal"] is True and info["journal_mode"] == "wal"
    assert info["page_count"] * info["page_size"] == os.path.getsize(webui_db)


@pytest.mark.parametrize("kind,needle", [
    ("missing", "does not exist"),
    ("empty", "empty (0 bytes)"),
    ("text", "not a SQLite database"),
    ("short", "not a SQLite database"),
    ("directory", "not a regular file"),
])
def test_header_info_errors(tmp_path, kind, needle):
    p = tmp_path / "webui.db"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("PGDMP this is a PostgreSQL dump, not SQLite\n" * 10)
    elif kind == "short":
        p.write_bytes(b"SQLite format")
    elif kind == "directory":
        p.mkdir()
    with pytest.raises(BackupError) as ei:
        _sqlite.header_info(str(p))
    assert needle in str(ei.value)
    assert "Fix:" in str(ei.value)


def test_header_info_rollback(tmp_path):
    p = str(tmp_path / "r.db")
    c = sqlite3.connect(p)
    c.execute("CREATE TABLE t(x)")
    c.commit()
    c.close()
    info = _sqlite.header_info(p)
    assert info["wal"] is False and info["journal_mode"] == "delete"


# ---- backup: WAL and DELETE, both methods -----------------------------------------------------------

@pytest.mark.parametrize("method", ["backup_api", "vacuum_into"])
def test_backup_copies_everything(journal_db, out_dir, fixture_expected, method):
    src, mode = journal_db
    w = _conn(src)
    for i in range(25):
        _insert_chat(w, i)  # in WAL mode these live in the -wal only (the writer stays open)
    if mode == "wal":
        assert os.path.getsize(src + "-wal") > 0
    dest = os.path.join(out_dir, "webui.db")
    facts = _sqlite.backup(src, dest, method=method)
    w.close()
    assert facts["integrity"] == "ok"
    assert facts["method"] == method
    assert facts["journal_mode"] == mode
    assert facts["alembic_revision"] == "0bd252b206fb" == fixture_expected["alembic_revision"]
    want = dict(fixture_expected["table_row_counts"])
    want["chat"] += 25
    assert facts["row_counts"] == want
    # the copy stands alone: no -wal/-shm/-journal beside it, no temporary left
    assert sorted(os.listdir(out_dir)) == ["webui.db"]
    assert facts["bytes"] == os.path.getsize(dest)
    assert facts["sha256"] == _files.sha256_file(dest)[1]
    assert _chat_ids(dest) == {"unit-%d" % i for i in range(25)}
    c = sqlite3.connect(dest)
    assert c.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    c.close()


def test_alembic_revision_and_row_counts(webui_db, fixture_expected):
    c = sqlite3.connect("file:%s?mode=ro" % webui_db, uri=True)
    try:
        assert _sqlite.alembic_revision(c) == "0bd252b206fb"
        assert _sqlite.row_counts(c) == fixture_expected["table_row_counts"]
        assert _sqlite.row_counts(c, tables=("chat", "user", "no_such_table")) == {"chat": 40, "user": 3}
    finally:
        c.close()


def test_alembic_revision_absent(tmp_path):
    c = sqlite3.connect(str(tmp_path / "x.db"))
    c.execute("CREATE TABLE t(x)")
    assert _sqlite.alembic_revision(c) is None
    c.close()


# ---- destination checks -----------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal"])
def test_destination_is_source(webui_db, suffix):
    before = _dir_state(os.path.dirname(webui_db))
    with pytest.raises(BackupError) as ei:
        _sqlite.backup(webui_db, webui_db + suffix)
    assert "is the source database itself" in str(ei.value)
    assert _dir_state(os.path.dirname(webui_db)) == before


def test_destination_is_source_through_symlink(webui_db, tmp_path):
    link = tmp_path / "alias"
    link.symlink_to(os.path.dirname(webui_db))
    sha = _files.sha256_file(webui_db)
    with pytest.raises(BackupError):
        _sqlite.backup(webui_db, str(link / "webui.db"))
    assert _files.sha256_file(webui_db) == sha


def test_destination_directory_missing(webui_db, tmp_path):
    with pytest.raises(BackupError) as ei:
        _sqlite.backup(webui_db, str(tmp_path / "nope" / "webui.db"))
    assert "does not exist" in str(ei.value)
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("kw,needle", [({"method": "dump"}, "unknown method"), ({"integrity": "deep"}, "unknown integrity")])
def test_bad_options(webui_db, out_dir, kw, needle):
    with pytest.raises(BackupError) as ei:
        _sqlite.backup(webui_db, os.path.join(out_dir, "x.db"), **kw)
    assert needle in str(ei.value)
    assert os.listdir(out_dir) == []


# ---- corruption and integrity levels -------------------------------------------------------------

def _corrupt_leaves(path, table="chat_message"):
    """Overwrite the cell area of every leaf page of ``table``: the header and schema stay readable,
    so the copy succeeds and only the integrity check can notice."""
    c = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        try:
            pages = c.execute("SELECT pageno FROM dbstat WHERE name=? AND pagetype='leaf'", (table,)).fetchall()
        except sqlite3.OperationalError:
            pytest.skip("this SQLite build has no dbstat")
        page_size = c.execute("PRAGMA page_size").fetchone()[0]
    finally:
        c.close()
    assert pages
    with open(path, "r+b") as f:
        for (pg,) in pages:
            f.seek((pg - 1) * page_size + 8)
            f.write(b"\xff" * (page_size - 100))


def _index_mismatch_db(path):
    """A database whose index content does not match its table: quick_check says ok, integrity_check not."""
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE t(a, b)")
    c.executemany("INSERT INTO t VALUES (?, ?)", [(i, -i) for i in range(300)])
    c.execute("CREATE INDEX i ON t(a)")
    c.commit()
    c.execute("PRAGMA writable_schema=ON")
    c.execute("UPDATE sqlite_master SET sql='CREATE INDEX i ON t(b)' WHERE name='i'")
    c.commit()
    c.close()


@pytest.mark.parametrize("integrity", ["quick", "full"])
def test_corrupt_database_not_published(webui_db, out_dir, integrity):
    _corrupt_leaves(webui_db)
    dest = os.path.join(out_dir, "webui.db")
    with pytest.raises(BackupError) as ei:
        _sqlite.backup(webui_db, dest, integrity=integrity)
    assert "integrity" in str(ei.value) and "nothing was published" in str(ei.value)
    assert os.listdir(out_dir) == []  # no copy, no .tmp-, no -wal/-shm


def test_corrupt_database_message_is_short(webui_db, out_dir):
    _corrupt_leaves(webui_db)
    with pytest.raises(BackupError) as ei:
        _sqlite.backup(webui_db, os.path.join(out_dir, "webui.db"), integrity="full")
    assert str(ei.value).count("On tree page") <= 5
    assert len(str(ei.value)) < 1500


def test_corrupt_schema_not_published(webui_db, out_dir):
    with open(webui_db, "r+b") as f:  # page 1 after the 100-byte file header: sqlite_master
        f.seek(100)
        f.write(b"\xa5" * 3000)
    with pytest.raises(BackupError) as ei:
        _sqlite.backup(webui_db, os.path.join(out_dir, "webui.db"))
    assert "corrupt" in str(ei.value)
    assert os.listdir(out_dir) == []
    with pytest.raises(BackupError):
        _sqlite.pin(webui_db)


def test_corrupt_database_integrity_none_publishes_unchecked(webui_db, out_dir):
    _corrupt_leaves(webui_db)
    facts = _sqlite.backup(webui_db, os.path.join(out_dir, "webui.db"), integrity="none")
    assert facts["integrity"] == "skipped"
    assert os.listdir(out_dir) == ["webui.db"]


@pytest.mark.parametrize("integrity,ok", [("none", True), ("quick", True), ("full", False)])
def test_integrity_levels_index_mismatch(tmp_path, out_dir, integrity, ok):
    src = str(tmp_path / "idx.db")
    _index_mismatch_db(src)
    dest = os.path.join(out_dir, "idx.db")
    if ok:
        facts = _sqlite.backup(src, dest, integrity=integrity)
        assert facts["integrity"] == ("skipped" if integrity == "none" else "ok")
        assert facts["row_counts"] == {"t": 300}
    else:
        with pytest.raises(BackupError) as ei:
            _sqlite.backup(src, dest, integrity=integrity)
        assert "missing from index i" in str(ei.value)
        assert os.listdir(out_dir) == []


def test_inspect_copy_full_reports_problem(tmp_path):
    p = str(tmp_path / "idx.db")
    _index_mismatch_db(p)
    assert _sqlite.inspect_copy(p, integrity="quick")["integrity"] == "ok"
    assert "missing from index i" in _sqlite.inspect_copy(p, integrity="full")["integrity"]


# ---- the source is left alone ------------------------------------------------------------------

def test_source_unchanged_while_app_holds_wal(webui_db, out_dir):
    """A live app keeps webui.db open with a -wal: the backup neither checkpoints nor adds files."""
    d = os.path.dirname(webui_db)
    w = _conn(webui_db)
    w.execute("PRAGMA wal_autocheckpoint=0")  # only the backup could fold the WAL now
    for i in range(40):
        _insert_chat(w, i)
    before = _dir_state(d)
    wal_size = os.path.getsize(webui_db + "-wal")
    assert wal_size > 0
    _sqlite.backup(webui_db, os.path.join(out_dir, "webui.db"))
    after = _dir_state(d)
    assert sorted(after) == sorted(before)  # no new files in the data directory
    assert os.path.getsize(webui_db + "-wal") == wal_size  # not checkpointed, not truncated
    for name in ("webui.db", "webui.db-wal", "uploads", "vector_db"):
        assert after[name] == before[name], name  # same size and mtime
    assert after["webui.db-shm"][0] == before["webui.db-shm"][0]
    # the rows that are only in the WAL made it into the copy
    assert len(_chat_ids(os.path.join(out_dir, "webui.db"))) == 40
    w.close()


@pytest.mark.parametrize("journal", ["delete"])
def test_source_unchanged_rollback_journal(webui_db, out_dir, journal):
    c = sqlite3.connect(webui_db, isolation_level=None)
    c.execute("PRAGMA journal_mode=%s" % journal)
    c.close()
    d = os.path.dirname(webui_db)
    before = _dir_state(d)
    _sqlite.backup(webui_db, os.path.join(out_dir, "webui.db"))
    assert _dir_state(d) == before


def test_source_unchanged_quiescent_wal(webui_db, out_dir):
    d = os.path.dirname(webui_db)
    before = _dir_state(d)
    assert "webui.db-wal" not in before
    _sqlite.backup(webui_db, os.path.join(out_dir, "webui.db"))
    assert sorted(_dir_state(d)) == sorted(before)


def test_app_stopped_opens_immutable_no_side_files(webui_db, out_dir):
    d = os.path.dirname(webui_db)
    before = _dir_state(d)
    facts = _sqlite.backup(webui_db, os.path.join(out_dir, "webui.db"), app_stopped=True)
    assert facts["integrity"] == "ok" and facts["row_counts"]["chat"] == 40
    assert _dir_state(d) == before


# ---- pin ------------------------------------------------------------------------------------

def test_pin_then_backup_copies_pinned_snapshot(webui_db, out_dir):
    w = _conn(webui_db)
    _insert_chat(w, 1)
    pinned = _sqlite.pin(webui_db)
    assert pinned.in_transaction
    for i in range(2, 30):  # the app goes on committing after the pin (WAL: not blocked)
        _insert_chat(w, i)
    dest = os.path.join(out_dir, "webui.db")
    facts = _sqlite.backup(webui_db, dest, source_conn=pinned)
    assert not pinned.in_transaction  # the pin is released after the copy
    pinned.close()
    _insert_chat(w, 30)  # nothing left blocking the writer
    w.close()
    assert facts["integrity"] == "ok"
    assert _chat_ids(dest) == {"unit-1"}
    assert facts["row_counts"]["chat"] == 41
    assert len(_chat_ids(webui_db)) == 30


def test_pin_then_vacuum_into_refuses_and_keeps_the_pin(webui_db, out_dir):
    """VACUUM INTO cannot run inside the pin's read transaction: refused up front with a clear message, and
    the pin still holds its snapshot (a backup_api copy from it still sees only the row before the pin)."""
    w = _conn(webui_db)
    _insert_chat(w, 1)
    pinned = _sqlite.pin(webui_db)
    _insert_chat(w, 2)
    dest = os.path.join(out_dir, "webui.db")
    try:
        with pytest.raises(BackupError, match="VACUUM INTO cannot copy a pinned snapshot.*use method 'backup_api'"):
            _sqlite.backup(webui_db, dest, method="vacuum_into", source_conn=pinned)
        assert pinned.in_transaction and not os.path.exists(dest)
        _sqlite.backup(webui_db, dest, source_conn=pinned)
    finally:
        pinned.close()
        w.close()
    assert _chat_ids(dest) == {"unit-1"}


def test_backup_without_pin_sees_latest_commit(webui_db, out_dir):
    """Counterpart of the pin test: the same sequence without pin copies the later commits."""
    w = _conn(webui_db)
    for i in range(1, 30):
        _insert_chat(w, i)
    dest = os.path.join(out_dir, "webui.db")
    _sqlite.backup(webui_db, dest)
    w.close()
    assert len(_chat_ids(dest)) == 29


def test_pin_missing_database(tmp_path):
    with pytest.raises(BackupError):
        _sqlite.pin(str(tmp_path / "webui.db"))


def test_backup_overwrites_existing_destination_atomically(webui_db, out_dir):
    dest = os.path.join(out_dir, "webui.db")
    with open(dest, "wb") as f:
        f.write(b"old")
    _sqlite.backup(webui_db, dest)
    assert _sqlite.header_info(dest)["page_size"] == 4096
    assert os.listdir(out_dir) == ["webui.db"]


def test_copy_of_copy_is_identical_content(webui_db, out_dir, tmp_path):
    a = os.path.join(out_dir, "a.db")
    _sqlite.backup(webui_db, a)
    b_dir = tmp_path / "b"
    b_dir.mkdir()
    shutil.copy(a, str(b_dir / "a.db"))
    fb = _sqlite.backup(str(b_dir / "a.db"), os.path.join(out_dir, "b.db"))
    fa = _sqlite.inspect_copy(a)
    assert fb["row_counts"] == fa["row_counts"]


def test_disk_full_during_the_check_is_reported_as_disk_full(tmp_path, monkeypatch):
    """SQLITE_FULL while the copy is checked names the disk, not a damaged source (seen on a 50 MB tmpfs)."""
    src = str(tmp_path / "src.db")
    conn = sqlite3.connect(src)
    conn.execute("CREATE TABLE t(x)")
    conn.commit()
    conn.close()

    def full(*a, **kw):
        raise sqlite3.OperationalError("database or disk is full")

    real_connect = sqlite3.connect

    class Conn(object):
        def __init__(self, *a, **kw):
            self._c = real_connect(*a, **kw)

        def execute(self, sql, *a):
            if sql.startswith("PRAGMA journal_mode"):
                full()
            return self._c.execute(sql, *a)

        def close(self):
            self._c.close()

    monkeypatch.setattr(_sqlite.sqlite3, "connect", lambda *a, **kw: Conn(*a, **kw) if not kw.get("uri") else real_connect(*a, **kw))
    with pytest.raises(BackupError) as ei:
        _sqlite.inspect_copy(src)
    assert "no space left" in str(ei.value) and "damaged" not in str(ei.value)


def test_disk_io_error_on_a_full_destination_is_reported_as_disk_full(webui_db, out_dir, monkeypatch):
    """A full destination surfaced as SQLITE_IOERR by the check (seen on a 50 MB tmpfs) names the disk and the
    destination, not a damaged source."""
    monkeypatch.setattr(_sqlite, "inspect_copy", lambda path, integrity="quick": {
        "integrity": "error: disk I/O error", "pages": 0, "page_size": 0, "row_counts": {}, "alembic_revision": None})
    real = os.statvfs
    monkeypatch.setattr(os, "statvfs", lambda p: real(p) if p != out_dir else os.statvfs_result((4096, 4096, 12800, 0, 0, 0, 0, 0, 0, 255)))
    with pytest.raises(BackupError) as ei:
        _sqlite.backup(webui_db, os.path.join(out_dir, "webui.db"))
    assert "no space left" in str(ei.value) and out_dir in str(ei.value) and "damaged" not in str(ei.value)
    assert os.listdir(out_dir) == []


def test_failed_check_with_room_left_still_blames_the_source(webui_db, out_dir, monkeypatch):
    monkeypatch.setattr(_sqlite, "inspect_copy", lambda path, integrity="quick": {
        "integrity": "error: disk I/O error", "pages": 0, "page_size": 0, "row_counts": {}, "alembic_revision": None})
    with pytest.raises(BackupError, match="failed PRAGMA integrity_check.*source database is damaged"):
        _sqlite.backup(webui_db, os.path.join(out_dir, "webui.db"))


def test_io_error_during_the_copy_on_a_full_destination_is_disk_full(webui_db, out_dir, monkeypatch):
    real_connect = sqlite3.connect

    def connect(path, *a, **kw):
        if path.startswith(out_dir):
            raise sqlite3.OperationalError("disk I/O error")
        return real_connect(path, *a, **kw)

    monkeypatch.setattr(_sqlite.sqlite3, "connect", connect)
    real = os.statvfs
    monkeypatch.setattr(os, "statvfs", lambda p: real(p) if p != out_dir else os.statvfs_result((4096, 4096, 12800, 0, 0, 0, 0, 0, 0, 255)))
    with pytest.raises(BackupError, match="no space left on the device of %s" % out_dir):
        _sqlite.backup(webui_db, os.path.join(out_dir, "webui.db"))


@pytest.mark.parametrize("method", ["backup_api", "vacuum_into"])
def test_copy_is_private_from_the_first_byte(webui_db, out_dir, monkeypatch, method):
    """webui.db holds password hashes, API keys and chats: under umask 022 every file of the copy (the
    temporary one SQLite fills and checks, and the published one) is 0600."""
    seen = {}
    real_inspect = _sqlite.inspect_copy

    def inspect(path, **kw):
        seen.update((n, stat.S_IMODE(os.stat(os.path.join(out_dir, n)).st_mode)) for n in os.listdir(out_dir))
        return real_inspect(path, **kw)

    monkeypatch.setattr(_sqlite, "inspect_copy", inspect)
    old = os.umask(0o022)
    try:
        _sqlite.backup(webui_db, os.path.join(out_dir, "webui.db"), method=method)
    finally:
        os.umask(old)
    assert seen and set(seen.values()) == {0o600}, seen
    assert stat.S_IMODE(os.stat(os.path.join(out_dir, "webui.db")).st_mode) == 0o600


# ---- the header parser (the one discovery uses too) ------------------------------------------------


def _header(wv, rv, page_size=4096, pages=10, valid_for=7):
    h = bytearray(100)
    h[0:16] = _sqlite.SQLITE_MAGIC
    h[16:18] = (1 if page_size == 65536 else page_size).to_bytes(2, "big")
    h[18], h[19] = wv, rv
    h[24:28] = (7).to_bytes(4, "big")
    h[28:32] = pages.to_bytes(4, "big")
    h[92:96] = valid_for.to_bytes(4, "big")
    return bytes(h)


@pytest.mark.parametrize("wv,rv,mode", [(2, 2, "wal"), (1, 1, "delete"), (3, 3, "unknown")])
def test_parse_header_journal_mode(wv, rv, mode):
    h = _sqlite.parse_header(_header(wv, rv))
    assert h["journal_mode"] == mode and h["wal"] is (mode == "wal") and h["page_size"] == 4096 and h["page_count"] == 10


def test_parse_header_64k_pages_stale_count_and_garbage():
    assert _sqlite.parse_header(_header(2, 2, page_size=65536))["page_size"] == 65536
    assert _sqlite.parse_header(_header(1, 1, valid_for=3))["page_count"] is None
    assert _sqlite.parse_header(b"not a database at all" * 10) is None
    assert _sqlite.parse_header(_header(1, 1)[:50]) is None


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)], capture_output=True, text=True,
                       check=False)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs (needs root): %s" % r.stderr.strip())
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_a_real_full_destination_is_never_blamed_on_the_source(tmp_path, small_tmpfs):
    """A 600 KiB tmpfs filled a little more each time: wherever the copy or its check runs out of room
    (SQLITE_FULL, or SQLITE_IOERR while the copy is checked), the error says the disk is full."""
    src = str(tmp_path / "src.db")
    c = sqlite3.connect(src, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("CREATE TABLE t(x)")
    for i in range(420):
        c.execute("INSERT INTO t VALUES (?)", (os.urandom(1000),))
    outcomes = set()
    for kib in range(0, 600, 4):
        with open(os.path.join(small_tmpfs, "ballast"), "wb") as f:
            f.write(b"\1" * (kib << 10))
        try:
            _sqlite.backup(src, os.path.join(small_tmpfs, "copy.db"), fsync=False)
            outcomes.add("ok")
        except BackupError as e:
            assert "no space left on the device of %s" % small_tmpfs in str(e) and "damaged" not in str(e), (kib, str(e))
            outcomes.add("full")
        assert [n for n in os.listdir(small_tmpfs) if n.startswith(".copy")] == []
        for n in os.listdir(small_tmpfs):
            os.unlink(os.path.join(small_tmpfs, n))
    c.close()
    assert outcomes == {"ok", "full"}


def test_upload_refs_reads_the_file_table(tmp_path):
    db = str(tmp_path / "webui.db")
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE file (id TEXT, path TEXT, meta TEXT)")
    conn.executemany("INSERT INTO file VALUES (?, ?, ?)", [
        ("1", "/app/backend/data/uploads/1_a b.txt", json.dumps({"file_hash": "aa"})),
        ("2", "uploads/2_rel.txt", None),
        ("3", "/srv/elsewhere/3.txt", json.dumps({"file_hash": "cc"})),
        ("4", "s3://bucket/4.txt", "{}"),
        ("5", "/app/backend/data/uploads/5.txt", "not json"),
        ("6", None, None),
    ])
    conn.commit()
    conn.close()
    assert _sqlite.upload_refs(db) == [("uploads/1_a b.txt", "aa"), ("uploads/2_rel.txt", None), (None, "cc"),
                                       (None, None), ("uploads/5.txt", None)]


def test_upload_refs_without_a_file_table_is_empty(tmp_path):
    db = str(tmp_path / "webui.db")
    sqlite3.connect(db).close()
    assert _sqlite.upload_refs(db) == []
