#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: backup_status
short_description: Read one host's last backup runs, its local snapshots and its targets' last outcomes
version_added: 0.2.0
description:
  - Reads the run records in O(status_dir) (one per instance and plan, written by every backup, drill and pull,
    manual or timer), lists the local snapshots of this host in each repository those records name (and in
    O(repository)), and gives the last outcome of each off-host target per instance and plan.
  - What C(playbooks/status.yml) gathers from every host before M(sage_open_webui.backup.fleet_report) makes the
    fleet report of it.
  - Read-only, it never takes a repository lock and never changes anything.
author:
  - sage_open_webui.backup contributors (@sage-open-webui)
extends_documentation_fragment:
  - sage_open_webui.backup._attributes
  - sage_open_webui.backup._attributes.actiongroup_openwebui
  - sage_open_webui.backup._attributes.info_module
options:
  status_dir:
    description:
      - Directory of the run records (C(<instance>@<plan>.json), a backup server's C(<host>.<instance>@pull.json)).
      - A missing directory gives no record and a warning.
    type: path
    default: /var/lib/sage-open-webui-backup
  repository:
    description:
      - A local repository to list besides those the records name (for example on a host whose runs predate
        the records).
    type: path
  host:
    description:
      - Host part of the repository paths. Defaults to the short hostname of the machine the task runs on.
    type: str
  instance:
    description:
      - Only this instance's records and snapshots (default every instance).
    type: str
notes:
  - Listing reads each snapshot's C(manifest.json); nothing is re-hashed (use M(sage_open_webui.backup.snapshot_info)
    with O(sage_open_webui.backup.snapshot_info#module:verify=true) for that).
seealso:
  - module: sage_open_webui.backup.fleet_report
  - module: sage_open_webui.backup.snapshot_info
"""

EXAMPLES = r"""
---
- name: Read this host's backup status
  sage_open_webui.backup.backup_status:
  register: status

- name: Show the plans whose last run failed
  ansible.builtin.debug:
    msg: "{{ status.records | selectattr('status', 'equalto', 'failed') | map(attribute='plan') | list }}"
"""

RETURN = r"""
host:
  description: Host part of the repository paths.
  returned: success
  type: str
  sample: web1
status_dir:
  description: O(status_dir).
  returned: success
  type: str
  sample: /var/lib/sage-open-webui-backup
records:
  description: The run records (record_schema 1, see C(docs/FLEET.md)), sorted by file name.
  returned: success
  type: list
  elements: dict
  sample: [{"record_schema": 1, "kind": "backup", "instance": "open-webui", "plan": "daily", "status": "ok",
            "finished": "2026-12-02T03:00:12+00:00", "last_success": "2026-12-02T03:00:12+00:00"}]
snapshots:
  description: The local snapshots of this host, per instance oldest first.
  returned: success
  type: list
  elements: dict
  contains:
    instance:
      description: Instance the snapshot belongs to.
      type: str
      sample: open-webui
    repository:
      description: The repository it is in.
      type: str
      sample: /var/backups/open-webui
    id:
      description: Snapshot id (UTC creation time).
      type: str
      sample: 20261202T030000Z
    created:
      description: Creation time, ISO 8601.
      type: str
      sample: "2026-12-02T03:00:00.123456+00:00"
    bytes:
      description: Bytes of data in the snapshot.
      type: int
      sample: 73400320
    files:
      description: Number of files.
      type: int
      sample: 214
    mode:
      description: How the application was frozen (V(hot), V(pause) or V(cold)).
      type: str
      sample: pause
    verified:
      description: Whether the backup verified the snapshot when it made it.
      type: bool
      sample: true
    error:
      description: Why the snapshot could not be described (a damaged manifest).
      type: str
      returned: when the manifest could not be read
      sample: "manifest.json of 20261202T030000Z is not valid JSON. Fix: restore another snapshot"
targets:
  description: The last outcome of each off-host target, per instance and plan (from the records).
  returned: success
  type: list
  elements: dict
  sample: [{"instance": "open-webui", "plan": "daily", "name": "s3", "type": "s3", "status": "ok",
            "bytes_sent": 1258291, "error": null, "finished": "2026-12-02T03:00:12+00:00"}]
warnings_list:
  description: Warnings (a repository that could not be listed, no status directory); also Ansible warnings.
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import run_module
from ansible_collections.sage_open_webui.backup.plugins.module_utils._status import STATUS_DIR, gather


def main():
    argument_spec = dict(
        status_dir=dict(type="path", default=STATUS_DIR),
        repository=dict(type="path"),
        host=dict(type="str"),
        instance=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_module(module, lambda: gather(**module.params))


if __name__ == "__main__":
    main()
