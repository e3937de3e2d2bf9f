# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Off-host targets: the options of one target, and the small object-store interface every type implements.

A target is a flat key/value store of immutable objects under a prefix (S3 bucket + prefix, rclone
``remote:path``, or a directory on a mounted file system). The store format (``_store``) is written through
this interface only, so every type holds exactly the same layout.

:class:`Backend` (one per target and run):

- ``put(key, data, sha256)``: write ``data`` (bytes) under ``key``; never overwrite: returns False when the
  key exists already (nothing sent), True when written. The endpoint checks ``sha256`` (hex of ``data``)
  where it can. Raises :class:`TargetError`.
- ``get(key)`` -> bytes; ``get_to(key, path)`` streams to a file. A missing key raises TargetError(missing=True).
- ``list(prefix)`` -> ``[(key, size)]`` of every object whose key starts with ``prefix`` (recursive).
- ``exists(key)`` -> bool.
- ``delete(keys)`` -> ``[(key, problem)]`` for the ones that failed. Only the pruning side calls it.
- ``stats``: ``{"bytes_sent", "objects_sent", "requests"}`` counted by the backend.

Keys are relative to the target's prefix, ``/``-separated, never starting with ``/``.
Plain Python, no Ansible imports. This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import re
import threading
import time

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, check_known

TYPES = ("s3", "rclone", "filesystem")
# Option values that must never reach a log, a result, a status file or a manifest.
SECRET_OPTIONS = ("access_key_id", "secret_access_key", "session_token", "rclone_config_pass", "dedup_secret")
COMMON = {
    "name": None, "type": None, "enabled": True,
    "recipients": [], "dedup_secret": None,
    "concurrency": 4, "bwlimit": None,
    "keep_last": 7, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6,
}
PER_TYPE = {
    "s3": {"bucket": None, "prefix": "", "endpoint_url": None, "region": None, "addressing_style": "auto",
           "storage_class": None, "sse": None, "sse_kms_key_id": None, "access_key_id": None,
           "secret_access_key": None, "session_token": None, "profile": None, "ca_bundle": None,
           "verify_tls": True, "object_lock_days": 0, "object_lock_mode": "GOVERNANCE"},
    "rclone": {"remote": None, "config_file": None, "rclone_config_pass": None, "rclone_binary": "rclone"},
    "filesystem": {"path": None},
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMG]?)i?B?\s*$", re.I)


class TargetError(BackupError):
    """A target failed. ``transient`` errors (timeouts, resets, 5xx) may succeed when retried; ``missing``
    marks a key that does not exist."""

    def __init__(self, problem, fix=None, transient=False, missing=False, **details):
        super().__init__(problem, fix, **details)
        self.transient = transient
        self.missing = missing


def parse_rate(value):
    """``bwlimit`` -> bytes per second (None = unlimited). Accepts 1048576, "512K", "10M", "1.5MiB", "1G"."""
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value) if value > 0 else None
    m = _RATE.match(str(value))
    if not m:
        raise BackupError("bwlimit %r is not a rate" % (value,), "give bytes per second, e.g. 10M (10 MiB/s) or 512K")
    return int(float(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()])


def normalize(target):
    """One target's options, checked and completed with defaults. Raises BackupError naming the target."""
    if not isinstance(target, dict):
        raise BackupError("a target must be a mapping with name and type, got %r" % (target,),
                          "give each target as {name: ..., type: s3|rclone|filesystem, ...}")
    name = target.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise BackupError("target name %r is not valid" % (name,), "use letters, digits, '.', '_' and '-' (up to 64)")
    kind = target.get("type")
    if kind not in TYPES:
        raise BackupError("target %s has type %r" % (name, kind), "set type to one of %s" % ", ".join(TYPES))
    known = dict(COMMON, **PER_TYPE[kind])
    check_known(target, known, "target %s (type %s)" % (name, kind))
    out = dict(known)
    out.update({k: v for k, v in target.items() if v is not None})
    for key in ("concurrency", "keep_last", "keep_daily", "keep_weekly", "keep_monthly"):
        try:
            out[key] = int(out[key])
        except (TypeError, ValueError):
            raise BackupError("target %s: %s=%r is not a number" % (name, key, out[key]), "give a whole number")
        if out[key] < 0 or (key == "concurrency" and not 1 <= out[key] <= 64):
            raise BackupError("target %s: %s=%r is out of range" % (name, key, out[key]),
                              "concurrency is 1..64, keep_* are 0 or more")
    out["bwlimit_bps"] = parse_rate(out["bwlimit"])
    recipients = out["recipients"] or []
    if isinstance(recipients, str):
        recipients = [recipients]
    for r in recipients:
        if not isinstance(r, str) or not re.match(r"^(age1[0-9a-z]{58}|ssh-(ed25519|rsa) \S+.*)$", r.strip()):
            raise BackupError("target %s: recipient %r is not an age public key" % (name, r),
                              "give age public keys (age1..., from age-keygen -y KEYFILE); the identity stays with you")
    out["recipients"] = [r.strip() for r in recipients]
    required = {"s3": ("bucket",), "rclone": ("remote",), "filesystem": ("path",)}[kind]
    for key in required:
        if not out.get(key):
            raise BackupError("target %s (type %s) has no %s" % (name, kind, key), "set %s" % key)
    if kind == "filesystem" and not str(out["path"]).startswith("/"):
        raise BackupError("target %s: path %r is not absolute" % (name, out["path"]), "give the mount point, e.g. /mnt/nas/owb")
    if kind == "rclone" and ":" not in str(out["remote"]):
        raise BackupError("target %s: remote %r has no ':'" % (name, out["remote"]),
                          "give remote:path as rclone names it, e.g. b2:my-bucket/owb (rclone listremotes)")
    if kind == "s3":
        if out["addressing_style"] not in ("auto", "path", "virtual"):
            raise BackupError("target %s: addressing_style %r" % (name, out["addressing_style"]), "use auto, path or virtual")
        if out["object_lock_mode"] not in ("GOVERNANCE", "COMPLIANCE"):
            raise BackupError("target %s: object_lock_mode %r" % (name, out["object_lock_mode"]), "use GOVERNANCE or COMPLIANCE")
        out["prefix"] = str(out["prefix"] or "").strip("/")
    return out


