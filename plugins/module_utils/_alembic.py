# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The alembic guard of a restore: read the migrations an Open WebUI image ships and refuse a ``webui.db`` at a
revision the image does not know (a database newer than the app). Plain Python, no Ansible imports.

This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import io
import os
import re
import tarfile

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils._restore_app import remove_container

MIGRATION_DIRS = (
    "/app/backend/open_webui/migrations/versions",
)

_REV_RE = re.compile(r"^revision(?:\s*:\s*[\w\[\]| .]+)?\s*=\s*['\"]([0-9A-Za-z_]+)['\"]", re.M)
_DOWN_RE = re.compile(r"^down_revision(?:\s*:\s*[^=]+)?\s*=\s*(.+)$", re.M)


def parse_migrations(files):
    """``{filename: text}`` of alembic version scripts -> ``{"revisions": {rev: [down...]}, "heads": [...]}``."""
    revs = {}
    for name, text in files.items():
        m = _REV_RE.search(text)
        if not m:
            continue
        d = _DOWN_RE.search(text)
        downs = re.findall(r"['\"]([0-9A-Za-z_]+)['\"]", d.group(1)) if d else []
        revs[m.group(1)] = downs
    referenced = set(x for downs in revs.values() for x in downs)
    heads = sorted(r for r in revs if r not in referenced)
    return {"revisions": revs, "heads": heads}


def _tar_py_files(tar_bytes):
    out = {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
        for m in tar:
            if m.isfile() and m.name.endswith(".py") and m.size < 1 << 20:
                f = tar.extractfile(m)
                if f is not None:
                    out[os.path.basename(m.name)] = f.read().decode("utf-8", "replace")
    return out


def _migration_candidates(env_path, extra=None):
    cands = []
    if extra:
        cands.append(extra)
    cands.extend(MIGRATION_DIRS)
    prefixes = []
    for d in (env_path or "").split(":"):
        d = d.rstrip("/")
        if d.endswith("/bin"):
            prefixes.append(d[:-4] or "/")
    for p in ("/usr/local", "/usr", "/opt/venv", "/app/.venv", "/app/backend/.venv"):
        if p not in prefixes:
            prefixes.append(p)
    for prefix in prefixes:
        for minor in range(14, 7, -1):
            for sp in ("site-packages", "dist-packages"):
                cands.append("%s/lib/python3.%d/%s/open_webui/migrations/versions" % (prefix.rstrip("/"), minor, sp))
    cands.append("/usr/lib/python3/dist-packages/open_webui/migrations/versions")
    return cands


def image_migrations(docker, container_id=None, image=None, path=None, warnings=None):
    """Read the alembic versions Open WebUI ships in a container (or in ``image``, through a created and
    removed, never started, container). Returns ``{"path", "revisions", "heads", "image"}``."""
    temp = None
    try:
        if container_id is None:
            try:
                temp = docker.create(image, entrypoint=["/bin/true"], command=[], labels={"io.sage-open-webui.probe": "1"},
                                     network_disabled=True)
            except BackupError as e:
                raise BackupError("cannot create a probe container from image %s: %s" % (image, e.problem),
                                  "pull the image first (docker pull %s) or check its name" % image)
            container_id = temp
        ins = docker.inspect(container_id)
        env = docker.env(ins)
        for cand in _migration_candidates(env.get("PATH"), path):
            if not docker.path_exists(container_id, cand):
                continue
            files = _tar_py_files(docker.read_tar(container_id, cand))
            parsed = parse_migrations(files)
            if parsed["revisions"]:
                parsed["path"] = cand
                parsed["image"] = (ins.get("Config") or {}).get("Image") or image
                return parsed
        raise BackupError(
            "found no open_webui/migrations/versions in %s" % ((ins.get("Config") or {}).get("Image") or image),
            "give migrations_path (the directory inside the image, e.g. <venv>/lib/python3.11/site-packages/open_webui/"
            "migrations/versions), or alembic_check=warn to restore without this check")
    finally:
        if temp is not None:
            remove_container(docker, temp, warnings if warnings is not None else [])


def alembic_verdict(snapshot_rev, migrations, snapshot_version=None, image_version=None):
    """``{"status": ok|older|unknown_revision|no_revision, "message"}``. ``unknown_revision`` = newer: refuse."""
    heads = migrations.get("heads") or []
    head = ",".join(heads) or "?"
    img = "%s%s" % (migrations.get("image") or "the image", " (Open WebUI %s)" % image_version if image_version else "")
    snap = "alembic revision %s%s" % (snapshot_rev, " (Open WebUI %s)" % snapshot_version if snapshot_version else "")
    if not snapshot_rev:
        return {"status": "no_revision", "message": "the snapshot's webui.db records no alembic revision"}
    if snapshot_rev not in migrations.get("revisions", {}):
        return {"status": "unknown_revision",
                "message": "the snapshot's webui.db is at %s, which %s does not know (its newest is %s): the "
                           "database is newer than the image and the app would not start on it" % (snap, img, head)}
    if snapshot_rev in heads:
        return {"status": "ok", "message": "snapshot %s is the head of %s" % (snap, img)}
    return {"status": "older", "message": "snapshot %s is older than %s (head %s): the app migrates it forward at "
                                          "start; an older image cannot open it afterwards" % (snap, img, head)}


def check_alembic(docker, manifest, warnings, policy="strict", container_id=None, image=None, migrations_path=None,
                  check_mode=False):
    """The verdict on the snapshot's alembic revision against the app that will run it: the container
    ``container_id`` (read in place), else ``image`` (through a probe container, never in check mode, which
    creates nothing). ``policy`` strict refuses a newer database, warn only warns, skip does not look."""
    rev = ((manifest.get("databases") or {}).get("webui.db") or {}).get("alembic_revision")
    app_version = (manifest.get("source") or {}).get("app_version")
    if policy == "skip":
        return {"status": "skipped"}
    if docker is None or not (container_id or image):
        # nothing runs the data yet (new host without an image): say which image it needs
        warnings.append("no image to compare the snapshot's alembic revision %s with: start it with an image at "
                        "least as new as Open WebUI %s" % (rev, app_version or "of the backup"))
        return {"status": "unchecked", "snapshot_revision": rev}
    if check_mode and not container_id:
        warnings.append("check mode creates no probe container: the alembic revision %s is checked against %s "
                        "when the restore runs, before anything changes" % (rev, image))
        return {"status": "unchecked", "snapshot_revision": rev}
    try:
        migr = image_migrations(docker, container_id=container_id, image=image, path=migrations_path, warnings=warnings)
    except BackupError as e:
        if policy == "strict":
            raise
        warnings.append(str(e))
        return {"status": "unchecked", "snapshot_revision": rev}
    verdict = alembic_verdict(rev, migr, app_version, None)
    verdict.update({"snapshot_revision": rev, "image_heads": migr["heads"], "image": migr.get("image"), "path": migr["path"]})
    if verdict["status"] == "unknown_revision":
        if policy == "strict":
            raise BackupError("refusing to restore: " + verdict["message"],
                              "restore onto an image at least as new as the one that wrote the snapshot (Open WebUI %s), "
                              "or pick an older snapshot; nothing was changed" % (app_version or "?"),
                              alembic=verdict)
        warnings.append(verdict["message"])
    elif verdict["status"] == "older":
        warnings.append(verdict["message"])
    return verdict
