#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: openwebui_info
short_description: Discover Open WebUI instances running in Docker (or a plain data directory) and what a backup needs
version_added: 0.1.0
description:
  - Finds Open WebUI containers (image name containing C(open-webui), or a mount at C(/app/backend/data)), or the
    ones chosen with O(container), O(label) or O(image), and reports for each what a backup needs to know.
  - For each instance, the container facts (image, digest, state, health, Open WebUI version, where
    C(/app/backend/data) lives on the host, storage settings from the environment, whether a secret key is set in
    the environment or exists as C(/app/backend/.webui_secret_key)) and an inventory of the data directory
    (C(webui.db) with its C(-wal)/C(-shm), journal modes read from the SQLite header, Alembic revision,
    C(vector_db/), C(uploads/), each C(cache/) subfolder, audit logs, other entries).
  - Loud warnings (Ansible warnings and RV(discovery_warnings)) when the data is not on a persistent mount
    (anonymous volume, or no mount at all).
  - Says plainly when an instance is not supported yet (PostgreSQL database, external vector store, uploads in
    object storage).
  - Read-only. Never prints the secret key or the database URL. Never changes the data directory; SQLite files
    are opened read-only without creating C(-wal)/C(-shm) files.
author:
  - sage_open_webui.backup contributors (@sage-open-webui)
extends_documentation_fragment:
  - sage_open_webui.backup._attributes
  - sage_open_webui.backup._attributes.actiongroup_openwebui
  - sage_open_webui.backup._attributes.info_module
  - sage_open_webui.backup._docker
options:
  container:
    description:
      - Name or id of the Open WebUI container to describe.
      - When none of O(container), O(label), O(image) and O(data_dir) is given, every container that looks like
        Open WebUI is described.
    type: str
  label:
    description:
      - Describe the containers that carry this label, V(key) or V(key=value).
    type: str
  image:
    description:
      - Describe the containers whose image name contains this text (or whose image id starts with it).
    type: str
  data_dir:
    description:
      - Describe a plain Open WebUI data directory on the host (no Docker needed), for example of a
        C(open-webui serve) installation.
    type: path
  include_ollama:
    description:
      - Whether Ollama model stores (containers or volumes mounting C(/root/.ollama)) would be backed up.
      - They are always reported; with V(false) they are marked C(excluded).
    type: bool
    default: false
requirements:
  - Docker SDK for Python on the managed host (C(apt install python3-docker) or C(pip install docker)), except
    with O(data_dir) alone.
notes:
  - The data directory of a container is read on the host at the volume's C(Mountpoint) or the bind mount's
    source; run as root (C(become=true)) so those paths are readable.
seealso:
  - module: sage_open_webui.backup.openwebui_snapshot
"""

EXAMPLES = r"""
---
- name: Find every Open WebUI container on the host
  sage_open_webui.backup.openwebui_info:
  become: true
  register: owui

- name: Show where the data lives and whether it can be backed up
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.data_dir }} ({{ item.data_mount.type }}), supported={{ item.supported }}"
  loop: "{{ owui.instances }}"

- name: Describe one container
  sage_open_webui.backup.openwebui_info:
    container: open-webui
  become: true
  register: one

- name: Fail early when the instance is not supported
  ansible.builtin.assert:
    that: one.instances[0].supported
    fail_msg: "{{ one.instances[0].reasons | join('; ') }}"

- name: Describe a plain data directory (pip installation)
  sage_open_webui.backup.openwebui_info:
    data_dir: /srv/open-webui/data
