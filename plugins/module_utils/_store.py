# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The off-host store format, the same on every target type (docs/STORE-FORMAT.md tells it in full).

Under the target's prefix::

    owb-store.json                             store settings (plaintext): version, encrypted or not
    packs/<pp>/<pack>                          content: chunks concatenated, age-encrypted as a whole if encrypted
    index/<pp>/<pack>.json                     plaintext: chunk ids in that pack, offsets; pack size and sha256
    snapshots/<host>/<instance>/<sid>.json     the snapshot record, written LAST: listed = complete
    prune/pending-<time>-<rand>.json           packs a prune found unreferenced (deleted by a later prune)
    tools/owb-restore-<hash>.py                the self-contained restore tool

Every object is written once and never overwritten (``Backend.put`` refuses). Pack names are random (32 hex);
chunk ids are sha256 of the plaintext in a plain store, HMAC-SHA256 with a key from the recipients (or
``dedup_secret``) in an encrypted one: names reveal neither file names nor plaintext hashes there.

Plain Python, no Ansible imports. This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import uuid

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, json_text, parse_snapshot_id
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _age

VERSION = 1
FORMAT = "sage_open_webui.backup store"
STORE_FILE = "owb-store.json"
SNAPSHOTS = "snapshots/"
PACKS = "packs/"
INDEX = "index/"
PENDING = "prune/pending-"
TOOLS = "tools/"
_SNAP_KEY = re.compile(r"^snapshots/([^/]+)/([^/]+)/([^/]+)\.json$")
_PACK_ID = re.compile(r"^[0-9a-f]{32}$")


def new_pack_id():
    return uuid.uuid4().hex


def pack_key(pack_id):
    return "%s%s/%s" % (PACKS, pack_id[:2], pack_id)


def index_key(pack_id):
    return "%s%s/%s.json" % (INDEX, pack_id[:2], pack_id)


def snapshot_key(host, instance, snapshot_id):
    return "%s%s/%s/%s.json" % (SNAPSHOTS, host, instance, snapshot_id)


def pending_key(when=None):
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return "%s%s-%s.json" % (PENDING, when.strftime("%Y%m%dT%H%M%SZ"), uuid.uuid4().hex[:8])


def dedup_key(target):
    """The HMAC key for chunk ids of an encrypted store (None for a plain store: ids are sha256)."""
    if not target.get("recipients"):
        return None
    material = target.get("dedup_secret") or "\n".join(sorted(target["recipients"]))
    return hashlib.sha256(b"owb-dedup-v1\0" + material.encode("utf-8")).digest()


def chunk_id(data, key):
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ JSON objects

def put_json(backend, key, obj):
    data = json_text(obj).encode("utf-8")
    return backend.put(key, data, sha256_hex(data))


def get_json(backend, key, what):
    data = backend.get(key)
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise backend.error("%s %s is not valid JSON (%s)" % (what, key, e),
                            "the object is damaged or tampered with; use another snapshot or target")
    if not isinstance(obj, dict) or obj.get("version") != VERSION:
        raise backend.error("%s %s has version %r, this collection reads %d" % (
            what, key, obj.get("version") if isinstance(obj, dict) else None, VERSION),
            "use a version of sage_open_webui.backup that knows this store format")
    return obj


