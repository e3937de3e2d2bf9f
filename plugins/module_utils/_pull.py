# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The backup server's pull: copies of the newest verified snapshots of every Open WebUI host.

For each host and instance, over SSH with a key that the host restricts to ``rrsync -ro <repository>``
(it can only read the host's repository): list the host's snapshots, read the manifests of the newest, copy
the newest verified ones the server does not hold yet with ``rsync --link-dest`` against the server's
previous copy (unchanged files become hard links), check the copy (layout, no links or special files, the
sha256 of every file against its manifest) and publish it by one rename into the server's own repository,
laid out exactly like a host's (``<repository>/<host>/<instance>/<snapshot_id>/``), so snapshot_info, the
restore and the drill read it unchanged. Then the server's own retention. A host that fails does not stop
the others; every pull writes a run record (kind ``pull``), refreshes the metrics and notifies.

``main()`` is the runner ``owb-pull CONFIG.json`` (the backup_server role writes the config and the timer).
Plain Python and the rsync/ssh commands; no Ansible imports. Private to the collection.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import (
    BackupError,
    check_known,
    human_bytes,
    parse_snapshot_id,
    read_json,
    utcnow,
)
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _catalog
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _metrics
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _notify
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _retention
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _runlog
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository, SnapshotRef, _id_order, check_name

CONFIG_SCHEMA = 1
DEFAULTS = {"status_dir": "/var/lib/sage-open-webui-backup", "metrics_dir": "", "notify": [], "count": 1,
            "ssh_key": "", "known_hosts": "", "connect_timeout": 30, "io_timeout": 600, "rsync": "rsync",
            "keep_last": 2, "keep_daily": 0, "keep_weekly": 8, "keep_monthly": 12}
REQUIRED = ("config_schema", "repository", "hosts")
HOST_KEYS = ("name", "address", "port", "user", "instances")
TOP_LEVEL = {_manifest.MANIFEST, "data", "secret", "ollama"}
MANIFESTS = ".tmp-manifests"
LOCK_TIMEOUT = 60.0


# --------------------------------------------------------------------------- where a host's snapshots are read

class SshRemote(object):
    """A host's repository behind ``rrsync -ro``: paths are relative to the repository it names."""

    def __init__(self, address, port, user, key, known_hosts, connect_timeout):
        self.label = "%s@%s:%s" % (user, address, port)
        self._prefix = "%s@%s:" % (user, "[%s]" % address if ":" in address else address)
        ssh = ["ssh", "-p", str(port), "-o", "BatchMode=yes", "-o", "ConnectTimeout=%d" % connect_timeout,
               "-o", "StrictHostKeyChecking=yes", "-o", "ServerAliveInterval=30"]
        if key:
            ssh += ["-i", key, "-o", "IdentitiesOnly=yes"]
        if known_hosts:
            ssh += ["-o", "UserKnownHostsFile=%s" % known_hosts]
        self.rsync_args = ["-e", " ".join(shlex.quote(a) for a in ssh)]

    def source(self, rel):
        return self._prefix + rel


class LocalRemote(object):
    """A repository on a local path (tests, or a host's repository mounted on the server)."""

    rsync_args = []

    def __init__(self, root):
        self.label = root
        self._root = root

    def source(self, rel):
        return os.path.join(self._root, rel)


def _rsync(config, remote, args, what):
    cmd = [config["rsync"], "--timeout=%d" % config["io_timeout"]] + remote.rsync_args + args
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                              universal_newlines=True, check=False)
    except OSError as err:
        raise BackupError("cannot run %s: %s" % (config["rsync"], err.strerror or err),
                          "install rsync and openssh-client on the backup server (the backup_server role does)")
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or "").strip().splitlines()[-3:])
        raise BackupError("%s from %s failed (rsync exit %d: %s)" % (what, remote.label, proc.returncode, tail),
                          "check that the host answers over SSH with the backup server's key (the backup_server role "
                          "installs it as 'rrsync -ro <repository>') and that its host key is in known_hosts")
    return proc.stdout


