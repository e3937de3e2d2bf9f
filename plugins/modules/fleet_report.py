#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fleet_report
short_description: Make the fleet's backup report - a table, a JSON file and a self-contained HTML page
version_added: 0.2.0
description:
  - Runs on the controller (C(delegate_to=localhost) or a play on C(localhost)) over what every host returned.
  - With O(hosts) (what M(sage_open_webui.backup.backup_status) returned on each host), makes one row per host and
    plan - last run status, last success, newest snapshot and its age, size, freeze and downtime, each target's
    last outcome, the error - coloured by freshness; writes them as JSON to O(json_path) and as an HTML page
    (inline CSS and SVG charts of snapshot size and age over time, no external asset, no script) to O(html_path).
  - With O(backups) (what a backup run returned on each host), makes the same table of that run, coloured by its
    result; C(playbooks/backup.yml) prints it at the end.
  - A host that did not answer, failed, or was never reached still gets a (red) row.
author:
  - sage_open_webui.backup contributors (@sage-open-webui)
extends_documentation_fragment:
  - sage_open_webui.backup._attributes
  - sage_open_webui.backup._attributes.actiongroup_openwebui
attributes:
  check_mode:
    support: full
    details: Makes the table and writes no file.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: The files carry the time of the report, so each run writes them again.
options:
  hosts:
    description:
      - One entry per host, C({host, reachable, error, status_dir, records, snapshots}); C(records) and
        C(snapshots) as M(sage_open_webui.backup.backup_status) returns them.
      - Exactly one of O(hosts) and O(backups) is required.
    type: list
    elements: dict
  backups:
    description:
      - One entry per host of a backup run, C({host, instance, result, error, reachable, check_mode}); C(result) is
        the registered result of M(sage_open_webui.backup.openwebui_backup) (null when the run never reached the
        host), C(error) says why it failed.
    type: list
    elements: dict
  json_path:
    description: Where to write the report as JSON (0600). Not written when omitted.
    type: path
  html_path:
    description: Where to write the HTML page (0644). Not written when omitted.
    type: path
  fresh_hours:
    description:
      - A row is green while its last success is younger than this, amber up to twice this, then red. A failed
        last run is red.
    type: float
    default: 26
  plan_fresh_hours:
    description:
      - Per plan name, its own O(fresh_hours) (for example V(170) for a plan named C(weekly)). A drill is fresh for 192 hours unless
        set here.
    type: dict
    default: {}
  title:
    description: Title of the page.
    type: str
    default: Open WebUI backups
seealso:
  - module: sage_open_webui.backup.backup_status
"""

EXAMPLES = r"""
---
- name: Make the fleet report
  sage_open_webui.backup.fleet_report:
    hosts: "{{ gathered }}"
    json_path: ./owb-status/status.json
    html_path: ./owb-status/status.html
    plan_fresh_hours:
      weekly: 170
  delegate_to: localhost
  run_once: true
  register: report

- name: Print the table
  ansible.builtin.debug:
    msg: "{{ report.table }}"
  run_once: true
"""

RETURN = r"""
table:
  description: The report as a plain-text table, one line per row (the first line is the header).
  returned: always
  type: list
  elements: str
  sample: ["     HOST  INSTANCE  PLAN   RESULT  ...", "green  web1  open-webui  daily  ok  ..."]
rows:
  description:
    - One row per host and plan, C(host), C(via) (the backup server of a pull row), C(instance), C(plan),
      C(kind), C(status), C(finished), C(last_success), C(snapshot), C(newest), C(newest_created),
      C(snapshot_age_h), C(bytes), C(new_bytes), C(mode), C(freeze_s), C(downtime_s), C(targets), C(error),
      C(warnings), C(fresh_hours), C(colour) (V(green), V(amber) or V(red)).
  returned: always
  type: list
  elements: dict
  sample: [{"host": "web1", "plan": "daily", "status": "ok", "colour": "green", "snapshot_age_h": 3.2}]
summary:
  description: Counts of rows per colour, of hosts, rows and failed rows.
  returned: always
  type: dict
  sample: {"green": 4, "amber": 0, "red": 1, "hosts": 3, "rows": 5, "failed": 1}
written:
  description: The files written (none in check mode).
  returned: always
  type: list
  elements: str
  sample: [./owb-status/status.json, ./owb-status/status.html]
warnings_list:
  description: Warnings of the run.
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _fleet, _fleet_page
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import run_module


def _run(p, check_mode):
    if p["backups"] is not None:
        hosts = [_fleet.backup_host(b.get("host"), b.get("result"), b.get("error"), b.get("reachable", True),
                                    b.get("instance"), b.get("check_mode", False)) for b in p["backups"]]
        fresh = None
    else:
        hosts, fresh = p["hosts"], p["fresh_hours"]
    return _fleet_page.report(hosts, p["json_path"], p["html_path"], fresh, p["plan_fresh_hours"], p["title"],
                              check_mode)


def main():
    argument_spec = dict(
        hosts=dict(type="list", elements="dict"),
        backups=dict(type="list", elements="dict"),
        json_path=dict(type="path"),
        html_path=dict(type="path"),
        fresh_hours=dict(type="float", default=26),
        plan_fresh_hours=dict(type="dict", default={}),
        title=dict(type="str", default="Open WebUI backups"),
    )
    module = AnsibleModule(argument_spec=argument_spec, required_one_of=[("hosts", "backups")],
                           mutually_exclusive=[("hosts", "backups")], supports_check_mode=True)
    run_module(module, lambda: _run(module.params, module.check_mode))


if __name__ == "__main__":
    main()
