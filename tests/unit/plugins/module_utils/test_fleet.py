# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report (_fleet, _fleet_page): rows per host and plan, freshness colours, the table, the JSON
document, the self-contained page (every string escaped), and the rows of a backup run's end table."""

from __future__ import annotations

import datetime
import json
import re

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _fleet, _fleet_page
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.fleet_records import NOW, iso, record

HOUR = datetime.timedelta(hours=1)


def snaps(instance, ages, size=1000):
    return [{"instance": instance, "id": "s%d" % a, "created": iso(a), "bytes": size * (i + 1), "verified": True}
            for i, a in enumerate(ages)]


def fleet():
    """web1 healthy (daily fresh, weekly 30 h old), web2 broken, web3 unreachable, web4 never ran, the NAS pulls."""
    return [
        {"host": "web1", "records": [record(plan="daily", hours_ago=3),
                                     record(plan="weekly", hours_ago=30, targets=(("nas", "ok"),))],
         "snapshots": snaps("open-webui", [75, 51, 27, 3])},
        {"host": "web2", "records": [record(host="web2", status="failed", hours_ago=1, last_success_ago=50,
                                            error="pause failed: container is restarting. Fix: ...",
                                            targets=(("s3", "failed"),))],
         "snapshots": snaps("open-webui", [50])},
        {"host": "web3", "reachable": False, "error": "ssh: connect to host web3 port 22: No route to host"},
        {"host": "web4", "records": [], "snapshots": [], "status_dir": "/var/lib/sage-open-webui-backup"},
        {"host": "nas", "records": [record(host="web1", plan="pull", kind="pull", hours_ago=20)], "snapshots": []},
    ]


def by_key(rows):
    return {(r["host"], r["plan"]): r for r in rows}


def test_one_row_per_host_and_plan_with_the_facts_of_the_records():
    rows = by_key(_fleet.rows(fleet(), NOW))
    assert set(rows) == {("web1", "daily"), ("web1", "weekly"), ("web2", "daily"), ("web3", "-"), ("web4", "-"),
                         ("web1", "pull")}
    daily = rows[("web1", "daily")]
    assert daily["status"] == "ok" and daily["colour"] == "green" and daily["bytes"] == 73400320
    assert daily["freeze_s"] == 0.12 and daily["downtime_s"] == 0.12 and daily["mode"] == "pause"
    assert daily["targets"] == [{"name": "s3", "status": "ok", "error": None}]
    assert daily["newest"] == "s3" and daily["snapshot_age_h"] == 3.0  # newest listed snapshot, not the record
    assert rows[("web1", "weekly")]["colour"] == "amber"
    broken = rows[("web2", "daily")]
    assert broken["colour"] == "red" and broken["status"] == "failed" and broken["error"].startswith("pause failed")
    assert broken["last_success"] == iso(50) and broken["snapshot"] is None and broken["snapshot_age_h"] == 50.0
    assert rows[("web3", "-")]["status"] == "unreachable" and "No route" in rows[("web3", "-")]["error"]
    assert rows[("web4", "-")]["status"] == "no runs" and rows[("web4", "-")]["colour"] == "red"
    pull = rows[("web1", "pull")]
    assert pull["via"] == "nas" and pull["kind"] == "pull" and pull["colour"] == "green"


@pytest.mark.parametrize("status, success_ago, expected", [
    ("ok", 0.5, "green"), ("ok", 25.9, "green"), ("ok", 26.1, "amber"), ("ok", 51.9, "amber"), ("ok", 52.1, "red"),
    ("warning", 1, "amber"), ("failed", 1, "red"), ("ok", None, "red"), ("running", 1, "red"),
])
def test_freshness_colour(status, success_ago, expected):
    last = None if success_ago is None else (NOW - success_ago * HOUR).isoformat()
    assert _fleet.colour(status, last, NOW) == expected


def test_plan_thresholds_and_the_drill_default():
    records = [record(plan="weekly", hours_ago=100), record(plan="drill", kind="drill", hours_ago=100)]
    hosts = [{"host": "w", "records": records}]
    rows = by_key(_fleet.rows(hosts, NOW))
    assert rows[("w", "weekly")]["colour"] == "red" and rows[("w", "drill")]["colour"] == "green"
    rows = by_key(_fleet.rows(hosts, NOW, plan_fresh_hours={"weekly": "170"}))
    assert rows[("w", "weekly")]["colour"] == "green"


def test_table_has_a_line_per_row_and_names_every_host_plan_and_error():
    rows = _fleet.rows(fleet(), NOW)
    lines = _fleet.table(rows, NOW)
    assert len(lines) == len(rows) + 1 and lines[0].split()[:3] == ["HOST", "INSTANCE", "PLAN"]
    web2 = [line for line in lines if " web2 " in line][0]
    assert web2.startswith("red") and "failed" in web2 and "s3 failed" in web2 and "pause failed" in web2
    assert len({line.index("PLAN") if "PLAN" in line else None for line in lines[:1]}) == 1
    assert "web1 (via nas)" in "\n".join(lines)


