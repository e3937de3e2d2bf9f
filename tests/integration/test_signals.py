# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Notifications end to end through real receivers on 127.0.0.1 (tests/testbed/receiver.py, run as the script
Molecule runs): a JSON webhook, Apprise ``json://`` through Debian's real ``apprise`` command, healthchecks-style
pings, email through SMTP. A failing run sends start then failure; a successful one start then success.
Then the records' metrics file, parsed by prometheus_client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _metrics, _notify, _runlog

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECEIVER = os.path.join(REPO, "tests", "testbed", "receiver.py")


@pytest.fixture
def receivers(tmp_path):
    """receiver.py as a process: {"http": url, "smtp": port, "log": path}."""
    ports, log = tmp_path / "ports.json", tmp_path / "log.jsonl"
    proc = subprocess.Popen([sys.executable, RECEIVER, "--port-file", str(ports), "--log", str(log)])
    try:
        deadline = time.monotonic() + 10
        while not ports.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "receiver.py did not start"
            time.sleep(0.05)
        port = json.loads(ports.read_text())
        yield {"http": "http://127.0.0.1:%d" % port["http"], "smtp": port["smtp"], "log": log}
    finally:
        proc.terminate()
        proc.wait(10)


def seen(receivers):
    if not receivers["log"].exists():
        return []
    return [json.loads(line) for line in receivers["log"].read_text().splitlines()]


def notifiers(receivers, tag):
    return _notify.normalize([
        {"name": "hook", "type": "webhook", "url": "%s/hook/%s" % (receivers["http"], tag),
         "events": ["failure", "success"]},
        {"name": "apprise", "type": "apprise", "url": "%s/apprise/%s" % (receivers["http"].replace("http", "json", 1), tag),
         "events": ["failure", "success"]},
        {"name": "hc", "type": "healthchecks", "url": "%s/hc/%s" % (receivers["http"], tag)},
        {"name": "mail", "type": "email", "smtp_host": "127.0.0.1", "smtp_port": receivers["smtp"],
         "to": ["ops@example.com"], "events": ["failure", "success"]},
    ])


def run(status_dir, notify, status):
    """What a job does around a run: start, record, then the end event."""
    record = {"record_schema": 1, "kind": "backup", "host": "web1", "instance": "open-webui", "plan": "daily",
              "trigger": "timer", "check_mode": False, "started": "2026-12-02T03:00:00+00:00"}
    start = _notify.send(notify, "start", record)
    record.update(status=status, finished="2026-12-02T03:00:09+00:00", duration_s=9.0, error=None, warnings=[],
                  summary="daily backup of open-webui: %s" % status, snapshot=None, local=None, targets=[])
    _runlog.write(status_dir, record)
    end = _notify.send(notify, _runlog.event_of(record), record)
    return start, end


@pytest.mark.parametrize("status, event, ping", [("failed", "failure", "/fail"), ("ok", "success", "")])
def test_start_then_end_through_real_receivers(receivers, tmp_path, status, event, ping):
    if not shutil.which("apprise"):
        pytest.fail("the apprise command is missing: run tests/testbed/tools.sh (apt-get install apprise)")
    start, end = run(str(tmp_path / "status"), notifiers(receivers, status), status)
    assert [(o["name"], o["ok"], o["error"]) for o in start] == [("hc", True, None)]
    assert [(o["name"], o["ok"], o["error"]) for o in end] == [(n, True, None) for n in ("hook", "apprise", "hc", "mail")]
    entries = seen(receivers)
    http = [(e["path"], e["json"]) for e in entries if e["kind"] == "http"]
    assert [p for p, _body in http if p.startswith("/hc/")] == ["/hc/%s/start" % status, "/hc/%s%s" % (status, ping)]
    title = "web1/open-webui daily: backup %s" % status
    (hook,) = [j for p, j in http if p == "/hook/" + status]
    assert (hook["event"], hook["status"], hook["title"]) == (event, status, title)
    (apprise,) = [j for p, j in http if p == "/apprise/" + status]
    assert (apprise["title"], apprise["message"], apprise["type"]) == (title, "daily backup of open-webui: " + status, event)
    (mail,) = [e for e in entries if e["kind"] == "smtp"]
    assert (mail["subject"], mail["to"]) == (title, ["ops@example.com"])


def test_the_metrics_file_parses_and_equals_the_records(tmp_path):
    parser = pytest.importorskip("prometheus_client.parser")
    status_dir = str(tmp_path / "status")
    run(status_dir, [], "ok")
    run(status_dir, [], "failed")
    path, error = _metrics.refresh(status_dir, str(tmp_path))
    assert error is None
    (record,) = _runlog.read_all(status_dir)
    with open(path, encoding="utf-8") as f:
        samples = {s.name: s.value for family in parser.text_string_to_metric_families(f.read()) for s in family.samples}
    assert samples == {"owb_last_run_status": 2, "owb_last_run_duration_seconds": record["duration_s"],
                       "owb_last_run_timestamp_seconds": 1796180409.0,
                       "owb_last_success_timestamp_seconds": 1796180409.0}
    assert record["last_success"] == record["finished"] == "2026-12-02T03:00:09+00:00"