def _dirs(config, remote, rel, what):
    """The names of the directories in ``rel`` on the host (``rsync --list-only``), without dot names."""
    out = _rsync(config, remote, ["--list-only", remote.source(rel)], what)
    names = []
    for line in out.splitlines():
        parts = line.split(None, 4)
        if len(parts) == 5 and parts[0].startswith("d") and not parts[4].startswith("."):
            names.append(parts[4])
    return names


def remote_ids(config, remote, host, instance):
    """The snapshot ids in the host's repository, oldest first (names that are not ids are ignored)."""
    names = _dirs(config, remote, "%s/%s/" % (host, instance), "listing the snapshots of %s/%s" % (host, instance))
    ids = [check_name("snapshot", n) for n in names if parse_snapshot_id(n) is not None]
    return sorted(ids, key=_id_order)


def remote_instances(config, remote, host):
    return sorted(check_name("instance", n) for n in _dirs(config, remote, "%s/" % host, "listing the instances of %s" % host))


# --------------------------------------------------------------------------- one host/instance

def _fetch_manifest(config, remote, repo, snapshot_id):
    tmp = os.path.join(repo.path, MANIFESTS)
    os.makedirs(tmp, mode=0o700, exist_ok=True)
    dest = os.path.join(tmp, snapshot_id)
    _rsync(config, remote, [remote.source("%s/%s/%s/%s" % (repo.host, repo.instance, snapshot_id, _manifest.MANIFEST)),
                            dest], "reading the manifest of %s" % snapshot_id)
    manifest = read_json(dest, "manifest", "the host's snapshot is not finished; the next pull retries",
                         "the host's snapshot is damaged; check it there with snapshot_info verify=true")
    return manifest if isinstance(manifest, dict) else {}


def choose(config, remote, repo, held):
    """(ids to pull, newest first; warnings): the ``count`` newest verified snapshots of the host, less those held."""
    ids = remote_ids(config, remote, repo.host, repo.instance)
    if not ids:
        raise BackupError("%s holds no snapshot of %s/%s" % (remote.label, repo.host, repo.instance),
                          "run a backup on that host first, or remove the instance from the backup server's list")
    wanted, warnings, seen = [], [], 0
    for snapshot_id in reversed(ids):
        if seen >= config["count"]:
            break
        if snapshot_id in held:
            seen += 1
            continue
        status = (_fetch_manifest(config, remote, repo, snapshot_id).get("verification") or {}).get("status")
        if status == "verified":
            wanted.append(snapshot_id)
            seen += 1
        elif not wanted and not seen:
            warnings.append("the newest snapshot %s of %s/%s is not verified (%s); it was not pulled"
                            % (snapshot_id, repo.host, repo.instance, status))
    if not seen:
        raise BackupError("%s holds no verified snapshot of %s/%s" % (remote.label, repo.host, repo.instance),
                          "check the host's backups (snapshot_info verify=true there) and run one that verifies")
    return wanted, warnings


def _foreign(staging):
    """What a copy must not hold: links, devices, sockets, set-id bits, names outside the snapshot layout."""
    problems = ["unexpected entry: %s" % n for n in sorted(os.listdir(staging)) if n not in TOP_LEVEL]
    for dirpath, dirnames, filenames in os.walk(staging):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, staging)
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                problems.append("not a regular file or directory: %s" % rel)
            elif st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                problems.append("set-id bit: %s" % rel)
    return problems


