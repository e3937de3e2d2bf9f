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
import time

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import TargetError

TESTBED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "testbed")


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
    """bwlimit 1 MiB/s: 4 MiB take about 3-4 s (the first second's worth may go at once), never under 2.5 s
    (the upper bound only catches a limit applied twice on a busy machine)."""
    b = make(bwlimit="1M", concurrency=1)
    data = os.urandom(4 << 20)
    t0 = time.monotonic()
    assert b.put("packs/bw/one", data, sha(data))
    elapsed = time.monotonic() - t0
    assert 2.5 <= elapsed <= 12, "4 MiB at 1 MiB/s took %.1f s" % elapsed
    return elapsed


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
