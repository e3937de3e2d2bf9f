# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the target options, the filesystem target, age and the store's shared records."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _age, _store, _targets
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError


def fs_target(path, **kw):
    return _targets.normalize(dict({"name": "nas", "type": "filesystem", "path": str(path)}, **kw))


@pytest.mark.parametrize("given, fix", [
    ({"name": "x", "type": "ftp"}, "type to one of"),
    ({"name": "bad name", "type": "filesystem", "path": "/x"}, "letters, digits"),
    ({"name": "x", "type": "filesystem"}, "set path"),
    ({"name": "x", "type": "filesystem", "path": "rel/dir"}, "mount point"),
    ({"name": "x", "type": "rclone", "remote": "nocolon"}, "remote:path"),
    ({"name": "x", "type": "s3", "bucket": "b", "bukcet": "c"}, "bukcet"),
    ({"name": "x", "type": "s3", "bucket": "b", "recipients": ["not-a-key"]}, "age public keys"),
    ({"name": "x", "type": "s3", "bucket": "b", "concurrency": 0}, "concurrency is 1..64"),
    ({"name": "x", "type": "s3", "bucket": "b", "bwlimit": "fast"}, "bytes per second"),
])
def test_bad_target_options_are_refused_with_a_fix(given, fix):
    with pytest.raises(BackupError) as e:
        _targets.normalize(given)
    assert fix in str(e.value)


@pytest.mark.parametrize("value, bps", [(None, None), ("0", None), (2048, 2048), ("512K", 512 << 10),
                                        ("10M", 10 << 20), ("1.5MiB", int(1.5 * (1 << 20))), ("1G", 1 << 30)])
def test_parse_rate(value, bps):
    assert _targets.parse_rate(value) == bps


def test_redact_hides_every_secret_option():
    t = _targets.normalize({"name": "s", "type": "s3", "bucket": "b", "access_key_id": "AKIAEXAMPLE",
                            "secret_access_key": "s3cr3t", "dedup_secret": "d"})
    text = repr(_targets.redact(t))
    assert "AKIAEXAMPLE" not in text and "s3cr3t" not in text and "'d'" not in text
    assert set(_targets.SECRET_OPTIONS) - {"rclone_config_pass"} <= set(t)


def test_filesystem_put_never_overwrites_and_leaves_no_temporary_file(tmp_path):
    b = _targets.open_backend(fs_target(tmp_path))
    assert b.put("a/b", b"one", None) is True
    assert b.put("a/b", b"two", None) is False
    assert b.get("a/b") == b"one"
    assert b.list("") == [("a/b", 3)] and b.exists("a/b") and not b.exists("a/c")
    assert sorted(os.listdir(tmp_path / "a")) == ["b"]
    assert b.stats["bytes_sent"] == 3 and b.stats["objects_sent"] == 1


def test_filesystem_concurrent_puts_of_one_key_write_it_once(tmp_path):
    b = _targets.open_backend(fs_target(tmp_path))
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(b.put("k", b"%d" % i, None))) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1


def test_filesystem_missing_root_and_missing_key_say_what_to_do(tmp_path):
    b = _targets.open_backend(fs_target(tmp_path / "not-mounted"))
    with pytest.raises(_targets.TargetError) as e:
        b.put("k", b"x", None)
    assert "not mounted" in str(e.value) and "nas" in str(e.value)
    b = _targets.open_backend(fs_target(tmp_path))
    with pytest.raises(_targets.TargetError) as e:
        b.get("nope")
    assert e.value.missing


def test_filesystem_rejects_keys_that_leave_the_target(tmp_path):
    b = _targets.open_backend(fs_target(tmp_path / "t"))
    for key in ("../x", "/abs", "a//b", "a/./b"):
        with pytest.raises(_targets.TargetError):
            b._path(key)


def test_rate_limit_holds_the_rate():
    limit = _targets.RateLimit(1 << 20)
    t0 = time.monotonic()
    for _round in range(6):
        limit.take(512 << 10)  # 3 MiB at 1 MiB/s, 1 MiB of burst: >= 2 s
    assert time.monotonic() - t0 >= 1.9


