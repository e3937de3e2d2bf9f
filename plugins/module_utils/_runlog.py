# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The run records (record_schema 1): one JSON file per instance and plan in the status directory, the last run
of each. The status report, the metrics and the notifications all read these files.

- ``<status_dir>/<instance>@<plan>.json``: a backup plan's last run (plan "default" without a plan), a drill's
  (plan "drill");
- ``<status_dir>/<host>.<instance>@pull.json``: on a backup server, its last pull of one host's instance; and
  ``<host>.<instance>@drill.json`` for a drill of another host's snapshots there.

Every file is 0600 in a 0700 directory. Plain Python, no Ansible imports.
This is a private module of the sage_open_webui.backup collection; its API may change at any time.
"""

from __future__ import annotations

import json
import os

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, default_host, write_json

SCHEMA = 1
OK_STATUSES = ("ok", "warning")
EVENTS = {"ok": "success", "warning": "warning"}


def record_path(status_dir, instance, plan):
    """The file of the last run of ``instance``'s ``plan``; a pull's ``instance`` is ``<host>.<instance>``."""
    return os.path.join(status_dir, "%s@%s.json" % (instance, plan))


def of_other_host(record):
    """A record about another host's instance: a pull, or a drill of another host's snapshots (on a backup server,
    where several hosts have an instance named open-webui). Its file and its metrics name the host."""
    return record.get("kind") == "pull" or (record.get("kind") == "drill" and record.get("host") not in (None, default_host()))


def _path_of(status_dir, record):
    if of_other_host(record):
        return record_path(status_dir, "%s.%s" % (record["host"], record["instance"]), record["plan"])
    return record_path(status_dir, record["instance"], record["plan"])


def _previous_success(path):
    """``last_success`` of the record in ``path``, None when there is none (or it cannot be read)."""
    try:
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
    except (OSError, ValueError):
        return None
    return previous.get("last_success") if isinstance(previous, dict) else None


def write(status_dir, record):
    """Write ``record`` as the last run of its instance and plan; returns the path.

    Sets ``last_success`` to ``finished`` when the run is ok or warning, else carries it over from the record it
    replaces (None when there was none). Atomic and 0600; creates ``status_dir`` (0700) when missing.
    """
    path = _path_of(status_dir, record)
    if record.get("status") in OK_STATUSES:
        record["last_success"] = record.get("finished")
    else:
        record["last_success"] = _previous_success(path)
    try:
        os.makedirs(status_dir, mode=0o700, exist_ok=True)
        write_json(path, record)
    except OSError as e:
        raise BackupError("cannot write the run record %s: %s" % (path, e.strerror or e),
                          "check that %s is a directory root can write" % status_dir)
    return path


def read_all(status_dir):
    """Every run record in ``status_dir``, sorted by path; skips files that are not readable record_schema 1
    records (and older status files). A missing directory has none."""
    try:
        names = sorted(n for n in os.listdir(status_dir) if "@" in n and n.endswith(".json"))
    except OSError:
        return []
    records = []
    for name in names:
        try:
            with open(os.path.join(status_dir, name), encoding="utf-8") as f:
                record = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("record_schema") == SCHEMA:
            records.append(record)
    return records


def new_record(kind, host, instance, plan, trigger, started, status=None, **extra):
    """A run record that starts at ``started`` (a datetime): every record_schema 1 key, none filled in yet but
    these; ``extra`` adds a kind's own keys (a drill's ``source``, ``rto_s``, ``checks``)."""
    record = {"record_schema": SCHEMA, "kind": kind, "host": host, "instance": instance, "plan": plan,
              "trigger": trigger, "check_mode": False, "started": started.isoformat(), "finished": None,
              "duration_s": None, "status": status, "summary": "", "error": None, "warnings": [], "snapshot": None,
              "local": None, "targets": [], "last_success": None, "notifications": []}
    record.update(extra)
    return record


def event_of(record):
    """The notification event of a finished run: ``success``, ``warning`` or ``failure``."""
    return EVENTS.get(record.get("status"), "failure")
