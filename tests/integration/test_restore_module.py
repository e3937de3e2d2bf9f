# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""openwebui_restore: the module runs as Ansible runs it (separate
python process, JSON arguments) on the real fixture, in check mode, for real, as a drill, and fails clearly.
No Docker needed (plain data directory)."""

from __future__ import annotations

import json
import os
import sqlite3
import tarfile

import pytest

pytest.importorskip("ansible")

import ansible_collections.sage_open_webui.backup as collection  # noqa: E402
from ansible_collections.sage_open_webui.backup.tests import module_runner  # noqa: E402
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _snapshot  # noqa: E402

COLLECTION_ROOT = os.path.realpath(collection.__path__[0])
FIXTURE = os.path.join(COLLECTION_ROOT, "tests", "fixtures", "openwebui-0.12.4")


def run_module(tmp_path, **args):
    """The module as Ansible runs it (tests/module_runner.py); returns its result."""
    return module_runner.run_module("openwebui_restore", args, tmp_path, timeout=300)[1]


@pytest.fixture
def env(tmp_path):
    data = tmp_path / "srv" / "data"
    data.mkdir(parents=True)
    with tarfile.open(os.path.join(FIXTURE, "data.tar.gz")) as tar:
        tar.extractall(str(data), filter="fully_trusted") if hasattr(tarfile, "data_filter") else tar.extractall(str(data))
    key = tmp_path / "srv" / ".webui_secret_key"
    key.write_text("owui-fixture-test-secret-0.12.4\n")
    repo = str(tmp_path / "repo")
    snap = _snapshot.run({"data_dir": str(data), "repository": repo, "host": "h1", "instance": "owui",
                          "secret_key_file": str(key)})
    return {"data": str(data), "repo": repo, "snap": snap}


def _chats(data):
    conn = sqlite3.connect(os.path.join(data, "webui.db"))
    try:
        return conn.execute("SELECT count(*) FROM chat").fetchone()[0]
    finally:
        conn.close()


def test_check_mode_then_restore_then_drill(tmp_path, env):
    conn = sqlite3.connect(os.path.join(env["data"], "webui.db"))
    conn.execute("DELETE FROM chat")
    conn.commit()
    conn.close()
    args = dict(repository=env["repo"], host="h1", instance="owui", data_dir=env["data"])
    res = run_module(tmp_path, _ansible_check_mode=True, **args)
    assert res.get("failed") is not True, res
    assert res["snapshot_id"] == env["snap"]["snapshot_id"] and res["would"]
    assert _chats(env["data"]) == 0
    res = run_module(tmp_path, **args)
    assert res.get("failed") is not True, res
    assert res["changed"] and _chats(env["data"]) == 40
    assert res["guidance"] and "DATA_DIR=" in res["guidance"][0]
    res = run_module(tmp_path, action="drill", repository=env["repo"], scratch=str(tmp_path / "scratch"), boot="never")
    assert res.get("failed") is not True, res
    assert res["drills"][0]["ok"] and res["drills"][0]["rto_s"] > 0


def test_failures_are_clear(tmp_path, env):
    res = run_module(tmp_path, repository=env["repo"], host="h1", instance="owui", data_dir=env["data"],
                     before="2000-01-01T00:00:00Z")
    assert res["failed"] and "no verified snapshot at or before 2000-01-01" in res["msg"] and "Fix:" in res["msg"]
    res = run_module(tmp_path, repository=env["repo"], host="h1", instance="owui", data_dir=env["data"], snapshot="20000101T000000Z")
    assert res["failed"] and "not found" in res["msg"]
    res = run_module(tmp_path, repository=env["repo"], host="h1", instance="owui")
    assert res["failed"] and "container" in res["msg"]
    # drill fails loudly on a mismatch
    mp = os.path.join(env["snap"]["path"], "manifest.json")
    m = json.load(open(mp))
    up = next(e for e in m["files"] if e["path"].startswith("uploads/"))
    up["sha256"] = "0" * 64
    json.dump(m, open(mp, "w"))
    res = run_module(tmp_path, action="drill", repository=env["repo"], scratch=str(tmp_path / "scratch"), boot="never")
    assert res["failed"] and "drill failed" in res["msg"] and up["path"] in json.dumps(res["drills"])
