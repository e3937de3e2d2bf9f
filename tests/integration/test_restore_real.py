"""Restore acceptance on the REAL Open WebUI 0.12.4 image and the golden fixture.

One real container (A) runs on a volume seeded with tests/fixtures/openwebui-0.12.4; the fixture users sign in
(their JWTs are kept), a pause-mode snapshot is taken with the engine, then:

- in-place round trip: live data damaged through the API, restored with _restore.run; every table's row count and
  every upload's hash match expected.json; users sign in, see their chats, download their files; old JWTs work;
- disaster recovery: a new volume + a new container created from the image; the pre-backup JWT still works there
  (the key came back), and the playbook path is exercised with ansible-playbook;
- one flipped byte in one upload: refused before the app is stopped (same StartedAt, still healthy);
- a restore whose app does not come up (webui.db corrupted AFTER verification by a pre-start command): rolled back,
  healthy again on the previous data;
- a database newer than the image (alembic revision unknown to it): refused naming both revisions;
- WEBUI_SECRET_KEY in the env differing from the snapshot's key: refused with guidance;
- the restore drill boots the image on the restored copy.
Timings (RTO next to `cp -a` and the app's start) go to .cache/testbed/restore-timings.json.
"""
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest

import owui_client as oc

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _drill, _restore, _snapshot, _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
# row counts that fail loudly on a damaged table (tested there)
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.test_restore import _counts

pytestmark = [pytest.mark.docker, pytest.mark.openwebui]

TIMINGS_FILE = os.path.join(oc.REPO_ROOT, ".cache", "testbed", "restore-timings.json")
_T = {}
IMAGE = oc.DEFAULT_IMAGE


def _record(key, value):
    _T[key] = round(value, 3) if isinstance(value, float) else value
    print("[restore timing] %s = %s" % (key, _T[key]))
    os.makedirs(os.path.dirname(TIMINGS_FILE), exist_ok=True)
    with open(TIMINGS_FILE, "w", encoding="utf-8") as fh:
        json.dump(_T, fh, indent=2, sort_keys=True)


@pytest.fixture(scope="module")
def dk():
    docker = pytest.importorskip("docker")
    try:
        c = docker.from_env(timeout=180)
        c.ping()
    except Exception as e:  # noqa: BLE001
        pytest.skip("no Docker engine: %s" % e)
    return c


@pytest.fixture(scope="module")
def expected():
    return oc.load_expected()


@pytest.fixture(scope="module")
def world(dk, expected, tmp_path_factory):
    t0 = time.monotonic()
    a = oc.start_openwebui(dk, seed_fixture=True, secret_key=oc.FIXTURE_SECRET_KEY)
    _record("app_first_start_to_healthy_s", a.timings["start_to_healthy_s"])
    repo = str(tmp_path_factory.mktemp("restore-repo"))
    tokens = {}
    for u in expected["users"]:
        tokens[u["email"]] = a.client().signin(u["email"], u["password"])
    snap = _snapshot.run({"container": a.container.name, "repository": repo, "host": "h1", "instance": "owui",
                          "mode": "pause"})
    assert snap["secret_key"]["captured"]
    _record("world_setup_s", time.monotonic() - t0)
    others = []
    try:
        yield {"a": a, "repo": repo, "snap": snap, "tokens": tokens, "others": others}
    finally:
        for inst in others:
            inst.remove()
        a.remove()


def _job(w, **kw):
    j = {"repository": w["repo"], "host": "h1", "instance": "owui", "container": w["a"].container.name,
         "health_timeout": 240}
    j.update(kw)
    return j


