# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The upload side of the store (``_store`` has the format): one published local snapshot to one target.

Every regular file of ``<repository>/<host>/<instance>/<sid>/`` but ``manifest.json`` is cut into chunks
(SQLite files in fixed ``SQLITE_PIECE`` pieces, never smaller than the page size: SQLite rewrites pages in
place, so an unchanged region is an unchanged piece; other files whole up to ``WHOLE_MAX``, else ``PIECE``
pieces). Chunks the target holds already (its index, minus packs a prune marked) are not sent again; new ones
go into packs of ~``PACK_TARGET`` bytes, each encrypted as a whole when the target has recipients, uploaded by
``concurrency`` threads, each followed by its index object. The snapshot record goes last: a run that dies
leaves packs the next run reuses, and no record, so nothing incomplete is ever listed.

Plain Python, no Ansible imports. This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, failpoint, write_json
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _age
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _sqlite
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _bundle
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store
from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import retry

SQLITE_PIECE = 16 << 10   # bytes; see bench/ for the piece-size study
WHOLE_MAX = 4 << 20       # other files up to this size are one chunk
PIECE = 4 << 20           # bigger ones are cut into pieces of this size
PACK_TARGET = 16 << 20    # plaintext bytes per pack
READ_BLOCK = 4 << 20      # bytes read (and hashed) at once
HASH_AHEAD = 1 << 20      # blocks at least this big are hashed in a thread (hashlib releases the GIL)


def piece_size(head, size):
    """The chunk size for a file starting with ``head`` (its first 100 bytes) of ``size`` bytes."""
    info = _sqlite.parse_header(head)
    if info is not None:
        return max(SQLITE_PIECE, info["page_size"])
    return max(size, 1) if size <= WHOLE_MAX else PIECE


def local_files(snapshot_path):
    """``[(relative POSIX path, absolute path)]`` of every regular file to upload, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(snapshot_path):
        dirnames.sort()
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, snapshot_path).replace(os.sep, "/")
            if rel != "manifest.json" and os.path.isfile(full) and not os.path.islink(full):
                out.append((rel, full))
    return sorted(out)


def read_manifest(snapshot_path):
    """The local snapshot's manifest; refuses a snapshot that was not verified."""
    manifest = _manifest.load(snapshot_path)
    status = (manifest.get("verification") or {}).get("status")
    if status != "verified":
        raise BackupError("local snapshot %s is not verified (verification: %s)" % (snapshot_path, status),
                          "upload only verified snapshots: take a new snapshot, or check this one with snapshot_info")
    return manifest


def expected_hashes(manifest):
    """``{snapshot-relative path: sha256}`` the manifest gives (data/ and each Ollama store)."""
    out = {"data/" + f["path"]: f.get("sha256") for f in manifest.get("files", [])}
    for store in manifest.get("ollama") or []:
        for f in store.get("files", []):
            out["ollama/%s/%s" % (store.get("label"), f["path"])] = f.get("sha256")
    return out


