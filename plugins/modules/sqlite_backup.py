#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sqlite_backup
short_description: Consistent online copy of a SQLite database, checked before it is published
version_added: 0.1.0
description:
  - Copies a live SQLite database (for example Open WebUI's C(webui.db) in WAL mode) with the SQLite online
    backup API in one step inside one read transaction, so the copy finishes under continuous writes
    without restarting, or with C(VACUUM INTO).
  - The copy is written to a temporary name in the destination directory, fsynced, checked with
    C(PRAGMA quick_check) or C(integrity_check), and only then renamed to I(dest).
  - The copy is readable by its owner only (mode C(0600) from the first byte, whatever the umask), because the
    database holds password hashes, API keys and chats.
  - Never copies the file byte by byte while it is in use, and never checkpoints or changes the source.
author:
  - sage_open_webui.backup contributors (@sage-open-webui)
extends_documentation_fragment:
  - sage_open_webui.backup._attributes
  - sage_open_webui.backup._attributes.actiongroup_openwebui
attributes:
  check_mode:
    support: full
    details: Validates the source and destination, reports C(changed=true) and copies nothing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every run makes a new copy.
options:
  src:
    description: Path of the SQLite database to copy.
    type: path
    required: true
  dest:
    description: Path of the copy. Replaced atomically when it exists. Must not be the source or beside it as its C(-wal)/C(-shm).
    type: path
    required: true
  method:
    description: C(backup_api) (page copy, WAL-aware) or C(vacuum_into) (compacted copy).
    type: str
    choices: [backup_api, vacuum_into]
    default: backup_api
  integrity:
    description: C(quick) (C(PRAGMA quick_check)), C(full) (C(PRAGMA integrity_check)) or C(none).
    type: str
    choices: [quick, full, none]
    default: quick
  timeout:
    description: Seconds to wait while another connection holds a lock that blocks reading.
    type: float
    default: 30
seealso:
  - module: sage_open_webui.backup.openwebui_snapshot
"""

EXAMPLES = r"""
---
- name: Copy webui.db while Open WebUI keeps running
  sage_open_webui.backup.sqlite_backup:
    src: /var/lib/docker/volumes/open-webui/_data/webui.db
    dest: /var/backups/webui.db
    integrity: full
  register: copy

- name: Compacted copy
  sage_open_webui.backup.sqlite_backup:
    src: /srv/open-webui/data/webui.db
    dest: /var/backups/webui-compact.db
    method: vacuum_into
"""

RETURN = r"""
dest:
  description: Path of the published copy.
  returned: success
  type: str
  sample: /var/backups/webui.db
bytes:
  description: Size of the copy.
  returned: success and not check mode
  type: int
  sample: 1437696
pages:
  description: Number of pages in the copy.
  returned: success and not check mode
  type: int
  sample: 351
page_size:
  description: Page size of the copy.
  returned: success and not check mode
  type: int
  sample: 4096
sha256:
  description: SHA-256 of the copy.
  returned: success and not check mode
  type: str
  sample: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
method:
  description: Method used for the copy.
  returned: success and not check mode
  type: str
  sample: backup_api
journal_mode:
  description: Journal mode of the source (C(wal) or C(delete)).
  returned: success
  type: str
  sample: wal
integrity:
  description: Result of the integrity check (C(ok) or C(skipped)).
  returned: success and not check mode
  type: str
  sample: ok
duration_ms:
  description: Time taken, in milliseconds.
  returned: success and not check mode
  type: int
  sample: 42
alembic_revision:
  description: Alembic revision stored in the copy, when it has an C(alembic_version) table.
  returned: success and not check mode
  type: str
  sample: 0bd252b206fb
row_counts:
  description: Rows per table in the copy.
  returned: success and not check mode
  type: dict
  sample: {"user": 3, "chat": 40, "file": 12}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import run_module
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _sqlite


def argument_spec():
    return dict(
        src=dict(type="path", required=True),
        dest=dict(type="path", required=True),
        method=dict(type="str", choices=["backup_api", "vacuum_into"], default="backup_api"),
        integrity=dict(type="str", choices=["quick", "full", "none"], default="quick"),
        timeout=dict(type="float", default=30),
    )


def run(params, check_mode=False):
    """The module's work without Ansible: the result (the copy is 0600, see _sqlite.backup)."""
    info = _sqlite.header_info(params["src"])
    _sqlite.check_destination(params["src"], params["dest"])
    if check_mode:
        return {"changed": True, "dest": params["dest"], "journal_mode": "wal" if info["wal"] else "delete"}
    facts = _sqlite.backup(params["src"], params["dest"], method=params["method"], timeout=params["timeout"],
                           integrity=params["integrity"])
    facts.pop("source", None)
    facts.pop("copy_ms", None)
    return dict(facts, changed=True)


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module, lambda: run(module.params, module.check_mode))


if __name__ == "__main__":
    main()
