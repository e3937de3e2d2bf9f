"""Reliability: kill -9 at random points of backup, retention and restore; a full disk.

Each trial kills a child process running the engine, either at a named failpoint (``OWB_FAILPOINTS``, see
``_common.failpoint``; for retention and restore, which have none, an equivalent injected into the child) or
after a random delay drawn from the duration of an uninterrupted run. After every trial:

* every published snapshot passes ``snapshot_info``'s check (sizes, sha256 of every file and of the key, no
  extra or missing file, no link) and the newest one ``_manifest.verify(deep=True)``;
* the app is running (the safety net unpauses / starts it) and still writing;
* the next, uninterrupted run succeeds and leaves no staging / trash directory behind.

Trial count: ``OWB_RELIABILITY_TRIALS`` per scenario (default 10, for CI); ``tests/reliability/run`` runs 50+.
``OWB_RELIABILITY_SEED`` replays a run (the seed is printed on failure and in the summary line).
"""

from __future__ import annotations

import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from engine import collections_root, max_writer_seq, snapshots, wait_for
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest, _retention
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import snapshot_id_for
from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository

pytestmark = [pytest.mark.docker]

TRIALS = int(os.environ.get("OWB_RELIABILITY_TRIALS") or "10")
SEED = int(os.environ.get("OWB_RELIABILITY_SEED") or int(time.time()))
HOST = "t"
FAILPOINTS = ("frozen", "thawed", "copying", "before_publish", "manifest_written", "published")
SUMMARY = os.environ.get("OWB_RELIABILITY_SUMMARY")  # a JSON-lines file the runner collects

# The child: one engine call, optionally with an injected kill point (retention and restore have no failpoints).
CHILD = r"""
import json, os, signal, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
kind, job, point = sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

try:
    if kind == "snapshot":
        from ansible_collections.sage_open_webui.backup.plugins.module_utils import _snapshot
        res = _snapshot.run(job)
    elif kind == "prune":
        from ansible_collections.sage_open_webui.backup.plugins.module_utils import _repository
        from ansible_collections.sage_open_webui.backup.plugins.module_utils import _retention
        if point.startswith("after_delete:") or point.startswith("mid_rmtree:"):
            # kill after the n-th deletion, or in the middle of removing the n-th snapshot's tree
            what, n = point.split(":")
            n = int(n)
            real_delete, real_rmtree = _repository.Repository.delete, _repository.shutil.rmtree
            state = {"deleted": 0}
            def delete(self, sid):
                state["deleted"] += 1
                real_delete(self, sid)
                if what == "after_delete" and state["deleted"] == n:
                    die()
            def rmtree(path, *a, **k):
                if what == "mid_rmtree" and state["deleted"] == n:
                    files = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
                    for f in files[: len(files) // 2]:
                        os.unlink(f)
                    die()
                return real_rmtree(path, *a, **k)
            _repository.Repository.delete = delete
            _repository.shutil.rmtree = rmtree
        res = _retention.prune(job)
    elif kind == "restore":
        from ansible_collections.sage_open_webui.backup.plugins.module_utils import _restore, _swap
        if point in ("after_stop", "mid_swap", "after_swap"):
            real_rename, real_swap = os.rename, _swap.swap
            if point == "after_stop":
                from ansible_collections.sage_open_webui.backup.plugins.module_utils import _docker
                real = _docker.DockerClient.stop
                def stop(self, *a, **k):
                    real(self, *a, **k)
                    die()
                _docker.DockerClient.stop = stop
            elif point == "mid_swap":
                state = {"n": 0}
                def rename(a, b, *r, **k):
                    real_rename(a, b, *r, **k)
                    if "-rollback-" in os.path.basename(os.path.dirname(str(b))):
                        state["n"] += 1
                        if state["n"] == 2:
                            die()
                _swap.os.rename = rename
            else:
                def swap(*a, **k):
                    out = real_swap(*a, **k)
                    die()
                _swap.swap = swap
        res = _restore.run(job)
    else:
        raise SystemExit("unknown kind %s" % kind)
    print(json.dumps({"ok": True, "result": res}, default=str))
except BackupError as e:
    print(json.dumps({"ok": False, "msg": str(e)}))
    sys.exit(2)
"""


