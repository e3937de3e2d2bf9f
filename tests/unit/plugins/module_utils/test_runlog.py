# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the run records: paths, last_success carried over, reading them back, events."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _runlog
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, default_host


def record(status="ok", finished="2026-12-02T03:00:10+00:00", **kw):
    base = {"record_schema": 1, "kind": "backup", "host": "web1", "instance": "open-webui", "plan": "daily",
            "status": status, "started": "2026-12-02T03:00:00+00:00", "finished": finished}
    base.update(kw)
    return base


def test_record_path():
    assert _runlog.record_path("/s", "open-webui", "daily") == "/s/open-webui@daily.json"


def test_write_paths_and_modes(tmp_path):
    status_dir = str(tmp_path / "status")
    path = _runlog.write(status_dir, record())
    assert path == os.path.join(status_dir, "open-webui@daily.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(status_dir).st_mode) == 0o700
    pull = _runlog.write(status_dir, record(kind="pull", plan="pull", host="web2"))
    assert pull == os.path.join(status_dir, "web2.open-webui@pull.json")
    drill = _runlog.write(status_dir, record(kind="drill", plan="drill", host=default_host()))
    assert drill == os.path.join(status_dir, "open-webui@drill.json")


def test_drills_of_other_hosts_on_a_backup_server_keep_a_file_each(tmp_path):
    """Every host's instance is called open-webui by default: one drill file per host, not one for all."""
    paths = {_runlog.write(str(tmp_path), record(kind="drill", plan="drill", host=h)) for h in ("web1", "web2")}
    assert paths == {str(tmp_path / "web1.open-webui@drill.json"), str(tmp_path / "web2.open-webui@drill.json")}
    assert sorted(r["host"] for r in _runlog.read_all(str(tmp_path))) == ["web1", "web2"]


def test_last_success_carried_over(tmp_path):
    d = str(tmp_path)
    path = _runlog.write(d, record(status="failed", finished="T0"))
    assert json.load(open(path))["last_success"] is None
    _runlog.write(d, record(status="warning", finished="T1"))
    assert json.load(open(path))["last_success"] == "T1"
    _runlog.write(d, record(status="failed", finished="T2"))
    _runlog.write(d, record(status="failed", finished="T3"))
    saved = json.load(open(path))
    assert (saved["finished"], saved["last_success"]) == ("T3", "T1")
    _runlog.write(d, record(status="ok", finished="T4"))
    assert json.load(open(path))["last_success"] == "T4"
    # another plan's file is its own history
    other = _runlog.write(d, record(status="failed", plan="weekly"))
    assert json.load(open(other))["last_success"] is None


def test_write_error_is_a_backup_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BackupError, match="cannot write the run record"):
        _runlog.write(str(blocker / "status"), record())


def test_read_all_sorted_and_skips_others(tmp_path):
    d = str(tmp_path)
    _runlog.write(d, record(plan="weekly"))
    _runlog.write(d, record(plan="daily"))
    (tmp_path / "broken@x.json").write_text("{not json")
    (tmp_path / "old@y.json").write_text(json.dumps({"status": "ok"}))
    (tmp_path / "open-webui-daily.json").write_text(json.dumps(record()))  # an older status file
    (tmp_path / "list@z.json").write_text("[1]")
    assert [r["plan"] for r in _runlog.read_all(d)] == ["daily", "weekly"]
    assert _runlog.read_all(str(tmp_path / "missing")) == []


@pytest.mark.parametrize("status, event", [("ok", "success"), ("warning", "warning"), ("failed", "failure"),
                                           (None, "failure")])
def test_event_of(status, event):
    assert _runlog.event_of({"status": status}) == event
