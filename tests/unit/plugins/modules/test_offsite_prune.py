# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""offsite_prune run as Ansible runs it (own process, JSON arguments) on filesystem targets in tmp_path."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store
from ansible_collections.sage_open_webui.backup.tests.tree import tree_state
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.test_store_prune import Store, db

pytest.importorskip("ansible.module_utils.basic", reason="the module imports AnsibleModule")

from ansible_collections.sage_open_webui.backup.tests.module_runner import run_module  # noqa: E402

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
SECRET = "dedup-secret-that-must-not-show"


def make_store(root):
    root.mkdir()
    store = Store(root, keep_last=1)
    for n in (1, 2, 3):
        store.upload("web1", NOW - (4 - n) * DAY, db(n))
    return store


def test_check_mode_then_a_run_and_no_secret_in_the_output(tmp_path):
    store = make_store(tmp_path / "nas")
    target = dict(store.target, dedup_secret=SECRET)
    before = tree_state(str(tmp_path / "nas"), content=True)
    rc, preview = run_module("offsite_prune", {"target": target, "_ansible_check_mode": True}, tmp_path)
    assert rc == 0 and preview["changed"], preview
    assert tree_state(str(tmp_path / "nas"), content=True) == before
    rc, result = run_module("offsite_prune", {"target": target}, tmp_path)
    assert rc == 0 and result["changed"], result
    [outcome] = result["targets"]
    assert outcome["status"] == "ok" and len(outcome["deleted"]) == 2 and outcome["marked"] == 1
    assert result["summary"] == preview["summary"].replace("would delete", "deleted")
    assert [s["id"] for s in _store.list_snapshots(store.backend)] == [outcome["kept"][0]["id"]]
    assert SECRET not in str(preview) + str(result)
    rc, again = run_module("offsite_prune", {"target": target}, tmp_path)
    assert rc == 0 and not again["changed"], again


def test_one_failing_target_does_not_stop_the_others(tmp_path):
    store = make_store(tmp_path / "nas")
    (tmp_path / "empty").mkdir()
    missing = {"name": "usb", "type": "filesystem", "path": str(tmp_path / "empty")}
    rc, result = run_module("offsite_prune", {"targets": [missing, store.target, dict(missing, name="off", enabled=False)]},
                            tmp_path)
    assert rc != 0 and result["failed"]
    assert result["msg"].startswith("pruning failed on usb: target usb (%s): there is no backup store here" % (tmp_path / "empty"))
    assert [(o["target"], o["status"]) for o in result["targets"]] == [("usb", "failed"), ("nas", "ok"), ("off", "skipped")]
    assert len(_store.list_snapshots(store.backend)) == 1


@pytest.mark.parametrize("args, message", [
    ({}, "no target to prune. Fix: give target (one) or targets (a non-empty list)"),
    ({"target": {"name": "a", "type": "filesystem", "path": "/x"}, "targets": [{"name": "a", "type": "filesystem", "path": "/x"}]},
     "parameters are mutually exclusive: target|targets"),
])
def test_exactly_one_of_target_and_targets(tmp_path, args, message):
    rc, result = run_module("offsite_prune", args, tmp_path)
    assert rc != 0 and result["msg"] == message
