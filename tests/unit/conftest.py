# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures of the unit tests: the real Open WebUI 0.12.4 data directory, extracted per test."""

from __future__ import annotations

import json
import os
import shutil
import tarfile

import pytest

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "openwebui-0.12.4")


@pytest.fixture(scope="session")
def fixture_expected():
    """expected.json of the real fixture (row counts, file hashes, alembic revision...)."""
    with open(os.path.join(FIXTURE, "expected.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def _fixture_pristine(tmp_path_factory):
    """data.tar.gz extracted once per session; never handed out (tests get a private copy)."""
    root = str(tmp_path_factory.mktemp("owui-pristine") / "data")
    os.makedirs(root)
    with tarfile.open(os.path.join(FIXTURE, "data.tar.gz")) as tar:
        members = tar.getmembers()
        for m in members:  # the tarball is ours, but refuse anything that could escape anyway
            assert not m.name.startswith("/") and ".." not in m.name.split("/")
            assert m.isfile() or m.isdir()
        if hasattr(tarfile, "data_filter"):
            tar.extractall(root, members, filter="fully_trusted")
        else:
            tar.extractall(root, members)
    return root


@pytest.fixture
def fixture_data_dir(_fixture_pristine, tmp_path):
    """A private copy of the real Open WebUI 0.12.4 DATA_DIR at ``<tmp_path>/data`` (mtimes kept)."""
    dst = str(tmp_path / "data")
    shutil.copytree(_fixture_pristine, dst, copy_function=shutil.copy2)
    return dst
