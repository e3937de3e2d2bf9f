# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The read side of the off-host store: :class:`RemoteSource`, a snapshot source (like
``_restore_source.LocalSource``) whose snapshots live on a target.

``fetch`` brings one snapshot into ``<workdir>/<sid>/`` (``manifest.json``, ``data/``, ``secret/``,
``ollama/``) exactly as the local repository holds it, so everything after it is the local restore path:

    record -> inner manifest (decrypted with the age identity: a wrong identity fails here, before any download)
      -> the packs the wanted files need (only those), downloaded concurrently (the target's ``concurrency``)
      -> each pack's size and sha256 checked against the record BEFORE it is decrypted or used
      -> decrypted, its chunks written at their offsets into the files (streaming: one pack in memory per thread)
      -> every file's size and sha256 checked against the inner manifest, modes set

Anything wrong raises a BackupError naming the target and the fix, and the work directory is removed
(:meth:`RemoteSource.close` removes it after a restore too).
Plain Python, no Ansible imports. This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shutil
import tempfile
import threading

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, write_json
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _age
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store
from ansible_collections.sage_open_webui.backup.plugins.module_utils._files import sha256_file
from ansible_collections.sage_open_webui.backup.plugins.module_utils._manifest import MANIFEST, safe_relpath
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import check_name
from ansible_collections.sage_open_webui.backup.plugins.module_utils._restore_source import select_snapshot, selected
from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import open_backend, retry

TREES = ("data", "secret", "ollama")
DAMAGED = "the store is damaged or tampered with; nothing was restored (the app was not touched): restore another snapshot or use another target"


class RemoteSource(object):
    """Snapshots of ``host``/``instance`` on one target (a normalized target dict). ``workdir``: the directory
    fetched snapshots go to (created 0700 on the first fetch, removed by :meth:`close`); None = a new temporary
    directory."""

    kind = "target"

    def __init__(self, target, host, instance, identity_file=None, workdir=None):
        self.target = target
        self.host = host
        self.instance = instance
        self.identity_file = identity_file
        self.workdir = workdir
        self.backend = open_backend(target)
        self.stats = {"target": target["name"], "packs": 0, "bytes_downloaded": 0, "files": 0, "workdir": None, "kept": []}
        self._made = None  # the work directory this source created
        self._lock = threading.Lock()

    @property
    def location(self):
        return "target %s (%s)" % (self.backend.name, self.backend.location)

    def error(self, problem, fix=DAMAGED):
        return self.backend.error(problem, fix)

    def list(self):
        """``[(id, created, verified, problem)]`` oldest first: a record is written only after its content, and a
        host uploads only verified snapshots, so every listed one is usable."""
        _store.open_store(self.backend, self.target)
        return [(s["id"], s["created"], True, None) for s in _store.list_snapshots(self.backend, self.host, self.instance)]

    def pairs(self):
        """``[(host, instance)]`` that have snapshots on the target (any host and instance)."""
        _store.open_store(self.backend, self.target)
        return sorted({(s["host"], s["instance"]) for s in _store.list_snapshots(self.backend)})

    def select(self, snapshot="latest", before=None, skipped=None):
        return select_snapshot(self.list(), snapshot=snapshot, before=before, where=self.location, skipped=skipped)

    def lock(self, timeout=0.0, read_only=False):
        """Reading a target takes no lock (objects are never overwritten; prune keeps what a record names)."""
        return contextlib.nullcontext()

    def fetch(self, snapshot_id, only=None, ollama=True):
        """Download snapshot ``snapshot_id`` into ``<workdir>/<sid>/`` and return that path. ``only``: the
        ``data/`` paths (prefixes) wanted, None for all; ``ollama``: the Ollama stores too (without them, the
        manifest written has no ``ollama`` part: the copy is the snapshot as if taken without its Ollama stores).
        ``secret/`` and the manifest always come."""
        check_name("snapshot", snapshot_id)
        record = _store.load_record(self.backend, self.host, self.instance, snapshot_id)
        inner = self._inner(record, snapshot_id)
        files = [e for e in inner["files"] if _wanted(e["path"], only, ollama)]
        plan = self._plan(record, files)
        dest = os.path.join(self._workdir(), snapshot_id)
        try:
            os.mkdir(dest, 0o700)
            self._fill(dest, snapshot_id, inner, files, record, plan, ollama)
        except BaseException:
            self.close()
            raise
        self.stats["files"] = len(files)
        return dest

    def keep(self, snap_path, rel):
        """Move ``rel`` of the fetched snapshot (the secret key, when the restore's guidance names it) out of the
        work directory, beside it (0600 as it was), so that it outlives :meth:`close`; returns its new path."""
        src = os.path.join(snap_path, rel)
        if not os.path.isfile(src):
            return src
        dest = "%s-%s-%s" % (self._made, os.path.basename(snap_path), os.path.basename(rel))
        os.replace(src, dest)
        self.stats["kept"].append(dest)
        return dest

    def close(self):
        """Remove the work directory (and the fetched snapshot in it)."""
        if self._made:
            shutil.rmtree(self._made, ignore_errors=True)
            self._made = None

    # ---------------------------------------------------------------- steps of fetch

    def _inner(self, record, sid):
        if (record.get("snapshot_id"), record.get("host"), record.get("instance")) != (sid, self.host, self.instance):
            raise self.error("the record of %s/%s/%s names %s/%s/%s" % (
                self.host, self.instance, sid, record.get("host"), record.get("instance"), record.get("snapshot_id")))
        try:
            inner = _store.open_manifest(record, self.identity_file)
        except BackupError as e:
            raise self.backend.error("snapshot %s: %s" % (sid, e.problem), e.fix)
        except ValueError as e:
            raise self.error("snapshot %s: the manifest is not readable (%s)" % (sid, e))
        for e in inner["files"]:
            try:
                rel = safe_relpath(e.get("path"))
            except BackupError as err:
                raise self.error("snapshot %s: %s" % (sid, err.problem))
            if rel.split("/", 1)[0] not in TREES or "/" not in rel:
                raise self.error("snapshot %s lists %r, outside data/, secret/ and ollama/" % (sid, rel))
        return inner

    def _fill(self, dest, sid, inner, files, record, plan, ollama):
        try:
            local = inner["local"] if ollama else {k: v for k, v in inner["local"].items() if k != "ollama"}
            write_json(os.path.join(dest, MANIFEST), local)
            for e in files:
                _create(dest, e["path"])
            self._download(record, plan, dest)
        except FileExistsError as e:
            raise self.error("snapshot %s lists %s twice" % (sid, os.path.relpath(e.filename, dest)))
        except OSError as e:
            raise BackupError("cannot write the snapshot downloaded from %s into %s: %s" % (self.location, dest, e.strerror or e),
                              "free space there (it needs the snapshot's size) and run again; nothing was restored")
        self._check_files(dest, files)

    def _plan(self, record, files):
        """``{pack id: [(file path, file offset, pack offset, length)]}`` for the wanted files."""
        packs = record.get("packs") or {}
        plan = {}
        for e in files:
            pos = 0
            for pack_id, off, length in e.get("chunks") or []:
                if pack_id not in packs or off < 0 or length < 0:
                    raise self.error("snapshot %s: %s names pack %s that its record does not list" % (
                        record["snapshot_id"], e["path"], pack_id))
                plan.setdefault(pack_id, []).append((e["path"], pos, off, length))
                pos += length
            if pos != e["size"]:
                raise self.error("snapshot %s: the chunks of %s add up to %d bytes, the file has %d" % (
                    record["snapshot_id"], e["path"], pos, e["size"]))
        return plan

    def _download(self, record, plan, dest):
        encrypted = bool(record.get("encrypted"))
        workers = max(1, int(self.target.get("concurrency") or 1))
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            jobs = [pool.submit(self._one_pack, pack_id, record["packs"][pack_id], encrypted, pieces, dest)
                    for pack_id, pieces in sorted(plan.items())]
            try:
                for job in concurrent.futures.as_completed(jobs):
                    job.result()
            except BaseException:
                for job in jobs:
                    job.cancel()
                raise

    def _one_pack(self, pack_id, stored, encrypted, pieces, dest):
        key = _store.pack_key(pack_id)
        data = retry(lambda: self.backend.get(key), "download %s" % key)
        size, digest = stored
        if len(data) != size or _store.sha256_hex(data) != digest:
            raise self.error("pack %s is damaged or tampered with: %d bytes, sha256 %s..., the record says %d bytes, %s..." % (
                key, len(data), _store.sha256_hex(data)[:12], size, digest[:12]))
        with self._lock:
            self.stats["packs"] += 1
            self.stats["bytes_downloaded"] += len(data)
        if encrypted:
            try:
                data = _age.decrypt(data, self.identity_file)
            except BackupError as e:
                raise self.backend.error("pack %s: %s" % (key, e.problem), e.fix)
        for rel, file_off, off, length in pieces:
            if off + length > len(data):
                raise self.error("pack %s is shorter than the chunks the snapshot needs from it" % key)
            fd = os.open(os.path.join(dest, rel), os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                os.pwrite(fd, memoryview(data)[off:off + length], file_off)
            finally:
                os.close(fd)

    def _check_files(self, dest, files):
        def check(e):  # hashlib releases the GIL: the files are hashed on every core
            path = os.path.join(dest, e["path"])
            ok = sha256_file(path) == (e["size"], e["sha256"])
            os.chmod(path, int(str(e.get("mode") or "0600"), 8) & 0o7777)
            return None if ok else e["path"]
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            bad = [rel for rel in pool.map(check, files) if rel]
        if bad:
            raise self.error("%d file(s) differ from the manifest after download: %s" % (len(bad), ", ".join(bad[:5])))

    def _workdir(self):
        if self._made is None:
            if self.workdir:
                os.makedirs(os.path.dirname(self.workdir), mode=0o700, exist_ok=True)
                os.mkdir(self.workdir, 0o700)
                self._made = self.workdir
            else:
                self._made = tempfile.mkdtemp(prefix="owb-fetch-")
            self.stats["workdir"] = self._made
        return self._made


def _wanted(rel, only, ollama):
    tree, _sep, rest = rel.partition("/")
    if tree == "data":
        return only is None or selected(rest, only)
    return tree == "secret" or ollama


def _create(dest, rel):
    """An empty file at ``dest/rel`` (parents 0755 inside the 0700 snapshot dir); a duplicate path fails."""
    path = os.path.join(dest, rel)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))
