# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""snapshot_info with a target: a filesystem target holding a small store written by hand in the store format
(docs/STORE-FORMAT.md): records listed, filtered by host/instance, a missing pack found by verify, an
incomplete snapshot (packs, no record) never listed, the module run as Ansible runs it."""

from __future__ import annotations

import hashlib
import os

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _remote_info, _store, _targets

pytest.importorskip("ansible.module_utils.basic", reason="the module imports AnsibleModule")

from ansible_collections.sage_open_webui.backup.tests import module_runner  # noqa: E402


def _put(backend, key, data):
    assert backend.put(key, data, hashlib.sha256(data).hexdigest())


def upload(backend, host, instance, sid, content, record=True):
    """One snapshot: a pack of ``content`` and (when ``record``) its record, written last."""
    pack_id = hashlib.md5(content).hexdigest()  # 32 hex, as the writer's random ids
    _put(backend, _store.pack_key(pack_id), content)
    if not record:
        return pack_id
    inner = {"local": {"snapshot_id": sid, "source": {"app_version": "0.12.4"}},
             "files": [{"path": "data/webui.db", "size": len(content), "sha256": hashlib.sha256(content).hexdigest(),
                        "mode": "0644", "chunks": [[pack_id, 0, len(content)]]}]}
    rec = {"version": 1, "host": host, "instance": instance, "snapshot_id": sid,
           "created": "2026-11-27T03:15:00+00:00", "uploaded": "2026-11-27T03:15:09+00:00", "encrypted": False,
           "files": 1, "bytes": len(content), "packs": {pack_id: [len(content), hashlib.sha256(content).hexdigest()]},
           "tool": "tools/owb-restore-000000000000.py", "manifest": inner}
    _store.put_json(backend, _store.snapshot_key(host, instance, sid), rec)
    return pack_id


@pytest.fixture()
def target(tmp_path):
    t = {"name": "nas", "type": "filesystem", "path": str(tmp_path / "nas")}
    os.makedirs(t["path"])
    backend = _targets.open_backend(_targets.normalize(t))
    _store.open_store(backend, _targets.normalize(t), create=True)
    upload(backend, "web1", "open-webui", "20261126T031500Z", b"one")
    upload(backend, "web1", "open-webui", "20261127T031500Z", b"two")
    upload(backend, "web2", "open-webui", "20261127T041500Z", b"three")
    upload(backend, "web1", "open-webui", "20261128T031500Z", b"interrupted", record=False)
    return t


def test_lists_complete_snapshots_of_every_host_without_identity(target, tmp_path):
    rc, result = module_runner.run_module("snapshot_info", {"target": target}, tmp_path)
    assert rc == 0, result
    assert [(s["host"], s["id"]) for s in result["snapshots"]] == [
        ("web1", "20261126T031500Z"), ("web1", "20261127T031500Z"), ("web2", "20261127T041500Z")]
    first = result["snapshots"][0]
    assert (first["files"], first["bytes"], first["packs"], first["app_version"], first["encrypted"]) == (1, 3, 1, "0.12.4", False)
    assert result["latest"]["id"] == "20261127T041500Z" and result["target"] == "nas"
    assert result["changed"] is False and "repository_path" not in result


def test_host_filter_and_latest(target, tmp_path):
    rc, result = module_runner.run_module("snapshot_info", {"target": target, "host": "web1", "snapshot": "latest"}, tmp_path)
    assert rc == 0, result
    assert [s["id"] for s in result["snapshots"]] == ["20261127T031500Z"]


def test_verify_finds_a_missing_pack(target, tmp_path):
    backend = _targets.open_backend(_targets.normalize(target))
    record = _store.load_record(backend, "web2", "open-webui", "20261127T041500Z")
    os.unlink(os.path.join(target["path"], _store.pack_key(next(iter(record["packs"])))))
    result = _remote_info.info(target, verify=True)
    assert result["failed_checks"] == ["snapshots/web2/open-webui/20261127T041500Z.json"]
    bad = result["snapshots"][-1]["check"]
    assert not bad["ok"] and bad["problems"][0].startswith("pack missing")
    assert all(s["check"]["ok"] for s in result["snapshots"][:-1])


def test_an_unknown_snapshot_and_a_missing_store_are_clear_errors(target, tmp_path):
    rc, result = module_runner.run_module("snapshot_info", {"target": target, "snapshot": "20200101T000000Z"}, tmp_path)
    assert rc != 0 and "no complete snapshot 20200101T000000Z" in result["msg"] and "Fix:" in result["msg"]
    empty = dict(target, path=str(tmp_path))
    rc, result = module_runner.run_module("snapshot_info", {"target": empty}, tmp_path)
    assert rc != 0 and "no backup store here" in result["msg"]


def test_repository_or_target_exactly_one(target, tmp_path):
    rc, result = module_runner.run_module("snapshot_info", {}, tmp_path)
    assert rc != 0 and "one of the following is required" in result["msg"]
    rc, result = module_runner.run_module("snapshot_info", {"target": target, "repository": str(tmp_path)}, tmp_path)
    assert rc != 0 and "mutually exclusive" in result["msg"]
