# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_status.gather (backup_status's work) on a real status directory and repository written by hand: the records,
the snapshots of every repository the records name, the targets' last outcomes; read-only."""

from __future__ import annotations

import datetime
import os

import pytest

from ansible_collections.sage_open_webui.backup.tests.tree import tree_state
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.fleet_records import (
    NOW, fake_runlog, record, write_records)
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.modules.test_snapshot_info import FILES, write_snapshot


@pytest.fixture
def host(tmp_path, monkeypatch):
    status = fake_runlog(monkeypatch)
    repo, other = str(tmp_path / "repo"), str(tmp_path / "other")
    first = write_snapshot(repo, NOW - datetime.timedelta(days=1), FILES, host="web1")[1]
    write_snapshot(repo, NOW, FILES, host="web1", link_from=first)
    write_snapshot(repo, NOW, FILES, host="web1", instance="second", verified=False)
    write_snapshot(other, NOW, FILES, host="web1", instance="legacy")
    status_dir = str(tmp_path / "status")
    write_records(status_dir, [record(plan="daily", repository=repo),
                               record(plan="weekly", status="failed", error="boom", targets=(("nas", "failed"),),
                                      repository=repo),
                               record(instance="second", plan="default", repository=repo, targets=())])
    return status, status_dir, repo, other, tmp_path


def test_gather_reads_records_snapshots_and_targets(host):
    status, status_dir, repo, other, tmp = host
    before = tree_state(str(tmp))
    out = status.gather(status_dir=status_dir, host="web1")
    assert tree_state(str(tmp)) == before
    assert [(r["instance"], r["plan"]) for r in out["records"]] == [("open-webui", "daily"), ("open-webui", "weekly"),
                                                                    ("second", "default")]
    assert [(s["instance"], s["verified"]) for s in out["snapshots"]] == [("open-webui", True), ("open-webui", True),
                                                                          ("second", False)]
    first = out["snapshots"][0]
    assert first["bytes"] == sum(len(c) for c in FILES.values()) and first["repository"] == repo and first["files"] == 3
    assert out["targets"] == [
        {"instance": "open-webui", "plan": "daily", "name": "s3", "type": "s3", "status": "ok", "bytes_sent": 10,
         "error": None, "finished": out["records"][0]["finished"]},
        {"instance": "open-webui", "plan": "weekly", "name": "nas", "type": "s3", "status": "failed", "bytes_sent": 10,
         "error": "HTTP 503", "finished": out["records"][1]["finished"]}]
    assert out["warnings"] == [] and out["changed"] is False


def test_gather_lists_an_extra_repository_and_filters_an_instance(host):
    status, status_dir, repo, other, tmp = host
    out = status.gather(status_dir=status_dir, repository=other, host="web1")
    assert {s["instance"] for s in out["snapshots"]} == {"open-webui", "second", "legacy"}
    out = status.gather(status_dir=status_dir, host="web1", instance="second")
    assert [r["instance"] for r in out["records"]] == ["second"] and [s["instance"] for s in out["snapshots"]] == ["second"]


def test_no_status_dir_is_a_warning_not_a_failure(tmp_path, monkeypatch):
    status = fake_runlog(monkeypatch)
    out = status.gather(status_dir=str(tmp_path / "none"), host="web1")
    assert out["records"] == [] and out["snapshots"] == [] and "no status directory" in out["warnings"][0]
    assert not os.path.exists(str(tmp_path / "none"))


def test_relative_repository_is_refused(tmp_path, monkeypatch):
    status = fake_runlog(monkeypatch)
    with pytest.raises(Exception, match="not absolute"):
        status.gather(status_dir=str(tmp_path), repository="backups")
