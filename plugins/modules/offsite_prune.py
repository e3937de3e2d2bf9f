#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: offsite_prune
short_description: Apply retention to off-host targets and remove the content no snapshot uses any more
version_added: 0.4.0
description:
  - Hosts never delete on a target (their credential needs only put, get and list). This module runs where the
    delete-capable credential lives, the controller or a backup server (see the C(prune) playbook).
  - For each host/instance on the target, the target's O(target.keep_last), O(target.keep_daily),
    O(target.keep_weekly) and O(target.keep_monthly) decide which snapshots stay, with the same rules as
    M(sage_open_webui.backup.snapshot_prune) (UTC days, ISO weeks, months; the rules add up). The newest snapshot
    of every host/instance is always kept. The other snapshot records are deleted.
  - Content (packs) then goes in two phases, so that a backup uploading at the same time never loses content it
    reuses. Packs referenced by no snapshot of any host are first marked in a C(prune/pending-*) record; a later
    run deletes a marked pack only when its mark is older than O(grace_hours) and it is still unreferenced. Packs
    left by an interrupted upload (with or without their index object) go the same way.
  - On a bucket with Object Lock, a delete refused because the object is still locked is a warning naming its
    retain-until date; the object stays and a later run retries.
  - Give one target (O(target)) or a list (O(targets), for example the C(backup_targets) of the fleet with the
    prune credential). One failing target does not stop the others; the task fails at the end when any failed.
author:
  - sage_open_webui.backup contributors (@sage-open-webui)
extends_documentation_fragment:
  - sage_open_webui.backup._attributes
  - sage_open_webui.backup._attributes.actiongroup_openwebui
  - sage_open_webui.backup._target
  - sage_open_webui.backup._target.one
attributes:
  check_mode:
    support: full
    details:
      - Reports the snapshots and packs that would be deleted or marked, and the bytes that would be freed;
        writes and deletes nothing.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details:
      - A second run right after the first changes nothing, except that it deletes the marked packs once
        O(grace_hours) have passed.
options:
  grace_hours:
    description:
      - How long a pack stays marked before a later run may delete it. Must be longer than the longest backup
        upload to the target (and the clock difference between the machines that prune).
    type: float
    default: 24
  host:
    description:
      - Apply retention only to the snapshots of this host (default every host). Unreferenced content is
        collected on the whole target either way; it never touches content any snapshot uses.
    type: str
  instance:
    description:
      - Apply retention only to the snapshots of this instance (default every instance).
    type: str
notes:
  - Exactly one of O(target) and O(targets) (a non-empty list) is required. A target with O(targets[].enabled=false)
    is skipped.
  - The credential needs delete rights on the target (S3 C(s3:DeleteObject); B2 capability C(deleteFiles)); see
    the bucket policies in docs/OFFSITE.md. The hosts' credentials should not have them.
  - On a versioned (Object Lock) S3 bucket a delete hides the object; the bucket's lifecycle rule removes the
    old versions once their retention has passed (see C(playbooks/examples/s3-bucket.yml)).
seealso:
  - module: sage_open_webui.backup.openwebui_backup
  - module: sage_open_webui.backup.snapshot_prune
"""

EXAMPLES = r"""
---
- name: Prune the NAS target with a one-day grace
  sage_open_webui.backup.offsite_prune:
    target:
      name: nas
      type: filesystem
      path: /mnt/nas/owb
      keep_daily: 7
      keep_weekly: 4
      keep_monthly: 12

- name: Preview a prune of every target of the fleet, with the delete-capable key
  sage_open_webui.backup.offsite_prune:
    targets:
      - name: b2
        type: s3
        bucket: my-owb-backups
        endpoint_url: https://s3.eu-central-003.backblazeb2.com
        region: eu-central-003
        access_key_id: "{{ vault_b2_prune_key_id }}"
        secret_access_key: "{{ vault_b2_prune_key }}"
    grace_hours: 48
  check_mode: true
  register: preview

- name: Show what it would do
  ansible.builtin.debug:
    msg: "{{ preview.summary }}"