def _sha(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _check_users(inst, expected, tokens=None):
    for u in expected["users"]:
        c = inst.client()
        c.signin(u["email"], u["password"])
        assert c.me()["id"] == u["id"]
        want = expected["chats"]["per_user"][u["email"]]
        assert len(c.list_chats(include_archived=True)) == want["total"], u["email"]
        for f in expected["files"]:
            if f["owner_email"] == u["email"]:
                assert hashlib.sha256(c.file_content(f["id"])).hexdigest() == f["sha256"], f["filename"]
        if tokens:
            # a JWT issued before the backup still works (same key)
            assert inst.client(tokens[u["email"]]).me()["email"] == u["email"]


def _started_at(dk, name):
    c = dk.containers.get(name)
    return c.attrs["State"]["StartedAt"], c.status


def _clone_snapshot(w, new_id):
    """A copy (no hard links into the original) of the snapshot under a newer id, to tamper with."""
    src = w["snap"]["path"]
    dst = os.path.join(os.path.dirname(src), new_id)
    subprocess.run(["cp", "-a", src, dst], check=True)
    return dst


def _rewrite_manifest_entry(snap, rel):
    mp = os.path.join(snap, "manifest.json")
    m = json.load(open(mp))
    for e in m["files"]:
        if e["path"] == rel:
            st = os.stat(os.path.join(snap, "data", rel))
            e["size"] = st.st_size
            e["sha256"] = _sha(os.path.join(snap, "data", rel))
            e["mtime_ns"] = st.st_mtime_ns
    return m, mp


def test_1_in_place_round_trip(world, expected, dk):
    a = world["a"]
    admin = a.client()
    admin.signin("admin@example.com", "Fixture-Admin-Pass-1")
    admin.create_chat(title="made after the backup")
    vol = a.volume_mountpoint
    # damage: an upload vanishes from disk
    victim = expected["files"][0]["relative_path"]
    os.unlink(os.path.join(vol, victim))
    res = _restore.run(_job(world))
    _record("restore_total_s", res["timing_ms"]["total"] / 1000.0)
    _record("restore_verify_s", res["timing_ms"]["verify"] / 1000.0)
    _record("restore_stage_s", res["timing_ms"]["stage"] / 1000.0)
    _record("restore_stop_s", res["timing_ms"]["stop"] / 1000.0)
    _record("restore_start_to_healthy_s", res["timing_ms"]["start_to_healthy"] / 1000.0)
    _record("restore_downtime_s", res["timing_ms"]["downtime"] / 1000.0)
    assert res["secret_key"]["action"] == "put"
    assert res["alembic"]["status"] == "ok", res["alembic"]
    assert os.path.isdir(res["rollback_path"])
    assert not os.path.exists(os.path.join(res["rollback_path"], victim))  # previous data kept as it was
    counts = _counts(os.path.join(vol, "webui.db"))
    for table, n in expected["table_row_counts"].items():
        assert counts.get(table) == n, (table, counts.get(table), n)
    for f in expected["files"]:
        assert _sha(os.path.join(vol, f["relative_path"])) == f["sha256"], f["filename"]
    assert a.read_secret_key() == oc.FIXTURE_SECRET_KEY
    _check_users(a, expected, world["tokens"])
    titles = [c["title"] for c in admin.list_chats()]
    assert "made after the backup" not in titles
    # baseline: raw cp -a of the same bytes on the same filesystem
    base = os.path.dirname(vol)
    dst = os.path.join(base, "owb-cp-baseline")
    t = time.monotonic()
    subprocess.run(["cp", "-a", os.path.join(world["snap"]["path"], "data"), dst], check=True)
    subprocess.run(["sync"], check=True)
    _record("baseline_cp_a_s", time.monotonic() - t)
    shutil.rmtree(dst)
    _record("snapshot_bytes", res["bytes"])


def test_2_changed_byte_refused_before_stop(world, dk):
    name = world["a"].container.name
    before = _started_at(dk, name)
    snap = _clone_snapshot(world, "29990101T000000Z")
    try:
        m = json.load(open(os.path.join(snap, "manifest.json")))
        up = next(e["path"] for e in m["files"] if e["path"].startswith("uploads/"))
        p = os.path.join(snap, "data", up)
        with open(p, "r+b") as f:
            f.seek(10)
            b = f.read(1)
            f.seek(10)
            f.write(bytes([b[0] ^ 0x01]))
        with pytest.raises(BackupError) as ei:
            _restore.run(_job(world))
        msg = str(ei.value)
        assert "29990101T000000Z" in msg and up in msg and "sha256 differs" in msg, msg
        assert "app was not stopped" in msg
        assert _started_at(dk, name) == before and before[1] == "running"
        assert oc.health(world["a"].base_url)
    finally:
        shutil.rmtree(snap)


def test_3_unhealthy_start_rolls_back(world, dk, expected):
    a = world["a"]
    admin = a.client()
    admin.signin("admin@example.com", "Fixture-Admin-Pass-1")
    admin.create_chat(title="marker before the failed restore")
    # corrupt the restored webui.db AFTER verification, before the start: the real app cannot boot on it
    hook = "printf 'this is not sqlite at all' | dd of=\"$OWB_DATA_DIR/webui.db\" bs=1 seek=0 conv=notrunc status=none"
    t = time.monotonic()
    with pytest.raises(BackupError) as ei:
        _restore.run(_job(world, pre_start_commands=[hook], health_timeout=150))
    _record("failed_restore_with_rollback_s", time.monotonic() - t)
    msg = str(ei.value)
    assert "did not become healthy" in msg and "healthy again on the previous data" in msg, msg
    assert oc.health(a.base_url)
    c = a.client()
    c.signin("admin@example.com", "Fixture-Admin-Pass-1")
    assert "marker before the failed restore" in [x["title"] for x in c.list_chats()]
    assert a.client(world["tokens"]["alice@example.com"]).me()["email"] == "alice@example.com"
    failed = ei.value.details.get("rollback")
    assert failed


def test_4_newer_database_refused(world, dk):
    name = world["a"].container.name
    before = _started_at(dk, name)
    snap = _clone_snapshot(world, "29990102T000000Z")
    try:
        db = os.path.join(snap, "data", "webui.db")
        conn = sqlite3.connect(db)
        conn.execute("UPDATE alembic_version SET version_num='ffffeeee0001'")
        conn.commit()
        conn.close()
        m, mp = _rewrite_manifest_entry(snap, "webui.db")
        m["databases"]["webui.db"]["alembic_revision"] = "ffffeeee0001"
        m["source"]["app_version"] = "0.99.0"
        _manifest.write(mp, m)
        with pytest.raises(BackupError) as ei:
            _restore.run(_job(world))
        msg = str(ei.value)
        assert "ffffeeee0001" in msg
        heads = ei.value.details["alembic"]["image_heads"]
        assert heads and all(h in msg for h in heads), msg
        assert "0.99.0" in msg and "refusing" in msg
        assert _started_at(dk, name) == before
    finally:
        shutil.rmtree(snap)


def test_5_env_key_differs_is_refused_with_guidance(world, dk):
    vol = "owb-test-restore-envkey-%s" % uuid.uuid4().hex[:6]
    dk.volumes.create(vol, labels={oc.TEST_LABEL: "1"})
    c = dk.containers.create(IMAGE, name=vol, environment={"WEBUI_SECRET_KEY": "another-key"}, network_mode="host",
                             volumes={vol: {"bind": oc.DATA_DIR, "mode": "rw"}}, labels={oc.TEST_LABEL: "1"})
    try:
        mp = dk.volumes.get(vol).attrs["Mountpoint"]
        with pytest.raises(BackupError) as ei:
            _restore.run(_job(world, container=vol))
        msg = str(ei.value)
        assert "WEBUI_SECRET_KEY" in msg and "secret/webui_secret_key" in msg and "Nothing was changed" in msg
        assert os.listdir(mp) == []
    finally:
        c.remove(force=True)
        dk.volumes.get(vol).remove(force=True)


def test_6_disaster_recovery_new_volume_and_container(world, dk, expected):
    name = "owb-test-restore-dr-%s" % uuid.uuid4().hex[:6]
    port = oc.free_loopback_port()
    try:
        res = _restore.run(_job(world, container=name, volume=name, image=IMAGE,
                                create_container={"env": {"PORT": str(port)}, "network_mode": "host",
                                                  "labels": {oc.TEST_LABEL: "1"}}))
        _record("dr_restore_total_s", res["timing_ms"]["total"] / 1000.0)
        _record("dr_start_to_healthy_s", res["timing_ms"]["start_to_healthy"] / 1000.0)
        assert res["volume_created"] and res["container_created"]
        inst = oc.OpenWebUIInstance(dk, dk.containers.get(name), name, port, IMAGE, {})
        world["others"].append(inst)
        assert oc.health(inst.base_url)
        assert inst.read_secret_key() == oc.FIXTURE_SECRET_KEY
        _check_users(inst, expected, world["tokens"])
    finally:
        for obj in (lambda: dk.containers.get(name).remove(force=True), lambda: dk.volumes.get(name).remove(force=True)):
            try:
                obj()
            except Exception:  # noqa: BLE001
                pass


def test_7_dr_without_image_says_what_to_run(world, dk):
    name = "owb-test-restore-noimg-%s" % uuid.uuid4().hex[:6]
    try:
        res = _restore.run(_job(world, container=name, volume=name, alembic_check="warn"))
        assert res["volume_created"] and not res["container_created"]
        g = "\n".join(res["guidance"])
        assert "docker create --name %s" % name in g and "docker cp" in g and "webui_secret_key" in g
        mp = dk.volumes.get(name).attrs["Mountpoint"]
        assert os.path.isfile(os.path.join(mp, "webui.db"))
    finally:
        try:
            dk.volumes.get(name).remove(force=True)
        except Exception:  # noqa: BLE001
            pass


def test_8_selective_database_only(world, dk, expected):
    a = world["a"]
    vol = a.volume_mountpoint
    admin = a.client()
    admin.signin("admin@example.com", "Fixture-Admin-Pass-1")
    admin.create_chat(title="made after the backup 2")
    marker = os.path.join(vol, "uploads", "kept-by-selective-restore.txt")
    with open(marker, "w") as f:
        f.write("x")
    try:
        res = _restore.run(_job(world, components=["database"]))
        assert res["restored"] == ["webui.db"]
        assert os.path.exists(marker)
        c = a.client()
        c.signin("admin@example.com", "Fixture-Admin-Pass-1")
        assert "made after the backup 2" not in [x["title"] for x in c.list_chats()]
    finally:
        os.unlink(marker)


def test_9_drill_boots_the_image(world, expected, tmp_path):
    res = _drill.drill(world["repo"], "h1", "owui", str(tmp_path), image=IMAGE, boot="always", health_timeout=240)
    assert res["ok"], res["problems"]
    assert res["booted_image"] == IMAGE and res["boot_to_healthy_s"] > 0
    got = res["databases"]["webui.db"]["row_counts"]
    assert got and got == {k: v for k, v in expected["table_row_counts"].items() if k in got}
    _record("drill_rto_s", res["rto_s"])
    _record("drill_boot_to_healthy_s", res["boot_to_healthy_s"])


def test_10_playbooks(world, tmp_path):
    """restore.yml (check mode, then for real) and verify.yml through ansible-playbook."""
    venv = os.path.dirname(sys.executable)
    coll = os.path.abspath(_restore.__file__)
    for _level in range(6):  # .../ansible_collections/sage_open_webui/backup/plugins/module_utils/_restore.py
        coll = os.path.dirname(coll)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=coll)
    base = [os.path.join(venv, "ansible-playbook"), "-i", "localhost,", "-c", "local",
            "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", "owb_hosts=localhost"]
    rvars = ["-e", "restore_repository=%s" % world["repo"], "-e", "restore_host=h1", "-e", "restore_instance=owui",
             "-e", "restore_container=%s" % world["a"].container.name]
    pb = os.path.join(oc.REPO_ROOT, "playbooks")
    r = subprocess.run(base + rvars + ["--check", os.path.join(pb, "restore.yml")], env=env, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "would restore" in r.stdout
    t = time.monotonic()
    r = subprocess.run(base + rvars + [os.path.join(pb, "restore.yml")], env=env, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    _record("playbook_restore_s", time.monotonic() - t)
    assert "healthy after" in r.stdout
    r = subprocess.run(base + ["-e", "verify_repository=%s" % world["repo"], "-e", "verify_scratch=%s" % tmp_path,
                               "-e", "verify_image=%s" % IMAGE, "-e", "verify_boot=always",
                               os.path.join(pb, "verify.yml")], env=env, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "h1/owui" in r.stdout and "ok, RTO" in r.stdout
