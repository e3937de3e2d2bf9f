"""Bad input: every wrong setting or damaged input gets a clear message and changes nothing.

One test per row of docs/TROUBLESHOOTING.md. Each asserts a stable substring of the message the user sees
(through ansible-playbook / an ansible module call for a few, through the engine for the rest) and that
nothing was lost or changed: the source data directory hashes the same, no snapshot was published, the
existing snapshots are byte-for-byte the same, the app runs (or stays as it was).

``OWB_BAD_INPUT_MESSAGES=<file>`` writes the full messages as JSON (to refresh the table in the docs).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading

import pytest

from engine import ansible_playbook, collections_root, snapshots
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest, _restore, _snapshot
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _catalog, _retention

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "openwebui-0.12.4", "data.tar.gz")
HOST = "t"
INST = "owui"
UPLOAD = "uploads/8e75bde9-e20f-4abb-880d-7d3c1c50873b_it-faq.txt"
MESSAGES = {}


def _record(name, msg):
    MESSAGES[name] = msg
    out = os.environ.get("OWB_BAD_INPUT_MESSAGES")
    if out:
        with open(out, "w") as f:
            json.dump(MESSAGES, f, indent=1, sort_keys=True)


# ------------------------------------------------------------------------------------------------ helpers


def tree_hash(root, skip=(".lock",)):
    """{relative path: (kind, mode, sha256 or link target)} of everything under root (None when absent).
    Directories count by mode only; the repository's .lock (rewritten by every run) is skipped."""
    if not os.path.lexists(root):
        return None
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if name in skip:
                continue
            st = os.lstat(p)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("dir", st.st_mode)
            else:
                h = hashlib.sha256()
                try:
                    with open(p, "rb") as f:
                        for chunk in iter(lambda: f.read(1 << 20), b""):
                            h.update(chunk)
                    digest = h.hexdigest()
                except PermissionError:
                    digest = "unreadable"
                out[rel] = ("file", st.st_mode, st.st_size, digest)
    return out


def published(repo_root, instance=INST):
    return [r.id for r in Repository(repo_root, HOST, instance).list()] if os.path.isdir(repo_root) else []


def published_files(repo_root):
    """Files of the repository that matter: everything but the lock and empty directories the run may create."""
    h = tree_hash(repo_root)
    return None if h is None else {k: v for k, v in h.items() if v[0] != "dir"}


class Guard(object):
    """Snapshot of the state before a bad run; ``check()`` asserts nothing changed."""

    def __init__(self, data=None, repo=None, app=None, also=()):
        self.data, self.repo, self.app, self.also = data, repo, app, also
        self.data_h = tree_hash(data) if data else None
        self.repo_h = published_files(repo) if repo else None
        self.also_h = [tree_hash(p) for p in also]
        self.app_state = app.status() if app else None

    def check(self):
        if self.data:
            assert tree_hash(self.data) == self.data_h, "the source data directory changed"
        if self.repo:
            after = published_files(self.repo) or {}  # empty directories created by a run are no change
            assert after == (self.repo_h or {}), "the repository changed: %s" % sorted(
                set((after or {}).items()) ^ set((self.repo_h or {}).items()))[:5]
        for p, h in zip(self.also, self.also_h):
            assert tree_hash(p) == h, "%s changed" % p
        if self.app:
            assert self.app.status() == self.app_state, "the app was %s and is now %s" % (self.app_state, self.app.status())


def bad_backup(name, job, expect, data=None, repo=None, app=None, also=()):
    """Run the engine on bad input: a BackupError containing every ``expect`` substring, nothing changed."""
    g = Guard(data=data or job.get("data_dir"), repo=repo or job.get("repository"), app=app, also=also)
    with pytest.raises(BackupError) as e:
        _snapshot.run(job)
    msg = str(e.value)
    _record(name, msg)
    for s in ([expect] if isinstance(expect, str) else expect):
        assert s in msg, msg
    assert ". Fix: " in msg, "no fix in: %s" % msg
    g.check()
    return msg