def test_retry_retries_transient_errors_only():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise _targets.TargetError("503", "wait", transient=True)
        return "ok"
    assert _targets.retry(flaky, "x", sleep=lambda s: None) == "ok" and len(calls) == 3

    def broken():
        calls.append(1)
        raise _targets.TargetError("403", "fix credentials")
    calls.clear()
    with pytest.raises(_targets.TargetError):
        _targets.retry(broken, "x", sleep=lambda s: None)
    assert len(calls) == 1

    def down():
        calls.append(1)
        raise _targets.TargetError("connection refused", "start it", transient=True)
    calls.clear()
    with pytest.raises(_targets.TargetError) as e:  # retry around retry: 3 attempts, not 3 x 3
        _targets.retry(lambda: _targets.retry(down, "inner", attempts=3, sleep=lambda s: None), "outer", sleep=lambda s: None)
    assert len(calls) == 3 and "after 3 attempts" in str(e.value)


def test_store_is_created_once_and_its_encryption_must_match(tmp_path):
    plain = fs_target(tmp_path)
    b = _targets.open_backend(plain)
    with pytest.raises(BackupError) as e:
        _store.open_store(b, plain)
    assert "first backup" in str(e.value)
    assert _store.open_store(b, plain, create=True)["encrypted"] is False
    enc = fs_target(tmp_path, recipients=["age1" + "q" * 58])
    with pytest.raises(BackupError) as e:
        _store.open_store(_targets.open_backend(enc), enc, create=True)
    assert "not encrypted" in str(e.value)


def test_chunk_ids_are_keyed_in_an_encrypted_store():
    data = b"hello"
    assert _store.chunk_id(data, None) == _store.sha256_hex(data)
    key = _store.dedup_key({"recipients": ["age1" + "q" * 58]})
    assert _store.chunk_id(data, key) != _store.sha256_hex(data)
    assert key != _store.dedup_key({"recipients": ["age1" + "q" * 58], "dedup_secret": "s"})


def test_list_snapshots_reads_only_complete_records(tmp_path):
    b = _targets.open_backend(fs_target(tmp_path))
    _store.put_json(b, _store.snapshot_key("h", "i", "20261201T010000Z"), {"version": 1})
    _store.put_json(b, _store.snapshot_key("h", "j", "20261201T020000Z"), {"version": 1})
    b.put("snapshots/h/i/garbage.txt", b"x", None)
    got = _store.list_snapshots(b, "h", "i")
    assert [s["id"] for s in got] == ["20261201T010000Z"]
    assert len(_store.list_snapshots(b)) == 2


def test_sealed_manifest_opens_only_with_the_identity(tmp_path):
    ident, other = tmp_path / "id.txt", tmp_path / "other.txt"
    subprocess.run(["age-keygen", "-o", str(ident)], check=True, capture_output=True)
    subprocess.run(["age-keygen", "-o", str(other)], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", str(ident)], check=True, capture_output=True, text=True).stdout.strip()
    inner = {"local": {"schema_version": 1}, "files": [{"path": "data/webui.db"}]}
    record = _store.seal_manifest({"encrypted": True, "snapshot_id": "s"}, inner, [recipient])
    assert "webui.db" not in repr(record)
    assert _store.open_manifest(record, str(ident)) == inner
    with pytest.raises(BackupError) as e:
        _store.open_manifest(record, str(other))
    assert "does not match" in str(e.value)
    with pytest.raises(BackupError) as e:
        _store.open_manifest(record, None)
    assert "restore_age_identity" in str(e.value)
    assert _age.decrypt(_age.encrypt(b"x" * 100000, [recipient]), str(ident)) == b"x" * 100000


def test_scrub_masks_every_secret_longest_first_and_leaves_short_values(tmp_path):
    assert _targets.scrub("key AKIAXYZ1 and AKIAXYZ12", ["AKIAXYZ1", "AKIAXYZ12"]) == "key ******** and ********"
    assert _targets.scrub("target nas failed", ["a", "n"]) == "target nas failed"
    b = _targets.open_backend(fs_target(tmp_path, dedup_secret="hunter2-secret"))
    e = b.error("the endpoint said hunter2-secret", "not hunter2-secret")
    assert "hunter2" not in str(e)
