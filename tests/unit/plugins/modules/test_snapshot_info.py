# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""snapshot_info on a small real repository built in tmp_path (layout and manifest per docs/DEVELOPING.md)."""
from __future__ import annotations

import datetime
import hashlib
import json
import os

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _catalog
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, snapshot_id_for

pytest.importorskip("ansible.module_utils.basic", reason="the module imports AnsibleModule")

from ansible_collections.sage_open_webui.backup.tests import module_runner  # noqa: E402
from ansible_collections.sage_open_webui.backup.tests.tree import tree_state  # noqa: E402

UTC = datetime.timezone.utc
HOST = "web1"
INSTANCE = "open-webui"
SECRET = b"s3cr3t-key-value\n"


def write_snapshot(repo_root, when, files, verified=True, secret=SECRET, link_from=None, host=HOST,
                   instance=INSTANCE, mode="pause"):
    """Publish one snapshot by hand: data/<files>, secret/, manifest.json. Returns (id, path).

    ``link_from``: a snapshot path whose identical files are hard-linked (as the real backup does).
    """
    sid = snapshot_id_for(when)
    path = os.path.join(repo_root, host, instance, sid)
    os.makedirs(os.path.join(path, "data"))
    entries = []
    for rel, content in sorted(files.items()):
        dst = os.path.join(path, "data", rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        prev = os.path.join(link_from, "data", rel) if link_from else None
        linked = False
        if prev and os.path.isfile(prev) and open(prev, "rb").read() == content:
            os.link(prev, dst)
            linked = True
        else:
            with open(dst, "wb") as f:
                f.write(content)
        entries.append({"path": rel, "size": len(content), "sha256": hashlib.sha256(content).hexdigest(),
                        "mode": "0644", "mtime_ns": 0, "linked": linked})
    secret_info = {"captured": False}
    if secret is not None:
        os.makedirs(os.path.join(path, "secret"), mode=0o700)
        with open(os.path.join(path, "secret", "webui_secret_key"), "wb") as f:
            f.write(secret)
        secret_info = {"captured": True, "source": "file", "sha256": hashlib.sha256(secret).hexdigest()}
    manifest = {
        "schema_version": 1,
        "snapshot_id": sid,
        "created": when.isoformat(),
        "host": host, "instance": instance,
        "source": {"data_dir": "/var/lib/docker/volumes/open-webui/_data", "container": "open-webui",
                   "app_version": "0.12.4", "mount": {"type": "volume", "name": "open-webui"}},
        "mode": mode,
        "databases": {"webui.db": {"journal_mode": "wal", "method": "backup_api", "integrity": "ok",
                                   "alembic_revision": "0bd252b206fb"}},
        "secret_key": secret_info,
        "files": entries,
        "totals": {"files": len(entries), "bytes": sum(e["size"] for e in entries),
                   "new_bytes": 0, "linked_files": sum(e["linked"] for e in entries)},
        "warnings": [],
        "verification": {"status": "verified" if verified else "failed", "checked_files": len(entries)},
    }
    with open(os.path.join(path, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    return sid, path


FILES = {"webui.db": b"SQLite format 3\x00" + b"x" * 100,
         "uploads/report.pdf": b"%PDF-1.4 report",
         "vector_db/chroma.sqlite3": b"chroma" * 10}


@pytest.fixture
def repo(tmp_path):
    """Three snapshots: two verified (the second hard-linking unchanged files), the newest unverified."""
    root = str(tmp_path / "repo")
    t0 = datetime.datetime(2026, 11, 25, 3, 15, tzinfo=UTC)
    ids = []
    sid, first = write_snapshot(root, t0, FILES)
    ids.append(sid)
    changed = dict(FILES, **{"webui.db": b"SQLite format 3\x00" + b"y" * 100})
    sid, second = write_snapshot(root, t0 + datetime.timedelta(days=1), changed, link_from=first)
    ids.append(sid)
    sid = write_snapshot(root, t0 + datetime.timedelta(days=2), changed, verified=False, link_from=second,
                         secret=None, mode="cold")[0]
    ids.append(sid)
    # Not snapshots: the lock, a staging leftover, a stray directory.
    inst = os.path.join(root, HOST, INSTANCE)
    open(os.path.join(inst, ".lock"), "w").close()
    os.makedirs(os.path.join(inst, ".tmp-20261128T031500Z", "data"))
    os.makedirs(os.path.join(inst, "lost+found"))
    return root, ids


def params(root, **kw):
    out = {"repository": root, "host": HOST, "instance": INSTANCE, "snapshot": None, "verify": False}
    out.update(kw)
    return out


def test_lists_snapshots_oldest_first_with_facts(repo):
    root, ids = repo
    result = _catalog.info(params(root))
    assert result["changed"] is False
    assert result["repository_path"] == os.path.join(root, HOST, INSTANCE)
    assert [s["id"] for s in result["snapshots"]] == ids
    first = result["snapshots"][0]
    assert first == {
        "id": ids[0],
        "path": os.path.join(root, HOST, INSTANCE, ids[0]),
        "created": "2026-11-25T03:15:00+00:00",
        "size": sum(len(c) for c in FILES.values()),
        "files": 3,
        "mode": "pause",
        "app_version": "0.12.4",
        "alembic_revision": "0bd252b206fb",
        "verified": True,
        "secret_key_captured": True,
    }
    assert [s["verified"] for s in result["snapshots"]] == [True, True, False]
    assert result["snapshots"][2]["secret_key_captured"] is False
    assert result["snapshots"][2]["mode"] == "cold"
    assert "failed_checks" not in result
    assert "check" not in first


def test_latest_is_newest_verified(repo):
    root, ids = repo
    result = _catalog.info(params(root))
    assert result["latest"]["id"] == ids[1]
    assert result["latest"] == result["snapshots"][1]


@pytest.mark.parametrize("which, index", [("latest", 1), (0, 0), (2, 2)])
def test_one_snapshot(repo, which, index):
    root, ids = repo
    wanted = which if which == "latest" else ids[which]
    result = _catalog.info(params(root, snapshot=wanted))
    assert [s["id"] for s in result["snapshots"]] == [ids[index]]
    assert result["latest"]["id"] == ids[1]


def test_unknown_snapshot_names_existing_ones(repo):
    root, ids = repo
    with pytest.raises(BackupError) as err:
        _catalog.info(params(root, snapshot="20200101T000000Z"))
    assert "snapshot 20200101T000000Z not found" in str(err.value)
    assert ids[-1] in str(err.value)


def test_verify_clean_repository(repo):
    root, ids = repo
    before = tree_state(root)
    result = _catalog.info(params(root, verify=True))
    assert result["failed_checks"] == []
    for snap in result["snapshots"]:
        assert snap["check"]["ok"] is True, snap["check"]
        assert snap["check"]["problems"] == []
    # 3 data files + the secret in the first two snapshots, 3 data files in the third.
    assert [s["check"]["checked_files"] for s in result["snapshots"]] == [4, 4, 3]
    # Hard-linked files are hashed once: the third snapshot links everything, reads nothing.
    assert result["snapshots"][2]["check"]["hashed_bytes"] == 0
    assert result["snapshots"][0]["check"]["hashed_bytes"] == sum(len(c) for c in FILES.values()) + len(SECRET)
    assert result["snapshots"][1]["check"]["hashed_bytes"] == 116 + len(SECRET)  # only the new webui.db
    assert tree_state(root) == before, "snapshot_info must not change anything"


def _corrupt(path, content):
    """Overwrite a file without breaking hard links' siblings (new inode, like bit rot in one copy)."""
    os.unlink(path)
    with open(path, "wb") as f:
        f.write(content)


@pytest.mark.parametrize("damage, expected", [
    (lambda p: _corrupt(os.path.join(p, "data", "uploads", "report.pdf"), b"%PDF-1.4 rep0rt"),
     "sha256 differs: uploads/report.pdf"),
    (lambda p: os.unlink(os.path.join(p, "data", "vector_db", "chroma.sqlite3")),
     "missing: vector_db/chroma.sqlite3"),
    (lambda p: _corrupt(os.path.join(p, "data", "webui.db"), b"short"),
     "size differs: webui.db"),
    (lambda p: open(os.path.join(p, "data", "uploads", "extra.bin"), "wb").close(),
     "not in manifest: uploads/extra.bin"),
    (lambda p: _corrupt(os.path.join(p, "secret", "webui_secret_key"), b"other-key\n"),
     "sha256 differs: secret/webui_secret_key"),
    (lambda p: os.unlink(os.path.join(p, "secret", "webui_secret_key")),
     "missing: secret/webui_secret_key"),
])
def test_verify_reports_damage(repo, damage, expected):
    root, ids = repo
    damage(os.path.join(root, HOST, INSTANCE, ids[0]))
    result = _catalog.info(params(root, verify=True))
    assert result["failed_checks"] == [ids[0]]
    check = result["snapshots"][0]["check"]
    assert check["ok"] is False
    assert any(p.startswith(expected) for p in check["problems"]), check["problems"]
    assert all(s["check"]["ok"] for s in result["snapshots"][1:])


def test_verify_corruption_shared_by_hard_link_is_reported_in_every_snapshot(repo):
    root, ids = repo
    # report.pdf is one inode shared by all three snapshots: damage it in place.
    path = os.path.join(root, HOST, INSTANCE, ids[0], "data", "uploads", "report.pdf")
    with open(path, "r+b") as f:
        f.write(b"X")
    result = _catalog.info(params(root, verify=True))
    assert result["failed_checks"] == ids
    for snap in result["snapshots"]:
        assert snap["check"]["problems"] == ["sha256 differs: uploads/report.pdf"]


def test_verify_only_the_chosen_snapshot(repo):
    root, ids = repo
    _corrupt(os.path.join(root, HOST, INSTANCE, ids[0], "data", "webui.db"), FILES["webui.db"][:-1] + b"!")
    result = _catalog.info(params(root, snapshot="latest", verify=True))
    assert result["failed_checks"] == []
    result = _catalog.info(params(root, snapshot=ids[0], verify=True))
    assert result["failed_checks"] == [ids[0]]


def test_damaged_manifest_is_listed_not_fatal(repo):
    root, ids = repo
    with open(os.path.join(root, HOST, INSTANCE, ids[0], "manifest.json"), "w") as f:
        f.write("{not json")
    result = _catalog.info(params(root, verify=True))
    first = result["snapshots"][0]
    assert first["verified"] is False
    assert "not valid JSON" in first["error"]
    assert first["check"]["ok"] is False
    assert result["failed_checks"] == [ids[0]]
    assert result["latest"]["id"] == ids[1]


def test_no_verified_snapshot_latest_is_none(tmp_path):
    root = str(tmp_path)
    write_snapshot(root, datetime.datetime(2026, 1, 1, tzinfo=UTC), FILES, verified=False)
    result = _catalog.info(params(root))
    assert result["latest"] is None
    assert len(result["snapshots"]) == 1


def test_empty_instance_directory(tmp_path):
    os.makedirs(str(tmp_path / HOST / INSTANCE))
    result = _catalog.info(params(str(tmp_path)))
    assert result["snapshots"] == [] and result["latest"] is None


def test_missing_repository(tmp_path):
    with pytest.raises(BackupError) as err:
        _catalog.info(params(str(tmp_path / "nope")))
    assert str(err.value).startswith("repository %s does not exist. Fix:" % (tmp_path / "nope"))
    assert not (tmp_path / "nope").exists()


def test_missing_host_lists_hosts(repo):
    root, ids = repo
    os.makedirs(os.path.join(root, "web2", INSTANCE))
    with pytest.raises(BackupError) as err:
        _catalog.info(params(root, host="web9"))
    assert "no snapshots of host 'web9' (hosts there: web1, web2)" in str(err.value)
    assert err.value.details["hosts"] == ["web1", "web2"]
    assert not os.path.exists(os.path.join(root, "web9"))


def test_missing_instance_lists_instances(repo):
    root, ids = repo
    os.makedirs(os.path.join(root, HOST, "staging-webui"))
    with pytest.raises(BackupError) as err:
        _catalog.info(params(root, instance="openwebui"))
    message = str(err.value)
    assert "no instance 'openwebui' for host web1 (instances there: open-webui, staging-webui)" in message
    assert "Fix: set instance to one of the instances listed" in message
    assert not os.path.exists(os.path.join(root, HOST, "openwebui"))


@pytest.mark.parametrize("kw, words", [
    ({"instance": "../etc"}, "instance '../etc' is not a valid name"),
    ({"host": "a/b"}, "host 'a/b' is not a valid name"),
    ({"repository": "relative/repo"}, "is not absolute"),
])
def test_bad_names(repo, kw, words):
    root, ids = repo
    with pytest.raises(BackupError) as err:
        _catalog.info(params(root, **kw))
    assert words in str(err.value)


def test_host_defaults_to_short_hostname(tmp_path, monkeypatch):
    import socket
    monkeypatch.setattr(socket, "gethostname", lambda: "db7.example.org")
    write_snapshot(str(tmp_path), datetime.datetime(2026, 1, 1, tzinfo=UTC), FILES, host="db7")
    result = _catalog.info(params(str(tmp_path), host=None))
    assert result["repository_path"] == str(tmp_path / "db7" / INSTANCE)
    assert len(result["snapshots"]) == 1


# --------------------------------------------------------------------------- through Ansible


def run_module(name, args, tmp_path):
    """Run the module as Ansible would (tests/module_runner.py); returns (rc, parsed JSON)."""
    return module_runner.run_module(name, args, tmp_path, timeout=120)


def test_module_end_to_end(repo, tmp_path):
    root, ids = repo
    rc, out = run_module("snapshot_info", {"repository": root, "host": HOST, "verify": True}, tmp_path)
    assert rc == 0, out
    assert out["changed"] is False
    assert [s["id"] for s in out["snapshots"]] == ids
    assert out["latest"]["id"] == ids[1]
    assert out["failed_checks"] == []
    assert out["warnings_list"] == []           # ended through _common.run_module


def test_module_end_to_end_check_mode(repo, tmp_path):
    root, ids = repo
    rc, out = run_module("snapshot_info", {"repository": root, "host": HOST, "_ansible_check_mode": True}, tmp_path)
    assert rc == 0, out
    assert len(out["snapshots"]) == 3


def test_module_end_to_end_failure_message(repo, tmp_path):
    root, ids = repo
    rc, out = run_module("snapshot_info", {"repository": root, "host": HOST, "instance": "nope"}, tmp_path)
    assert rc == 1
    assert out["failed"] is True
    assert "no instance 'nope' for host web1 (instances there: open-webui)" in out["msg"]
    assert out["instances"] == ["open-webui"]


def test_module_end_to_end_rejects_unknown_option(repo, tmp_path):
    root, ids = repo
    rc, out = run_module("snapshot_info", {"repository": root, "keep_last": 3}, tmp_path)
    assert rc == 1 and "keep_last" in out["msg"]
