# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rclone target against the real rclone CLI: a ``local`` remote and an ``sftp`` remote (OpenSSH's sshd
on loopback, tests/testbed/sftp.sh). The shared backend contract (target_contract.py), then the faults:
remote down, wrong config password, wrong key, missing remote name, target full, permission denied, a config
file others can read; never a secret in an error text or on a command line."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import threading
import time
import uuid

import pytest

from conftest import free_port
from target_contract import (SmallFs, assert_clean_error, check_bwlimit, check_contract, check_get_to, local_tree,
                             make_snapshot, read_snapshot, run_testbed, sha)
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.test_store_write import copy_snapshot
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _offsite
from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import TargetError, normalize, open_backend

PASSWORD = "Pw-%s" % uuid.uuid4().hex  # the rclone config password of the encrypted configs here
SFTP_USER = "owbsftp"


class Sftp(object):
    """One sshd (tests/testbed/sftp.sh PORT): ``section`` is its rclone config text, ``home`` the directory
    that ``<name>:<port>/...`` reaches."""

    def __init__(self):
        self.port = free_port()
        self.section = run_testbed("sftp.sh", "start", self.port)
        self.name = "sftp-%d" % self.port
        self.home = os.path.join(pwd.getpwnam(SFTP_USER).pw_dir, str(self.port))

    def stop(self):
        run_testbed("sftp.sh", "stop", self.port)

    def close(self):
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def start(self):
        run_testbed("sftp.sh", "start", self.port)


@pytest.fixture(scope="module")
def sftp():
    server = Sftp()
    yield server
    server.close()


def write_config(tmp_path, text, password=None):
    """An rclone config file (0600) with ``text``; encrypted with ``password`` through `rclone config`."""
    path = str(tmp_path / ("rclone-%s.conf" % uuid.uuid4().hex[:6]))
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    if password:
        encrypt_config(path, password)
    return path


