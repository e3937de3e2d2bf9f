# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of _discovery on the real Open WebUI 0.12.4 fixture (extracted to a tmp dir)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tarfile

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _discovery
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _sqlite
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.tests.tree import tree_state

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "..", "..", "fixtures", "openwebui-0.12.4")
EXPECTED = json.load(open(os.path.join(FIXTURE, "expected.json")))


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    with tarfile.open(os.path.join(FIXTURE, "data.tar.gz")) as tar:
        tar.extractall(str(d), **({"filter": "tar"} if hasattr(tarfile, "data_filter") else {}))
    return str(d)


def leave_wal_behind(db, with_shm=True):
    """A writer commits in WAL mode and dies without checkpointing (like a killed Open WebUI)."""
    code = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1])\n"
        "c.execute('PRAGMA wal_autocheckpoint=0')\n"
        "c.execute(\"UPDATE alembic_version SET version_num='ffffffffffff'\")\n"
        "c.execute('CREATE TABLE owb_probe(x)')\n"
        "c.commit()\n"
        "os._exit(0)\n"
    )
    subprocess.check_call([sys.executable, "-c", code, db])
    assert os.path.getsize(db + "-wal") > 0
    if not with_shm:
        os.remove(db + "-shm")


# -- the inventory against expected.json ---------------------------------------------------------------------
def test_inventory_matches_fixture_facts(data_dir):
    inv = _discovery.inspect_data_dir(data_dir)
    assert inv["alembic_revision"] == EXPECTED["alembic_revision"] == "0bd252b206fb"
    assert inv["journal_mode"] == EXPECTED["journal_mode"] == "wal"
    assert inv["chroma_journal_mode"] == EXPECTED["chroma_journal_mode"] == "delete"
    assert inv["webui_db"]["present"] and inv["webui_db"]["is_sqlite"]
    assert not inv["webui_db"]["wal"]["present"] and not inv["webui_db"]["shm"]["present"]
    assert inv["webui_db"]["page_size"] * inv["webui_db"]["page_count"] == inv["webui_db"]["size"]
    tb = EXPECTED["tarball"]
    assert inv["totals"]["files"] == tb["files"]
    assert inv["totals"]["size"] == tb["uncompressed_file_bytes"]
    assert sorted(inv["top_level"]) == sorted(tb["top_level"])
    assert inv["uploads"]["files"] == len(EXPECTED["files"]) == 12
    assert inv["uploads"]["size"] == sum(f["size"] for f in EXPECTED["files"])
    vec = inv["vector_db"]
    assert vec["kind"] == "chroma" and vec["chroma_sqlite3"]["present"]
    assert vec["segment_count"] == len(EXPECTED["chroma"]["collections"]) == 9
    # the two collections above 1000 vectors have persisted HNSW metadata, the others not
    big = [n for n, c in EXPECTED["chroma"]["collections"].items() if c > 1000]
    assert sum(1 for s in vec["segments"] if s["index_metadata"]) == len(big) == 2
    assert all(s["hnsw_files"] == ["data_level0.bin", "header.bin", "length.bin", "link_lists.bin"]
               for s in vec["segments"])
    assert set(inv["cache"]["subdirs"]) == {"audio", "image"}
    assert inv["cache"]["files"] == 0
    assert inv["audit_log"]["present"] is False and inv["other"] == [] and inv["warnings"] == []


def test_inventory_counts_cache_subfolders_audit_and_other(data_dir):
    os.makedirs(os.path.join(data_dir, "cache", "embedding", "models", "m"))
    with open(os.path.join(data_dir, "cache", "embedding", "models", "m", "w.bin"), "wb") as fh:
        fh.write(b"\0" * 5000)
    os.makedirs(os.path.join(data_dir, "cache", "functions", "f1"))
    with open(os.path.join(data_dir, "cache", "functions", "f1", "x.py"), "w") as fh:
        fh.write("print(1)\n")
    with open(os.path.join(data_dir, "audit.log"), "w") as fh:
        fh.write("{}\n")
    with open(os.path.join(data_dir, "old_config.json"), "w") as fh:
        fh.write("{}")
    inv = _discovery.inspect_data_dir(data_dir)
    sub = inv["cache"]["subdirs"]
    assert sub["embedding"] == dict(sub["embedding"], size=5000, files=1, redownloadable=True)
    assert sub["functions"]["files"] == 1 and sub["functions"]["redownloadable"] is False
    assert inv["cache"]["redownloadable_bytes"] == 5000
    assert inv["totals"]["without_redownloadable_cache"] == inv["totals"]["size"] - 5000
    assert inv["audit_log"] == {"present": True, "files": [{"name": "audit.log", "size": 3}], "size": 3}
    assert inv["other"] == [{"name": "old_config.json", "type": "file", "size": 2, "files": 1}]


