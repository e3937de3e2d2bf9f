# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Consistent online copies of SQLite databases. Plain Python, no Ansible imports.

Why it is safe under continuous writes:

* The copy runs as ONE ``sqlite3_backup_step(-1)`` inside one read transaction. In WAL mode that read
  transaction sees a fixed snapshot while writers go on committing, so the copy never restarts and never
  blocks the writers. (Stepping page by page would restart every time a writer commits.)
* For ``pause`` mode a read transaction can be opened while the app is frozen (:func:`pin`); the copy is
  then made from that pinned snapshot after the app runs again.
* In rollback-journal (DELETE) mode the read transaction holds a SHARED lock for the duration of the
  copy: writers wait (Open WebUI's busy_timeout is 5 s). Under a writer that commits back to back the copy
  itself may wait for a gap (measured: 0.2-10 s each with no pause between commits); ``pause`` mode avoids
  that for busy DELETE-mode databases.
* The copy is written to a temporary name, fsynced, checked with ``PRAGMA integrity_check`` and only
  then renamed to its final name.

This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import time
from urllib.parse import quote

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import (
    DATA_DIR_IN_CONTAINER,
    BackupError,
    fsync_path,
    is_inside,
)
from ansible_collections.sage_open_webui.backup.plugins.module_utils._files import sha256_file

SQLITE_MAGIC = b"SQLite format 3\x00"
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")


def parse_header(head):
    """Facts from the first 100 bytes of a SQLite file, or None when they are not a SQLite header.

    ``journal_mode`` is ``wal`` when bytes 18/19 are 2, ``delete`` when they are 1 (a rollback journal:
    delete, truncate and persist look alike in the header), else ``unknown``. ``page_count`` is None when the
    header's count is stale (its valid-for number differs from the change counter).
    """
    if len(head) < 100 or not head.startswith(SQLITE_MAGIC):
        return None
    page_size = int.from_bytes(head[16:18], "big")
    write_v, read_v = head[18], head[19]
    mode = "wal" if (write_v, read_v) == (2, 2) else ("delete" if write_v == 1 else "unknown")
    valid = int.from_bytes(head[24:28], "big") == int.from_bytes(head[92:96], "big")
    return {
        "page_size": 65536 if page_size == 1 else page_size,
        "wal": mode == "wal",
        "journal_mode": mode,
        "page_count": (int.from_bytes(head[28:32], "big") or None) if valid else None,
    }


def header_info(path):
    """The header facts (:func:`parse_header`) of the database at ``path``, read without opening it with
    SQLite (nothing is created beside it). Raises BackupError when it is missing or not SQLite."""
    if not os.path.exists(path):
        raise BackupError(
            "SQLite database %s does not exist" % path,
            "check the path (for Open WebUI: <data dir>/webui.db) or run openwebui_info to find the data directory",
        )
    if not os.path.isfile(path):
        raise BackupError("%s is not a regular file" % path, "point the option at the database file itself")
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError as e:
        raise BackupError("cannot read %s: %s" % (path, e.strerror), "run as a user that can read the data directory (become: true)")
    if len(head) == 0:
        raise BackupError("%s is empty (0 bytes), not a SQLite database" % path, "restore it from a snapshot; do not back up an empty file")
    info = parse_header(head)
    if info is None:
        raise BackupError(
            "%s is not a SQLite database (bad header)" % path,
            "check that this is Open WebUI's webui.db; a PostgreSQL or SQLCipher database needs a different backup",
        )
    return info


def _uri(path, **params):
    q = "&".join("%s=%s" % (k, v) for k, v in params.items())
    return "file:%s?%s" % (quote(os.path.abspath(path)), q)


def _quiescent(path):
    """A database nobody has open in WAL mode: no -wal, no -journal. Returns its stat key, else None."""
    if os.path.exists(path + "-wal") or os.path.exists(path + "-journal"):
        return None
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def open_source(path, timeout=30.0, app_stopped=False, immutable=False):
    """Open a live database for reading without changing it.

    ``mode=ro`` never checkpoints or deletes the WAL on close. ``immutable=1`` (when the app is stopped, or
    when asked and there is no ``-wal``) reads the file without creating ``-wal``/``-shm`` beside it; the
    caller must then check with :func:`_quiescent` that the file did not change during the read.
    """
    info = header_info(path)
    if (app_stopped or immutable) and _quiescent(path) is not None:
        uri = _uri(path, mode="ro", immutable="1")
    else:
        uri = _uri(path, mode="ro")
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as e:
        raise _classify(path, e, timeout)
    return conn, info


def _classify(path, exc, timeout):
    text = str(exc)
    if "locked" in text or "busy" in text:
        return BackupError(
            "%s stayed locked for more than %ss" % (path, timeout),
            "raise the timeout, or use mode 'pause' or 'cold' so the app is quiet while the copy is made",
        )
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return BackupError(
            "%s is corrupt (%s)" % (path, text),
            "restore the database from an earlier snapshot; this copy will not be published",
        )
    if "unable to open" in text:
        return BackupError("cannot open %s (%s)" % (path, text), "check permissions of the file and of its -wal/-shm files (become: true)")
    return BackupError("SQLite error on %s: %s" % (path, text), "see the SQLite message; run PRAGMA integrity_check on the database")


def pin(path, timeout=5.0, app_stopped=False):
    """Open a read transaction that pins the current snapshot of a WAL database.

    Returns the connection; pass it to :func:`backup` as ``source_conn``. Cheap (milliseconds): meant to
    run while the app is frozen.
    """
    conn, info = open_source(path, timeout=timeout, app_stopped=app_stopped)
    try:
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as e:
        conn.close()
        raise _classify(path, e, timeout)
    return conn


def _quiescent_changed(path, key):
    try:
        now = _quiescent(path)
    except FileNotFoundError:
        return True
    return now != key


def check_destination(src, dest):
    src_r = os.path.realpath(src)
    dest_r = os.path.realpath(dest)
    if dest_r == src_r or dest_r in [src_r + s for s in SIDE_SUFFIXES]:
        raise BackupError(
            "destination %s is the source database itself" % dest,
            "write the copy to another path, for example a backup directory outside the data directory",
        )
    if is_inside(dest_r, src_r):
        raise BackupError("destination %s is inside the source %s" % (dest, src), "choose a destination outside the source")


def backup(src, dest, method="backup_api", source_conn=None, timeout=30.0, integrity="quick", app_stopped=False,
           fsync=True, _immutable_ok=True):
    """Copy ``src`` to ``dest`` consistently, check it, publish it by rename. Returns facts about the copy."""
    if method not in ("backup_api", "vacuum_into"):
        raise BackupError("unknown method %r" % method, "use 'backup_api' or 'vacuum_into'")
    if integrity not in ("quick", "full", "none"):
        raise BackupError("unknown integrity check %r" % integrity, "use 'quick', 'full' or 'none'")
    info = header_info(src)
    check_destination(src, dest)
    if method == "vacuum_into" and source_conn is not None and source_conn.in_transaction:
        raise BackupError("VACUUM INTO cannot copy a pinned snapshot (it cannot run inside a transaction)",
                          "use method 'backup_api' to copy a pinned snapshot")
    dest_dir = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(dest_dir):
        raise BackupError("destination directory %s does not exist" % dest_dir, "create it first")
    tmp = os.path.join(dest_dir, ".%s.tmp-%d" % (os.path.basename(dest), os.getpid()))
    _remove_db_files(tmp)
    started = time.monotonic()
    own_conn = source_conn is None
    conn = source_conn
    # A WAL database nobody has open has no -wal: read it as immutable (creates nothing beside it) and
    # redo the copy the normal way if the file changed meanwhile (a writer started and checkpointed).
    quiet = _quiescent(src) if (own_conn and info["wal"] and not app_stopped and _immutable_ok) else None
    try:
        if own_conn:
            conn, info = open_source(src, timeout=timeout, app_stopped=app_stopped, immutable=quiet is not None)
        _copy_into(conn, tmp, method, src, timeout)
    except OSError as e:
        _remove_db_files(tmp)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _disk_error(dest_dir, e)
        raise
    finally:
        if own_conn and conn is not None:
            conn.close()
        elif conn is not None and conn.in_transaction:
            conn.execute("COMMIT")
    if quiet is not None and _quiescent_changed(src, quiet):
        _remove_db_files(tmp)
        return backup(src, dest, method=method, timeout=timeout, integrity=integrity, app_stopped=app_stopped,
                      fsync=fsync, _immutable_ok=False)
    copy_ms = int((time.monotonic() - started) * 1000)
    facts = _check_copy(tmp, src, integrity)
    try:
        if fsync:
            fsync_path(tmp)
        os.replace(tmp, dest)
        if fsync:
            fsync_path(dest_dir)
    except OSError as e:
        _remove_db_files(tmp)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _disk_error(dest_dir, e)
        raise
    size, digest = sha256_file(dest)
    facts.update({
        "source": src,
        "dest": dest,
        "method": method,
        "journal_mode": "wal" if info["wal"] else "delete",
        "bytes": size,
        "sha256": digest,
        "copy_ms": copy_ms,
        "duration_ms": int((time.monotonic() - started) * 1000),
    })
    return facts


def _create_private(path):
    """An empty file only root can read: SQLite fills it (an empty file is a new database) and creates its
    journal with the same mode, so no copy is ever readable by others, whatever the umask."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _copy_into(conn, tmp, method, src, timeout):
    """One consistent copy of ``conn``'s database into ``tmp`` (0600), retried while the source is locked."""
    deadline = time.monotonic() + timeout
    while True:
        _create_private(tmp)
        try:
            if method == "vacuum_into":
                conn.execute("VACUUM INTO ?", (tmp,))
            else:
                dst = sqlite3.connect(tmp, isolation_level=None)
                try:
                    conn.backup(dst, pages=-1)
                finally:
                    dst.close()
            return
        except sqlite3.DatabaseError as e:
            text = str(e)
            busy = isinstance(e, sqlite3.OperationalError) and ("locked" in text or "busy" in text)
            if busy and time.monotonic() < deadline:
                _remove_db_files(tmp)
                time.sleep(0.05)
                continue
            err = _copy_error(tmp, e, _classify(src, e, timeout))
            _remove_db_files(tmp)
            raise err


def _check_copy(tmp, src, integrity):
    """:func:`inspect_copy` of the finished copy; removes it and raises when the check fails."""
    try:
        facts = inspect_copy(tmp, integrity=integrity)
    except (BackupError, OSError) as e:
        err = e if isinstance(e, BackupError) else _copy_error(tmp, e, e)
        _remove_db_files(tmp)
        raise err
    if facts["integrity"] not in ("ok", "skipped"):
        err = _copy_error(tmp, facts["integrity"], BackupError(
            "the copy of %s failed PRAGMA integrity_check: %s" % (src, facts["integrity"]),
            "the source database is damaged; restore it from an earlier snapshot (nothing was published)"))
        _remove_db_files(tmp)
        raise err
    return facts


FULL_BELOW = 1 << 20  # a destination with less room left than this is full (SQLite writes pages of a few KiB)


def _copy_error(tmp, exc, otherwise):
    """The error of a failed copy or check: disk full however SQLite said it (SQLITE_FULL, ENOSPC, or any
    error -- SQLITE_IOERR included -- while the destination has less than FULL_BELOW left for this user;
    root may use the reserved blocks), else ``otherwise``. Called before the partial copy is removed, so the
    room it took still counts."""
    dest_dir = os.path.dirname(tmp)
    if _is_disk_full(exc) or getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return _disk_error(dest_dir, exc)
    try:
        vfs = os.statvfs(dest_dir)
    except OSError:
        return otherwise
    free = (vfs.f_bfree if os.geteuid() == 0 else vfs.f_bavail) * vfs.f_frsize
    if free < FULL_BELOW:
        return _disk_error(dest_dir, "%s; %d bytes free there" % (exc, free))
    return otherwise


def _is_disk_full(exc):
    text = str(exc).lower()
    return "disk is full" in text or "no space" in text or getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL"


def _disk_error(dest_dir, exc):
    return BackupError(
        "no space left on the device of %s (%s)" % (dest_dir, exc),
        "free space there or point the repository at a larger disk; nothing was published",
    )


def _remove_db_files(path):
    for p in (path,) + tuple(path + s for s in SIDE_SUFFIXES):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass


def inspect_copy(path, integrity="quick", tables=None):
    """Integrity check, page facts, row counts and alembic revision of a finished copy.

    The copy is ours, so it is opened read-write and switched to rollback-journal mode: a copied -wal is
    folded in, a hot journal from a crash-consistent raw copy is rolled back, and no -wal/-shm remain.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        try:
            # Store copies in rollback-journal mode: opening a WAL-flagged file, even read-only, creates
            # -wal/-shm beside it (a snapshot must stay exactly what its manifest says). This folds a copied
            # -wal in and rolls back a hot journal. Open WebUI turns WAL on again when it connects.
            conn.execute("PRAGMA journal_mode=DELETE").fetchone()
            if integrity == "none":
                result = "skipped"
            else:
                pragma = "quick_check" if integrity == "quick" else "integrity_check"
                rows = [r[0] for r in conn.execute("PRAGMA %s" % pragma).fetchall()]
                lines = [line for row in rows for line in str(row).splitlines() if line.strip()]
                result = "ok" if lines == ["ok"] else "; ".join(lines[:5]) + (
                    " (and %d more problems)" % (len(lines) - 5) if len(lines) > 5 else "")
            page_count = conn.execute("PRAGMA page_count").fetchone()[0]
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            counts = row_counts(conn, tables) if result in ("ok", "skipped") else {}
            revision = alembic_revision(conn)
        except sqlite3.DatabaseError as e:
            if _is_disk_full(e):
                raise _disk_error(os.path.dirname(os.path.abspath(path)), e)
            return {"integrity": "error: %s" % e, "pages": 0, "page_size": 0, "row_counts": {}, "alembic_revision": None}
    finally:
        conn.close()
    for s in ("-wal", "-shm"):
        p = path + s
        if os.path.exists(p) and os.path.getsize(p) == 0:
            os.unlink(p)
    return {"integrity": result, "pages": page_count, "page_size": page_size, "row_counts": counts,
            "alembic_revision": revision}


def row_counts(conn, tables=None):
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    if tables is not None:
        names = [n for n in names if n in tables]
    out = {}
    for name in names:
        try:
            out[name] = conn.execute('SELECT count(*) FROM "%s"' % name.replace('"', '""')).fetchone()[0]
        except sqlite3.DatabaseError:
            # virtual tables (FTS) whose module is missing in this SQLite build
            continue
    return out


def alembic_revision(conn):
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def upload_refs(db_path):
    """The uploads Open WebUI's ``file`` table references, read-only: ``[(rel, file_hash)]`` with ``rel`` the path
    below the data directory (None for a file stored elsewhere: another directory, S3, ...) and ``file_hash``
    Open WebUI's sha256 of the bytes (None when not recorded). No ``file`` table: an empty list."""
    conn = sqlite3.connect(_uri(db_path, mode="ro", immutable="1"), uri=True)
    try:
        try:
            rows = conn.execute("SELECT path, meta FROM file").fetchall()
        except sqlite3.DatabaseError:
            return []
    finally:
        conn.close()
    prefix = DATA_DIR_IN_CONTAINER.rstrip("/") + "/"
    refs = []
    for path, meta in rows:
        if not path:
            continue
        if path.startswith(prefix):
            rel = path[len(prefix):]
        elif not path.startswith("/") and "://" not in path:
            rel = path
        else:
            rel = None
        try:
            want = (json.loads(meta) if meta else {}).get("file_hash")
        except (ValueError, AttributeError):
            want = None
        refs.append((rel, want))
    return refs
