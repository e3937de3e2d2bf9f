# Copyright (c) sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for the get-pip.py that ansible-test downloads before ``--venv`` runs.

ansible-test (``_util/target/setup/requirements.py``) fetches
https://ci-files.testing.ansible.com/ansible-test/get-pip-<ver>.py unless
``~/.ansible/test/cache/get_pip_<ver>.py`` already exists; that host is not reachable here.
tests/sanity/run.sh copies this file to that path. It is run as
``python get_pip_<ver>.py [pip options] pip==<ver> [--no-setuptools] [--no-wheel]``:

1. ``ensurepip`` puts the pip bundled with the interpreter into the fresh venv;
2. ensurepip sets ``PIP_CONFIG_FILE=/dev/null``, which would hide this machine's pip configuration
   (index mirrors, CA bundle), so drop it again;
3. ``python -m pip install`` the requested packages (pip==<ver>) with the given options.
"""
from __future__ import annotations

import ensurepip
import os
import subprocess
import sys


def main() -> int:
    ensurepip.bootstrap(upgrade=True)
    os.environ.pop("PIP_CONFIG_FILE", None)
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    if not args:
        return 0
    return subprocess.call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    sys.exit(main())
