# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one backend contract every target type passes (tests/integration/test_target_*.py), and the test bed
helpers they share: a small mounted file system (tests/testbed/smallfs.sh) and the SFTP server (sftp.sh).

``check_contract(make)``: ``make(**options)`` returns a fresh Backend on an empty store for the extra target
options given (``bwlimit``, ``concurrency``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile
import threading
import time

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import json_text
from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import TargetError

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTBED = os.path.join(TESTS, "testbed")
FIXTURE = os.path.join(TESTS, "fixtures", "openwebui-0.12.4", "data.tar.gz")


def sha(data):
    return hashlib.sha256(data).hexdigest()


def check_contract(make):
    """put never overwrites, get/get_to/list/exists/delete, a 40 MiB object, a missing key."""
    b = make()
    assert b.list("") == [] and not b.exists("packs/ab/x")
    one, two = b"first version\n", b"second version, longer\n"
    assert b.put("packs/ab/x", one, sha(one)) is True
    sent = b.stats["bytes_sent"]
    assert b.put("packs/ab/x", two, sha(two)) is False, "an existing key must not be written again"
    assert b.stats["bytes_sent"] == sent, "nothing is sent for an existing key"
    assert b.get("packs/ab/x") == one and b.exists("packs/ab/x")
    big = os.urandom(40 << 20)
    t0 = time.monotonic()
    assert b.put("packs/cd/big", big, sha(big)) is True
    rate = len(big) / (time.monotonic() - t0)
    assert b.put("snapshots/h/i/1.json", b"{}", sha(b"{}")) is True
    assert b.list("") == [("packs/ab/x", len(one)), ("packs/cd/big", len(big)), ("snapshots/h/i/1.json", 2)]
    assert b.list("packs/") == [("packs/ab/x", len(one)), ("packs/cd/big", len(big))]
    assert b.list("snapshots/h/") == [("snapshots/h/i/1.json", 2)]
    assert b.list("nothing/here/") == []
    assert sha(b.get("packs/cd/big")) == sha(big)
    with pytest.raises(TargetError) as err:
        b.get("packs/ee/missing")
    assert err.value.missing and b.name in str(err.value)
    assert b.delete(["packs/ab/x", "packs/ee/missing"]) == []
    assert not b.exists("packs/ab/x") and b.exists("packs/cd/big")
    for bad in ("", "/abs", "a/../b", "a//b"):
        with pytest.raises(TargetError):
            b.put(bad, one, sha(one))
    return rate


def check_get_to(make, tmp_path):
    b = make()
    data = os.urandom(3 << 20)
    b.put("packs/aa/f", data, sha(data))
    dest = str(tmp_path / "f")
    assert b.get_to("packs/aa/f", dest) == len(data)
    with open(dest, "rb") as f:
        assert f.read() == data
    with pytest.raises(TargetError):
        b.get_to("packs/aa/none", str(tmp_path / "none"))
    assert not os.path.exists(str(tmp_path / "none"))


def check_bwlimit(make):
    """4 MiB in one put at bwlimit 1 MiB/s take about 3-4 s (the first second's worth may go at once), never
    under 2.5 s (the upper bound only catches a limit applied twice); 4 MiB in 4 puts at once (concurrency 4) at
    512 KiB/s take about 7 s, never under 5 s: the limit is the target's, not each upload's (that would be 2 s)."""
    out = []
    for rate, concurrency, low in (("1M", 1, 2.5), ("512K", 4, 5.0)):
        b = make(bwlimit=rate, concurrency=concurrency)
        data = [os.urandom((4 << 20) // concurrency) for dummy in range(concurrency)]
        threads = [threading.Thread(target=b.put, args=("packs/bw/%d" % i, d, sha(d))) for i, d in enumerate(data)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        assert b.stats["bytes_sent"] == 4 << 20
        assert low <= elapsed <= 4 * low, "4 MiB in %d puts at %s/s took %.1f s" % (concurrency, rate, elapsed)
        out.append(elapsed)
    return out


def assert_clean_error(err, *secrets, words=()):
    """A TargetError naming the target and a fix, without any secret, with each of ``words`` (lowercase)."""
    text = str(err)
    assert isinstance(err, TargetError), repr(err)
    assert text.startswith("target ") and "Fix: " in text, text
    for s in secrets:
        assert s and s not in text and s not in repr(err.details), "secret in error: %s" % text
    for w in words:
        assert w in text.lower(), "%r not in %s" % (w, text)


def run_testbed(script, *args):
    """Run tests/testbed/<script> ARGS; its stdout, or a test failure with its output."""
    proc = subprocess.run(["bash", os.path.join(TESTBED, script)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        pytest.fail("tests/testbed/%s %s failed:\n%s\n%s" % (script, " ".join(map(str, args)), proc.stdout, proc.stderr),
                    pytrace=False)
    return proc.stdout


class SmallFs(object):
    """A small tmpfs (or loop ext4) mounted at ``path`` for the duration of a test."""

    def __init__(self, path, size="8m"):
        self.path = str(path)
        run_testbed("smallfs.sh", "mount", self.path, size)

    def read_only(self, ro=True):
        run_testbed("smallfs.sh", "ro" if ro else "rw", self.path)

    def close(self):
        run_testbed("smallfs.sh", "umount", self.path)


def make_snapshot(root, sid="20261202T100000Z", extra=48 << 20):
    """A published, verified local snapshot <root>/h1/owui/<sid>: the real Open WebUI 0.12.4 data directory,
    ``extra`` random bytes in data/uploads/, a secret key, and its manifest."""
    snap = os.path.join(str(root), "h1", "owui", sid)
    os.makedirs(os.path.join(snap, "data"))
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(os.path.join(snap, "data"), filter="data")
    os.makedirs(os.path.join(snap, "data", "uploads"), exist_ok=True)
    with open(os.path.join(snap, "data", "uploads", "big.bin"), "wb") as f:
        f.write(os.urandom(extra))
    os.makedirs(os.path.join(snap, "secret"), mode=0o700)
    with open(os.path.join(snap, "secret", "webui_secret_key"), "w") as f:
        f.write("s3cr3t-key\n")
    files = []
    for dirpath, dummy, names in os.walk(os.path.join(snap, "data")):
        for name in names:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as f:
                files.append({"path": os.path.relpath(full, os.path.join(snap, "data")), "sha256": sha(f.read())})
    manifest = {"schema_version": 1, "snapshot_id": sid, "created": "2026-12-02T10:00:00+00:00", "host": "h1",
                "instance": "owui", "files": files, "verification": {"status": "verified"}}
    with open(os.path.join(snap, "manifest.json"), "w") as f:
        f.write(json_text(manifest))
    return snap


def read_snapshot(backend, sid, host="h1", instance="owui"):
    """{path: bytes} of a plain remote snapshot, assembled from its packs, every sha256 checked."""
    record = _store.load_record(backend, host, instance, sid)
    packs, out = {}, {}
    for entry in _store.open_manifest(record)["files"]:
        data = b""
        for pack_id, off, length in entry["chunks"]:
            if pack_id not in packs:
                packs[pack_id] = backend.get(_store.pack_key(pack_id))
                assert sha(packs[pack_id]) == record["packs"][pack_id][1]
            data += packs[pack_id][off:off + length]
        assert sha(data) == entry["sha256"], entry["path"]
        out[entry["path"]] = data
    return out


def local_tree(snap):
    out = {}
    for dirpath, dummy, names in os.walk(snap):
        for name in names:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, snap)
            if rel != "manifest.json":
                with open(full, "rb") as f:
                    out[rel] = f.read()
    return out
