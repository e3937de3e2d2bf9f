# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What "nothing changed" means for a directory tree, shared by the unit and integration tests."""

from __future__ import annotations

import hashlib
import os
import stat


def tree_state(root, content=False):
    """``{relative path: facts}`` of every entry below ``root`` (links not followed): mode, size, mtime_ns and
    link count; with ``content``, also ctime_ns and the sha256 of each regular file."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            facts = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_nlink)
            if content:
                digest = None
                if stat.S_ISREG(st.st_mode):
                    with open(p, "rb") as fh:
                        digest = hashlib.sha256(fh.read()).hexdigest()
                facts += (st.st_ctime_ns, digest)
            out[os.path.relpath(p, root)] = facts
    return out
