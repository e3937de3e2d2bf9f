# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The restore drill: restore the newest verified snapshot of each host/instance into a root-only scratch
directory, prove the copy (integrity, row counts, upload hashes), boot the image on it when available, and
record the restore time (RTO). Plain Python, no Ansible imports.

This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sqlite3
import stat
import time
import uuid

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import (
    DATA_DIR_IN_CONTAINER,
    BackupError,
    parse_snapshot_id,
    utcnow,
    write_json,
)
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _files
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _sqlite
from ansible_collections.sage_open_webui.backup.plugins.module_utils._restore_app import (
    docker_client,
    health_url_ok,
    put_key,
    read_snapshot_key,
    remove_container,
)
from ansible_collections.sage_open_webui.backup.plugins.module_utils._restore_source import LocalSource, check_snapshot_tree, open_source
from ansible_collections.sage_open_webui.backup.plugins.module_utils._swap import stage

APP_PORT = 8080  # the port Open WebUI listens on inside the drill container (published on 127.0.0.1 only)
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
MARKER = ".owb-drill-marker"  # written into the restored copy and read back through the engine before the boot


def check_restored(data_dir, manifest):
    """Integrity of both databases, row counts and upload hashes against the manifest. Returns (facts, problems)."""
    problems = []
    facts = {"databases": {}, "uploads": {"checked": 0, "mismatch": []}}
    for name, want in (manifest.get("databases") or {}).items():
        p = os.path.join(data_dir, name)
        if not os.path.exists(p):
            problems.append("%s missing after restore" % name)
            continue
        uri = _sqlite._uri(p, mode="ro", immutable="1")
        conn = sqlite3.connect(uri, uri=True)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
            integrity = "ok" if rows == ["ok"] else "; ".join(rows[:5])
            counts = _sqlite.row_counts(conn, tables=list((want.get("row_counts") or {}).keys()) or None)
        except sqlite3.DatabaseError as e:
            integrity, counts = "error: %s" % e, {}
        finally:
            conn.close()
        facts["databases"][name] = {"integrity": integrity, "row_counts": counts}
        if integrity != "ok":
            problems.append("%s integrity_check: %s" % (name, integrity))
        for table, n in (want.get("row_counts") or {}).items():
            if counts.get(table) != n:
                problems.append("%s table %s has %s rows, manifest %s" % (name, table, counts.get(table), n))
    by_path = {e["path"]: e for e in manifest.get("files", [])}
    for rel, e in sorted(by_path.items()):
        if not rel.startswith("uploads/"):
            continue
        p = os.path.join(data_dir, rel)
        try:
            digest = _files.sha256_file(p)[1]
        except OSError:
            digest = None
        facts["uploads"]["checked"] += 1
        if digest != e["sha256"]:
            facts["uploads"]["mismatch"].append(rel)
            problems.append("upload %s differs from the manifest" % rel)
    # uploads webui.db references, against Open WebUI's own file_hash
    db = os.path.join(data_dir, "webui.db")
    if os.path.exists(db):
        for rel, want in _sqlite.upload_refs(db):
            if rel is None:
                continue
            p = os.path.join(data_dir, rel)
            if not os.path.isfile(p):
                problems.append("upload %s referenced by webui.db is missing" % rel)
            elif want and _files.sha256_file(p)[1] != want:
                problems.append("upload %s does not match file.meta.file_hash" % rel)
    return facts, problems


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def boot_check(docker, image, data_dir, key, warnings, timeout=240):
    """Boot ``image`` on ``data_dir`` (bind mount, with the snapshot's key) on Docker's default bridge network,
    its port published on 127.0.0.1 only (never the host's network: the restored app must not reach services
    bound to the host's loopback), until /health answers. Returns seconds; the container is always removed."""
    port = _free_port()
    cid = docker.create(image, binds={data_dir: {"bind": DATA_DIR_IN_CONTAINER, "mode": "rw"}},
                        env={"PORT": str(APP_PORT), "HOST": "0.0.0.0"}, labels={"io.sage-open-webui.drill": "1"},
                        port_bindings={APP_PORT: ("127.0.0.1", port)})
    try:
        _same_files(docker, cid, data_dir)
        if key is not None:
            put_key(docker, cid, key)
        t0 = time.monotonic()
        docker.start(cid)
        url = "http://127.0.0.1:%d/health" % port
        while not health_url_ok(url):
            st = docker.state(cid)
            if st["status"] in ("exited", "dead"):
                logs = docker.logs(cid, tail=20)
                raise BackupError("Open WebUI (%s) exited with code %s on the restored data: %s" % (image, st["exit_code"], logs[-600:]),
                                  "the snapshot does not boot; investigate before you need it")
            if time.monotonic() - t0 > timeout:
                raise BackupError("Open WebUI (%s) did not answer %s within %ss on the restored data" % (image, url, timeout),
                                  "raise the timeout or investigate the container log")
            time.sleep(0.25)
        return round(time.monotonic() - t0, 3)
    finally:
        remove_container(docker, cid, warnings)


