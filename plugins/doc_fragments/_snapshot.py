# -*- coding: utf-8 -*-
# Copyright (c) sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this doc fragment is **PRIVATE** to the collection. It can have breaking changes at any time.
# It documents the options of _snapshot.argument_spec() (openwebui_snapshot, openwebui_backup); keep the two in step.

from __future__ import annotations


class ModuleDocFragment:

    # What to snapshot, how, and where to
    DOCUMENTATION = r"""
options:
  repository:
    description: Absolute path of the local repository. Must be outside the data directory.
    type: path
    required: true
  container:
    description:
      - Name or id of the Open WebUI container. Its data mount (named volume or bind mount at
        C(/app/backend/data)) is found through the Docker API.
      - Required for I(mode=pause) and I(mode=cold).
    type: str
  data_dir:
    description:
      - Path of the data directory on the host. Found from I(container) when omitted.
      - Without I(container), a plain directory is backed up with I(mode=hot).
    type: path
  host:
    description: Host name used in the repository layout. Defaults to the short host name.
    type: str
  instance:
    description: Instance name used in the repository layout. Defaults to the container name, else C(open-webui).
    type: str
  mode:
    description:
      - C(hot) never interrupts the app; C(vector_db/) is copied only when it stayed unchanged during the copy.
      - C(pause) freezes the container with C(docker pause) around the consistent section only.
      - C(cold) stops the container (and the running I(dependents)) around that section, starts them again and waits
        until the app is healthy (a start slower than I(health_timeout) is a warning, since the copy is complete).
      - Defaults to C(pause) with a container, C(hot) without.
      - A container that is not running is backed up as it is (C(offline)) and not started; a paused one is
        refused, in check mode too (only whoever paused it may thaw it).
    type: str
    choices: [hot, pause, cold]
  dependents:
    description: Containers stopped before the app and started after it in I(mode=cold); one that is not running is left
      as it is.
    type: list
    elements: str
    default: []
  exclude:
    description:
      - Shell globs (relative to the data directory) of what not to back up. C(include) wins over C(exclude).
      - The default skips re-downloadable models and the audit log and keeps C(cache/audio/transcriptions),
        C(cache/image), C(cache/functions) and C(cache/tools).
    type: list
    elements: str
    default: ['cache/embedding/models/**', 'cache/whisper/models/**', 'cache/tiktoken/**', 'audit.log', 'audit.log.*', '*.zip-audit']
  include:
    description: Shell globs that are backed up even when I(exclude) matches them.
    type: list
    elements: str
    default: []
  sqlite_method:
    description: How the databases are copied while the app runs. C(vacuum_into) makes a compacted copy.
    type: str
    choices: [backup_api, vacuum_into]
    default: backup_api
  integrity:
    description: C(quick) runs C(PRAGMA quick_check), C(full) runs C(PRAGMA integrity_check) on each copied database.
    type: str
    choices: [quick, full, none]
    default: quick
  verify:
    description: C(quick) checks every file's presence and size before publishing; C(deep) also re-hashes them.
    type: str
    choices: [quick, deep]
    default: quick
  secret_key:
    description: C(auto) captures the secret key when it can be found (and warns when not); C(skip) does not.
    type: str
    choices: [auto, skip]
    default: auto
  secret_key_file:
    description: Path of a C(.webui_secret_key) file on the host, for installs without Docker.
    type: path
  freeze_timeout:
    description:
      - Seconds after which the safety net unpauses the container whatever happens. In I(mode=cold) the net starts
        the app and the dependents the run stopped after this plus I(stop_timeout) per stopped container plus 30 s;
        it is disarmed as soon as they were started (waiting for health is not its job).
    type: float
    default: 10
  stop_timeout:
    description: Seconds C(docker stop) waits before killing, in I(mode=cold).
    type: int
    default: 10
  health_timeout:
    description: Seconds to wait for the container to be healthy after a cold snapshot.
    type: int
    default: 180
  lock_timeout:
    description: Seconds to wait for another backup of the same instance to finish.
    type: float
    default: 0
  include_ollama:
    description:
      - Also back up the Ollama model stores Docker knows on this host (containers mounting C(/root/.ollama),
        volumes named like ollama) into C(ollama/<volume>/) of the snapshot. Off by default, because models can be
        downloaded again and are large.
      - Partial downloads are skipped; unchanged blobs are hard links into the previous snapshot, so only new
        models cost space. Ollama keeps running (its blobs are written once and renamed into place).
    type: bool
    default: false
    version_added: 0.2.0
  ollama_dir:
    description:
      - Back up this Ollama model store (the directory holding C(models/), usually C(~/.ollama)) instead of
        looking for one through Docker. Implies I(include_ollama).
    type: path
    version_added: 0.2.0
"""
