#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: snapshot_info
short_description: List the snapshots of an Open WebUI instance in a local repository, optionally re-verifying them
version_added: 0.1.0
description:
  - Lists the published snapshots under O(repository)/O(host)/O(instance), oldest first, with what each
    manifest says (size, file count, freeze mode, Open WebUI version, Alembic revision, verification status,
    whether the secret key was captured).
  - With O(verify=true), re-hashes every file of the listed snapshots (or of the one chosen with
    O(snapshot)) and compares it with C(manifest.json), reporting missing, changed and unexpected files.
    Files shared by hard links between snapshots are hashed once.
  - Read-only, it never takes the repository lock and never changes anything.
author:
  - sage_open_webui.backup contributors (@sage-open-webui)
extends_documentation_fragment:
  - sage_open_webui.backup._attributes
  - sage_open_webui.backup._repository
  - sage_open_webui.backup._attributes.actiongroup_openwebui
  - sage_open_webui.backup._attributes.info_module
options:
  snapshot:
    description:
      - Describe only this snapshot. Either a snapshot id such as V(20261127T031500Z) or V(latest), the newest
        verified snapshot.
      - When omitted, all snapshots are listed.
    type: str
  verify:
    description:
      - Re-hash every file of the listed snapshots and compare with their manifests. Reads all the data; use
        O(snapshot) to limit it to one snapshot.
      - Problems are reported in RV(snapshots[].check) and RV(failed_checks); the module itself does not fail.
    type: bool
    default: false
notes:
  - Days and times are UTC. Snapshot ids are the UTC creation time, C(YYYYMMDDTHHMMSSZ).
seealso:
  - module: sage_open_webui.backup.snapshot_prune
"""

EXAMPLES = r"""
---
- name: List the snapshots of this host's Open WebUI
  sage_open_webui.backup.snapshot_info:
    repository: /var/backups/open-webui
  register: backups

- name: Show the newest verified snapshot
  ansible.builtin.debug:
    msg: "{{ backups.latest.id }} ({{ backups.latest.size }} bytes, Open WebUI {{ backups.latest.app_version }})"
  when: backups.latest is not none

- name: Re-verify the newest verified snapshot against its manifest
  sage_open_webui.backup.snapshot_info:
    repository: /var/backups/open-webui
    host: web1
    instance: open-webui
    snapshot: latest
    verify: true
  register: check

- name: Fail when a file of the snapshot changed or went missing
  ansible.builtin.assert:
    that: check.failed_checks | length == 0
    fail_msg: "Snapshot damaged: {{ check.snapshots[0].check.problems }}"
"""

RETURN = r"""
repository_path:
  description: The directory that holds the snapshots, O(repository)/O(host)/O(instance).
  returned: success
  type: str
  sample: /var/backups/open-webui/web1/open-webui
snapshots:
  description:
    - The snapshots, oldest first. Only the chosen one when O(snapshot) is set.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Snapshot id (UTC creation time).
      type: str
      sample: 20261127T031500Z
    created:
      description: Creation time from the manifest, ISO 8601 with offset.
      type: str
      sample: "2026-11-27T03:15:00.123456+00:00"
    path:
      description: Directory of the snapshot.
      type: str
      sample: /var/backups/open-webui/web1/open-webui/20261127T031500Z
    size:
      description: Bytes of data in the snapshot (sum of the file sizes in the manifest).
      type: int
      sample: 73400320
    files:
      description: Number of files in the snapshot.
      type: int
      sample: 214
    mode:
      description: How the application was frozen while copying (V(hot), V(pause) or V(cold)).
      type: str
      sample: pause
    app_version:
      description: Open WebUI version the data belongs to.
      type: str
      sample: 0.12.4
    alembic_revision:
      description: Alembic revision of C(webui.db) (the database schema version).
      type: str
      sample: 0bd252b206fb
    verified:
      description: Whether the backup verified the snapshot when it was made (manifest C(verification.status)).
      type: bool
      sample: true
    secret_key_captured:
      description: Whether the snapshot holds C(WEBUI_SECRET_KEY) (needed to keep logins and encrypted settings).
      type: bool
      sample: true
    error:
      description: Why the snapshot could not be described (for example a damaged manifest).
      type: str
      returned: when the manifest could not be read
      sample: "manifest.json of 20261127T031500Z is not valid JSON. Fix: restore another snapshot"
    check:
      description: Result of re-hashing the snapshot.
      type: dict
      returned: when O(verify=true)
      contains:
        ok:
          description: No problem found.
          type: bool
          sample: false
        problems:
          description: One line per problem (missing file, size or sha256 differs, file not in the manifest).
          type: list
          elements: str
          sample: ["sha256 differs: uploads/report.pdf"]
        checked_files:
          description: Files compared with the manifest.
          type: int
          sample: 214
        hashed_bytes:
          description: Bytes actually read (files shared with an already hashed snapshot are not read again).
          type: int
          sample: 1048576
latest:
  description:
    - The newest verified snapshot (what V(latest) means for O(snapshot) and for restores), described like an
      element of RV(snapshots). V(null) when there is no verified snapshot.
  returned: success
  type: dict
  sample: {"id": "20261127T031500Z", "verified": true, "size": 73400320}
failed_checks:
  description: Ids of the snapshots whose check found problems.
  returned: when O(verify=true)
  type: list
  elements: str
  sample: []
warnings_list:
  description: Warnings of the run (also emitted as Ansible warnings).
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sage_open_webui.backup.plugins.module_utils._catalog import info
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import run_module
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import repository_argument_spec


def main():
    argument_spec = repository_argument_spec()
    argument_spec.update(
        snapshot=dict(type="str"),
        verify=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_module(module, lambda: info(module.params))


if __name__ == "__main__":
    main()
