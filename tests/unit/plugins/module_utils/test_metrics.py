# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the metrics file: parsed with prometheus_client's own text parser, every value compared with
the run records it came from; the file's mode, atomic replacement and the errors it returns instead of raising."""

from __future__ import annotations

import datetime
import os
import stat

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _metrics, _runlog
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import default_host

parser = pytest.importorskip("prometheus_client.parser", reason="prometheus-client (requirements-test.txt)")


def iso(text):
    return datetime.datetime.fromisoformat(text).timestamp()


def sample_records():
    """A daily plan that went well, a weekly plan that failed without a snapshot, a drill, a pull."""
    base = {"record_schema": 1, "host": "web1", "instance": "open-webui", "trigger": "timer", "check_mode": False,
            "started": "2026-12-02T03:00:00+00:00", "summary": "x", "error": None, "warnings": [],
            "notifications": []}
    daily = dict(base, kind="backup", plan="daily", status="ok", finished="2026-12-02T03:00:12.5+00:00",
                 duration_s=12.5, snapshot={"id": "20261202T030000Z", "bytes": 123456789, "new_bytes": 4567,
                                            "freeze_s": 0.12, "downtime_s": 0.0, "files": 9},
                 local={"count": 5, "newest_id": "20261202T030000Z", "newest_created": "2026-12-02T03:00:01+00:00"},
                 targets=[{"name": "s3", "type": "s3", "status": "ok", "bytes_sent": 4600, "error": None},
                          {"name": "b2", "type": "s3", "status": "failed", "bytes_sent": 0, "error": "denied"}])
    weekly = dict(base, kind="backup", plan="weekly", status="failed", finished="2026-12-02T04:00:00+00:00",
                  duration_s=3, snapshot=None, local=None, targets=[], error="the disk is full")
    drill = dict(base, kind="drill", plan="drill", host=default_host(), status="warning", finished="2026-12-02T05:00:41+00:00",
                 duration_s=41.2, rto_s=41.2, source="s3", snapshot={"id": "20261202T030000Z"}, targets=[])
    pull = dict(base, kind="pull", plan="pull", host="web2", status="ok", finished="2026-12-02T06:00:00+00:00",
                duration_s=7.0, snapshot={"id": "20261202T030000Z", "bytes": 999, "new_bytes": 10},
                local={"count": 8, "newest_created": "2026-12-02T03:00:02+00:00"}, targets=[])
    nas_drill = dict(drill, host="web2", status="ok", rto_s=30.5)  # on a backup server: a drill of web2's snapshots
    return [daily, weekly, drill, nas_drill, pull]


