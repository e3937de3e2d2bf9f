# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Discovery: what an Open WebUI data directory holds, and what a container running Open WebUI looks like.

- ``inspect_data_dir(path)``: inventory of DATA_DIR (webui.db and its -wal/-shm, vector_db, uploads, every
  cache/ subfolder, audit logs, anything else), SQLite journal modes read from the file header, the alembic
  revision. It never changes the directory: no file is created, written or checkpointed (the journal mode
  comes from header bytes 18/19; the database is opened ``immutable=1`` when there is no -wal, with
  ``mode=ro&readonly_shm=1`` when -wal and -shm exist, and from a private temporary copy otherwise).
- ``analyze_env(env)``: storage settings of the app (database type, vector store, storage provider,
  whether a secret key is set -- never its value).
- ``describe_container(client, container)``: everything ``openwebui_info`` reports for one container.
- ``discover(...)``: the work of ``openwebui_info``: the chosen containers (or a plain data directory), described.

Plain Python, stdlib only (the Docker client is passed in, or opened through _docker by ``discover``). Private to the collection; API may change.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import stat
import tempfile

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import (
    DATA_DIR_IN_CONTAINER,
    SECRET_KEY_FILE_IN_CONTAINER,
    BackupError,
    human_bytes,
)
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _sqlite

REDOWNLOADABLE_CACHE = ("embedding", "whisper", "tiktoken")
KNOWN_TOP = ("webui.db", "webui.db-wal", "webui.db-shm", "webui.db-journal", "vector_db", "uploads", "cache")
OLLAMA_DIR = "/root/.ollama"
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_VERSION_RE = re.compile(r"^v?\d+\.\d+")


# ---------------------------------------------------------------------------------------------------------
# SQLite, read-only
# ---------------------------------------------------------------------------------------------------------
def _query_one(uri, sql):
    con = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        row = con.execute(sql).fetchone()
        return row[0] if row else None
    finally:
        con.close()


def read_only_query(db_path, sql):
    """Run one read-only query on ``db_path`` without changing anything next to it.

    - no ``-wal`` (or an empty one): ``immutable=1`` (no locks, no -shm, nothing created);
    - ``-wal`` and ``-shm`` present (app running, or it died): ``mode=ro&readonly_shm=1`` (the -shm is
      opened read-only, so not even read marks are written; contents, sizes and mtimes stay identical --
      only, when running as root, SQLite's no-op fchown of -wal/-shm to their owner moves their ctime);
    - ``-wal`` without ``-shm``: SQLite would have to create the -shm, so the query runs on a private copy
      of the database and its -wal in a temporary directory.

    Returns ``(value, method)``.
    """
    wal, shm = db_path + "-wal", db_path + "-shm"
    wal_size = os.path.getsize(wal) if os.path.exists(wal) else 0
    if wal_size == 0 and not os.path.exists(shm):
        return _query_one(_sqlite._uri(db_path, mode="ro", immutable="1"), sql), "immutable"
    if os.path.exists(shm):
        return _query_one(_sqlite._uri(db_path, mode="ro", readonly_shm="1"), sql), "readonly_shm"
    tmp = tempfile.mkdtemp(prefix="owb-discovery-")
    try:
        copy = os.path.join(tmp, "copy.db")
        shutil.copyfile(db_path, copy)
        shutil.copyfile(wal, copy + "-wal")
        return _query_one(_sqlite._uri(copy, mode="ro"), sql), "private_copy"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def alembic_revision(db_path):
    """``(revision or None, error or None)`` from ``alembic_version``, read-only."""
    try:
        value, _method = read_only_query(db_path, "SELECT version_num FROM alembic_version")
        return value, None
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None, "no alembic_version table (database never migrated)"
        return None, "cannot read alembic_version: %s" % exc
    except (sqlite3.DatabaseError, OSError) as exc:
        return None, "cannot read alembic_version: %s" % exc


# ---------------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------------
def _stat_entry(path):
    st = os.lstat(path)
    return {"present": True, "size": st.st_size, "allocated": getattr(st, "st_blocks", 0) * 512,
            "mtime_ns": st.st_mtime_ns}


