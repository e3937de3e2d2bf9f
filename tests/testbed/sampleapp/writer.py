#!/usr/bin/python3
"""Open WebUI stand-in for the sage_open_webui.backup test bed (stdlib only).

* Seeds an empty DATA_DIR from the real Open WebUI 0.12.4 fixture (webui.db, vector_db/, uploads/, cache/).
* Like the real start.sh: without WEBUI_SECRET_KEY, generates /app/backend/.webui_secret_key once
  (in the container layer, not in the data volume).
* Opens webui.db once, with Open WebUI's pragmas, and keeps committing: a chat (+2 chat_message rows)
  every WRITE_INTERVAL seconds with id "writer-<seq>", title "Writer chat <seq>"; every UPLOAD_EVERY-th
  chat also writes uploads/<file_id>_writer-<seq>.txt (temp file + rename, write-once) and a `file` row.
* GET /health -> {"status": true}; GET /api/version -> {"version": "0.12.4"};
  GET /writer -> {"seq": <last committed>, "journal_mode": ..., "uploads": n}. Binds 127.0.0.1:$PORT.
* SIGTERM/SIGINT: finish the current transaction, stop writing, exit 0. Like the real server (whose
  pooled SQLAlchemy connections are never closed at shutdown) the `-wal`/`-shm` files stay behind after
  `docker stop`; WAL_CHECKPOINT_ON_EXIT=true closes the connection instead (checkpoint, `-wal` removed).

Env: DATA_DIR, PORT, WRITE_INTERVAL, UPLOAD_EVERY, DATABASE_ENABLE_SQLITE_WAL (true|false),
WEBUI_SECRET_KEY, LOG_EVERY (default 200), SEED_TARBALL, WAL_CHECKPOINT_ON_EXIT (false).
"""
import base64
import hashlib
import http.server
import json
import os
import shutil
import signal
import sqlite3
import sys
import tarfile
import threading
import time
import uuid

VERSION = "0.12.4"
APP_DIR = "/app/backend"
DATA_DIR = os.environ.get("DATA_DIR") or os.path.join(APP_DIR, "data")
SEED_TARBALL = os.environ.get("SEED_TARBALL", "/opt/sampleapp/seed/data.tar.gz")
KEY_FILE = os.path.join(APP_DIR, ".webui_secret_key")
MODEL = "qwen2.5:7b"

stop = threading.Event()
state = {"seq": 0, "journal_mode": None, "uploads": 0, "errors": 0}


