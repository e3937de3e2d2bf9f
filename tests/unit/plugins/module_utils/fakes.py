# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fakes shared by the unit tests of the snapshot, the job and the safety net (not a test module).

- ``FakeEngine``: a Docker engine on a unix socket that records the requests (what the real safety-net
  watchdog sends) and answers like Docker.
- ``FakeDocker``: answers like ``_docker.DockerClient`` for one Open WebUI container (and its dependents),
  with a SQLite "app" that writes around the freeze; it keeps each container's state, so what the run
  leaves running or stopped is checked, not assumed.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time

CID = "c0ffee" * 10 + "abcd"


class FakeEngine(object):
    def __init__(self, path, status=204, body=b"", delay=0.0):
        self.path = path
        self.status = status
        self.body = body
        self.delay = delay  # seconds before each answer (an overloaded engine)
        self.requests = []
        self.times = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, dummy = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data.split(b"\r\n", 1)[0].decode())
                self.times.append(time.monotonic())
                time.sleep(self.delay)
                reason = {204: "No Content", 304: "Not Modified", 500: "Internal Server Error"}.get(self.status, "X")
                conn.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                             b"Connection: close\r\n\r\n%s" % (self.status, reason.encode(), len(self.body), self.body))

    def wait_for(self, n, timeout):
        end = time.monotonic() + timeout
        while len(self.requests) < n and time.monotonic() < end:
            time.sleep(0.01)
        return self.requests

    def close(self):
        self.sock.close()


def app_connection(path):
    c = sqlite3.connect(path, isolation_level=None, timeout=5)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=NORMAL")
    c.execute("PRAGMA busy_timeout=5000")
    return c


def insert_chat(conn, cid):
    conn.execute("INSERT INTO chat (id, user_id, title, chat, created_at, updated_at, archived, pinned, meta) "
                 "VALUES (?, 'app', ?, '{}', 1, 1, 0, 0, '{}')", (cid, cid))


class FakeDocker(object):
    """Answers like _docker.DockerClient for the container CID ("open-webui") and named dependents. The 'app'
    is a SQLite connection that writes around the freeze, so what the snapshot holds proves when the database
    was read. ``states``: name -> "running" | "paused" | "exited" (CID is ``state``; others default running)."""

    def __init__(self, data_dir, log, env=None, secret=None, state="running", pause_s=0.05, stop_s=0.03,
                 states=None, health_s=0.0):
        self.data_dir = data_dir
        self.log = log
        self._env = env or {}
        self.secret = secret
        self.states = dict(states or {})
        self.states[CID] = state
        self.pause_s = pause_s
        self.stop_s = stop_s
        self.health_s = health_s
        self.app = app_connection(data_dir + "/webui.db")
        self.app.execute("PRAGMA wal_autocheckpoint=0")  # keep the app's commits in the -wal
        self.unpause_error = None

    @property
    def state(self):
        return self.states[CID]

    def close(self):
        self.app.close()

    def _key(self, name):
        return CID if name in (CID, "open-webui") else name

    def inspect(self, name):
        self.log.append("inspect" if self._key(name) == CID else "inspect %s" % name)
        st = self.states.get(self._key(name), "running")
        state = {"Status": st, "Paused": st == "paused", "Running": st in ("running", "paused")}
        return {"Id": self._key(name), "Name": "/" + ("open-webui" if self._key(name) == CID else name), "State": state}

    def data_mount(self, info):
        return {"type": "volume", "name": "open-webui", "source": self.data_dir, "destination": "/app/backend/data"}

    def image_info(self, info):
        return {"name": "ghcr.io/open-webui/open-webui:v0.12.4", "digest": "sha256:" + "ab" * 32, "version": "0.12.4"}

    def env(self, info):
        return dict(self._env)

    def read_file(self, cid, path):
        self.log.append("read_file %s" % path)
        return self.secret

    def pause(self, cid):
        assert cid == CID
        insert_chat(self.app, "at-pause")  # the last commit before the freeze took effect
        self.log.append("pause")
        self.states[CID] = "paused"
        time.sleep(self.pause_s)

    def unpause(self, cid):
        self.log.append("unpause")
        if self.unpause_error:
            raise self.unpause_error
        if self.states[CID] == "paused":
            self.states[CID] = "running"
        insert_chat(self.app, "after-unpause")  # the app runs again: not in this snapshot

    def stop(self, name, timeout=10):
        if name == CID:
            insert_chat(self.app, "before-stop")  # committed before the stop: in the -wal only
        self.log.append("stop %s" % name)
        self.states[self._key(name)] = "exited"
        time.sleep(self.stop_s)

    def start(self, name):
        self.log.append("start %s" % name)
        self.states[self._key(name)] = "running"
        if name == CID:
            insert_chat(self.app, "after-start")

    def wait_healthy(self, cid, timeout=120):
        self.log.append("wait_healthy")
        time.sleep(self.health_s)  # a slow app (embedding models loading)
        return {"health": "healthy"}
