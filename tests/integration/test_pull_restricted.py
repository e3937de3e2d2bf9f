# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup server's key on a host, as the backup_server role installs it: a real OpenSSH sshd on loopback
(root login by key only) whose authorized_keys gives the key ``restrict,command="rrsync -ro <repository>"``.

Reading and pulling a snapshot works; uploading, deleting (``--delete`` towards the host, ``--remove-source-files``,
``rm`` over ssh), leaving the repository and running any other command fail, each leaving the host's
repository exactly as it was; a tampered snapshot on the host is pulled but never published."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from conftest import free_port
from tree import tree_state
from ansible_collections.sage_open_webui.backup.plugins.module_utils._catalog import info
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.pullfixture import Signals, make_snapshot

RRSYNC = shutil.which("rrsync") or "/usr/bin/rrsync"
S1, S2 = "20261129T040000Z", "20261206T040000Z"
pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="sshd with root login needs root"),
              pytest.mark.skipif(not (os.path.exists("/usr/sbin/sshd") and os.path.exists(RRSYNC)),
                                 reason="needs openssh-server and rsync's rrsync")]


def _answers(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            return s.recv(4).startswith(b"SSH-")
    except OSError:
        return False


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """A host: its repository (one snapshot), sshd on 127.0.0.1:<port>, the server's key restricted."""
    work = tmp_path_factory.mktemp("pullhost")
    repo = work / "repo"
    make_snapshot(repo, S1)
    port = free_port()
    keys = "/run/owb-pull-test"
    os.makedirs(keys, exist_ok=True)
    os.makedirs("/run/sshd", exist_ok=True)
    for name in ("host_ed25519", "id_ed25519"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "owb-pull-test", "-f", str(work / name)], check=True)
    with open(str(work / "id_ed25519.pub")) as f:
        public = f.read().strip()
    authorized = os.path.join(keys, "authorized_keys-%d" % port)
    with open(authorized, "w") as f:
        f.write('restrict,command="%s -ro %s" %s\n' % (RRSYNC, repo, public))
    with open(str(work / "host_ed25519.pub")) as f:
        (work / "known_hosts").write_text("[127.0.0.1]:%d %s\n" % (port, " ".join(f.read().split()[:2])))
    (work / "sshd_config").write_text(
        "Port %d\nListenAddress 127.0.0.1\nHostKey %s\nPidFile none\nAuthorizedKeysFile %s\nStrictModes no\n"
        "AllowUsers root\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nLogLevel VERBOSE\n" % (port, work / "host_ed25519", authorized))
    log = open(str(work / "sshd.log"), "ab")
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(work / "sshd_config")], stdout=log, stderr=log)
    for _attempt in range(50):
        if _answers(port):
            break
        assert sshd.poll() is None, (work / "sshd.log").read_text()
        time.sleep(0.1)
    ssh = ["ssh", "-p", str(port), "-i", str(work / "id_ed25519"), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
           "-o", "UserKnownHostsFile=%s" % (work / "known_hosts"), "-o", "StrictHostKeyChecking=yes"]
    yield {"repo": str(repo), "port": port, "work": work, "ssh": ssh, "key": str(work / "id_ed25519"),
           "known_hosts": str(work / "known_hosts")}
    sshd.terminate()
    sshd.wait(10)
    log.close()
    os.unlink(authorized)


def _rsync(host, *args):
    return subprocess.run(["rsync", "-e", " ".join(host["ssh"])] + list(args), capture_output=True, text=True, timeout=60, check=False)


