# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rclone target's command lines, environment and error texts, with a stand-in ``rclone`` (a script
given as ``rclone_binary`` that records its argv and environment and answers what the test says).
tests/integration/test_target_rclone.py runs the real rclone against real remotes."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import TargetError, normalize, open_backend

# Answers FAKE_STDOUT/FAKE_STDERR/FAKE_RC, or call number n's entry of the JSON list FAKE_SCRIPT ({out, err, rc}).
FAKE = r"""#!/usr/bin/env python3
import json, os, sys
d, env = os.environ["FAKE_DIR"], os.environ
calls = os.path.join(d, "calls.jsonl")
n = sum(1 for line in open(calls)) if os.path.exists(calls) else 0
with open(calls, "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "pass": env.get("RCLONE_CONFIG_PASS"), "ca": env.get("AWS_CA_BUNDLE")}) + "\n")
step = json.loads(env.get("FAKE_SCRIPT", "[]"))[n:n + 1] or [{}]
sys.stderr.write(step[0].get("err", env.get("FAKE_STDERR", "")).replace("{pass}", env.get("RCLONE_CONFIG_PASS", "")))
sys.stdout.write(step[0].get("out", env.get("FAKE_STDOUT", "")))
sys.exit(int(step[0].get("rc", env.get("FAKE_RC", "0"))))
"""
SECRET = "Pa55-not-on-argv"
UPLOAD = [{"rc": 3}, {}]  # a put's first two calls: lsjson --stat (not found), copyto (done)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    path = tmp_path / "rclone"
    path.write_text(FAKE)
    path.chmod(0o755)
    config = tmp_path / "rclone.conf"
    config.write_text("[r]\ntype = local\n")
    config.chmod(0o600)
    monkeypatch.setenv("FAKE_DIR", str(tmp_path))
    monkeypatch.setenv("AWS_CA_BUNDLE", "/etc/some-ca.pem")

    def make(**options):
        target = dict({"name": "t1", "type": "rclone", "remote": "r:store", "config_file": str(config),
                       "rclone_binary": str(path), "rclone_config_pass": SECRET}, **options)
        return open_backend(normalize(target))

    def calls():
        with open(str(tmp_path / "calls.jsonl")) as f:
            return [json.loads(line) for line in f]

    make.calls, make.config = calls, str(config)
    return make


def test_password_goes_by_environment_and_aws_ca_bundle_is_dropped(fake, monkeypatch):
    monkeypatch.setenv("FAKE_STDOUT", "[]")
    assert fake().list("") == []
    call, = fake.calls()
    assert call["pass"] == SECRET and call["ca"] is None
    assert SECRET not in " ".join(call["argv"])
    assert call["argv"][-1] == "r:store/" and "--config" in call["argv"] and "--ask-password=false" in call["argv"]


def test_a_password_rclone_echoes_is_scrubbed_from_the_error(fake, monkeypatch):
    monkeypatch.setenv("FAKE_STDERR", "Failed: something odd with {pass} in it\n")
    monkeypatch.setenv("FAKE_RC", "1")
    with pytest.raises(TargetError) as err:
        fake().list("")
    assert SECRET not in str(err.value) and "********" in str(err.value)
    assert str(err.value).startswith("target t1 (rclone r:store): rclone lsjson failed: Failed: something odd")


