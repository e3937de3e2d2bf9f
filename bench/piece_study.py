# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The piece-size study behind ``_store.SQLITE_PIECE``: how many bytes of a webui.db does an upload resend
after N new chats, per fixed piece size, against the floor (the bytes of the pages that changed)?

1. webui.db = the real Open WebUI 0.12.4 fixture's, grown with bench/gen.py's chats (WAL) to ``--db-mb``.
2. Snapshot A through the engine (``_sqlite.backup``, the SQLite backup API: page numbers are kept).
3. ``--chats`` new chats written like Open WebUI does (random UUID keys; ``--mode turns``: the chat row is
   inserted with the first exchange, then rewritten once per further exchange, each its own transaction, with
   its chat_message rows; ``--mode insert``: one transaction per finished chat), then snapshot B.
4. Floor = bytes of B's pages that differ from A's (new pages included). For each piece size: bytes of B's
   pieces that differ (what the writer resends), pieces in the file (the record lists every one: ~50 bytes of
   JSON each) and the new index entries (~90 bytes each).

Usage: python3 bench/piece_study.py [--cases 200:1000,200:100,800:1000] [--mode turns|insert|both] [--json FILE]
(a case is DB_MB:CHATS; bench/reports/studies/piece-size.json holds the committed run, docs/BENCHMARKS.md its table)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import engine_call  # noqa: E402,F401  (puts the collection on sys.path)
import gen  # noqa: E402

FIXTURE = os.path.join(os.path.dirname(HERE), "tests", "fixtures", "openwebui-0.12.4", "data.tar.gz")
PIECES_KIB = (4, 8, 16, 32, 64, 256)
RECORD_ENTRY = 50   # bytes of one ["<pack id>",offset,length] entry in a snapshot record
INDEX_ENTRY = 90    # bytes of one ["<chunk id>",offset,length] entry in a pack's index object
BLOCK = max(PIECES_KIB) << 10


def snapshot(src, dest):
    from ansible_collections.sage_open_webui.backup.plugins.module_utils import _sqlite
    return _sqlite.backup(src, dest, integrity="none", fsync=False)


def build(work, db_mb, seed):
    """A grown webui.db in WAL mode (the app's connection left open, like the real server)."""
    with tarfile.open(FIXTURE, "r:gz") as tar:
        tar.extract("webui.db", work)
    db = os.path.join(work, "webui.db")
    users = [r[0] for r in sqlite3.connect(db).execute("SELECT id FROM user ORDER BY created_at")]
    chats = gen._grow_webui_db(db, db_mb * 1000 * 1000, users, seed)
    return db, users, chats


def write_chats(db, users, count, mode, seed):
    """``count`` new chats through one connection with Open WebUI's pragmas (WAL, autocheckpoint)."""
    rnd = random.Random(seed)
    sentences = gen.sentences_for(rnd)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    now = int(time.time())
    for n in range(count):
        chat = gen.new_chat(rnd, sentences, users[n % len(users)], now + n * 60)
        exchanges = 1 if mode == "insert" else len(chat["messages"]) // 2
        step = len(chat["messages"]) // exchanges
        conn.execute("BEGIN")
        gen.insert_chat(conn, chat, upto=step)
        conn.execute("COMMIT")
        for upto in range(2 * step, len(chat["messages"]) + 1, step):
            conn.execute("BEGIN")
            conn.execute("UPDATE chat SET chat = ?, updated_at = ?, current_message_id = ? WHERE id = ?",
                         (gen.chat_json(chat, upto), chat["ts"] + upto, chat["messages"][upto - 1][0], chat["id"]))
            gen.insert_messages(conn, chat, upto - step, upto)
            conn.execute("COMMIT")
    return conn


