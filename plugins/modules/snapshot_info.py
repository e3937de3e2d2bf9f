#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: snapshot_info
short_description: List the snapshots of Open WebUI in a local repository or on an off-host target, optionally checking them
version_added: 0.1.0
description:
  - Lists the published snapshots under O(repository)/O(host)/O(instance), oldest first, with what each
    manifest says (size, file count, freeze mode, Open WebUI version, Alembic revision, verification status,
    whether the secret key was captured).
  - With O(verify=true), re-hashes every file of the listed snapshots (or of the one chosen with
    O(snapshot)) and compares it with C(manifest.json), reporting missing, changed and unexpected files.
    Files shared by hard links between snapshots are hashed once.
  - With O(target) instead of O(repository), lists the complete snapshots on that off-host target (S3, rclone
    remote, mounted path) from their records - every host and instance unless O(host)/O(instance) are given -
    without the age identity. O(verify=true) then checks that every pack a snapshot needs is on the target with
    its recorded size (nothing is downloaded; a restore checks every byte).
  - Read-only, it never takes the repository lock and never changes anything.
author:
  - sage_open_webui.backup contributors (@sage-open-webui)
extends_documentation_fragment:
  - sage_open_webui.backup._attributes
  - sage_open_webui.backup._target.one
  - sage_open_webui.backup._attributes.actiongroup_openwebui
  - sage_open_webui.backup._attributes.info_module
options:
  repository:
    description:
      - Absolute path of the local repository (the directory that holds one subdirectory per host).
      - Exactly one of O(repository) and O(target) is required.
    type: path
  host:
    description:
      - Host part of the repository path. Defaults to the short hostname of the machine the task runs on.
      - With O(target), lists only this host's snapshots (default every host).
    type: str
  instance:
    description:
      - Instance part of the repository path. Defaults to V(open-webui).
      - With O(target), lists only this instance's snapshots (default every instance).
    type: str
  snapshot:
    description:
      - Describe only this snapshot. Either a snapshot id such as V(20261127T031500Z) or V(latest), the newest
        verified snapshot (with O(target), the newest listed).
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
  - module: sage_open_webui.backup.offsite_prune
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

- name: List what web1 has on the B2 bucket (no identity needed, even when encrypted)
  sage_open_webui.backup.snapshot_info:
    target:
      name: b2
      type: s3
      endpoint_url: https://s3.us-west-004.backblazeb2.com
      region: us-west-004
      bucket: acme-owb-backups
      prefix: owb
      access_key_id: "{{ vault_b2_key_id }}"
      secret_access_key: "{{ vault_b2_application_key }}"
    host: web1
  register: remote

- name: Show the newest snapshot on the target
  ansible.builtin.debug:
    msg: "{{ remote.latest.id }} of {{ remote.latest.host }}/{{ remote.latest.instance }}, uploaded {{ remote.latest.uploaded }}"
  when: remote.latest is not none
"""

RETURN = r"""
repository_path:
  description: The directory that holds the snapshots, O(repository)/O(host)/O(instance).
  returned: with O(repository)
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
    host:
      description: Host the snapshot belongs to.
      type: str
      returned: with O(target)
      sample: web1
    instance:
      description: Instance the snapshot belongs to.
      type: str
      returned: with O(target)
      sample: open-webui
    key:
      description: Key of the snapshot record on the target.
      type: str
      returned: with O(target)
      sample: snapshots/web1/open-webui/20261127T031500Z.json
    uploaded:
      description: When the upload finished (ISO 8601).
      type: str
      returned: with O(target)
      sample: "2026-11-27T03:15:09.512201+00:00"
    encrypted:
      description: Whether the snapshot's content and manifest are encrypted with age.
      type: bool
      returned: with O(target)
      sample: true
    bytes:
      description: Bytes of the snapshot's files (plaintext).
      type: int
      returned: with O(target)
      sample: 73400320
    packs:
      description: Number of packs the snapshot's content is in (shared with other snapshots).
      type: int
      returned: with O(target)
      sample: 5
    stored_bytes:
      description: Stored size of those packs on the target.
      type: int
      returned: with O(target)
      sample: 73531392
    tool:
      description: Key of the self-contained restore tool on the target.
      type: str
      returned: with O(target)
      sample: tools/owb-restore-3f2a9c1d0b7e.py
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
          returned: with O(repository)
          sample: 214
        checked_packs:
          description: Packs whose presence and size were checked on the target.
          type: int
          returned: with O(target)
          sample: 5
        hashed_bytes:
          description: Bytes actually read (files shared with an already hashed snapshot are not read again).
          type: int
          returned: with O(repository)
          sample: 1048576
latest:
  description:
    - The newest verified snapshot (what V(latest) means for O(snapshot) and for restores), described like an
      element of RV(snapshots). V(null) when there is no verified snapshot.
  returned: success
  type: dict
  sample: {"id": "20261127T031500Z", "verified": true, "size": 73400320}
target:
  description: Name of O(target).
  returned: with O(target)
  type: str
  sample: b2
location:
  description: Where the target is (bucket and prefix, remote, path; no secret).
  returned: with O(target)
  type: str
  sample: s3://acme-owb-backups/owb
encrypted:
  description: Whether the target's store is encrypted.
  returned: with O(target)
  type: bool
  sample: true
failed_checks:
  description: Ids of the snapshots whose check found problems (with O(target), their record keys).
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

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _remote_info, _target_spec
from ansible_collections.sage_open_webui.backup.plugins.module_utils._catalog import info
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import run_module


def _run(p):
    if p["target"]:
        return _remote_info.info(_target_spec.clean(p["target"]), p["host"], p["instance"], p["snapshot"], p["verify"])
    return info(p)


def main():
    argument_spec = dict(
        repository=dict(type="path"),
        target=_target_spec.target_option(),
        host=dict(type="str"),
        instance=dict(type="str"),
        snapshot=dict(type="str"),
        verify=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, required_one_of=[("repository", "target")],
                           mutually_exclusive=[("repository", "target")], supports_check_mode=True)
    run_module(module, lambda: _run(module.params))


if __name__ == "__main__":
    main()
