# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Generate a benchmark Open WebUI data directory quickly (stdlib only).

Starts from the real Open WebUI 0.12.4 fixture (tests/fixtures/openwebui-0.12.4/data.tar.gz) and grows it:

* ``webui.db``: more chats (+ chat_message rows) with the real schema, WAL mode, until it reaches the target size;
  one ``file`` row per generated upload (absolute ``/app/backend/data/uploads/...`` path, ``meta.file_hash``).
* ``vector_db/``: the fixture's Chroma store plus extra HNSW segment folders (same file set) up to the target.
* ``uploads/``: N files named ``<uuid>_<name>``, log-normal sizes scaled to the exact total; 80 % incompressible
  (PDF/PNG/DOCX-like), 20 % text (compressible). Every file is unique (SHAKE-128 stream seeded per file), so no
  tool can deduplicate across files.
* ``cache/``: embedding-model-like blobs (a few large files + small tokenizer files) up to the target.

Bytes come from hashlib.shake_128 in worker processes (≈ 350 MB/s per core), written in 4 MiB blocks.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import sqlite3
import tarfile
import time
import uuid

MB = 1000 * 1000
GB = 1000 * MB

SIZES = {
    # name: webui.db bytes, vector_db bytes, uploads bytes, upload files, cache bytes
    "small": {"webui_db": 8 * MB, "vector_db": 26 * MB, "uploads": 40 * MB, "upload_files": 100, "cache": 10 * MB},
    "reference": {"webui_db": 200 * MB, "vector_db": 60 * MB, "uploads": 2 * GB, "upload_files": 2000, "cache": 300 * MB},
    "large": {"webui_db": 200 * MB, "vector_db": 60 * MB, "uploads": 8 * GB, "upload_files": 8000, "cache": 300 * MB},
}

BLOCK = 4 << 20
DATA_DIR_IN_CONTAINER = "/app/backend/data"
MODEL = "qwen2.5:7b"
WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at which but have an "
         "they you were her she there been one all we their has would when if so no will more can about out up "
         "what them some could into than other then time only its two may these like first any new also people "
         "backup restore volume sqlite chroma vector upload model prompt token embedding docker snapshot retention "
         "answer question summary meeting project alpha quarterly report budget invoice kitchen recipe travel").split()


def _random_bytes(seed, size, f):
    """Write ``size`` unique pseudo-random bytes to file object ``f`` (SHAKE-128 keyed by seed)."""
    done = 0
    n = 0
    while done < size:
        chunk = min(BLOCK, size - done)
        data = hashlib.shake_128(b"%s/%d" % (seed, n)).digest(chunk)
        f.write(data)
        done += chunk
        n += 1


def _text_bytes(seed, size, f):
    rnd = random.Random(seed)
    done = 0
    while done < size:
        line = (" ".join(rnd.choices(WORDS, k=2000)) + "\n").encode()
        # vary lines so long runs never repeat exactly
        blob = b"%d " % rnd.getrandbits(48) + line
        if done + len(blob) > size:
            blob = blob[: size - done]
        f.write(blob)
        done += len(blob)


def _write_file(task):
    """Worker: write one file, return (path, size, sha256 or None)."""
    path, size, seed, kind, want_hash, header = task
    os.makedirs(os.path.dirname(path), exist_ok=True)

    class _H(object):
        def __init__(self, f):
            self.f = f
            self.h = hashlib.sha256() if want_hash else None

        def write(self, b):
            self.f.write(b)
            if self.h is not None:
                self.h.update(b)

    with open(path, "wb", buffering=0) as raw:
        w = _H(raw)
        if header:
            w.write(header[:size])
        rest = size - min(len(header), size)
        if kind == "text":
            _text_bytes(seed, rest, w)
        else:
            _random_bytes(seed if isinstance(seed, bytes) else str(seed).encode(), rest, w)
    return path, size, (w.h.hexdigest() if w.h is not None else None)


def _sizes(total, count, rnd, sigma=1.0):
    """Log-normal sizes scaled so they sum to exactly ``total`` (each >= 1 KiB)."""
    raw = [rnd.lognormvariate(0, sigma) for _ in range(count)]
    s = sum(raw)
    sizes = [max(1024, int(total * r / s)) for r in raw]
    sizes[-1] += total - sum(sizes)
    if sizes[-1] < 1024:
        sizes[-1] = 1024
    return sizes