def tree_stats(path):
    """``{"size", "allocated", "files", "dirs", "symlinks", "other"}`` of a tree (symlinks not followed)."""
    out = {"size": 0, "allocated": 0, "files": 0, "dirs": 0, "symlinks": 0, "other": 0}
    stack = [path]
    while stack:
        cur = stack.pop()
        try:
            it = os.scandir(cur)
        except OSError:
            continue
        with it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    out["dirs"] += 1
                    stack.append(entry.path)
                elif stat.S_ISREG(st.st_mode):
                    out["files"] += 1
                    out["size"] += st.st_size
                    out["allocated"] += getattr(st, "st_blocks", 0) * 512
                elif stat.S_ISLNK(st.st_mode):
                    out["symlinks"] += 1
                else:
                    out["other"] += 1
    return out


def _dir_summary(path):
    if not os.path.isdir(path):
        return {"present": False, "size": 0, "allocated": 0, "files": 0, "dirs": 0}
    s = tree_stats(path)
    s["present"] = True
    s["human"] = human_bytes(s["size"])
    return s


def _sqlite_file(path, with_alembic=False):
    if not os.path.isfile(path):
        return {"present": False}
    info = _stat_entry(path)
    try:
        head = _sqlite.header_info(path)
    except BackupError:  # not SQLite (or SQLCipher), empty, unreadable: reported as is_sqlite false
        head = {"journal_mode": None, "page_size": None, "page_count": None}
    info.update(
        is_sqlite=head["page_size"] is not None, journal_mode=head["journal_mode"], page_size=head["page_size"],
        page_count=head["page_count"], human=human_bytes(info["size"]),
    )
    for suffix in ("-wal", "-shm", "-journal"):
        side = path + suffix
        key = suffix[1:]
        info[key] = _stat_entry(side) if os.path.exists(side) else {"present": False, "size": 0}
    if with_alembic and info["is_sqlite"]:
        rev, err = alembic_revision(path)
        info["alembic_revision"] = rev
        if err:
            info["alembic_error"] = err
    return info


def _vector_db(path):
    out = _dir_summary(path)
    if not out["present"]:
        out.update(kind=None, segments=[], segment_count=0)
        return out
    chroma = os.path.join(path, "chroma.sqlite3")
    milvus = os.path.join(path, "milvus.db")
    out["chroma_sqlite3"] = _sqlite_file(chroma)
    out["kind"] = "chroma" if os.path.isfile(chroma) else ("milvus" if os.path.exists(milvus) else "unknown")
    segments, others = [], []
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        if entry.name in ("chroma.sqlite3", "chroma.sqlite3-journal", "chroma.sqlite3-wal", "chroma.sqlite3-shm"):
            continue
        if entry.is_dir(follow_symlinks=False) and _UUID_RE.match(entry.name):
            s = tree_stats(entry.path)
            names = set(os.listdir(entry.path))
            segments.append({
                "name": entry.name, "size": s["size"], "allocated": s["allocated"], "files": s["files"],
                "sparse": s["allocated"] < s["size"],
                "index_metadata": "index_metadata.pickle" in names,
                "hnsw_files": sorted(n for n in names if n.endswith(".bin")),
            })
        else:
            others.append(entry.name)
    out["segments"] = segments
    out["segment_count"] = len(segments)
    out["other_entries"] = others
    return out


