# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Host-side safety net: a detached watchdog that resumes the containers the backup paused or stopped.

``arm(containers, "unpause"|"start", deadline_s)`` (one id or a list, in the order to resume) spawns ``python3 -I -S -c <WATCHDOG_SOURCE>`` in a new
session (``setsid``: it survives SIGKILL of the arming process and of its whole process group), with no
stdin/stdout/stderr (Ansible does not wait for it). The watchdog resumes the container through the Docker
API over the unix socket (plain HTTP, stdlib only) when

- the arming process dies: the write end of a pipe only the arming process holds reaches EOF, and, as a
  second signal, its pid disappears or gets reused (pid + start time from /proc are compared every 50 ms), or
- the deadline passes (the freeze took too long),

and exits quietly when ``SafetyNet.disarm()`` writes the disarm byte. What it did is appended (JSON lines) to
``/run/owb-safety-<first container id[:12]>.log`` (``/tmp`` when /run is not writable) and sent to syslog.

``hold(container_id)`` is the host-wide lock of one container's freeze: two runs (into two repositories, so
under two repository locks) never pause or stop the same container at once.

The source is embedded as a string, not a file path: module_utils run from Ansible's AnsiballZ zip.

This is a private module of the sage_open_webui.backup collection; its API may change at any time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import subprocess
import sys
import time

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import socket_path

ACTIONS = ("unpause", "start")
DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"
LOCK_DIRS = ("/run/lock", "/var/lock", "/tmp")
EXIT_DISARMED = 0
EXIT_FIRED_OK = 10
EXIT_FIRED_FAILED = 11

WATCHDOG_SOURCE = r'''
import json, os, select, socket, sys, time
try:
    import syslog
except ImportError:
    syslog = None

cids, action, sock_path, log_path = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
deadline = float(sys.argv[5])          # time.monotonic() value (CLOCK_MONOTONIC is system-wide)
ppid, pstart = int(sys.argv[6]), sys.argv[7]
rfd, readyfd = int(sys.argv[8]), int(sys.argv[9])
stop_grace = float(sys.argv[10])         # action start: how long a stop may still be under way

def log(event, **kw):
    rec = {"time": time.time(), "pid": os.getpid(), "container": cids[0], "action": action, "event": event}
    rec.update(kw)
    line = json.dumps(rec, sort_keys=True)
    try:
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        pass
    if syslog is not None and event != "armed":
        try:
            syslog.openlog("owb-safety", syslog.LOG_PID, syslog.LOG_DAEMON)
            syslog.syslog(syslog.LOG_WARNING if event.startswith("fired") else syslog.LOG_INFO, line)
        except OSError:
            pass

def starttime(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as fh:
            data = fh.read()
        return data[data.rindex(b")") + 2:].split()[19].decode()
    except (OSError, ValueError, IndexError):
        return None

def parent_alive():
    if pstart != "-":
        return starttime(ppid) == pstart
    try:
        os.kill(ppid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True

def docker_post(path, method="POST"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.connect(sock_path)
        s.sendall(("%s %s HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                   % (method, path)).encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError:
                break
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    return status, body.decode("utf-8", "replace")

def container_state(cid):
    status, body = docker_post("/containers/%s/json" % cid, method="GET")
    if status != 200:
        return None
    return json.loads(body).get("State") or {}

def watch_after_start(reason, grace, watched):
    # 304 "already started" can mean "still stopping": the stop of a killed backup may still finish and
    # leave a container down. Watch them for the stop grace period and start one again if that happens.
    end = time.monotonic() + grace
    while watched and time.monotonic() < end:
        time.sleep(0.5)
        for cid in list(watched):
            try:
                st = container_state(cid)
            except (OSError, ValueError):
                continue
            if st is None:
                watched.remove(cid)
            elif not st.get("Running") and not st.get("Restarting") and st.get("Status") in ("exited", "created"):
                status, body = docker_post("/containers/%s/start" % cid)
                log("fired_again", container=cid, reason=reason + "; it stopped after all", status=status,
                    body=body.strip()[:200])
                watched.remove(cid)

def fire_one(cid, reason):
    """(resumed, answered 'already') for one container."""
    path = "/containers/%s/%s" % (cid, action)
    last = None
    for attempt in range(1, 41):
        try:
            status, body = docker_post(path)
        except Exception as exc:
            last = "%s: %s" % (type(exc).__name__, exc)
            time.sleep(min(0.1 * attempt, 1.0))
            continue
        text = body.lower()
        ok = status in (204, 304) or (status in (409, 500) and ("not paused" in text or "already" in text))
        if ok:
            log("fired", container=cid, reason=reason, status=status, attempts=attempt, body=body.strip()[:200])
            return True, status != 204
        last = "HTTP %d %s" % (status, body.strip()[:200])
        if status == 404:
            break
        time.sleep(min(0.1 * attempt, 1.0))
    log("fired_failed", container=cid, reason=reason, error=last)
    return False, False

def fire(reason):
    # "firing" first: a disarm that comes while this runs must learn that the net acted
    log("firing", reason=reason, containers=cids)
    results = [(cid,) + fire_one(cid, reason) for cid in cids]
    if action == "start":
        watch_after_start(reason, stop_grace, [cid for cid, ok, already in results if ok and already])
    return 10 if all(ok for cid, ok, already in results) else 11

def main():
    os.umask(0o077)
    try:
        os.write(readyfd, b"R")
        os.close(readyfd)
    except OSError:
        pass
    log("armed", deadline_in=round(deadline - time.monotonic(), 3), arming_pid=ppid)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return fire("deadline passed")
        try:
            r, _, _ = select.select([rfd], [], [], min(0.05, remaining))
        except InterruptedError:
            continue
        if r:
            try:
                data = os.read(rfd, 1)
            except OSError:
                data = b""
            if data == b"D":
                log("disarmed")
                return 0
            return fire("arming process exited (pipe closed without disarm)")
        if not parent_alive():
            return fire("arming process %d is gone" % ppid)

if __name__ == "__main__":
    try:
        code = main()
    except Exception as exc:  # never die silently with the container frozen
        log("error", error="%s: %s" % (type(exc).__name__, exc))
        code = fire("watchdog error")
    os._exit(code)
'''