class Child(object):
    """The engine in its own process, killable with SIGKILL like a crash (its safety net is a separate process)."""

    def __init__(self, kind, job, failpoints=None, point=""):
        env = dict(os.environ)
        env.pop("OWB_FAILPOINTS", None)
        if failpoints:
            env["OWB_FAILPOINTS"] = failpoints
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, collections_root(), kind, json.dumps(job), point],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def kill_after(self, delay):
        """SIGKILL after ``delay`` seconds unless it finished. Returns True when it was killed."""
        try:
            self.proc.wait(timeout=delay)
            return False
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            return True

    def result(self, timeout=600):
        out, err = self.proc.communicate(timeout=timeout)
        self.seconds = time.monotonic() - self.t0
        parsed = None
        if out.strip():
            try:
                parsed = json.loads(out.strip().splitlines()[-1])
            except ValueError:
                parsed = None
        return self.proc.returncode, parsed, err


def run_child(kind, job, timeout=600, **kw):
    c = Child(kind, job, **kw)
    rc, out, err = c.result(timeout)
    return rc, out, err, c.seconds


def check_repository(repo_root, instance, cache=None, deep_newest=True):
    """Every published snapshot checks out (snapshot_info's check), the newest also with verify(deep=True).
    Returns the published ids. ``cache`` (inode -> sha256) makes hard-linked files cost one hash."""
    from ansible_collections.sage_open_webui.backup.plugins.module_utils import _catalog
    repo = Repository(repo_root, HOST, instance)
    refs = repo.list()
    cache = {} if cache is None else cache
    bad = {}
    for ref in refs:
        res = _catalog.check(ref, cache)
        if not res["ok"] or not ref.verified:
            bad[ref.id] = res["problems"] or ["not verified"]
    assert not bad, "published snapshots fail verification: %s" % bad
    if refs and deep_newest:
        assert _manifest.verify(refs[-1].path, _manifest.load(refs[-1].path), deep=True) == []
    # a published name is always a complete snapshot: nothing else but staging/trash/lock in the instance dir
    names = os.listdir(repo.path) if os.path.isdir(repo.path) else []
    stray = [n for n in names if not (n in [r.id for r in refs] or n == ".lock" or n.startswith(".tmp-") or n.startswith(".del-"))]
    assert not stray, "half-published entries in %s: %s" % (repo.path, stray)
    return [r.id for r in refs]


def leftovers(repo_root, instance):
    p = os.path.join(repo_root, HOST, instance)
    return sorted(n for n in os.listdir(p) if n.startswith(".tmp-") or n.startswith(".del-")) if os.path.isdir(p) else []


# A loaded Docker engine sometimes answers late or fails a freeze; the engine then fails cleanly (BackupError) and
# must leave everything as it was. Such runs are counted (docker_error) and checked like the killed ones.
DOCKER_FLAKES = ("Docker engine error", "cannot pause container", "unable to freeze")


def docker_flake(rc, out):
    return rc == 2 and bool(out) and not out.get("ok") and any(f in out.get("msg", "") for f in DOCKER_FLAKES)


def next_run(job, ctx):
    """The uninterrupted run after a trial; one retry when the Docker engine itself failed."""
    for attempt in range(2):
        rc, out, err, _secs = run_child("snapshot", job)
        if not (docker_flake(rc, out) and attempt == 0):
            break
        time.sleep(2)
    assert rc == 0 and out["ok"], "%s: next run failed: %s %s %s" % (ctx, rc, out, err[-2000:])
    return out


def app_running(app, timeout=60):
    return wait_for(lambda: app.status() == "running", timeout=timeout, interval=0.2)


def record(scenario, rows):
    line = {"scenario": scenario, "seed": SEED, "trials": len(rows),
            "killed": sum(1 for r in rows if r.get("killed")),
            "completed_before_kill": sum(1 for r in rows if not r.get("killed")),
            "by_point": {}}
    for r in rows:
        line["by_point"][r["how"]] = line["by_point"].get(r["how"], 0) + 1
    for k in ("app_stopped_after_kill", "enospc", "docker_error"):
        if any(k in r for r in rows):
            line[k] = sum(1 for r in rows if r.get(k))
    sys.stderr.write("\n[reliability] %s\n" % json.dumps(line, sort_keys=True))
    if SUMMARY:
        with open(SUMMARY, "a") as f:
            f.write(json.dumps(line, sort_keys=True) + "\n")


