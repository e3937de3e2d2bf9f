# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run one engine call in its own process (so its wall time, CPU and written bytes are measured like any other
tool's). Usage: python3 engine_call.py KIND JSON  ->  prints one JSON object on stdout.

KIND: snapshot (_snapshot.run(job)), sqlite (_sqlite.backup(src, dest, method)), restore (_restore.run(job)),
upload (_offsite.upload_all(targets, snapshot_path, host, instance, cache_root) -> {"outcomes": [...]}).
The collection is put on sys.path the way tests/conftest.py does it (a symlink
ansible_collections/sage_open_webui/backup -> repository root).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def collection_path():
    parts = ROOT.split(os.sep)
    if len(parts) >= 3 and parts[-3] == "ansible_collections":
        return os.sep.join(parts[:-3])
    base = os.path.join(tempfile.gettempdir(), "owb-bench-collections-%d" % os.getuid())
    link_dir = os.path.join(base, "ansible_collections", "sage_open_webui")
    os.makedirs(link_dir, exist_ok=True)
    link = os.path.join(link_dir, "backup")
    if os.path.islink(link) and os.readlink(link) != ROOT:
        os.unlink(link)
    if not os.path.lexists(link):
        try:
            os.symlink(ROOT, link)
        except FileExistsError:
            pass
    return base


sys.path.insert(0, collection_path())


def main():
    kind, arg = sys.argv[1], json.loads(sys.argv[2])
    t0 = time.monotonic()
    try:
        if kind == "snapshot":
            from ansible_collections.sage_open_webui.backup.plugins.module_utils import _snapshot
            res = _snapshot.run(arg)
        elif kind == "sqlite":
            from ansible_collections.sage_open_webui.backup.plugins.module_utils import _sqlite
            res = _sqlite.backup(arg["src"], arg["dest"], method=arg["method"])
        elif kind == "restore":
            # RESTORE SLOT: plugins/module_utils/_restore.py (written by the restore engineer). When it is
            # missing, report that instead of a number so the table shows the gap.
            try:
                from ansible_collections.sage_open_webui.backup.plugins.module_utils import _restore
            except ImportError as e:
                print(json.dumps({"ok": False, "missing": True, "error": "plugins/module_utils/_restore.py: %s" % e}))
                return 0
            res = _restore.run(arg)
            res.pop("events", None)
        elif kind == "upload":
            from ansible_collections.sage_open_webui.backup.plugins.module_utils import _offsite
            res = {"outcomes": _offsite.upload_all(arg["targets"], arg["snapshot_path"], arg["host"], arg["instance"],
                                                   arg["cache_root"])}
        else:
            raise SystemExit("unknown kind %s" % kind)
    except Exception as e:  # report, the driver decides
        print(json.dumps({"ok": False, "error": "%s: %s" % (type(e).__name__, e),
                          "seconds": round(time.monotonic() - t0, 3)}))
        return 0
    res = json.loads(json.dumps(res, default=str))
    res.pop("files", None)
    print(json.dumps({"ok": True, "result": res, "seconds": round(time.monotonic() - t0, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