def check_copy(staging, snapshot_id, instance):
    """Problems of a copied snapshot (empty = publishable): its manifest names it and says verified, nothing
    foreign is in it, and every file has the size and sha256 its manifest says (the secret key too)."""
    problems = _foreign(staging)
    if problems:
        return problems
    ref = SnapshotRef(snapshot_id, staging, parse_snapshot_id(snapshot_id))
    try:
        manifest = ref.manifest
    except BackupError as err:
        return [str(err)]
    if manifest.get("snapshot_id") != snapshot_id or manifest.get("instance") != instance:
        named = (manifest.get("instance"), manifest.get("snapshot_id"))
        problems.append("the manifest names %s/%s, not %s/%s" % (named + (instance, snapshot_id)))
    if (manifest.get("verification") or {}).get("status") != "verified":
        problems.append("the manifest does not say verified")
    return problems + _catalog.check(ref, {})["problems"]


def _new_bytes(path):
    """Bytes of the files that are not hard links to an earlier copy (what this pull added to the disk)."""
    total = 0
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_nlink == 1:
                total += st.st_size
    return total


def _transfer(config, remote, repo, snapshot_id, link_to, checksum):
    """rsync one snapshot of the host into a fresh staging directory; returns the problems of the copy. Files
    equal in size and mtime (nanoseconds) to the previous copy become hard links to it; ``checksum`` compares
    contents instead (the retry when such a link turned out wrong)."""
    staging = os.path.join(repo.path, ".tmp-" + snapshot_id)
    shutil.rmtree(staging, ignore_errors=True)
    repo.staging(snapshot_id)
    args = ["-rlpt", "--chmod=ug-s", "--modify-window=-1"] + (["--checksum"] if checksum else [])
    if link_to:
        args.append("--link-dest=%s" % link_to.path)
    _rsync(config, remote, args + [remote.source("%s/%s/%s/" % (repo.host, repo.instance, snapshot_id)), staging + "/"],
           "copying snapshot %s" % snapshot_id)
    return staging, check_copy(staging, snapshot_id, repo.instance)


def copy_one(config, remote, repo, snapshot_id):
    """Copy, check and publish one snapshot (the caller holds the repository lock). Returns its facts."""
    previous = [ref for ref in repo.list() if ref.id != snapshot_id]
    link_to = previous[-1] if previous else None
    staging, problems = _transfer(config, remote, repo, snapshot_id, link_to, checksum=False)
    if problems and link_to:
        staging, problems = _transfer(config, remote, repo, snapshot_id, link_to, checksum=True)
    if problems:
        shutil.rmtree(staging, ignore_errors=True)
        raise BackupError("the copy of %s/%s/%s does not match its manifest, so it was not published: %s"
                          % (repo.host, repo.instance, snapshot_id, "; ".join(problems[:5])),
                          "check the snapshot on the host (snapshot_info verify=true there); it may be damaged or "
                          "tampered with. The server's earlier copies are untouched", problems=problems[:20])
    new_bytes = _new_bytes(staging)
    path = repo.publish(staging, snapshot_id)
    totals = _manifest.load(path).get("totals") or {}
    return {"id": snapshot_id, "bytes": totals.get("bytes", 0), "new_bytes": new_bytes, "path": path,
            "linked_to": link_to.id if link_to else None}


def pull_instance(config, remote, host, instance):
    """Pull one host/instance: returns (pulled snapshots newest first, warnings, ids pruned). Raises BackupError."""
    repo = Repository(config["repository"], host, instance)
    with repo.lock(timeout=LOCK_TIMEOUT):
        try:
            held = {ref.id for ref in repo.list()}
            wanted, warnings = choose(config, remote, repo, held)
            pulled = [copy_one(config, remote, repo, snapshot_id) for snapshot_id in reversed(wanted)]
        finally:
            shutil.rmtree(os.path.join(repo.path, MANIFESTS), ignore_errors=True)
    policy = {name: config[name] for name in _retention.COUNT_OPTIONS}
    pruned = _retention.prune(dict(policy, repository=config["repository"], host=host, instance=instance),
                              protect=[p["id"] for p in pulled])
    return list(reversed(pulled)), warnings + pruned["warnings"], pruned["deleted"]


# --------------------------------------------------------------------------- the run record