# ----------------------------------------------------------------------------------------------- backup


def test_backup_kill9_at_random_points(sample_app, tmp_path):
    rng = random.Random(SEED)
    app = sample_app
    repo = str(tmp_path / "repo")
    base = {"container": app.name, "repository": repo, "host": HOST, "freeze_timeout": 3.0, "stop_timeout": 5,
            "health_timeout": 120}
    app.wait_seq(10)
    rc, out, err, baseline = run_child("snapshot", dict(base, mode="pause"))
    assert rc == 0 and out["ok"], (rc, out, err[-2000:])
    cache = {}
    rows = []
    for i in range(TRIALS):
        mode = rng.choices(["pause", "hot", "cold"], weights=[55, 30, 15])[0]
        job = dict(base, mode=mode)
        before = check_repository(repo, app.name, cache)
        ctx = "seed %d trial %d mode %s" % (SEED, i, mode)
        if rng.random() < 0.5:
            point = rng.choice(FAILPOINTS if mode != "hot" else [p for p in FAILPOINTS if p != "frozen"] + ["frozen"])
            how = "failpoint:%s" % point
            child = Child("snapshot", job, failpoints="%s=kill" % point)
            rc, out, err = child.result()
            killed = rc == -9
            assert killed or docker_flake(rc, out), "%s %s: the failpoint did not kill the run: %s %s %s" % (
                ctx, how, rc, out, err[-1500:])
        else:
            delay = rng.uniform(0.0, baseline * (1.6 if mode == "cold" else 1.1))
            how = "delay"
            child = Child("snapshot", job)
            killed = child.kill_after(delay)
            rc, out, err = child.result()
            assert killed or rc == 0 or docker_flake(rc, out), "%s: uninterrupted run failed: %s %s %s" % (
                ctx, rc, out, err[-1500:])
        ctx += " " + how
        flake = not killed and docker_flake(rc, out)
        rows.append({"how": how.split(":")[0] + (":" + mode), "killed": killed, "docker_error": flake})
        # the safety net (or the run's own resume) brings the app back
        assert app_running(app, timeout=90), "%s: app is %s after the kill" % (ctx, app.status())
        after = check_repository(repo, app.name, cache)
        new = sorted(set(after) - set(before))
        assert set(before) <= set(after), "%s: a kill removed snapshots %s" % (ctx, sorted(set(before) - set(after)))
        assert len(new) <= 1, "%s: one run published %s" % (ctx, new)
        if not killed:
            assert len(new) == (0 if flake else 1), (ctx, new)
        # the app writes again, and the next run succeeds and cleans up
        app.wait_seq(app.max_seq(), timeout=60)
        out = next_run(dict(base, mode="pause"), ctx)
        assert out["result"]["verification"]["status"] == "verified"
        assert leftovers(repo, app.name) == [], ctx
        assert app.status() == "running", ctx
    check_repository(repo, app.name)
    record("backup", rows)


# ----------------------------------------------------------------------------------------------- retention


def _fabricate(repo_root, instance, template, when):
    """A published snapshot made of hard links to ``template`` with its own id and manifest (as a chain of
    real snapshots would be: unchanged files are links into the previous one)."""
    inst = os.path.join(repo_root, HOST, instance)
    sid = snapshot_id_for(when)
    dst = os.path.join(inst, sid)
    if os.path.exists(dst):
        return None
    tmp = os.path.join(inst, ".fab-" + sid)
    subprocess.run(["cp", "-al", template, tmp], check=True)
    m = _manifest.load(template)
    m["snapshot_id"] = sid
    m["created"] = when.isoformat()
    os.unlink(os.path.join(tmp, _manifest.MANIFEST))
    _manifest.write(os.path.join(tmp, _manifest.MANIFEST), m)
    os.rename(tmp, dst)
    return sid


def _top_up(repo_root, instance, template, rng, now, want=9):
    refs = Repository(repo_root, HOST, instance).list()
    n = len(refs)
    tries = 0
    while n < want and tries < 100:
        tries += 1
        when = now - datetime.timedelta(hours=rng.randint(1, 24 * 60), minutes=rng.randint(0, 59))
        if _fabricate(repo_root, instance, template, when):
            n += 1


