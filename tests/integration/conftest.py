# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the integration tests: a real Docker engine, the sample Open WebUI app, an S3 endpoint.

The test bed is brought up by the scripts in tests/testbed (docker.sh, base-image.sh, sampleapp-image.sh):
the first test marked ``docker`` runs them before any of its fixtures (cached: a second run takes about a second). Nothing is skipped
silently: when the engine cannot be started or an image cannot be built, the test fails with the script's
output and the command to run by hand.

Fixtures
  testbed               session: dict(repo, cache_dir, base_image, sample_image); brings the bed up
  docker_client         session: docker SDK client (python ``docker`` package)
  sample_app_factory    function: ``start(mount="volume"|"bind"|None, env={...}, wait=True, **run_kwargs)``
                        -> SampleApp; every container/volume it made is removed afterwards
  sample_app            function: one SampleApp on a fresh named volume (data dir = volume Mountpoint)
  sample_app_bind       function: one SampleApp on a bind mount of a tmp dir
  s3_endpoint           session: moto server on 127.0.0.1:<free port>, yields "http://127.0.0.1:<port>"
  systemd_run_kwargs    session: docker SDK run kwargs for a systemd host from the base image
  s3_client             function: boto3 S3 client on s3_endpoint with a fresh bucket (``.bucket``)

Env: OWB_TESTBED_SETUP=0 uses what exists (no scripts run); OWB_SAMPLE_IMAGE / OWB_BASE_IMAGE override images.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTBED = os.path.join(REPO, "tests", "testbed")
CACHE_DIR = os.environ.get("TESTBED_CACHE", os.path.join(REPO, ".cache", "testbed"))
SAMPLE_IMAGE = os.environ.get("OWB_SAMPLE_IMAGE", "local/owb-sampleapp:latest")
BASE_IMAGE = os.environ.get("OWB_BASE_IMAGE", "local/owb-debian-systemd:bookworm")
DATA_TARGET = "/app/backend/data"
KEY_FILE = "/app/backend/.webui_secret_key"
LABEL = "owb-testbed"

# Run arguments that let systemd be PID 1 without --privileged (tests/testbed/base-image.sh, test-bed.md).
SYSTEMD_RUN_KWARGS = dict(
    command="/lib/systemd/systemd",
    cgroupns="host",
    cap_add=["SYS_ADMIN"],
    security_opt=["seccomp=unconfined"],
    tmpfs={"/run": "", "/run/lock": "", "/tmp": ""},
    volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}},
    network_mode="host",
)


def pytest_configure(config):
    config.addinivalue_line("markers", "docker: needs a real Docker engine and the test bed images (tests/testbed)")
    config.addinivalue_line("markers", "openwebui: needs the real Open WebUI image too (tests/testbed/openwebui/build.sh, "
                                       "built once when missing)")


# ---------------------------------------------------------------------------------------------------------------
# helpers


_ports_given = set()


def free_port():
    """A free TCP port on 127.0.0.1 not handed out before in this session."""
    for dummy in range(100):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("no free loopback port")


def _run_script(name, *args, env=None, timeout=3600):
    path = os.path.join(TESTBED, name)
    t0 = time.monotonic()
    proc = subprocess.run(["bash", path] + list(args), capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})), check=False)
    return proc, time.monotonic() - t0


def _script_error(what, proc):
    return ("test bed: %s failed (exit %s).\n--- output ---\n%s\n%s\nFix: run `%s` by hand as root and read its "
            "log under %s." % (what, proc.returncode, proc.stdout[-3000:], proc.stderr[-6000:],
                               " ".join(proc.args[1:]), CACHE_DIR))


def _fail_script(what, proc):
    pytest.fail(_script_error(what, proc), pytrace=False)


def read_max_seq(db_path):
    """Highest committed writer sequence (chat ids ``writer-<seq>``) in a live webui.db, read-only."""
    if not os.path.exists(db_path):
        return 0
    conn = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=10)
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        row = conn.execute("SELECT max(CAST(substr(id, 8) AS INTEGER)) FROM chat WHERE id LIKE 'writer-%'").fetchone()
    finally:
        conn.close()
    return row[0] or 0