UPLOAD_KINDS = [("pdf", b"%PDF-1.7\n", "bin", "application/pdf"), ("png", b"\x89PNG\r\n\x1a\n", "bin", "image/png"),
                ("docx", b"PK\x03\x04", "bin", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
                ("jpg", b"\xff\xd8\xff\xe0", "bin", "image/jpeg"), ("txt", b"", "text", "text/plain")]
NAMES = ["report", "meeting notes", "café-menu", "invoice", "Quarterly plan", "scan", "photo", "handbook", "résumé", "data"]


CHAT_SQL = ("INSERT INTO chat (id, user_id, title, created_at, updated_at, share_id, archived, chat, pinned,"
            " meta, folder_id, tasks, summary, last_read_at, current_message_id, variables, timer_at)"
            " VALUES (?, ?, ?, ?, ?, NULL, 0, ?, 0, '{}', NULL, 'null', NULL, ?, ?, '{}', NULL)")
MESSAGE_SQL = ("INSERT INTO chat_message (id, chat_id, user_id, role, parent_id, content, output, model_id, files,"
               " sources, embeds, done, status_history, error, usage, created_at, updated_at, context_summary, meta)"
               " VALUES (?, ?, ?, ?, ?, ?, 'null', ?, 'null', 'null', 'null', 1, 'null', 'null', 'null', ?, ?, NULL, 'null')")


def sentences_for(rnd):
    """The pool of sentences chat messages are drawn from."""
    return [" ".join(rnd.choices(WORDS, k=rnd.randint(8, 30))).capitalize() + "." for _ in range(3000)]


def new_chat(rnd, sentences, user_id, ts, messages=10):
    """One Open WebUI-like chat (random UUID keys): a dict with id, user_id, ts, title and the message list
    [(message_id, role, parent_id, content, message_dict)] in conversation order."""
    chat_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    msgs = []
    parent = None
    for i in range(messages):
        mid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        role = "user" if i % 2 == 0 else "assistant"
        content = " ".join(rnd.choices(sentences, k=rnd.randint(2, 14) if role == "user" else rnd.randint(8, 40)))
        m = {"id": mid, "parentId": parent, "childrenIds": [], "role": role, "content": content, "timestamp": ts + i}
        if role == "user":
            m["models"] = [MODEL]
        else:
            m.update({"model": MODEL, "modelName": MODEL, "modelIdx": 0, "done": True,
                      "usage": {"prompt_tokens": 20 + i, "completion_tokens": len(content) // 4}})
        if msgs:
            msgs[-1][4]["childrenIds"].append(mid)
        msgs.append((mid, role, parent, content, m))
        parent = mid
    return {"id": chat_id, "user_id": user_id, "ts": ts,
            "title": " ".join(rnd.choices(WORDS, k=5)).capitalize(), "messages": msgs}


def chat_json(chat, upto=None):
    """The chat column's JSON holding the first ``upto`` messages (all by default)."""
    msgs = chat["messages"][:upto]
    # childrenIds of the last shown message point to nothing yet
    history = {m[0]: dict(m[4], childrenIds=[c for c in m[4]["childrenIds"] if any(c == x[0] for x in msgs)]) for m in msgs}
    doc = {"id": "", "title": chat["title"], "models": [MODEL], "params": {},
           "history": {"messages": history, "currentId": msgs[-1][0]},
           "messages": [history[m[0]] for m in msgs], "tags": [], "timestamp": chat["ts"] * 1000}
    return json.dumps(doc, separators=(",", ":"))


def insert_messages(conn, chat, start=0, stop=None):
    """chat_message rows for messages[start:stop]."""
    ts = chat["ts"]
    conn.executemany(MESSAGE_SQL, [("%s-%s" % (chat["id"], mid), chat["id"], chat["user_id"], role, par, json.dumps(content),
                                    MODEL if role == "assistant" else None, ts, ts)
                                   for mid, role, par, content, _ in chat["messages"][start:stop]])


def insert_chat(conn, chat, upto=None):
    """The chat row (with its first ``upto`` messages) and their chat_message rows."""
    ts = chat["ts"]
    msgs = chat["messages"][:upto]
    conn.execute(CHAT_SQL, (chat["id"], chat["user_id"], chat["title"], ts, ts + 10, chat_json(chat, upto), ts + 10, msgs[-1][0]))
    insert_messages(conn, chat, 0, upto)


def _grow_webui_db(db, target, users, seed):
    """Add chats (10 messages each, like Open WebUI writes them) until the file reaches ``target`` bytes."""
    rnd = random.Random(seed)
    sentences = sentences_for(rnd)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA journal_size_limit=67108864")
    n = 0
    now = int(time.time()) - 86400 * 200

    def size():
        return os.path.getsize(db) + (os.path.getsize(db + "-wal") if os.path.exists(db + "-wal") else 0)

    while size() < target:
        conn.execute("BEGIN")
        for _ in range(20):
            n += 1
            insert_chat(conn, new_chat(rnd, sentences, users[n % len(users)], now + n * 60))
        conn.execute("COMMIT")
    conn.close()
    return n


def generate(data_dir, size, fixture, seed=b"owb-bench", workers=2, log=print):
    """Create the data set in ``data_dir`` (must be empty or missing). Returns a description dict."""
    spec = SIZES[size]
    t0 = time.monotonic()
    os.makedirs(data_dir, exist_ok=True)
    if os.listdir(data_dir):
        raise SystemExit("bench: %s is not empty" % data_dir)
    with tarfile.open(fixture, "r:gz") as tar:
        tar.extractall(data_dir)
    db = os.path.join(data_dir, "webui.db")
    conn = sqlite3.connect(db)
    users = [r[0] for r in conn.execute("SELECT id FROM user ORDER BY created_at")]
    conn.close()
    rnd = random.Random(seed)
    tasks = []
    uploads = []
    # uploads
    for i, sz in enumerate(_sizes(spec["uploads"], spec["upload_files"], rnd)):
        ext, header, kind, ctype = UPLOAD_KINDS[i % len(UPLOAD_KINDS)]
        fid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        name = "%s %d.%s" % (NAMES[i % len(NAMES)], i, ext)
        path = os.path.join(data_dir, "uploads", "%s_%s" % (fid, name))
        uploads.append((fid, name, ctype, users[i % len(users)]))
        tasks.append((path, sz, b"%s/u/%d" % (seed, i), kind, True, header))
    # cache: embedding model blobs + tokenizer files
    cache_total = spec["cache"]
    big = [int(cache_total * f) for f in (0.30, 0.30, 0.27)]
    small_total = cache_total - sum(big)
    mdir = os.path.join(data_dir, "cache", "embedding", "models", "models--sentence-transformers--all-MiniLM-L6-v2")
    for j, sz in enumerate(big):
        tasks.append((os.path.join(mdir, "blobs", "%064x" % rnd.getrandbits(256)), sz, b"%s/c/%d" % (seed, j), "bin", False, b""))
    for j, sz in enumerate(_sizes(small_total, 40, rnd, sigma=1.5)):
        sub = "tiktoken" if j % 4 == 0 else os.path.join("embedding", "models", "models--sentence-transformers--all-MiniLM-L6-v2", "snapshots", "rev")
        tasks.append((os.path.join(data_dir, "cache", sub, "file-%02d.%s" % (j, "json" if j % 2 else "bin")), sz,
                      b"%s/cs/%d" % (seed, j), "text" if j % 2 else "bin", False, b""))
    # vector_db: extra HNSW segment folders like the fixture's persisted ones
    vdir = os.path.join(data_dir, "vector_db")
    have = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(vdir) for f in fs)
    need = max(0, spec["vector_db"] - have)
    k = 0
    while need > 0:
        seg = os.path.join(vdir, str(uuid.UUID(int=rnd.getrandbits(128), version=4)))
        d0 = min(need, 4 * MB)
        for fname, sz in (("header.bin", 100), ("data_level0.bin", d0), ("length.bin", max(400, d0 // 420)),
                          ("link_lists.bin", max(0, d0 // 190)), ("index_metadata.pickle", max(1024, d0 // 18))):
            tasks.append((os.path.join(seg, fname), sz, b"%s/v/%d/%s" % (seed, k, fname.encode()), "bin", False, b""))
            need -= sz
        k += 1
    # files in worker processes while the main process grows webui.db
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        async_res = pool.map_async(_write_file, sorted(tasks, key=lambda t: -t[1]), chunksize=4)
        chats = _grow_webui_db(db, spec["webui_db"], users, seed)
        results = async_res.get()
    t_files = time.monotonic() - t0
    hashes = {p: (s, h) for p, s, h in results}
    # file rows for the uploads (what Open WebUI stores for each upload)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    now = int(time.time())
    conn.execute("BEGIN")
    for (fid, name, ctype, uid), task in zip(uploads, tasks):
        sz, digest = hashes[task[0]]
        meta = {"name": name, "content_type": ctype, "size": sz, "file_hash": digest, "data": {}}
        conn.execute("INSERT INTO file (id, user_id, filename, meta, created_at, hash, data, updated_at, path)"
                     " VALUES (?, ?, ?, ?, ?, NULL, '{}', ?, ?)",
                     (fid, uid, name, json.dumps(meta), now, now,
                      "%s/uploads/%s_%s" % (DATA_DIR_IN_CONTAINER, fid, name)))
    conn.execute("COMMIT")
    # fold the WAL so the file is the target size; the app's writes build up a fresh -wal
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    os.sync()
    return {"size": size, "spec": spec, "generated_chats": chats, "seconds": round(time.monotonic() - t0, 1),
            "files_seconds": round(t_files, 1)}


def describe(data_dir):
    """Measured composition of a data directory."""
    out = {}
    total_files = 0
    total_bytes = 0
    for top in sorted(os.listdir(data_dir)):
        p = os.path.join(data_dir, top)
        if os.path.isdir(p):
            n = b = 0
            for r, _, fs in os.walk(p):
                for f in fs:
                    try:
                        b += os.path.getsize(os.path.join(r, f))
                        n += 1
                    except OSError:
                        pass
            out[top + "/"] = {"files": n, "bytes": b}
        else:
            n, b = 1, os.path.getsize(p)
            out[top] = {"files": 1, "bytes": b}
        total_files += n
        total_bytes += b
    out["total"] = {"files": total_files, "bytes": total_bytes}
    return out


def human(n):
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return ("%.0f %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1000.0


if __name__ == "__main__":
    import sys
    here = os.path.dirname(os.path.abspath(__file__))
    fx = os.path.join(os.path.dirname(here), "tests", "fixtures", "openwebui-0.12.4", "data.tar.gz")
    print(json.dumps(generate(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "small", fx), indent=1))
    print(json.dumps(describe(sys.argv[1]), indent=1))
