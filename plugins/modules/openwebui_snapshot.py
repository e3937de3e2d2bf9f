#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: openwebui_snapshot
short_description: Take a consistent point-in-time snapshot of an Open WebUI data directory
version_added: 0.1.0
description:
  - Builds one snapshot of Open WebUI's data directory into a local repository
    C(<repository>/<host>/<instance>/<snapshot_id>/) and publishes it with a single rename.
  - C(webui.db) and Chroma's C(vector_db/chroma.sqlite3) are copied with the SQLite backup API (or as a
    crash-consistent copy while the app is frozen) and checked with C(PRAGMA quick_check) or
    C(integrity_check); a live SQLite file is never copied as-is.
  - Chroma's HNSW segment folders are copied together with C(chroma.sqlite3) while Chroma is quiet.
  - Files unchanged since the previous verified snapshot (same size, mtime and mode) are hard links into it,
    so a second snapshot writes little more than the two databases.
  - With I(mode=pause) the container is frozen only while a read transaction is pinned on C(webui.db) and
    C(vector_db/) is copied (well under a second); with I(mode=cold) it is stopped for that section only and
    started again before the rest is copied. A detached safety net on the host unpauses or starts the
    container even if this module is killed.
  - The secret key (C(WEBUI_SECRET_KEY) or C(/app/backend/.webui_secret_key) in the container) is captured into
    C(secret/webui_secret_key) with mode 0600.
  - C(manifest.json) lists every file with size, sha256 and mode, the database checks, row counts, the
    alembic revision and a check that every upload C(webui.db) references is present.
author:
  - sage_open_webui.backup contributors (@sage-open-webui)
extends_documentation_fragment:
  - sage_open_webui.backup._attributes
  - sage_open_webui.backup._attributes.actiongroup_openwebui
  - sage_open_webui.backup._snapshot
  - sage_open_webui.backup._docker
attributes:
  check_mode:
    support: full
    details: Returns what would be paused or stopped, copied and linked; changes nothing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every run creates a new snapshot.
requirements:
  - Python docker SDK (C(python3-docker)) when I(container) is used.