class SampleApp(object):
    """A running sample app container (local/owb-sampleapp).

    Attributes: name, id, port, url, image, env, mount ("volume" | "bind" | None), volume (name or None),
    mountpoint / data_dir (host path of /app/backend/data, or None), container (docker SDK object).
    """

    def __init__(self, client, container, port, env, mount, volume, data_dir):
        self.client = client
        self.container = container
        self.name = container.name
        self.id = container.id
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        self.image = container.image.tags[0] if container.image.tags else container.image.id
        self.env = env
        self.mount = mount
        self.volume = volume
        self.data_dir = data_dir
        self.mountpoint = data_dir

    def __repr__(self):
        return "SampleApp(%s, port=%d, data_dir=%s)" % (self.name, self.port, self.data_dir)

    @property
    def db_path(self):
        return os.path.join(self.data_dir, "webui.db") if self.data_dir else None

    def reload(self):
        self.container.reload()
        return self.container.attrs

    def status(self):
        return self.reload()["State"]["Status"]

    def health(self):
        return (self.reload()["State"].get("Health") or {}).get("Status")

    def logs(self):
        return self.container.logs().decode("utf-8", "replace")

    def http_json(self, path, timeout=3):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
            return json.loads(r.read().decode())

    def writer(self):
        """The app's own view: {"seq", "journal_mode", "uploads", "errors"} (GET /writer)."""
        return self.http_json("/writer")

    def max_seq(self):
        """Max committed writer seq read from the live webui.db on the host (not through the app)."""
        if self.data_dir:
            return read_max_seq(self.db_path)
        out = self.exec(["python3", "-c", "import sqlite3; c=sqlite3.connect('file:/app/backend/data/webui.db?mode=ro',"
                                          " uri=True); print(c.execute(\"SELECT max(CAST(substr(id, 8) AS INTEGER)) "
                                          "FROM chat WHERE id LIKE 'writer-%'\").fetchone()[0] or 0)"])
        return int(out.strip())

    def wait_seq(self, above, timeout=20):
        """Until max_seq() > above; returns it (fails the test when it does not move)."""
        deadline = time.monotonic() + timeout
        seq = self.max_seq()
        while seq <= above and time.monotonic() < deadline:
            time.sleep(0.05)
            seq = self.max_seq()
        if seq <= above:
            pytest.fail("%s: writer seq stuck at %d (wanted > %d) after %ss\n%s"
                        % (self.name, seq, above, timeout, self.logs()[-2000:]))
        return seq

    def exec(self, cmd, check=True):
        res = self.container.exec_run(cmd)
        out = res.output.decode("utf-8", "replace")
        if check and res.exit_code != 0:
            raise AssertionError("exec %s in %s: exit %s: %s" % (cmd, self.name, res.exit_code, out))
        return out

    def wait_healthy(self, timeout=60):
        return wait_healthy(self.container, timeout)

    def pause(self):
        self.container.pause()

    def unpause(self):
        self.container.unpause()

    def stop(self, timeout=10):
        self.container.stop(timeout=timeout)

    def start(self, wait=True, timeout=60):
        self.container.start()
        if wait:
            self.wait_healthy(timeout)


def wait_healthy(container, timeout=60):
    """Until Docker reports the container healthy; returns seconds waited. Fails with its logs otherwise."""
    t0 = time.monotonic()
    state = {}
    while time.monotonic() - t0 < timeout:
        container.reload()
        state = container.attrs["State"]
        if state["Status"] in ("exited", "dead"):
            logs = container.logs().decode("utf-8", "replace")[-3000:]
            pytest.fail("container %s exited (code %s):\n%s" % (container.name, state.get("ExitCode"), logs))
        if (state.get("Health") or {}).get("Status") == "healthy":
            return time.monotonic() - t0
        time.sleep(0.1)
    pytest.fail("container %s not healthy after %ss (state %s):\n%s"
                % (container.name, timeout, json.dumps(state.get("Health"))[-1500:],
                   container.logs().decode("utf-8", "replace")[-3000:]))


# ---------------------------------------------------------------------------------------------------------------
# session fixtures


_BED = {}