def ansible_module(module, args, check=False, timeout=300):
    """One module call as `ansible localhost -m` runs it. Returns (rc, result dict)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_root(), ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    exe = os.path.join(os.path.dirname(sys.executable), "ansible")
    cmd = [exe, "localhost", "-i", "localhost,", "-c", "local", "-m", "sage_open_webui.backup.%s" % module,
           "-a", json.dumps(args), "-e", json.dumps({"ansible_python_interpreter": sys.executable})]
    if check:
        cmd.append("--check")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT, check=False)
    try:
        data = json.loads(p.stdout)
        res = data["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        raise AssertionError("cannot parse ansible output (rc %s):\n%s\n%s" % (p.returncode, p.stdout[-3000:], p.stderr[-2000:]))
    return p.returncode, res


def _failed_msg(p):
    """The fatal message of a failed ansible-playbook run (the line a user reads)."""
    out, keep = [], False
    for line in p.stdout.splitlines():
        if line.startswith("fatal:") or "FAILED!" in line:
            keep = True
        elif keep and not line.strip():
            keep = False
        if keep:
            out.append(line)
    return "\n".join(out) or p.stdout[-3000:]


def _cp(src, dst):
    subprocess.run(["cp", "-a", src, dst], check=True)
    return dst


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """The real Open WebUI 0.12.4 data directory and one verified snapshot of it (never modified)."""
    base = tmp_path_factory.mktemp("bad-input")
    data = base / "srv" / "data"
    data.mkdir(parents=True)
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(str(data), filter="fully_trusted") if hasattr(tarfile, "data_filter") else tar.extractall(str(data))
    key = base / "srv" / ".webui_secret_key"
    key.write_text("bad-input-secret\n")
    repo = str(base / "repo")
    snap = _snapshot.run({"data_dir": str(data), "repository": repo, "host": HOST, "instance": INST})
    assert snap["secret_key"]["captured"]
    return {"data": str(data), "repo": repo, "snap": snap}


@pytest.fixture
def data(pristine, tmp_path):
    """A private copy of the data directory (its parent holds the secret key file too)."""
    (tmp_path / "srv").mkdir()
    _cp(pristine["data"], str(tmp_path / "srv" / "data"))
    _cp(os.path.join(os.path.dirname(pristine["data"]), ".webui_secret_key"), str(tmp_path / "srv" / ".webui_secret_key"))
    return str(tmp_path / "srv" / "data")


@pytest.fixture
def repo(pristine, tmp_path):
    """A private copy of the repository holding one verified snapshot."""
    return _cp(pristine["repo"], str(tmp_path / "repo"))


def _snap_path(repo):
    return os.path.join(repo, HOST, INST, published(repo)[-1])


def _conftest():
    for m in list(sys.modules.values()):
        if hasattr(m, "_SampleAppFactory") and hasattr(m, "SampleApp"):
            return m
    raise RuntimeError("tests/integration/conftest.py not loaded")


@pytest.fixture(scope="module")
def quiet_app(docker_client, tmp_path_factory):
    """A sample app that does not write during the tests (its data directory can be hashed), on a bind mount."""
    factory = _conftest()._SampleAppFactory(docker_client, tmp_path_factory)
    try:
        app = factory(mount="bind", env={"WRITE_INTERVAL": "100000", "UPLOAD_EVERY": "100000"})
        yield app
    finally:
        factory.cleanup()


@pytest.fixture
def app_factory(docker_client, tmp_path_factory):
    factory = _conftest()._SampleAppFactory(docker_client, tmp_path_factory)
    yield factory
    factory.cleanup()


# ================================================================================ settings (engine)


def test_mode_typo(data, tmp_path):
    bad_backup("mode typo", {"data_dir": data, "repository": str(tmp_path / "r"), "mode": "paws"},
               "mode 'paws' is not one of hot, pause, cold")
    assert not os.path.exists(tmp_path / "r")


def test_mode_pause_without_container(data, tmp_path):
    bad_backup("mode pause without container", {"data_dir": data, "repository": str(tmp_path / "r"), "mode": "pause"},
               ["mode 'pause' needs a container to pause", "use mode 'hot'"])
    assert not os.path.exists(tmp_path / "r")


def test_data_dir_missing(tmp_path):
    bad_backup("data directory missing", {"data_dir": str(tmp_path / "nope"), "repository": str(tmp_path / "r")},
               "data directory %s does not exist" % (tmp_path / "nope"))
    assert not os.path.exists(tmp_path / "r")


def test_data_dir_relative(tmp_path):
    bad_backup("data directory relative", {"data_dir": "srv/data", "repository": str(tmp_path / "r")},
               "data_dir 'srv/data' is not an absolute path")


def test_data_dir_not_openwebui(tmp_path):
    empty = tmp_path / "empty"
    (empty / "uploads").mkdir(parents=True)
    bad_backup("wrong directory (no webui.db)", {"data_dir": str(empty), "repository": str(tmp_path / "r")},
               ["does not look like an Open WebUI data directory", "uploads/ exists but webui.db does not"])


def test_repository_inside_data_dir(data):
    bad_backup("repository inside the data directory", {"data_dir": data, "repository": os.path.join(data, "backups")},
               "is inside the data directory")
    assert not os.path.exists(os.path.join(data, "backups"))


def test_data_dir_inside_repository(data, tmp_path):
    bad_backup("data directory inside the repository", {"data_dir": data, "repository": str(tmp_path)},
               "is inside the repository")


def test_repository_is_a_file(data, tmp_path):
    f = tmp_path / "repo-file"
    f.write_text("x")
    bad_backup("repository path is a file", {"data_dir": data, "repository": str(f / "r")},
               ["cannot create repository", "Not a directory"], also=[str(f)])


def test_repository_read_only(data, repo, tmp_path):
    """An unwritable repository (root is not stopped by modes: a read-only mount is)."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    r = subprocess.run(["mount", "--bind", repo, str(mnt)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mnt)], check=True)
        bad_backup("repository not writable", {"data_dir": data, "repository": str(mnt), "host": HOST, "instance": INST},
                   ["repository %s is not writable" % mnt], repo=repo)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
    assert len(published(repo)) == 1


