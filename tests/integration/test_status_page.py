# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet status page in a real headless Chromium (tests/testbed/tools.sh installs it): rendered from the run
records of a healthy host, a broken host, an unreachable one and a backup server's pull, every host and plan
must be in the DOM Chromium builds, the broken host's row marked red, and nothing loaded from outside.
OWB_UPDATE_SCREENSHOT=1 copies the screenshot to docs/img/status-page.png (the one in docs/FLEET.md)."""

from __future__ import annotations

import datetime
import html.parser
import os
import shutil
import subprocess

import pytest

from engine import ROOT  # noqa: E402
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _fleet_page  # noqa: E402
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils import fleet_records  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium missing: run tests/testbed/tools.sh")


class Rows(html.parser.HTMLParser):
    """The fleet table's rows (their data-* attributes and class) and every text of the DOM."""

    def __init__(self):
        super().__init__()
        self.rows, self.text = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-host" in attrs:
            self.rows.append((attrs["data-host"], attrs["data-plan"], attrs["data-status"], attrs["class"]))
        if tag in ("script", "img", "link", "iframe"):
            self.text.append("<%s>" % tag)

    def handle_data(self, data):
        self.text.append(data)


def chromium(*args, timeout=120):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,900",
           "--user-data-dir=%s" % args[-1].rsplit("/", 1)[0].replace("file://", "") + "/chromium-profile"]
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def snapshots(instance, now, hours, start_bytes):
    return [{"instance": instance, "id": (now - datetime.timedelta(hours=h)).strftime("%Y%m%dT%H%M%SZ"),
             "created": (now - datetime.timedelta(hours=h)).isoformat(), "bytes": start_bytes + 3000000 * i,
             "verified": True} for i, h in enumerate(hours)]


def fleet(now):
    """A healthy host with two plans, a broken host, a host that did not answer, the backup server's pull."""

    def rec(**kw):
        return fleet_records.record(now=now, **kw)

    return [
        {"host": "web1.example.net", "records": [rec(host="web1.example.net", plan="daily", hours_ago=5),
                                                 rec(host="web1.example.net", plan="weekly", hours_ago=60,
                                                     targets=(("nas", "ok"),))],
         "snapshots": snapshots("open-webui", now, [24 * d + 5 for d in range(9, -1, -1)], 62000000)},
        {"host": "web2.example.net", "records": [rec(host="web2.example.net", plan="daily", status="failed",
                                                     hours_ago=2, last_success_ago=74,
                                                     error="pause failed: the container open-webui is restarting. "
                                                           "Fix: check docker logs open-webui, then run again",
                                                     targets=(("s3", "failed"), ("b2", "failed")))],
         "snapshots": snapshots("open-webui", now, [24 * d + 2 for d in range(9, 2, -1)], 41000000)},
        {"host": "web3.example.net", "reachable": False,
         "error": "Failed to connect to the host via ssh: ssh: connect to host web3.example.net port 22: "
                  "No route to host"},
        {"host": "nas", "records": [rec(host="web1.example.net", kind="pull", plan="pull", hours_ago=30)],
         "snapshots": []},
    ]


def test_status_page_in_headless_chromium(tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    page = str(tmp_path / "status.html")
    out = _fleet_page.report(fleet(now), html_path=page, plan_fresh_hours={"weekly": 170}, now=now)
    expected = {(r["host"], r["plan"]) for r in out["rows"]}
    assert len(expected) == 5

    dom = chromium("--dump-dom", "file://" + page)
    parsed = Rows()
    parsed.feed(dom)
    assert {(h, p) for h, p, s, c in parsed.rows} == expected, parsed.rows
    marks = {(h, p): (s, c) for h, p, s, c in parsed.rows}
    assert marks[("web2.example.net", "daily")] == ("failed", "red")
    assert marks[("web3.example.net", "-")] == ("unreachable", "red")
    assert marks[("web1.example.net", "daily")] == ("ok", "green")
    text = " ".join(parsed.text)
    assert "pause failed: the container open-webui is restarting" in text and "<script>" not in text
    assert dom.count("<svg") == 2  # a chart per host with listed snapshots, drawn inline

    shot = str(tmp_path / "status.png")
    chromium("--screenshot=%s" % shot, "file://" + page)
    with open(shot, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(head[16:20], "big") == 1280, head
    assert os.path.getsize(shot) > 20000  # a rendered page, not a blank one
    if os.environ.get("OWB_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, os.path.join(ROOT, "docs", "img", "status-page.png"))