def ensure_testbed():
    """Bring the bed up once per session (docker engine, base image, sample app image); fail clearly otherwise."""
    if "error" in _BED:
        pytest.fail(_BED["error"], pytrace=False)
    if "info" in _BED:
        return _BED["info"]
    info = {"repo": REPO, "cache_dir": CACHE_DIR, "base_image": BASE_IMAGE, "sample_image": SAMPLE_IMAGE,
            "timings": {}}
    if os.environ.get("OWB_TESTBED_SETUP", "1") != "0":
        if os.geteuid() != 0:
            _BED["error"] = ("test bed: the integration tests need root (dockerd, apt-get, debootstrap). "
                             "Fix: run them as root.")
            pytest.fail(_BED["error"], pytrace=False)
        for label, script in (("docker engine", "docker.sh"), ("base image", "base-image.sh"),
                              ("sample app image", "sampleapp-image.sh")):
            proc, took = _run_script(script)
            if proc.returncode != 0:
                _BED["error"] = _script_error("%s (tests/testbed/%s)" % (label, script), proc)
                pytest.fail(_BED["error"], pytrace=False)
            info["timings"][label] = round(took, 2)
        sys.stderr.write("\n[testbed] up: %s\n" % ", ".join("%s %.1fs" % kv for kv in info["timings"].items()))
    _BED["info"] = info
    return info


def ensure_openwebui_image():
    """The real Open WebUI image (tests/testbed/openwebui/build.sh: cached, a no-op when the tag exists), once per
    session; the test fails with the script's output when it cannot be built."""
    if "openwebui_error" in _BED:
        pytest.fail(_BED["openwebui_error"], pytrace=False)
    if "openwebui" in _BED or os.environ.get("OWB_TESTBED_SETUP", "1") == "0":
        return
    proc, took = _run_script(os.path.join("openwebui", "build.sh"))
    if proc.returncode != 0:
        _BED["openwebui_error"] = _script_error("real Open WebUI image (tests/testbed/openwebui/build.sh)", proc)
        pytest.fail(_BED["openwebui_error"], pytrace=False)
    _BED["openwebui"] = round(took, 2)
    sys.stderr.write("\n[testbed] real Open WebUI image: %.1fs\n" % took)


def pytest_runtest_setup(item):
    """Tests marked ``docker`` get the bed before any of their fixtures (module-scoped ones too) run; those marked
    ``openwebui`` also get the real Open WebUI image."""
    if item.get_closest_marker("docker") is not None:
        ensure_testbed()
    if item.get_closest_marker("openwebui") is not None:
        ensure_testbed()
        ensure_openwebui_image()


@pytest.fixture(scope="session")
def testbed():
    """dict(repo, cache_dir, base_image, sample_image, timings) once the bed is up."""
    return ensure_testbed()


@pytest.fixture(scope="session")
def docker_client(testbed):
    try:
        import docker  # the docker SDK from the test venv (requirements-test.txt)
    except ImportError as exc:
        pytest.fail("python package `docker` missing in %s (%s). Fix: make venv" % (sys.executable, exc),
                    pytrace=False)
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail("Docker engine does not answer (%s). Fix: run tests/testbed/docker.sh as root and read "
                    "%s/dockerd.log" % (exc, CACHE_DIR), pytrace=False)
    for image in (testbed["base_image"], testbed["sample_image"]):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            pytest.fail("image %s missing. Fix: tests/testbed/up.sh" % image, pytrace=False)
    yield client
    client.close()


@pytest.fixture(scope="session")
def systemd_run_kwargs():
    """docker SDK ``containers.run`` kwargs that boot the base image's systemd as PID 1 (no --privileged)."""
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in SYSTEMD_RUN_KWARGS.items()}


# ---------------------------------------------------------------------------------------------------------------
# sample app


