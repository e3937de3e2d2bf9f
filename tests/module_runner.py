# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module of this collection as Ansible runs it: its own python process, arguments from a JSON file
(``ANSIBLE_MODULE_ARGS``), the result as the JSON it prints. Shared by the unit and integration tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import ansible_collections.sage_open_webui.backup as _collection

COLLECTIONS_PATH = os.path.dirname(os.path.dirname(os.path.dirname(_collection.__path__[0])))
PACKAGE = "ansible_collections.sage_open_webui.backup.plugins.modules."


def run_module(name, args, tmp_path, timeout=300):
    """Run module ``name`` with ``args``; return ``(returncode, result)``. Fails the test when the module
    prints no JSON (a crash), with its stdout and stderr."""
    args_file = tmp_path / ("%s-args-%s.json" % (name, uuid.uuid4().hex[:8]))
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS_PATH + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", PACKAGE + name, str(args_file)], capture_output=True, text=True,
                          env=env, cwd=str(tmp_path), timeout=timeout, check=False)
    out = proc.stdout.strip()
    try:
        return proc.returncode, json.loads(out[out.index("{"):])
    except ValueError:
        raise AssertionError("module %s printed no JSON (rc=%d)\nstdout: %s\nstderr: %s"
                             % (name, proc.returncode, proc.stdout, proc.stderr))