def test_document_is_json_with_summary():
    doc = _fleet.document(fleet(), NOW)
    assert json.loads(json.dumps(doc)) == doc
    assert doc["summary"] == {"green": 2, "amber": 1, "red": 3, "rows": 6, "hosts": 4, "failed": 3}


def _page(hosts):
    return _fleet_page.render(_fleet.document(hosts, NOW))


def test_page_is_self_contained_and_marks_the_broken_host():
    page = _page(fleet())
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    for forbidden in ("<script", "<link", " src=", "@import", "url("):
        assert forbidden not in page
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"] * page.count("<svg")
    assert '<tr class="red" data-host="web2" data-plan="daily" data-status="failed">' in page
    assert page.count("<svg") == 2  # web1 and web2 listed snapshots
    assert "<polyline" in page and "stroke-dasharray" in page


def test_page_escapes_every_string():
    evil = "<script>alert(1)</script>"
    hosts = [{"host": evil, "records": [record(host=evil, instance='x"><img src=y onerror=alert(2)>', status="failed",
                                               error="<b>boom</b> & more", targets=(("<i>t</i>", "failed"),))],
              "snapshots": snaps('x"><img src=y onerror=alert(2)>', [5, 2])}]
    page = _page(hosts)
    assert "<script" not in page and "<img" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;boom&lt;/b&gt; &amp; more" in page
    assert 'data-host="&lt;script&gt;' in page


def test_chart_draws_size_bars_and_age_saw_tooth():
    svg = _fleet_page.chart("web1", "open-webui", [(NOW - 30 * HOUR, 100, True), (NOW - 6 * HOUR, 200, False)], NOW, 26)
    assert svg.count("<rect") == 2 and 'fill="#a9b0bb"' in svg  # the unverified one is grey
    points = re.search(r'points="([^"]+)"', svg).group(1).split()
    assert len(points) == 4  # 0 -> 24 h at the second snapshot, 0 -> 6 h now
    assert "newest 6.0 h old" in svg


def test_report_writes_json_and_page_not_in_check_mode(tmp_path):
    jp, hp = str(tmp_path / "s.json"), str(tmp_path / "s.html")
    dry = _fleet_page.report(fleet(), jp, hp, check_mode=True, now=NOW)
    assert dry["written"] == [] and not list(tmp_path.iterdir()) and dry["changed"] is True
    out = _fleet_page.report(fleet(), jp, hp, now=NOW)
    assert out["written"] == [jp, hp] and json.load(open(jp))["rows"] == out["rows"]
    assert (tmp_path / "s.json").stat().st_mode & 0o777 == 0o600 and (tmp_path / "s.html").stat().st_mode & 0o777 == 0o644
    with pytest.raises(Exception, match="does not exist"):
        _fleet_page.report(fleet(), str(tmp_path / "no" / "s.json"), now=NOW)


def test_backup_run_rows_ok_failed_unreachable_and_not_run():
    ok = {"snapshot": {"snapshot_id": "20261202T110000Z", "mode": "pause", "totals": {"bytes": 2048, "new_bytes": 10},
                       "timing_ms": {"freeze": 120, "downtime": 0}},
          "targets": [{"name": "s3", "type": "s3", "status": "ok", "error": None}], "warnings_list": []}
    hosts = [_fleet.backup_host("web1", ok, instance="open-webui"),
             _fleet.backup_host("web2", {"msg": "x"}, error="Backup of open-webui on web2 failed: boom"),
             _fleet.backup_host("web3", None, error="unreachable", reachable=False),
             _fleet.backup_host("web4", None),
             _fleet.backup_host("web5", ok, instance="open-webui", check_mode=True)]
    rows = by_key(_fleet.rows(hosts, NOW, fresh_hours=None))
    web1 = rows[("web1", "default")]
    assert (web1["colour"], web1["snapshot"], web1["bytes"], web1["freeze_s"], web1["downtime_s"]) == \
        ("green", "20261202T110000Z", 2048, 0.12, 0.0)
    assert rows[("web2", "default")]["colour"] == "red" and "boom" in rows[("web2", "default")]["error"]
    assert rows[("web3", "-")]["status"] == "unreachable" and rows[("web4", "-")]["status"] == "not run"
    assert rows[("web5", "default")]["snapshot"] is None and rows[("web5", "default")]["colour"] == "green"
    assert len(_fleet.table(list(rows.values()), NOW)) == 6


def test_a_host_without_records_shows_its_newest_verified_snapshot():
    listed = snaps("owui", [30, 5]) + [{"instance": "owui", "id": "s1", "created": iso(1), "bytes": 1, "verified": False}]
    row = _fleet.rows([{"host": "old", "records": [], "snapshots": listed}], NOW)[0]
    assert (row["status"], row["colour"], row["newest"], row["snapshot_age_h"], row["bytes"]) == \
        ("no runs", "red", "s5", 5.0, 2000)