# -- read-only: nothing in the directory changes --------------------------------------------------------------
def test_inspect_changes_nothing_on_a_clean_dir(data_dir):
    before = tree_state(data_dir, content=True)
    inv = _discovery.inspect_data_dir(data_dir)
    assert inv["alembic_revision"] == "0bd252b206fb"
    assert tree_state(data_dir, content=True) == before      # no -wal/-shm created, no mtime/ctime touched


def test_naive_read_only_open_would_have_changed_it(data_dir):
    """Control experiment: the test above can fail. Plain mode=ro leaves -wal/-shm behind on a WAL db."""
    before = tree_state(data_dir, content=True)
    con = sqlite3.connect("file:%s/webui.db?mode=ro" % data_dir, uri=True)
    con.execute("SELECT 1 FROM alembic_version").fetchall()
    con.close()
    assert tree_state(data_dir, content=True) != before


def without_ctime(tree, names=("webui.db-wal", "webui.db-shm")):
    return {k: v[:4] + v[5:] if k in names else v for k, v in tree.items()}  # tree_state: ctime_ns is [4]


def test_inspect_changes_nothing_with_wal_and_shm_left_behind(data_dir):
    db = os.path.join(data_dir, "webui.db")
    leave_wal_behind(db)
    before = tree_state(data_dir, content=True)
    inv = _discovery.inspect_data_dir(data_dir)
    assert inv["alembic_revision"] == "ffffffffffff"      # read through the -wal
    assert inv["webui_db"]["wal"]["present"] and inv["webui_db"]["wal"]["size"] > 0
    assert inv["webui_db"]["shm"]["present"]
    after = tree_state(data_dir, content=True)
    # same names, sizes, mtimes, modes and bytes; as root SQLite re-chowns -wal/-shm to the owner they already
    # have (a no-op fchown), which moves only their ctime
    assert without_ctime(after) == without_ctime(before)
    if os.geteuid() != 0:
        assert after == before


def test_inspect_changes_nothing_with_wal_without_shm(data_dir):
    db = os.path.join(data_dir, "webui.db")
    leave_wal_behind(db, with_shm=False)
    before = tree_state(data_dir, content=True)
    inv = _discovery.inspect_data_dir(data_dir)
    assert inv["alembic_revision"] == "ffffffffffff"      # from a private copy of db + wal
    assert any("-wal exists without" in w for w in inv["warnings"])
    assert tree_state(data_dir, content=True) == before


def test_read_only_query_methods(data_dir):
    db = os.path.join(data_dir, "webui.db")
    assert _discovery.read_only_query(db, "SELECT count(*) FROM user") == (3, "immutable")
    leave_wal_behind(db)
    assert _discovery.read_only_query(db, "SELECT count(*) FROM user") == (3, "readonly_shm")
    os.remove(db + "-shm")
    assert _discovery.read_only_query(db, "SELECT count(*) FROM user") == (3, "private_copy")


def test_alembic_missing_table(tmp_path):
    db = str(tmp_path / "webui.db")
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t(x)")
    con.commit()
    con.close()
    assert _discovery.alembic_revision(db) == (None, "no alembic_version table (database never migrated)")


# -- header (parsed by _sqlite.parse_header, tested in test_sqlite.py) ------------------------------------------
def test_inventory_reports_a_non_sqlite_webui_db(data_dir):
    with open(os.path.join(data_dir, "webui.db"), "r+b") as f:
        f.write(b"PGDMP not sqlite")
    inv = _discovery.inspect_data_dir(data_dir)
    assert inv["webui_db"]["is_sqlite"] is False and inv["journal_mode"] is None
    assert any("not an SQLite database" in w for w in inv["warnings"])


def test_header_agrees_with_sqlite_pragma(data_dir):
    for rel, mode in (("webui.db", "wal"), ("vector_db/chroma.sqlite3", "delete")):
        path = os.path.join(data_dir, rel)
        con = sqlite3.connect("file:%s?mode=ro&immutable=1" % path, uri=True)
        pragma = con.execute("PRAGMA journal_mode").fetchone()[0]
        con.close()
        assert _sqlite.header_info(path)["journal_mode"] == mode
        # immutable connections report "delete" for rollback dbs; for WAL the header is the only truth here
        assert pragma in (mode, "delete")


# -- failures -------------------------------------------------------------------------------------------------
def test_missing_data_dir(tmp_path):
    with pytest.raises(BackupError) as err:
        _discovery.inspect_data_dir(str(tmp_path / "nope"))
    assert "does not exist" in str(err.value) and "Mountpoint" in str(err.value)