def _same_files(docker, cid, data_dir):
    """Refuse to boot when the Docker engine does not see ``data_dir`` as this process does (the drill in a
    container, or in a unit with a private /tmp): the engine would mount an empty directory there and the image
    would boot on no data, a drill that passes without proving anything."""
    marker = os.path.join(data_dir, MARKER)
    token = uuid.uuid4().hex.encode()
    with open(marker, "wb") as f:
        f.write(token)
    try:
        seen = docker.read_file(cid, "%s/%s" % (DATA_DIR_IN_CONTAINER, MARKER))
    finally:
        os.unlink(marker)
    if seen != token:
        raise BackupError("the drill container does not see the restored copy in %s (the Docker engine mounts another "
                          "directory of that name: this drill runs in a container or with a private /tmp)" % data_dir,
                          "give a scratch directory the Docker engine sees at the same path (verify_scratch), e.g. on a "
                          "directory shared with the engine's host")


def private_scratch(scratch):
    """``scratch`` as a directory only this user can enter (0700), made when missing. Refuses a link, something
    else than a directory, or a directory another user owns (in /var/tmp anyone may have made it first)."""
    if not os.path.isabs(scratch):
        raise BackupError("scratch %r is not absolute" % scratch, "give an absolute directory for the drill")
    try:
        os.mkdir(scratch, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(scratch)
    fix = "remove %s or give another scratch directory; the drill writes restored data (password hashes, chats) there" % scratch
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise BackupError("scratch %s is a link or not a directory" % scratch, fix)
    if st.st_uid != os.geteuid():
        raise BackupError("scratch %s belongs to uid %d, not to this user (uid %d)" % (scratch, st.st_uid, os.geteuid()), fix)
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(scratch, 0o700, follow_symlinks=False)
    return scratch


def drill(repository, host, instance, scratch, image=None, boot="auto", docker_host=DEFAULT_DOCKER_HOST,
          health_timeout=240, lock_timeout=0.0, keep=False, docker=None, source=None):
    """Restore the newest verified snapshot of ``host``/``instance`` into ``scratch`` and prove it works:
    ``image`` (else the snapshot's) is booted on it when ``boot`` is always, or auto and the image is here.
    The scratch copy is removed afterwards unless ``keep``. ``source``: a snapshot source (default: the local
    repository; a target's ``RemoteSource`` drills the off-host copy). Returns the drill record (also written
    to ``.drill-last.json`` beside the snapshots, ``.drill-last-<target>.json`` for a target)."""
    source = source or LocalSource(repository, host, instance)
    private_scratch(scratch)
    t0 = time.monotonic()
    warnings = []
    with source.lock(timeout=lock_timeout):
        sid = source.select("latest")
        with _naming(sid):
            snap = source.fetch(sid, ollama=False)
            manifest = _manifest.load(snap)
            problems = check_snapshot_tree(snap, manifest) + _manifest.verify(snap, manifest, deep=True)
            if problems:
                raise BackupError("drill %s/%s: snapshot %s failed verification: %s" % (host, instance, sid, "; ".join(problems[:5])),
                                  "this snapshot cannot be restored; check the repository disk and take a new backup", problems=problems)
            target = os.path.join(scratch, "%s-%s-%s" % (host, instance, sid))
            if os.path.lexists(target):
                shutil.rmtree(target)
            os.makedirs(target, mode=0o700)
            try:
                staged = stage(snap, manifest, target)
                restore_s = round(time.monotonic() - t0, 3)
                facts, problems = check_restored(target, manifest)
                check_s = round(time.monotonic() - t0 - restore_s, 3)
                image = image or (manifest.get("source") or {}).get("image")
                booted = _boot(docker, docker_host, image, boot, target, read_snapshot_key(snap, manifest), health_timeout,
                               problems, warnings)
            finally:
                if not keep:
                    shutil.rmtree(target, ignore_errors=True)
    result = {"host": host, "instance": instance, "snapshot_id": sid, "files": staged["files"],
              "bytes": staged["bytes"], "databases": facts["databases"], "uploads_checked": facts["uploads"]["checked"],
              "booted_image": booted[0], "boot_to_healthy_s": booted[1], "restore_s": restore_s, "check_s": check_s,
              "rto_s": round(time.monotonic() - t0, 3), "problems": problems, "ok": not problems,
              "when": utcnow().isoformat(), "warnings": warnings}
    record = ".drill-last.json" if source.kind == "local" else ".drill-last-%s.json" % source.target["name"]
    try:
        write_json(os.path.join(repository, host, instance, record), result)
    except OSError as e:
        warnings.append("could not record the drill in %s: %s" % (os.path.join(repository, host, instance), e))
    return result


@contextlib.contextmanager
def _naming(sid):
    """A BackupError raised inside names the snapshot it was about (``snapshot_id`` in its details)."""
    try:
        yield
    except BackupError as e:
        e.details.setdefault("snapshot_id", sid)
        raise


def _boot(docker, docker_host, image, boot, target, key, timeout, problems, warnings):
    """``(booted image, seconds to healthy)`` or ``(None, None)``; a boot that is required but impossible is a problem."""
    if problems or boot == "never" or not image:
        if boot == "always" and not image and not problems:
            problems.append("no image known to boot")
        return None, None
    docker = docker or docker_client(docker_host)
    if not docker.has_image(image):
        if boot == "always":
            problems.append("image %s is not on this host" % image)
        else:
            warnings.append("image %s is not on this host: the restored copy was not booted" % image)
        return None, None
    return image, boot_check(docker, image, target, key, warnings, timeout=timeout)


def drill_targets(repository):
    """Every ``(host, instance)`` with at least one snapshot in a local repository."""
    out = []
    if not os.path.isdir(repository):
        return out
    for host in sorted(os.listdir(repository)):
        hp = os.path.join(repository, host)
        if host.startswith(".") or not os.path.isdir(hp) or os.path.islink(hp):
            continue
        for inst in sorted(os.listdir(hp)):
            ip = os.path.join(hp, inst)
            if inst.startswith(".") or not os.path.isdir(ip) or os.path.islink(ip):
                continue
            if any(parse_snapshot_id(n) for n in os.listdir(ip)):
                out.append((host, inst))
    return out


def plan(repository, host=None, instance=None, source="local", targets=None, age_identity=None):
    """``(pairs, open_one)``: every ``(host, instance)`` with snapshots in ``repository`` (or on the target named
    ``source``, one of ``targets``, decrypted with ``age_identity``), limited to ``host``/``instance`` when given,
    and the function opening the source of one pair (None for the local repository). Raises when there is none."""
    remote = source not in (None, "", "local")

    def open_one(h, i):
        return open_source(source, repository, h, i, targets, age_identity) if remote else None
    if remote:
        lister = open_one(None, None)
        try:
            found, where = lister.pairs(), lister.location
        finally:
            lister.close()
    else:
        found, where = drill_targets(repository), repository
    pairs = [t for t in found if (not host or t[0] == host) and (not instance or t[1] == instance)]
    if not pairs:
        raise BackupError("no snapshots to drill in %s%s" % (where, " for %s/%s" % (host or "*", instance or "*")),
                          "run a backup first, or check repository, host and instance")
    return pairs, open_one


def drill_one(repository, scratch, host, instance, open_one, **options):
    """:func:`drill` of one pair from its source (closed afterwards); a failure is a result with ``ok`` false and
    the error in ``problems`` (``snapshot_id`` when one was selected), never an exception."""
    src = open_one(host, instance)
    try:
        return drill(repository, host, instance, scratch, source=src, **options)
    except BackupError as e:
        return {"host": host, "instance": instance, "ok": False, "problems": [str(e)], "rto_s": None, "warnings": [],
                "snapshot_id": e.details.get("snapshot_id")}
    finally:
        if src is not None:
            src.close()


def summary_line(d):
    """One drill's line: ``host/instance id: ok, RTO s, booted in s`` or ``host/instance id: FAILED``."""
    head = "%s/%s %s: " % (d["host"], d["instance"], d.get("snapshot_id") or "-")
    if not d["ok"]:
        return head + "FAILED"
    booted = ", booted in %ss" % d["boot_to_healthy_s"] if d.get("boot_to_healthy_s") else ""
    return head + "ok, RTO %ss%s" % (d["rto_s"], booted)
