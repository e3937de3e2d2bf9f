# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``rclone`` target: any remote rclone knows (B2, SFTP, WebDAV, Google Drive...), through the rclone CLI.

Each call is one ``rclone`` process: ``copyto`` from a private temporary file (rclone knows the size, checks
its own md5/sha1 against the remote's, and a killed caller never leaves a truncated upload behind),
``cat``, ``lsjson`` and ``delete``. The config file must be 0600; its password reaches rclone through
``RCLONE_CONFIG_PASS`` in the environment, never the command line, and never appears in an error.

A put is one process (each one opens its own connection, so fewer is faster): ``copyto --ignore-existing``
never overwrites (its log says "Destination exists, skipping": put returns False, nothing sent), and after a
copy rclone itself compares the size and the hash the local file shares with the remote (md5 or sha1 on most
remotes; the size alone where the remote has none) and fails on a difference. A failed write that left a
short file under the key (local, sftp) removes it. ``bwlimit`` is split over the target's ``concurrency`` (each rclone
process gets its share), so concurrent uploads together stay under it.

Plain Python, no Ansible imports. This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile

from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import Backend, TargetError, scrub

# One attempt per process (retries are _targets.retry's job), short connect timeout, never a prompt.
_FLAGS = ["--ask-password=false", "--retries", "1", "--low-level-retries", "3", "--contimeout", "15s",
          "--timeout", "120s"]
_LOG_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\w+ *: )?")
_CHATTER = re.compile(r" (DEBUG|INFO) +: ")  # -vv lines: never a failure's reason
_COPIED = re.compile(r" INFO +: .*: Copied \(new\)")
_SKIPPED = re.compile(r" DEBUG +: .*: Destination exists, skipping")
_MKDIR_FAILED = re.compile(r'mkParentDir failed|mkdir ".*" failed')
_MKDIR_TRIES = 4  # a key is at most three directories deep (<store>/packs/<pp>/<pack>)
_NOT_FOUND = (3, 4)  # rclone's exit codes for "directory not found" and "file not found"
# stderr fragment -> (problem, fix, transient); first match wins. %(remote)s is the remote's name.
_KNOWN = (
    ("didn't find section in config", "the remote %(remote)s is not in the rclone config",
     "add it (rclone config) or fix remote; `rclone listremotes%(config)s` lists the names", False),
    ("couldn't decrypt configuration", "the rclone config password is wrong",
     "set rclone_config_pass to the password of %(config_file)s", False),
    ("unable to decrypt configuration", "the rclone config is encrypted and no password was given",
     "set rclone_config_pass (vaulted) to the password of %(config_file)s", False),
    ("unable to authenticate", "the remote %(remote)s refused the login (wrong key, password or user)",
     "fix the credentials of %(remote)s in the rclone config; test with rclone lsd %(remote)s:", False),
    ("unauthorized", "the remote %(remote)s refused the credentials",
     "fix the credentials of %(remote)s in the rclone config; test with rclone lsd %(remote)s:", False),
    ("no space left", "the remote %(remote)s is full", "free space on it or make it bigger; the local snapshot is kept", False),
    ("disk space", "the remote %(remote)s is full", "free space on it or make it bigger; the local snapshot is kept", False),
    ("quota", "the remote %(remote)s is over its quota", "free space or raise the quota; the local snapshot is kept", False),
    ("read-only file system", "the remote %(remote)s is read-only", "mount it read-write", False),
    ("permission denied", "the remote %(remote)s denied access", "let the rclone user read and write %(path)s", False),
    ("access denied", "the remote %(remote)s denied access", "grant put/get/list on %(path)s to these credentials", False),
    ("forbidden", "the remote %(remote)s denied access", "grant put/get/list on %(path)s to these credentials", False),
    ("connection refused", "the remote %(remote)s refused the connection (down?)",
     "start the server or fix host/port of %(remote)s; the next run uploads what is missing", True),
    ("no route to host", "the remote %(remote)s is unreachable", "check the network to it", True),
    ("no such host", "the remote %(remote)s's host name does not resolve", "check the host name and DNS", True),
    ("timeout", "the remote %(remote)s timed out", "check the network to it; the next run resumes", True),
    ("connection reset", "the connection to %(remote)s was reset", "check the network to it; the next run resumes", True),
    ("eof", "the connection to %(remote)s broke", "check the network to it; the next run resumes", True),
)