def _proc_starttime(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as fh:
            data = fh.read()
        return data[data.rindex(b")") + 2:].split()[19].decode()
    except (OSError, ValueError, IndexError):
        return "-"


def _socket_path(docker_socket):
    sock = socket_path(docker_socket or DEFAULT_DOCKER_SOCKET)
    if sock is None:
        raise BackupError(
            "the safety net talks to the Docker engine over a unix socket, not %s" % docker_socket,
            "use a unix socket (docker_host: unix:///var/run/docker.sock) for backups that pause or stop",
        )
    return sock


def log_path_for(container_id, log_dir=None):
    """Where the watchdog for ``container_id`` writes its JSON lines."""
    short = "".join(c for c in str(container_id) if c.isalnum() or c in "-_.")[:64] or "container"
    if len(short) == 64:
        short = short[:12]
    dirs = [log_dir] if log_dir else ["/run", "/tmp"]
    for d in dirs:
        if d and os.path.isdir(d) and os.access(d, os.W_OK):
            return os.path.join(d, "owb-safety-%s.log" % short)
    return os.path.join(dirs[-1] or "/tmp", "owb-safety-%s.log" % short)


def read_log(path):
    """The watchdog's records (list of dicts) from its log file; [] when missing."""
    out = []
    try:
        with open(path, "r") as fh:
            for line in fh:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


class SafetyNet(object):
    """Handle on an armed watchdog. ``disarm()`` before the arming process exits, after resuming."""

    def __init__(self, proc, wfd, containers, action, deadline_s, log_path, armed_ms, ready_fd=None):
        self._proc = proc
        self._ready_fd = ready_fd
        self.ready = False
        self._wfd = wfd
        self.pid = proc.pid
        self.containers = list(containers)
        self.container_id = self.containers[0]
        self.action = action
        self.deadline_s = deadline_s
        self.log_path = log_path
        self.armed_ms = armed_ms
        self.result = None

    def wait_ready(self, timeout=5.0):
        """Block until the watchdog runs its loop (usually 10-40 ms after ``arm``); BackupError when it
        does not come up (and then nothing may be frozen)."""
        if self.ready:
            return True
        if self._ready_fd is None:
            return False
        ready = select.select([self._ready_fd], [], [], timeout)[0]
        data = os.read(self._ready_fd, 1) if ready else b""
        os.close(self._ready_fd)
        self._ready_fd = None
        if data == b"R":
            self.ready = True
            return True
        code = self._proc.poll()
        self.disarm(timeout=1)
        if code is None:
            try:
                self._proc.kill()
            except OSError:
                pass
        raise BackupError(
            "the safety-net watchdog did not start (exit code %s)" % (code,),
            "check that '%s -I -S -c pass' works on the managed host" % (self._proc.args[0],),
        )

    @property
    def active(self):
        return self._wfd is not None and self._proc.poll() is None

    def fired(self):
        """True when the watchdog acted or is acting (deadline passed): it resumes or resumed the containers."""
        return self._proc.poll() in (EXIT_FIRED_OK, EXIT_FIRED_FAILED) or self._firing()

    def _firing(self):
        """The watchdog logged that it started to fire (it may still be retrying or watching a start)."""
        return any(r.get("pid") == self.pid and r.get("event") == "firing" for r in read_log(self.log_path))

    def disarm(self, timeout=5.0):
        """Tell the watchdog to exit without touching the container.

        Returns ``{"disarmed": bool, "fired": bool, "exit_code": int|None}``; ``fired`` True means the
        deadline had passed and the watchdog resumed the containers (the frozen window was broken), also when
        it is still at it after ``timeout`` (then ``exit_code`` is None and ``fired_ok`` not known yet).
        """
        if self.result is not None:
            return self.result
        if self._wfd is not None:
            try:
                os.write(self._wfd, b"D")
            except OSError:
                pass
            try:
                os.close(self._wfd)
            except OSError:
                pass
            self._wfd = None
        try:
            code = self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        if self._ready_fd is not None:
            ready = select.select([self._ready_fd], [], [], 0)[0]
            if ready and os.read(self._ready_fd, 1) == b"R":
                self.ready = True
            os.close(self._ready_fd)
            self._ready_fd = None
        self.result = {
            "disarmed": code == EXIT_DISARMED,
            "fired": code in (EXIT_FIRED_OK, EXIT_FIRED_FAILED) or (code is None and self._firing()),
            "fired_ok": code == EXIT_FIRED_OK,
            "exit_code": code,
            "ready": self.ready,
            "log_path": self.log_path,
        }
        return self.result

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.disarm()
        return False


def arm(containers, action, deadline_s, docker_socket=DEFAULT_DOCKER_SOCKET, python=None, log_dir=None,
        wait_ready=False, stop_grace_s=60.0):
    """Arm the watchdog for ``containers`` (an id or name, or a list of them in the order to resume: the
    app before its dependents) and return a ``SafetyNet``.

    ``action``: ``unpause`` (after ``docker pause``) or ``start`` (after ``docker stop``). ``deadline_s``:
    seconds after which the watchdog resumes the container even though the arming process still lives.
    Arming costs a fork+exec (a few ms): the call does not wait for the interpreter to start, and does not
    need to, because the watchdog checks the pipe and the arming pid first thing (an arming process that is
    already gone, or a deadline already passed, fires at once). A missing interpreter raises a BackupError
    here (exec failures are reported by Popen); ``wait_ready=True`` (or ``SafetyNet.wait_ready()`` later)
    also waits for the watchdog loop to run.

    ``stop_grace_s`` (action ``start``): when the engine answers "already started" (the killed backup's
    ``docker stop`` may still be under way), the watchdog keeps watching that long and starts the
    container again if it goes down after all.
    """
    if action not in ACTIONS:
        raise BackupError("unknown safety net action %r" % (action,), "use one of %s" % ", ".join(ACTIONS))
    containers = [containers] if isinstance(containers, str) else [str(c) for c in containers or ()]
    if not containers or not all(containers):
        raise BackupError("the safety net needs a container id", "pass the id of the container to protect")
    deadline_s = float(deadline_s)
    if deadline_s <= 0:
        raise BackupError("safety net deadline must be positive (got %s)" % deadline_s,
                          "give the longest freeze you accept, in seconds")
    sock = _socket_path(docker_socket)
    t0 = time.monotonic()
    log_path = log_path_for(containers[0], log_dir)
    interpreter = python or sys.executable or "/usr/bin/python3"
    rfd, wfd = os.pipe()
    ready_r, ready_w = os.pipe()
    args = [
        interpreter, "-I", "-S", "-c", WATCHDOG_SOURCE,
        json.dumps(containers), action, sock, log_path, repr(t0 + deadline_s),
        str(os.getpid()), _proc_starttime(os.getpid()), str(rfd), str(ready_w), repr(float(stop_grace_s)),
    ]
    try:
        # a detached, long-lived child that must outlive this process: run_command cannot do that
        proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=True, pass_fds=(rfd, ready_w), start_new_session=True, cwd="/",
        )
    except OSError as exc:
        for fd in (rfd, wfd, ready_r, ready_w):
            os.close(fd)
        raise BackupError(
            "cannot start the safety-net watchdog with %s: %s" % (interpreter, exc),
            "make sure a working python3 is installed on the managed host",
        )
    os.close(rfd)
    os.close(ready_w)
    net = SafetyNet(proc, wfd, containers, action, deadline_s, log_path, None, ready_r)
    if wait_ready:
        net.wait_ready()
    net.armed_ms = round((time.monotonic() - t0) * 1000.0, 1)
    return net


def _lock_path(container_id):
    name = "owb-freeze-%s.lock" % "".join(c for c in str(container_id) if c.isalnum() or c in "-_.")[:64]
    for d in LOCK_DIRS:
        if os.path.isdir(d) and os.access(d, os.W_OK):
            return os.path.join(d, name)
    return os.path.join(LOCK_DIRS[-1], name)


@contextlib.contextmanager
def hold(container_id, timeout=0.0):
    """Host-wide lock of one container's freeze (flock, released when the process ends): a second run that
    would pause or stop the same container (from another repository, under another repository lock) is
    refused instead of thawing the first run's freeze."""
    path = _lock_path(container_id)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + float(timeout or 0)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BackupError(
                        "another run is pausing or stopping container %s right now (lock %s)" % (container_id, path),
                        "wait for it to finish (a backup into another repository, or a restore); nothing was changed")
                time.sleep(0.1)
        yield path
    finally:
        os.close(fd)
