# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ollama model stores in snapshots (opt-in): backed up beside the data with the real engine, linked when
unchanged, verified, and restored on their own (components: [ollama]). No Docker: ``ollama_dir``."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest, _ollama, _restore, _snapshot
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "openwebui-0.12.4")


def _blob(store, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(store, "models", "blobs", "sha256-" + digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest


def add_model(store, name, size=256 * 1024, missing_layer=False):
    """A model the way Ollama stores it: content-addressed blobs, then the manifest naming them."""
    os.makedirs(os.path.join(store, "models", "blobs"), exist_ok=True)
    layer = _blob(store, os.urandom(size))
    config = _blob(store, json.dumps({"model_format": "gguf", "name": name}).encode())
    layers = [{"digest": layer, "mediaType": "application/vnd.ollama.image.model"}]
    if missing_layer:
        layers.append({"digest": "sha256:" + "0" * 64, "mediaType": "application/vnd.ollama.image.license"})
    mdir = os.path.join(store, "models", "manifests", "registry.ollama.ai", "library", name)
    os.makedirs(mdir, exist_ok=True)
    with open(os.path.join(mdir, "latest"), "w") as f:
        json.dump({"schemaVersion": 2, "config": {"digest": config}, "layers": layers}, f)
    return layer


def tree(root):
    out = {}
    for dirpath, dummy, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.fixture
def env(tmp_path):
    data = tmp_path / "srv" / "data"
    data.mkdir(parents=True)
    with tarfile.open(os.path.join(FIXTURE, "data.tar.gz")) as tar:
        tar.extractall(str(data), **({"filter": "tar"} if hasattr(tarfile, "data_filter") else {}))
    store = tmp_path / "srv" / ".ollama"
    add_model(str(store), "tiny")
    partial = store / "models" / "blobs" / ("sha256-%s-partial" % ("f" * 64))
    partial.write_bytes(b"a download in progress")
    (store / "id_ed25519").write_text("ollama's own key\n")
    return {"data": str(data), "store": str(store), "repo": str(tmp_path / "repo"), "tmp": tmp_path}


def job(env, **kw):
    j = {"data_dir": env["data"], "repository": env["repo"], "host": "h1", "instance": "owui",
         "ollama_dir": env["store"], "secret_key": "skip"}
    j.update(kw)
    return j


def test_store_is_backed_up_beside_the_data_and_verified(env):
    res = _snapshot.run(job(env))
    m = _manifest.load(res["path"])
    (store,) = m["ollama"]
    assert store["label"] == "ollama" and store["source"] == env["store"] and store["type"] == "bind"
    paths = [f["path"] for f in store["files"]]
    assert not any("-partial" in p for p in paths), "partial downloads are not backed up"
    assert "id_ed25519" in paths and any(p.startswith("models/manifests/") for p in paths)
    assert store["models"] == {"models": 1, "missing_blobs": []}
    expected = {k: v for k, v in tree(env["store"]).items() if "-partial" not in k}
    assert tree(os.path.join(res["path"], "ollama", "ollama")) == expected
    assert res["totals"]["ollama"]["files"] == len(expected)
    assert _manifest.verify(res["path"], m, deep=True) == []
    # the data directory is untouched by the option
    assert not any(f["path"].startswith("ollama") for f in m["files"])


def test_unchanged_blobs_are_links_and_new_models_are_copied(env):
    first = _snapshot.run(job(env))
    layer = add_model(env["store"], "second")
    second = _snapshot.run(job(env))
    o = second["totals"]["ollama"]
    files = {f["path"]: f for f in _manifest.load(second["path"])["ollama"][0]["files"]}
    new = "models/blobs/" + layer.replace(":", "-")
    assert files[new]["linked"] is False
    linked = [p for p, f in files.items() if f["linked"]]
    assert o["linked_files"] == len(linked) >= 3
    for p in linked:  # the same inode as in the first snapshot: no bytes written
        assert os.stat(os.path.join(second["path"], "ollama", "ollama", p)).st_ino == \
            os.stat(os.path.join(first["path"], "ollama", "ollama", p)).st_ino
    assert o["new_bytes"] == sum(f["size"] for f in files.values() if not f["linked"]) >= 256 * 1024


def test_a_model_naming_a_missing_blob_is_reported(env):
    add_model(env["store"], "broken", missing_layer=True)
    res = _snapshot.run(job(env))
    assert any("name blobs that are not in the store" in w for w in res["warnings"])
    store = _manifest.load(res["path"])["ollama"][0]
    assert store["models"]["models"] == 2 and len(store["models"]["missing_blobs"]) == 1


def test_tampered_store_fails_verification(env):
    res = _snapshot.run(job(env))
    m = _manifest.load(res["path"])
    blob = next(f["path"] for f in m["ollama"][0]["files"] if f["path"].startswith("models/blobs/"))
    path = os.path.join(res["path"], "ollama", "ollama", blob)
    os.chmod(path, 0o600)
    with open(path, "r+b") as f:
        f.write(b"X")
    problems = _manifest.verify(res["path"], m, deep=True)
    assert problems == ["sha256 differs: ollama/ollama/" + blob]


def test_check_mode_lists_the_store_and_writes_nothing(env):
    res = _snapshot.run(job(env), check_mode=True)
    assert res["plan"]["ollama"] == [{"label": "ollama", "source": env["store"], "volume": None}]
    assert not os.path.exists(env["repo"])


@pytest.mark.parametrize("kw, problem", [
    ({"ollama_dir": "relative/.ollama"}, "is not an absolute path"),
    ({"ollama_dir": "/nonexistent/.ollama"}, "does not exist"),
    ({"ollama_dir": None, "include_ollama": True}, "needs Docker"),
])
def test_bad_ollama_settings_fail_clearly_and_write_nothing(env, kw, problem):
    with pytest.raises(BackupError) as ei:
        _snapshot.run(job(env, **kw))
    assert problem in str(ei.value) and "Fix:" in str(ei.value)
    assert not os.path.exists(os.path.join(env["repo"], "h1"))


def test_a_label_that_leaves_the_snapshot_is_refused(env):
    res = _snapshot.run(job(env))
    path = os.path.join(res["path"], _manifest.MANIFEST)
    with open(path) as f:
        m = json.load(f)
    m["ollama"][0]["label"] = "../../etc"
    os.chmod(path, 0o600)
    with open(path, "w") as f:
        json.dump(m, f)
    with pytest.raises(BackupError, match="label"):
        _manifest.load(res["path"])


# ----------------------------------------------------------------------------------------------- restore

def restore_job(env, target, **kw):
    j = {"repository": env["repo"], "host": "h1", "instance": "owui", "components": ["ollama"], "ollama_dir": target}
    j.update(kw)
    return j


def test_restore_puts_the_models_back_and_keeps_the_previous_ones(env):
    res = _snapshot.run(job(env))
    expected = tree(os.path.join(res["path"], "ollama", "ollama"))
    target = env["tmp"] / "new" / ".ollama"
    (target / "models").mkdir(parents=True)
    (target / "models" / "old-model").write_text("previous content")
    data_before = tree(env["data"])

    preview = _restore.run(restore_job(env, str(target)), check_mode=True)
    assert preview["ollama"][0]["would"][-1].startswith("put %d files" % len(expected))
    assert (target / "models" / "old-model").exists()

    out = _restore.run(restore_job(env, str(target)))
    (o,) = out["ollama"]
    assert o["files"] == len(expected) and o["dir"] == str(target)
    assert tree(str(target)) == expected
    with open(os.path.join(o["rollback"], "models", "old-model")) as f:
        assert f.read() == "previous content"
    assert out["components"] == ["ollama"]
    assert tree(env["data"]) == data_before, "an Ollama-only restore does not touch Open WebUI's data"


def test_restore_of_a_damaged_store_changes_nothing(env):
    res = _snapshot.run(job(env))
    m = _manifest.load(res["path"])
    blob = next(f["path"] for f in m["ollama"][0]["files"] if f["path"].startswith("models/blobs/"))
    os.truncate(os.path.join(res["path"], "ollama", "ollama", blob), 10)
    target = env["tmp"] / "target"
    (target / "models").mkdir(parents=True)
    (target / "models" / "keep").write_text("keep")
    with pytest.raises(BackupError) as ei:
        _restore.run(restore_job(env, str(target)))
    assert "failed verification" in str(ei.value) and "nothing was changed" in str(ei.value)
    assert tree(str(target)) == {"models/keep": hashlib.sha256(b"keep").hexdigest()}
    assert sorted(os.listdir(str(env["tmp"]))) == sorted(["srv", "repo", "target"])


def test_restore_of_ollama_from_a_snapshot_without_it_is_refused(env):
    _snapshot.run(job(env, ollama_dir=None))
    with pytest.raises(BackupError) as ei:
        _restore.run(restore_job(env, str(env["tmp"] / "t")))
    assert "holds no Ollama store" in str(ei.value) and "include_ollama" in str(ei.value)
    assert not os.path.exists(str(env["tmp"] / "t"))


def test_full_restore_with_ollama_restores_both(env):
    res = _snapshot.run(job(env))
    data = env["tmp"] / "new" / "data"
    target = env["tmp"] / "new" / ".ollama"
    out = _restore.run(restore_job(env, str(target), components=["all", "ollama"], data_dir=str(data)))
    assert out["components"] == ["all"] and out["ollama"][0]["files"] > 0
    assert tree(str(target)) == tree(os.path.join(res["path"], "ollama", "ollama"))
    assert os.path.exists(str(data / "webui.db"))
    assert "Ollama:" in out["summary"]


def test_all_never_includes_ollama(env):
    _snapshot.run(job(env))
    target = env["tmp"] / "untouched"
    out = _restore.run(restore_job(env, str(target), components=["all"], data_dir=str(env["tmp"] / "d")))
    assert "ollama" not in out and not target.exists()


def test_models_listing_puts_manifests_first(env):
    dirs, files = _ollama._listing(env["store"], [], "x")
    paths = [p for p, dummy in files]
    first_blob = min(i for i, p in enumerate(paths) if p.startswith("models/blobs/"))
    assert all(i < first_blob for i, p in enumerate(paths) if p.startswith("models/manifests/"))
    assert len(paths) == len(set(paths))
    assert "models" in [d for d, dummy in dirs] and "models/manifests" in [d for d, dummy in dirs]
