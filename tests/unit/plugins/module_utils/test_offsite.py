# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_offsite: every target's outcome on its own (real filesystem targets in tmp_path), the summary text."""

from __future__ import annotations

import json
import shutil

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _offsite
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store_write
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError

from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.test_store_write import make_snapshot

KEYS = {"name", "type", "status", "error", "fix", "snapshot_key", "bytes_sent", "bytes_deduplicated", "objects_sent",
        "chunks_new", "chunks_reused", "duration_s", "throughput_bps"}


@pytest.fixture
def snap(tmp_path):
    return make_snapshot(tmp_path / "repo", "20261202T100000Z")


def upload_all(targets, snap, tmp_path, **kw):
    return _offsite.upload_all(targets, snap, "h1", "owui", str(tmp_path / "repo" / _offsite.CACHE_DIR), **kw)


def test_a_failing_target_does_not_stop_the_others(tmp_path, snap):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    good = tmp_path / "good"
    good.mkdir()
    out = upload_all([{"name": "broken", "type": "filesystem", "path": str(not_a_dir)},
                      {"name": "nas", "type": "filesystem", "path": str(good), "bucket": None}], snap, tmp_path)
    assert [o["status"] for o in out] == ["failed", "ok"]
    assert all(KEYS <= set(o) for o in out)
    assert out[0]["error"].startswith("target broken") and "mount the share" in out[0]["fix"]
    assert out[1]["snapshot_key"] == "snapshots/h1/owui/20261202T100000Z.json"
    assert (good / out[1]["snapshot_key"]).is_file()
    assert out[1]["bytes_sent"] > 5 << 20 and out[1]["objects_sent"] >= 4 and out[1]["throughput_bps"] > 0
    text = _offsite.summary(out)
    assert text.startswith("off-host: broken FAILED, nas ok ") and "(0 % deduplicated)" in text


def test_unexpected_errors_and_bad_targets_are_outcomes(tmp_path, snap, monkeypatch):
    def boom(*a, **kw):
        raise RuntimeError("boom")
    monkeypatch.setattr(_store_write, "upload", boom)
    out = upload_all([{"name": "nas", "type": "filesystem", "path": str(tmp_path)},
                      {"name": "odd", "type": "ftp"}, {"name": "off", "type": "filesystem", "path": "/x", "enabled": False}],
                     snap, tmp_path)
    assert [o["status"] for o in out] == ["failed", "failed", "skipped"]
    assert out[0]["error"] == "target nas: unexpected error: boom" and "Traceback" in out[0]["exception"]
    assert out[1]["error"].startswith("target odd") and out[1]["fix"]
    assert _offsite.summary(out) == "off-host: nas FAILED, odd FAILED, off skipped"


def test_secrets_never_reach_an_outcome(tmp_path, snap, monkeypatch):
    def leaky(*a, **kw):
        raise BackupError("endpoint said: bad key SECRETVALUE", "check SECRETVALUE")
    monkeypatch.setattr(_store_write, "upload", leaky)
    out = upload_all([{"name": "nas", "type": "filesystem", "path": str(tmp_path), "dedup_secret": "SECRETVALUE"}],
                     snap, tmp_path)
    assert "SECRETVALUE" not in repr(out) and "********" in out[0]["error"]


def test_unchanged_second_upload_is_almost_all_deduplicated(tmp_path, snap):
    store = tmp_path / "store"
    store.mkdir()
    target = {"name": "nas", "type": "filesystem", "path": str(store)}
    first = upload_all([target], snap, tmp_path)[0]
    snap2 = snap[:-1] + "1"
    shutil.copytree(snap, snap2)
    manifest = json.load(open(snap2 + "/manifest.json"))
    manifest["snapshot_id"] = "20261202T100001Z"
    json.dump(manifest, open(snap2 + "/manifest.json", "w"))
    (second,) = upload_all([target], snap2, tmp_path)
    assert second["status"] == "ok" and second["objects_sent"] == 1
    assert second["bytes_sent"] <= 0.01 * first["bytes_sent"]
    assert second["bytes_deduplicated"] >= 5 << 20
    assert _offsite.summary([second]).startswith("off-host: nas ok ") and "(100 % deduplicated)" in _offsite.summary([second])
    # the index objects were cached under the repository
    assert list((tmp_path / "repo" / ".offsite-cache" / "nas").iterdir())


def test_check_mode_sends_nothing(tmp_path, snap):
    store = tmp_path / "store"
    store.mkdir()
    (o,) = upload_all([{"name": "nas", "type": "filesystem", "path": str(store)}], snap, tmp_path, check_mode=True)
    assert o["status"] == "ok" and o["would_send"] > 5 << 20 and o["objects_sent"] == 0
    assert not list(store.iterdir())
    (o,) = upload_all([{"name": "nas", "type": "filesystem", "path": str(store)}], None, tmp_path, check_mode=True)
    assert o["status"] == "skipped" and o["would_upload"] and o["location"] == str(store)
    assert _offsite.summary([o]) == "off-host: nas would get the new snapshot"


@pytest.mark.parametrize("targets, problem", [
    ("nas", "must be a list"),
    ([{"name": "a", "type": "filesystem", "path": "/x"}, {"name": "a", "type": "filesystem", "path": "/y"}], "two targets are named a"),
    ([{"name": "a", "type": "filesystem", "path": "relative"}], "not absolute"),
    ([{"name": "a", "type": "filesystem", "path": "/x", "buckett": "b"}], "unknown target a"),
])
def test_check_targets_refuses_bad_lists(targets, problem):
    with pytest.raises(BackupError) as ei:
        _offsite.check_targets(targets)
    assert problem in str(ei.value) and "Fix:" in str(ei.value)


def test_check_targets_drops_unset_options():
    assert _offsite.check_targets([{"name": "a", "type": "filesystem", "path": "/x", "bucket": None}]) == [
        {"name": "a", "type": "filesystem", "path": "/x"}]
    assert _offsite.check_targets(None) == []
