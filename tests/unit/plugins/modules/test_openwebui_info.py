# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""openwebui_info: the module runs (as Ansible runs it: a separate
python process reading its arguments from a JSON file) on the real fixture and fails clearly."""

from __future__ import annotations

import json
import os
import tarfile

import pytest

pytest.importorskip("ansible")

import ansible_collections.sage_open_webui.backup as collection  # noqa: E402
from ansible_collections.sage_open_webui.backup.tests import module_runner  # noqa: E402

COLLECTION_ROOT = os.path.realpath(collection.__path__[0])
FIXTURE = os.path.join(COLLECTION_ROOT, "tests", "fixtures", "openwebui-0.12.4")
EXPECTED = json.load(open(os.path.join(FIXTURE, "expected.json")))


def run_module(tmp_path, **args):
    """The module as Ansible runs it (tests/module_runner.py); returns its result."""
    return module_runner.run_module("openwebui_info", args, tmp_path, timeout=120)[1]


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    with tarfile.open(os.path.join(FIXTURE, "data.tar.gz")) as tar:
        tar.extractall(str(d), **({"filter": "tar"} if hasattr(tarfile, "data_filter") else {}))
    return str(d)


def test_data_dir_inventory(tmp_path, data_dir):
    res = run_module(tmp_path, data_dir=data_dir)
    assert res.get("failed") is not True, res
    assert res["changed"] is False
    inst = res["instances"][0]
    inv = inst["inventory"]
    assert inst["data_dir"] == data_dir and inst["supported"] is True
    assert inv["alembic_revision"] == EXPECTED["alembic_revision"]
    assert inv["journal_mode"] == "wal" and inv["chroma_journal_mode"] == "delete"
    assert inv["uploads"]["files"] == 12
    assert res["discovery_warnings"] == []


def test_check_mode_is_supported_and_changes_nothing(tmp_path, data_dir):
    before = sorted(os.listdir(data_dir))
    res = run_module(tmp_path, data_dir=data_dir, _ansible_check_mode=True)
    assert res.get("failed") is not True, res
    assert res["changed"] is False and res["instances"][0]["inventory"]["alembic_revision"] == "0bd252b206fb"
    assert sorted(os.listdir(data_dir)) == before


def test_not_an_openwebui_dir_fails_with_fix(tmp_path):
    empty = tmp_path / "vol"
    empty.mkdir()
    (empty / "random.bin").write_bytes(b"x")
    res = run_module(tmp_path, data_dir=str(empty))
    assert res["failed"] is True
    assert "does not look like an Open WebUI data directory" in res["msg"] and "Fix:" in res["msg"]


def test_unreachable_docker_fails_naming_the_socket(tmp_path):
    pytest.importorskip("docker")
    sock = tmp_path / "no-docker.sock"
    res = run_module(tmp_path, container="open-webui", docker_host="unix://%s" % sock)
    assert res["failed"] is True
    assert str(sock) in res["msg"] and "Fix:" in res["msg"]


def test_unknown_option_is_rejected(tmp_path):
    res = run_module(tmp_path, data_dir="/tmp", bogus=1)
    assert res["failed"] is True and "bogus" in res["msg"]
