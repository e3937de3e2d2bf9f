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
import re
import sqlite3
import stat
import subprocess
import sys
import tarfile

import pytest

pytest.importorskip("ansible")

from engine import ROOT, collections_root  # noqa: E402
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _snapshot  # noqa: E402
from ansible_collections.sage_open_webui.backup.plugins.module_utils._files import sha256_file  # noqa: E402
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


def _from_server(world, *args):
    """restore.yml on web1 with restore_from_server=nas: the world's repository is the backup server's, web1's own
    repository is empty (both hosts are this machine)."""
    inventory = world["tmp"] / "inventory-nas.ini"
    inventory.write_text("[openwebui]\nweb1 ansible_connection=local ansible_python_interpreter=%s\n"
                         "[backup_server]\nnas ansible_connection=local ansible_python_interpreter=%s\n"
                         % (sys.executable, sys.executable))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    ev = {"restore_repository": str(world["tmp"] / "host-repo"), "restore_host": "h1", "restore_instance": "owui",
          "restore_data_dir": world["data"], "restore_from_server": "nas", "restore_server_repository": world["repo"]}
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory), "--limit", "web1",
           os.path.join(ROOT, "playbooks", "restore.yml"), "-e", json.dumps(ev)] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)


def _files(root):
    """``{relative path: (mode, size, sha256 or None)}`` of everything below ``root``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, sha256_file(p)[1] if stat.S_ISREG(st.st_mode) else None)
    return out


def _leftovers():
    return [n for n in os.listdir("/var/tmp") if n.startswith("owb-restore-")]


def test_restore_from_the_backup_server(world):
    """The host has no snapshot; the backup server's verified copy is carried into its repository (hard links
    and all) and restored. --check first copies nothing."""
    sid, = [n for n in os.listdir(os.path.join(world["repo"], "h1", "owui")) if not n.startswith(".")]
    r = _from_server(world, "--check")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "would copy snapshot %s" % sid in r.stdout and not (world["tmp"] / "host-repo").exists()
    before = _leftovers()
    r = _from_server(world)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert _chats(world["data"]) == 40
    copy = world["tmp"] / "host-repo" / "h1" / "owui"
    assert sorted(n for n in os.listdir(str(copy)) if n != ".lock") == [sid], "no .incoming leftover beside the copy"
    assert _files(str(copy / sid)) == _files(os.path.join(world["repo"], "h1", "owui", sid))
    assert _leftovers() == before
    r = _from_server(world)  # the copy is there now: nothing is carried again
    assert r.returncode == 0 and re.search(r"Pack the copy on the backup server\] \*+\nskipping: \[web1\]", r.stdout), \
        (r.stdout + r.stderr)[-3000:]


def test_a_damaged_copy_on_the_backup_server_is_refused_before_anything_moves(world):
    snap = os.path.join(world["repo"], "h1", "owui")
    sid, = [n for n in os.listdir(snap) if not n.startswith(".")]
    db = os.path.join(snap, sid, "data", "webui.db")
    os.chmod(db, 0o600)
    with open(db, "r+b") as f:
        f.seek(4096)
        f.write(b"\xff")
    r = _from_server(world)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "has no verified copy" in out and "Nothing was changed" in out, out[-3000:]
    assert not (world["tmp"] / "host-repo").exists() and _chats(world["data"]) == 0