@pytest.mark.parametrize("stderr, words, transient", [
    ('Failed to create file system for "x:y": didn\'t find section in config file', ["remote r is not in the rclone config",
                                                                                       "rclone listremotes --config"], False),
    ("ERROR : Couldn't decrypt configuration, most likely wrong password.\nunable to decrypt configuration",
     ["password is wrong", "rclone_config_pass"], False),
    ("ssh: handshake failed: ssh: unable to authenticate", ["refused the login"], False),
    ("couldn't connect SSH: dial tcp 127.0.0.1:1: connect: connection refused", ["refused the connection"], True),
    ("Update Create failed: permission denied", ["denied access"], False),
    ("write: no space left on device", ["is full", "local snapshot is kept"], False),
    ("googleapi: Error 403: The user's Drive storage quota has been exceeded., storageQuotaExceeded", ["quota"], False),
    ("read tcp 127.0.0.1:5->127.0.0.1:6: i/o timeout", ["timed out"], True),
])
def test_failures_are_named_with_a_fix(fake, monkeypatch, stderr, words, transient):
    monkeypatch.setenv("FAKE_STDERR", "2026/12/02 16:00:00 " + stderr)
    monkeypatch.setenv("FAKE_RC", "1")
    with pytest.raises(TargetError) as err:
        fake().exists("owb-store.json")
    text = str(err.value)
    assert text.startswith("target t1 (rclone r:store): ") and ". Fix: " in text
    assert all(w in text for w in words), text
    assert err.value.transient is transient


def test_missing_is_not_an_error_for_exists_and_list_but_is_for_get(fake, monkeypatch):
    monkeypatch.setenv("FAKE_RC", "3")
    b = fake()
    assert b.exists("packs/aa/x") is False and b.list("packs/") == []
    with pytest.raises(TargetError) as err:
        b.get("packs/aa/x")
    assert err.value.missing


def test_bwlimit_is_shared_by_the_concurrent_uploads(fake, monkeypatch):
    monkeypatch.setenv("FAKE_SCRIPT", json.dumps(UPLOAD + [{"out": "{}"}, {"out": json.dumps({"Size": 4})}]))
    assert fake(bwlimit="4M", concurrency=4).put("packs/aa/x", b"data", None) is True
    copy = fake.calls()[1]["argv"]
    assert copy[copy.index("--bwlimit") + 1] == "1048576B" and "--ignore-existing" in copy


@pytest.mark.parametrize("after, problem", [
    ({"Size": 4, "Hashes": {"md5": hashlib.md5(b"data").hexdigest()}}, None),
    ({"Size": 4, "Hashes": {"md5": hashlib.md5(b"dato").hexdigest()}}, "has a different md5 after upload"),
    ({"Size": 3, "Hashes": {"md5": hashlib.md5(b"data").hexdigest()}}, "has size 3 after upload, expected 4"),
])
def test_upload_is_checked_with_the_best_hash_the_remote_offers(fake, monkeypatch, after, problem):
    features = {"out": json.dumps({"Hashes": ["crc32", "md5", "quickxor"]})}
    monkeypatch.setenv("FAKE_SCRIPT", json.dumps(UPLOAD + [features, {"out": json.dumps(after)}]))
    b = fake()
    if problem is None:
        assert b.put("packs/aa/x", b"data", None) is True and b.stats["bytes_sent"] == 4
    else:
        with pytest.raises(TargetError) as err:
            b.put("packs/aa/x", b"data", None)
        assert problem in str(err.value) and not err.value.transient and b.stats["bytes_sent"] == 0
    check = fake.calls()[3]["argv"]
    assert check[check.index("--hash-type") + 1] == "md5"


def test_existing_key_sends_nothing(fake, monkeypatch):
    monkeypatch.setenv("FAKE_STDOUT", json.dumps({"Path": "x", "Size": 4}))
    b = fake()
    assert b.put("packs/aa/x", b"data", None) is False
    assert [c["argv"][c["argv"].index("--config") + 2] for c in fake.calls()] == ["lsjson"]
    assert b.stats["bytes_sent"] == 0


def test_config_readable_by_group_is_refused_before_rclone_runs(fake):
    os.chmod(fake.config, 0o640)
    with pytest.raises(TargetError) as err:
        fake().list("")
    assert "chmod 600 %s" % fake.config in str(err.value)
    assert stat.S_IMODE(os.stat(fake.config).st_mode) == 0o640
    assert not os.path.exists(os.path.join(os.path.dirname(fake.config), "calls.jsonl"))
