# -*- coding: utf-8 -*-
# Copyright (c) sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this doc fragment is **PRIVATE** to the collection. It can have breaking changes at any time.
# It documents _docker.docker_host_option() (every module that talks to the Docker engine); keep the two in step.

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The Docker engine to talk to, C(unix:///path) or a plain socket path, or any URL the Docker SDK accepts.
      - Pausing or stopping a container needs a unix socket (the safety net talks to it directly).
    type: str
    default: unix:///var/run/docker.sock
"""