"""

RETURN = r"""
instances:
  description: One entry per Open WebUI instance found (or chosen).
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Container name (for O(data_dir), the directory's base name).
      type: str
      sample: open-webui
    id:
      description: Container id (null for O(data_dir)).
      type: str
      sample: 3f2a9c0e5d1b...
    image:
      description: Image the container was created from.
      type: str
      sample: ghcr.io/open-webui/open-webui:main
    digest:
      description: Repository digest of the image, when it came from a registry.
      type: str
      sample: sha256:4b1c...
    state:
      description: Container state (V(running), V(paused), V(exited), ...).
      type: str
      sample: running
    health:
      description: Health status (V(healthy), V(unhealthy), V(starting), or V(none) without a health check).
      type: str
      sample: healthy
    app_version:
      description: Open WebUI version (image label, C(/app/package.json), or the pip metadata in the container).
      type: str
      sample: 0.12.4
    data_mount:
      description:
        - How C(/app/backend/data) is mounted. C(type) is V(volume), V(bind) or V(none); C(source) is the host
          path; C(anonymous) and C(persistent) tell whether the data survives recreating the container.
      type: dict
      sample: {"type": "volume", "name": "open-webui", "source": "/var/lib/docker/volumes/open-webui/_data",
               "rw": true, "anonymous": false, "persistent": true}
    data_dir:
      description: Host path of the data directory (null when nothing is mounted).
      type: str
      sample: /var/lib/docker/volumes/open-webui/_data
    env:
      description:
        - Storage settings from the environment. C(database.type) is V(sqlite), V(postgresql), V(sqlcipher),
          V(mysql) or V(unknown); C(vector_db.external) is true for a Chroma server or another vector store;
          C(secret_key_env_set) tells whether C(WEBUI_SECRET_KEY) is set (its value is never returned).
      type: dict
      sample: {"data_dir": "/app/backend/data", "database": {"type": "sqlite"}, "vector_db": {"type": "chroma", "external": false},
        "storage_provider": "local", "secret_key_env_set": false, "audit_log_level": "NONE", "migrations_enabled": true}
    secret_key:
      description: Where the secret key is (C(env_set), C(file_exists), C(file_path), C(source)); never its value.
      type: dict
      sample: {"env_set": false, "file_exists": true, "file_path": "/app/backend/.webui_secret_key", "source": "file"}
    supported:
      description: Whether this collection can back the instance up.
      type: bool
      sample: true
    reasons:
      description: Why the instance is not supported (empty when supported).
      type: list
      elements: str
      sample: []
    ollama:
      description: Ollama model stores found on the host (containers or volumes at C(/root/.ollama)), with C(excluded).
      type: list
      elements: dict
      sample: [{"container": "ollama", "container_id": "9e1f...", "type": "volume", "volume": "ollama",
        "source": "/var/lib/docker/volumes/ollama/_data", "excluded": true}]
    inventory:
      description:
        - What the data directory holds (sizes in bytes). C(webui_db) (with C(wal), C(shm), C(journal_mode),
          C(alembic_revision)), C(vector_db) (C(kind), C(chroma_sqlite3), C(segments)), C(uploads), C(cache) (with
          C(subdirs) and whether each is re-downloadable), C(audit_log), C(other), C(totals).
        - Null when the data directory cannot be read from the managed host.
      type: dict
      sample: {"webui_db": {"bytes": 1437696, "journal_mode": "wal", "alembic_revision": "0bd252b206fb"},
        "uploads": {"files": 12, "bytes": 5242880}, "totals": {"files": 214, "bytes": 73400320}}
    warnings:
      description: Problems found for this instance (also in RV(discovery_warnings)).
      type: list
      elements: str
      sample: []
discovery_warnings:
  description:
    - Every warning, prefixed with the instance name. Each is also emitted as an Ansible warning.
  returned: success
  type: list
  elements: str
  sample: ["open-webui: DATA LOSS RISK: container open-webui has no volume or bind mount at /app/backend/data ..."]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _discovery
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import run_module
from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import docker_host_option


def argument_spec():
    return dict(
        container=dict(type="str"),
        label=dict(type="str"),
        image=dict(type="str"),
        data_dir=dict(type="path"),
        include_ollama=dict(type="bool", default=False),
        docker_host=docker_host_option(),
    )


def run(params):
    """The module's result without Ansible (read-only: ``changed`` is always false)."""
    instances, warnings = _discovery.discover(**params)
    return {"changed": False, "instances": instances, "discovery_warnings": warnings, "warnings": warnings}


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run_module(module, lambda: run(module.params))


if __name__ == "__main__":
    main()