class RcloneBackend(Backend):
    kind = "rclone"

    def __init__(self, target):
        super().__init__(target)
        remote = str(target["remote"])
        self.remote_name = remote.split(":", 1)[0]
        self.root = remote if remote.endswith((":", "/")) else remote + "/"
        self.config_file = target.get("config_file")
        self.password = target.get("rclone_config_pass")
        bps = target.get("bwlimit_bps")
        self.bwlimit = max(1024, bps // max(1, target.get("concurrency") or 1)) if bps else None
        self._binary = None

    @property
    def location(self):
        return "rclone %s" % self.target["remote"]

    # -- running rclone

    def _base(self):
        if self._binary is None:
            path = shutil.which(self.target.get("rclone_binary") or "rclone")
            if not path:
                raise self.error("the rclone tool is not installed", "install it (apt-get install rclone; the install role does)")
            if self.config_file:
                self._check_config()
            self._binary = path
        cmd = [self._binary] + _FLAGS
        return cmd + ["--config", self.config_file] if self.config_file else cmd

    def _check_config(self):
        try:
            mode = os.stat(self.config_file).st_mode
        except OSError as e:
            raise self.error("rclone config %s cannot be read: %s" % (self.config_file, e.strerror),
                             "deploy it (backup_rclone_config) or fix config_file")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise self.error("rclone config %s is readable by others (mode %04o)" % (self.config_file, stat.S_IMODE(mode)),
                             "chmod 600 %s (it holds the remote's credentials)" % self.config_file)

    def _env(self):
        env = dict(os.environ)
        env.pop("AWS_CA_BUNDLE", None)  # rclone's S3 backend would use it for every endpoint
        if self.password:
            env["RCLONE_CONFIG_PASS"] = self.password
        return env

    def _run(self, args, stdout=subprocess.PIPE, ok=(0,), log=False):
        """Run ``rclone <args>``; returns (returncode, stdout bytes, or stderr text with ``log``). A failure not in
        ``ok`` raises TargetError."""
        cmd = self._base() + args
        self.count()
        try:
            res = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, env=self._env(), check=False)  # pylint: disable=ansible-bad-function
        except OSError as e:
            raise self.error("rclone could not start: %s" % e.strerror, "check rclone_binary (%s)" % cmd[0])
        if res.returncode not in ok:
            raise self._failure(args[0], res.returncode, res.stderr.decode("utf-8", "replace"))
        return res.returncode, res.stderr.decode("utf-8", "replace") if log else res.stdout

    def _json(self, args, ok=(0,)):
        """Run rclone for JSON output: (returncode, parsed) with None when ``ok`` allowed a failure."""
        code, out = self._run(args, ok=ok)
        if code != 0:
            return code, None
        try:
            return code, json.loads(out)
        except ValueError:
            raise self.error("rclone %s gave no JSON: %r" % (args[0], out[:200]), "check rclone_binary is rclone (>= 1.60)")

    def _scrub(self, text):
        return scrub(text, self.secrets)

    def _failure(self, verb, code, stderr):
        text = "\n".join(line for line in self._scrub(stderr).strip().splitlines() if not _CHATTER.search(line))
        low = text.lower()
        values = {"remote": self.remote_name, "path": self.target["remote"],
                  "config_file": self.config_file or "the rclone config",
                  "config": " --config %s" % self.config_file if self.config_file else ""}
        err = None
        for needle, problem, fix, transient in _KNOWN:
            if needle in low:
                err = self.error(problem % values, fix % values, transient=transient)
                break
        if err is None:
            last = _LOG_PREFIX.sub("", text.splitlines()[-1]) if text else "exit status %d" % code
            err = self.error("rclone %s failed: %s" % (verb, last[-300:]),
                             "see why with `rclone -vv lsd %s%s` on this host" % (self.target["remote"], values["config"]))
        err.mkdir_failed = bool(_MKDIR_FAILED.search(text))
        return err

    def _path(self, key):
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise TargetError("object key %r is not valid" % key, "this is a bug: report it")
        return self.root + key

    # -- the Backend API

    def _stat(self, key):
        """lsjson --stat of one key: the dict rclone gives, or None when it does not exist."""
        return self._json(["lsjson", "--stat", "--no-mimetype", self._path(key)], ok=(0,) + _NOT_FOUND)[1]

    def exists(self, key):
        return self._stat(key) is not None

    def put(self, key, data, sha256=None):
        """One ``rclone -vv copyto --ignore-existing``: its log says whether it copied (and checked the hash it
        shares with the remote) or found the key there already (sent nothing). ``sha256`` is not used: rclone
        checks the hash the remote computes."""
        dest = self._path(key)
        tmpdir = tempfile.mkdtemp(prefix="owb-rclone-")
        try:
            src = os.path.join(tmpdir, "object")
            with open(src, "wb") as f:
                f.write(data)
            bwlimit = ["--bwlimit", "%dB" % self.bwlimit] if self.bwlimit else []
            log = self._copyto(["-vv", "--ignore-existing"] + bwlimit + [src, dest], key, len(data))
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        if _COPIED.search(log):
            self.count(sent=len(data), objects=1, requests=0)
            return True
        if _SKIPPED.search(log):
            return False
        raise self.error("rclone copyto of %s said neither copied nor skipped" % key,
                         "check that rclone_binary is rclone >= 1.60 (rclone version)")

    def _copyto(self, args, key, size):
        """``rclone copyto <args>``, again when it lost a race to create the key's directory: processes putting
        into one new directory all try to create it, and OpenSSH's SFTP server answers the losers with a bare
        "Failure" that rclone 1.60 does not always take for "exists". Each try finds one more level there."""
        for attempt in range(_MKDIR_TRIES):
            try:
                return self._run(["copyto"] + args, log=True)[1]
            except TargetError as e:
                if attempt + 1 < _MKDIR_TRIES and getattr(e, "mkdir_failed", False):
                    continue
                raise self._after_failed_put(key, size, e)

    def _after_failed_put(self, key, size, err):
        """A failed write may leave a short file on file-like remotes (local, sftp): remove ours, and tell a
        full remote from an opaque SFTP "Failure" by asking for the free space."""
        try:
            info = self._stat(key)
            if info is not None and info.get("Size") != size:
                self._run(["deletefile", self._path(key)])
            if "ssh_fx_failure" in err.problem.lower() and self._free() < size:
                return self.error("the remote %s is full" % self.remote_name,
                                  "free space on it or make it bigger; the local snapshot is kept")
        except TargetError:
            pass
        return err

    def _free(self):
        free = self._json(["about", "--json", self.root])[1].get("free")
        return free if isinstance(free, int) else 1 << 62

    def get(self, key):
        return self._get(key, subprocess.PIPE)

    def get_to(self, key, dest):
        try:
            with open(dest, "wb") as f:
                self._get(key, f)
        except BaseException:
            try:
                os.unlink(dest)
            except OSError:
                pass
            raise
        return os.path.getsize(dest)

    def _get(self, key, stdout):
        code, out = self._run(["cat", self._path(key)], stdout=stdout, ok=(0,) + _NOT_FOUND)
        if code != 0:
            raise self.error("object %s is missing" % key, "the target lost it; restore another snapshot", missing=True)
        return out

    def list(self, prefix=""):
        """Every (key, size) under ``prefix``: one ``lsjson -R`` of the prefix's deepest directory."""
        base = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
        where = self._path(base.rstrip("/")) if base else self.root
        dummy, entries = self._json(["lsjson", "-R", "--files-only", "--no-mimetype", "--no-modtime", where],
                                    ok=(0,) + _NOT_FOUND)
        keys = ((base + e["Path"], e["Size"]) for e in entries or [])
        return sorted(k for k in keys if k[0].startswith(prefix))

    def delete(self, keys):
        """One ``rclone delete --files-from-raw`` for all keys, then one listing to see which are still there."""
        keys = list(keys)
        if not keys:
            return []
        paths = [self._path(k)[len(self.root):] for k in keys]
        problem = None
        with tempfile.NamedTemporaryFile("w", prefix="owb-rclone-delete-", suffix=".txt") as f:
            f.write("".join(p + "\n" for p in paths))
            f.flush()
            try:
                self._run(["delete", "--files-from-raw", f.name, self.root])
            except TargetError as e:
                problem = str(e)
        left = set(k for k, dummy in self.list(""))
        return [(k, problem or "still there after rclone delete") for k in keys if k in left]