def encrypt_config(path, password):
    """rclone 1.60 sets a config password only through its interactive menu: answer it line by line."""
    proc = subprocess.Popen(["rclone", "--config", path, "config"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    for line in ("s", "a", password, password, "q", "q"):
        time.sleep(0.3)
        proc.stdin.write(line + "\n")
        proc.stdin.flush()
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    with open(path) as f:
        text = f.read()
    assert "RCLONE_ENCRYPT_V0:" in text and password not in text


def rclone_backend(remote, config_file, **options):
    target = dict({"name": "offsite", "type": "rclone", "remote": remote, "config_file": config_file}, **options)
    return open_backend(normalize(target))


@pytest.fixture(params=["local", "sftp"])
def make(request, tmp_path):
    """make(**options) -> a backend on a fresh empty store of the local or the sftp remote."""
    if request.param == "local":
        config = write_config(tmp_path, "[loc]\ntype = local\n")
        return lambda **o: rclone_backend("loc:%s/%s" % (tmp_path, uuid.uuid4().hex[:8]), config, **o)
    server = request.getfixturevalue("sftp")
    config = write_config(tmp_path, server.section, PASSWORD)
    return lambda **o: rclone_backend("%s:%d/%s" % (server.name, server.port, uuid.uuid4().hex[:8]), config,
                                      rclone_config_pass=PASSWORD, **o)


def test_contract(make, tmp_path):
    rate = check_contract(make)
    check_get_to(make, tmp_path)
    alone, shared = check_bwlimit(make)
    print("40 MiB put: %.1f MiB/s; 4 MiB at bwlimit 1M in one put: %.1f s, at 512K in 4 at once: %.1f s" % (rate / (1 << 20), alone, shared))


def test_list_is_one_rclone_call(make):
    b = make()
    for i in range(5):
        b.put("index/%02d/p.json" % i, b"{}", sha(b"{}"))
    before = b.stats["requests"]
    assert len(b.list("index/")) == 5
    assert b.stats["requests"] - before == 1


def test_concurrent_puts_into_new_directories(make):
    """Several rclone processes creating the same new directory at once: OpenSSH's SFTP answers the losers'
    mkdir with a bare "Failure" that rclone 1.60 does not take for "exists" (a first upload with concurrency 4
    once failed in CI this way). Every put must land."""
    for _round in range(8):  # without the retry, about one round in three failed here
        b = make()
        keys = ["packs/%02x/%032x" % (i % 2, i) for i in range(8)]
        errors = []

        def put(key):
            try:
                b.put(key, key.encode(), sha(key.encode()))
            except TargetError as e:  # collected: the assertion names them all
                errors.append(str(e))
        threads = [threading.Thread(target=put, args=(k,)) for k in keys]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert sorted(k for k, _size in b.list("packs/")) == sorted(keys)


def test_remote_down_is_transient(tmp_path):
    server = Sftp()  # a server of its own, stopped here
    try:
        config = write_config(tmp_path, server.section)
        b = rclone_backend("%s:%d/down" % (server.name, server.port), config)
        assert b.put("packs/aa/x", b"x", sha(b"x"))
        server.stop()
        with pytest.raises(TargetError) as err:
            b.put("packs/aa/y", b"y", sha(b"y"))
        assert_clean_error(err.value, words=("offsite", server.name, "refused the connection", "start the server"))
        assert err.value.transient
        server.start()
        assert b.put("packs/aa/y", b"y", sha(b"y")) and b.list("packs/") == [("packs/aa/x", 1), ("packs/aa/y", 1)]
    finally:
        server.close()


def test_config_password_wrong_or_missing(sftp, tmp_path):
    config = write_config(tmp_path, sftp.section, PASSWORD)
    remote = "%s:%d/pw" % (sftp.name, sftp.port)
    wrong = "Wrong-%s" % uuid.uuid4().hex
    with pytest.raises(TargetError) as err:
        rclone_backend(remote, config, rclone_config_pass=wrong).list("")
    assert_clean_error(err.value, wrong, PASSWORD, words=("password is wrong", "rclone_config_pass", config))
    with pytest.raises(TargetError) as err:
        rclone_backend(remote, config).put("packs/aa/x", b"x", sha(b"x"))
    assert_clean_error(err.value, PASSWORD, words=("no password was given", "rclone_config_pass"))


def test_wrong_key_is_refused_login(sftp, tmp_path):
    config = write_config(tmp_path, sftp.section.replace("/id_ed25519", "/other_ed25519"))
    with pytest.raises(TargetError) as err:
        rclone_backend("%s:%d/key" % (sftp.name, sftp.port), config).exists("owb-store.json")
    assert_clean_error(err.value, words=("refused the login", sftp.name))
    assert not err.value.transient


def test_missing_remote_name(tmp_path):
    config = write_config(tmp_path, "[loc]\ntype = local\n")
    with pytest.raises(TargetError) as err:
        rclone_backend("nas-typo:store", config).list("")
    assert_clean_error(err.value, words=("nas-typo", "not in the rclone config", "rclone listremotes --config " + config))


def test_config_readable_by_others_is_refused(tmp_path):
    config = write_config(tmp_path, "[loc]\ntype = local\n")
    os.chmod(config, 0o644)
    b = rclone_backend("loc:%s/s" % tmp_path, config)
    with pytest.raises(TargetError) as err:
        b.put("packs/aa/x", b"x", sha(b"x"))
    assert_clean_error(err.value, words=("readable by others", "chmod 600 " + config))
    assert b.stats["requests"] == 0 and not os.path.exists(str(tmp_path / "s"))


@pytest.mark.parametrize("kind", ["local", "sftp"])
def test_full_remote(kind, request, tmp_path):
    if kind == "local":
        fs = SmallFs(tmp_path / "mnt", "8m")
        remote, config = "loc:%s/store" % fs.path, write_config(tmp_path, "[loc]\ntype = local\n")
    else:
        server = request.getfixturevalue("sftp")
        fs = SmallFs(os.path.join(server.home, "full-%s" % uuid.uuid4().hex[:6]), "8m")
        os.chown(fs.path, pwd.getpwnam(SFTP_USER).pw_uid, -1)
        remote, config = "%s:%d/%s" % (server.name, server.port, os.path.basename(fs.path)), write_config(tmp_path, server.section)
    try:
        b = rclone_backend(remote, config)
        first = os.urandom(5 << 20)
        assert b.put("packs/aa/first", first, sha(first))
        second = os.urandom(5 << 20)
        with pytest.raises(TargetError) as err:
            b.put("packs/bb/second", second, sha(second))
        assert_clean_error(err.value, words=("offsite", "is full", "local snapshot is kept"))
        assert b.list("") == [("packs/aa/first", len(first))], "no half object under its name"
        assert b.get("packs/aa/first") == first
    finally:
        fs.close()


def test_permission_denied_sftp(sftp, tmp_path):
    locked = os.path.join(sftp.home, "locked-%s" % uuid.uuid4().hex[:6])
    os.makedirs(locked, mode=0o755)  # owned by root: the sftp user may read, not write
    b = rclone_backend("%s:%d/%s" % (sftp.name, sftp.port, os.path.basename(locked)), write_config(tmp_path, sftp.section))
    with pytest.raises(TargetError) as err:
        b.put("packs/aa/x", b"x", sha(b"x"))
    assert_clean_error(err.value, words=("denied access", "let the rclone user read and write"))
    assert b.list("") == []


def test_password_never_on_a_command_line(sftp, tmp_path):
    """While a slow put runs, no rclone process has the password in its argv (it is in its environment)."""
    config = write_config(tmp_path, sftp.section, PASSWORD)
    b = rclone_backend("%s:%d/argv" % (sftp.name, sftp.port), config, rclone_config_pass=PASSWORD, bwlimit="1M", concurrency=1)
    data = os.urandom(3 << 20)
    worker = threading.Thread(target=b.put, args=("packs/aa/slow", data, sha(data)))
    worker.start()
    seen = []
    while worker.is_alive():
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
                if argv and argv[0].endswith(b"rclone") and b"copyto" in argv:
                    seen.append(argv)
                    with open("/proc/%s/environ" % pid, "rb") as f:
                        assert ("RCLONE_CONFIG_PASS=" + PASSWORD).encode() in f.read().split(b"\0")
            except OSError:
                continue
        time.sleep(0.05)
    worker.join()
    assert seen, "never saw the rclone copyto process"
    assert not any(PASSWORD.encode() in b" ".join(argv) for argv in seen)
    assert b.get("packs/aa/slow") == data


def test_whole_snapshot_over_sftp(sftp, tmp_path):
    """The writer (_offsite.upload_one) through this target: first upload vs `rclone copy --transfers 8` of the
    same files, an unchanged second snapshot sends <= 1 %, the remote snapshot reads back byte for byte."""
    snap = make_snapshot(tmp_path / "repo")
    config = write_config(tmp_path, sftp.section, PASSWORD)
    store = "snap-%s" % uuid.uuid4().hex[:6]
    target = {"name": "offsite", "type": "rclone", "remote": "%s:%d/%s" % (sftp.name, sftp.port, store),
              "config_file": config, "rclone_config_pass": PASSWORD, "concurrency": 4}
    first = _offsite.upload_one(target, snap, "h1", "owui", str(tmp_path / "cache"))
    assert first["status"] == "ok", first
    second = _offsite.upload_one(target, copy_snapshot(snap, "20261202T110000Z"), "h1", "owui", str(tmp_path / "cache"))
    assert second["status"] == "ok" and second["bytes_sent"] <= first["bytes_sent"] // 100, second
    assert PASSWORD not in json.dumps([first, second])
    backend = rclone_backend(target["remote"], config, rclone_config_pass=PASSWORD)
    assert read_snapshot(backend, "20261202T100000Z") == local_tree(snap)
    env = dict(os.environ, RCLONE_CONFIG_PASS=PASSWORD)
    t0 = time.monotonic()
    subprocess.run(["rclone", "--config", config, "copy", "--transfers", "8", snap,
                    "%s:%d/%s-rclone-copy" % (sftp.name, sftp.port, store)], env=env, check=True)
    reference = time.monotonic() - t0
    mib = sum(len(d) for d in local_tree(snap).values()) / float(1 << 20)
    print("\nsnapshot %.1f MiB over sftp: upload %.1f s (%.1f MiB/s, %d objects), "
          "rclone copy --transfers 8: %.1f s; unchanged second upload: %d bytes in %.1f s"
          % (mib, first["duration_s"], first["throughput_bps"] / float(1 << 20), first["objects_sent"],
             reference, second["bytes_sent"], second["duration_s"]))
