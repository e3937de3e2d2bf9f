# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/restore.yml against an inventory of two hosts (both local): the documented command without
--limit must refuse, name --limit and restore_allow_many_hosts, and change nothing; with --limit it restores.
No Docker needed (plain data directory)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tarfile

import pytest

pytest.importorskip("ansible")

from engine import ROOT, collections_root  # noqa: E402
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _snapshot  # noqa: E402
from ansible_collections.sage_open_webui.backup.tests.tree import tree_state  # noqa: E402
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.test_restore_switch import _chats  # noqa: E402

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "openwebui-0.12.4", "data.tar.gz")


@pytest.fixture
def world(tmp_path):
    data = tmp_path / "srv" / "data"
    data.mkdir(parents=True)
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(str(data), filter="fully_trusted") if hasattr(tarfile, "data_filter") else tar.extractall(str(data))
    repo = str(tmp_path / "repo")
    _snapshot.run({"data_dir": str(data), "repository": repo, "host": "h1", "instance": "owui", "mode": "hot"})
    conn = sqlite3.connect(str(data / "webui.db"))
    conn.execute("DELETE FROM chat")  # written since the backup: a restore would bring the 40 chats back
    conn.commit()
    conn.close()
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[openwebui]\n" + "".join(
        "%s ansible_connection=local ansible_python_interpreter=%s\n" % (h, sys.executable) for h in ("web1", "web2")))
    return {"data": str(data), "repo": repo, "inventory": str(inventory), "tmp": tmp_path}


def _playbook(world, *args):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    ev = {"restore_repository": world["repo"], "restore_host": "h1", "restore_instance": "owui",
          "restore_data_dir": world["data"]}
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", world["inventory"],
           os.path.join(ROOT, "playbooks", "restore.yml"), "-e", json.dumps(ev)] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)


def test_two_hosts_without_limit_are_refused_and_nothing_changes(world):
    before = tree_state(str(world["tmp"]))
    r = _playbook(world)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-3000:]
    assert "Refusing to restore 2 hosts" in out and "--limit" in out and "restore_allow_many_hosts" in out, out[-3000:]
    assert tree_state(str(world["tmp"])) == before
    assert _chats(world["data"]) == 0


def test_one_host_with_limit_restores(world):
    r = _playbook(world, "--limit", "web1")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert _chats(world["data"]) == 40


def test_many_hosts_when_asked_explicitly(world):
    r = _playbook(world, "--check", "-e", "restore_allow_many_hosts=true")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "web1" in r.stdout and "web2" in r.stdout and "would restore" in r.stdout
