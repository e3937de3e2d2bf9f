# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pieces the off-host disaster-recovery and fault tests share (test_offsite_dr.py, test_offsite_faults.py).

- ``age_keypair(dir)``: an identity file (0600) and its public key, made by Debian's ``age-keygen``.
- ``Bed(root, s3_endpoint, recipients)``: the three target types on loopback, each a dict as the backup job
  takes it (``targets``): ``s3`` (moto, fresh bucket), ``rclone`` (a ``local`` remote through an rclone config
  file), ``filesystem`` (a directory standing in for the NAS mount). ``backend(name)`` opens one directly
  (no proxy) to look at what is really stored; ``listed(name)`` lists the complete remote snapshots.
- ``FreshHost``: a new systemd container from the base image with nothing of this collection on it, only the
  Docker socket (to run Open WebUI beside it), the target's mount or credentials and the age identity.
  ``playbook(...)`` runs a playbook of the collection against it through the docker connection, ``module(...)``
  one module (``ansible -m``), ``sh(...)`` a command.
- ``rclone_copy_s(...)``: the baseline, ``rclone copy`` of a target's bytes down to a local directory.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
import uuid

from engine import ROOT, collections_root
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store, _targets

HOST, INSTANCE = "h1", "owui"
# Where a fresh host sees the targets that are directories here (its /tmp is a tmpfs of its own).
HOST_MOUNTS = {"filesystem": "/mnt/owb-nas", "rclone": "/mnt/owb-rclone"}
S3_KEYS = {"access_key_id": "testing", "secret_access_key": "testing"}


def age_keypair(dirpath, name="identity.txt"):
    """``(identity file, public key)``."""
    path = os.path.join(str(dirpath), name)
    subprocess.run(["age-keygen", "-o", path], check=True, capture_output=True)
    os.chmod(path, 0o600)
    pub = subprocess.run(["age-keygen", "-y", path], check=True, capture_output=True, text=True).stdout.strip()
    return path, pub


def new_bucket(endpoint, name=None):
    import boto3

    bucket = name or "owbt-dr-%s" % uuid.uuid4().hex[:10]
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=bucket)
    return bucket