def test_lock_held_by_another_run(data, repo):
    """A second run while one holds the repository lock: refused at once with the holder named."""
    r = Repository(repo, HOST, INST)
    held, release = threading.Event(), threading.Event()

    def holder():
        with r.lock():
            held.set()
            release.wait(60)

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert held.wait(10)
        msg = bad_backup("lock held by another run", {"data_dir": data, "repository": repo, "host": HOST, "instance": INST},
                         ["another backup or restore of %s/%s is running" % (HOST, INST), "pid %d" % os.getpid()], repo=repo)
        assert "lock is released automatically" in msg
    finally:
        release.set()
        t.join()


def test_bad_instance_name(data, tmp_path):
    bad_backup("instance name with ../", {"data_dir": data, "repository": str(tmp_path / "r"), "instance": "../evil"},
               "instance '../evil' is not a valid name")
    assert not os.path.exists(tmp_path / "evil")


def test_unknown_option(data, tmp_path):
    bad_backup("unknown option", {"data_dir": data, "repository": str(tmp_path / "r"), "keep_daily": 7},
               "unknown snapshot job option: keep_daily")


def test_secret_key_file_missing(data, tmp_path):
    bad_backup("secret_key_file missing", {"data_dir": data, "repository": str(tmp_path / "r"), "host": HOST,
                                           "secret_key_file": str(tmp_path / "nokey")},
               "secret_key_file %s does not exist" % (tmp_path / "nokey"))
    assert published(str(tmp_path / "r")) == []


def test_negative_freeze_timeout(data, tmp_path):
    bad_backup("negative freeze_timeout", {"data_dir": data, "repository": str(tmp_path / "r"), "freeze_timeout": -1},
               "freeze_timeout must be a positive number, got -1")


