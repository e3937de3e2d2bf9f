# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Encryption at rest through the ``age`` tool (Debian's ``age`` package): no cryptography is written here.

Hosts encrypt to public recipients (``age1...``); only the operator's identity decrypts. Plain Python,
no Ansible imports. This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError

AGE = os.environ.get("OWB_AGE", "age")


def binary():
    path = shutil.which(AGE)
    if not path:
        raise BackupError("the age tool is not installed", "install it (apt-get install age; the install role does)")
    return path


def _run(cmd, data):
    """Run ``cmd`` with ``data`` on stdin: ``(returncode, stdout, stderr)``. A thread writes stdin in one call
    and stdout is read in one call (both without the GIL): ``subprocess.run(input=)`` feeds a pipe 4 KiB at a
    time from a Python loop, which halves the speed on a 16 MiB pack and holds the GIL the hashing needs."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # pylint: disable=ansible-bad-function

    def feed():
        try:
            proc.stdin.write(data)
        except BrokenPipeError:  # age stopped early: its exit code and stderr say why
            pass
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    err = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
    reader.start()
    out = proc.stdout.read()
    writer.join()
    reader.join()
    proc.stdout.close()
    proc.stderr.close()
    return proc.wait(), out, err[0] if err else b""


def encrypt(data, recipients):
    """``data`` (bytes) encrypted to every recipient (binary age format)."""
    cmd = [binary()]
    for r in recipients:
        cmd += ["-r", r]
    res = subprocess.CompletedProcess(cmd, *_run(cmd, data))
    if res.returncode != 0:
        raise BackupError("age could not encrypt: %s" % res.stderr.decode("utf-8", "replace").strip()[-300:],
                          "check the recipients (age public keys, age1...)")
    return res.stdout


def decrypt(data, identity_file):
    """Decrypt ``data`` with the identity file (``age-keygen`` output). A wrong identity is a clear error."""
    if not identity_file:
        raise BackupError("this snapshot is encrypted and no age identity was given",
                          "give the identity file that matches the target's recipients (restore_age_identity)")
    if not os.path.isfile(identity_file):
        raise BackupError("age identity file %s does not exist" % identity_file,
                          "give the path of the identity file (age-keygen output) on the host that restores")
    cmd = [binary(), "-d", "-i", identity_file]
    res = subprocess.CompletedProcess(cmd, *_run(cmd, data))
    if res.returncode != 0:
        err = res.stderr.decode("utf-8", "replace").strip()
        if "no identity matched" in err:
            raise BackupError("the age identity %s does not match this snapshot's recipients" % identity_file,
                              "use the identity whose public key (age-keygen -y FILE) is among the target's recipients")
        raise BackupError("age could not decrypt: %s" % err[-300:],
                          "the object is damaged or tampered with, or the identity is wrong; use another snapshot or identity")
    return res.stdout
