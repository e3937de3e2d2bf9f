# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/backup.yml and playbooks/status.yml on a fleet of three inventory hosts, as test_restore_playbook.py
runs playbooks: web1 (the Open WebUI 0.12.4 fixture as a plain data directory) backs up, web2 (its data directory
missing) fails, web3 cannot be reached (ssh to a closed port); per-host and per-group variables in one inventory.

backup.yml: the job runs in the background with progress lines, the play ends with one table naming every host and
its result, and the failed and unreachable hosts fail after it; with fleet_serial=1 and
fleet_max_fail_percentage=0 the run stops after web2 and the table says web3 was not reached.
status.yml: every host's records (written by hand in the record format) and snapshots make the table, status.json
and status.html, which opens in headless Chromium with every host and plan, web2 marked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile

import pytest

pytest.importorskip("ansible")

from engine import ROOT, collections_root  # noqa: E402
from test_status_page import CHROMIUM, Rows, chromium  # noqa: E402
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import default_host  # noqa: E402
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils import fleet_records  # noqa: E402

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "openwebui-0.12.4", "data.tar.gz")


@pytest.fixture
def fleet(tmp_path):
    data = tmp_path / "srv" / "data"
    data.mkdir(parents=True)
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(str(data), filter="fully_trusted") if hasattr(tarfile, "data_filter") else tar.extractall(str(data))
    local = "ansible_connection=local ansible_python_interpreter=%s" % sys.executable
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("\n".join([
        "[openwebui]",
        "web1 %s backup_data_dir=%s backup_repository=%s/repo1 backup_status_dir=%s/status1" % (local, data, tmp_path, tmp_path),
        "web2 %s backup_data_dir=%s/missing backup_repository=%s/repo2 backup_status_dir=%s/status2"
        % (local, tmp_path, tmp_path, tmp_path),
        "web3 ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh",
        "[backup_server]",
        "nas %s backup_status_dir=%s/status-nas" % (local, tmp_path),
        "[openwebui:vars]",
        "backup_mode=hot",
        "backup_instance=owui",
        "backup_poll=1", ""]))
    return {"tmp": tmp_path, "inventory": str(inventory)}


def _playbook(fleet, name, *args, env_extra=None):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", **(env_extra or {}))
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", fleet["inventory"],
           os.path.join(ROOT, "playbooks", name)] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(fleet["tmp"]), timeout=900, check=False)


def _tables(out):
    """The lines of each end table printed (the debug task 'Backup of the fleet')."""
    tables = []
    for chunk in out.split("TASK [Backup of the fleet]")[1:]:
        body = chunk[chunk.index("=> {"):chunk.index("\n}\n") + 2]
        tables.append(json.loads(body[3:])["msg"])
    return tables


def _row(table, host):
    return [line for line in table if line.split()[1:2] == [host]][0]


def test_backup_fleet_progress_then_one_table_and_failed_hosts_fail(fleet):
    r = _playbook(fleet, "backup.yml", "--limit", "openwebui", env_extra={"OWB_FAILPOINTS": "thawed=sleep:3"})
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-4000:]
    assert "ASYNC POLL on web1" in out and "ASYNC OK on web1" in out, out[-4000:]  # progress while the job runs
    tables = _tables(r.stdout)
    assert len(tables) == 1, out[-4000:]
    table = tables[0]
    web1 = _row(table, "web1")
    snapshot = [n for n in os.listdir(str(fleet["tmp"] / "repo1" / default_host() / "owui")) if n[0].isdigit()]
    assert web1.split()[0] in ("green", "amber") and snapshot[0] in web1 and "MiB" in web1, table
    assert _row(table, "web2").startswith("red") and "failed" in _row(table, "web2") and "data directory" in _row(table, "web2")
    assert _row(table, "web3").startswith("red") and "unreachable" in _row(table, "web3")
    recap = out[out.index("PLAY RECAP"):]
    assert "web1" in recap and [l for l in recap.splitlines() if l.startswith("web1")][0].count("failed=0") == 1
    assert "failed=1" in [l for l in recap.splitlines() if l.startswith("web2")][0]
    assert "failed=1" in [l for l in recap.splitlines() if l.startswith("web3")][0]


def test_serial_and_max_fail_percentage_stop_the_run_and_the_table_says_so(fleet):
    r = _playbook(fleet, "backup.yml", "--limit", "openwebui", "-e", "fleet_serial=1", "-e",
                  "fleet_max_fail_percentage=0")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-4000:]
    tables = _tables(r.stdout)
    assert len(tables) == 2, out[-4000:]  # batch web1, batch web2, then the run stopped
    assert "not run" in _row(tables[0], "web2") and "not run" in _row(tables[0], "web3")
    last = tables[-1]
    assert "failed" in _row(last, "web2") and "not run" in _row(last, "web3") and "later batch" in _row(last, "web3")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium missing: run tests/testbed/tools.sh")
def test_status_playbook_reports_every_host_and_the_page_marks_the_broken_one(fleet):
    pytest.importorskip("ansible_collections.sage_open_webui.backup.plugins.module_utils._runlog",
                        reason="the run records' reader (_runlog) comes with the notifications part")
    assert _playbook(fleet, "backup.yml", "--limit", "web1").returncode == 0
    tmp = fleet["tmp"]
    rec = fleet_records.record
    now = fleet_records.datetime.datetime.now(fleet_records.UTC)
    fleet_records.write_records(str(tmp / "status1"), [rec(host="web1", instance="owui", hours_ago=0.1, now=now,
                                                           repository=str(tmp / "repo1"))])
    fleet_records.write_records(str(tmp / "status2"), [rec(host="web2", instance="owui", status="failed", now=now,
                                                           error="data directory missing", last_success_ago=80)])
    fleet_records.write_records(str(tmp / "status-nas"), [rec(host="web1", instance="owui", kind="pull", plan="pull",
                                                              hours_ago=2, now=now)])
    dry = _playbook(fleet, "status.yml", "--check", "-e", "status_report_dir=report")
    assert dry.returncode == 0 and not (tmp / "report").exists(), (dry.stdout + dry.stderr)[-4000:]
    r = _playbook(fleet, "status.yml", "-e", "status_report_dir=report")  # relative: below the current directory
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    doc = json.loads((tmp / "report" / "status.json").read_text())
    rows = {(row["host"], row["plan"]): row for row in doc["rows"]}
    # web1's own run record (plan default, from the backup.yml run above) beside the ones written here
    assert set(rows) == {("web1", "default"), ("web1", "daily"), ("web2", "daily"), ("web3", "-"), ("web1", "pull")}, rows.keys()
    assert rows[("web1", "daily")]["colour"] == "green" and rows[("web1", "daily")]["newest"] is not None
    assert rows[("web1", "default")]["status"] in ("ok", "warning") and rows[("web1", "default")]["colour"] != "red"
    assert rows[("web2", "daily")]["colour"] == "red" and rows[("web3", "-")]["status"] == "unreachable"
    assert "Failed to connect" in rows[("web3", "-")]["error"]
    assert rows[("web1", "pull")]["via"] == "nas"
    assert "web2 daily failed data directory missing" in out  # the json_query attention list
    page = "file://%s" % (tmp / "report" / "status.html")
    parsed = Rows()
    parsed.feed(chromium("--dump-dom", page))
    marks = {(h, p): c for h, p, s, c in parsed.rows}
    assert set(marks) == set(rows) and marks[("web2", "daily")] == "red" and marks[("web1", "daily")] == "green"
