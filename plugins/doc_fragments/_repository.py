# Copyright (c) sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this doc fragment is **PRIVATE** to the collection. It can have breaking changes at any time.
# It documents the options of _repository.repository_argument_spec(); keep the two in step.

from __future__ import annotations


class ModuleDocFragment:

    # Where an instance's snapshots live: <repository>/<host>/<instance>/
    DOCUMENTATION = r"""
options:
  repository:
    description:
      - Absolute path of the local repository (the directory that holds one subdirectory per host).
    type: path
    required: true
  host:
    description:
      - Host part of the repository path.
      - Defaults to the short hostname of the machine the task runs on (like C(ansible_hostname)).
    type: str
  instance:
    description:
      - Instance part of the repository path (one per Open WebUI container or data directory).
    type: str
    default: open-webui
"""