def changed_pages(a, b, page):
    """Page numbers (0-based) of ``b`` whose bytes differ from ``a``'s (pages past a's end included)."""
    out = []
    with open(a, "rb") as fa, open(b, "rb") as fb:
        base = 0
        while True:
            xb = fb.read(BLOCK)
            if not xb:
                return out
            xa = fa.read(BLOCK)
            if xa != xb:
                for off in range(0, len(xb), page):
                    if xa[off:off + page] != xb[off:off + page]:
                        out.append((base + off) // page)
            base += len(xb)


def compare(a, b):
    with open(b, "rb") as f:
        head = f.read(100)
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    size = os.path.getsize(b)
    pages = changed_pages(a, b, page)
    floor = sum(min(page, size - p * page) for p in pages)
    rows = []
    for kib in PIECES_KIB:
        piece = kib << 10
        changed = sorted({p * page // piece for p in pages})
        sent = sum(min(piece, size - i * piece) for i in changed)
        total = -(-size // piece)
        rows.append({"piece_kib": kib, "bytes": sent, "x_floor": round(sent / floor, 2) if floor else None,
                     "pieces_changed": len(changed), "pieces_total": total,
                     "record_bytes": total * RECORD_ENTRY, "index_bytes": len(changed) * INDEX_ENTRY,
                     "with_metadata": sent + total * RECORD_ENTRY + len(changed) * INDEX_ENTRY})
    return {"page_size": page, "size_a": os.path.getsize(a), "size_b": size, "pages_changed": len(pages),
            "floor": floor, "rows": rows}


def study(work, db_mb, chats, modes, seed=b"owb-bench"):
    t0 = time.monotonic()
    db, users, grown = build(work, db_mb, seed)
    out = {"db_mb": db_mb, "chats": chats, "grown_chats": grown, "runs": {}}
    a = os.path.join(work, "a.db")
    snapshot(db, a)
    base = os.path.join(work, "base")
    os.makedirs(base)
    for name in ("webui.db", "webui.db-wal"):
        if os.path.exists(os.path.join(work, name)):
            shutil.copy2(os.path.join(work, name), base)
    for mode in modes:
        for name in ("webui.db", "webui.db-wal", "webui.db-shm"):
            if os.path.exists(os.path.join(work, name)):
                os.unlink(os.path.join(work, name))
            if os.path.exists(os.path.join(base, name)):
                shutil.copy2(os.path.join(base, name), work)
        conn = write_chats(db, users, chats, mode, seed + b"/new/" + mode.encode())
        b = os.path.join(work, "b-%s.db" % mode)
        snapshot(db, b)
        conn.close()
        out["runs"][mode] = compare(a, b)
        os.unlink(b)
    out["seconds"] = round(time.monotonic() - t0, 1)
    return out


def recommend(run):
    """The largest piece (fewest pieces) that resends at most 2x the floor."""
    ok = [r for r in run["rows"] if r["x_floor"] is not None and r["x_floor"] <= 2.0]
    return max(ok, key=lambda r: r["piece_kib"])["piece_kib"] if ok else min(PIECES_KIB)


def table(res):
    lines = []
    for mode, run in res["runs"].items():
        lines.append("%d chats (%s) on a %.0f MB webui.db (page %d B): %d pages changed, floor %.2f MB; largest piece within 2x here: %d KiB"
                     % (res["chats"], mode, run["size_b"] / 1e6, run["page_size"], run["pages_changed"], run["floor"] / 1e6,
                        recommend(run)))
        lines.append("")
        lines.append("| piece | bytes resent | x floor | pieces changed | pieces in file | record list | + index | total with metadata |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for r in run["rows"]:
            lines.append("| %d KiB | %.2f MB | %.2f | %d | %d | %.2f MB | %.2f MB | %.2f MB |" % (
                r["piece_kib"], r["bytes"] / 1e6, r["x_floor"], r["pieces_changed"], r["pieces_total"],
                r["record_bytes"] / 1e6, r["index_bytes"] / 1e6, r["with_metadata"] / 1e6))
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="200:1000,200:100,800:1000", help="DB_MB:CHATS,... (default: %(default)s)")
    ap.add_argument("--mode", choices=("turns", "insert", "both"), default="turns")
    ap.add_argument("--work", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    modes = ("turns", "insert") if args.mode == "both" else (args.mode,)
    studies = []
    for case in args.cases.split(","):
        db_mb, chats = (int(x) for x in case.split(":"))
        work = tempfile.mkdtemp(prefix="owb-pieces-", dir=args.work)
        try:
            studies.append(study(work, db_mb, chats, modes))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(table(studies[-1]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"studies": studies, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