def test_not_an_openwebui_dir(tmp_path):
    (tmp_path / "something.txt").write_text("x")
    with pytest.raises(BackupError) as err:
        _discovery.inspect_data_dir(str(tmp_path))
    text = str(err.value)
    assert "does not look like an Open WebUI data directory" in text and "something.txt" in text and "Fix:" in text


def test_empty_dir_says_empty(tmp_path):
    with pytest.raises(BackupError) as err:
        _discovery.inspect_data_dir(str(tmp_path))
    assert "it is empty" in str(err.value)


def test_a_file_is_not_a_data_dir(tmp_path):
    f = tmp_path / "webui.db"
    f.write_text("x")
    with pytest.raises(BackupError) as err:
        _discovery.inspect_data_dir(str(f))
    assert "is not a directory" in str(err.value)


def test_uploads_only_is_accepted_with_webui_db_absent(tmp_path):
    (tmp_path / "uploads").mkdir()
    inv = _discovery.inspect_data_dir(str(tmp_path))
    assert inv["webui_db"] == {"present": False} and inv["alembic_revision"] is None


def test_not_sqlite_webui_db_warns(tmp_path):
    (tmp_path / "webui.db").write_bytes(b"encrypted garbage" * 20)
    inv = _discovery.inspect_data_dir(str(tmp_path))
    assert any("not an SQLite database" in w for w in inv["warnings"])


# -- environment analysis -------------------------------------------------------------------------------------
def test_env_defaults():
    f = _discovery.analyze_env({})
    assert f["database"]["type"] == "sqlite" and f["database"]["path"] == "/app/backend/data/webui.db"
    assert f["vector_db"] == {"type": "chroma", "external": False, "path": "/app/backend/data/vector_db",
                              "chroma_http_host_set": False}
    assert f["storage_provider"] == "local" and f["secret_key_env_set"] is False
    assert f["database"]["wal_enabled"] is True
    assert _discovery.support_verdict(f, {"type": "volume"}) == (True, [])


@pytest.mark.parametrize("env,dbtype", [
    ({"DATABASE_URL": "postgresql://owui:hunter2@db:5432/owui"}, "postgresql"),
    ({"DATABASE_URL": "postgres://owui:hunter2@db/owui"}, "postgresql"),
    ({"DATABASE_TYPE": "postgresql", "DATABASE_PASSWORD": "hunter2"}, "postgresql"),
    ({"DATABASE_URL": "sqlite+sqlcipher:///data/webui.db", "DATABASE_PASSWORD": "hunter2"}, "sqlcipher"),
    ({"DATABASE_TYPE": "sqlite+sqlcipher", "DATABASE_PASSWORD": "hunter2"}, "sqlcipher"),
    ({"DATABASE_URL": "mysql://u:hunter2@h/d"}, "mysql"),
    ({"DATABASE_URL": "sqlite:////srv/owui/webui.db"}, "sqlite"),
])
def test_env_database_types_never_leak_secrets(env, dbtype):
    f = _discovery.analyze_env(env)
    assert f["database"]["type"] == dbtype
    assert "hunter2" not in json.dumps(f)
    supported, reasons = _discovery.support_verdict(f, {"type": "volume"})
    assert supported is (dbtype == "sqlite")
    if dbtype == "postgresql":
        assert "PostgreSQL" in reasons[0] and "not supported yet" in reasons[0]


def test_env_sqlite_url_path():
    assert _discovery.analyze_env({"DATABASE_URL": "sqlite:////srv/owui/webui.db"})["database"]["path"] == \
        "/srv/owui/webui.db"


@pytest.mark.parametrize("env,external", [
    ({"CHROMA_HTTP_HOST": "chroma"}, True),
    ({"VECTOR_DB": "qdrant"}, True),
    ({"VECTOR_DB": "pgvector"}, True),
    ({"VECTOR_DB": "milvus"}, False),
    ({"VECTOR_DB": "milvus", "MILVUS_URI": "http://milvus:19530"}, True),
    ({"VECTOR_DB": "chroma", "CHROMA_HTTP_HOST": ""}, False),
])
def test_env_vector_store(env, external):
    f = _discovery.analyze_env(env)
    assert f["vector_db"]["external"] is external
    supported, reasons = _discovery.support_verdict(f, {"type": "volume"})
    assert supported is (not external)
    if external:
        assert "external" in reasons[0] and "not supported yet" in reasons[0]


