"""Run the collection's engine the way a host does: in its own process (so it can be killed -9),
and the playbooks through ansible-playbook. Shared by the integration tests."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def collections_root():
    # tests/conftest.py created <tmp>/owb-pytest-collections-<uid>/ansible_collections/sage_open_webui/backup
    for p in sys.path:
        if os.path.isdir(os.path.join(p, "ansible_collections", "sage_open_webui", "backup", "plugins")):
            return p
    raise RuntimeError("collection not on sys.path (tests/conftest.py should have put it there)")


RUNNER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _snapshot
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
try:
    res = _snapshot.run(json.loads(sys.argv[2]), check_mode=sys.argv[3] == "1")
    print(json.dumps({"ok": True, "result": res}))
except BackupError as e:
    print(json.dumps({"ok": False, "msg": str(e)}))
    sys.exit(2)
"""


def snapshot_proc(job, check_mode=False, failpoints=None, python=None, timeout=300):
    """Run one snapshot in a child process. Returns (returncode, parsed JSON or None, stderr)."""
    env = dict(os.environ)
    env.pop("OWB_FAILPOINTS", None)
    if failpoints:
        env["OWB_FAILPOINTS"] = failpoints
    p = subprocess.run([python or sys.executable, "-c", RUNNER, collections_root(), json.dumps(job), "1" if check_mode else "0"],
                       capture_output=True, text=True, env=env, timeout=timeout, check=False)
    out = None
    if p.stdout.strip():
        try:
            out = json.loads(p.stdout.strip().splitlines()[-1])
        except ValueError:
            out = None
    return p.returncode, out, p.stderr


def ansible_playbook(playbook, extra_vars=None, check=False, timeout=600):
    """Run a playbook of this collection on localhost with the controller's Python. Returns CompletedProcess."""
    venv_bin = os.path.dirname(sys.executable)
    exe = os.path.join(venv_bin, "ansible-playbook")
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = collections_root()
    env["ANSIBLE_CONFIG"] = os.path.join(ROOT, "ansible.cfg")
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.default"
    env["ANSIBLE_NOCOLOR"] = "1"
    ev = {"ansible_python_interpreter": sys.executable, "owb_hosts": "localhost"}
    ev.update(extra_vars or {})
    cmd = [exe, "-i", "localhost,", "-c", "local", playbook if os.path.isabs(playbook) else os.path.join(ROOT, playbook),
           "-e", json.dumps(ev)]
    if check:
        cmd.append("--check")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT, check=False)


def snapshots(repo_instance_dir):
    if not os.path.isdir(repo_instance_dir):
        return []
    return sorted(n for n in os.listdir(repo_instance_dir) if not n.startswith("."))


def max_writer_seq(db_path):
    """Highest writer sequence committed in a webui.db written by the sample app (chat ids writer-<seq>)."""
    conn = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=10)
    try:
        ids = [r[0] for r in conn.execute("SELECT id FROM chat WHERE id LIKE 'writer-%'")]
    finally:
        conn.close()
    seqs = [int(i.split("-", 1)[1]) for i in ids if i.split("-", 1)[1].isdigit()]
    return max(seqs) if seqs else 0, set(seqs)


def wait_for(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(interval)
    return predicate()


def kill_tree(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