def rclone_config(path, remote="owbdr"):
    """An rclone config file (0600) with one ``local`` remote; returns the remote's name."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("[%s]\ntype = local\n" % remote)
    os.chmod(path, 0o600)
    return remote


class Bed(object):
    """The three targets of one test module, all encrypted to ``recipients`` (none: a plain store)."""

    def __init__(self, root, s3_endpoint, recipients, s3_url=None):
        self.root = str(root)
        self.endpoint = s3_endpoint
        self.recipients = list(recipients)
        self.bucket = new_bucket(s3_endpoint)
        self.dirs = {kind: os.path.join(self.root, "target-" + kind) for kind in HOST_MOUNTS}
        for d in self.dirs.values():
            os.makedirs(d, exist_ok=True)
        self.rclone_conf = os.path.join(self.root, "rclone.conf")
        self.remote = rclone_config(self.rclone_conf)
        self.targets = {
            "s3": self.s3_target("s3", url=s3_url),
            "rclone": dict(name="rclone", type="rclone", remote="%s:%s" % (self.remote, self.dirs["rclone"]),
                           config_file=self.rclone_conf, recipients=self.recipients),
            "filesystem": dict(name="filesystem", type="filesystem", path=self.dirs["filesystem"],
                               recipients=self.recipients),
        }

    def s3_target(self, name, url=None, bucket=None, **kw):
        t = dict(name=name, type="s3", bucket=bucket or self.bucket, prefix="owb", endpoint_url=url or self.endpoint,
                 region="us-east-1", addressing_style="path", recipients=self.recipients, **S3_KEYS)
        t.update(kw)
        return t

    def target(self, name, **over):
        return dict(self.targets[name], **over)

    def on_fresh_host(self, kind):
        """The same target as a fresh host configures it: its own mount point, the same remote and keys."""
        t = dict(self.targets[kind])
        if kind == "filesystem":
            t["path"] = HOST_MOUNTS[kind]
        elif kind == "rclone":
            t["remote"] = "%s:%s" % (self.remote, HOST_MOUNTS[kind])
            t["config_file"] = "/root/owb/rclone.conf"
        return t

    def backend(self, name_or_target):
        t = self.targets[name_or_target] if isinstance(name_or_target, str) else name_or_target
        return _targets.open_backend(_targets.normalize(t))

    def listed(self, name_or_target):
        """Ids of the complete snapshots of HOST/INSTANCE the target lists."""
        return [s["id"] for s in _store.list_snapshots(self.backend(name_or_target), HOST, INSTANCE)]

    def rclone_copy_s(self, kind, dest):
        """Seconds for ``rclone copy --transfers 8`` of the whole store of target ``kind`` into ``dest``."""
        env = dict(os.environ, RCLONE_CONFIG=self.rclone_conf)
        env.pop("AWS_CA_BUNDLE", None)  # rclone's AWS SDK refuses a custom bundle on a plain-http endpoint
        if kind == "s3":
            env.update(RCLONE_CONFIG_OWBS3_TYPE="s3", RCLONE_CONFIG_OWBS3_PROVIDER="Other",
                       RCLONE_CONFIG_OWBS3_ENDPOINT=self.endpoint, RCLONE_CONFIG_OWBS3_ACCESS_KEY_ID="testing",
                       RCLONE_CONFIG_OWBS3_SECRET_ACCESS_KEY="testing", RCLONE_CONFIG_OWBS3_REGION="us-east-1")
            src = "owbs3:%s/owb" % self.bucket
        else:
            src = self.targets[kind].get("remote") or self.dirs[kind]
        t0 = time.monotonic()
        proc = subprocess.run(["rclone", "copy", "--transfers", "8", src, dest], env=env, capture_output=True, text=True,
                              check=False)
        took = time.monotonic() - t0
        assert proc.returncode == 0, proc.stderr[-2000:]
        return took


def _tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, (data, mode) in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), mode, int(time.time())
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


class FreshHost(object):
    """A new systemd host (base image, no --privileged) that has only what DR gives it: the Docker socket of
    the machine it runs on, the target (a mount, or credentials), the age tool and the identity."""

    def __init__(self, docker_client, base_image, run_kwargs, mounts=None):
        self.dk = docker_client
        self.name = "owbt-fresh-%s" % uuid.uuid4().hex[:8]
        kwargs = dict(run_kwargs)
        volumes = dict(kwargs.pop("volumes", {}))
        volumes.update({"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                        "/var/lib/docker/volumes": {"bind": "/var/lib/docker/volumes", "mode": "rw"},
                        "/usr/bin/age": {"bind": "/usr/bin/age", "mode": "ro"}})
        for src, dst in (mounts or {}).items():
            volumes[src] = {"bind": dst, "mode": "rw"}
        self.container = docker_client.containers.run(base_image, detach=True, name=self.name, volumes=volumes,
                                                      labels={"owb-testbed": "1", "owb-test": "1"}, **kwargs)
        t0 = time.monotonic()
        state = ""
        while time.monotonic() - t0 < 90 and state not in ("running", "degraded"):
            time.sleep(0.3)
            state = self.container.exec_run(["systemctl", "is-system-running"]).output.decode().strip()
        self.boot_s = time.monotonic() - t0

    def put(self, path, data, mode=0o600):
        """Write one file (parents created) on the host."""
        d = os.path.dirname(path)
        self.sh("mkdir -p -m 0700 %s" % d)
        assert self.container.put_archive(d, _tar({os.path.basename(path): (data, mode)}))

    def sh(self, script, check=True, env=None):
        res = self.container.exec_run(["sh", "-c", script], environment=env or {})
        out = res.output.decode("utf-8", "replace")
        if check and res.exit_code != 0:
            raise AssertionError("on the fresh host: %s -> exit %s\n%s" % (script, res.exit_code, out[-4000:]))
        return res.exit_code, out

    def _ansible(self, tool, args, timeout):
        inv = os.path.join("/tmp", "owbt-inv-%s.ini" % self.name)
        with open(inv, "w", encoding="utf-8") as f:
            f.write("[openwebui]\n%s ansible_connection=community.docker.docker ansible_python_interpreter=/usr/bin/python3\n"
                    % self.name)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                   ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_NOCOLOR="1")
        try:
            return subprocess.run([os.path.join(os.path.dirname(sys.executable), tool), "-i", inv] + args, capture_output=True,
                                  text=True, env=env, cwd=ROOT, timeout=timeout, check=False)
        finally:
            os.unlink(inv)

    def playbook(self, playbook, extra_vars, timeout=1200):
        """``ansible-playbook`` of this collection against the host (docker connection). Returns
        ``(CompletedProcess, results of the tasks by name)`` (ansible.posix.json callback)."""
        proc = self._ansible("ansible-playbook", [os.path.join(ROOT, "playbooks", playbook), "-e", json.dumps(extra_vars)],
                             timeout)
        return proc, task_results(proc.stdout, self.name)

    def module(self, name, args, timeout=300):
        """One module of this collection on the host (``ansible -m``); returns its result."""
        proc = self._ansible("ansible", [self.name, "-b", "-m", "sage_open_webui.backup." + name, "-a", json.dumps(args)],
                             timeout)
        res = task_results(proc.stdout, self.name)
        assert proc.returncode == 0 and res, (proc.stdout + proc.stderr)[-3000:]
        return list(res.values())[0]

    def remove(self):
        try:
            self.container.remove(force=True, v=True)
        except Exception:  # noqa: BLE001 - already gone
            pass


def task_results(stdout, host):
    """``{task name: result}`` from the json callback's output ({} when it is not JSON)."""
    try:
        doc = json.loads(stdout[stdout.index("{"):])
    except ValueError:
        return {}
    out = {}
    for play in doc.get("plays", []):
        for task in play.get("tasks", []):
            res = task.get("hosts", {}).get(host)
            if res is not None:
                out[task["task"]["name"]] = res
    return out


def failed_message(proc, results):
    """The message of the task that failed (or the run's tail)."""
    for res in results.values():
        if res.get("failed"):
            return res.get("msg", json.dumps(res)[-2000:])
    return (proc.stdout + proc.stderr)[-3000:]
