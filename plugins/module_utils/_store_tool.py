# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The command line of the self-contained restore tool (``owb-restore-<hash>.py`` on every target, built by
``_bundle``): disaster recovery with nothing but the target's credentials and the age identity.

    python3 owb-restore.py list  --target s3://bucket/prefix [--endpoint-url URL] [--region R]
    python3 owb-restore.py fetch latest|SNAPSHOT --target ... --host H --instance I --to DIR [--identity FILE]

``fetch`` writes the Open WebUI data directory into DIR (new or empty), the secret key to
``DIR/../<name of DIR>.webui_secret_key`` (or ``--key-file``), and prints the ``docker run`` line that starts
Open WebUI on them. AWS credentials come from the environment or ``--profile`` (boto3's usual chain).
Plain Python, no Ansible imports. This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import uuid

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import (
    DATA_DIR_IN_CONTAINER,
    SECRET_KEY_FILE_IN_CONTAINER,
    BackupError,
    human_bytes,
)
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest, _store
from ansible_collections.sage_open_webui.backup.plugins.module_utils._restore_app import read_snapshot_key
from ansible_collections.sage_open_webui.backup.plugins.module_utils._restore_source import check_snapshot_tree
from ansible_collections.sage_open_webui.backup.plugins.module_utils._store_read import RemoteSource
from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import normalize, open_backend


def parse_target(args):
    """``--target`` (s3://bucket/prefix, rclone:remote:path, /path) and its options -> a normalized target."""
    spec = args.target
    t = {"concurrency": args.concurrency}
    if spec.startswith("s3://"):
        bucket, _sep, prefix = spec[len("s3://"):].partition("/")
        t.update(type="s3", bucket=bucket, prefix=prefix, endpoint_url=args.endpoint_url, region=args.region,
                 profile=args.profile)
    elif spec.startswith("rclone:"):
        t.update(type="rclone", remote=spec[len("rclone:"):], config_file=args.rclone_config)
    elif spec.startswith("/"):
        t.update(type="filesystem", path=spec)
    else:
        raise BackupError("--target %r is not a target" % spec, "give s3://bucket/prefix, rclone:remote:path or an absolute path")
    t["name"] = t["type"]  # messages say "target s3 (s3://bucket/prefix at ...)"
    return normalize(t)


def cmd_list(target, args, out):
    backend = open_backend(target)
    _store.open_store(backend, target)
    snaps = _store.list_snapshots(backend, args.host, args.instance)
    row = "%-20s %-20s %-20s %-26s %10s\n"
    out.write(row % ("HOST", "INSTANCE", "SNAPSHOT", "CREATED", "SIZE"))
    for s in snaps:
        record = _store.load_record(backend, s["host"], s["instance"], s["id"])
        out.write(row % (s["host"], s["instance"], s["id"], s["created"].isoformat(), human_bytes(record.get("bytes") or 0)))
    if not snaps:
        out.write("(no snapshots)\n")
    return 0


def _host_instance(target, args):
    """``--host``/``--instance``, or the only pair the store holds."""
    if args.host and args.instance:
        return args.host, args.instance
    pairs = [p for p in RemoteSource(target, None, None).pairs()
             if (not args.host or p[0] == args.host) and (not args.instance or p[1] == args.instance)]
    if len(pairs) != 1:
        raise BackupError("the store holds %s" % (", ".join("%s/%s" % p for p in pairs) or "no snapshots"
                                                  + (" for that host/instance" if args.host or args.instance else "")),
                          "give --host and --instance (the list command shows them)")
    return pairs[0]


def cmd_fetch(target, args, out):
    dest = os.path.abspath(args.to)
    key_file = os.path.abspath(args.key_file or os.path.join(os.path.dirname(dest), os.path.basename(dest) + ".webui_secret_key"))
    if os.path.lexists(dest) and (not os.path.isdir(dest) or os.listdir(dest)):
        raise BackupError("%s exists and is not an empty directory" % dest, "give a new directory with --to")
    if os.path.lexists(key_file):
        raise BackupError("the key file %s exists already" % key_file, "remove it or give another path with --key-file")
    host, instance = _host_instance(target, args)
    # the work copy sits beside DIR, so the data directory is renamed into place (same file system)
    work = os.path.join(os.path.dirname(dest), ".owb-fetch-%s" % uuid.uuid4().hex[:12])
    source = RemoteSource(target, host, instance, identity_file=args.identity, workdir=work)
    try:
        sid = source.select(args.snapshot)
        snap = source.fetch(sid, ollama=False)
        manifest = _manifest.load(snap)
        problems = check_snapshot_tree(snap, manifest) + _manifest.verify(snap, manifest, deep=False)
        if problems:
            raise BackupError("snapshot %s failed verification: %s" % (sid, "; ".join(problems[:5])), "use another snapshot")
        key = read_snapshot_key(snap, manifest)
        if os.path.isdir(dest):
            os.rmdir(dest)
        os.rename(os.path.join(snap, "data"), dest)
        if key is not None:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(key)
    finally:
        source.close()
    out.write("fetched %s/%s %s from %s: %d files, %s downloaded in %d packs\n" % (
        host, instance, sid, source.location, source.stats["files"], human_bytes(source.stats["bytes_downloaded"]),
        source.stats["packs"]))
    out.write("data directory: %s\n" % dest)
    run = ["docker", "run", "-d", "--name", instance, "-p", "3000:8080", "-v", "%s:%s" % (dest, DATA_DIR_IN_CONTAINER)]
    if key is not None:
        out.write("secret key:     %s (0600)\n" % key_file)
        run += ["-v", "%s:%s:ro" % (key_file, SECRET_KEY_FILE_IN_CONTAINER)]
    else:
        out.write("the snapshot holds no secret key: users must sign in again\n")
    src = manifest.get("source") or {}
    run.append(src.get("image") or "ghcr.io/open-webui/open-webui:%s" % (src.get("app_version") or "main"))
    out.write("start Open WebUI on it (the image the snapshot was taken with):\n  %s\n" % " ".join(shlex.quote(a) for a in run))
    return 0


def parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--target", required=True, help="s3://bucket/prefix, rclone:remote:path or /mounted/path")
    common.add_argument("--endpoint-url", help="S3 endpoint (B2, MinIO, R2, Wasabi, ...)")
    common.add_argument("--region", help="S3 region")
    common.add_argument("--profile", help="AWS profile (else the environment / instance role)")
    common.add_argument("--rclone-config", help="rclone config file (its password in RCLONE_CONFIG_PASS)")
    common.add_argument("--identity", help="age identity file (encrypted stores)")
    common.add_argument("--concurrency", type=int, default=8, help="parallel downloads (default 8)")
    common.add_argument("--host", help="the host whose snapshots to use")
    common.add_argument("--instance", help="the instance (container name) whose snapshots to use")
    p = argparse.ArgumentParser(prog="owb-restore", description="Read a sage_open_webui.backup store: list snapshots, "
                                "fetch one as an Open WebUI data directory.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", parents=[common], help="list the snapshots on the target")
    f = sub.add_parser("fetch", parents=[common], help="write a snapshot's data directory and key")
    f.add_argument("snapshot", help="latest, or a snapshot id")
    f.add_argument("--to", required=True, help="the new data directory (created; must be new or empty)")
    f.add_argument("--key-file", help="where the secret key goes (default: DIR/../<name of DIR>.webui_secret_key)")
    return p


def main(argv=None, out=None):
    args = parser().parse_args(argv)
    out = out or sys.stdout
    try:
        target = parse_target(args)
        return (cmd_list if args.command == "list" else cmd_fetch)(target, args, out)
    except BackupError as e:
        sys.stderr.write("owb-restore: %s\n" % e)
        return 1
    except ImportError as e:
        sys.stderr.write("owb-restore: %s. Fix: install it (boto3: pip install boto3 or apt-get install python3-boto3)\n" % e)
        return 1