class _SampleAppFactory(object):
    def __init__(self, client, tmp_factory):
        self.client = client
        self.tmp_factory = tmp_factory
        self.apps, self.volumes, self.dirs = [], [], []

    def __call__(self, mount="volume", env=None, wait=True, image=SAMPLE_IMAGE, name=None, data_dir=None,
                 timeout=60, **run_kwargs):
        """Start a sample app with host networking on a unique loopback port.

        mount: "volume" (fresh named volume at /app/backend/data), "bind" (a tmp dir, or ``data_dir``), or None
        (data stays in the container layer). env: extra environment (PORT is chosen here unless given).
        """
        import docker

        tag = uuid.uuid4().hex[:8]
        name = name or "owbt-app-%s" % tag
        env = dict(env or {})
        port = int(env.get("PORT") or free_port())
        env["PORT"] = str(port)
        env = {k: str(v) for k, v in env.items()}
        volume, host_dir, volumes = None, None, dict(run_kwargs.pop("volumes", {}) or {})
        if mount == "volume":
            volume = "owbt-vol-%s" % tag
            vol = self.client.volumes.create(volume, labels={LABEL: "1"})
            self.volumes.append(volume)
            host_dir = vol.attrs["Mountpoint"]
            volumes[volume] = {"bind": DATA_TARGET, "mode": "rw"}
        elif mount == "bind":
            host_dir = data_dir or str(self.tmp_factory.mktemp("owbt-bind-%s" % tag))
            os.chmod(host_dir, 0o755)
            if data_dir is None:
                self.dirs.append(host_dir)
            volumes[host_dir] = {"bind": DATA_TARGET, "mode": "rw"}
        elif mount is not None:
            raise ValueError("mount must be 'volume', 'bind' or None")
        labels = dict(run_kwargs.pop("labels", {}) or {}, **{LABEL: "1", "owb-test": "1"})
        try:
            container = self.client.containers.run(image, detach=True, name=name, network_mode="host",
                                                   environment=env, volumes=volumes, labels=labels, **run_kwargs)
        except docker.errors.APIError as exc:
            pytest.fail("cannot start sample app %s: %s" % (name, exc))
        app = SampleApp(self.client, container, port, env, mount, volume, host_dir)
        self.apps.append(app)
        if wait:
            app.wait_healthy(timeout)
        return app

    def cleanup(self):
        import docker

        for app in self.apps:
            try:
                app.container.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                sys.stderr.write("cleanup: %s: %s\n" % (app.name, exc))
        for v in self.volumes:
            try:
                self.client.volumes.get(v).remove(force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                sys.stderr.write("cleanup: volume %s: %s\n" % (v, exc))
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def sample_app_factory(docker_client, tmp_path_factory):
    factory = _SampleAppFactory(docker_client, tmp_path_factory)
    yield factory
    factory.cleanup()


@pytest.fixture
def sample_app(sample_app_factory):
    """A healthy sample app on a fresh named volume (``.data_dir`` = the volume's Mountpoint)."""
    return sample_app_factory(mount="volume")


@pytest.fixture
def sample_app_bind(sample_app_factory):
    """A healthy sample app on a bind mount of a fresh tmp dir (``.data_dir``)."""
    return sample_app_factory(mount="bind")


# ---------------------------------------------------------------------------------------------------------------
# S3


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto server on 127.0.0.1:<free port> (tests/testbed/s3.sh); yields the endpoint URL."""
    port = free_port()
    env = {}
    try:
        import moto.server  # noqa: F401  the venv running pytest has moto[server]: use it

        env["MOTO_PYTHON"] = sys.executable
    except ImportError:
        pass
    proc, dummy = _run_script("s3.sh", str(port), env=env, timeout=600)
    if proc.returncode != 0:
        _fail_script("S3 endpoint (tests/testbed/s3.sh %d)" % port, proc)
    url = proc.stdout.strip().splitlines()[-1]
    assert url == "http://127.0.0.1:%d" % port, proc.stdout
    yield url
    _run_script("s3.sh", "stop", str(port), timeout=60)


@pytest.fixture
def s3_client(s3_endpoint, monkeypatch):
    """boto3 client on the moto endpoint, dummy credentials, with a fresh bucket in ``client.bucket``."""
    try:
        import boto3
    except ImportError as exc:
        pytest.fail("python package `boto3` missing in %s (%s). Fix: make venv" % (sys.executable, exc), pytrace=False)
    for k, v in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                 ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(k, v)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    bucket = "owbt-%s" % uuid.uuid4().hex[:12]
    client.create_bucket(Bucket=bucket)
    client.bucket = bucket
    return client