def log(msg):
    sys.stdout.write("%s writer: %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), msg))
    sys.stdout.flush()


def env_bool(name, default):
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    return v.strip().lower() in ("1", "true", "yes", "on")


def seed_data_dir():
    """Seed DATA_DIR from the fixture when it holds no webui.db (first start on an empty volume)."""
    os.makedirs(DATA_DIR, exist_ok=True)
    if os.path.exists(os.path.join(DATA_DIR, "webui.db")):
        return False
    tmp = os.path.join(DATA_DIR, ".seed-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with tarfile.open(SEED_TARBALL, "r:gz") as tar:
        tar.extractall(tmp)
    # webui.db last, so an interrupted seed is redone on the next start
    names = sorted(os.listdir(tmp), key=lambda n: n == "webui.db")
    for name in names:
        dst = os.path.join(DATA_DIR, name)
        if os.path.isdir(dst) and not os.path.islink(dst):
            shutil.rmtree(dst)
        os.rename(os.path.join(tmp, name), dst)
    os.rmdir(tmp)
    log("seeded %s from %s" % (DATA_DIR, os.path.basename(SEED_TARBALL)))
    return True


def ensure_secret_key():
    """start.sh: WEBUI_SECRET_KEY wins; otherwise read or create .webui_secret_key in the app dir."""
    if os.environ.get("WEBUI_SECRET_KEY") or os.environ.get("WEBUI_JWT_SECRET_KEY"):
        log("secret key: from environment")
        return
    if not os.path.exists(KEY_FILE):
        key = base64.b64encode(os.urandom(12)).decode()
        fd = os.open(KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        log("secret key: generated %s" % KEY_FILE)
    else:
        log("secret key: loaded %s" % KEY_FILE)
    with open(KEY_FILE) as f:
        os.environ["WEBUI_SECRET_KEY"] = f.read().strip()


def open_db():
    path = os.path.join(DATA_DIR, "webui.db")
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
    # Open WebUI 0.12.4 (open_webui/internal/db.py) on every new SQLite connection
    if env_bool("DATABASE_ENABLE_SQLITE_WAL", True):
        conn.execute("PRAGMA journal_mode=WAL")
    else:
        conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA mmap_size=268435456")
    conn.execute("PRAGMA journal_size_limit=67108864")
    state["journal_mode"] = conn.execute("PRAGMA journal_mode").fetchone()[0]
    return conn


def last_seq(conn):
    row = conn.execute(
        "SELECT max(CAST(substr(id, 8) AS INTEGER)) FROM chat WHERE id LIKE 'writer-%'").fetchone()
    return row[0] or 0


def owner_id(conn):
    row = conn.execute("SELECT id FROM user WHERE role = 'admin' ORDER BY created_at LIMIT 1").fetchone()
    if row is None:
        row = conn.execute("SELECT id FROM user ORDER BY created_at LIMIT 1").fetchone()
    return row[0] if row else "writer-user"


def write_upload(seq, now):
    """uploads/<file_id>_writer-<seq>.txt, written to a temp name then renamed (write-once)."""
    file_id = str(uuid.uuid4())
    name = "writer-%d.txt" % seq
    body = ("Writer upload %d\n" % seq).encode() + hashlib.sha256(b"%d" % seq).hexdigest().encode() * 32 + b"\n"
    updir = os.path.join(DATA_DIR, "uploads")
    os.makedirs(updir, exist_ok=True)
    final = os.path.join(updir, "%s_%s" % (file_id, name))
    tmp = os.path.join(updir, ".tmp-%s" % file_id)
    with open(tmp, "wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, final)
    meta = {"name": name, "content_type": "text/plain", "size": len(body),
            "file_hash": hashlib.sha256(body).hexdigest(), "data": {}}
    return {"id": file_id, "filename": name, "meta": meta,
            "path": "/app/backend/data/uploads/%s_%s" % (file_id, name), "now": now}


def commit_chat(conn, seq, user_id, upload_every):
    now = int(time.time())
    ts = int(time.time() * 1000)
    chat_id = "writer-%d" % seq
    title = "Writer chat %d" % seq
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, "%s/u" % chat_id))
    aid = str(uuid.uuid5(uuid.NAMESPACE_URL, "%s/a" % chat_id))
    question = "Writer question number %d: what changed since the last backup?" % seq
    answer = "Writer answer number %d. Nothing you can lose if the backup is consistent." % seq
    upload = write_upload(seq, now) if upload_every > 0 and seq % upload_every == 0 else None
    files = None
    if upload:
        files = [{"type": "file", "file": {"id": upload["id"], "filename": upload["filename"],
                                           "meta": upload["meta"]},
                  "id": upload["id"], "url": upload["id"], "name": upload["filename"],
                  "status": "uploaded", "size": upload["meta"]["size"]}]
    umsg = {"id": uid, "parentId": None, "childrenIds": [aid], "role": "user", "content": question,
            "timestamp": now, "models": [MODEL], "user_id": user_id}
    if files:
        umsg["files"] = files
    amsg = {"id": aid, "parentId": uid, "childrenIds": [], "role": "assistant", "content": answer,
            "model": MODEL, "modelName": MODEL, "modelIdx": 0, "timestamp": now, "done": True,
            "usage": {"prompt_tokens": 20, "completion_tokens": 16, "total_tokens": 36}}
    chat = {"id": "", "title": title, "models": [MODEL], "params": {},
            "history": {"messages": {uid: umsg, aid: amsg}, "currentId": aid},
            "messages": [umsg, amsg], "tags": [], "timestamp": ts}
    conn.execute("BEGIN IMMEDIATE")
    try:
        if upload:
            conn.execute(
                "INSERT INTO file (id, user_id, filename, meta, created_at, hash, data, updated_at, path)"
                " VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                (upload["id"], user_id, upload["filename"], json.dumps(upload["meta"]), now, "{}", now,
                 upload["path"]))
        conn.execute(
            "INSERT INTO chat (id, user_id, title, created_at, updated_at, share_id, archived, chat, pinned,"
            " meta, folder_id, tasks, summary, last_read_at, current_message_id, variables, timer_at)"
            " VALUES (?, ?, ?, ?, ?, NULL, 0, ?, 0, '{}', NULL, 'null', NULL, ?, ?, '{}', NULL)",
            (chat_id, user_id, title, now, now, json.dumps(chat, separators=(",", ":")), now, aid))
        conn.execute(
            "INSERT INTO chat_message (id, chat_id, user_id, role, parent_id, content, output, model_id, files,"
            " sources, embeds, done, status_history, error, usage, created_at, updated_at, context_summary, meta)"
            " VALUES (?, ?, ?, 'user', NULL, ?, 'null', NULL, ?, 'null', 'null', 1, 'null', 'null', 'null',"
            " ?, ?, NULL, 'null')",
            ("%s-%s" % (chat_id, uid), chat_id, user_id, json.dumps(question),
             json.dumps(files) if files else "null", now, now))
        conn.execute(
            "INSERT INTO chat_message (id, chat_id, user_id, role, parent_id, content, output, model_id, files,"
            " sources, embeds, done, status_history, error, usage, created_at, updated_at, context_summary, meta)"
            " VALUES (?, ?, ?, 'assistant', ?, ?, 'null', ?, 'null', 'null', 'null', 1, 'null', 'null', ?,"
            " ?, ?, NULL, 'null')",
            ("%s-%s" % (chat_id, aid), chat_id, user_id, uid, json.dumps(answer), MODEL,
             json.dumps(amsg["usage"]), now, now))
        conn.execute("COMMIT")
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        raise
    return upload is not None


class Handler(http.server.BaseHTTPRequestHandler):
    def _json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/health":
            self._json(200, {"status": True})
        elif path == "/api/version":
            self._json(200, {"version": VERSION})
        elif path == "/writer":
            self._json(200, dict(state))
        else:
            self._json(404, {"detail": "Not Found"})

    def log_message(self, *args):  # quiet
        pass


def serve(port):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, name="http", daemon=True)
    t.start()
    return httpd


