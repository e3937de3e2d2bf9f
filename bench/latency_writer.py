# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A concurrent writer that measures its own commit latency (stdlib only).

Usage: python3 latency_writer.py DB INTERVAL_S STOP_FILE OUT_JSON

Opens webui.db with Open WebUI 0.12.4's pragmas (WAL, synchronous=NORMAL, busy_timeout=5000, mmap 256 MB,
journal_size_limit 64 MB) and commits one chat row + two chat_message rows every INTERVAL_S seconds, timing each
``BEGIN IMMEDIATE .. COMMIT`` with time.perf_counter(), until STOP_FILE exists. Writes
``{"latencies_ms": [...], "errors": n, "t_start": ..., "t_end": ...}`` to OUT_JSON (times: time.time()).
"""

import json
import os
import sqlite3
import sys
import time
import uuid


def main():
    db, interval, stop_file, out = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
    conn = sqlite3.connect(db, timeout=5.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA mmap_size=268435456")
    conn.execute("PRAGMA journal_size_limit=67108864")
    user = conn.execute("SELECT id FROM user ORDER BY created_at LIMIT 1").fetchone()[0]
    lat = []
    stamps = []
    errors = 0
    seq = 0
    body = "latency probe " * 40
    t_start = time.time()
    nxt = time.perf_counter()
    while not os.path.exists(stop_file):
        seq += 1
        cid = "bench-lat-%s" % uuid.uuid4()
        now = int(time.time())
        chat = json.dumps({"title": "probe %d" % seq, "messages": [{"role": "user", "content": body}]})
        t = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO chat (id, user_id, title, created_at, updated_at, share_id, archived, chat, pinned,"
                " meta, folder_id, tasks, summary, last_read_at, current_message_id, variables, timer_at)"
                " VALUES (?, ?, ?, ?, ?, NULL, 0, ?, 0, '{}', NULL, 'null', NULL, ?, NULL, '{}', NULL)",
                (cid, user, "probe %d" % seq, now, now, chat, now))
            for role in ("user", "assistant"):
                conn.execute(
                    "INSERT INTO chat_message (id, chat_id, user_id, role, parent_id, content, output, model_id, files,"
                    " sources, embeds, done, status_history, error, usage, created_at, updated_at, context_summary, meta)"
                    " VALUES (?, ?, ?, ?, NULL, ?, 'null', NULL, 'null', 'null', 'null', 1, 'null', 'null', 'null',"
                    " ?, ?, NULL, 'null')",
                    ("%s-%s" % (cid, role), cid, user, role, json.dumps(body), now, now))
            conn.execute("COMMIT")
            lat.append((time.perf_counter() - t) * 1000.0)
            stamps.append(time.time())
        except sqlite3.OperationalError:
            errors += 1
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        nxt += interval
        delay = nxt - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        else:
            nxt = time.perf_counter()
    with open(out, "w") as f:
        json.dump({"latencies_ms": lat, "stamps": stamps, "errors": errors, "t_start": t_start, "t_end": time.time()}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