def test_verify_typo(data, tmp_path):
    g = Guard(data=data)
    try:
        _snapshot.run({"data_dir": data, "repository": str(tmp_path / "r"), "host": HOST, "verify": "deeep"})
        msg = None
    except BackupError as e:
        msg = str(e)
    _record("verify typo (engine)", msg)
    g.check()
    assert msg is not None and "verify" in msg, "verify='deeep' was accepted; published %s" % published(str(tmp_path / "r"))


# ================================================================================ damaged source data


def test_truncated_database(data, tmp_path):
    db = os.path.join(data, "webui.db")
    os.truncate(db, os.path.getsize(db) // 2)
    bad_backup("truncated webui.db", {"data_dir": data, "repository": str(tmp_path / "r"), "host": HOST},
               ["webui.db is corrupt (database disk image is malformed)", "restore the database from an earlier snapshot"])
    assert published(str(tmp_path / "r")) == []


def test_garbage_header(data, tmp_path):
    with open(os.path.join(data, "webui.db"), "r+b") as f:
        f.write(b"GARBAGE-GARBAGE!")
    bad_backup("webui.db with a garbage header", {"data_dir": data, "repository": str(tmp_path / "r")},
               "webui.db is not a SQLite database (bad header)")


def test_empty_database(data, tmp_path):
    os.truncate(os.path.join(data, "webui.db"), 0)
    bad_backup("empty webui.db", {"data_dir": data, "repository": str(tmp_path / "r")}, "webui.db is empty (0 bytes)")


def test_corrupt_page_in_the_middle(data, repo):
    db = os.path.join(data, "webui.db")
    pages = os.path.getsize(db) // 4096
    with open(db, "r+b") as f:
        f.seek(4096 * (pages // 2))
        f.write(bytes(range(256)) * 16)
    bad_backup("corrupt page in the middle of webui.db", {"data_dir": data, "repository": repo, "host": HOST, "instance": INST},
               ["failed PRAGMA integrity_check", "nothing was published"], repo=repo)
    assert len(published(repo)) == 1


def test_database_is_a_directory(data, tmp_path):
    db = os.path.join(data, "webui.db")
    os.unlink(db)
    os.mkdir(db)
    bad_backup("webui.db is a directory", {"data_dir": data, "repository": str(tmp_path / "r")}, "webui.db is not a regular file")


RUN_AS_NOBODY = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _snapshot
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
try:
    _snapshot.run(json.loads(sys.argv[2]))
    print(json.dumps({"ok": True}))
except BackupError as e:
    print(json.dumps({"ok": False, "msg": str(e)}))
"""


def _as_nobody(job, lib):
    """The engine as uid 65534 with the system python3 (Debian's, like a host): root reads everything, nobody
    does not, so chmod 000 means something. ``lib``: the engine's copy nobody can import (see nobody_tree)."""
    py = shutil.which("python3", path="/usr/bin:/bin")
    if not py:
        pytest.fail("no /usr/bin/python3 to run the engine as a non-root user")
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", py, "-c", RUN_AS_NOBODY,
                        lib, json.dumps(job)], capture_output=True, text=True, timeout=300, check=False)
    return p


def _engine_copy(base):
    """The collection's module_utils copied below ``base`` (0755), world-readable, as a host installs the engine:
    the clone itself may sit below a directory nobody cannot traverse (a ``mktemp -d`` directory is 0700)."""
    rel = os.path.join("ansible_collections", "sage_open_webui", "backup", "plugins", "module_utils")
    lib = os.path.join(base, "lib")
    shutil.copytree(os.path.join(collections_root(), rel), os.path.join(lib, rel),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run(["chmod", "-R", "u=rwX,go=rX", lib], check=True)
    return lib


class Precondition(Exception):
    """The bad input was not set up as intended: a real failure even inside an xfail test (raises=AssertionError)."""


def _nobody_can(*args):
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + list(args),
                          capture_output=True, check=False).returncode == 0


@pytest.fixture
def nobody_tree(pristine):
    """A data directory and a repository a non-root user can reach (pytest's tmp dirs are 0700 root)."""
    import tempfile
    base = tempfile.mkdtemp(prefix="owbt-nobody-", dir="/tmp")
    os.chmod(base, 0o755)
    data = _cp(pristine["data"], os.path.join(base, "data"))
    repo = os.path.join(base, "r")
    os.mkdir(repo)
    subprocess.run(["chown", "-R", "65534:65534", data, repo], check=True)
    lib = _engine_copy(base)
    if not _nobody_can("test", "-r", os.path.join(data, "webui.db")) or not _nobody_can("test", "-w", repo) \
            or not _nobody_can("test", "-r", os.path.join(lib, "ansible_collections", "sage_open_webui", "backup",
                                                          "plugins", "module_utils", "_snapshot.py")):
        raise Precondition("uid 65534 cannot reach %s" % base)
    try:
        yield data, repo, lib
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_unreadable_upload(nobody_tree):
    data, repo, lib = nobody_tree
    os.chmod(os.path.join(data, UPLOAD), 0)
    if _nobody_can("cat", os.path.join(data, UPLOAD)):
        raise Precondition("chmod 000 did not make the file unreadable")
    g = Guard(data=data, repo=repo)
    p = _as_nobody({"data_dir": data, "repository": repo, "host": HOST, "instance": INST}, lib)
    g.check()
    assert published(repo) == []
    if not p.stdout.strip():
        _record("unreadable upload (chmod 000, non-root run)", p.stderr.strip().splitlines()[-1])
    assert p.stdout.strip(), "engine crashed without a message:\n%s" % p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    _record("unreadable upload (chmod 000, non-root run)", out.get("msg"))
    assert not out["ok"] and UPLOAD in out["msg"] and "cannot read" in out["msg"], out


# ================================================================================ containers


def test_container_volume_at_wrong_path(app_factory, docker_client, tmp_path):
    """The volume is mounted at /data instead of /app/backend/data: the data lives in the container layer."""
    vol = "owbt-wrongpath-%s" % os.urandom(3).hex()
    docker_client.volumes.create(vol)
    app_factory.volumes.append(vol)
    app = app_factory(mount=None, volumes={vol: {"bind": "/data", "mode": "rw"}}, wait=False)
    msg = bad_backup("volume mounted at the wrong path", {"container": app.name, "repository": str(tmp_path / "r")},
                     ["has no mount at /app/backend/data", "lost on recreate"], app=app)
    assert not os.path.exists(tmp_path / "r")
    assert app.status() == "running", msg


def test_postgres_database_url(app_factory, tmp_path):
    app = app_factory(mount="volume", env={"DATABASE_URL": "postgresql://owui:s3cr3t-pw@db:5432/owui",
                                           "WRITE_INTERVAL": "100000"})
    msg = bad_backup("PostgreSQL DATABASE_URL", {"container": app.name, "repository": str(tmp_path / "r")},
                     ["uses an external database (postgresql)", "pg_dump"], data=app.data_dir, app=app)
    assert "s3cr3t-pw" not in msg, "the database password leaked into the message"
    assert not os.path.exists(tmp_path / "r")


def test_paused_container_at_start(quiet_app, tmp_path):
    app = quiet_app
    app.pause()
    try:
        bad_backup("container paused at start", {"container": app.name, "repository": str(tmp_path / "r"), "mode": "pause"},
                   ["container %s is paused" % app.name, "docker unpause %s" % app.name], data=app.data_dir, app=app)
        assert app.status() == "paused"  # left as the operator had it
    finally:
        app.unpause()
    assert app.status() == "running"


def test_wrong_container_through_playbook(quiet_app, tmp_path):
    """What a user sees: ansible-playbook fails in preflight naming the container; nothing is created."""
    repo = str(tmp_path / "r")
    g = Guard(data=quiet_app.data_dir, app=quiet_app)
    p = ansible_playbook("playbooks/backup.yml", {"backup_container": "owbt-no-such-container", "backup_repository": repo})
    assert p.returncode != 0
    msg = _failed_msg(p)
    _record("wrong container (playbook)", msg)
    assert "owbt-no-such-container" in msg and "not found" in msg, msg
    assert not os.path.exists(repo)
    g.check()


# ================================================================================ retention words


def _prune(repo, **policy):
    params = dict({"repository": repo, "host": HOST, "instance": INST, "keep_last": 0, "keep_daily": 0,
                   "keep_weekly": 0, "keep_monthly": 0}, **policy)
    g = Guard(repo=repo)
    with pytest.raises(BackupError) as e:
        _retention.prune(params)
    g.check()
    return str(e.value)


def test_retention_word_through_module(repo):
    """keep_daily: seven, as a user writes it in a task: Ansible's type check answers."""
    g = Guard(repo=repo)
    rc, res = ansible_module("snapshot_prune", {"repository": repo, "host": HOST, "instance": INST, "keep_daily": "seven"})
    g.check()
    _record("keep_daily: seven (module)", res.get("msg"))
    assert rc != 0 and res.get("failed")
    assert "keep_daily" in res["msg"] and "unable to convert to int" in res["msg"], res["msg"]


def test_retention_word_through_role(data, tmp_path):
    """backup_keep_daily: seven in the role: refused by the role's argument spec before any snapshot."""
    repo = str(tmp_path / "r")
    p = ansible_playbook("playbooks/backup.yml", {"backup_data_dir": data, "backup_repository": repo,
                                                  "backup_keep_daily": "seven"})
    msg = _failed_msg(p)
    _record("backup_keep_daily: seven (role)", msg)
    assert p.returncode != 0
    assert "backup_keep_daily" in msg and "int" in msg, msg
    assert published(repo) == []


def test_retention_word_engine(repo):
    msg = _prune(repo, keep_daily="seven")
    _record("keep_daily: 'seven' (engine)", msg)
    assert "retention option keep_daily must be a whole number, got 'seven'" in msg


def test_retention_negative(repo):
    msg = _prune(repo, keep_last=3, keep_daily=-1)
    _record("keep_daily: -1", msg)
    assert "retention option keep_daily must be 0 or more, got -1" in msg


def test_retention_all_zeros(repo):
    msg = _prune(repo)
    _record("all keep_* 0", msg)
    assert "retention policy keeps nothing" in msg


def test_retention_unknown_key(repo):
    g = Guard(repo=repo)
    rc, res = ansible_module("snapshot_prune", {"repository": repo, "host": HOST, "instance": INST, "keep_dialy": 7})
    g.check()
    _record("unknown retention key keep_dialy (module)", res.get("msg"))
    assert rc != 0 and "Unsupported parameters" in res["msg"] and "keep_dialy" in res["msg"], res["msg"]


def test_retention_negative_through_role_publishes_nothing(data, tmp_path):
    repo = str(tmp_path / "r")
    p = ansible_playbook("playbooks/backup.yml", {"backup_data_dir": data, "backup_repository": repo,
                                                  "backup_keep_daily": -1})
    msg = _failed_msg(p)
    _record("backup_keep_daily: -1 (role)", msg)
    assert p.returncode != 0 and "keep_daily" in msg, msg
    inst = os.path.join(repo, os.uname().nodename.split(".")[0], "open-webui")
    assert snapshots(inst) == [], "a snapshot was published before the bad policy was refused: %s" % snapshots(inst)


# ================================================================================ tampered snapshots


def _tamper_check(repo, data, name, expect_info, expect_restore, snapshot=None):
    """snapshot_info(verify) flags the snapshot; a restore refuses before touching the target."""
    res = _catalog.info({"repository": repo, "host": HOST, "instance": INST, "verify": True})
    sid = published(repo)[-1]
    assert res["failed_checks"] == [sid], res
    problems = res["snapshots"][-1]["check"]["problems"]
    assert any(expect_info in p for p in problems), problems
    g = Guard(data=data, repo=repo, also=[os.path.dirname(data)])
    with pytest.raises(BackupError) as e:
        _restore.run({"repository": repo, "host": HOST, "instance": INST, "data_dir": data, "snapshot": snapshot or "latest"})
    msg = str(e.value)
    _record(name, msg)
    for s in expect_restore:
        assert s in msg, msg
    g.check()


def test_tampered_changed_byte(repo, data):
    p = os.path.join(_snap_path(repo), "data", UPLOAD)
    with open(p, "r+b") as f:
        b = f.read(1)
        f.seek(0)
        f.write(bytes([b[0] ^ 1]))
    _tamper_check(repo, data, "snapshot: one byte changed in an upload", "sha256 differs: %s" % UPLOAD,
                  ["failed verification", UPLOAD, "nothing was changed"])


def test_tampered_missing_file(repo, data):
    os.unlink(os.path.join(_snap_path(repo), "data", UPLOAD))
    _tamper_check(repo, data, "snapshot: a file missing", "missing: %s" % UPLOAD,
                  ["failed verification", "missing: %s" % UPLOAD, "nothing was changed"])


def test_tampered_extra_file(repo, data):
    with open(os.path.join(_snap_path(repo), "data", "uploads", "planted.sh"), "w") as f:
        f.write("echo owned\n")
    _tamper_check(repo, data, "snapshot: an extra file", "not in manifest: uploads/planted.sh",
                  ["failed verification", "not in manifest: uploads/planted.sh"])


def test_tampered_manifest_path_dotdot(repo, data):
    snap = _snap_path(repo)
    m = _manifest.load(snap)
    m["files"][0]["path"] = "../../../../etc/owb-escape"
    os.unlink(os.path.join(snap, _manifest.MANIFEST))
    _manifest.write(os.path.join(snap, _manifest.MANIFEST), m)
    _tamper_check(repo, data, "snapshot: manifest path with ../", "leaves the snapshot (..)",
                  ["snapshot %s" % published(repo)[-1], "leaves the snapshot (..)", "tampered"], snapshot=published(repo)[-1])
    assert not os.path.exists("/etc/owb-escape")


def test_tampered_manifest_latest_names_the_damage(repo, data):
    snap = _snap_path(repo)
    m = _manifest.load(snap)
    m["files"][0]["path"] = "../../../../etc/owb-escape"
    os.unlink(os.path.join(snap, _manifest.MANIFEST))
    _manifest.write(os.path.join(snap, _manifest.MANIFEST), m)
    g = Guard(data=data, repo=repo)
    with pytest.raises(BackupError) as e:
        _restore.run({"repository": repo, "host": HOST, "instance": INST, "data_dir": data})
    _record("snapshot: manifest path with ../ (restore latest)", str(e.value))
    g.check()
    assert "leaves the snapshot (..)" in str(e.value) and "damaged" in str(e.value), str(e.value)


def test_tampered_symlink_escaping(repo, data, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("outside the snapshot\n")
    p = os.path.join(_snap_path(repo), "data", UPLOAD)
    os.unlink(p)
    os.symlink(str(outside), p)
    _tamper_check(repo, data, "snapshot: a file replaced by a symlink out of it", "not a regular file: %s" % UPLOAD,
                  ["failed verification", UPLOAD])
    assert outside.read_text() == "outside the snapshot\n"


def test_tampered_secret_key(repo, data):
    key = os.path.join(_snap_path(repo), "secret", "webui_secret_key")
    os.chmod(key, 0o600)
    with open(key, "w") as f:
        f.write("another-key")
    _tamper_check(repo, data, "snapshot: secret key changed", "sha256 differs: secret/webui_secret_key",
                  ["secret key does not match the sha256 in its manifest"])