def _ssh(host, *command):
    return subprocess.run(host["ssh"] + ["root@127.0.0.1"] + list(command), capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def unchanged(host):
    """Asserts after the test that the host's repository is byte for byte what it was."""
    before = tree_state(host["repo"], content=True)
    yield
    assert tree_state(host["repo"], content=True) == before


def test_reading_a_snapshot_works(host, unchanged, tmp_path):
    listing = _rsync(host, "--list-only", "root@127.0.0.1:web1/open-webui/")
    assert listing.returncode == 0, listing.stderr
    assert S1 in listing.stdout
    got = _rsync(host, "-a", "root@127.0.0.1:web1/open-webui/%s/manifest.json" % S1, str(tmp_path / "m.json"))
    assert got.returncode == 0, got.stderr
    with open(os.path.join(host["repo"], "web1", "open-webui", S1, "manifest.json"), "rb") as f:
        assert (tmp_path / "m.json").read_bytes() == f.read()


def test_the_pull_copies_and_publishes_over_the_restricted_key(host, unchanged, tmp_path, monkeypatch):
    pull = Signals().load_pull(monkeypatch)
    server = tmp_path / "server"
    config = pull.normalize({"config_schema": 1, "repository": str(server), "status_dir": str(tmp_path / "status"),
                             "ssh_key": host["key"], "known_hosts": host["known_hosts"],
                             "hosts": [{"name": "web1", "address": "127.0.0.1", "port": host["port"]}]})
    records = pull.run(config)
    assert [(r["instance"], r["status"]) for r in records] == [("open-webui", "ok")], records[0]["error"]
    assert records[0]["snapshot"]["id"] == S1
    checked = info({"repository": str(server), "host": "web1", "instance": "open-webui", "verify": True})
    assert checked["latest"]["id"] == S1 and checked["failed_checks"] == []


def test_writing_fails(host, unchanged, tmp_path):
    (tmp_path / "planted").write_text("x")
    for dest in ("web1/open-webui/", "web1/open-webui/%s/data/" % S1, "/tmp/"):
        res = _rsync(host, "-a", str(tmp_path / "planted"), "root@127.0.0.1:" + dest)
        assert res.returncode != 0 and "not allowed" in res.stderr, (dest, res.stderr)
    assert not os.path.exists("/tmp/planted")


def test_deleting_with_rsync_fails(host, unchanged, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = _rsync(host, "-a", "--delete", str(empty) + "/", "root@127.0.0.1:web1/open-webui/%s/" % S1)
    assert res.returncode != 0 and "not allowed" in res.stderr, res.stderr
    res = _rsync(host, "-a", "--remove-source-files", "root@127.0.0.1:web1/open-webui/%s/" % S1, str(tmp_path / "got"))
    assert res.returncode != 0 and "disabled" in res.stderr, res.stderr


def test_deleting_with_rm_over_ssh_fails(host, unchanged):
    res = _ssh(host, "rm", "-rf", os.path.join(host["repo"], "web1"))
    assert res.returncode != 0


@pytest.mark.parametrize("command", [["id"], ["sh", "-c", "'id; touch MARKER'"], ["touch", "MARKER"],
                                     ["rsync", "--server", "-e.LsfxC", ".", "web1/"], ["/bin/bash", "-i"]])
def test_any_other_command_fails(host, unchanged, command, tmp_path):
    marker = str(tmp_path / "marker")
    res = _ssh(host, *[part.replace("MARKER", marker) for part in command])
    assert res.returncode != 0
    assert "uid=" not in res.stdout and not os.path.exists(marker)


def test_reading_outside_the_repository_fails(host, unchanged, tmp_path):
    for path in ("../", "/etc/hostname", "web1/../../"):
        res = _rsync(host, "-r", "root@127.0.0.1:" + path, str(tmp_path / "out"))
        got = sorted(os.listdir(str(tmp_path / "out"))) if os.path.isdir(str(tmp_path / "out")) else []
        assert res.returncode != 0 or got in ([], ["web1"]), (path, got)
        shutil.rmtree(str(tmp_path / "out"), ignore_errors=True)


def test_a_tampered_snapshot_on_the_host_is_not_published(host, tmp_path, monkeypatch):
    snap = make_snapshot(host["repo"], S2)
    with open(os.path.join(snap, "data", "uploads", "a.txt"), "wb") as f:
        f.write(b"HELLO\n")  # same size, other content: only the sha256 tells
    try:
        signals = Signals()
        pull = signals.load_pull(monkeypatch)
        server = tmp_path / "server"
        config = pull.normalize({"config_schema": 1, "repository": str(server), "status_dir": str(tmp_path / "s"),
                                 "ssh_key": host["key"], "known_hosts": host["known_hosts"],
                                 "hosts": [{"name": "web1", "address": "127.0.0.1", "port": host["port"]}]})
        record = pull.run(config)[0]
        assert record["status"] == "failed" and "sha256 differs: uploads/a.txt" in record["error"]
        assert os.listdir(str(server / "web1" / "open-webui")) == [".lock"]
        assert signals.sent[-1][0] == "failure"
    finally:
        shutil.rmtree(snap)
