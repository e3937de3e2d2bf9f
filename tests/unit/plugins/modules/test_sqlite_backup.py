# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sqlite_backup: documentation matches the argument spec; the module (run as Ansible runs it) writes a private
copy under the default umask, and check mode writes nothing."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

yaml = pytest.importorskip("yaml")
pytest.importorskip("ansible")

from ansible_collections.sage_open_webui.backup.tests import module_runner  # noqa: E402
from ansible_collections.sage_open_webui.backup.plugins.modules import sqlite_backup  # noqa: E402


@pytest.fixture
def src(tmp_path):
    path = str(tmp_path / "webui.db")
    c = sqlite3.connect(path)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("CREATE TABLE auth (id TEXT, password TEXT)")
    c.execute("INSERT INTO auth VALUES ('u1', '$2b$12$hash')")
    c.commit()
    c.close()
    os.chmod(path, 0o644)
    return path


def _run(tmp_path, **args):
    old = os.umask(0o022)
    try:
        return module_runner.run_module("sqlite_backup", args, tmp_path, timeout=120)[1]
    finally:
        os.umask(old)


def test_documentation_matches_argument_spec():
    doc = yaml.safe_load(sqlite_backup.DOCUMENTATION)
    spec = sqlite_backup.argument_spec()
    assert set(doc["options"]) == set(spec)
    for name, opt in spec.items():
        assert doc["options"][name]["type"] == opt["type"], name
        assert doc["options"][name].get("default") == opt.get("default"), name
        assert doc["options"][name].get("choices") == opt.get("choices"), name


def test_copy_is_0600_under_umask_022(src, tmp_path):
    dest = str(tmp_path / "out" / "webui.db")
    os.mkdir(os.path.dirname(dest))
    res = _run(tmp_path, src=src, dest=dest)
    assert res.get("failed") is not True, res
    assert res["changed"] is True and res["integrity"] == "ok" and res["journal_mode"] == "wal"
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    assert os.listdir(os.path.dirname(dest)) == ["webui.db"]


def test_check_mode_writes_nothing(src, tmp_path):
    dest = str(tmp_path / "copy.db")
    res = _run(tmp_path, src=src, dest=dest, _ansible_check_mode=True)
    assert res["changed"] is True and res["journal_mode"] == "wal" and not os.path.exists(dest)


def test_missing_source_fails_with_a_fix(tmp_path):
    res = _run(tmp_path, src=str(tmp_path / "nope.db"), dest=str(tmp_path / "copy.db"))
    assert res["failed"] is True and "does not exist" in res["msg"] and "Fix:" in res["msg"]
