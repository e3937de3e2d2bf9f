# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rclone target's command lines, environment and error texts, with a stand-in ``rclone`` (a script
given as ``rclone_binary`` that records its argv and environment and answers what the test says).
tests/integration/test_target_rclone.py runs the real rclone against real remotes."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import TargetError, normalize, open_backend

# Records its argv and environment, answers FAKE_STDOUT, FAKE_STDERR ({pass}: the config password), FAKE_RC;
# its first FAKE_FAIL_CALLS calls answer FAKE_FAIL_STDERR and exit 1 instead.
FAKE = r"""#!/usr/bin/env python3
import json, os, sys
env = os.environ
calls = os.path.join(env["FAKE_DIR"], "calls.jsonl")
with open(calls, "a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "pass": env.get("RCLONE_CONFIG_PASS"), "ca": env.get("AWS_CA_BUNDLE")}) + "\n")
with open(calls) as f:
    if sum(1 for line in f) <= int(env.get("FAKE_FAIL_CALLS", "0")):
        sys.stderr.write(env["FAKE_FAIL_STDERR"])
        sys.exit(1)
sys.stderr.write(env.get("FAKE_STDERR", "").replace("{pass}", env.get("RCLONE_CONFIG_PASS", "")))
sys.stdout.write(env.get("FAKE_STDOUT", ""))
sys.exit(int(env.get("FAKE_RC", "0")))
"""
SECRET = "Pa55-not-on-argv"


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
    ('Failed to create file system for "x:y": didn\'t find section in config file',
     ["remote r is not in the rclone config", "rclone listremotes --config"], False),
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
    monkeypatch.setenv("FAKE_STDERR", "2026/12/02 16:50:41 INFO  : x: Copied (new) to: x\n")
    assert fake(bwlimit="4M", concurrency=4).put("packs/aa/x", b"data", None) is True
    copy, = [c["argv"] for c in fake.calls()]
    assert copy[copy.index("--bwlimit") + 1] == "1048576B" and "--ignore-existing" in copy


@pytest.mark.parametrize("log, result", [
    ("2026/12/02 16:50:41 DEBUG : x: md5 = 21b5 OK\n2026/12/02 16:50:41 INFO  : x: Copied (new) to: x\n", True),
    ("2026/12/02 16:50:41 DEBUG : x: Destination exists, skipping\n", False),
    ("2026/12/02 16:50:41 INFO  : \nTransferred: 0 B / 0 B\n", None),
])
def test_put_reads_rclones_log(fake, monkeypatch, log, result):
    monkeypatch.setenv("FAKE_STDERR", log)
    b = fake()
    if result is None:
        with pytest.raises(TargetError) as err:
            b.put("packs/aa/x", b"data", None)
        assert "said neither copied nor skipped" in str(err.value)
    else:
        assert b.put("packs/aa/x", b"data", None) is result
    assert b.stats["bytes_sent"] == (4 if result else 0) and len(fake.calls()) == 1


MKDIR_LOST = ('2026/12/03 00:39:06 ERROR : Attempt 1/1 failed with 1 errors and: Put mkParentDir failed: mkdir '
              '"/srv/store/packs" failed: sftp: "Failure" (SSH_FX_FAILURE)\n')
COPIED = "2026/12/02 16:50:41 INFO  : x: Copied (new) to: x\n"


def test_a_put_that_lost_the_race_to_create_its_directory_is_tried_again(fake, monkeypatch):
    """Concurrent puts into a new directory on OpenSSH's SFTP: the losers' mkdir gets a bare "Failure"."""
    monkeypatch.setenv("FAKE_FAIL_CALLS", "2")
    monkeypatch.setenv("FAKE_FAIL_STDERR", MKDIR_LOST)
    monkeypatch.setenv("FAKE_STDERR", COPIED)
    assert fake().put("packs/aa/x", b"data", None) is True
    assert [c["argv"][c["argv"].index("copyto")] for c in fake.calls() if "copyto" in c["argv"]] == ["copyto"] * 3


@pytest.mark.parametrize("stderr, copies", [(MKDIR_LOST, 4), ("2026/12/02 ERROR : x: Failed to copy: some new failure\n", 1)])
def test_other_failures_and_a_mkdir_that_keeps_failing_are_not_tried_again_and_again(fake, monkeypatch, stderr, copies):
    monkeypatch.setenv("FAKE_FAIL_CALLS", "99")
    monkeypatch.setenv("FAKE_FAIL_STDERR", stderr)
    with pytest.raises(TargetError) as err:
        fake().put("packs/aa/x", b"data", None)
    assert "rclone copyto failed" in str(err.value)
    assert sum("copyto" in c["argv"] for c in fake.calls()) == copies


def test_debug_chatter_is_not_a_failure_reason(fake, monkeypatch):
    monkeypatch.setenv("FAKE_STDERR", "2026/12/02 16:50:41 DEBUG : x: Reading EOF, timeout is fine\n"
                                      "2026/12/02 16:50:41 ERROR : x: Failed to copy: some new failure\n")
    monkeypatch.setenv("FAKE_RC", "1")
    with pytest.raises(TargetError) as err:
        fake().put("packs/aa/x", b"data", None)
    assert "rclone copyto failed: x: Failed to copy: some new failure." in str(err.value)
    assert not err.value.transient


def test_config_readable_by_group_is_refused_before_rclone_runs(fake):
    os.chmod(fake.config, 0o640)
    with pytest.raises(TargetError) as err:
        fake().list("")
    assert "chmod 600 %s" % fake.config in str(err.value)
    assert stat.S_IMODE(os.stat(fake.config).st_mode) == 0o640
    assert not os.path.exists(os.path.join(os.path.dirname(fake.config), "calls.jsonl"))