class Packer(object):
    """Chunks to packs to the target: dedup against ``known`` (chunk id -> (pack, offset, length)), new chunks
    into the open pack, full packs to a thread pool (at most ``concurrency`` in flight; memory stays near
    ``concurrency`` x 2 packs: plaintext and ciphertext)."""

    def __init__(self, backend, target, known, packs, check_mode=False, cache_dir=None):
        self.backend, self.check_mode, self.cache_dir = backend, check_mode, cache_dir
        self.recipients = target.get("recipients") or []
        self.key = _store.dedup_key(target)
        self.known, self.packs = known, packs
        self.stats = {"bytes_deduplicated": 0, "bytes_new": 0, "chunks_new": 0, "chunks_reused": 0, "packs_new": 0}
        concurrency = int(target.get("concurrency") or 1)
        self.pool = ThreadPoolExecutor(max_workers=concurrency)
        self.hasher = ThreadPoolExecutor(max_workers=1)
        self.slots = threading.BoundedSemaphore(concurrency)
        self.futures = []
        self._open()

    def _open(self):
        self.pack_id, self.buf, self.chunks = _store.new_pack_id(), bytearray(), []

    def add(self, data):
        """One chunk (bytes or memoryview); returns its ``[pack, offset, length]``."""
        cid = _store.chunk_id(data, self.key)
        hit = self.known.get(cid)
        if hit is not None:
            self.stats["bytes_deduplicated"] += len(data)
            self.stats["chunks_reused"] += 1
            return list(hit)
        ref = (self.pack_id, len(self.buf), len(data))
        self.chunks.append([cid, len(self.buf), len(data)])
        self.buf += data  # a copy: a view would keep the whole read block alive until the pack is sent
        self.known[cid] = ref
        self.stats["bytes_new"] += len(data)
        self.stats["chunks_new"] += 1
        if len(self.buf) >= PACK_TARGET:
            self.seal()
        return list(ref)

    def seal(self):
        """Send the open pack (if it holds anything) and open a new one."""
        if not self.chunks:
            return
        pack_id, buf, chunks = self.pack_id, self.buf, self.chunks
        self._open()
        self.stats["packs_new"] += 1
        if self.check_mode:
            return
        self.raise_failed()
        data = bytes(buf)
        del buf
        self.slots.acquire()
        future = self.pool.submit(self._send, pack_id, data, chunks)
        future.add_done_callback(lambda _f: self.slots.release())
        self.futures.append(future)

    def _send(self, pack_id, data, chunks):
        stored = _age.encrypt(data, self.recipients) if self.recipients else data
        digest = hashlib.sha256(stored).hexdigest()
        retry(lambda: self.backend.put(_store.pack_key(pack_id), stored, digest), "upload pack %s" % pack_id)
        index = {"version": _store.VERSION, "pack": pack_id, "size": len(stored), "sha256": digest,
                 "encrypted": bool(self.recipients), "chunks": chunks}
        retry(lambda: _store.put_json(self.backend, _store.index_key(pack_id), index), "upload index %s" % pack_id)
        _store.remember_index(self.cache_dir, pack_id, index)  # the next run need not download it
        self.packs[pack_id] = (len(stored), digest)
        failpoint("upload_pack")

    def raise_failed(self):
        for future in self.futures:
            if future.done() and future.exception() is not None:
                raise future.exception()

    def finish(self):
        """Send the last pack and wait for every upload; raises the first failure."""
        self.seal()
        for future in self.futures:
            future.result()

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.hasher.shutdown(wait=True)


def _extend(refs, ref):
    """Append ``[pack, offset, length]``, merged into the previous one when it continues it in the same pack
    (a file's new pieces lie side by side in a pack): the record stays small, the bytes are the same."""
    last = refs[-1] if refs else None
    if last is not None and last[0] == ref[0] and last[1] + last[2] == ref[1]:
        last[2] += ref[2]
    else:
        refs.append(ref)