def _cache(path):
    out = _dir_summary(path)
    out["subdirs"] = {}
    if not out["present"]:
        return out
    for entry in sorted(os.scandir(path), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            s = tree_stats(entry.path)
            out["subdirs"][entry.name] = {
                "size": s["size"], "allocated": s["allocated"], "files": s["files"], "human": human_bytes(s["size"]),
                "redownloadable": entry.name in REDOWNLOADABLE_CACHE,
            }
        else:
            st = entry.stat(follow_symlinks=False)
            out["subdirs"][entry.name] = {"size": st.st_size, "allocated": st.st_blocks * 512, "files": 1,
                                          "human": human_bytes(st.st_size), "redownloadable": False}
    out["redownloadable_bytes"] = sum(v["size"] for k, v in out["subdirs"].items() if v["redownloadable"])
    return out


def inspect_data_dir(path):
    """Inventory of an Open WebUI DATA_DIR. Read-only. Raises BackupError when ``path`` is missing or is
    not an Open WebUI data directory (neither ``webui.db`` nor ``uploads/``)."""
    if not path:
        raise BackupError("no data directory given", "pass the host path of Open WebUI's DATA_DIR")
    if not os.path.exists(path):
        raise BackupError(
            "data directory %s does not exist on this host" % path,
            "give the host path of the directory mounted at %s (for a named volume: its Mountpoint from "
            "'docker volume inspect'); when running inside a container, mount that path in" % DATA_DIR_IN_CONTAINER,
            data_dir=path,
        )
    if not os.path.isdir(path):
        raise BackupError("%s is not a directory" % path, "give the Open WebUI data directory, not a file",
                          data_dir=path)
    try:
        top = sorted(os.listdir(path))
    except PermissionError:
        raise BackupError(
            "no permission to read data directory %s" % path,
            "run as root (become: true) or as the user owning the directory", data_dir=path,
        )
    real = os.path.realpath(path)
    db = os.path.join(real, "webui.db")
    uploads = os.path.join(real, "uploads")
    if not os.path.isfile(db) and not os.path.isdir(uploads):
        raise BackupError(
            "%s does not look like an Open WebUI data directory: no webui.db and no uploads/ (found: %s)"
            % (path, ", ".join(top[:20]) or "nothing, it is empty"),
            "point to the directory Open WebUI uses as DATA_DIR (mounted at %s in the container); if the "
            "instance was never started it has no data to back up yet" % DATA_DIR_IN_CONTAINER,
            data_dir=path,
        )
    warnings = []
    webui_db = _sqlite_file(db, with_alembic=True)
    if webui_db.get("present") and not webui_db.get("is_sqlite"):
        warnings.append("webui.db in %s is not an SQLite database (or is encrypted with SQLCipher)" % path)
    if webui_db.get("wal", {}).get("present") and not webui_db.get("shm", {}).get("present"):
        warnings.append("webui.db-wal exists without webui.db-shm: recent commits live only in the -wal; "
                        "a backup must copy it together with webui.db")
    vector_db = _vector_db(os.path.join(real, "vector_db"))
    uploads_s = _dir_summary(uploads)
    cache = _cache(os.path.join(real, "cache"))
    audit = []
    other = []
    for name in top:
        if name in KNOWN_TOP:
            continue
        full = os.path.join(real, name)
        st = os.lstat(full)
        if name.startswith("audit"):
            audit.append({"name": name, "size": st.st_size})
            continue
        if stat.S_ISDIR(st.st_mode):
            s = tree_stats(full)
            other.append({"name": name, "type": "dir", "size": s["size"], "files": s["files"]})
        elif stat.S_ISLNK(st.st_mode):
            other.append({"name": name, "type": "symlink", "size": 0, "files": 0, "target": os.readlink(full)})
        else:
            other.append({"name": name, "type": "file", "size": st.st_size, "files": 1})
    total = tree_stats(real)
    inv = {
        "path": path,
        "realpath": real,
        "webui_db": webui_db,
        "journal_mode": webui_db.get("journal_mode"),
        "alembic_revision": webui_db.get("alembic_revision"),
        "vector_db": vector_db,
        "chroma_journal_mode": (vector_db.get("chroma_sqlite3") or {}).get("journal_mode"),
        "uploads": uploads_s,
        "cache": cache,
        "audit_log": {"present": bool(audit), "files": audit, "size": sum(a["size"] for a in audit)},
        "other": other,
        "top_level": top,
        "totals": {"size": total["size"], "allocated": total["allocated"], "files": total["files"],
                   "dirs": total["dirs"], "human": human_bytes(total["size"]),
                   "without_redownloadable_cache": total["size"] - cache.get("redownloadable_bytes", 0)},
        "warnings": warnings,
    }
    return inv


# ---------------------------------------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------------------------------------
def _truthy(value, default):
    if value is None or value == "":
        return default
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def analyze_env(env):
    """Storage-related settings of an Open WebUI process environment (a dict). Never returns secret values:
    DATABASE_URL is reduced to its scheme (and the file path for SQLite), WEBUI_SECRET_KEY to a bool."""
    env = env or {}
    data_dir = env.get("DATA_DIR") or DATA_DIR_IN_CONTAINER
    url = (env.get("DATABASE_URL") or "").strip()
    db_type_env = (env.get("DATABASE_TYPE") or "").strip().lower()
    scheme = url.split(":", 1)[0].lower() if url else ""
    database = {"url_set": bool(url), "scheme": scheme or None, "path": None}
    kind_source = scheme or db_type_env
    if not kind_source or kind_source == "sqlite" or (kind_source.startswith("sqlite") and "cipher" not in kind_source):
        database["type"] = "sqlite"
        if url.startswith("sqlite:///"):
            database["path"] = url[len("sqlite:///"):].split("?", 1)[0]
        else:
            database["path"] = data_dir.rstrip("/") + "/webui.db"
    elif "cipher" in kind_source:
        database["type"] = "sqlcipher"
        database["password_set"] = bool(env.get("DATABASE_PASSWORD"))
    elif kind_source.startswith("postgres"):
        database["type"] = "postgresql"
    elif kind_source.startswith("mysql") or kind_source.startswith("mariadb"):
        database["type"] = "mysql"
    else:
        database["type"] = "unknown"
    database["wal_enabled"] = _truthy(env.get("DATABASE_ENABLE_SQLITE_WAL"), True)

    vdb = (env.get("VECTOR_DB") or "chroma").strip().lower()
    vector = {"type": vdb, "external": False, "path": None}
    if vdb == "chroma":
        host = (env.get("CHROMA_HTTP_HOST") or "").strip()
        vector["external"] = bool(host)
        vector["chroma_http_host_set"] = bool(host)
        if not host:
            vector["path"] = data_dir.rstrip("/") + "/vector_db"
    elif vdb == "milvus":
        uri = (env.get("MILVUS_URI") or "").strip()
        vector["external"] = bool(uri) and "://" in uri and not uri.startswith("file:")
        if not vector["external"]:
            vector["path"] = uri or data_dir.rstrip("/") + "/vector_db/milvus.db"
    else:
        vector["external"] = True

    provider = (env.get("STORAGE_PROVIDER") or "local").strip().lower() or "local"
    secret_env = bool((env.get("WEBUI_SECRET_KEY") or env.get("WEBUI_JWT_SECRET_KEY") or "").strip())
    return {
        "data_dir": data_dir,
        "database": database,
        "vector_db": vector,
        "storage_provider": provider,
        "secret_key_env_set": secret_env,
        "audit_log_level": (env.get("AUDIT_LOG_LEVEL") or "NONE").upper(),
        "migrations_enabled": _truthy(env.get("ENABLE_DB_MIGRATIONS"), True),
    }


def support_verdict(env_facts, mount):
    """``(supported, reasons)``: why this instance cannot (yet) be backed up by this collection."""
    reasons = []
    db = env_facts["database"]
    if db["type"] == "postgresql":
        reasons.append("the database is PostgreSQL (DATABASE_URL/DATABASE_TYPE): not supported yet, this collection "
                       "backs up the SQLite webui.db only; back PostgreSQL up with pg_dump")
    elif db["type"] == "sqlcipher":
        reasons.append("the database is SQLCipher-encrypted SQLite: not supported yet")
    elif db["type"] != "sqlite":
        reasons.append("the database type %r is not supported yet (only SQLite)" % db.get("scheme"))
    vec = env_facts["vector_db"]
    if vec["external"]:
        what = "CHROMA_HTTP_HOST is set (Chroma server)" if vec["type"] == "chroma" else "VECTOR_DB=%s" % vec["type"]
        reasons.append("the vector store is external (%s): not supported yet, back it up with its own tools"
                       % what)
    if env_facts["storage_provider"] != "local":
        reasons.append("uploads are stored in %s (STORAGE_PROVIDER): not supported yet, only local uploads/"
                       % env_facts["storage_provider"])
    if mount is not None and mount.get("type") == "none":
        reasons.append("nothing is mounted at %s: the data lives only in the container's writable layer"
                       % mount.get("destination", DATA_DIR_IN_CONTAINER))
    elif mount is not None and mount.get("type") not in ("volume", "bind"):
        reasons.append("%s is a %s mount: nothing on disk to back up" % (mount.get("destination"), mount.get("type")))
    return (not reasons), reasons


# ---------------------------------------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------------------------------------
def _venv_candidates(env):
    out = []
    for entry in (env.get("PATH") or "").split(":"):
        entry = entry.rstrip("/")
        if entry.endswith("/bin") and entry not in ("/bin", "/usr/bin", "/usr/local/bin", "/sbin", "/usr/sbin",
                                                    "/usr/local/sbin"):
            out.append(entry[:-4])
    venv = env.get("VIRTUAL_ENV")
    if venv and venv not in out:
        out.insert(0, venv)
    return out


def app_version(client, inspect, image):
    """``(version, source)``: image label, else /app/package.json, else the open-webui pip metadata of a
    venv found on PATH (asked with importlib.metadata in the running container), else ``(None, None)``."""
    label = image.get("version")
    if label and _VERSION_RE.match(label):
        return label.lstrip("v"), "image_label"
    cid = inspect["Id"]
    raw = client.read_file(cid, "/app/package.json")
    if raw:
        try:
            version = json.loads(raw.decode("utf-8")).get("version")
            if version:
                return version, "package.json"
        except (ValueError, UnicodeDecodeError, AttributeError):
            pass
    running = (inspect.get("State") or {}).get("Running") and not (inspect.get("State") or {}).get("Paused")
    env = client.env(inspect)
    pythons = [v + "/bin/python" for v in _venv_candidates(env) if client.read_file(cid, v + "/pyvenv.cfg")]
    if running:
        for py in pythons + ["python3"]:
            out = client.exec_read(cid, [py, "-c", "import importlib.metadata as m; print(m.version('open-webui'))"])
            if out and _VERSION_RE.match(out.strip()):
                return out.strip(), "pip_metadata"
    if label:
        return label, "image_label"
    return None, None


def ollama_mounts(client, include_ollama=False):
    """Containers that mount something at /root/.ollama and volumes named like ollama (model stores)."""
    found, seen_volumes = [], set()
    for s in client.list_containers():
        for m in s["mounts"]:
            if "/" + m["destination"].strip("/") == OLLAMA_DIR:
                found.append({"container": s["name"], "container_id": s["id"], "type": m["type"],
                              "volume": m["name"], "source": m["source"], "excluded": not include_ollama})
                if m["name"]:
                    seen_volumes.add(m["name"])
    for v in client.volumes():
        name = v.get("Name") or ""
        if "ollama" in name.lower() and name not in seen_volumes:
            found.append({"container": None, "container_id": None, "type": "volume", "volume": name,
                          "source": v.get("Mountpoint") or "", "excluded": not include_ollama})
    return found


def describe_container(client, container, include_ollama=False, ollama=None):
    """Everything ``openwebui_info`` reports about one container (no secret values)."""
    ins = container if isinstance(container, dict) and "Config" in container else client.inspect(container)
    cid = ins["Id"]
    name = (ins.get("Name") or "").lstrip("/")
    env = client.env(ins)
    facts = analyze_env(env)
    image = client.image_info(ins)
    state = client.state(ins)
    mount = client.data_mount(ins, target=facts["data_dir"])
    warnings = []
    if mount["type"] == "none":
        warnings.append(
            "DATA LOSS RISK: container %s has no volume or bind mount at %s; all chats, users and uploads live in "
            "the container's writable layer and are lost when it is removed or recreated. Fix: stop it, copy the "
            "data out ('docker cp %s:%s ./owui-data'), and recreate it with '-v open-webui:%s'."
            % (name, facts["data_dir"], name, facts["data_dir"], facts["data_dir"]))
    elif mount["anonymous"]:
        warnings.append(
            "DATA LOSS RISK: %s of container %s is an anonymous volume (%s): 'docker rm -v' or recreating the "
            "container (compose down/up, a new image) loses it. Fix: move the data to a named volume "
            "('-v open-webui:%s')." % (facts["data_dir"], name, mount["name"][:12], facts["data_dir"]))
    elif mount["type"] not in ("volume", "bind"):
        warnings.append("DATA LOSS RISK: %s of container %s is a %s mount and is not persistent"
                        % (facts["data_dir"], name, mount["type"]))
    if not mount["rw"]:
        warnings.append("%s is mounted read-only in container %s" % (facts["data_dir"], name))

    key_paths = [SECRET_KEY_FILE_IN_CONTAINER]
    workdir = ((ins.get("Config") or {}).get("WorkingDir") or "").rstrip("/")
    if workdir and workdir + "/.webui_secret_key" not in key_paths:
        key_paths.append(workdir + "/.webui_secret_key")
    key_file = None
    for p in key_paths:
        content = client.read_file(cid, p)
        if content is not None:
            key_file = {"path": p, "exists": True, "empty": not content.strip()}
            del content
            break
    secret = {
        "env_set": facts["secret_key_env_set"],
        "file_exists": bool(key_file),
        "file_path": key_file["path"] if key_file else SECRET_KEY_FILE_IN_CONTAINER,
        "file_in_data_mount": False,
        "source": "env" if facts["secret_key_env_set"] else ("file" if key_file else None),
    }
    if not facts["secret_key_env_set"] and not key_file:
        warnings.append("no WEBUI_SECRET_KEY in the environment and no %s in container %s: the key could not be "
                        "found, a restore will log every user out" % (SECRET_KEY_FILE_IN_CONTAINER, name))
    elif key_file and not facts["secret_key_env_set"]:
        warnings.append("the secret key of %s lives in %s, in the container layer (not in the volume): a backup "
                        "must capture it, and recreating the container without restoring it logs everyone out"
                        % (name, key_file["path"]))

    version, version_source = app_version(client, ins, image)
    supported, reasons = support_verdict(facts, mount)
    if ollama is None:
        ollama = ollama_mounts(client, include_ollama)
    own_ollama = [o for o in ollama if o.get("container_id") == cid]
    return {
        "name": name,
        "id": cid,
        "image": image["name"],
        "image_id": image["id"],
        "digest": image["digest"],
        "image_labels": image["labels"],
        "state": state["status"],
        "health": state["health"],
        "running": state["running"],
        "paused": state["paused"],
        "has_healthcheck": state["has_healthcheck"],
        "app_version": version,
        "app_version_source": version_source,
        "data_mount": mount,
        "data_dir": mount["source"] or None,
        "persistent": mount["persistent"],
        "env": facts,
        "secret_key": secret,
        "supported": supported,
        "reasons": reasons,
        "ollama": ollama,
        "bundles_ollama": bool(own_ollama),
        "warnings": warnings,
    }


# ---------------------------------------------------------------------------------------------------------
# Instances: what openwebui_info reports
# ---------------------------------------------------------------------------------------------------------
def describe_data_dir(path):
    """An instance entry (the shape of :func:`describe_container`'s, plus ``inventory``) for a plain data
    directory, without Docker."""
    inv = inspect_data_dir(path)
    real = os.path.abspath(path)
    return {
        "name": os.path.basename(real.rstrip("/")) or path,
        "id": None, "image": None, "digest": None, "state": None, "health": None, "app_version": None,
        "data_mount": {"type": "directory", "name": "", "source": real, "rw": True, "anonymous": False,
                       "persistent": True},
        "data_dir": real,
        "env": None, "secret_key": None, "supported": True, "reasons": [], "ollama": [],
        "inventory": inv, "warnings": list(inv.get("warnings") or []),
    }


def _with_inventory(inst, data_dir):
    """``inst`` with the inventory of its data directory (``data_dir`` overrides the mount's source)."""
    source = data_dir or inst["data_dir"]
    inst["inventory"] = None
    if source and not os.path.exists(source):
        inst["warnings"].append("the data directory %s of %s is not visible from this host (running in a container "
                                "without /var/lib/docker/volumes mounted?); inventory skipped" % (source, inst["name"]))
    elif source:
        inst["inventory"] = inspect_data_dir(source)
        inst["warnings"].extend(inst["inventory"].get("warnings") or [])
    inst.pop("image_labels", None)
    return inst


def _not_found(client, label, image):
    what = (["label %s" % label] if label else []) + (["image containing %r" % image] if image else [])
    return BackupError(
        "no Open WebUI container found%s on %s" % ((" with " + " and ".join(what)) if what else "", client.socket),
        "name the container with 'container:' (containers seen: %s), or use data_dir for an installation "
        "without Docker" % client.seen())


def discover(container=None, label=None, image=None, data_dir=None, include_ollama=False,
             docker_host="unix:///var/run/docker.sock", client=None):
    """``(instances, warnings)``: the chosen Open WebUI containers (or the plain ``data_dir`` alone) described
    with :func:`describe_container` and their data directory's inventory; each warning is prefixed with its
    instance's name. ``client`` is a DockerClient (one is opened on ``docker_host`` when None)."""
    if data_dir and not (container or label or image):
        found = [describe_data_dir(data_dir)]
    else:
        if client is None:
            from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import DockerClient
            client = DockerClient(socket=docker_host)
        try:
            summaries = client.find(name=container, label=label, image=image)
            if not summaries:
                raise _not_found(client, label, image)
            ollama = ollama_mounts(client, include_ollama)
            found = [_with_inventory(describe_container(client, c["id"], include_ollama=include_ollama, ollama=ollama),
                                     data_dir) for c in summaries]
        finally:
            client.close()
    return found, ["%s: %s" % (inst["name"], w) for inst in found for w in inst["warnings"]]
