# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The restore drill from an off-host target (verify_source): a host with an empty repository drills the
snapshots an encrypted filesystem target holds (written from the format by storefixture), through the module as
Ansible runs it; the work copy is removed; a wrong identity fails the drill. (The drill code is the reader's:
this is the module's and the verify role's path to it.)"""

from __future__ import annotations

import os

import pytest

from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils import storefixture
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils import test_restore_switch as switch_tests

pytest.importorskip("ansible.module_utils.basic", reason="the module imports AnsibleModule")

from ansible_collections.sage_open_webui.backup.tests import module_runner  # noqa: E402

env = switch_tests.env  # the fixture: a small data directory and its snapshot


@pytest.fixture
def remote(env, tmp_path):
    identity, recipient = storefixture.keypair(tmp_path)
    target = storefixture.fs_target(tmp_path / "nas", [recipient])
    os.makedirs(target["path"])
    storefixture.upload(target, env["snap"]["path"], "h1", "owui")
    raw = {"name": "nas", "type": "filesystem", "path": target["path"], "recipients": [recipient]}
    fresh = tmp_path / "fresh-host"
    fresh.mkdir()
    args = {"action": "drill", "repository": str(fresh / "repo"), "scratch": str(fresh / "scratch"), "boot": "never",
            "source": "nas", "targets": [raw], "age_identity": identity}
    return {"args": args, "fresh": str(fresh), "tmp": tmp_path, "files": env["snap"]["totals"]["files"]}


def test_drill_from_a_target_on_a_host_without_snapshots(remote):
    rc, result = module_runner.run_module("openwebui_restore", remote["args"], remote["tmp"])
    assert rc == 0, result
    (drill,) = result["drills"]
    assert (drill["host"], drill["instance"], drill["ok"]) == ("h1", "owui", True), drill
    assert drill["files"] == remote["files"] and drill["problems"] == []
    leftovers = sorted(os.path.relpath(os.path.join(d, f), remote["fresh"]) for d, _dirs, files in os.walk(remote["fresh"]) for f in files)
    assert leftovers == [], "the work copy and the scratch copy are removed"


def test_a_wrong_identity_fails_the_drill(remote, tmp_path):
    other, _recipient = storefixture.keypair(tmp_path)
    rc, result = module_runner.run_module("openwebui_restore", dict(remote["args"], age_identity=other), remote["tmp"])
    assert rc != 0 and "restore drill failed" in result["msg"], result
    assert not result["drills"][0]["ok"]


def test_check_mode_lists_what_the_target_holds(remote):
    rc, result = module_runner.run_module("openwebui_restore", dict(remote["args"], _ansible_check_mode=True), remote["tmp"])
    assert rc == 0 and result["drills"] == [{"host": "h1", "instance": "owui"}], result