def open_store(backend, target, create=False):
    """The store's settings; checks that the target's encryption matches the store. ``create`` writes
    ``owb-store.json`` when the store is new (a host's first upload). Returns the settings dict."""
    encrypted = bool(target.get("recipients"))
    try:
        info = get_json(backend, STORE_FILE, "store settings")
    except BackupError as e:
        if not getattr(e, "missing", False):
            raise
        if not create:
            raise backend.error("there is no backup store here (%s is missing)" % STORE_FILE,
                                "check bucket/prefix, remote or path; a first backup to this target creates the store")
        info = {"version": VERSION, "format": FORMAT, "encrypted": encrypted,
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        if not put_json(backend, STORE_FILE, info):  # another host created it in the meantime
            info = get_json(backend, STORE_FILE, "store settings")
    if create and bool(info.get("encrypted")) != encrypted:
        if info.get("encrypted"):
            raise backend.error("the store is encrypted but this target has no recipients",
                                "give the target's recipients (age public keys), as the other hosts do")
        raise backend.error("the store is not encrypted but this target has recipients",
                            "use a new prefix (or path) for encrypted backups, or remove recipients")
    return info


# ------------------------------------------------------------------ snapshots

def list_snapshots(backend, host=None, instance=None):
    """``[{host, instance, id, created (datetime), key, size}]`` of the complete snapshots, oldest first."""
    prefix = SNAPSHOTS + ("%s/" % host if host else "") + ("%s/" % instance if host and instance else "")
    out = []
    for key, size in backend.list(prefix):
        m = _SNAP_KEY.match(key)
        if not m or (instance and m.group(2) != instance):
            continue
        created = parse_snapshot_id(m.group(3))
        if created is None:
            continue
        out.append({"host": m.group(1), "instance": m.group(2), "id": m.group(3), "created": created,
                    "key": key, "size": size})
    return sorted(out, key=lambda s: (s["host"], s["instance"], s["id"]))


def load_record(backend, host, instance, snapshot_id):
    """The snapshot record (plaintext envelope) of one remote snapshot."""
    try:
        return get_json(backend, snapshot_key(host, instance, snapshot_id), "snapshot record")
    except BackupError as e:
        if getattr(e, "missing", False):
            raise backend.error("snapshot %s of %s/%s is not on this target" % (snapshot_id, host, instance),
                                "list the target's snapshots (snapshot_info with target) and pick one")
        raise


def open_manifest(record, identity_file=None):
    """The inner manifest of a record: ``{"local": <manifest.json>, "files": [...]}``, decrypted if needed."""
    if record.get("encrypted"):
        data = _age.decrypt(base64.b64decode(record["manifest_age"]), identity_file)
        inner = json.loads(data.decode("utf-8"))
    else:
        inner = record.get("manifest")
    if not isinstance(inner, dict) or not isinstance(inner.get("files"), list) or not isinstance(inner.get("local"), dict):
        raise BackupError("snapshot record of %s has no readable manifest" % record.get("snapshot_id"),
                          "the record is damaged or tampered with; use another snapshot")
    return inner


def seal_manifest(record, inner, recipients):
    """Put the inner manifest into the record: inline (plain store) or age-encrypted and base64-encoded."""
    if recipients:
        record["manifest_age"] = base64.b64encode(_age.encrypt(json_text(inner).encode("utf-8"), recipients)).decode("ascii")
    else:
        record["manifest"] = inner
    return record


# ------------------------------------------------------------------ content index

def load_index(backend, cache_dir=None):
    """``(chunks, packs)``: chunk id -> (pack id, offset, length) for every pack that has an index object,
    and pack id -> (stored size, stored sha256). Index objects never change, so they are cached in
    ``cache_dir`` (one file per pack) and fetched once."""
    chunks, packs = {}, {}
    for key, _size in backend.list(INDEX):
        pack_id = os.path.basename(key)[:-len(".json")] if key.endswith(".json") else ""
        if not _PACK_ID.match(pack_id):
            continue
        index = _cached_index(backend, key, pack_id, cache_dir)
        if index is None:
            continue
        packs[pack_id] = (index["size"], index["sha256"])
        for cid, off, length in index["chunks"]:
            chunks.setdefault(cid, (pack_id, off, length))
    return chunks, packs


def _cached_index(backend, key, pack_id, cache_dir):
    path = os.path.join(cache_dir, pack_id + ".json") if cache_dir else None
    if path and os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except ValueError:
            pass
    try:
        index = get_json(backend, key, "index")
    except BackupError as e:
        if getattr(e, "missing", False):  # pruned since the listing
            return None
        raise
    remember_index(cache_dir, pack_id, index)
    return index


def remember_index(cache_dir, pack_id, index):
    """Keep an index object in the local cache (a writer calls it for the ones it uploads itself)."""
    if not cache_dir:
        return
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    path = os.path.join(cache_dir, pack_id + ".json")
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(index, f)
    os.replace(tmp, path)


def pending_records(backend):
    """The prune records that mark packs unreferenced: ``[{"key", "size", "created" (aware datetime), "packs": set}]``
    (a record removed since the listing is skipped)."""
    out = []
    for key, size in backend.list(PENDING):
        try:
            rec = get_json(backend, key, "prune record")
        except BackupError as e:
            if getattr(e, "missing", False):
                continue
            raise
        try:
            created = datetime.datetime.fromisoformat(rec["created"])
        except (KeyError, TypeError, ValueError):
            raise backend.error("prune record %s has no valid created time" % key,
                                "delete that object by hand; the next prune marks its packs again")
        if created.tzinfo is None:
            created = created.replace(tzinfo=datetime.timezone.utc)
        out.append({"key": key, "size": size, "created": created, "packs": set(rec.get("packs") or [])})
    return out


def pending_packs(backend):
    """``{pack id: earliest time (datetime) a prune marked it unreferenced}``; uploads do not reuse these."""
    out = {}
    for rec in pending_records(backend):
        for pack_id in rec["packs"]:
            if pack_id not in out or rec["created"] < out[pack_id]:
                out[pack_id] = rec["created"]
    return out
