#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: snapshot_prune
short_description: Delete the snapshots of an Open WebUI instance that a retention policy no longer keeps
version_added: 0.1.0
description:
  - Applies a retention policy to the snapshots under O(repository)/O(host)/O(instance) and deletes the
    ones it does not keep, oldest first, while holding the repository lock (so it never races a backup
    or a restore).
  - Works like C(restic forget) and C(borg prune). O(keep_last) keeps the newest snapshots;
    O(keep_daily), O(keep_weekly) and O(keep_monthly) keep the newest snapshot of each of the most recent
    days, ISO weeks and months that have one. Days, weeks and months are UTC. The rules add up.
  - Only verified snapshots fill these slots, so failed or unverified snapshots never push a good one out;
    unverified snapshots are deleted once a verified one exists. The newest verified snapshot is always
    kept. When no snapshot is verified at all, the policy applies to all snapshots and the newest one is
    kept, so a prune never empties a repository.
  - At least one of O(keep_last), O(keep_daily), O(keep_weekly) and O(keep_monthly) must be 1 or more.
author:
  - sage_open_webui.backup contributors (@sage-open-webui)
extends_documentation_fragment:
  - sage_open_webui.backup._attributes
  - sage_open_webui.backup._repository
  - sage_open_webui.backup._attributes.actiongroup_openwebui
attributes:
  check_mode:
    support: full
    details:
      - Reports what would be deleted and deletes nothing (without taking the lock).
  diff_mode:
    support: full
    details:
      - The diff shows the snapshot ids before and after.
  idempotent:
    support: full
options:
  keep_last:
    description:
      - Keep the newest N verified snapshots.
    type: int
    default: 0
  keep_daily:
    description:
      - Keep the newest verified snapshot of each of the N most recent UTC days that have one.
    type: int
    default: 0
  keep_weekly:
    description:
      - Keep the newest verified snapshot of each of the N most recent ISO weeks (UTC) that have one.
    type: int
    default: 0
  keep_monthly:
    description:
      - Keep the newest verified snapshot of each of the N most recent calendar months (UTC) that have one.
    type: int
    default: 0
notes:
  - A snapshot is removed by renaming it out of sight first, so a crash never leaves a half-deleted
    snapshot that looks complete. Files shared with other snapshots by hard links stay in those snapshots.
seealso:
  - module: sage_open_webui.backup.snapshot_info
"""

EXAMPLES = r"""
---
- name: Keep 7 daily, 4 weekly and 6 monthly snapshots
  sage_open_webui.backup.snapshot_prune:
    repository: /var/backups/open-webui
    keep_daily: 7
    keep_weekly: 4
    keep_monthly: 6
  register: prune

- name: Preview what a stricter policy would delete
  sage_open_webui.backup.snapshot_prune:
    repository: /var/backups/open-webui
    host: web1
    instance: open-webui
    keep_last: 3
  check_mode: true
  register: preview

- name: Show it
  ansible.builtin.debug:
    var: preview.deleted
"""

RETURN = r"""
repository_path:
  description: The directory that holds the snapshots, O(repository)/O(host)/O(instance).
  returned: success
  type: str
  sample: /var/backups/open-webui/web1/open-webui
kept:
  description: The snapshots kept, newest first, with every rule that keeps each one.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Snapshot id.
      type: str
      sample: 20261127T031500Z
    verified:
      description: Whether the snapshot is verified.
      type: bool
      sample: true
    reasons:
      description:
        - Why it is kept, for example V(newest verified), V(last 3), V(daily 2026-11-27), V(weekly 2026-W48),
          V(monthly 2026-11).
      type: list
      elements: str
      sample: ["newest verified", "daily 2026-11-27", "weekly 2026-W48"]
deleted:
  description: Ids of the snapshots deleted, oldest first (in check mode, those that would be deleted).
  returned: success
  type: list
  elements: str
  sample: ["20261101T031500Z", "20261102T031500Z"]
policy:
  description: The policy applied.
  returned: success
  type: dict
  sample: {"keep_last": 0, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6}
  contains:
    keep_last:
      description: O(keep_last) as applied.
      type: int
      sample: 0
    keep_daily:
      description: O(keep_daily) as applied.
      type: int
      sample: 7
    keep_weekly:
      description: O(keep_weekly) as applied.
      type: int
      sample: 4
    keep_monthly:
      description: O(keep_monthly) as applied.
      type: int
      sample: 6
warnings_list:
  description:
    - Warnings of the run (also emitted as Ansible warnings), for example when no snapshot is verified or when
      the clock went backwards.
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import run_module
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import repository_argument_spec
from ansible_collections.sage_open_webui.backup.plugins.module_utils._retention import prune


def _run(module):
    result = prune(module.params, check_mode=module.check_mode)
    if not module._diff:
        result.pop("diff")
    return result


def main():
    argument_spec = repository_argument_spec()
    argument_spec.update(
        keep_last=dict(type="int", default=0),
        keep_daily=dict(type="int", default=0),
        keep_weekly=dict(type="int", default=0),
        keep_monthly=dict(type="int", default=0),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    run_module(module, lambda: _run(module))


if __name__ == "__main__":
    main()
