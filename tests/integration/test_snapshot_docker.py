"""Snapshots of a real container on a real Docker engine, with the sample app writing all the time.

Each test asserts an effect that would be absent if the feature broke: rows committed before the snapshot
are in it, the container runs afterwards, the freeze is short, a killed run leaves the app running and
nothing half-published, the next run succeeds.
"""

import os
import sqlite3
import subprocess
import time

import pytest

from engine import ansible_playbook, max_writer_seq, snapshot_proc, snapshots, wait_for
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _job, _manifest, _safety, _snapshot
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.tests.tree import tree_state

pytestmark = [pytest.mark.docker]


def _check_snapshot(path, committed_before):
    db = os.path.join(path, "data", "webui.db")
    conn = sqlite3.connect("file:%s?mode=ro&immutable=1" % db, uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    top, seqs = max_writer_seq(db)
    missing = set(range(1, committed_before + 1)) - seqs
    assert not missing, "rows committed before the snapshot began are missing: %s" % sorted(missing)[:10]
    manifest = _manifest.load(path)
    assert _manifest.verify(path, manifest, deep=True) == []
    return top, manifest


@pytest.mark.parametrize("mode", ["hot", "pause", "cold"])
def test_snapshot_modes_consistent_and_app_keeps_running(sample_app, tmp_path, mode):
    app = sample_app
    app.wait_seq(10)
    repo = str(tmp_path / "repo")
    before = app.max_seq()
    res = _snapshot.run({"container": app.name, "repository": repo, "host": "t", "mode": mode})
    assert res["mode"] == mode
    top, manifest = _check_snapshot(res["path"], before)
    assert top >= before
    # the secret key came from the container layer, not the volume
    assert res["secret_key"] == manifest["secret_key"]
    assert res["secret_key"]["captured"] and res["secret_key"]["source"] == "file"
    key_path = os.path.join(res["path"], "secret", "webui_secret_key")
    assert oct(os.stat(key_path).st_mode & 0o777) == "0o600"
    assert oct(os.stat(os.path.dirname(key_path)).st_mode & 0o777) == "0o700"
    assert open(key_path).read().strip() == app.exec(["cat", "/app/backend/.webui_secret_key"]).strip()
    assert not os.path.exists(os.path.join(app.data_dir, ".webui_secret_key"))
    # the app runs and keeps writing after the snapshot
    assert app.status() == "running"
    app.wait_seq(app.max_seq())
    t = res["timing_ms"]
    if mode == "pause":
        assert 0 < t["freeze"] < 5000, t    # functional bound; the 0.5 s goal is measured by bench/run
        assert t["downtime"] == 0
    if mode == "cold":
        assert t["downtime"] - t["app_stop"] - t["app_start"] <= 2000, t
        assert app.health() == "healthy"
    assert res["uploads_check"]["missing"] == []
    assert res["databases"]["vector_db/chroma.sqlite3"]["integrity"] == "ok"


def test_bind_mount_and_second_snapshot_links(sample_app_bind, tmp_path):
    app = sample_app_bind
    app.wait_seq(5)
    repo = str(tmp_path / "repo")
    first = _snapshot.run({"container": app.name, "repository": repo, "host": "t"})
    second = _snapshot.run({"container": app.name, "repository": repo, "host": "t"})
    assert first["mode"] == second["mode"] == "pause"
    assert second["previous"] == first["snapshot_id"]
    dbs = second["databases"]["webui.db"]["bytes"] + second["databases"]["vector_db/chroma.sqlite3"]["bytes"]
    # uploads written between the two snapshots are new too; they are small (a few hundred bytes each)
    assert second["totals"]["new_bytes"] <= dbs * 1.01 + 64 * 1024
    assert second["totals"]["linked_files"] >= first["totals"]["files"] - 20
    # an unchanged fixture upload is the same inode in both snapshots
    up = sorted(f for f in os.listdir(os.path.join(first["path"], "data", "uploads")) if not f.startswith("writer"))[0]
    a = os.stat(os.path.join(first["path"], "data", "uploads", up))
    b = os.stat(os.path.join(second["path"], "data", "uploads", up))
    assert a.st_ino == b.st_ino


def test_delete_journal_database(sample_app_factory, tmp_path):
    app = sample_app_factory(env={"DATABASE_ENABLE_SQLITE_WAL": "false"})
    app.wait_seq(10)
    assert app.writer()["journal_mode"] == "delete"
    repo = str(tmp_path / "repo")
    for mode in ("hot", "pause", "cold"):
        before = app.max_seq()
        res = _snapshot.run({"container": app.name, "repository": repo, "host": "t", "mode": mode})
        _check_snapshot(res["path"], before)
        assert res["databases"]["webui.db"]["journal_mode"] == "delete"
        # rollback journal: copied while frozen or stopped, never pinned across the thaw
        assert res["databases"]["webui.db"]["method"] == ("backup_api" if mode == "hot" else "file_copy_frozen")
        app.wait_healthy()
    assert app.writer()["errors"] == 0


@pytest.mark.parametrize("mode,point", [("pause", "frozen"), ("cold", "frozen"), ("pause", "thawed"),
                                        ("pause", "before_publish"), ("pause", "manifest_written")])
def test_kill9_leaves_app_running_and_nothing_half_published(sample_app, tmp_path, mode, point):
    app = sample_app
    repo = str(tmp_path / "repo")
    job = {"container": app.name, "repository": repo, "host": "t", "mode": mode}
    rc, out, err = snapshot_proc(job, failpoints="%s=kill" % point)
    assert rc == -9, (rc, out, err[-2000:])
    # the safety net (or our own resume before the kill point) brings the app back
    assert wait_for(lambda: app.status() == "running", timeout=15), app.status()
    app.wait_seq(app.max_seq(), timeout=30)
    inst = os.path.join(repo, "t", app.name)
    assert snapshots(inst) == [], "a killed run published %s" % snapshots(inst)
    # the next run succeeds, cleans the leftovers and publishes a verified snapshot
    rc, out, err = snapshot_proc(job)
    assert rc == 0 and out["ok"], (rc, out, err[-2000:])
    assert [n for n in os.listdir(inst) if n.startswith(".tmp-")] == []
    assert len(snapshots(inst)) == 1
    assert app.status() == "running"


def test_safety_net_unpauses_when_freeze_outlives_deadline(sample_app, tmp_path):
    """A run stuck inside the freeze (sleep) is resumed by the watchdog at its deadline, not left frozen; the
    snapshot it was taking is refused (the app ran during the copy), nothing is published."""
    app = sample_app
    repo = str(tmp_path / "repo")
    job = {"container": app.name, "repository": repo, "host": "t", "mode": "pause", "freeze_timeout": 1.0}
    t0 = time.monotonic()
    rc, out, err = snapshot_proc(job, failpoints="frozen=sleep:4")
    assert time.monotonic() - t0 >= 4
    assert rc == 2 and not out["ok"], (rc, out, err[-1500:])
    assert "outlived freeze_timeout" in out["msg"] and "nothing was published" in out["msg"]
    assert app.status() == "running"
    app.wait_seq(app.max_seq())
    assert snapshots(os.path.join(repo, "t", app.name)) == []


def test_check_mode_changes_nothing(sample_app, tmp_path):
    """Check mode (of the whole job: snapshot preview and retention preview) changes neither the repository
    (no lock file, leftovers not cleaned, nothing pruned) nor the data directory, and never stops the app."""
    app = sample_app
    repo = str(tmp_path / "repo")
    job = {"container": app.name, "repository": repo, "host": "t", "keep_last": 1, "keep_daily": 0,
           "keep_weekly": 0, "keep_monthly": 0}
    _job.backup(job)
    inst = os.path.join(repo, "t", app.name)
    os.remove(os.path.join(inst, ".lock"))
    os.makedirs(os.path.join(inst, ".tmp-leftover-of-a-killed-run"))

    def data():  # the sample app writes webui.db and uploads/ all the time; nothing else changes
        return {k: v for k, v in tree_state(app.data_dir).items() if not k.startswith(("webui.db", "uploads"))}

    repo_before, data_before = tree_state(repo), data()
    for mode in ("pause", "cold"):
        res = _job.backup(dict(job, mode=mode), check_mode=True)
        assert res["snapshot"]["snapshot_id"] is None and ("stop" if mode == "cold" else "pause") in res["snapshot"]["would"]
        assert res["prune"]["deleted"] == []
        assert tree_state(repo) == repo_before
        assert data() == data_before
    assert app.status() == "running"
    # started once: never stopped by the check run
    assert app.reload()["RestartCount"] == 0


def test_job_leaves_a_container_stopped_on_purpose_stopped(sample_app, tmp_path):
    """B1: the job backs up a container the admin stopped as it is, and does not start it afterwards."""
    app = sample_app
    app.container.stop(timeout=10)
    assert app.status() == "exited"
    res = _job.backup({"container": app.name, "repository": str(tmp_path / "repo"), "host": "t", "mode": "cold"})
    assert res["snapshot"]["mode"] == "offline"
    assert any("backed up as is, not started" in w for w in res["warnings"])
    time.sleep(2)
    assert app.status() == "exited"


def test_cold_kill9_starts_the_app_and_the_dependents_it_stopped(sample_app, sample_app_factory, tmp_path):
    """B4: a cold backup killed while everything is stopped: the safety net starts the app and each dependent
    the run stopped, not the app alone; a dependent that was already stopped stays stopped."""
    app = sample_app
    dep = sample_app_factory(mount=None)
    idle = sample_app_factory(mount=None)
    idle.container.stop(timeout=10)
    job = {"container": app.name, "repository": str(tmp_path / "repo"), "host": "t", "mode": "cold",
           "dependents": [dep.name, idle.name]}
    rc, out, err = snapshot_proc(job, failpoints="frozen=kill")
    assert rc == -9, (rc, out, err[-2000:])
    assert wait_for(lambda: app.status() == "running" and dep.status() == "running", timeout=20), \
        (app.status(), dep.status())
    assert idle.status() == "exited"


def _slow_health(seconds):
    """A healthcheck that turns healthy only ``seconds`` after the container's main process started (an
    Open WebUI loading its embedding models), then asks the app itself like the image's own check."""
    code = ("import os,sys,time,json,urllib.request;"
            "t=float(open('/proc/1/stat').read().rsplit(')',1)[1].split()[19])/os.sysconf('SC_CLK_TCK');"
            "up=float(open('/proc/uptime').read().split()[0]);"
            "sys.exit(1) if up-t<%d else None;"
            "r=urllib.request.urlopen('http://127.0.0.1:%%s/health' %% os.environ.get('PORT','8080'),timeout=2);"
            "sys.exit(0 if json.load(r).get('status') is True else 1)" % seconds)
    return {"test": ["CMD", "/usr/bin/python3", "-c", code], "interval": 1000000000, "timeout": 2000000000,
            "retries": 1000, "start_period": 0}


def test_cold_app_slow_to_become_healthy_is_backed_up(sample_app_factory, tmp_path):
    """B2: the net guards the stopped window only. An app that needs longer than the net's deadline
    (freeze_timeout + stop_timeout + 30 s) to become healthy again must not make the net fire and the run
    fail with "outlived freeze_timeout" although the copy was complete."""
    app = sample_app_factory(healthcheck=_slow_health(40), timeout=90)
    before = app.max_seq()
    res = _snapshot.run({"container": app.name, "repository": str(tmp_path / "repo"), "host": "t", "mode": "cold",
                         "freeze_timeout": 1, "stop_timeout": 1})
    assert res["mode"] == "cold" and res["timing_ms"]["downtime"] >= 40000
    _check_snapshot(res["path"], before)
    assert app.health() == "healthy"
    records = _safety.read_log(_safety.log_path_for(app.reload()["Id"]))
    assert [r for r in records if r["event"].startswith("fir")] == []


def test_playbook_backup_twice_and_check(sample_app, tmp_path, docker_client):
    app = sample_app
    repo = str(tmp_path / "repo")
    ev = {"backup_container": app.name, "backup_repository": repo, "backup_keep_last": 1, "backup_keep_daily": 0,
          "backup_keep_weekly": 0, "backup_keep_monthly": 0}
    p = ansible_playbook("playbooks/backup.yml", ev, check=True)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "check mode: would snapshot" in p.stdout
    assert not os.path.exists(os.path.join(repo))
    for dummy in range(2):
        p = ansible_playbook("playbooks/backup.yml", ev)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
        assert "verification: verified" in p.stdout
    inst = os.path.join(repo, os.uname().nodename.split(".")[0], app.name)
    # keep_last=1: the first snapshot was pruned after the second was verified
    assert len(snapshots(inst)) == 1
    assert app.status() == "running"
    # the very same container (the always block starts/unpauses, it never recreates)
    assert docker_client.containers.get(app.name).id == app.id


def test_bad_input_missing_container(docker_client, tmp_path):
    with pytest.raises(BackupError) as e:
        _snapshot.run({"container": "no-such-owui", "repository": str(tmp_path / "r")})
    assert "no-such-owui" in str(e.value) and "not found" in str(e.value)
    assert not os.path.exists(tmp_path / "r")


def test_bad_input_volume_without_openwebui_data(docker_client, tmp_path):
    vol = docker_client.volumes.create("owbt-empty-%d" % os.getpid())
    c = docker_client.containers.run("local/owb-debian-systemd:bookworm", ["sleep", "300"], detach=True,
                                     volumes={vol.name: {"bind": "/app/backend/data", "mode": "rw"}},
                                     name="owbt-notowui-%d" % os.getpid(), network_mode="host")
    try:
        with pytest.raises(BackupError) as e:
            _snapshot.run({"container": c.name, "repository": str(tmp_path / "r")})
        assert "does not look like an Open WebUI data directory" in str(e.value)
        c.reload()
        assert c.status == "running"
    finally:
        c.remove(force=True)
        vol.remove(force=True)


def test_bad_input_destination_inside_source(sample_app):
    with pytest.raises(BackupError) as e:
        _snapshot.run({"container": sample_app.name, "repository": os.path.join(sample_app.data_dir, "backups")})
    assert "inside the data directory" in str(e.value)
    assert not os.path.exists(os.path.join(sample_app.data_dir, "backups"))


def test_bad_input_destination_full(sample_app, tmp_path):
    """A 50 MB tmpfs repository: clear message, nothing published, the app running."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=50m", "tmpfs", str(mnt)], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.fail("cannot mount a tmpfs for the disk-full test: %s" % r.stderr)
    try:
        # fill most of it so the snapshot (about 25 MB) cannot fit
        with open(mnt / "ballast", "wb") as f:
            f.write(b"\0" * (40 << 20))
        with pytest.raises(BackupError) as e:
            _snapshot.run({"container": sample_app.name, "repository": str(mnt / "repo"), "host": "t"})
        assert "no space left" in str(e.value)
        inst = mnt / "repo" / "t" / sample_app.name
        assert snapshots(str(inst)) == []
        assert [n for n in os.listdir(inst) if n.startswith(".tmp-")] == []
        assert sample_app.status() == "running"
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
