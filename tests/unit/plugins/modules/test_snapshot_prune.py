# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""snapshot_prune on a small real repository built in tmp_path (layout and manifest per docs/DEVELOPING.md)."""
from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, snapshot_id_for
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _retention

pytest.importorskip("ansible.module_utils.basic", reason="the module imports AnsibleModule")

from ansible_collections.sage_open_webui.backup.tests import module_runner  # noqa: E402

UTC = datetime.timezone.utc
HOST = "web1"
INSTANCE = "open-webui"


def write_snapshot(root, when, verified=True, content=None, link_from=None):
    """Publish one minimal snapshot by hand (data/webui.db + data/uploads/a.txt + manifest.json)."""
    sid = snapshot_id_for(when)
    path = os.path.join(root, HOST, INSTANCE, sid)
    os.makedirs(os.path.join(path, "data", "uploads"))
    files = {"webui.db": content or ("db at %s" % sid).encode(), "uploads/a.txt": b"shared upload"}
    entries = []
    for rel, data in sorted(files.items()):
        dst = os.path.join(path, "data", rel)
        prev = os.path.join(link_from, "data", rel) if link_from else None
        if prev and os.path.exists(prev) and open(prev, "rb").read() == data:
            os.link(prev, dst)
        else:
            with open(dst, "wb") as f:
                f.write(data)
        entries.append({"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                        "mode": "0644", "mtime_ns": 0, "linked": bool(prev)})
    manifest = {"schema_version": 1, "snapshot_id": sid, "created": when.isoformat(), "host": HOST,
                "instance": INSTANCE, "mode": "pause", "files": entries,
                "totals": {"files": len(entries), "bytes": sum(e["size"] for e in entries)},
                "secret_key": {"captured": False},
                "verification": {"status": "verified" if verified else "failed"}}
    with open(os.path.join(path, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    return sid, path


def build(root, days, start=datetime.datetime(2026, 10, 1, 3, 15, tzinfo=UTC), unverified=()):
    """One snapshot per day for ``days`` days; indexes in ``unverified`` are unverified. Returns ids."""
    ids = []
    prev = None
    for d in range(days):
        sid, prev = write_snapshot(root, start + datetime.timedelta(days=d), verified=d not in unverified,
                                   link_from=prev)
        ids.append(sid)
    return ids


def on_disk(root):
    return sorted(n for n in os.listdir(os.path.join(root, HOST, INSTANCE)) if not n.startswith("."))


def params(root, **kw):
    out = {"repository": root, "host": HOST, "instance": INSTANCE,
           "keep_last": 0, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0}
    out.update(kw)
    return out


def test_prune_keep_last_then_idempotent(tmp_path):
    root = str(tmp_path)
    ids = build(root, 6)
    result = _retention.prune(params(root, keep_last=2))
    assert result["changed"] is True
    assert result["deleted"] == ids[:4]
    assert result["kept"] == [
        {"id": ids[5], "verified": True, "reasons": ["newest verified", "last 2"]},
        {"id": ids[4], "verified": True, "reasons": ["last 2"]},
    ]
    assert result["policy"] == {"keep_last": 2, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0}
    assert on_disk(root) == ids[4:]
    # Nothing left behind: no trash, no staging.
    assert sorted(os.listdir(os.path.join(root, HOST, INSTANCE))) == [".lock"] + ids[4:]

    again = _retention.prune(params(root, keep_last=2))
    assert again["changed"] is False
    assert again["deleted"] == []
    assert on_disk(root) == ids[4:]


def test_hard_linked_files_survive_in_kept_snapshots(tmp_path):
    root = str(tmp_path)
    ids = build(root, 3)
    _retention.prune(params(root, keep_last=1))
    kept = os.path.join(root, HOST, INSTANCE, ids[2], "data", "uploads", "a.txt")
    with open(kept, "rb") as f:
        assert f.read() == b"shared upload"
    assert os.stat(kept).st_nlink == 1


def test_check_mode_deletes_nothing(tmp_path):
    root = str(tmp_path)
    ids = build(root, 5)
    result = _retention.prune(params(root, keep_last=1), check_mode=True)
    assert result["changed"] is True
    assert result["deleted"] == ids[:4]
    assert on_disk(root) == ids
    assert not os.path.exists(os.path.join(root, HOST, INSTANCE, ".lock")), "check mode creates nothing"
    real = _retention.prune(params(root, keep_last=1))
    assert real["deleted"] == result["deleted"]
    assert real["kept"] == result["kept"]


def test_check_mode_nothing_to_do(tmp_path):
    root = str(tmp_path)
    ids = build(root, 2)
    result = _retention.prune(params(root, keep_last=5), check_mode=True)
    assert result["changed"] is False and result["deleted"] == []
    assert on_disk(root) == ids


def test_calendar_policy(tmp_path):
    root = str(tmp_path)
    ids = build(root, 70)  # 2026-10-01 .. 2026-12-09, one a day
    result = _retention.prune(params(root, keep_daily=3, keep_weekly=2, keep_monthly=3))
    kept = {k["id"]: k["reasons"] for k in result["kept"]}
    assert kept == {
        "20261209T031500Z": ["newest verified", "daily 2026-12-09", "weekly 2026-W50", "monthly 2026-12"],
        "20261208T031500Z": ["daily 2026-12-08"],
        "20261207T031500Z": ["daily 2026-12-07"],
        "20261206T031500Z": ["weekly 2026-W49"],
        "20261130T031500Z": ["monthly 2026-11"],
        "20261031T031500Z": ["monthly 2026-10"],
    }
    assert on_disk(root) == sorted(kept)
    assert result["deleted"] == [i for i in ids if i not in kept]


def test_unverified_never_push_out_verified(tmp_path):
    root = str(tmp_path)
    ids = build(root, 6, unverified=(3, 4, 5))  # the last three nights failed verification
    result = _retention.prune(params(root, keep_last=2))
    assert [k["id"] for k in result["kept"]] == [ids[2], ids[1]]
    assert result["kept"][0]["reasons"] == ["newest verified", "last 2"]
    assert result["deleted"] == [ids[0], ids[3], ids[4], ids[5]]
    assert result["warnings"] == []


def test_no_verified_snapshot_warns_and_keeps_newest(tmp_path):
    root = str(tmp_path)
    ids = build(root, 4, unverified=(0, 1, 2, 3))
    result = _retention.prune(params(root, keep_last=1))
    assert on_disk(root) == [ids[3]]
    assert result["kept"] == [{"id": ids[3], "verified": False,
                               "reasons": ["newest (no snapshot is verified)", "last 1"]}]
    assert len(result["warnings"]) == 1 and "no snapshot" in result["warnings"][0]


def test_empty_instance(tmp_path):
    os.makedirs(str(tmp_path / HOST / INSTANCE))
    result = _retention.prune(params(str(tmp_path), keep_last=1))
    assert result["changed"] is False and result["kept"] == [] and result["deleted"] == []


@pytest.mark.parametrize("kw, words", [
    ({}, "retention policy keeps nothing"),
    ({"keep_daily": -1}, "keep_daily must be 0 or more, got -1"),
    ({"keep_last": 1, "keep_weekly": -2}, "keep_weekly must be 0 or more"),
])
def test_bad_policy_changes_nothing(tmp_path, kw, words):
    root = str(tmp_path)
    ids = build(root, 3)
    with pytest.raises(BackupError) as err:
        _retention.prune(params(root, **kw))
    assert words in str(err.value)
    assert "Fix:" in str(err.value)
    assert on_disk(root) == ids


def test_missing_instance_lists_instances(tmp_path):
    root = str(tmp_path)
    build(root, 1)
    with pytest.raises(BackupError) as err:
        _retention.prune(params(root, instance="openwebui", keep_last=1))
    assert "instances there: open-webui" in str(err.value)
    assert not os.path.exists(os.path.join(root, HOST, "openwebui")), "must not create the missing instance"


def test_missing_repository(tmp_path):
    with pytest.raises(BackupError, match="does not exist"):
        _retention.prune(params(str(tmp_path / "absent"), keep_last=1))
    assert not (tmp_path / "absent").exists()


def test_lock_held_by_another_run(tmp_path, monkeypatch):
    root = str(tmp_path)
    ids = build(root, 3)
    monkeypatch.setattr(_retention, "LOCK_TIMEOUT", 0.2)
    inst = os.path.join(root, HOST, INSTANCE)
    fd = os.open(os.path.join(inst, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"pid 4242 since 2026-11-27T03:15:00Z\n")
        with pytest.raises(BackupError) as err:
            _retention.prune(params(root, keep_last=1))
        assert "another backup or restore" in str(err.value)
        assert on_disk(root) == ids
        # Check mode does not need the lock.
        assert _retention.prune(params(root, keep_last=1), check_mode=True)["deleted"] == ids[:2]
    finally:
        os.close(fd)
    assert _retention.prune(params(root, keep_last=1))["deleted"] == ids[:2]


def test_plan_is_made_under_the_lock(tmp_path, monkeypatch):
    """A snapshot published while we waited for the lock is seen by the plan (newest verified kept)."""
    root = str(tmp_path)
    ids = build(root, 3)
    real_lock = Repository.lock
    late = {}

    def lock_then_publish(self, timeout=0.0):
        late["id"] = write_snapshot(root, datetime.datetime(2026, 11, 27, 3, 15, tzinfo=UTC))[0]
        return real_lock(self, timeout=timeout)

    monkeypatch.setattr(Repository, "lock", lock_then_publish)
    result = _retention.prune(params(root, keep_last=1))
    assert result["kept"][0]["id"] == late["id"]
    assert on_disk(root) == [late["id"]]
    assert result["deleted"] == ids


def test_delete_failure_reports_what_was_deleted(tmp_path, monkeypatch):
    root = str(tmp_path)
    ids = build(root, 4)
    real_delete = Repository.delete

    def flaky_delete(self, snapshot_id):
        if snapshot_id == ids[1]:
            raise PermissionError(13, "Permission denied")
        return real_delete(self, snapshot_id)

    monkeypatch.setattr(Repository, "delete", flaky_delete)
    with pytest.raises(BackupError) as err:
        _retention.prune(params(root, keep_last=1))
    assert "deleting snapshot %s" % ids[1] in str(err.value)
    assert "deleted before it: %s" % ids[0] in str(err.value)
    assert err.value.details["deleted"] == [ids[0]]
    assert on_disk(root) == ids[1:]


def test_diff(tmp_path):
    root = str(tmp_path)
    ids = build(root, 3)
    result = _retention.prune(params(root, keep_last=1), check_mode=True)
    assert result["diff"]["before"] == "".join(i + "\n" for i in ids)
    assert result["diff"]["after"] == ids[2] + "\n"


# --------------------------------------------------------------------------- through Ansible


def run_module(args, tmp_path):
    return module_runner.run_module("snapshot_prune", args, tmp_path, timeout=120)


def test_module_end_to_end_check_then_run_twice(tmp_path):
    root = str(tmp_path / "repo")
    ids = build(root, 5, unverified=(4,))
    base = {"repository": root, "host": HOST, "keep_last": 2}

    rc, out = run_module(dict(base, _ansible_check_mode=True, _ansible_diff=True), tmp_path)
    assert rc == 0, out
    assert out["changed"] is True and out["deleted"] == [ids[0], ids[1], ids[4]]
    assert out["diff"]["after"] == ids[2] + "\n" + ids[3] + "\n"
    assert on_disk(root) == ids

    rc, out = run_module(base, tmp_path)
    assert rc == 0, out
    assert out["changed"] is True and out["deleted"] == [ids[0], ids[1], ids[4]]
    assert "diff" not in out
    assert [k["id"] for k in out["kept"]] == [ids[3], ids[2]]
    assert on_disk(root) == [ids[2], ids[3]]

    rc, out = run_module(base, tmp_path)
    assert rc == 0, out
    assert out["changed"] is False and out["deleted"] == []


def test_module_end_to_end_warning(tmp_path):
    root = str(tmp_path / "repo")
    build(root, 2, unverified=(0, 1))
    rc, out = run_module({"repository": root, "host": HOST, "keep_last": 1}, tmp_path)
    assert rc == 0, out
    # ansible-core < 2.19 returns strings, 2.19+ structured WarningSummary objects: look at the text.
    assert "no snapshot in %s is verified" % os.path.join(root, HOST, INSTANCE) in json.dumps(out.get("warnings")), out
    assert len(out["warnings_list"]) == 1        # ended through _common.run_module


@pytest.mark.parametrize("args, words", [
    ({}, "retention policy keeps nothing"),
    ({"keep_last": "three"}, "keep_last"),
    ({"keep_last": 1, "keep_dayly": 7}, "keep_dayly"),
    ({"keep_last": -1}, "keep_last must be 0 or more"),
])
def test_module_end_to_end_errors(tmp_path, args, words):
    root = str(tmp_path / "repo")
    ids = build(root, 2)
    rc, out = run_module(dict({"repository": root, "host": HOST}, **args), tmp_path)
    assert rc == 1 and out["failed"] is True
    assert words in out["msg"]
    assert on_disk(root) == ids


def test_prune_keeps_the_current_run_when_the_clock_went_back(tmp_path):
    """B10: a repository whose newest snapshot was made by a clock running a day ahead; the current run's
    snapshot sorts first, and keep_last=1 deleted it. Protected, it is kept, and the run warns loudly."""
    root = str(tmp_path)
    ahead, dummy = write_snapshot(root, datetime.datetime(2026, 11, 28, 3, 0, tzinfo=UTC))
    current, dummy = write_snapshot(root, datetime.datetime(2026, 11, 27, 3, 0, tzinfo=UTC))
    res = _retention.prune(params(root, keep_last=1), protect=[current])
    assert res["deleted"] == []
    assert on_disk(root) == [current, ahead]
    assert [k["reasons"] for k in res["kept"] if k["id"] == current] == [["current run"]]
    assert any(w.startswith("CLOCK WENT BACKWARDS") and ahead in w for w in res["warnings"])
