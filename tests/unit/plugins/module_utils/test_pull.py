# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup server's pull (_pull) with the real rsync between two local directories (the SSH transport and
the restricted key are tests/integration/test_pull_restricted.py)."""

from __future__ import annotations

import io
import json
import os
import shutil

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _catalog
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.pullfixture import Signals, make_snapshot

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")

S1, S2, S3 = "20261129T040000Z", "20261206T040000Z", "20261213T040000Z"


@pytest.fixture
def bed(tmp_path, monkeypatch):
    signals = Signals()
    pull = signals.load_pull(monkeypatch)
    host = tmp_path / "host"
    server = tmp_path / "server"
    # run() builds an SshRemote per host: here a host's "address" is the path of its repository
    monkeypatch.setattr(pull, "SshRemote", lambda address, *a: pull.LocalRemote(address))

    def config(**kw):
        hosts = kw.pop("hosts", [{"name": "web1", "address": str(host)}])
        return pull.normalize(dict({"config_schema": 1, "repository": str(server), "hosts": hosts,
                                    "status_dir": str(tmp_path / "status")}, **kw))
    return pull, signals, host, server, config


def _copies(server, host="web1", instance="open-webui"):
    path = os.path.join(str(server), host, instance)
    return sorted(n for n in os.listdir(path) if not n.startswith(".")) if os.path.isdir(path) else []


def test_pull_lands_a_verified_copy_that_snapshot_info_reads(bed):
    pull, signals, host, server, config = bed
    make_snapshot(host, S1)
    records = pull.run(config())
    assert [r["status"] for r in records] == ["ok"]
    assert records[0]["snapshot"]["id"] == S1 and records[0]["local"]["newest_id"] == S1
    assert _copies(server) == [S1]
    info = _catalog.info({"repository": str(server), "host": "web1", "instance": "open-webui", "verify": True})
    assert info["latest"]["id"] == S1 and info["latest"]["verified"] and info["failed_checks"] == []
    assert info["latest"]["secret_key_captured"]
    key = os.path.join(str(server), "web1", "open-webui", S1, "secret", "webui_secret_key")
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    assert not [n for n in os.listdir(os.path.join(str(server), "web1", "open-webui")) if n.startswith(".tmp-")]


def test_second_pull_hard_links_unchanged_files_to_the_previous_copy(bed):
    pull, signals, host, server, config = bed
    make_snapshot(host, S1)
    pull.run(config())
    make_snapshot(host, S2, files={"webui.db": b"db2 " * 1000, "uploads/a.txt": b"hello\n", "uploads/big.bin": b"x" * 200000})
    record = pull.run(config())[0]
    old = os.path.join(str(server), "web1", "open-webui", S1, "data", "uploads", "big.bin")
    new = os.path.join(str(server), "web1", "open-webui", S2, "data", "uploads", "big.bin")
    assert os.stat(old).st_ino == os.stat(new).st_ino
    manifest = os.path.getsize(os.path.join(str(server), "web1", "open-webui", S2, "manifest.json"))
    assert record["snapshot"] == {"id": S2, "bytes": 4000 + 6 + 200000, "new_bytes": 4000 + manifest + len(b"k3y\n")}
    assert _copies(server) == [S1, S2]


def test_a_changed_file_with_the_same_size_and_mtime_is_copied_not_linked(bed):
    """rsync's quick check (size, mtime) would link the old content; the check sees it and the retry compares
    contents (--checksum)."""
    pull, signals, host, server, config = bed
    make_snapshot(host, S1)
    pull.run(config())
    make_snapshot(host, S2, files={"webui.db": b"db " * 1000, "uploads/a.txt": b"HELLO\n", "uploads/big.bin": b"x" * 200000})
    record = pull.run(config())[0]
    assert record["status"] == "ok", record["error"]
    with open(os.path.join(str(server), "web1", "open-webui", S2, "data", "uploads", "a.txt"), "rb") as f:
        assert f.read() == b"HELLO\n"


def test_up_to_date_pulls_nothing(bed):
    pull, signals, host, server, config = bed
    make_snapshot(host, S1)
    pull.run(config())
    record = pull.run(config())[0]
    assert record["status"] == "ok" and record["snapshot"] is None and "up to date" in record["summary"]


def test_an_unverified_newest_snapshot_is_skipped_with_a_warning(bed):
    pull, signals, host, server, config = bed
    make_snapshot(host, S1)
    make_snapshot(host, S2, verified=False)
    record = pull.run(config())[0]
    assert record["status"] == "warning" and record["snapshot"]["id"] == S1
    assert "not verified" in record["warnings"][0]
    assert _copies(server) == [S1]


def test_count_pulls_the_newest_verified_ones_the_server_lacks(bed):
    pull, signals, host, server, config = bed
    for sid in (S1, S2, S3):
        make_snapshot(host, sid)
    pull.run(config(count=2))
    assert _copies(server) == [S2, S3]


@pytest.mark.parametrize("damage", ["content", "extra file", "symlink", "missing key", "top-level entry"])
def test_a_tampered_snapshot_is_not_published(bed, damage):
    pull, signals, host, server, config = bed
    make_snapshot(host, S1)
    pull.run(config())
    snap = make_snapshot(host, S2)
    data = os.path.join(snap, "data")
    if damage == "content":  # same size, other bytes: only the sha256 tells
        with open(os.path.join(data, "uploads", "a.txt"), "wb") as f:
            f.write(b"HELLO\n")
    elif damage == "extra file":
        with open(os.path.join(data, "uploads", "planted.sh"), "w") as f:
            f.write("#!/bin/sh\n")
    elif damage == "symlink":
        os.symlink("/etc/shadow", os.path.join(snap, "secret", "other"))
    elif damage == "missing key":
        os.unlink(os.path.join(snap, "secret", "webui_secret_key"))
    else:
        os.mkdir(os.path.join(snap, "extra"))
    record = pull.run(config())[0]
    assert record["status"] == "failed" and "does not match its manifest" in record["error"]
    assert _copies(server) == [S1]
    assert not [n for n in os.listdir(os.path.join(str(server), "web1", "open-webui")) if n.startswith(".tmp-")]
    assert signals.sent[-1][0] == "failure"


def test_server_retention_prunes_its_own_copies_never_the_newest(bed):
    pull, signals, host, server, config = bed
    for sid in (S1, S2, S3):
        make_snapshot(host, sid)
        record = pull.run(config(keep_last=1, keep_weekly=0, keep_monthly=0))[0]
    assert _copies(server) == [S3]
    assert "pruned %s" % S2 in record["summary"]
    assert record["local"]["count"] == 1


def test_a_failing_host_does_not_stop_the_others_and_each_gets_its_record(bed, tmp_path):
    pull, signals, host, server, config = bed
    make_snapshot(host, S1)
    make_snapshot(host, S1, instance="second")
    hosts = [{"name": "web0", "address": str(tmp_path / "nowhere")}, {"name": "web1", "address": str(host)}]
    records = pull.run(config(hosts=hosts))
    assert [(r["host"], r["instance"], r["status"]) for r in records] == [
        ("web0", "open-webui", "failed"), ("web1", "open-webui", "ok"), ("web1", "second", "ok")]
    assert "listing the instances of web0" in records[0]["error"]
    final = signals.final()
    assert final["web1.second"]["kind"] == "pull" and final["web1.second"]["plan"] == "pull"
    assert [e for e in signals.sent if e[1] == "web1" and e[2] == "second"] == [
        ("start", "web1", "second"), ("success", "web1", "second")]
    assert signals.refreshed and len(_copies(server, instance="second")) == 1


def test_main_exit_codes(bed, tmp_path):
    pull, signals, host, server, config = bed
    make_snapshot(host, S1)
    path = tmp_path / "pull.json"
    path.write_text(json.dumps({"config_schema": 1, "repository": str(server), "status_dir": str(tmp_path / "s"),
                                "hosts": [{"name": "web1", "address": str(host)}]}))
    out = io.StringIO()
    assert pull.main([str(path)], out) == 0 and "pulled %s" % S1 in out.getvalue()
    assert pull.main([str(path), "--host", "other"], io.StringIO()) == 0
    shutil.rmtree(str(host))
    assert pull.main([str(path)], io.StringIO()) == 1
    assert pull.main([], io.StringIO()) == 2
    path.write_text(json.dumps({"config_schema": 1, "repository": "relative", "hosts": []}))
    assert pull.main([str(path)], io.StringIO()) == 2


@pytest.mark.parametrize("bad", [
    {"hosts": [{"name": "../etc"}]},
    {"hosts": [{"name": "web1", "address": "-oProxyCommand=x"}]},
    {"count": 0},
    {"keep_last": 0, "keep_weekly": 0, "keep_monthly": 0},
    {"colour": "blue"},
])
def test_a_bad_config_is_refused(bed, bad):
    pull, signals, host, server, config = bed
    with pytest.raises(BackupError):
        config(**bad)


def test_remote_ids_ignore_what_is_not_a_snapshot(bed):
    pull, signals, host, server, config = bed
    make_snapshot(host, S1)
    make_snapshot(host, S1 + "-2")
    os.makedirs(os.path.join(str(host), "web1", "open-webui", ".tmp-" + S2))
    with open(os.path.join(str(host), "web1", "open-webui", ".lock"), "w"):
        pass
    remote = pull.LocalRemote(str(host))
    assert pull.remote_ids(config(), remote, "web1", "open-webui") == [S1, S1 + "-2"]
