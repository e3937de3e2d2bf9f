# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filesystem target on real file systems: the shared backend contract (target_contract.py), and the
faults on a small dedicated mount (tests/testbed/smallfs.sh): full, read-only, not mounted."""

from __future__ import annotations

import os

import pytest

from target_contract import SmallFs, assert_clean_error, check_bwlimit, check_contract, check_get_to, sha
from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import TargetError, normalize, open_backend


def fs_backend(path, **options):
    return open_backend(normalize(dict({"name": "nas", "type": "filesystem", "path": str(path)}, **options)))


@pytest.fixture
def small_fs(tmp_path):
    fs = SmallFs(tmp_path / "mnt", "8m")
    yield fs
    fs.close()


def test_contract(tmp_path):
    made = []

    def make(**options):
        made.append(tmp_path / ("store%d" % len(made)))
        os.makedirs(str(made[-1]))
        return fs_backend(made[-1], **options)

    check_contract(make)
    check_get_to(make, tmp_path)
    check_bwlimit(make)


def test_full_target_is_a_clear_error_and_leaves_no_half_object(small_fs):
    b = fs_backend(small_fs.path)
    first = os.urandom(5 << 20)
    assert b.put("packs/aa/first", first, sha(first))
    second = os.urandom(5 << 20)
    with pytest.raises(TargetError) as err:
        b.put("packs/bb/second", second, sha(second))
    assert_clean_error(err.value, words=("nas", "full", small_fs.path))
    assert not err.value.transient
    assert b.list("") == [("packs/aa/first", len(first))]
    assert not any(".tmp-" in n for dummy, dummy2, names in os.walk(small_fs.path) for n in names), "temp file left"
    assert b.get("packs/aa/first") == first


def test_read_only_mount_is_a_clear_error(small_fs):
    b = fs_backend(small_fs.path)
    small_fs.read_only()
    try:
        with pytest.raises(TargetError) as err:
            b.put("packs/aa/x", b"x", sha(b"x"))
    finally:
        small_fs.read_only(False)
    assert_clean_error(err.value, words=("nas", "cannot write", "read-write"))
    assert b.list("") == []


def test_not_mounted_is_a_clear_error(tmp_path):
    b = fs_backend(tmp_path / "not-mounted")
    with pytest.raises(TargetError) as err:
        b.put("packs/aa/x", b"x", sha(b"x"))
    assert_clean_error(err.value, words=("not mounted", "mount the share"))
    with pytest.raises(TargetError):
        b.list("")