"""

RETURN = r"""
summary:
  description: One line per target of what was done (in check mode, what would be done).
  returned: always
  type: str
  sample: "target b2: deleted 3 snapshot(s) and 2 pack(s), 31.0 MiB freed; 1 pack(s) newly marked unreferenced"
targets:
  description: The outcome of each target, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    target:
      description: Name of the target.
      type: str
      sample: b2
    status:
      description: V(ok), V(failed) or V(skipped) (disabled).
      type: str
      sample: ok
    changed:
      description: Whether anything was (or in check mode would be) deleted or marked on this target.
      type: bool
      sample: true
    summary:
      description: What was done on this target.
      type: str
      sample: "target b2: deleted 3 snapshot(s) and 2 pack(s), 31.0 MiB freed; 1 pack(s) newly marked unreferenced"
    error:
      description: What went wrong.
      returned: when this target failed
      type: str
      sample: "target b2 (s3://my-owb-backups): deleting 1 object(s) failed, e.g. snapshots/web1/open-webui/20261101T031500Z.json: AccessDenied"
    fix:
      description: How to fix it.
      returned: when this target failed
      type: str
      sample: prune with the delete-capable credential (docs/OFFSITE.md, Bucket policies), then run it again
    deleted:
      description: Keys of the snapshot records deleted (or that would be), oldest first per host/instance.
      returned: when this target was pruned
      type: list
      elements: str
      sample: ["snapshots/web1/open-webui/20261101T031500Z.json"]
    kept:
      description: The snapshots kept, newest first per host/instance, with every rule that keeps each one.
      returned: when this target was pruned
      type: list
      elements: dict
      contains:
        host:
          description: Host of the snapshot.
          type: str
          sample: web1
        instance:
          description: Instance of the snapshot.
          type: str
          sample: open-webui
        id:
          description: Snapshot id.
          type: str
          sample: 20261127T031500Z
        key:
          description: Key of its record on the target.
          type: str
          sample: snapshots/web1/open-webui/20261127T031500Z.json
        reasons:
          description: Why it is kept, for example V(newest verified), V(last 3), V(daily 2026-11-27).
          type: list
          elements: str
          sample: ["newest verified", "daily 2026-11-27"]
    marked:
      description: Packs newly found unreferenced and marked in a new C(prune/pending-*) record.
      returned: when this target was pruned
      type: int
      sample: 1
    waiting:
      description: Packs marked by an earlier run that are still unreferenced and within O(grace_hours).
      returned: when this target was pruned
      type: int
      sample: 0
    packs_deleted:
      description: Packs deleted (with their index objects).
      returned: when this target was pruned
      type: int
      sample: 2
    pending_removed:
      description: C(prune/pending-*) records removed because every pack they marked is gone or used again.
      returned: when this target was pruned
      type: int
      sample: 1
    bytes_freed:
      description: Stored bytes of the objects deleted (records, packs, index objects, pending records).
      returned: when this target was pruned
      type: int
      sample: 32505856
warnings_list:
  description: Warnings of the run (also emitted as Ansible warnings), for example an object still under Object Lock.
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store_prune, _target_spec
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, run_module


def _run(module):
    p = module.params
    targets = [_target_spec.clean(p["target"])] if p["target"] else _target_spec.clean_all(p["targets"])
    if not targets:
        raise BackupError("no target to prune", "give target (one) or targets (a non-empty list)")
    return _store_prune.prune_all(targets, check_mode=module.check_mode, grace_hours=p["grace_hours"],
                                  host=p["host"], instance=p["instance"])


def main():
    argument_spec = dict(
        target=_target_spec.target_option(),
        targets=_target_spec.targets_option(),
        grace_hours=dict(type="float", default=24),
        host=dict(type="str"),
        instance=dict(type="str"),
    )
    module = AnsibleModule(argument_spec=argument_spec, mutually_exclusive=[("target", "targets")],
                           supports_check_mode=True)
    run_module(module, lambda: _run(module))


if __name__ == "__main__":
    main()