def main():
    port = int(os.environ.get("PORT") or 8080)
    interval = float(os.environ.get("WRITE_INTERVAL") or 0.05)
    upload_every = int(os.environ.get("UPLOAD_EVERY") or 10)
    log_every = int(os.environ.get("LOG_EVERY") or 200)

    def on_signal(signum, frame):
        log("signal %d: stopping" % signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    os.chdir(APP_DIR)
    seed_data_dir()
    for sub in ("uploads", "cache", "vector_db"):
        os.makedirs(os.path.join(DATA_DIR, sub), exist_ok=True)
    ensure_secret_key()
    conn = open_db()
    user_id = owner_id(conn)
    seq = last_seq(conn)
    state["seq"] = seq
    state["uploads"] = conn.execute("SELECT count(*) FROM file WHERE filename LIKE 'writer-%'").fetchone()[0]
    log("open webui sample %s: data=%s journal_mode=%s resume_seq=%d interval=%ss upload_every=%d port=%d"
        % (VERSION, DATA_DIR, state["journal_mode"], seq, interval, upload_every, port))
    httpd = serve(port)
    try:
        while not stop.is_set():
            nxt = seq + 1
            try:
                uploaded = commit_chat(conn, nxt, user_id, upload_every)
            except sqlite3.OperationalError as e:  # e.g. locked longer than busy_timeout by a backup
                state["errors"] += 1
                log("write of seq %d failed, retrying: %s" % (nxt, e))
                stop.wait(max(interval, 0.2))
                continue
            seq = nxt
            state["seq"] = seq
            if uploaded:
                state["uploads"] += 1
            if seq == 1 or seq % log_every == 0:
                log("committed seq=%d" % seq)
            stop.wait(interval)
    finally:
        httpd.shutdown()
        if env_bool("WAL_CHECKPOINT_ON_EXIT", False):
            conn.close()
            log("stopped cleanly at seq=%d (database closed)" % seq)
        else:
            log("stopped cleanly at seq=%d (connection left open, as Open WebUI does)" % seq)
            sys.stdout.flush()
            os._exit(0)  # skip sqlite3_close: no checkpoint on exit, -wal stays like the real app's
    return 0


if __name__ == "__main__":
    sys.exit(main())
