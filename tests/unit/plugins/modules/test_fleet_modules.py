# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""backup_status (in this process, with the stand-in run-record reader) and fleet_report (as Ansible runs it,
its own process): their options, check mode, what they return and write."""

from __future__ import annotations

import datetime
import importlib
import json
import os

import pytest

pytest.importorskip("ansible.module_utils.basic", reason="the modules import AnsibleModule")

from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.sage_open_webui.backup.tests import module_runner  # noqa: E402
from ansible_collections.sage_open_webui.backup.tests.tree import tree_state  # noqa: E402
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.fleet_records import (  # noqa: E402
    NOW, fake_runlog, record, write_records)
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.modules.test_snapshot_info import (  # noqa: E402
    FILES, write_snapshot)


def _backup_status(monkeypatch, capsys, args):
    fake_runlog(monkeypatch)
    module = importlib.import_module("ansible_collections.sage_open_webui.backup.plugins.modules.backup_status")
    with patch_module_args(args), pytest.raises(SystemExit) as exit_:
        module.main()
    return exit_.value.code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("check_mode", [False, True])
def test_backup_status_returns_records_and_snapshots_and_changes_nothing(tmp_path, monkeypatch, capsys, check_mode):
    repo = str(tmp_path / "repo")
    write_snapshot(repo, NOW - datetime.timedelta(hours=3), FILES, host="web1")
    write_records(str(tmp_path / "status"), [record(repository=repo), record(plan="weekly", status="failed", error="x")])
    before = tree_state(str(tmp_path))
    rc, out = _backup_status(monkeypatch, capsys, {"status_dir": str(tmp_path / "status"), "host": "web1",
                                                   "_ansible_check_mode": check_mode})
    assert rc == 0 and out["changed"] is False, out
    assert [r["plan"] for r in out["records"]] == ["daily", "weekly"] and len(out["snapshots"]) == 1
    assert out["snapshots"][0]["verified"] is True and out["targets"][0]["name"] == "s3"
    assert tree_state(str(tmp_path)) == before


def test_backup_status_refuses_a_relative_repository(tmp_path, monkeypatch, capsys):
    rc, out = _backup_status(monkeypatch, capsys, {"status_dir": str(tmp_path), "repository": "rel"})
    assert rc == 1 and out["failed"] and "Fix:" in out["msg"]


def _hosts():
    return [{"host": "web1", "records": [record()], "snapshots": []},
            {"host": "web2", "records": [record(host="web2", status="failed", error="boom <x>")], "snapshots": []},
            {"host": "web3", "reachable": False, "error": "unreachable"}]


def test_fleet_report_writes_the_files_and_returns_the_table(tmp_path):
    args = {"hosts": _hosts(), "json_path": str(tmp_path / "s.json"), "html_path": str(tmp_path / "s.html")}
    rc, out = module_runner.run_module("fleet_report", args, tmp_path)
    assert rc == 0 and out["changed"] is True, out
    assert out["written"] == [args["json_path"], args["html_path"]]
    assert [(r["status"], r["colour"]) for r in out["rows"]][1:] == [("failed", "red"), ("unreachable", "red")]
    assert out["table"][0].split()[0] == "HOST" and len(out["table"]) == 4
    assert json.load(open(args["json_path"]))["summary"]["hosts"] == 3
    assert "boom &lt;x&gt;" in open(args["html_path"]).read()


def test_fleet_report_check_mode_writes_nothing(tmp_path):
    args = {"hosts": _hosts(), "json_path": str(tmp_path / "s.json"), "_ansible_check_mode": True}
    rc, out = module_runner.run_module("fleet_report", args, tmp_path)
    assert rc == 0 and out["written"] == [] and not os.path.exists(args["json_path"]), out


def test_fleet_report_of_a_backup_run(tmp_path):
    ok = {"snapshot": {"snapshot_id": "20261202T110000Z", "totals": {"bytes": 5}, "timing_ms": {"freeze": 1}},
          "targets": [], "warnings_list": []}
    args = {"backups": [{"host": "web1", "instance": "owui", "result": ok},
                        {"host": "web2", "result": None, "error": "Backup failed: boom"},
                        {"host": "web3", "result": None}]}
    rc, out = module_runner.run_module("fleet_report", args, tmp_path)
    assert rc == 0 and out["changed"] is False and out["written"] == [], out
    assert [(r["host"], r["status"], r["colour"]) for r in out["rows"]] == [
        ("web1", "ok", "green"), ("web2", "failed", "red"), ("web3", "not run", "red")]


def test_fleet_report_wants_hosts_or_backups(tmp_path):
    rc, out = module_runner.run_module("fleet_report", {}, tmp_path)
    assert rc == 1 and "hosts" in out["msg"] and "backups" in out["msg"]
