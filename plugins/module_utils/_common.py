# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared primitives: the error type and small helpers. Plain Python, no Ansible imports.

This is a private module of the sage_open_webui.backup collection; its API may change at any time.
"""

from __future__ import annotations

import datetime
import difflib
import json
import os
import socket
import time

DATA_DIR_IN_CONTAINER = "/app/backend/data"
SECRET_KEY_FILE_IN_CONTAINER = "/app/backend/.webui_secret_key"


class BackupError(Exception):
    """An expected failure: says what is wrong and how to fix it.

    ``details`` are extra, non-secret facts a module may return beside ``msg``.
    """

    def __init__(self, problem, fix=None, **details):
        self.problem = problem.rstrip(".")
        self.fix = fix
        self.details = details
        super().__init__(str(self))

    def __str__(self):
        if self.fix:
            return "%s. Fix: %s" % (self.problem, self.fix)
        return self.problem + "."


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def snapshot_id_for(when):
    """Sortable snapshot id for a UTC datetime: ``YYYYMMDDTHHMMSSZ``."""
    return when.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def parse_snapshot_id(snapshot_id):
    """Datetime (UTC) of a snapshot id, ignoring a ``-N`` collision suffix; None when not an id."""
    base = snapshot_id.split("-", 1)[0]
    try:
        return datetime.datetime.strptime(base, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def fsync_path(path):
    """fsync a file or a directory by path."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if os.path.isdir(path) else os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def json_text(data):
    """How this collection writes JSON files (manifests, job and status files)."""
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def write_json(path, data):
    """Write ``data`` to ``path`` atomically and durably, root-only (0600 from the first byte)."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json_text(data))
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    fsync_path(os.path.dirname(path))


def save_json(path, data, check_mode=False):
    """Write ``data`` to ``path`` (0600, a new directory 0700) unless the file already holds exactly it, root-only.
    Returns ``(changed, the file's text before)``: a job file saved by a module for the host's timer."""
    try:
        with open(path, encoding="utf-8") as f:
            before = f.read()
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        before, mode = "", None
    changed = before != json_text(data) or mode != 0o600
    if changed and not check_mode:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        write_json(path, data)
    return changed, before


def option_spec(names, types, choices, required, secret, aliases=None):
    """An Ansible option spec (``options`` of a list of dicts) from tables: the type of each name that is not a
    plain string, choices, required names, secret names (``no_log``), aliases. No defaults: the engine's
    normalize is the one place of them."""
    spec = {}
    for name in names:
        option = {"type": types.get(name, "str")}
        if option["type"] == "list":
            option["elements"] = "str"
        if name in choices:
            option["choices"] = list(choices[name])
        if name in (aliases or {}):
            option["aliases"] = list(aliases[name])
        if name in required:
            option["required"] = True
        if name in secret:
            option["no_log"] = True
        spec[name] = option
    return spec


def check_known(given, known, what):
    """Refuse the keys of ``given`` that are not in ``known``: the error names each (with the closest known
    name, for a typo) and lists the known ones. ``what``: "snapshot job", "restore", "retention", ..."""
    unknown = sorted(str(k) for k in given if k not in known)
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, [str(k) for k in known], n=1, cutoff=0.6)
        hints.append("%s (did you mean %s?)" % (key, close[0]) if close else key)
    raise BackupError("unknown %s option%s: %s" % (what, "s" if len(unknown) > 1 else "", ", ".join(hints)),
                      "remove %s; known options: %s" % ("them" if len(unknown) > 1 else "it", ", ".join(str(k) for k in known)),
                      unknown=unknown)


def read_json(path, what, missing_fix, invalid_fix):
    """The JSON in ``path`` (a job file, a manifest, ...); a BackupError naming ``what`` and the path when it is
    missing (``missing_fix``), not JSON (``invalid_fix``) or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise BackupError("%s %s does not exist" % (what, path), missing_fix)
    except ValueError as e:
        raise BackupError("%s %s is not valid JSON (%s)" % (what, path, e), invalid_fix)
    except OSError as e:
        raise BackupError("%s %s cannot be read: %s" % (what, path, e.strerror or e), "check the file and its permissions")


def default_host():
    """The short host name (like ``ansible_hostname``): the default ``host`` part of a repository path."""
    return socket.gethostname().split(".")[0] or "localhost"


class Clock(object):
    """Milliseconds since the job started, and a list of timed events for the job's summary."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.events = []

    def ms(self, since=None):
        return int((time.monotonic() - (self.t0 if since is None else since)) * 1000)

    def note(self, msg):
        self.events.append("%6d ms  %s" % (self.ms(), msg))


def human_bytes(n):
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0
    return "%.1f TiB" % n  # pragma: no cover


def is_inside(child, parent):
    """True when ``child`` is ``parent`` or lies below it (both resolved)."""
    child = os.path.realpath(child)
    parent = os.path.realpath(parent)
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def failpoint(name):
    """Fault injection for the reliability suite: ``OWB_FAILPOINTS="frozen=kill,published=sleep:2"``.

    Actions: ``kill`` (SIGKILL this process, as a crash would), ``raise`` (an unexpected exception),
    ``sleep:N``. Does nothing unless the variable is set.
    """
    spec = os.environ.get("OWB_FAILPOINTS")
    if not spec:
        return
    for item in spec.split(","):
        key, _sep, action = item.strip().partition("=")
        if key != name:
            continue
        if action == "kill":
            import signal
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "raise":
            raise RuntimeError("failpoint %s" % name)
        elif action.startswith("sleep:"):
            import time
            time.sleep(float(action.split(":", 1)[1]))


def run_module(module, job):
    """Shared tail of the job modules: run ``job()``, turn a BackupError into ``fail_json`` (problem and fix),
    keep the traceback of anything unexpected, emit warnings, exit with the result. ``module`` is the
    AnsibleModule (passed in, so this file needs no Ansible import)."""
    import traceback
    try:
        result = job()
    except BackupError as e:
        module.fail_json(msg=str(e), **e.details)
    except Exception as e:  # noqa: BLE001 - unexpected: keep the traceback
        module.fail_json(msg="unexpected error: %s" % e, exception=traceback.format_exc())
    for w in result.get("warnings", []):
        module.warn(w)
    result["warnings_list"] = result.pop("warnings", [])
    module.exit_json(**result)