def _local(config, host, instance):
    repo = Repository(config["repository"], host, instance)
    refs = [ref for ref in repo.list() if ref.verified]
    newest = refs[-1] if refs else None
    return {"repository": config["repository"], "count": len(repo.list()),
            "newest_id": newest.id if newest else None,
            "newest_created": newest.manifest.get("created") if newest else None}


def new_record(host, instance, started):
    return _runlog.new_record("pull", host, instance, "pull", "timer", started)


def _summary(host, instance, pulled, deleted, local):
    if pulled:
        text = "pulled %s of %s/%s (%s, %s new)" % (", ".join(p["id"] for p in pulled), host, instance,
                                                    human_bytes(sum(p["bytes"] for p in pulled)),
                                                    human_bytes(sum(p["new_bytes"] for p in pulled)))
    else:
        text = "%s/%s is up to date (newest verified copy %s)" % (host, instance, local["newest_id"])
    text += "; %d copies kept" % local["count"]
    return text + ("; pruned %s" % ", ".join(deleted) if deleted else "")


def run_one(config, remote, host, instance):
    """Pull one host/instance and record it: start notification, pull, record, metrics, final notification."""
    started = utcnow()
    record = new_record(host, instance, started)
    record["notifications"] = _notify.send(config["notify"], "start", record)
    try:
        pulled, warnings, deleted = pull_instance(config, remote, host, instance)
        record["local"] = _local(config, host, instance)
        record.update(status="warning" if warnings else "ok", warnings=warnings,
                      summary=_summary(host, instance, pulled, deleted, record["local"]))
        if pulled:
            record["snapshot"] = {k: pulled[0][k] for k in ("id", "bytes", "new_bytes")}
    except Exception as err:  # noqa: BLE001 - one host's failure is its record, never the end of the run
        error = str(err) if isinstance(err, BackupError) else "unexpected error: %r" % (err,)
        record.update(status="failed", error=error, summary="pull of %s/%s FAILED: %s" % (host, instance, error))
        try:
            record["local"] = _local(config, host, instance)
        except (BackupError, OSError):
            pass
    finished = utcnow()
    record.update(finished=finished.isoformat(), duration_s=round((finished - started).total_seconds(), 3))
    _finish(config, record)
    return record


def _finish(config, record):
    """Record, metrics, notification (whose outcomes the record keeps): a failure of any is a warning of the
    record, never the end of the run."""
    _write(config, record)
    _path, error = _metrics.refresh(config["status_dir"], config["metrics_dir"])
    if error:
        record["warnings"].append("metrics: %s" % error)
        record["status"] = "warning" if record["status"] == "ok" else record["status"]
    record["notifications"] += _notify.send(config["notify"], _runlog.event_of(record), record)
    _write(config, record)


def _write(config, record):
    try:
        _runlog.write(config["status_dir"], record)
    except BackupError as err:
        if str(err) not in record["warnings"]:
            record["warnings"].append(str(err))


def held_instances(config, host):
    path = os.path.join(config["repository"], host)
    try:
        return sorted(n for n in os.listdir(path) if not n.startswith(".") and os.path.isdir(os.path.join(path, n)))
    except OSError:
        return []


def run_host(config, entry, remote=None):
    """Every instance of one host (``instances``, or all the host has); a host that cannot be listed gets a
    failed record for each instance the server knows of it (or ``open-webui``). Returns the records."""
    remote = remote or SshRemote(entry["address"], entry["port"], entry["user"], config["ssh_key"],
                                 config["known_hosts"], config["connect_timeout"])
    instances = entry["instances"]
    if not instances:
        try:
            instances = remote_instances(config, remote, entry["name"])
        except BackupError as err:
            return [_failed(config, entry["name"], name, err) for name in held_instances(config, entry["name"]) or ["open-webui"]]
        if not instances:
            err = BackupError("%s holds no snapshot of host %s" % (remote.label, entry["name"]),
                              "run a backup on that host first, or check its name on the backup server")
            return [_failed(config, entry["name"], "open-webui", err)]
    return [run_one(config, remote, entry["name"], name) for name in instances]