def test_retention_kill9_at_random_points(sample_app, tmp_path):
    rng = random.Random(SEED + 1)
    app = sample_app
    repo = str(tmp_path / "repo")
    app.wait_seq(10)
    rc, out, err, _secs = run_child("snapshot", {"container": app.name, "repository": repo, "host": HOST})
    assert rc == 0 and out["ok"], (rc, out, err[-2000:])
    template = str(tmp_path / "template")
    subprocess.run(["cp", "-al", out["result"]["path"], template], check=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    _top_up(repo, app.name, template, rng, now)
    params = {"repository": repo, "host": HOST, "instance": app.name, "keep_last": 1, "keep_daily": 0,
              "keep_weekly": 0, "keep_monthly": 0}
    rc, out, err, baseline = run_child("prune", params)
    assert rc == 0 and out["ok"], (rc, out, err[-2000:])
    cache = {}
    rows = []
    for i in range(TRIALS):
        _top_up(repo, app.name, template, rng, now)
        policy = {"keep_last": rng.randint(0, 3), "keep_daily": rng.randint(0, 3), "keep_weekly": rng.randint(0, 2),
                  "keep_monthly": rng.randint(0, 2)}
        if not any(policy.values()):
            policy["keep_last"] = 1
        params = dict({"repository": repo, "host": HOST, "instance": app.name}, **policy)
        repo_obj = Repository(repo, HOST, app.name)
        before = check_repository(repo, app.name, cache, deep_newest=False)
        want = _retention.plan(repo_obj.list(), **policy)
        newest_verified = repo_obj.latest_verified().id
        ctx = "seed %d trial %d policy %s" % (SEED, i, policy)
        r = rng.random()
        n_del = len(want["delete"])
        if r < 0.5 and n_del:
            point = "%s:%d" % (rng.choice(["after_delete", "mid_rmtree"]), rng.randint(1, n_del))
            how = point.split(":")[0]
            child = Child("prune", params, point=point)
            rc, out, err = child.result()
            killed = rc == -9
            assert killed, "%s %s: not killed: %s %s %s" % (ctx, point, rc, out, err[-1500:])
        else:
            how = "delay"
            child = Child("prune", params)
            killed = child.kill_after(rng.uniform(0.0, baseline * 1.1))
            rc, out, err = child.result()
            assert killed or rc == 0, "%s: uninterrupted prune failed: %s %s %s" % (ctx, rc, out, err[-1500:])
        ctx += " " + how
        rows.append({"how": how, "killed": killed})
        after = check_repository(repo, app.name, cache, deep_newest=False)
        assert set(after) <= set(before)
        lost = set(want["keep"]) - set(after)
        assert not lost, "%s: snapshots the policy keeps were deleted: %s" % (ctx, sorted(lost))
        assert newest_verified in after, ctx
        assert set(before) - set(after) <= set(want["delete"]), ctx
        # the next prune finishes the job exactly and removes the trash of the killed one
        rc, out, err, _secs = run_child("prune", params)
        assert rc == 0 and out["ok"], "%s: next prune failed: %s %s %s" % (ctx, rc, out, err[-2000:])
        final = check_repository(repo, app.name, cache, deep_newest=False)
        assert set(final) == set(want["keep"]), (ctx, final, want)
        assert leftovers(repo, app.name) == [], ctx
        assert app.status() == "running"
    # and a real backup on top of the pruned repository still works (links into a surviving snapshot)
    rc, out, err, _secs = run_child("snapshot", {"container": app.name, "repository": repo, "host": HOST})
    assert rc == 0 and out["ok"], (rc, out, err[-2000:])
    check_repository(repo, app.name)
    record("retention", rows)


# ----------------------------------------------------------------------------------------------- restore


def _restore_job(app, repo, snapshot="latest"):
    return {"repository": repo, "host": HOST, "instance": app.name, "container": app.name, "snapshot": snapshot,
            "alembic_check": "skip", "stop_timeout": 10, "health_timeout": 120}


def _rows(db):
    return max_writer_seq(db)[1]


def test_restore_kill9_at_random_points(sample_app, tmp_path):
    """kill -9 of a restore at random points; the next restore puts the snapshot in place and the app runs.

    A kill while the app is down is covered by the restore's safety net: the app must run after every kill.
    The next run waits for the next UTC second (see test_restore_retried_in_the_same_second).
    """
    rng = random.Random(SEED + 2)
    app = sample_app
    repo = str(tmp_path / "repo")
    app.wait_seq(20)
    ids = []
    for _round in range(2):
        rc, out, err, _secs = run_child("snapshot", {"container": app.name, "repository": repo, "host": HOST})
        assert rc == 0 and out["ok"], (rc, out, err[-2000:])
        ids.append(out["result"]["snapshot_id"])
        app.wait_seq(app.max_seq() + 5)
    rows_of = {sid: _rows(os.path.join(repo, HOST, app.name, sid, "data", "webui.db")) for sid in ids}
    rc, out, err, baseline = run_child("restore", _restore_job(app, repo, ids[0]))
    assert rc == 0 and out["ok"], (rc, out, err[-2000:])
    assert app_running(app)
    cache = {}
    rows = []
    for i in range(TRIALS):
        sid = rng.choice(ids)
        job = _restore_job(app, repo, sid)
        ctx = "seed %d trial %d snapshot %s" % (SEED, i, sid)
        if rng.random() < 0.3:
            point = rng.choice(["after_stop", "mid_swap", "after_swap"])
            how = point
            child = Child("restore", job, point=point)
            rc, out, err = child.result()
            killed = rc == -9
            assert killed, "%s %s: not killed: %s %s %s" % (ctx, point, rc, out, err[-1500:])
        else:
            how = "delay"
            child = Child("restore", job)
            killed = child.kill_after(rng.uniform(0.0, baseline * 1.1))
            rc, out, err = child.result()
            assert killed or rc == 0, "%s: uninterrupted restore failed: %s %s %s" % (ctx, rc, out, err[-1500:])
        ctx += " " + how
        stopped = not app_running(app, timeout=60)
        rows.append({"how": how, "killed": killed, "app_stopped_after_kill": stopped})
        assert not stopped, "%s: the app is %s after the kill" % (ctx, app.status())
        # the repository is never touched by a restore, killed or not
        check_repository(repo, app.name, cache, deep_newest=False)
        assert snapshots(os.path.join(repo, HOST, app.name)) == sorted(ids), ctx
        # the next restore succeeds, starts the app and puts the snapshot's rows back
        _next_second()
        rc, out, err, _secs = run_child("restore", job)
        assert rc == 0 and out["ok"], "%s: next restore failed: %s %s %s" % (ctx, rc, out, err[-2000:])
        assert app_running(app), ctx
        assert app.health() == "healthy", ctx
        missing = rows_of[sid] - _rows(app.db_path)
        assert not missing, "%s: rows of the snapshot missing after the restore: %s" % (ctx, sorted(missing)[:10])
        app.wait_seq(app.max_seq(), timeout=60)
    check_repository(repo, app.name)
    record("restore", rows)


@pytest.mark.parametrize("point", ["after_stop", "mid_swap", "after_swap"])
def test_restore_killed_while_app_stopped_app_comes_back(sample_app, tmp_path, point):
    """Deterministic kill points inside the window where the app is down: the restore's safety net starts it,
    on a complete database (old or restored), and the next restore succeeds."""
    app = sample_app
    repo = str(tmp_path / "repo")
    app.wait_seq(10)
    rc, out, err, _secs = run_child("snapshot", {"container": app.name, "repository": repo, "host": HOST})
    assert rc == 0 and out["ok"], (rc, out, err[-2000:])
    rc, out, err, _secs = run_child("restore", _restore_job(app, repo), point=point)
    assert rc == -9, (rc, out, err[-1500:])
    assert app_running(app, timeout=60), "app left %s by a restore killed at %s" % (app.status(), point)
    app.wait_healthy(120)
    app.wait_seq(app.max_seq(), timeout=60)
    check_repository(repo, app.name)
    _next_second()
    rc, out, err, _secs = run_child("restore", _restore_job(app, repo))
    assert rc == 0 and out["ok"], (rc, out, err[-2000:])
    assert app_running(app) and app.health() == "healthy"


def _next_second():
    """Restores a second apart (their work directories are named by the UTC second, with a suffix on collision)."""
    t = time.time()
    time.sleep(1.05 - (t - int(t)))


def test_restore_retried_in_the_same_second(sample_app, tmp_path):
    """Work directories left by restores killed in the same second(s) never collide with a new restore's
    (regression: a bare FileExistsError on owb-<name>-staging-<second>, fixed by unique tags in _swap)."""
    app = sample_app
    repo = str(tmp_path / "repo")
    app.wait_seq(5)
    rc, out, err, _secs = run_child("snapshot", {"container": app.name, "repository": repo, "host": HOST})
    assert rc == 0 and out["ok"], (rc, out, err[-2000:])
    # what a restore killed while staging leaves behind, for each of the next seconds
    from ansible_collections.sage_open_webui.backup.plugins.module_utils import _swap
    base, prefix = _swap.work_base(app.data_dir)
    now = datetime.datetime.now(datetime.timezone.utc)
    made = []
    for s in range(0, 20):
        p = os.path.join(base, prefix + "staging-" + (now + datetime.timedelta(seconds=s)).strftime("%Y%m%dT%H%M%SZ"))
        os.makedirs(p, exist_ok=True)
        made.append(p)
    rc, out, err, _secs = run_child("restore", _restore_job(app, repo))
    assert app_running(app)
    assert rc == 0 and out["ok"], "rc %s %s\n%s" % (rc, out, err[-1500:])
    assert app.health() == "healthy" or app.wait_healthy(120) is not None


# ----------------------------------------------------------------------------------------------- disk full


def test_disk_full_at_random_points(sample_app, tmp_path):
    """A repository on a small tmpfs filled to a random level: each run either publishes a verified snapshot or
    fails with the 'no space left' message, publishing nothing; older snapshots stay intact; after space is
    freed the next run succeeds."""
    rng = random.Random(SEED + 3)
    app = sample_app
    app.wait_seq(10)
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=120m", "tmpfs", str(mnt)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, "cannot mount a tmpfs: %s" % r.stderr
    repo = str(mnt / "repo")
    job = {"container": app.name, "repository": repo, "host": HOST, "mode": "hot"}
    rows = []
    try:
        rc, out, err, _secs = run_child("snapshot", job)
        assert rc == 0 and out["ok"], (rc, out, err[-2000:])
        full_bytes = out["result"]["totals"]["bytes"]
        for i in range(max(3, TRIALS // 2)):
            before = check_repository(repo, app.name)
            free = shutil.disk_usage(str(mnt)).free
            # leave between 0 and one full snapshot's bytes free: a second snapshot needs about the two databases
            leave = int(rng.uniform(0, full_bytes * 1.2))
            ballast = mnt / "ballast"
            with open(ballast, "wb") as f:
                f.write(b"\0" * max(0, free - leave))
            ctx = "seed %d trial %d free %d (snapshot %d bytes)" % (SEED, i, shutil.disk_usage(str(mnt)).free, full_bytes)
            rc, out, err, _secs = run_child("snapshot", job)
            enospc = rc != 0
            rows.append({"how": "fill", "killed": False, "enospc": enospc})
            sys.stderr.write("[disk_full] %s -> %s\n" % (ctx, (out or {}).get("msg", "published")))
            assert rc in (0, 2), "%s: crashed instead of a clear message: rc %s\n%s" % (ctx, rc, err[-3000:])
            if enospc:
                assert "no space left" in out["msg"].lower(), "%s: %s" % (ctx, out["msg"])
                assert "nothing was published" in out["msg"], "%s: %s" % (ctx, out["msg"])
            after = check_repository(repo, app.name)
            assert set(before) <= set(after)
            assert len(after) == len(before) + (0 if enospc else 1), ctx
            assert leftovers(repo, app.name) == [], "%s: staging left on a full disk" % ctx
            assert app.status() == "running", ctx
            os.unlink(ballast)
            rc, out, err, _secs = run_child("snapshot", job)
            assert rc == 0 and out["ok"], "%s: run after freeing space failed: %s %s" % (ctx, out, err[-2000:])
            # keep the tmpfs from filling with snapshots
            for sid in check_repository(repo, app.name)[:-1]:
                shutil.rmtree(os.path.join(repo, HOST, app.name, sid))
        record("disk_full", rows)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