notes:
  - In rollback-journal (non-WAL) databases, writers wait while the copy is made (Open WebUI's busy timeout is 5 s),
    and a hot copy may wait for a gap between commits; use I(mode=pause) for busy non-WAL databases.
  - Run retention with M(sage_open_webui.backup.snapshot_prune) after this module.
seealso:
  - module: sage_open_webui.backup.openwebui_info
  - module: sage_open_webui.backup.snapshot_info
  - module: sage_open_webui.backup.snapshot_prune
"""

EXAMPLES = r"""
---
- name: Snapshot the open-webui container, pausing it for well under a second
  sage_open_webui.backup.openwebui_snapshot:
    container: open-webui
    repository: /var/backups/open-webui
    mode: pause
  register: snap

- name: Snapshot a plain data directory (pip install) without interruption
  sage_open_webui.backup.openwebui_snapshot:
    data_dir: /srv/open-webui/data
    secret_key_file: /srv/open-webui/.webui_secret_key
    repository: /var/backups/open-webui

- name: Cold snapshot that also stops a pipelines container
  sage_open_webui.backup.openwebui_snapshot:
    container: open-webui
    dependents: [pipelines]
    mode: cold
    repository: /var/backups/open-webui
"""

RETURN = r"""
snapshot_id:
  description: Id of the published snapshot (UTC time); null in check mode.
  returned: always
  type: str
  sample: 20261127T031500Z
path:
  description: Path of the published snapshot.
  returned: success and not check mode
  type: str
  sample: /var/backups/open-webui/web1/open-webui/20261127T031500Z
mode:
  description: Mode actually used (C(offline) when the container was not running).
  returned: always
  type: str
  sample: pause
previous:
  description: Id of the snapshot unchanged files were linked against; null for the first snapshot.
  returned: always
  type: str
  sample: 20261126T031500Z
would:
  description: In check mode, what a real run would do to the application (freeze, stop or copy offline).
  returned: check mode
  type: str
  sample: pause open-webui for well under a second
data_dir:
  description: In check mode, the data directory that would be copied.
  returned: check mode
  type: str
  sample: /var/lib/docker/volumes/open-webui/_data
repository:
  description: In check mode, the directory the snapshot would be published in.
  returned: check mode
  type: str
  sample: /var/backups/open-webui/web1/open-webui
totals:
  description: Files, bytes, new bytes written and linked files (Ollama stores included, and also under C(ollama)).
  returned: success and not check mode
  type: dict
  contains:
    files:
      description: Files in the snapshot.
      type: int
      sample: 214
    bytes:
      description: Bytes in the snapshot.
      type: int
      sample: 73400320
    new_bytes:
      description: Bytes written by this run (the rest is hard-linked to the previous snapshot).
      type: int
      sample: 1437696
    linked_files:
      description: Files hard-linked to the previous snapshot.
      type: int
      sample: 210
    ollama:
      description: The same totals for the Ollama model stores alone.
      type: dict
      returned: when Ollama stores are backed up
      sample: {"files": 12, "bytes": 4661211136, "new_bytes": 0, "linked_files": 12}
timing_ms:
  description: Durations in milliseconds (total, freeze, downtime, app_stop, app_start, databases, files, verify, sync).
  returned: success and not check mode
  type: dict
  sample: {"total": 2140, "freeze": 38, "downtime": 38, "app_stop": 0, "app_start": 0, "databases": 610,
           "files": 890, "verify": 420, "sync": 90}
databases:
  description: Per database, journal mode, method, pages, bytes, sha256, integrity result, alembic revision, row counts.
  returned: success and not check mode
  type: dict
  sample: {"webui.db": {"journal_mode": "wal", "method": "backup_api", "pages": 351, "page_size": 4096,
                        "bytes": 1437696, "sha256": "9f2c...", "integrity": "ok", "alembic_revision": "0bd252b206fb",
                        "row_counts": {"user": 3, "chat": 40}}}
secret_key:
  description: Whether the secret key was captured and from where (never its value).
  returned: success and not check mode
  type: dict
  contains:
    captured:
      description: Whether the snapshot holds the key.
      type: bool
      sample: true
    source:
      description: Where it came from (V(env), V(file)); null when not captured.
      type: str
      sample: file
    sha256:
      description: SHA-256 of the key, to compare without showing it.
      type: str
      returned: when captured
      sample: 5f1d4c3b2a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c
    reason:
      description: Why it was not captured.
      type: str
      returned: when skipped by request
      sample: skipped by request
uploads_check:
  description: Uploads referenced by webui.db, and those missing or whose sha256 differs.
  returned: success and not check mode
  type: dict
  contains:
    referenced:
      description: Uploads referenced by the C(file) table.
      type: int
      sample: 12
    missing:
      description: Referenced uploads not in the data directory.
      type: list
      elements: str
      sample: []
    hash_mismatch:
      description: Uploads whose content differs from the sha256 Open WebUI recorded.
      type: list
      elements: str
      sample: []
    external:
      description: Referenced files stored outside the data directory (not backed up).
      type: int
      sample: 0
verification:
  description: Verification done before publishing.
  returned: success and not check mode
  type: dict
  contains:
    status:
      description: V(verified) when every check passed (a snapshot that fails is not published).
      type: str
      sample: verified
    checked_files:
      description: Files checked against the manifest.
      type: int
      sample: 214
    deep:
      description: Whether every file was hashed again (O(verify=deep)).
      type: bool
      sample: false
    databases:
      description: Integrity check result per database.
      type: dict
      sample: {"webui.db": "ok", "vector_db/chroma.sqlite3": "ok"}
plan:
  description: In check mode, what would be copied and linked.
  returned: check mode
  type: dict
  contains:
    copy_files:
      description: Files that would be copied.
      type: int
      sample: 4
    copy_bytes:
      description: Bytes that would be copied.
      type: int
      sample: 1437696
    link_files:
      description: Files that would be hard-linked to the previous snapshot.
      type: int
      sample: 210
    link_bytes:
      description: Bytes that would be linked.
      type: int
      sample: 71962624
    databases:
      description: Databases that would be copied online.
      type: list
      elements: str
      sample: ["webui.db", "vector_db/chroma.sqlite3"]
    ollama:
      description: Ollama stores that would be backed up.
      type: list
      elements: dict
      sample: [{"label": "ollama", "source": "/var/lib/docker/volumes/ollama/_data/models", "volume": "ollama"}]
summary:
  description: One line for humans.
  returned: always
  type: str
  sample: "20261127T031500Z: 214 files, 70.0 MiB (1.4 MiB new), mode pause, freeze 38 ms, downtime 38 ms, total 2140 ms, verified"
events:
  description: Timeline of the run.
  returned: success and not check mode
  type: list
  elements: str
  sample: ["    12 ms  paused open-webui", "    50 ms  unpaused open-webui"]
warnings_list:
  description: Warnings of the run (also emitted as Ansible warnings).
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import run_module
from ansible_collections.sage_open_webui.backup.plugins.module_utils._snapshot import argument_spec, run


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_one_of=[("container", "data_dir")],
        supports_check_mode=True,
    )
    run_module(module, lambda: run(dict(module.params), check_mode=module.check_mode))


if __name__ == "__main__":
    main()