def add_file(packer, rel, path, expected_sha256=None):
    """Chunk one file (streamed) into ``packer``; returns its INNER manifest entry."""
    st = os.stat(path)
    digest, size, refs = hashlib.sha256(), 0, []
    with open(path, "rb", buffering=0) as f:
        head = f.read(100)
        f.seek(0)
        piece = piece_size(head, st.st_size)
        block = piece * max(1, READ_BLOCK // piece)
        hashing = None
        while True:
            data = f.read(block)
            if hashing is not None:
                hashing.result()  # at most one block ahead: memory stays bounded
                hashing = None
            if not data:
                break
            if len(data) >= HASH_AHEAD:  # the file's sha256 on another core while this one makes chunk ids
                hashing = packer.hasher.submit(digest.update, data)
            else:
                digest.update(data)
            size += len(data)
            view = memoryview(data)
            for off in range(0, len(data), piece):
                _extend(refs, packer.add(view[off:off + piece]))
    sha = digest.hexdigest()
    if expected_sha256 and sha != expected_sha256:
        raise BackupError("local snapshot file %s does not match its manifest (sha256 %s, manifest %s)" % (path, sha, expected_sha256),
                          "the local snapshot is damaged: take a new snapshot and check the disk")
    return {"path": rel, "size": size, "sha256": sha, "mode": "%04o" % (st.st_mode & 0o7777), "chunks": refs}


def _known_chunks(backend, cache_dir):
    """Chunk id -> (pack, offset, length) the target holds, without packs a prune marked for deletion."""
    # The pending records BEFORE the index (helper prune, _store_prune's docstring): a prune deletes a pack's
    # index object before it removes the record that marked it, so a pack missing here is missing below.
    pending = _store.pending_packs(backend)
    chunks, packs = _store.load_index(backend, cache_dir)
    if pending:
        chunks = {cid: ref for cid, ref in chunks.items() if ref[0] not in pending}
    return chunks, packs


@functools.lru_cache(maxsize=1)
def _tool_object():
    """``(key, bytes, sha256)`` of the restore tool, built once per run however many targets get it."""
    text = _bundle.tool_text()
    data = text.encode("utf-8")
    return _bundle.tool_key(text), data, hashlib.sha256(data).hexdigest()


def put_tool(backend):
    """The self-contained restore tool (written once per version of it). Returns its key."""
    key, data, digest = _tool_object()
    if not backend.exists(key):
        retry(lambda: backend.put(key, data, digest), "upload the restore tool")
    return key


def upload(backend, target, snapshot_path, host, instance, cache_dir=None, check_mode=False):
    """Upload one local snapshot to one target (``check_mode``: only read the target and count what would be
    sent). Returns ``{snapshot_key, exists, files, bytes, bytes_deduplicated, bytes_new, chunks_new,
    chunks_reused, packs_new}``; raises BackupError (TargetError for the target's own failures)."""
    manifest = read_manifest(snapshot_path)
    sid = manifest.get("snapshot_id") or os.path.basename(os.path.normpath(snapshot_path))
    key = _store.snapshot_key(host, instance, sid)
    fresh = check_mode and not backend.exists(_store.STORE_FILE)
    if not fresh:
        _store.open_store(backend, target, create=not check_mode)
    result = {"snapshot_key": key, "exists": not fresh and backend.exists(key), "files": 0, "bytes": 0}
    if result["exists"]:
        return result
    known, packs = ({}, {}) if fresh else _known_chunks(backend, cache_dir)
    expected = expected_hashes(manifest)
    packer = Packer(backend, target, known, packs, check_mode, cache_dir)
    sent = SentFiles(cache_dir, {ref[0] for ref in known.values()})
    try:
        files = [sent.reuse(packer, rel, path, expected.get(rel)) or add_file(packer, rel, path, expected.get(rel))
                 for rel, path in local_files(snapshot_path)]
        packer.finish()
    finally:
        packer.close()
    result.update(packer.stats, files=len(files), bytes=sum(f["size"] for f in files))
    if check_mode:
        return result
    used = sorted({ref[0] for f in files for ref in f["chunks"]})
    record = {"version": _store.VERSION, "host": host, "instance": instance, "snapshot_id": sid,
              "created": manifest.get("created"), "uploaded": datetime.datetime.now(datetime.timezone.utc).isoformat(),
              "encrypted": bool(target.get("recipients")), "files": result["files"], "bytes": result["bytes"],
              "packs": {p: list(packs[p]) for p in used}, "tool": put_tool(backend)}
    _store.seal_manifest(record, {"local": manifest, "files": files}, target.get("recipients"))
    retry(lambda: _store.put_json(backend, key, record), "upload the snapshot record")
    sent.save(files)
    return result


class SentFiles(object):
    """What this host already sent to the target, by the file's sha256 (``<cache>/sent-files.json``): a file of
    the local snapshot whose manifest sha256 is there, with every pack of its ranges still in the target's index
    and not pending deletion, is not read again (an unchanged snapshot is hard links to files sent before).
    The restore checks every file's sha256 all the same."""

    NAME = "sent-files.json"

    def __init__(self, cache_dir, usable_packs):
        self.path = os.path.join(cache_dir, self.NAME) if cache_dir else None
        self.usable = usable_packs
        self.known = {}
        try:
            with open(self.path, encoding="utf-8") as f:
                self.known = json.load(f)
        except (TypeError, OSError, ValueError):
            pass

    def reuse(self, packer, rel, path, sha256):
        """The INNER entry of ``rel`` without reading it, or None."""
        hit = self.known.get(sha256) if sha256 else None
        if not isinstance(hit, dict) or not all(ref[0] in self.usable for ref in hit.get("chunks", [])):
            return None
        st = os.stat(path)
        if st.st_size != hit.get("size"):
            return None
        with open(path, "rb") as f:
            piece = piece_size(f.read(100), st.st_size)
        packer.stats["bytes_deduplicated"] += st.st_size
        packer.stats["chunks_reused"] += -(-st.st_size // piece)  # the pieces it has on the target
        return {"path": rel, "size": st.st_size, "sha256": sha256, "mode": "%04o" % (st.st_mode & 0o7777),
                "chunks": [list(ref) for ref in hit["chunks"]]}

    def save(self, files):
        """Remember the files of the snapshot just sent (the next one shares most of them)."""
        if not self.path:
            return
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        write_json(self.path, {f["sha256"]: {"size": f["size"], "chunks": f["chunks"]} for f in files})