def secrets_of(target):
    """The secret values of a target's options (as given: the raw dict or the normalized one)."""
    if not isinstance(target, dict):
        return []
    return [str(target[k]) for k in SECRET_OPTIONS if target.get(k)]


def scrub(text, secrets):
    """``text`` with every secret value replaced by ``********`` (a library or a tool may echo one in its error).
    Values shorter than 4 characters are left: no real credential is that short, and replacing every such
    letter would garble the message."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "********")
    return text


def redact(target):
    """A copy of the target options safe to print: every secret replaced by ``********``."""
    return {k: ("********" if k in SECRET_OPTIONS and v else v) for k, v in target.items()}


def open_backend(target):
    """The :class:`Backend` for one normalized target."""
    kind = target["type"]
    if kind == "filesystem":
        from ansible_collections.sage_open_webui.backup.plugins.module_utils._target_fs import FilesystemBackend
        return FilesystemBackend(target)
    if kind == "s3":
        from ansible_collections.sage_open_webui.backup.plugins.module_utils._target_s3 import S3Backend
        return S3Backend(target)
    from ansible_collections.sage_open_webui.backup.plugins.module_utils._target_rclone import RcloneBackend
    return RcloneBackend(target)


class RateLimit(object):
    """A token bucket shared by the upload threads of one target: ``take(n)`` sleeps so that the bytes taken
    over time stay at ``bps`` (bursts of up to one second's worth)."""

    def __init__(self, bps):
        self.bps = bps
        self.lock = threading.Lock()
        self.tokens = float(bps or 0)
        self.at = time.monotonic()

    def take(self, n):
        if not self.bps:
            return
        with self.lock:
            now = time.monotonic()
            self.tokens = min(float(self.bps), self.tokens + (now - self.at) * self.bps) - n
            self.at = now
            wait = -self.tokens / self.bps if self.tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)


def retry(call, what, attempts=5, first_delay=0.5, sleep=time.sleep):
    """Run ``call()``; retry a transient TargetError with exponential backoff (0.5, 1, 2, 4 s). The error raised
    after the last attempt is no longer transient, so a retry around this one (a backend that retries its own
    requests, called by a writer that retries) does not multiply the attempts."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except TargetError as e:
            if not e.transient or attempt == attempts:
                if e.transient:
                    raise TargetError("%s (after %d attempts)" % (e.problem, attempts), e.fix, **e.details)
                raise
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


class Backend(object):
    """Base class: name, location text for messages (no secrets), counters."""

    kind = "?"

    def __init__(self, target):
        self.target = target
        self.name = target["name"]
        self.limit = RateLimit(target.get("bwlimit_bps"))
        self.stats = {"bytes_sent": 0, "objects_sent": 0, "requests": 0}
        self.secrets = secrets_of(target)  # a backend adds the ones it finds (credentials from a profile, ...)
        self._stats_lock = threading.Lock()

    @property
    def location(self):
        raise NotImplementedError

    def count(self, sent=0, objects=0, requests=1):
        with self._stats_lock:
            self.stats["bytes_sent"] += sent
            self.stats["objects_sent"] += objects
            self.stats["requests"] += requests

    def error(self, problem, fix, **kw):
        """A TargetError whose message starts with the target's name and location."""
        return TargetError(scrub("target %s (%s): %s" % (self.name, self.location, problem), self.secrets),
                           scrub(fix, self.secrets) if fix else fix, **kw)

    def close(self):
        pass
