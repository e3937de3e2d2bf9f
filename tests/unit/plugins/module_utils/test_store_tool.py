# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The self-contained restore tool (_bundle + _store_tool): built, written to a file, and run with the system
``python3 -I`` from an empty directory (no collection, no Ansible on its path) against a filesystem store."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _bundle, _offsite
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils import storefixture

PYTHON = "/usr/bin/python3"  # the system Python: no Ansible, no collection installed


@pytest.fixture(scope="module")
def tool(tmp_path_factory):
    """``{path, store, identity, snap, tmp}``: the tool written to a file, and an encrypted store to read."""
    tmp = tmp_path_factory.mktemp("tool")
    snap = storefixture.local_snapshot(tmp / "src")
    identity, recipient = storefixture.keypair(tmp)
    target = storefixture.fs_target(tmp / "nas", [recipient])
    os.makedirs(target["path"])
    storefixture.upload(target, snap["path"], "h1", "owui")
    path = str(tmp / "owb-restore.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(_bundle.tool_text())
    return {"path": path, "store": target["path"], "identity": identity, "snap": snap, "tmp": tmp}


def _run(tool, *args):
    cwd = tool["tmp"] / "empty"
    cwd.mkdir(exist_ok=True)
    return subprocess.run([PYTHON, "-I", tool["path"]] + list(args), cwd=str(cwd), capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"]}, timeout=300, check=False)


def test_tool_text_is_deterministic_and_named_by_its_hash():
    text = _bundle.tool_text()
    assert text == _bundle.tool_text()
    assert _bundle.tool_key(text) == "tools/owb-restore-%s.py" % hashlib.sha256(text.encode()).hexdigest()[:12]
    names = set(_bundle.closure())
    assert {"_store_tool", "_store_read", "_store", "_targets", "_target_fs", "_age", "_common"} <= names
    assert not names & {"_bundle", "_job", "_restore", "_snapshot"}  # only what reading a store needs


def test_tool_lists_and_fetches_without_the_collection(tool):
    if not os.path.exists(PYTHON):
        pytest.skip("no system python3")
    res = _run(tool, "list", "--target", tool["store"])
    assert res.returncode == 0, res.stderr
    assert re.search(r"^h1 +owui +%s " % tool["snap"]["id"], res.stdout, re.M)
    dest = str(tool["tmp"] / "restore" / "data")
    os.makedirs(os.path.dirname(dest))
    res = _run(tool, "fetch", "latest", "--target", tool["store"], "--identity", tool["identity"], "--to", dest)
    assert res.returncode == 0, res.stderr
    want = os.path.join(tool["snap"]["path"], "data")
    got = {os.path.relpath(os.path.join(d, n), dest) for d, _dirs, ns in os.walk(dest) for n in ns}
    assert got == {os.path.relpath(os.path.join(d, n), want) for d, _dirs, ns in os.walk(want) for n in ns} and len(got) > 20
    for rel in got:
        with open(os.path.join(dest, rel), "rb") as a, open(os.path.join(want, rel), "rb") as b:
            assert a.read() == b.read(), rel
    key = dest + ".webui_secret_key"
    with open(key, "rb") as f, open(os.path.join(tool["snap"]["path"], "secret", "webui_secret_key"), "rb") as g:
        assert f.read() == g.read() == storefixture.SECRET.strip().encode()
    assert os.stat(key).st_mode & 0o777 == 0o600
    assert "-v %s:/app/backend/data -v %s:/app/backend/.webui_secret_key:ro" % (dest, key) in res.stdout
    assert [n for n in os.listdir(os.path.dirname(dest)) if n.startswith(".owb-fetch")] == []


def test_tool_with_a_wrong_identity_says_so_and_writes_nothing(tool):
    if not os.path.exists(PYTHON):
        pytest.skip("no system python3")
    other, _pub = storefixture.keypair(tool["tmp"])
    dest = str(tool["tmp"] / "wrong" / "data")
    os.makedirs(os.path.dirname(dest))
    res = _run(tool, "fetch", "latest", "--target", tool["store"], "--identity", other, "--to", dest)
    assert res.returncode == 1
    assert "target filesystem (%s)" % tool["store"] in res.stderr and "does not match this snapshot's recipients" in res.stderr
    assert os.listdir(os.path.dirname(dest)) == []


def test_the_tool_the_upload_put_on_the_target_restores_from_it(tool):
    """Disaster recovery with the target alone: the tool is taken from the target, which the real upload wrote."""
    if not os.path.exists(PYTHON):
        pytest.skip("no system python3")
    root = str(tool["tmp"] / "usb")
    os.makedirs(root)
    [out] = _offsite.upload_all([{"name": "usb", "type": "filesystem", "path": root}], tool["snap"]["path"], "h1", "owui",
                                str(tool["tmp"] / "cache"))
    assert out["status"] == "ok", out
    [name] = os.listdir(os.path.join(root, "tools"))
    assert "tools/" + name == _bundle.tool_key()
    dest = str(tool["tmp"] / "dr" / "data")
    os.makedirs(os.path.dirname(dest))
    res = subprocess.run([PYTHON, "-I", os.path.join(root, "tools", name), "fetch", "latest", "--target", root, "--to", dest],
                         cwd=os.path.dirname(dest), capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    with open(os.path.join(dest, "webui.db"), "rb") as a, open(os.path.join(tool["snap"]["path"], "data", "webui.db"), "rb") as b:
        assert a.read() == b.read()
    assert "docker run -d --name owui" in res.stdout


def test_the_tool_built_inside_a_module_payload_is_the_same(tmp_path):
    """Ansible runs a module from a zip of the module_utils it imports: the tool built there must be the one
    built from disk (not an empty shell), and the zip must hold everything the tool needs."""
    import zipfile
    root = os.path.dirname(os.path.dirname(os.path.abspath(_bundle.__file__)))  # .../plugins
    payload = tmp_path / "payload.zip"
    with zipfile.ZipFile(payload, "w") as z:
        parts = _bundle.PACKAGE.split(".")
        for n in range(1, len(parts) + 1):
            z.writestr("/".join(parts[:n]) + "/__init__.py", "")
        for name in sorted(_bundle.closure()) + ["_bundle"]:
            with open(os.path.join(root, "module_utils", name + ".py"), encoding="utf-8") as f:
                z.writestr("/".join(parts) + "/" + name + ".py", f.read())
    code = "import sys; from %s import _bundle; sys.stdout.write(_bundle.tool_key())" % _bundle.PACKAGE
    res = subprocess.run([PYTHON, "-I", "-c", "import sys; sys.path.insert(0, %r); %s" % (str(payload), code)],
                         cwd=str(tmp_path), capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout == _bundle.tool_key()
