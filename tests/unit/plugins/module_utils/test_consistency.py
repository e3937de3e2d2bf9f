# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Acceptance test: 50 snapshots while a writer commits continuously.

"Every snapshot's database passes integrity_check and holds every row committed before the snapshot
began" - for a WAL webui.db and for a DELETE-journal one, both through ``_sqlite.backup`` and through a
whole hot ``_snapshot.run``.

The writer is a separate PROCESS on the real Open WebUI 0.12.4 webui.db, with Open WebUI's pragmas
(WAL when asked, synchronous=NORMAL, busy_timeout=5000), inserting real ``chat`` rows in a tight loop
(one transaction per row, like the app) and publishing the last committed sequence number after each
commit. The writer sleeps 1 ms between transactions (``OWB_WAL_WRITER_GAP`` / ``OWB_DELETE_WRITER_GAP``,
seconds; 0 = no pause at all):

* WAL with no pause commits ~2000 rows/s; 50 whole snapshots then take ~130 s because webui.db grows by
  ~65 MB during the test (the copies stay correct). With 1 ms: ~270 commits/s.
* DELETE with no pause starves every reader (SQLite's busy handler polls at up to 100 ms and the writer
  never lets go), so each copy waits 0.2-10 s for its SHARED lock (measured: 50 copies in 214 s), although
  nothing fails. Before a snapshot starts we read that number S; the copy must hold rows 1..S (and, being a
consistent point in time, a gap-free prefix 1..N with N >= S).
"""

from __future__ import annotations

import datetime
import json
import multiprocessing
import os
import sqlite3
import time

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _snapshot
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _sqlite
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository

ITERATIONS = 50
T0 = datetime.datetime(2026, 11, 27, 4, 0, 0, tzinfo=datetime.timezone.utc)
CHAT_JSON = json.dumps({"title": "load", "models": ["llama3"], "params": {},
                        "history": {"messages": {}, "currentId": None}, "messages": [], "tags": [], "timestamp": 0})


DELETE_GAP = float(os.environ.get("OWB_DELETE_WRITER_GAP", "0.001"))
WAL_GAP = float(os.environ.get("OWB_WAL_WRITER_GAP", "0.001"))


def _connect(db, wal):
    conn = sqlite3.connect(db, isolation_level=None, timeout=5)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _writer(db, wal, committed, errors, stop, err_path, reconnect=False):
    """Open WebUI-like writer: own connection, app pragmas, one INSERT per transaction, tight loop.

    ``reconnect``: a new connection per transaction, closed after it - the last close checkpoints and
    removes webui.db-wal, so the copies also meet a WAL database that is quiescent one moment and written
    the next (the engine reads a quiescent one as immutable and must notice a change during the read)."""
    conn = _connect(db, wal)
    seq = 0
    while not stop.is_set():
        nxt = seq + 1
        now = int(time.time())
        try:
            if reconnect:
                conn.close()
                conn = _connect(db, wal)
            conn.execute(
                "INSERT INTO chat (id, user_id, title, chat, created_at, updated_at, share_id, archived, pinned, "
                "meta, folder_id) VALUES (?, 'writer', ?, ?, ?, ?, NULL, 0, 0, '{}', NULL)",
                ("load-%09d" % nxt, "load chat %d" % nxt, CHAT_JSON, nxt, now))
        except sqlite3.Error as e:  # counted: the test requires zero
            with errors.get_lock():
                errors.value += 1
            with open(err_path, "a") as f:
                f.write("%d %s\n" % (nxt, e))
            continue
        seq = nxt
        committed.value = seq  # published only after the commit returned
        gap = WAL_GAP if wal else DELETE_GAP
        if gap:
            time.sleep(gap)
    conn.close()


class Writer(object):
    def __init__(self, db, wal, tmp_path, reconnect=False):
        ctx = multiprocessing.get_context("fork")
        self.committed = ctx.Value("q", 0)
        self.errors = ctx.Value("i", 0)
        self.stop = ctx.Event()
        self.err_path = str(tmp_path / "writer-errors.txt")
        self.proc = ctx.Process(target=_writer, args=(db, wal, self.committed, self.errors, self.stop, self.err_path, reconnect),
                                daemon=True)

    def __enter__(self):
        self.proc.start()
        deadline = time.monotonic() + 30
        while self.committed.value < 50:
            assert self.proc.is_alive(), "writer died at start"
            assert time.monotonic() < deadline, "writer does not commit"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.proc.join(30)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()

    def error_text(self):
        return open(self.err_path).read() if os.path.exists(self.err_path) else ""


def _check_copy(path, started_at):
    """integrity_check ok, and every row committed before the copy started is in it (gap-free prefix)."""
    c = sqlite3.connect("file:%s?mode=ro&immutable=1" % path, uri=True)
    try:
        assert c.execute("PRAGMA integrity_check").fetchall() == [("ok",)], path
        n, top = c.execute("SELECT count(*), coalesce(max(created_at), 0) FROM chat WHERE user_id='writer'").fetchone()
        fixture_chats = c.execute("SELECT count(*) FROM chat WHERE user_id IS NOT 'writer'").fetchone()[0]
    finally:
        c.close()
    assert top >= started_at, "copy lacks rows committed before it began: has up to %d, committed %d" % (top, started_at)
    assert n == top, "copy is not a point in time: %d rows but max seq %d" % (n, top)
    assert fixture_chats == 40
    return top


def _prepare(fixture_data_dir, journal):
    db = os.path.join(fixture_data_dir, "webui.db")
    if journal == "delete":
        c = sqlite3.connect(db, isolation_level=None)
        assert c.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
        c.close()
    return db


def _report(name, journal, secs, lag, during, rate, writer):
    line = ("%s[%s]: %d snapshots in %.1f s (%.0f ms each); writer %d commits (%.0f/s), %d errors; "
            "commits during snapshots: %d of %d snapshots saw commits; copy ahead of start by median %d rows"
            % (name, journal, ITERATIONS, secs, secs * 1000 / ITERATIONS, writer.committed.value, rate,
               writer.errors.value, sum(1 for d in during if d > 0), len(during), sorted(lag)[len(lag) // 2]))
    print("\n" + line)
    out = os.environ.get("OWB_CONSISTENCY_REPORT")
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


@pytest.mark.parametrize("journal", ["wal", "delete", "wal-reconnect"])
def test_sqlite_backup_under_continuous_writes(fixture_data_dir, tmp_path, journal):
    db = _prepare(fixture_data_dir, journal)
    out = tmp_path / "out"
    out.mkdir()
    lag, during = [], []
    with Writer(db, journal != "delete", tmp_path, reconnect=journal == "wal-reconnect") as w:
        c0, t0 = w.committed.value, time.monotonic()
        for i in range(ITERATIONS):
            dest = str(out / ("copy-%02d.db" % i))
            s = w.committed.value
            facts = _sqlite.backup(db, dest, integrity="quick")
            during.append(w.committed.value - s)
            assert facts["integrity"] == "ok"
            top = _check_copy(dest, s)
            lag.append(top - s)
            assert facts["row_counts"]["chat"] == 40 + top
            os.unlink(dest)
        secs = time.monotonic() - t0
        rate = (w.committed.value - c0) / secs
        assert w.proc.is_alive()
    assert w.errors.value == 0, w.error_text()
    assert os.listdir(str(out)) == []
    _report("sqlite.backup", journal, secs, lag, during, rate, w)
    # the writer kept committing while the copies were made
    assert rate > (50 if journal == "wal" else 5)
    if journal != "delete":  # WAL: copies never block the writer
        assert sum(1 for d in during if d > 0) >= ITERATIONS * 0.8


@pytest.mark.parametrize("journal", ["wal", "delete", "wal-reconnect"])
def test_hot_snapshots_under_continuous_writes(fixture_data_dir, tmp_path, journal):
    db = _prepare(fixture_data_dir, journal)
    job = {"data_dir": fixture_data_dir, "repository": str(tmp_path / "repo"), "host": "web1",
           "instance": "open-webui", "mode": "hot", "secret_key": "skip"}
    repo = Repository(job["repository"], "web1", "open-webui")
    lag, during = [], []
    prev = None
    with Writer(db, journal != "delete", tmp_path, reconnect=journal == "wal-reconnect") as w:
        c0, t0 = w.committed.value, time.monotonic()
        for i in range(ITERATIONS):
            s = w.committed.value
            # a DELETE-mode writer creates and deletes webui.db-journal all the time: the walk must not trip
            # over it (regression: FileNotFoundError in _files.walk, 2-4 runs in 50)
            res = _snapshot.run(job, now=T0 + datetime.timedelta(seconds=i))
            during.append(w.committed.value - s)
            assert res["verification"]["status"] == "verified"
            assert res["databases"]["webui.db"]["integrity"] == "ok"
            top = _check_copy(os.path.join(res["path"], "data", "webui.db"), s)
            lag.append(top - s)
            assert res["databases"]["webui.db"]["row_counts"]["chat"] == 40 + top
            if prev is not None:
                assert res["previous"] == prev
                assert res["totals"]["linked_files"] == res["totals"]["files"] - 2  # only the databases copied
                with repo.lock():  # keep the disk small: drop the snapshot before
                    repo.delete(prev)
            prev = res["snapshot_id"]
        secs = time.monotonic() - t0
        rate = (w.committed.value - c0) / secs
        assert w.proc.is_alive()
    assert w.errors.value == 0, w.error_text()
    last = repo.list()
    assert [s.id for s in last] == [prev]
    assert _manifest.verify(last[0].path, last[0].manifest, deep=True) == []
    assert not [n for n in os.listdir(repo.path) if n.startswith(".")] or \
        sorted(n for n in os.listdir(repo.path) if n.startswith(".")) == [".lock"]
    _report("snapshot.run", journal, secs, lag, during, rate, w)
    assert rate > (50 if journal == "wal" else 5)
    if journal != "delete":
        assert sum(1 for d in during if d > 0) >= ITERATIONS * 0.8
    assert len(lag) == ITERATIONS
