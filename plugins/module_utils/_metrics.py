# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prometheus metrics of the run records, for node_exporter's textfile collector: every record of the status
directory rendered to ``<metrics_dir>/sage_open_webui_backup.prom`` (temp file + rename, 0644), after each run.
Every value is a field of a record; the metric list is in docs/METRICS.md.

Labels: ``openwebui`` (the instance), ``plan`` (``drill`` for drills, ``pull`` for a backup server's pulls),
``target``, and ``host`` on records about another host (pulls, and drills of another host's snapshots).

Plain Python, no Ansible imports. This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import datetime
import fcntl
import os
import tempfile

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _runlog
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import fsync_path

FILE_NAME = "sage_open_webui_backup.prom"
STATUS_CODES = {"ok": 0, "warning": 1, "failed": 2}


def _epoch(text):
    """Seconds since the epoch of an ISO time; 0 for none (never succeeded: an age alert fires)."""
    if not text:
        return 0
    when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when.timestamp()


def _get(record, section, key):
    return (record.get(section) or {}).get(key)


# name, help, value of one record (None: no sample)
RUN_METRICS = (
    ("owb_last_run_status", "Result of the last run: 0 ok, 1 warning (ok with warnings), 2 failed.",
     lambda r: STATUS_CODES.get(r.get("status"), 2)),
    ("owb_last_run_timestamp_seconds", "When the last run finished (Unix time).", lambda r: _epoch(r.get("finished"))),
    ("owb_last_run_duration_seconds", "How long the last run took.", lambda r: r.get("duration_s")),
    ("owb_last_success_timestamp_seconds", "When the last ok or warning run finished (Unix time; 0: never).",
     lambda r: _epoch(r.get("last_success"))),
    ("owb_snapshot_bytes", "Size of the last run's snapshot.", lambda r: _get(r, "snapshot", "bytes")),
    ("owb_snapshot_new_bytes", "Bytes the last run's snapshot added (not shared with the previous one).",
     lambda r: _get(r, "snapshot", "new_bytes")),
    ("owb_snapshot_freeze_seconds", "How long the last snapshot held Open WebUI's writes.",
     lambda r: _get(r, "snapshot", "freeze_s")),
    ("owb_snapshot_downtime_seconds", "How long the last snapshot stopped Open WebUI.",
     lambda r: _get(r, "snapshot", "downtime_s")),
    ("owb_local_snapshots", "Snapshots in the local repository (a backup server's copies for a pull).",
     lambda r: _get(r, "local", "count")),
    ("owb_local_newest_snapshot_timestamp_seconds", "When the newest local snapshot was taken (Unix time).",
     lambda r: _epoch(_get(r, "local", "newest_created")) if _get(r, "local", "newest_created") else None),
    ("owb_drill_rto_seconds", "Restore time of the last drill (from the start to a healthy app).",
     lambda r: r.get("rto_s")),
)
TARGET_METRICS = (
    ("owb_target_ok", "1 when the last run's copy to the target succeeded, else 0.",
     lambda t: 1 if t.get("status") == "ok" else 0),
    ("owb_target_bytes_sent", "Bytes the last run sent to the target.", lambda t: t.get("bytes_sent")),
)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _labels(pairs):
    def esc(value):
        return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return "{%s}" % ",".join('%s="%s"' % (k, esc(v)) for k, v in pairs)


def _record_labels(record):
    pairs = [("openwebui", record.get("instance")), ("plan", record.get("plan"))]
    return pairs + ([("host", record.get("host"))] if _runlog.of_other_host(record) else [])


def render(records):
    """The text exposition of ``records`` (HELP and TYPE lines, then one sample per record, target...)."""
    samples = {}
    for record in records:
        labels = _record_labels(record)
        for name, _help, value_of in RUN_METRICS:
            samples.setdefault(name, []).append((labels, value_of(record)))
        for target in record.get("targets") or []:
            for name, _help, value_of in TARGET_METRICS:
                samples.setdefault(name, []).append((labels + [("target", target.get("name"))], value_of(target)))
    lines = []
    for name, text, _value_of in RUN_METRICS + TARGET_METRICS:
        present = [(labels, value) for labels, value in samples.get(name, []) if _is_number(value)]
        if present:
            lines += ["# HELP %s %s" % (name, text), "# TYPE %s gauge" % name]
            lines += ["%s%s %r" % (name, _labels(labels), value) for labels, value in present]
    return "\n".join(lines) + "\n" if lines else ""


def _with_counts(records, snapshot_counts):
    """The records with ``local.count`` replaced by ``snapshot_counts[instance]`` (the count after a prune)."""
    for record in records:
        if record.get("kind") != "pull" and record.get("instance") in snapshot_counts:
            record["local"] = dict(record.get("local") or {}, count=snapshot_counts[record["instance"]])
    return records


def _write(metrics_dir, text):
    path = os.path.join(metrics_dir, FILE_NAME)
    fd, tmp = tempfile.mkstemp(dir=metrics_dir, prefix="." + FILE_NAME + ".", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_path(metrics_dir)
    return path


def refresh(status_dir, metrics_dir, snapshot_counts=None):
    """Render every record of ``status_dir`` to ``<metrics_dir>/sage_open_webui_backup.prom``; returns
    ``(path, None)``, ``(None, error)`` (never raises), or ``(None, None)`` when ``metrics_dir`` is empty (off).
    ``snapshot_counts``: ``{instance: count}`` of the local repositories after a prune, when known."""
    if not metrics_dir:
        return None, None
    try:
        with open(os.path.join(metrics_dir, "." + FILE_NAME + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two instances finishing together: the last to write reads both
            return _write(metrics_dir, render(_with_counts(_runlog.read_all(status_dir), snapshot_counts or {}))), None
    except (OSError, ValueError, TypeError) as e:
        return None, "cannot write the metrics file in %s: %s (check metrics_dir: node_exporter's textfile directory)" % (
            metrics_dir, getattr(e, "strerror", None) or e)