def test_env_secret_key_is_a_bool_only():
    f = _discovery.analyze_env({"WEBUI_SECRET_KEY": "owui-fixture-test-secret-0.12.4"})
    assert f["secret_key_env_set"] is True
    assert "owui-fixture-test-secret" not in json.dumps(f)


def test_env_storage_provider_and_data_dir():
    f = _discovery.analyze_env({"STORAGE_PROVIDER": "s3", "DATA_DIR": "/data"})
    assert f["storage_provider"] == "s3" and f["database"]["path"] == "/data/webui.db"
    ok, reasons = _discovery.support_verdict(f, {"type": "bind"})
    assert not ok and "s3" in reasons[0]


def test_verdict_no_mount():
    ok, reasons = _discovery.support_verdict(_discovery.analyze_env({}), {"type": "none",
                                                                          "destination": "/app/backend/data"})
    assert not ok and "container's writable layer" in reasons[0]


# -- describe_container over a fake client --------------------------------------------------------------------
class FakeClient(object):
    def __init__(self, inspect, mount, files=None, image=None, others=(), volumes=()):
        self._inspect = inspect
        self._mount = mount
        self._files = files or {}
        self._image = image or {"name": "ghcr.io/open-webui/open-webui:main", "id": "sha256:1", "digest": None,
                                "labels": {}, "version": None}
        self._others = list(others)
        self.api = self
        self._volumes = list(volumes)
        self.exec_calls = []

    def inspect(self, ref):
        return self._inspect

    def env(self, ins):
        from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import parse_env
        return parse_env(ins["Config"]["Env"])

    def image_info(self, ins):
        return self._image

    def state(self, ins):
        from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import state_from_inspect
        return state_from_inspect(ins)

    def data_mount(self, ins, target="/app/backend/data"):
        return dict(self._mount, destination=target)

    def read_file(self, cid, path):
        return self._files.get(path)

    def exec_read(self, cid, cmd):
        self.exec_calls.append(cmd)
        return "0.12.4\n" if cmd[0] == "/opt/venv/bin/python" else None

    def list_containers(self):
        return self._others

    def volumes(self):
        return self._volumes


def _ins(env=(), running=True, labels=None):
    return {"Id": "c" * 64, "Name": "/open-webui",
            "State": {"Status": "running" if running else "exited", "Running": running, "Paused": False},
            "Config": {"Env": list(env) + ["PATH=/opt/venv/bin:/usr/bin"], "WorkingDir": "/app/backend",
                       "Labels": labels or {}}}


MOUNT = {"type": "volume", "name": "open-webui", "source": "/var/lib/docker/volumes/open-webui/_data", "rw": True,
         "anonymous": False, "persistent": True}


def test_describe_container_happy_path_never_returns_the_key():
    key = b"owui-fixture-test-secret-0.12.4"
    client = FakeClient(_ins(), MOUNT, files={"/app/backend/.webui_secret_key": key,
                                              "/app/package.json": b'{"name": "open-webui", "version": "0.12.4"}'})
    d = _discovery.describe_container(client, "open-webui")
    assert d["name"] == "open-webui" and d["state"] == "running" and d["data_dir"] == MOUNT["source"]
    assert d["app_version"] == "0.12.4" and d["app_version_source"] == "package.json"
    assert d["secret_key"]["file_exists"] is True and d["secret_key"]["source"] == "file"
    assert d["supported"] is True and d["reasons"] == []
    assert key.decode() not in json.dumps(d)
    assert any("container layer" in w for w in d["warnings"])


def test_describe_container_version_from_pip_metadata_in_venv():
    client = FakeClient(_ins(), MOUNT, files={"/opt/venv/pyvenv.cfg": b"version = 3.11.2\n"})
    d = _discovery.describe_container(client, "open-webui")
    assert (d["app_version"], d["app_version_source"]) == ("0.12.4", "pip_metadata")
    assert client.exec_calls[0][0] == "/opt/venv/bin/python"


def test_describe_container_label_version_wins():
    client = FakeClient(_ins(), MOUNT, image={"name": "x", "id": "sha256:1", "digest": "sha256:2", "labels": {},
                                              "version": "v0.12.4"})
    d = _discovery.describe_container(client, "open-webui")
    assert (d["app_version"], d["app_version_source"]) == ("0.12.4", "image_label")
    assert d["digest"] == "sha256:2"


def test_describe_container_without_mount_warns_loudly():
    mount = {"type": "none", "name": "", "source": "", "rw": True, "anonymous": False, "persistent": False}
    client = FakeClient(_ins(["WEBUI_SECRET_KEY=s3cr3t-value"]), mount)
    d = _discovery.describe_container(client, "open-webui")
    assert d["persistent"] is False and d["supported"] is False and d["data_dir"] is None
    assert any(w.startswith("DATA LOSS RISK") and "no volume or bind mount" in w for w in d["warnings"])
    assert d["secret_key"]["source"] == "env" and "s3cr3t-value" not in json.dumps(d)


