# Copyright (c) sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Print (NUL-separated) the files of the collection as it ships, for tests/sanity/run.sh.

The files git knows about (tracked and untracked, not ignored, still present), minus what
galaxy.yml's ``build_ignore`` keeps out of the built artifact (matched like ``ansible-galaxy
collection build`` does: fnmatch on the relative path of the file or of any parent directory).
Run from the collection root.
"""
from __future__ import annotations

import fnmatch
import os
import subprocess
import sys

import yaml


def main() -> int:
    with open("galaxy.yml", encoding="utf-8") as f:
        patterns = [p.rstrip("/") for p in (yaml.safe_load(f).get("build_ignore") or [])]
    out = subprocess.run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"],
                         check=True, capture_output=True).stdout.decode("utf-8", "surrogateescape")
    files = sorted({p for p in out.split("\0") if p and os.path.lexists(p)})
    for path in files:
        parts = path.split("/")
        candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatch(c, pat) for c in candidates for pat in patterns):
            continue
        sys.stdout.write(path + "\0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