def parse(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    return text, {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}


def expected_values(records):
    """What the file must hold, taken from the records field by field (not through _metrics)."""
    codes = {"ok": 0, "warning": 1, "failed": 2}
    want = {}
    for r in records:
        labels = {"openwebui": r["instance"], "plan": r["plan"]}
        if r["kind"] == "pull" or (r["kind"] == "drill" and r["host"] != default_host()):
            labels["host"] = r["host"]  # about another host: a pull, a drill of its snapshots on a backup server

        def put(name, value, extra=None):
            want[(name, tuple(sorted(dict(labels, **(extra or {})).items())))] = float(value)
        put("owb_last_run_status", codes[r["status"]])
        put("owb_last_run_timestamp_seconds", iso(r["finished"]))
        put("owb_last_run_duration_seconds", r["duration_s"])
        put("owb_last_success_timestamp_seconds", iso(r["last_success"]) if r["last_success"] else 0)
        snap, local = r.get("snapshot") or {}, r.get("local") or {}
        for name, key in (("bytes", "bytes"), ("new_bytes", "new_bytes"), ("freeze_seconds", "freeze_s"),
                          ("downtime_seconds", "downtime_s")):
            if key in snap:
                put("owb_snapshot_" + name, snap[key])
        if "count" in local:
            put("owb_local_snapshots", local["count"])
        if local.get("newest_created"):
            put("owb_local_newest_snapshot_timestamp_seconds", iso(local["newest_created"]))
        if "rto_s" in r:
            put("owb_drill_rto_seconds", r["rto_s"])
        for t in r["targets"]:
            put("owb_target_ok", t["status"] == "ok", {"target": t["name"]})
            put("owb_target_bytes_sent", t["bytes_sent"], {"target": t["name"]})
    return want


def test_every_value_equals_the_records(tmp_path):
    status_dir, metrics_dir = str(tmp_path / "status"), str(tmp_path / "metrics")
    os.makedirs(metrics_dir)
    for record in sample_records():
        _runlog.write(status_dir, record)
    path, error = _metrics.refresh(status_dir, metrics_dir)
    assert error is None and path == os.path.join(metrics_dir, "sage_open_webui_backup.prom")
    text, values = parse(path)
    records = _runlog.read_all(status_dir)
    assert values == expected_values(records)
    assert values[("owb_target_ok", (("openwebui", "open-webui"), ("plan", "daily"), ("target", "b2")))] == 0
    assert values[("owb_last_success_timestamp_seconds", (("openwebui", "open-webui"), ("plan", "weekly")))] == 0
    for name in {key[0] for key in values}:
        assert "# HELP %s " % name in text and "# TYPE %s gauge\n" % name in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert [n for n in os.listdir(metrics_dir) if not n.startswith(".")] == ["sage_open_webui_backup.prom"]


def test_a_failed_run_keeps_the_last_success_time(tmp_path):
    daily = sample_records()[0]
    _runlog.write(str(tmp_path), dict(daily))
    _runlog.write(str(tmp_path), dict(daily, status="failed", finished="2026-12-03T03:00:00+00:00"))
    _text, values = parse(_metrics.refresh(str(tmp_path), str(tmp_path))[0])
    labels = (("openwebui", "open-webui"), ("plan", "daily"))
    assert values[("owb_last_success_timestamp_seconds", labels)] == iso(daily["finished"])
    assert values[("owb_last_run_status", labels)] == 2


def test_snapshot_counts_override_the_local_count(tmp_path):
    for record in sample_records():
        _runlog.write(str(tmp_path), record)
    _text, values = parse(_metrics.refresh(str(tmp_path), str(tmp_path), {"open-webui": 3})[0])
    assert values[("owb_local_snapshots", (("openwebui", "open-webui"), ("plan", "daily")))] == 3
    assert values[("owb_local_snapshots", (("host", "web2"), ("openwebui", "open-webui"), ("plan", "pull")))] == 8


def test_label_values_are_escaped(tmp_path):
    record = dict(sample_records()[0], instance='we"ird\\name\nx', targets=[])
    text = _metrics.render([dict(record, last_success=None)])
    families = list(parser.text_string_to_metric_families(text))
    assert families[0].samples[0].labels["openwebui"] == 'we"ird\\name\nx'


def test_replaces_the_file_atomically(tmp_path, monkeypatch):
    _runlog.write(str(tmp_path), sample_records()[0])
    old = tmp_path / "sage_open_webui_backup.prom"
    old.write_text("# the previous file\n")
    monkeypatch.setattr(_metrics.os, "replace", lambda *a: (_x for _x in ()).throw(OSError(28, "No space left")))
    path, error = _metrics.refresh(str(tmp_path), str(tmp_path))
    assert path is None and "No space left" in error and "metrics_dir" in error
    assert old.read_text() == "# the previous file\n"
    assert [n for n in os.listdir(str(tmp_path)) if n.endswith(".tmp")] == []


def test_off_and_missing_directory(tmp_path):
    assert _metrics.refresh(str(tmp_path), "") == (None, None)
    path, error = _metrics.refresh(str(tmp_path), str(tmp_path / "missing"))
    assert path is None and "No such file or directory" in error


def test_no_records_gives_an_empty_file(tmp_path):
    path, error = _metrics.refresh(str(tmp_path / "none"), str(tmp_path))
    assert error is None and open(path).read() == ""


def test_docs_list_every_metric_and_the_rules_name_only_real_ones():
    import re
    import yaml
    docs = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "docs")
    names = {m[0] for m in _metrics.RUN_METRICS + _metrics.TARGET_METRICS}
    with open(os.path.join(docs, "METRICS.md"), encoding="utf-8") as f:
        listed = set(re.findall(r"^\| `(owb_\w+)` \|", f.read(), re.M))
    assert listed == names
    with open(os.path.join(docs, "alerts.yml"), encoding="utf-8") as f:
        rules = yaml.safe_load(f)["groups"][0]["rules"]
    used = {n for rule in rules for n in re.findall(r"owb_\w+", rule["expr"])}
    assert used and used <= names
    assert [r["alert"] for r in rules] == ["OpenWebUINoVerifiedBackup", "OpenWebUIBackupTargetFailing",
                                           "OpenWebUIRestoreDrillFailing"]