def test_describe_container_anonymous_volume_warns():
    mount = dict(MOUNT, name="a" * 64, anonymous=True, persistent=False)
    d = _discovery.describe_container(FakeClient(_ins(), mount), "open-webui")
    assert d["supported"] is True
    assert any("anonymous volume" in w and w.startswith("DATA LOSS RISK") for w in d["warnings"])


def test_describe_container_postgres_not_supported_and_no_key_warning():
    d = _discovery.describe_container(FakeClient(_ins(["DATABASE_URL=postgresql://u:pw@db/x"]), MOUNT), "x")
    assert d["supported"] is False and "PostgreSQL" in d["reasons"][0]
    assert d["env"]["database"]["type"] == "postgresql" and "pw@db" not in json.dumps(d)
    assert any("key could not be found" in w for w in d["warnings"])


def test_ollama_detection_excluded_by_default():
    others = [
        {"name": "ollama", "id": "o" * 64,
         "mounts": [{"type": "volume", "name": "ollama", "source": "/v/ollama", "destination": "/root/.ollama",
                     "rw": True}]},
        {"name": "open-webui", "id": "c" * 64, "mounts": []},
    ]
    client = FakeClient(_ins(), MOUNT, others=others, volumes=[{"Name": "ollama"}, {"Name": "ollama-old",
                                                                                    "Mountpoint": "/v/old"}])
    found = _discovery.ollama_mounts(client)
    assert [(o["container"], o["volume"], o["excluded"]) for o in found] == [
        ("ollama", "ollama", True), (None, "ollama-old", True)]
    assert all(not o["excluded"] for o in _discovery.ollama_mounts(client, include_ollama=True))
    d = _discovery.describe_container(client, "open-webui", include_ollama=False)
    assert len(d["ollama"]) == 2 and d["bundles_ollama"] is False


def test_ollama_volume_listing_error_is_reported_not_hidden():
    client = FakeClient(_ins(), MOUNT)

    def volumes():  # what DockerClient.volumes raises when the engine fails (test_docker covers the wrapping)
        raise BackupError("cannot list volumes: engine went away", "check the engine")

    client.volumes = volumes
    with pytest.raises(BackupError, match="cannot list volumes: engine went away"):
        _discovery.ollama_mounts(client)


# -- discover (openwebui_info's work) -------------------------------------------------------------------------
class FindingClient(FakeClient):
    socket = "/var/run/docker.sock"
    closed = False

    def __init__(self, found, *a, **kw):
        FakeClient.__init__(self, *a, **kw)
        self._found = found

    def find(self, name=None, label=None, image=None):
        self.asked = (name, label, image)
        return self._found

    def seen(self):
        return "ollama, redis"

    def close(self):
        self.closed = True


def test_discover_describes_each_container_with_its_inventory(data_dir):
    client = FindingClient([{"id": "c" * 64}], _ins(), dict(MOUNT, source=data_dir))
    instances, warnings = _discovery.discover(label="app=owui", client=client)
    assert client.asked == (None, "app=owui", None) and client.closed
    (inst,) = instances
    assert inst["inventory"]["journal_mode"] == "wal" and "image_labels" not in inst
    assert warnings and all(w.startswith("open-webui: ") for w in warnings)


def test_discover_data_dir_not_visible_is_a_warning():
    client = FindingClient([{"id": "c" * 64}], _ins(), dict(MOUNT, source="/nonexistent/owb/_data"))
    (inst,), warnings = _discovery.discover(client=client)
    assert inst["inventory"] is None and any("not visible from this host" in w for w in warnings)


def test_discover_nothing_found_names_what_was_asked():
    client = FindingClient([], _ins(), MOUNT)
    expected = "no Open WebUI container found with label a=b and image containing 'x' on /var/run/docker.sock.*containers seen: ollama, redis"
    with pytest.raises(BackupError, match=expected):
        _discovery.discover(label="a=b", image="x", client=client)
    assert client.closed


def test_discover_plain_data_dir_needs_no_docker(data_dir):
    (inst,), warnings = _discovery.discover(data_dir=data_dir, docker_host="unix:///nonexistent.sock")
    assert inst["data_dir"] == data_dir and inst["data_mount"]["type"] == "directory" and inst["id"] is None
    assert inst["inventory"]["uploads"]["files"] > 0 and warnings == []