def _failed(config, host, instance, err):
    now = utcnow()
    record = new_record(host, instance, now)
    record.update(status="failed", error=str(err), summary="pull of %s/%s FAILED: %s" % (host, instance, err),
                  finished=now.isoformat(), duration_s=0.0)
    record["local"] = _local(config, host, instance)
    _finish(config, record)
    return record


def run(config, only_host=None):
    """Every host of the config (or one); returns the records."""
    records = []
    for entry in config["hosts"]:
        if only_host in (None, entry["name"]):
            records += run_host(config, entry)
    return records


# --------------------------------------------------------------------------- the config and the runner

def normalize(config):
    """The config file's content, checked, defaults filled (BackupError on a bad one)."""
    if not isinstance(config, dict):
        raise BackupError("the pull config is not a mapping", "let the backup_server role write it")
    check_known(config, REQUIRED + tuple(DEFAULTS), "pull config")
    missing = [k for k in REQUIRED if k not in config]
    if missing or config["config_schema"] != CONFIG_SCHEMA:
        raise BackupError("the pull config lacks %s or is not config_schema %d" % (", ".join(missing) or "nothing", CONFIG_SCHEMA),
                          "let the backup_server role of this collection's version write it")
    out = dict(DEFAULTS, **config)
    if not os.path.isabs(out["repository"]) or not isinstance(out["hosts"], list):
        raise BackupError("the pull config needs an absolute repository and a list of hosts", "fix the role variables")
    for key in ("count", "connect_timeout", "io_timeout"):
        if not isinstance(out[key], int) or isinstance(out[key], bool) or out[key] < 1:
            raise BackupError("pull config %s must be a whole number >= 1, got %r" % (key, out[key]), "fix it")
    policy = _retention.validate_policy({k: out[k] for k in _retention.COUNT_OPTIONS})
    out.update({k: policy[k] for k in _retention.COUNT_OPTIONS})
    out["notify"] = _notify.normalize(out["notify"])
    out["hosts"] = [_host(entry) for entry in out["hosts"]]
    return out


def _host(entry):
    if not isinstance(entry, dict) or "name" not in entry:
        raise BackupError("a host of the pull config has no name: %r" % (entry,), "give each host a name")
    check_known(entry, HOST_KEYS, "pull host")
    out = {"name": check_name("host", entry["name"]), "address": str(entry.get("address") or entry["name"]),
           "port": int(entry.get("port") or 22), "user": str(entry.get("user") or "root"),
           "instances": [check_name("instance", i) for i in entry.get("instances") or []]}
    if out["address"].startswith("-") or out["user"].startswith("-"):
        raise BackupError("host %s has an address or user starting with '-'" % out["name"], "fix the inventory")
    return out


def main(argv=None, out=None):
    """``owb-pull CONFIG.json [--host NAME]``: pull every host. Exit 0 when every pull is ok (or ok with
    warnings), 1 when one failed, 2 on bad usage or a bad config."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    only = None
    if "--host" in argv:
        i = argv.index("--host")
        only = argv[i + 1] if i + 1 < len(argv) else ""
        del argv[i:i + 2]
    if len(argv) != 1 or only == "":
        out.write("usage: owb-pull CONFIG.json [--host NAME]\n")
        return 2
    try:
        config = normalize(read_json(argv[0], "pull config", "run the backup_server role", "run the backup_server role again"))
    except BackupError as err:
        out.write("owb-pull: %s\n" % err)
        return 2
    records = run(config, only)
    for record in records:
        out.write("owb-pull: %s: %s\n" % (record["status"], record["summary"]))
        for warning in record["warnings"]:
            out.write("owb-pull: warning: %s\n" % warning)
    out.flush()
    return 1 if any(r["status"] == "failed" for r in records) else 0
