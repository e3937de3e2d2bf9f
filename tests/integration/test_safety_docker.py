# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The safety net against the real Docker engine and the sample app container.

A container is paused (or stopped) by a separate "backup" process that armed the watchdog; that process is
then killed with SIGKILL (alone, or with its whole process group) and the container must be running again
within a second. Also: the deadline case, disarm leaves the container alone, and the start case.

Containers come from the shared fixtures in tests/integration/conftest.py (they bring the test bed up).
Timings are printed (-s).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _safety
from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import DockerClient

import ansible_collections.sage_open_webui.backup as _collection

pytestmark = [pytest.mark.docker]

SYS_PATH_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(_collection.__path__[0])))


def docker_cli(*args, check=True):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, check=check, timeout=120)


def status(name):
    return docker_cli("inspect", "-f", "{{.State.Status}}", name).stdout.strip()


def wait_status(name, want, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if status(name) == want:
            return time.monotonic() - t0
        time.sleep(0.02)
    raise AssertionError("%s is %s, not %s, after %ss" % (name, status(name), want, timeout))


@pytest.fixture(scope="module")
def client():
    return DockerClient()


@pytest.fixture
def app(sample_app_factory):
    """A healthy sample app (no data mount needed here), from the shared fixtures in conftest.py."""
    return sample_app_factory(mount=None).name


@pytest.fixture
def slow_stopping_app(sample_app_factory):
    """Ignores its stop signal: ``docker stop -t N`` takes N seconds, then SIGKILL."""
    return sample_app_factory(mount=None, stop_signal="SIGWINCH").name


ARMER = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _safety
from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import DockerClient
name, action = sys.argv[2], sys.argv[3]
c = DockerClient()
cid = c.inspect(name)["Id"]
net = _safety.arm(cid, action, float(sys.argv[4]))
if action == "unpause":
    c.pause(cid)
elif len(sys.argv) > 5:                  # killed while the stop is still under way
    import threading
    threading.Thread(target=c.stop, args=(cid,), kwargs={"timeout": float(sys.argv[5])}, daemon=True).start()
    time.sleep(0.3)
else:
    c.stop(cid, timeout=2)
print(net.pid, net.armed_ms, flush=True)
time.sleep(300)
"""


def armed_backup(name, action, deadline=120, stop_timeout=None):
    """A separate process (own session, like an ansible module run) that arms the net and freezes ``name``."""
    extra = [str(stop_timeout)] if stop_timeout else []
    proc = subprocess.Popen([sys.executable, "-c", ARMER, SYS_PATH_ROOT, name, action, str(deadline)] + extra,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    line = proc.stdout.readline().split()
    assert line, "the arming process died"
    return proc, int(line[0]), float(line[1])


@pytest.mark.parametrize("kill_group", [False, True], ids=["kill-process", "kill-process-group"])
def test_sigkill_during_pause_unpauses_within_a_second(app, kill_group):
    proc, watchdog_pid, armed_ms = armed_backup(app, "unpause")
    assert status(app) == "paused"
    time.sleep(0.3)
    assert status(app) == "paused"            # the net does nothing while the backup lives
    t0 = time.monotonic()
    if kill_group:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    wait_status(app, "running", 5)
    elapsed = time.monotonic() - t0
    print("[safety] SIGKILL(%s) -> running again after %.3f s (arm took %.1f ms)"
          % ("group" if kill_group else "process", elapsed, armed_ms))
    assert elapsed < 3.0     # the net fires at once (well under the 60 s deadline); Docker may be slow under load
    cid = docker_cli("inspect", "-f", "{{.Id}}", app).stdout.strip()
    rec = _safety.read_log(_safety.log_path_for(cid))[-1]
    assert rec["event"] == "fired" and "arming process" in rec["reason"] and rec["status"] == 204


def test_deadline_unpauses_while_the_backup_still_runs(client, app):
    cid = client.inspect(app)["Id"]
    t0 = time.monotonic()
    net = _safety.arm(cid, "unpause", 1.0)
    client.pause(cid)
    assert status(app) == "paused"
    wait_status(app, "running", 5)
    elapsed = time.monotonic() - t0
    print("[safety] deadline 1.0 s -> running again %.3f s after arm()" % elapsed)
    assert 0.95 <= elapsed < 4.0   # never before the deadline
    res = net.disarm()
    assert res["fired"] and res["fired_ok"]


def test_disarm_leaves_the_container_alone(client, app):
    cid = client.inspect(app)["Id"]
    net = _safety.arm(cid, "unpause", 1.0)
    client.pause(cid)
    res = net.disarm()
    assert res["disarmed"] and not res["fired"]
    time.sleep(1.5)                           # past the deadline: nobody unpauses it
    assert status(app) == "paused"
    client.unpause(cid)
    assert status(app) == "running"
    assert [r["event"] for r in _safety.read_log(net.log_path)][-2:] == ["armed", "disarmed"]


def test_sigkill_during_stop_starts_it_again(app):
    proc = armed_backup(app, "start")[0]
    assert status(app) == "exited"
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    wait_status(app, "running", 10)
    elapsed = time.monotonic() - t0
    print("[safety] SIGKILL during stop -> started again after %.3f s" % elapsed)
    assert elapsed < 5.0


def test_unpause_of_a_running_container_is_harmless(client, app):
    cid = client.inspect(app)["Id"]
    net = _safety.arm(cid, "unpause", 0.3)   # fires at the deadline on a container that is not paused
    time.sleep(1.0)
    res = net.disarm()
    assert res["fired_ok"]                    # "is not paused" counts as done
    assert status(app) == "running"


def test_sigkill_in_the_middle_of_a_stop_ends_running(slow_stopping_app):
    """The engine answers "already started" while the stop is under way; the watchdog keeps watching and
    starts the container again once the stop finishes."""
    name = slow_stopping_app
    proc = armed_backup(name, "start", stop_timeout=3)[0]
    assert status(name) == "running"          # still stopping (it ignores the stop signal)
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(4.5)                           # the stop (3 s) has finished by now, one way or the other
    wait_status(name, "running", 10)
    elapsed = time.monotonic() - t0
    cid = docker_cli("inspect", "-f", "{{.Id}}", name).stdout.strip()
    events = [(r["event"], r.get("status")) for r in _safety.read_log(_safety.log_path_for(cid))]
    print("[safety] SIGKILL mid-stop -> running at %.1f s; watchdog: %s" % (elapsed, events))
    time.sleep(1.0)
    assert status(name) == "running"
